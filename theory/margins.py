"""Margins of the asymptotic claims as functions of d: do they converge, cross zero, or stay?

Every theorem of the paper is a statement as d → ∞. For each one this module computes, at the
exact level (population matrices, structured solvers: O(d log d), so d up to 2^20 and beyond), the
margin that decides it, on a grid of d with N fixed:

===========  ==============================================  =========================
claim id     margin                                          the claim wants
===========  ==============================================  =========================
``thm4.6``   s_Dec - s_Fed (``method``, ``coords``, graph)   >= 0 for large d
``thm4.4``   s_C - s_M (``framework``, ``method`` CL1/CL2)   > 0 for large d
``cor4.5``   min over graphs with |Ā|_a < |Ā|_b of           > 0 (s falls as |Ā| grows)
             s_a - s_b, family :attr:`Analysis.graph_family`
``thm4.2``   r_min - (1 - printed s at C = 1), MIM           >= 0
``thm4.3``   r_min - (1 - printed s at C = 1), ``method``    >= 0
===========  ==============================================  =========================

Use::

    from theory.margins import margin_curve
    mc = margin_curve("thm4.6", method="CL2", coords="[c]", graph="path")
    mc.sign_pattern, mc.last_sign_change, mc.rate, mc.reading

:func:`margin_curve` returns a :class:`MarginCurve`. A margin is an interval [low, high] when a
top-c subspace involved is not unique (ILL-POSED, ``rv.solution_subspace`` with ``rtol``); its
sign is then known only if the interval excludes 0. ``rtol=0`` asks for the mathematically unique
subspace however small the gap at the cut (the exact-arithmetic answer; the eigengaps are
reported so the reader can judge how fragile it is).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence, TypedDict

import numpy as np

from . import graphs
from .analysis import Analysis
from .claims.common import S_TOL
from .errors import ParameterError, require
from .model import paper_config
from .rv import DEFAULT_RTOL, Sensitivity, Subspace

CLAIMS: tuple[str, ...] = ("thm4.6", "thm4.4", "cor4.5", "thm4.2", "thm4.3")
# a margin within S_TOL of 0 counts as 0: the same tolerance as the claims' readings at one d and
# as d grows (theory.claims.common), so a curve's sign pattern and a claim's reading cannot disagree
DEFAULT_GRID: tuple[int, ...] = tuple(2**k for k in range(9, 21))


@dataclass(frozen=True)
class MarginCurve:
    """The deciding margin of one claim cell against d (see the module docstring).

    ``value[i]`` is the margin at ``d[i]`` (None when ILL-POSED), always inside [``low[i]``,
    ``high[i]``] (for ILL-POSED cells computed with lumped ties, an enclosure: ``theory.circulant``).
    ``sign_pattern`` has one character per d: ``+``/``-`` (the interval is beyond ±S_TOL),
    ``0`` (well posed and within S_TOL of 0), ``?`` (an ILL-POSED interval containing 0).
    ``last_sign_change`` is the last pair of consecutive determined d whose signs
    differ. ``rate`` is the least-squares exponent of |margin| ~ d^rate over the top two decades of
    the grid (well-posed values, and midpoints of ILL-POSED intervals known to 10 %; None with
    fewer than 3 such points), ``reading`` a one-line verdict on the
    limit, and ``eigengap`` the smallest relative eigengap at the cut over the cells used at each d.
    """

    claim_id: str
    cell: dict[str, Any]
    description: str
    d: tuple[int, ...]
    value: tuple[float | None, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    well_posed: tuple[bool, ...]
    eigengap: tuple[float, ...]
    sign_pattern: str
    last_sign_change: tuple[int, int] | None
    rate: float | None
    rate_window: tuple[int, int] | None
    reading: str
    rtol: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["low"] = [_finite(v) for v in self.low]
        out["high"] = [_finite(v) for v in self.high]
        return out


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _rel_gap(sub: Subspace) -> float:
    scale = float(np.max(np.abs(sub.spec.values))) if len(sub.spec.values) else 1.0
    return float(sub.eigengap / scale) if math.isfinite(sub.eigengap) else math.inf


Margin = tuple[float | None, float, float, bool, float]  # value, low, high, well_posed, relative eigengap


def _value_difference(a: Sensitivity, b: Sensitivity) -> float | None:
    """a.value - b.value when both are well posed, else None."""
    if not (a.well_posed and b.well_posed) or a.value is None or b.value is None:
        return None
    return a.value - b.value


def _margin_thm46(an: Analysis, method: str, coords: str, top: graphs.Topology, **_: Any) -> Margin:
    dec = an.sensitivity("exact", method, "decl", coords, topology=top)
    fed = an.sensitivity("exact", method, "fl", coords)
    gap = min(_rel_gap(an.subspace("exact", method, "decl", topology=top)), _rel_gap(an.subspace("exact", method, "fl")))
    well = dec.well_posed and fed.well_posed
    return _value_difference(dec, fed), dec.low - fed.high, dec.high - fed.low, well, gap


def _margin_thm44(an: Analysis, method: str, coords: str, framework: str, top: graphs.Topology, **_: Any) -> Margin:
    require(method in ("CL1", "CL2"), "method", "'CL1' or 'CL2' for thm4.4 (s_C - s_M)", method)
    sc = an.sensitivity("exact", method, framework, coords, topology=top)
    sm = an.sensitivity("exact", "MIM", framework, coords, topology=top)
    gap = min(_rel_gap(an.subspace("exact", method, framework, topology=top)),
              _rel_gap(an.subspace("exact", "MIM", framework, topology=top)))
    well = sc.well_posed and sm.well_posed
    return (_value_difference(sc, sm), sc.low - sm.high, sc.high - sm.low, well, gap)


def _margin_cor45(an: Analysis, method: str, coords: str, **_: Any) -> Margin:
    """min over graph pairs with |Ā|_a < |Ā|_b of s_a - s_b: negative when s increases somewhere,
    0 when it stays level (Cor 4.5 wants a decrease: the verify check FAILS at <= 0 as well)."""
    fam = [t for ts in an.graph_family.values() for t in ts]
    pts, well, gap = [], True, math.inf
    for t in fam:
        s = an.sensitivity("exact", method, "decl", coords, topology=t)
        gap = min(gap, _rel_gap(an.subspace("exact", method, "decl", topology=t)))
        pts.append((t.mean_connectivity, s.low, s.high, math.nan if s.value is None else s.value))  # values used only if all well posed
        well &= s.well_posed
    lows, highs, vals = [], [], []
    for a in pts:
        for b in pts:
            if a[0] < b[0] - 1e-9:
                lows.append(a[1] - b[2])
                highs.append(a[2] - b[1])
                if well:
                    vals.append(a[3] - b[3])
    if not lows:
        return None, -math.inf, math.inf, False, gap
    return (min(vals) if well else None), min(lows), min(highs), well, gap


def _margin_rv(an: Analysis, method: str, framework: str, top: graphs.Topology, **_: Any) -> Margin:
    from .claims import printed_level
    from .claims.context import Context

    ctx = Context(analysis=an, sampled=False)
    lb = 1.0 - printed_level.printed_sensitivity(ctx, method, framework, d=an.cfg.d, constant=1.0,
                                                 abar=top.mean_connectivity)
    lows, highs, well, gap = [], [], True, math.inf
    clients = range(an.cfg.n_clients) if framework == "local" else [0]
    for i in clients:
        sub = an.subspace("exact", method, framework, client=i, topology=top)
        gap = min(gap, _rel_gap(sub))
        cs = an.coords("[N]\\i", client=i) if framework == "local" else an.coords("[c]")
        lo, hi = sub.rv_bounds(cs)
        lows.append(float(np.min(lo)))
        highs.append(float(np.min(hi)))
        well &= sub.well_posed
    lo_r, hi_r = min(lows), min(highs)
    return (lo_r - lb) if well else None, lo_r - lb, hi_r - lb, well, gap


_MARGINS: dict[str, Callable[..., Margin]] = {
    "thm4.6": _margin_thm46, "thm4.4": _margin_thm44, "cor4.5": _margin_cor45,
    "thm4.2": _margin_rv, "thm4.3": _margin_rv,
}
_DESCRIPTIONS = {
    "thm4.6": "s_Dec - s_Fed (Thm 4.6 wants >= 0)",
    "thm4.4": "s_C - s_M (Thm 4.4 wants > 0)",
    "cor4.5": "min over |Ā|_a < |Ā|_b of s_Dec,a - s_Dec,b over the graph family (Cor 4.5 wants > 0)",
    "thm4.2": "r_min - printed lower bound at C = 1 (Thm 4.2 wants >= 0)",
    "thm4.3": "r_min - printed lower bound at C = 1 (Thm 4.3 wants >= 0)",
}


def margin_curve(claim_id: str, d_grid: Sequence[int] | None = None, *, method: str | None = None,
                 coords: str = "[c]", framework: str | None = None, graph: str | None = None,
                 n_clients: int = 6, augmentation: str = "blur", seed: int = 0, rtol: float = DEFAULT_RTOL,
                 graph_seed: int | None = None, progress: Callable[[str], None] | None = None) -> MarginCurve:
    """The deciding margin of ``claim_id`` (one of :data:`CLAIMS`) on ``d_grid`` (default 2^9 .. 2^20).

    ``method``: MIM, CL1 or CL2 (defaults: CL2 for thm4.6 and thm4.3, CL1 for thm4.4, MIM for
    thm4.2 and cor4.5); ``coords``: "[c]", "[N]" or "rare" (thm4.6, thm4.4, cor4.5);
    ``framework``: local, decl or fl (thm4.2/4.3, thm4.4; default fl, decl for thm4.2); ``graph``:
    a ``graphs.parse_graph`` spec for the DecL graph (default "path" for thm4.6, else
    "abar:max(3, (N+2)//2)"), drawn with ``graph_seed`` (default ``seed``); N = ``n_clients`` fixed
    across d, c = 2N and the paper's scalings; ``rtol`` the tie tolerance of the top-c subspace.
    """
    require(claim_id in CLAIMS, "claim_id", f"one of {CLAIMS}", claim_id)
    grid = tuple(sorted({int(d) for d in (d_grid or DEFAULT_GRID)}))
    require(len(grid) >= 1 and grid[0] >= max(32, 2 * n_clients + 2), "d_grid",
            f"dimensions >= {max(32, 2 * n_clients + 2)}", list(grid))
    method = method or {"thm4.6": "CL2", "thm4.4": "CL1", "cor4.5": "MIM", "thm4.2": "MIM", "thm4.3": "CL2"}[claim_id]
    require(method in ("MIM", "CL1", "CL2"), "method", "MIM, CL1 or CL2", method)
    if claim_id == "thm4.2":
        require(method == "MIM", "method", "MIM for thm4.2 (thm4.3 covers CL)", method)
    framework = framework or ("decl" if claim_id in ("thm4.2", "thm4.3") else "fl")
    require(framework in ("local", "decl", "fl"), "framework", "local, decl or fl", framework)
    require(coords in ("[c]", "[N]", "rare"), "coords", "[c], [N] or rare", coords)
    spec = graph or ("path" if claim_id == "thm4.6" else f"abar:{max(3, (n_clients + 2) // 2)}")
    top = graphs.parse_graph(spec, n_clients, seed=seed if graph_seed is None else graph_seed)
    cell = {"method": method, "coords": coords, "framework": framework, "graph": top.name, "graph_spec": spec,
            "edges": [list(e) for e in top.edges], "N": n_clients, "augmentation": augmentation}
    values, lows, highs, wells, gaps = [], [], [], [], []
    notes: set[str] = set()
    for d in grid:
        cfg = paper_config(d, n_clients=n_clients, augmentation=augmentation, seed=seed)
        an = Analysis(cfg, top, seed=seed, rtol=rtol)
        v, lo, hi, well, gap = _MARGINS[claim_id](an, method=method, coords=coords, framework=framework, top=top)
        values.append(v)
        lows.append(float(lo))
        highs.append(float(hi))
        wells.append(bool(well))
        gaps.append(float(gap))
        for key, sp in list(an._cache.items()):  # notes of the structured solver (lumped ties, fallbacks)
            if key and key[0] == "spec":
                notes.update(n.split(";")[0] for n in getattr(sp, "notes", ()) if "lumped" not in n)
        if progress:
            label = f"{method} {coords} {framework} on {spec} (N={n_clients}, {augmentation})"
            shown = "n/a" if v is None else f"{v:.4g}"
            progress(f"margin {claim_id} {label}: d={d} value={shown} [{lo:.3g}, {hi:.3g}]")
    return summarise(claim_id, cell, grid, values, lows, highs, wells, gaps, rtol, tuple(sorted(notes)))


def summarise(claim_id: str, cell: dict[str, Any], grid: Sequence[int], values: Sequence[float | None],
              lows: Sequence[float], highs: Sequence[float], wells: Sequence[bool], gaps: Sequence[float],
              rtol: float, notes: tuple[str, ...] = ()) -> MarginCurve:
    """Sign pattern, last sign change, fitted rate and reading of a computed margin series."""
    signs = []
    for v, lo, hi, w in zip(values, lows, highs, wells):
        if lo > S_TOL:
            signs.append("+")
        elif hi < -S_TOL:
            signs.append("-")
        elif w and v is not None and abs(v) <= S_TOL:
            signs.append("0")
        else:
            signs.append("?")
    pattern = "".join(signs)
    determined = [(d, s) for d, s in zip(grid, signs) if s in "+-"]
    change = None
    for (d0, s0), (d1, s1) in zip(determined, determined[1:]):
        if s0 != s1:
            change = (d0, d1)
    top_d = grid[-1]
    # the fit uses the well-posed values and the midpoints of ILL-POSED intervals that exclude 0 and
    # are narrower than a tenth of their midpoint (the margin is known there to 10 %)
    pts = []
    for d, v, lo, hi, w in zip(grid, values, lows, highs, wells):
        if d < top_d / 100:
            continue
        mid = v if (w and v is not None) else 0.5 * (lo + hi)
        if abs(mid) > S_TOL and (w or (lo * hi > 0 and hi - lo <= 0.1 * abs(mid))):
            pts.append((d, mid))
    rate = window = None
    if len(pts) >= 3:
        rate = float(np.polyfit(np.log([p[0] for p in pts]), np.log([abs(p[1]) for p in pts]), 1)[0])
        window = (pts[0][0], pts[-1][0])
    reading = _reading(grid, signs, values, wells, change, rate)
    return MarginCurve(claim_id, cell, _DESCRIPTIONS[claim_id], tuple(grid), tuple(values), tuple(lows), tuple(highs),
                       tuple(wells), tuple(gaps), pattern, change, rate, window, reading, rtol, notes)


def _reading(grid: Sequence[int], signs: Sequence[str], values: Sequence[float | None], wells: Sequence[bool],
             change: tuple[int, int] | None, rate: float | None) -> str:
    last = signs[-1]
    if last == "?":
        first_q = len(signs)
        while first_q > 0 and signs[first_q - 1] == "?":
            first_q -= 1
        return (f"undetermined from d = {grid[first_q]} on: the top-c subspace is not unique there and the margin's "
                f"interval contains 0")
    if last == "0":
        return f"0 within {S_TOL:g} at d = {grid[-1]}"
    word = "positive" if last == "+" else "negative"
    side = "above" if last == "+" else "below"
    tail = ""
    if change is not None:
        tail = f"; it changed sign between d = {change[0]} and d = {change[1]}"
    if rate is not None and rate < -0.1:
        return f"{word}, tending to 0 from {side} like d^{rate:.2f}{tail}"
    if rate is not None:
        return f"stays {word} (|margin| ~ d^{rate:.2f}){tail}"
    return f"{word} at d = {grid[-1]}{tail}"


class _CurveSpec(TypedDict, total=False):
    """The keywords of :func:`margin_curve` that tell the README's curves apart."""

    claim_id: str
    method: str
    coords: str
    framework: str
    graph: str


def curves_for_readme(progress: Callable[[str], None] | None = None, d_grid: Sequence[int] | None = None,
                      rtol: float = DEFAULT_RTOL, n_clients: int = 6, decl_graph: str | None = None, seed: int = 0,
                      graph_seed: int | None = None) -> list[MarginCurve]:
    """The margins the README reports: Thm 4.6 CL2 over [c] on the path P_N and on the DecL graph
    (default abar:max(3, (N+2)//2)), Thm 4.4 (FL: CL1 over [N], CL2 over [c]), Cor 4.5 (MIM and CL2
    over [N]) and Thm 4.3 (CL2, DecL)."""
    out = []
    dflt = decl_graph or f"abar:{max(3, (n_clients + 2) // 2)}"
    specs: tuple[_CurveSpec, ...] = (
        {"claim_id": "thm4.6", "graph": "path"}, {"claim_id": "thm4.6", "graph": dflt},
        {"claim_id": "thm4.4", "method": "CL1", "coords": "[N]"},
        {"claim_id": "thm4.4", "method": "CL2", "coords": "[c]"},
        {"claim_id": "cor4.5", "method": "MIM", "coords": "[N]"},
        {"claim_id": "cor4.5", "method": "CL2", "coords": "[N]"},
        {"claim_id": "thm4.3", "method": "CL2", "framework": "decl"})
    for kw in specs:
        try:
            kw.setdefault("graph", dflt)
            out.append(margin_curve(d_grid=d_grid, rtol=rtol, n_clients=n_clients, seed=seed, graph_seed=graph_seed,
                                    progress=progress, **kw))
        except ParameterError as exc:  # reported, never hidden
            if progress:
                progress(f"margin {kw}: {exc}")
    return out
