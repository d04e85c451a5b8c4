"""python -m theory.curves: the cached data behind the theory figures (``python -m figures``).

Three studies, all through the exact analysis (``theory.analysis``) and the printed closed
forms (``theory.printed`` via ``theory.claims.printed_level``):

* ``sensitivity_vs_d``: the printed s (Theorems 4.2-4.3 with the default constants of
  ``printed_level.constants``) of MIM, CL1, CL2 x local, DecL, FL against d, beside the exact
  model's s over the printed coordinates [c] and over the class axes [N]. N is fixed, so one
  DecL graph serves every d. An exact s whose top-c subspace is not unique is ILL-POSED and
  is stored as the interval [low, high] with ``well_posed`` false and ``s`` null.
* ``rv_profiles``: r_k (Definition 4.1) over the first 2N + 4 coordinates at one d, for the
  local model of client 0, DecL and FL: the bounds [r_low, r_high] over every admissible
  subspace (equal when well posed).
* ``connectivity``: exact s_Dec against |Ā| (Cor 4.5) on random and regular graphs with
  N = 20 clients, and the FL level (Thm 4.6).

Deviations and readings:

* The paper lets N grow as Θ(d^(1/20)); here N is fixed across d (``--N``), so that the
  printed forms and the exact model are compared on one graph. The printed Θ-constants
  K_M, K_C are the ones Eq. 37 implies for that N at each d (κ = N / d^(1/20)).
* The exact CL2 (dissimilar augmentations) X matrix is circulant + low rank for the default
  blur H and is analysed by the structured solver of ``theory.circulant`` (O(d log d)), so every
  method is computed on the whole grid (default 32 .. 2^20); ``cl2_d_max`` (``--cl2-d-max``) caps
  it when given.
* ``margins``: the deciding margin of each asymptotic claim against d (``theory.margins``,
  :func:`margin_curve`, re-exported here): Thm 4.6 CL2 over [c] on the path P_N and on the DecL
  graph, Thm 4.4, Cor 4.5 and Thm 4.3, with sign pattern, last sign change and fitted rate.

Only :func:`main` reads arguments, prints (progress, to stderr) and writes the cache.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import graphs
from .analysis import Analysis
from .claims import printed_level
from .claims.context import Context
from .errors import ParameterError, require
from .frameworks import FRAMEWORKS
from .io import write_json_atomic
from .margins import MarginCurve, curves_for_readme, margin_curve  # noqa: F401 - re-exported API
from .model import NonIIDModelConfig, paper_config
from .provenance import provenance
from .rv import Sensitivity
from .seeds import CURVES
from .threads import blas_threads
from .xmatrix import OBJECTIVES

SCHEMA = "theory-curves/1"
COMMAND = "python -m theory.curves"
DEFAULT_OUT = "results/theory/curves.json"
COORDINATE_SETS: tuple[str, ...] = ("[c]", "[N]")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class CurvesConfig:
    """Typed defaults of the three studies (see the module docstring).

    ``decl_graph`` is a :func:`theory.graphs.parse_graph` spec; None resolves to
    ``abar:<max(3, (N+2)//2)>``, a random connected graph with that |Ā|.
    """

    d_min: int = 32
    d_max: int = 2**20
    points: int = 16
    n_clients: int = 6
    seed: int = 0
    decl_graph: str | None = None
    cl2_d_max: int | None = None
    profile_d: int = 512
    conn_n_clients: int = 20
    conn_d: int = 512
    conn_abar: tuple[float, ...] = (3, 4, 5, 6, 8, 10, 12, 15, 17, 20)

    def resolved(self) -> "CurvesConfig":
        """A copy with ``decl_graph`` filled in, after checking every parameter's range."""
        require(self.d_min >= 2, "d_min", "an integer >= 2", self.d_min)
        require(self.d_max >= self.d_min, "d_max", f"an integer >= d_min={self.d_min}", self.d_max)
        require(self.points >= 1, "points", "an integer >= 1", self.points)
        require(self.points == 1 or self.d_max > self.d_min, "d_max", f"> d_min={self.d_min} when points > 1",
                self.d_max)
        require(self.n_clients >= 2, "N", "an integer >= 2", self.n_clients)
        require(self.cl2_d_max is None or self.cl2_d_max >= 2, "cl2_d_max", "an integer >= 2", self.cl2_d_max)
        require(self.profile_d >= 2, "profile_d", "an integer >= 2", self.profile_d)
        require(self.conn_n_clients >= 3, "conn_N", "an integer >= 3", self.conn_n_clients)
        require(len(self.conn_abar) >= 1, "conn_abar", "a non-empty list of |Ā| values", list(self.conn_abar))
        lo, hi = graphs.mean_connectivity_range(self.conn_n_clients)
        for a in self.conn_abar:
            require(lo - 1e-12 <= a <= hi + 1e-12, "conn_abar",
                    f"values in [3 - 2/N, N] = [{lo:g}, {hi:g}] for conn_N={self.conn_n_clients}", a)
        spec = self.decl_graph or f"abar:{max(3, (self.n_clients + 2) // 2)}"
        return CurvesConfig(**{**asdict(self), "decl_graph": spec, "conn_abar": tuple(float(a) for a in self.conn_abar)})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["conn_abar"] = list(self.conn_abar)
        return out


def log_spaced_dims(d_min: int, d_max: int, points: int) -> list[int]:
    """``points`` log-spaced integer dimensions from d_min to d_max (duplicates after rounding merged)."""
    if points == 1:
        return [int(d_min)]
    return sorted({int(round(x)) for x in np.geomspace(d_min, d_max, points)})


# --------------------------------------------------------------------------- records
def _sensitivity_record(s: Sensitivity) -> dict[str, Any]:
    """{well_posed, s, low, high}: s is null when ILL-POSED (never a number picked by eigh)."""
    return {"well_posed": bool(s.well_posed), "s": None if s.value is None else float(s.value),
            "low": float(s.low), "high": float(s.high)}


def _columns(records: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = ("well_posed", "s", "low", "high")
    return {k: [r[k] for r in records] for k in keys}


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def graph_record(top: graphs.Topology, **extra: Any) -> dict[str, Any]:
    return {**extra, "name": top.name, "mean_connectivity": top.mean_connectivity, "regular": top.is_regular,
            "n_edges": len(top.edges), "edges": [list(e) for e in top.edges]}


def _context(cfg: NonIIDModelConfig, top: graphs.Topology) -> Context:
    return Context(analysis=Analysis(cfg, top), sampled=False)


def printed_values(cfg: NonIIDModelConfig, top: graphs.Topology) -> dict[str, Any]:
    """Printed s of every (method, framework) at ``cfg.d`` with the default constants."""
    ctx = _context(cfg, top)
    out: dict[str, Any] = {}
    for obj in OBJECTIVES:
        out[obj] = {fw: printed_level.printed_sensitivity(ctx, obj, fw, d=cfg.d, abar=top.mean_connectivity)
                    for fw in FRAMEWORKS}
        out[obj]["constants"] = printed_level.constants(ctx, obj, cfg.d)
    return out


# --------------------------------------------------------------------------- (a)
def sensitivity_vs_d(cc: CurvesConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """Printed and exact s against d (N fixed, one DecL graph)."""
    ds = log_spaced_dims(cc.d_min, cc.d_max, cc.points)
    n = cc.n_clients
    top = graphs.parse_graph(cc.decl_graph or "", n, seed=CURVES.seed(cc.seed, "decl-graph", bits=32))
    printed: dict[str, dict[str, list[float]]] = {o: {fw: [] for fw in FRAMEWORKS} for o in OBJECTIVES}
    constants: dict[str, list[dict[str, float]]] = {o: [] for o in OBJECTIVES}
    exact: dict[str, dict[str, Any]] = {
        o: {"d": [], **{fw: {cs: [] for cs in COORDINATE_SETS} for fw in FRAMEWORKS}} for o in OBJECTIVES}
    c = None
    for d in ds:
        cfg = paper_config(d, n_clients=n, seed=cc.seed)
        c = cfg.c
        pv = printed_values(cfg, top)
        an = Analysis(cfg, top, seed=cc.seed)
        for obj in OBJECTIVES:
            for fw in FRAMEWORKS:
                printed[obj][fw].append(pv[obj][fw])
            constants[obj].append(pv[obj]["constants"])
            if obj == "CL2" and cc.cl2_d_max is not None and d > cc.cl2_d_max:
                continue
            t0 = time.perf_counter()
            exact[obj]["d"].append(d)
            for fw in FRAMEWORKS:
                for cs in COORDINATE_SETS:
                    exact[obj][fw][cs].append(_sensitivity_record(an.sensitivity("exact", obj, fw, cs)))
            progress(f"sensitivity-vs-d: d={d} {obj} exact ({time.perf_counter() - t0:.1f} s)")
    for obj in OBJECTIVES:
        for fw in FRAMEWORKS:
            for cs in COORDINATE_SETS:
                exact[obj][fw][cs] = _columns(exact[obj][fw][cs])
    return {
        "d": ds, "N": n, "c": c,
        "graph": graph_record(top, spec=cc.decl_graph),
        "client": 0,
        "cl2_d_max": cc.cl2_d_max,
        "cl2_note": ("exact CL2 by the structured circulant solver (O(d log d)) on the whole grid"
                     if cc.cl2_d_max is None else f"exact CL2 computed for d <= {cc.cl2_d_max} only (--cl2-d-max)"),
        "printed_source": "theorem (s = 1 - lower bound of Theorems 4.2-4.3)",
        "printed": printed, "printed_constants": constants, "exact": exact,
    }


# --------------------------------------------------------------------------- (b)
def rv_profiles(cc: CurvesConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """r over the first 2N + 4 coordinates at d = ``profile_d`` for local client 0, DecL and FL."""
    n = cc.n_clients
    top = graphs.parse_graph(cc.decl_graph or "", n, seed=CURVES.seed(cc.seed, "decl-graph", bits=32))
    cfg = paper_config(cc.profile_d, n_clients=n, seed=cc.seed)
    an = Analysis(cfg, top, seed=cc.seed)
    coords = list(range(min(cfg.d, 2 * n + 4)))
    out: dict[str, Any] = {}
    skipped = []
    for obj in OBJECTIVES:
        if obj == "CL2" and cc.cl2_d_max is not None and cfg.d > cc.cl2_d_max:
            skipped.append(obj)
            continue
        t0 = time.perf_counter()
        out[obj] = {}
        for fw in FRAMEWORKS:
            sub = an.subspace("exact", obj, fw, client=0)
            lo, hi = sub.rv_bounds(coords)
            out[obj][fw] = {
                "well_posed": bool(sub.well_posed), "r_low": lo.tolist(), "r_high": hi.tolist(),
                "rank": int(sub.rank), "eigengap": _finite_or_none(sub.eigengap),
                "tied_dimension": int(sub.tie_dim),
                "dimensions_taken_from_tie": int(sub.n_from_tie),
            }
        progress(f"rv-profiles: d={cfg.d} {obj} ({time.perf_counter() - t0:.1f} s)")
    return {"d": cfg.d, "N": n, "c": cfg.c, "client": 0, "coords": coords,
            "class_axes": list(range(n)), "rare_axes": sorted(set(cfg.rare_axes)),
            "graph": graph_record(top, spec=cc.decl_graph), "objectives": out, "skipped": skipped}


# --------------------------------------------------------------------------- (c)
def connectivity(cc: CurvesConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """Exact s_Dec against |Ā| on random and regular graphs, and the FL level, at one d."""
    n = cc.conn_n_clients
    cfg = paper_config(cc.conn_d, n_clients=n, seed=cc.seed)
    full = graphs.complete(n)
    an = Analysis(cfg, full, seed=cc.seed)
    objs = [o for o in OBJECTIVES if not (o == "CL2" and cc.cl2_d_max is not None and cfg.d > cc.cl2_d_max)]
    tops: list[graphs.Topology] = []
    recs: list[dict[str, Any]] = []
    for k, target in enumerate(cc.conn_abar):
        for kind in graphs.GRAPH_KINDS:
            if kind == "regular" and not float(target).is_integer():
                continue
            if kind == "regular" and (n * (int(target) - 1)) % 2:
                continue  # no regular graph of odd degree on an odd number of nodes
            seed = CURVES.seed(cc.seed, "connectivity-graph", k, graphs.GRAPH_KINDS.index(kind), bits=32)
            top = graphs.with_mean_connectivity(n, float(target), seed=seed, kind=kind)
            tops.append(top)
            recs.append(graph_record(top, kind=kind, target=float(target), seed=seed))
    fl: dict[str, Any] = {}
    decl: dict[str, Any] = {}
    printed: dict[str, Any] = {}
    for obj in objs:
        t0 = time.perf_counter()
        fl[obj] = {cs: _sensitivity_record(an.sensitivity("exact", obj, "fl", cs)) for cs in COORDINATE_SETS}
        decl[obj] = {cs: _columns([_sensitivity_record(an.sensitivity("exact", obj, "decl", cs, topology=t))
                                   for t in tops]) for cs in COORDINATE_SETS}
        progress(f"connectivity: N={n} d={cfg.d} {obj}, {len(tops)} graphs ({time.perf_counter() - t0:.1f} s)")
    for obj in objs:
        ctx = _context(cfg, full)
        printed[obj] = {
            "decl": [printed_level.printed_sensitivity(ctx, obj, "decl", d=cfg.d, abar=t.mean_connectivity) for t in tops],
            "fl": printed_level.printed_sensitivity(ctx, obj, "fl", d=cfg.d),
        }
    return {"N": n, "d": cfg.d, "c": cfg.c, "graphs": recs, "fl": fl, "decl": decl, "printed": printed,
            "skipped": [o for o in OBJECTIVES if o not in objs]}


# --------------------------------------------------------------------------- (d)
def margins(cc: CurvesConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """The deciding margins of the asymptotic claims on the d grid (``theory.margins``)."""
    ds = [d for d in log_spaced_dims(cc.d_min, cc.d_max, cc.points) if d >= max(32, 2 * cc.n_clients + 2)]
    curves = curves_for_readme(progress, d_grid=ds, n_clients=cc.n_clients, decl_graph=cc.decl_graph,
                               seed=cc.seed, graph_seed=CURVES.seed(cc.seed, "decl-graph", bits=32))
    return {"d": ds, "N": cc.n_clients, "curves": [mc.to_dict() for mc in curves]}


def compute(cc: CurvesConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """All four studies for a resolved configuration (no I/O)."""
    return {
        "sensitivity_vs_d": sensitivity_vs_d(cc, progress),
        "rv_profiles": rv_profiles(cc, progress),
        "connectivity": connectivity(cc, progress),
        "margins": margins(cc, progress),
    }


# --------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    dflt = CurvesConfig()
    p = argparse.ArgumentParser(
        prog=COMMAND,
        description="Compute and cache the data of the theory figures: printed vs exact sensitivity against d, "
                    "RV profiles at one d, and DecL sensitivity against the average connectivity |Ā|.")
    p.add_argument("--d-min", type=int, default=dflt.d_min, help=f"smallest dimension d of the grid (default {dflt.d_min})")
    p.add_argument("--d-max", type=int, default=dflt.d_max, help=f"largest dimension d of the grid (default {dflt.d_max})")
    p.add_argument("--points", type=int, default=dflt.points,
                   help=f"number of log-spaced dimensions from d-min to d-max (default {dflt.points})")
    p.add_argument("--N", type=int, default=dflt.n_clients,
                   help=f"number of clients, fixed across d, for the d-sweep and the profiles (default {dflt.n_clients})")
    p.add_argument("--seed", type=int, default=dflt.seed, help="root seed of the model and the graphs (default 0)")
    p.add_argument("--decl-graph", default=None,
                   help="DecL graph of the d-sweep and the profiles: 'ring', 'abar:A' (random, |Ā| = A), "
                        "'regular:K', ... (default abar:max(3, (N+2)//2))")
    p.add_argument("--cl2-d-max", type=int, default=dflt.cl2_d_max,
                   help="largest d for the exact CL2 analysis (default: none; it is structured, O(d log d))")
    p.add_argument("--profile-d", type=int, default=dflt.profile_d, help=f"dimension d of the RV profiles (default {dflt.profile_d})")
    p.add_argument("--conn-N", type=int, default=dflt.conn_n_clients,
                   help=f"number of clients of the connectivity study (default {dflt.conn_n_clients})")
    p.add_argument("--conn-d", type=int, default=dflt.conn_d, help=f"dimension d of the connectivity study (default {dflt.conn_d})")
    p.add_argument("--conn-abar", default=",".join(f"{a:g}" for a in dflt.conn_abar),
                   help="comma-separated average connectivities |Ā| of the connectivity study, each in "
                        "[3 - 2/N, N] (default %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads for the dense eigen-decompositions, 0 for the library default (default 1: "
                        "on a small shared machine one thread is several times faster; needs threadpoolctl)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"path of the JSON cache (default {DEFAULT_OUT})")
    return p


def _parse_floats(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ParameterError(name, "a comma-separated list of numbers", text) from None


def config_from_args(args: argparse.Namespace) -> CurvesConfig:
    return CurvesConfig(d_min=args.d_min, d_max=args.d_max, points=args.points, n_clients=args.N, seed=args.seed,
                        decl_graph=args.decl_graph, cl2_d_max=args.cl2_d_max, profile_d=args.profile_d,
                        conn_n_clients=args.conn_N, conn_d=args.conn_d,
                        conn_abar=_parse_floats(args.conn_abar, "--conn-abar")).resolved()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)

    try:
        cc = config_from_args(args)
        out = Path(args.out)
        require(not out.exists() or out.is_file(), "--out", "a file path", str(out))
        with blas_threads(args.threads):
            data = compute(cc, progress)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    payload = {
        "schema": SCHEMA,
        **provenance(cc, command=shlex.join([*COMMAND.split(), *(sys.argv[1:] if argv is None else argv)])),
        "elapsed_s": round(time.perf_counter() - t0, 2),
        **data,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out, payload, indent=1)
    progress(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
