"""The paper's claims checked on TRAINED linear models (the sampled level, with training).

Inputs are run results (``experiment.run`` / the sweep's cached JSON files). Each check
returns ``{"claim": id, "verdict": "HOLDS" | "FAILS" | "ILL-POSED", "numbers": {...}}``
with the claim ids of the spec (``thm4.2-local`` ... ``thm4.6``) and the numbers behind
the verdict. Sensitivities are taken over "[c]" (as printed) for the verdicts; "[N]"
and the rare axes are reported beside them.

Which s: FedAvg and gossip use the global model (for gossip, the average of the local
models); ``local`` uses the mean over clients of each client's s. The exact target of a
gossip run is its own fixed point, Σ_j π_j X_j with π the stationary weights of the
mixing matrix (``theory.graphs.stationary_weights``); Σ_j ω_j X_j (Eq. 1) is reported too.

Tolerances come from the seed-to-seed spread (every seed redraws data, graph, init,
batches and views):

* trained vs exact: the exact population s is one number and every seed one draw of the
  trained s, so the claim "the trained models reach the exact s" HOLDS when
  |mean - exact| <= K·sd + S_FLOOR, sd the standard deviation over seeds (K = 3,
  S_FLOOR = 1e-3 for rounding of the numerical rank). An ILL-POSED exact s is an
  interval; the numbers say whether the trained mean lies in it (widened the same way).
* comparisons (s_C > s_M, s_Dec >= s_Fed): paired by seed, Δ = difference per seed,
  SE = sd(Δ)/√n. Strict ">" HOLDS when mean(Δ) - K·SE > 0; ">=" HOLDS unless
  mean(Δ) + K·SE < 0 (plus S_FLOOR for equality in both).
* decrease with |Ā| (Cor 4.5): the least-squares slope of s against |Ā| per seed; HOLDS
  when mean(slope) + K·SE(slope) < 0.
* rate in d: the least-squares slope of log s against log d per seed; the printed
  bounds s = O(d^(-4/5)) (MIM) and O(d^(-3/5)) (CL) HOLD when
  mean(slope) - K·SE(slope) <= printed, i.e. s does not decay significantly slower.
  With one seed SE is the regression's standard error.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from theory import graphs
from theory.errors import ParameterError, require
from theory.frameworks import ALGORITHMS, FRAMEWORK_OF
from theory.model import NonIIDModelConfig, default_n_clients, default_rare_classes, paper_config
from theory.verdict import combine

from . import _jax  # noqa: F401  (without JAX this import fails, as theory.verify --train expects)

K_SIGMA = 3.0
S_FLOOR = 1e-3
VERDICT_SET = "[c]"
SETS: tuple[str, ...] = ("[c]", "[N]", "rare")
PRINTED_RATE = {"MIM": -0.8, "CL1": -0.6, "CL2": -0.6}
# (method, algorithm) -> the claim its runs check: Thm 4.2 for MIM, 4.3 for CL, per framework
CLAIM_OF = {(m, a): f"{'thm4.2' if m == 'MIM' else 'thm4.3'}-{FRAMEWORK_OF[a]}" for m in ("MIM", "CL1", "CL2")
            for a in ALGORITHMS}


# --------------------------------------------------------------------------- extraction
def trained_s(res: Mapping[str, Any], name: str = VERDICT_SET) -> float:
    """s of the trained model: global model, or the mean over clients for ``local``."""
    if res["config"]["framework"] == "local":
        return float(np.mean([c["s"][name] for c in res["final"]["clients"]]))
    return float(res["final"]["global"]["s"][name])


def exact_s(res: Mapping[str, Any], name: str = VERDICT_SET, target: str | None = None) -> tuple[float, float, bool]:
    """(low, high, well_posed) of the exact population s of the run's own target."""
    fw = res["config"]["framework"]
    if fw == "local":
        entries = [v["s"][name] for k, v in res["exact"].items() if k.startswith("client:")]
    else:
        entries = [res["exact"][target or ("pi" if fw == "gossip" else "fl")]["s"][name]]
    low = float(np.mean([e["s_interval"][0] for e in entries]))
    high = float(np.mean([e["s_interval"][1] for e in entries]))
    return low, high, all(e["well_posed"] for e in entries)


def data_s(res: Mapping[str, Any], name: str = VERDICT_SET) -> float | None:
    """s of the optimum of the augmentation-averaged objective of the run's sample."""
    opt = res.get("data_optimum")
    if not opt:
        return None
    fw = res["config"]["framework"]
    keys = [k for k in opt if k.startswith("client:")] if fw == "local" else ["pi" if fw == "gossip" else "fl"]
    vals = [opt[k]["s"][name]["s_interval"] for k in keys if k in opt]
    return float(np.mean([0.5 * (v[0] + v[1]) for v in vals])) if vals else None


def _cell_key(res: Mapping[str, Any], drop: Sequence[str] = ("seed",)) -> tuple:
    cfg = {k: v for k, v in res["config"].items() if k not in drop}
    return tuple(sorted((k, str(v)) for k, v in cfg.items()))


# fields that may follow d in a d-sweep (by the paper's scalings)
D_FOLLOWERS: tuple[str, ...] = ("n_clients", "c", "n_frequent", "n_rare", "tau", "mu")


def family_key(res: Mapping[str, Any]) -> tuple:
    """The cell of a run with d left out: the runs of one log-log fit in d.

    Every field is resolved to a number per d. Those of :data:`D_FOLLOWERS` count as
    "paper" when they equal the paper's scaling at that d (N = ceil(4 d^(1/20)), c = 2N,
    n_frequent = d, n_rare = ceil(√d), τ = d^(1/5), μ = d^(-1/5);
    ``theory.model.paper_config``) and keep their value otherwise: a sweep with the
    default scalings is one family, a sweep at a fixed N (or τ, ...) another one, and runs
    at one d with other settings (e.g. N = 20) never join them. The seed and
    ``data_optimum`` (on only for d <= 1024 in the scaling preset) are left out too.
    """
    cfg = dict(res["config"])
    d = int(cfg["d"])
    paper = paper_config(d, n_clients=int(cfg["n_clients"])) if cfg.get("n_clients") else None
    default_n = default_n_clients(d)
    out = {}
    for k, v in cfg.items():
        if k in ("seed", "d", "data_optimum"):
            continue
        if k in D_FOLLOWERS and v is not None:
            ref = default_n if k == "n_clients" else getattr(paper, k, None)
            if ref is not None and math.isclose(float(v), float(ref), rel_tol=1e-12):
                v = "paper"
        out[k] = str(v)
    return tuple(sorted(out.items()))


def _mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def _slope(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error (0 with two points)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    xc = xa - xa.mean()
    sxx = float(np.sum(xc**2))
    if sxx == 0:
        return math.nan, math.nan
    b = float(np.sum(xc * (ya - ya.mean())) / sxx)
    resid = ya - ya.mean() - b * xc
    se = float(np.sqrt(np.sum(resid**2) / (len(xa) - 2) / sxx)) if len(xa) > 2 else 0.0
    return b, se


# --------------------------------------------------------------------------- checks
def trained_vs_exact(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Trained s over seeds against the exact population s of one cell (all sets)."""
    out: dict[str, Any] = {"seeds": sorted(int(r["config"]["seed"]) for r in runs)}
    verdict = "HOLDS"
    for name in SETS:
        vals = [trained_s(r, name) for r in runs]
        mean, sd = _mean_sd(vals)
        lo, hi, well = exact_s(runs[0], name)
        tol = K_SIGMA * sd + S_FLOOR
        inside = lo - tol <= mean <= hi + tol
        dvals = [v for v in (data_s(r, name) for r in runs) if v is not None]
        entry = {"trained_mean": mean, "trained_sd": sd, "exact": [lo, hi], "exact_well_posed": well,
                 "tolerance": tol, "within": inside, "data_optimum_mean": float(np.mean(dvals)) if dvals else None}
        if runs[0]["config"]["framework"] == "gossip":
            entry["exact_omega"] = list(exact_s(runs[0], name, "omega")[:2])
        out[name] = entry
        if name == VERDICT_SET:
            verdict = "ILL-POSED" if not well else ("HOLDS" if inside else "FAILS")
    dist = [r["exact"][_own_target(r)].get("subspace_distance") for r in runs]
    out["subspace_distance_to_exact"] = [d for d in dist if d is not None] or None
    return {"verdict": verdict, **out}


def _own_target(res: Mapping[str, Any]) -> str:
    fw = res["config"]["framework"]
    return "pi" if fw == "gossip" else ("fl" if fw == "fedavg" else "client:0")


def rate_in_d(runs: Sequence[Mapping[str, Any]], method: str) -> dict[str, Any]:
    """Slope of log s against log d, per seed, against the printed rate."""
    by_seed: dict[int, list[tuple[int, float]]] = defaultdict(list)
    exact_pts: dict[int, float] = {}
    for r in runs:
        by_seed[int(r["config"]["seed"])].append((int(r["config"]["d"]), trained_s(r)))
        lo, hi, well = exact_s(r)
        exact_pts[int(r["config"]["d"])] = 0.5 * (lo + hi) if well else math.nan
    ds = sorted({d for pts in by_seed.values() for d, _ in pts})
    printed = PRINTED_RATE[method]
    numbers: dict[str, Any] = {"d": ds, "printed_slope": printed}
    if len(ds) < 2:
        return {"verdict": "ILL-POSED", **numbers, "reason": "fewer than two dimensions"}
    slopes, ses = [], []
    for pts in by_seed.values():
        pts = sorted(p for p in pts if p[1] > 0)
        if len(pts) >= 2:
            b, se = _slope(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]))
            slopes.append(b)
            ses.append(se)
    ex = [(d, exact_pts[d]) for d in ds if exact_pts.get(d, math.nan) > 0]
    numbers["exact_slope"] = _slope(np.log([e[0] for e in ex]), np.log([e[1] for e in ex]))[0] if len(ex) >= 2 else None
    numbers["trained_s_by_d"] = {str(d): float(np.mean([s for pts in by_seed.values() for dd, s in pts if dd == d]))
                                 for d in ds}
    if not slopes:
        zero = all(s <= S_FLOOR for pts in by_seed.values() for _, s in pts)
        return {"verdict": "HOLDS" if zero else "ILL-POSED", **numbers,
                "reason": "s is 0 at every d" if zero else "too few positive s for a log-log fit"}
    mean, sd = _mean_sd(slopes)
    se = sd / math.sqrt(len(slopes)) if len(slopes) > 1 else ses[0]
    holds = mean - K_SIGMA * se <= printed
    return {"verdict": "HOLDS" if holds else "FAILS", **numbers, "trained_slope": mean, "slope_se": se,
            "n_seeds": len(slopes)}


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], strict: bool,
                      floor: float = S_FLOOR) -> dict[str, Any]:
    """a - b paired by seed; strict '>' or '>=' within K standard errors plus ``floor``.

    The default floor (S_FLOOR) is for sensitivities, whose numerical-rank cut can move them by
    that much; continuous quantities such as Gram errors pass ``floor=0``.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return {"verdict": "ILL-POSED", "reason": "no common seeds"}
    diff = [a[s] - b[s] for s in seeds]
    mean, sd = _mean_sd(diff)
    se = sd / math.sqrt(len(diff))
    if strict:
        holds = mean - K_SIGMA * se - floor > 0
    else:
        holds = mean + K_SIGMA * se + floor >= 0
    return {"verdict": "HOLDS" if holds else "FAILS", "seeds": seeds, "mean_difference": mean,
            "se": se, "a_mean": float(np.mean([a[s] for s in seeds])), "b_mean": float(np.mean([b[s] for s in seeds]))}


def decreasing_in_connectivity(points: Sequence[tuple[int, float, float]]) -> dict[str, Any]:
    """(seed, |Ā|, s) points: is s decreasing in |Ā|? Per-seed least-squares slopes."""
    by_seed: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for seed, abar, s in points:
        by_seed[seed].append((abar, s))
    abars = sorted({round(a, 9) for _, a, _ in points})
    if len(abars) < 2:
        return {"verdict": "ILL-POSED", "reason": "fewer than two values of |Ā|", "abar": abars}
    slopes = []
    for pts in by_seed.values():
        if len({a for a, _ in pts}) >= 2:
            slopes.append(_slope([p[0] for p in pts], [p[1] for p in pts])[0])
    mean, sd = _mean_sd(slopes)
    se = sd / math.sqrt(len(slopes)) if slopes else math.nan
    holds = bool(slopes) and mean + K_SIGMA * se < 0
    s_by_abar = {f"{a:g}": float(np.mean([s for _, aa, s in points if round(aa, 9) == a])) for a in abars}
    return {"verdict": "HOLDS" if holds else "FAILS", "abar": abars, "s_mean_by_abar": s_by_abar,
            "slope_mean": mean, "slope_se": se, "n_seeds": len(slopes)}


# --------------------------------------------------------------------------- all claims
def claims_from_results(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every claim the given results can speak to, with verdicts and numbers."""
    pair = [r for r in results if r["config"]["method"] in PRINTED_RATE]
    out: list[dict[str, Any]] = []

    # thm4.2-* / thm4.3-*: trained vs exact per cell, and the rate in d per (method, framework, graph)
    per_claim: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    cells: dict[tuple, list] = defaultdict(list)
    for r in pair:
        cells[_cell_key(r)].append(r)
    for runs in cells.values():
        c = runs[0]["config"]
        label = f"{c['method']} {c['framework']} d={c['d']} N={c['n_clients']}" + (f" graph={c['graph']}" if c["graph"] else "")
        per_claim[CLAIM_OF[(c["method"], c["framework"])]].append((label, trained_vs_exact(runs)))
    families: dict[tuple, list] = defaultdict(list)
    for r in pair:
        families[family_key(r)].append(r)
    for runs in families.values():
        c = runs[0]["config"]
        if len({r["config"]["d"] for r in runs}) < 2:
            continue
        label = f"rate {c['method']} {c['framework']}" + (f" graph={c['graph']}" if c["graph"] else "")
        per_claim[CLAIM_OF[(c["method"], c["framework"])]].append((label, rate_in_d(runs, c["method"])))
    for claim in sorted(per_claim):
        items = per_claim[claim]
        out.append({"claim": claim, "verdict": combine(v["verdict"] for _, v in items).value,
                    "numbers": {label: v for label, v in items}})

    # thm4.4: s_C > s_M, per framework/graph/d, paired by seed
    groups: dict[tuple, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in pair:
        c = r["config"]
        groups[(c["framework"], c["graph"], c["d"], c["n_clients"])][c["method"]][int(c["seed"])] = trained_s(r)
    sub: dict[str, Any] = {}
    for (fw, graph, d, n), by_method in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if "MIM" not in by_method:
            continue
        for cl in ("CL1", "CL2"):
            if cl in by_method:
                sub[f"{cl} > MIM {fw} d={d} N={n}" + (f" graph={graph}" if graph else "")] = \
                    paired_difference(by_method[cl], by_method["MIM"], strict=True)
    if sub:
        out.append({"claim": "thm4.4", "verdict": combine(v["verdict"] for v in sub.values()).value, "numbers": sub})

    # thm4.6: s_Dec >= s_Fed, per method/d, every gossip graph against FedAvg
    fed: dict[tuple, dict[int, float]] = defaultdict(dict)
    dec: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in pair:
        c = r["config"]
        key = (c["method"], c["d"], c["n_clients"])
        if c["framework"] == "fedavg" and (c.get("participation") or 1.0) == 1.0:
            fed[key][int(c["seed"])] = trained_s(r)
        elif c["framework"] == "gossip":
            dec[key + (c["graph"],)][int(c["seed"])] = trained_s(r)
    sub = {}
    for key, vals in sorted(dec.items(), key=lambda kv: str(kv[0])):
        if key[:3] in fed:
            sub[f"{key[0]} d={key[1]} N={key[2]} graph={key[3]}"] = paired_difference(vals, fed[key[:3]], strict=False)
    if sub:
        out.append({"claim": "thm4.6", "verdict": combine(v["verdict"] for v in sub.values()).value, "numbers": sub})

    # cor4.5: s_Dec decreasing in |Ā|, on regular and on irregular graphs
    fam: dict[tuple, list[tuple[int, float, float]]] = defaultdict(list)
    for r in pair:
        c = r["config"]
        if c["framework"] != "gossip" or r.get("graph") is None:
            continue
        kind = "regular" if r["graph"]["is_regular"] else "irregular"
        pts = (int(c["seed"]), float(r["graph"]["mean_connectivity"]), trained_s(r))
        fam[(c["method"], c["d"], c["n_clients"], kind)].append(pts)
        if r["graph"]["mean_connectivity"] == c["n_clients"]:  # K_N belongs to both families
            fam[(c["method"], c["d"], c["n_clients"], "irregular")].append(pts)
    sub = {f"{m} d={d} N={n} {kind}": decreasing_in_connectivity(pts)
           for (m, d, n, kind), pts in sorted(fam.items(), key=lambda kv: str(kv[0]))}
    sub = {k: v for k, v in sub.items() if v["verdict"] != "ILL-POSED" or len(v.get("abar", [])) > 1}
    if sub:
        out.append({"claim": "cor4.5", "verdict": combine(v["verdict"] for v in sub.values()).value, "numbers": sub})

    # which fixed point D-PSGD reaches on irregular graphs (π of the mixing vs ω of Eq. 1),
    # paired per run: Δ = Gram error to the ω-minimiser - Gram error to the π-minimiser
    fp: dict[tuple, tuple[dict[int, float], dict[int, float], list]] = {}
    for r in pair:
        g = r.get("gossip_fixed_point")
        if not g or g["weights_equal"] or g["metric"] != "gram_error":
            continue
        c = r["config"]
        key = (c["method"], c["d"], c["n_clients"], c["graph"], c["mixing"])
        om, pi, gaps = fp.setdefault(key, ({}, {}, []))
        om[int(c["seed"])], pi[int(c["seed"])] = g["omega"], g["pi"]
        gaps.append(g.get("target_gram_gap"))
    sub = {}
    for key, (om, pi, gaps) in sorted(fp.items(), key=lambda kv: str(kv[0])):
        res = paired_difference(om, pi, strict=True, floor=0.0)  # Gram errors: no rank-rounding floor
        res["target_gram_gap"] = _median(gaps)
        sub[f"{key[0]} d={key[1]} N={key[2]} graph={key[3]} mixing={key[4]}"] = res
    if sub:
        out.append({"claim": "decl-fixed-point", "verdict": combine(v["verdict"] for v in sub.values()).value,
                    "numbers": {"statement": "D-PSGD's average model is closer to the minimiser of Σ π_j X_j "
                                             "(stationary weights of the mixing) than to that of Σ ω_j X_j (Eq. 1)",
                                **sub}})
    return out


def _median(xs: Iterable[float | None]) -> float | None:
    v = [x for x in xs if x is not None]
    return float(np.median(v)) if v else None


# --------------------------------------------------------------------------- verifier entry
def _check_cfg(cfg: NonIIDModelConfig) -> None:
    require(tuple(cfg.rare_classes) == default_rare_classes(cfg.n_clients), "cfg.rare_classes",
            "the default h_i = 2((i+1) mod N) (trained checks build configs by the paper's scalings)",
            cfg.rare_classes)


def sampled_configs(cfg: NonIIDModelConfig, topology: graphs.Topology, seed: int, n_seeds: int = 3,
                    d_grid: Sequence[int] | None = None, overrides: Mapping[str, Any] | None = None,
                    methods: Sequence[str] = ("MIM", "CL1", "CL2")) -> list[Any]:
    """The runs behind :func:`sampled_checks` (resolved ``LinearRunConfig`` objects).

    ``overrides`` sets LinearRunConfig fields of every run (e.g. {"rounds": 50} for a quick look).
    """
    from .experiment import LinearRunConfig

    _check_cfg(cfg)
    require(topology.n == cfg.n_clients, "topology", f"a graph on N={cfg.n_clients} clients", topology.n)
    require(n_seeds >= 1, "n_seeds", "an integer >= 1", n_seeds)
    n, d = cfg.n_clients, cfg.d
    floor = max(32, cfg.support_size + 2, cfg.c + 2)
    grid = sorted({g for g in (d_grid or (d // 4, d // 2, d)) if g >= floor} | {d})
    paper_tau, paper_mu = d**0.2, d**-0.2
    base = dict(n_clients=n, c=cfg.c, p=cfg.p, q_mode=cfg.q_mode, rare_axis=cfg.rare_axis,
                augmentation=cfg.augmentation)
    at_d = dict(n_frequent=cfg.n_frequent, n_rare=cfg.n_rare,
                tau=None if math.isclose(cfg.tau, paper_tau) else cfg.tau,
                mu=None if math.isclose(cfg.mu, paper_mu) else cfg.mu)
    seeds = list(range(seed, seed + n_seeds))
    spec = graphs.edges_spec(topology)
    out = []
    for method in methods:
        require(method in PRINTED_RATE, "methods", f"names among {tuple(PRINTED_RATE)}", method)
        for dd in grid:
            extra = at_d if dd == d else {}
            for fw, graph in (("local", None), ("fedavg", None), ("gossip", spec)):
                for s in seeds:
                    out.append(LinearRunConfig(method=method, framework=fw, d=dd, graph=graph, seed=s,
                                         data_optimum=dd <= 1024, **base, **extra))
        # Cor 4.5 families at d: regular graphs of every degree, and random irregular ones
        family = ["ring"] + [f"regular:{k}" for k in range(3, n - 1) if (n * k) % 2 == 0] + ["complete"]
        lo, hi = graphs.mean_connectivity_range(n)
        family += [f"abar:{a:.3g}" for a in np.linspace(lo + 0.5, hi - 0.5, 3) if hi - lo > 1]
        for graph in family:
            for s in seeds:
                out.append(LinearRunConfig(method=method, framework="gossip", d=d, graph=graph, seed=s,
                                     data_optimum=d <= 1024, **base, **at_d))
    resolved, seen = [], set()
    from dataclasses import replace as _replace

    from .experiment import config_key
    for rc in out:
        r = _replace(rc, **dict(overrides or {})).resolve()
        if config_key(r) not in seen:
            seen.add(config_key(r))
            resolved.append(r)
    return resolved


def sampled_checks(cfg: NonIIDModelConfig, topology: graphs.Topology, seed: int, *, n_seeds: int = 3,
                   d_grid: Sequence[int] | None = None, overrides: Mapping[str, Any] | None = None,
                   methods: Sequence[str] = ("MIM", "CL1", "CL2"), cache_dir: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Train MIM, CL1 and CL2 under local / DecL (``topology``) / FL training and check the claims.

    Runs, for seeds ``seed .. seed + n_seeds - 1``: every method x framework at ``cfg.d``
    and at d/4, d/2 (N and c fixed, τ, μ and sample counts by the paper's scalings) for
    the rates in d; and DecL on regular graphs of every degree and on random irregular
    graphs at ``cfg.d`` for Cor 4.5. With ``cache_dir`` the runs are read from / written
    to that folder like the sweep's (only then does this function touch files).
    Returns :func:`claims_from_results` of all runs.
    """
    from pathlib import Path

    from .experiment import run
    from .sweep import load_result, result_path, write_atomic

    configs = sampled_configs(cfg, topology, seed, n_seeds, d_grid, overrides, methods)
    results = []
    for k, rc in enumerate(configs):
        path = result_path(Path(cache_dir), rc) if cache_dir else None
        if path is not None and path.exists():
            results.append(load_result(path))
        else:
            res = run(rc)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, res)
            results.append(res)
        if progress is not None:
            progress(k + 1, len(configs))
    return claims_from_results(results)


__all__ = ["sampled_checks", "sampled_configs", "claims_from_results", "trained_vs_exact", "rate_in_d", "family_key",
           "paired_difference", "decreasing_in_connectivity", "ParameterError"]
