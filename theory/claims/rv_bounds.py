"""Bounds on the representability vector: the vacuous bound of Eqs. 19-24 and Theorems 4.2 (MIM)
and 4.3 (CL) for the local, DecL and FL models, each at the printed, exact and sampled levels
side by side, with the two readings (at this d, as d grows) at the exact level.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import sympy as sp

from .. import derivations
from ..analysis import Analysis
from ..stats import Decision, Identification, worst_identification
from ..verdict import LevelResult, Verdict, combine
from . import limits, printed_level
from .base import Claim, claim, register
from .cells import CL_VARIANTS
from .common import BOUNDED_SLOPE, constant_verdict, loglog_slope, smallest_lb_constant
from .context import Context


# --------------------------------------------------------------------------- eq19-24
def eq19_printed(ctx: Context) -> LevelResult:
    th = sp.Symbol("theta", real=True)
    v1 = sp.Matrix([sp.cos(th), sp.sin(th)])
    v2 = sp.Matrix([-sp.sin(th), sp.cos(th)])
    e1 = sp.Matrix([1, 0])
    total = sp.simplify((e1.T * v1)[0] ** 2 + (e1.T * v2)[0] ** 2)
    v = Verdict.VACUOUS if total == 1 else Verdict.FAILS
    return LevelResult(v, f"for any orthonormal basis Σ_{{j=1}}^{{d}} (e_kᵀv_j)² = {total}: the bound constrains nothing "
                          "(r_k sums only j <= c)", {"sum_over_all_j": str(total)})


@claim('eq19-24-rv-bound',
       'Eqs. 19-24 bound r_k from below through Σ_{j=1}^{d} (e_kᵀv_j)².',
       order=90, printed=eq19_printed)
def eq19_level(ctx: Context, level: str) -> LevelResult:
    """The bound is on Σ_{j=1}^{d} (e_kᵀv_j)², which is 1 for every k; r_k sums only to c."""
    an = ctx.analysis
    spec = an.spectrum(level, "MIM", "local", client=0, complete=True)
    # rows of the full eigenvector matrix; a bulk eigenspace span(e_K..e_{d-1}) adds 1 to each bulk row
    full = np.concatenate([np.sum(spec.vectors**2, axis=1), np.zeros(spec.d - spec.k)])
    if spec.bulk_index is not None:
        full[spec.k:] += 1.0
    sub = an.subspace(level, "MIM", "local", client=0)
    lo, hi = sub.rv_bounds(an.coords("[N]\\i", client=0))
    out = {"max_abs_deviation_of_full_sum_from_1": float(np.max(np.abs(full - 1.0))),
           "top_c_r_min_off_own_axis": float(np.min(lo)), "top_c_r_max_off_own_axis": float(np.max(hi))}
    summary = (f"Σ_j≤d (e_kᵀv_j)² = 1 for all k (max deviation {out['max_abs_deviation_of_full_sum_from_1']:.1e}); "
               f"the bound constrains nothing, while r_k (j ≤ c) is as low as {out['top_c_r_min_off_own_axis']:.3g}")
    return LevelResult(Verdict.VACUOUS, summary, out)


# --------------------------------------------------------------------------- Thm 4.2 / 4.3
ORDER_EXPONENT = {"MIM": -0.4, "CL1": -0.2, "CL2": -0.2}


# The coordinate set each framework's printed statement is over: Thm 4.2.1 / 4.3.1 (local) are
# over [N]∖{i}, all clients i; the global statements over the leading c coordinates.
LOCAL_PRINTED_SET = "[N]\\{i}"


def printed_set(framework: str) -> str:
    return LOCAL_PRINTED_SET if framework == "local" else "[c]"


def _r_min(an: Analysis, level: str, method: str, framework: str, coords: str) -> tuple[float, bool, dict]:
    """Smallest r_k over the claim's coordinates (all clients for local), and well-posedness.

    ``coords`` for local: "[N]\\{i}" (the printed set) or "[N]"."""
    if framework == "local":
        lows, ill = [], False
        for i in range(an.cfg.n_clients):
            sub = an.subspace(level, method, "local", client=i)
            cs = an.coords("[N]\\i" if coords in ("[c]", LOCAL_PRINTED_SET) else coords, client=i)
            lo, hi = sub.rv_bounds(cs)
            ill |= bool(np.any(hi - lo > 1e-12))
            lows.append(float(np.min(lo)))
        diag = an.subspace(level, method, "local", client=0).diagnostic()
        return min(lows), not ill, diag
    sub = an.subspace(level, method, framework)
    lo, hi = sub.rv_bounds(an.coords(coords))
    return float(np.min(lo)), bool(np.all(hi - lo <= 1e-12)), sub.diagnostic()


def _cell_identification(an: Analysis, method: str, framework: str) -> Identification | None:
    """The least identified sampled cell behind an RV claim (every client for local)."""
    if framework == "local":
        return worst_identification([an.identification(method, "local", client=i) for i in range(an.cfg.n_clients)])
    return an.identification(method, framework)


def _cstar(ctx: Context, an: Analysis, level: str, method: str, framework: str, coords: str) -> tuple[float, float, bool]:
    r_min, well, _ = _r_min(an, level, method, framework, coords)
    d = an.cfg.d
    order = d ** ORDER_EXPONENT[method]
    s1 = printed_level.printed_sensitivity(ctx, method, framework, d=d, constant=1.0,
                                           abar=an.topology.mean_connectivity)
    lead = order * (1.0 / s1 - 1.0) if 0 < s1 < 1 else -1.0
    return smallest_lb_constant(r_min, lead, order), r_min, well


def rv_bound_printed(ctx: Context, method: str, framework: str) -> LevelResult:
    """The printed lower bound at this d: inside (0, 1) (informative) or not (vacuous)."""
    cfg = ctx.cfg
    abar = ctx.analysis.topology.mean_connectivity
    s = printed_level.printed_sensitivity(ctx, method, framework, d=cfg.d, abar=abar)
    lb = 1.0 - s
    algebra = derivations.eq24_algebra()
    kw = printed_level.common_kwargs(ctx, method)
    if method == "CL2":
        kw.pop("eta")
        kw["trH"] = printed_level.trace_h(ctx)
    vac = derivations.derive_vacuity(method, framework, derivations.PrintedParams(
        {**printed_level.constants(ctx, method), **printed_level.user_constants(ctx)}, **kw))
    thr = float(vac.numbers.get("threshold_d", float("nan")))
    informative = 0.0 < lb < 1.0
    v = Verdict.HOLDS if (algebra.holds and informative) else (Verdict.FAILS if not algebra.holds else Verdict.VACUOUS)
    return LevelResult(v, f"printed lower bound {lb:.6g} at d={cfg.d}; Eq. 24 algebra "
                          f"{'holds' if algebra.holds else 'fails'}; bound informative for d >= {thr:.4g}",
                       {"lower_bound": lb, "sensitivity": s, "eq24_algebra_holds": algebra.holds,
                        "informative_from_d": thr, "constants": printed_level.constants(ctx, method), "mean_connectivity": abar,
                        "vacuity": dict(vac.numbers)})


def rv_bound_level(ctx: Context, level: str, method: str, framework: str) -> LevelResult:
    """Theorem 4.2 / 4.3 cell (method, framework) at the exact or sampled level."""
    an = ctx.analysis
    grid = ctx.grid(level, method)
    coords_printed = printed_set(framework)
    per_set: dict[str, dict] = {}
    verdicts = {}
    decs: list[Decision] = []
    for cs in (coords_printed, "[N]"):
        cstars, rmins, wells, idents, lbs = [], [], [], [], []
        for dd in grid:
            a = an if dd == an.cfg.d else an.at_dimension(dd)
            cstar, r_min, well = _cstar(ctx, a, level, method, framework, cs)
            cstars.append(cstar)
            rmins.append(r_min)
            wells.append(well)
            lbs.append(1.0 - printed_level.printed_sensitivity(ctx, method, framework, d=dd, constant=1.0,
                                                               abar=an.topology.mean_connectivity))
            if level == "sampled":
                idents.append(_cell_identification(a, method, framework))
        idx = list(grid).index(an.cfg.d) if an.cfg.d in grid else len(grid) - 1
        lb = 1.0 - printed_level.printed_sensitivity(ctx, method, framework, d=an.cfg.d, constant=1.0,
                                                     abar=an.topology.mean_connectivity)
        slope = loglog_slope(grid, cstars)
        if not wells[idx]:
            v = Verdict.ILL_POSED
        else:
            v = constant_verdict(cstars[idx], slope)
        verdicts[cs] = v
        ident = worst_identification(idents)
        pop = {}
        if ident is not None and ident.status == "tie":
            r_e, _, _ = _r_min(an, "exact", method, framework, cs)
            pop = {"exact_r_min_low": r_e}
        decs.append(Decision(f"{cs}: min r > 0", rmins[idx], "min r", rmins[idx], group=cs,
                             headline=cs == coords_printed, identification=ident, population=pop))
        decs.append(Decision(f"{cs}: O-constant bounded in d", BOUNDED_SLOPE - slope, "log-log slope of C*", slope,
                             group=cs, headline=cs == coords_printed, identification=ident, population=pop))
        per_set[cs] = {
            "verdict": v.value,
            "r_min": rmins[idx],
            "printed_lower_bound_C=1": lb,
            "bound_holds_at_d_with_C=1": bool(rmins[idx] >= lb) if wells[idx] else None,
            "smallest_constant": cstars[idx],
            "d_grid": list(grid),
            "smallest_constant_over_grid": cstars,
            "r_min_over_grid": rmins,
            "loglog_slope_of_constant": slope,
            "well_posed": wells[idx],
        }
        if level == "exact":
            up = [j for j, dd in enumerate(grid) if dd >= an.cfg.d]
            ms = [(rmins[j] - lbs[j], rmins[j] - lbs[j]) if wells[j] else (-math.inf, math.inf) for j in up]
            reading = limits.read([grid[j] for j in up], ms, strict=False, dense_note=limits.is_dense(an, method))
            # the O-constant reading of "as d grows": C* bounded over the whole grid (the verdict above)
            reading["o_constant_bounded_in_d"] = v.value
            per_set[cs]["readings"] = reading
    _, _, diag = _r_min(an, level, method, framework, coords_printed)
    v = verdicts[coords_printed]
    p = per_set[coords_printed]
    where = "k in [N]\\{i}, all clients i" if framework == "local" else "k in [c]"
    if v is Verdict.ILL_POSED:
        summary = f"{where}: top-c subspace not unique (tie at the cut); over [N]: {verdicts['[N]'].value}"
    else:
        summary = (f"{where}: min r = {p['r_min']:.4g} vs bound {p['printed_lower_bound_C=1']:.4g} (C=1); "
                   f"smallest C = {p['smallest_constant']:.3g}, slope in d {p['loglog_slope_of_constant']:.2f}")
    numbers = {"coordinates": per_set, "subspace": diag}
    if "readings" in p:
        rd = p["readings"]
        text = (f"r - bound (C=1): {rd['sign_pattern']} on d={rd['d_grid'][0]}..{rd['d_grid'][-1]}, {rd['trend']}; "
                f"O-constant bounded in d: {v.value}")
        numbers["readings"] = {"at_d": rd["at_d"], "as_d_grows": rd["as_d_grows"], "text": text}
        summary += ". Readings: " + text
    return LevelResult(v, summary, numbers, tuple(decs))


def combine_methods(parts: dict[str, LevelResult]) -> LevelResult:
    """One claim over several methods (Thm 4.3 states CL1 and CL2 together): the most severe verdict."""
    v = combine(r.verdict for r in parts.values())
    summary = "; ".join(f"{m}: {r.verdict.value} ({r.summary})" for m, r in parts.items())
    decs = tuple(Decision(**{**d.__dict__, "name": f"{m} {d.name}", "group": f"{m} {d.group}"})
                 for m, r in parts.items() for d in r.decisions)
    numbers = {m: r.to_dict() for m, r in parts.items()}
    rds = {m: r.numbers["readings"] for m, r in parts.items() if "readings" in r.numbers}
    if rds:
        numbers["readings"] = {"at_d": combine(Verdict(x["at_d"]) for x in rds.values()).value,
                               "as_d_grows": combine(Verdict(x["as_d_grows"]) for x in rds.values()).value,
                               "text": "; ".join(f"{m}: {x['text']}" for m, x in rds.items())}
    return LevelResult(v, summary, numbers, decs)


def cl_printed(ctx: Context, framework: str) -> LevelResult:
    return combine_methods({m: rv_bound_printed(ctx, m, framework) for m in CL_VARIANTS})


def cl_level(ctx: Context, level: str, framework: str) -> LevelResult:
    return combine_methods({m: rv_bound_level(ctx, level, m, framework) for m in CL_VARIANTS})


# the statements of Thm 4.2 (MIM) and Thm 4.3 (CL) for each framework, registered below
_THM42 = {
    'local': 'Thm 4.2.1: local MIM RV r_{i,k} >= 1 - O(d^-2/5)/(2p(1-p)d^(2/5) + O(d^-2/5)), k in [N]∖{i}.',
    'decl': 'Thm 4.2.2: DecL MIM RV >= 1 - O(d^-2/5)/(2p(1-p)(1-1/|Ā|)d^(2/5) + O(d^-2/5)).',
    'fl': 'Thm 4.2.2: FL MIM RV >= 1 - O(d^-2/5)/(2p(1-p)d^(2/5) - Θ(d^(7/20)) + O(d^-2/5)).',
}
_THM43 = {
    'local': 'Thm 4.3.1: local CL RV >= 1 - O(d^-1/5)/(d^(2/5) + O(d^-1/5)) (tr(H)d^(2/5) for dissimilar).',
    'decl': 'Thm 4.3.2: DecL CL RV >= 1 - O(d^-1/5)/((1-1/|Ā|)d^(2/5) + O(d^-1/5)) (times tr(H) for dissimilar).',
    'fl': 'Thm 4.3.2: FL CL RV >= 1 - O(d^-1/5)/(d^(2/5) - Θ(d^(7/20)) + O(d^-1/5)) (tr(H) for dissimilar).',
}
for _k, _fw in enumerate(("local", "decl", "fl")):
    register(Claim(f"thm4.2-{_fw}", _THM42[_fw], 150 + _k, partial(rv_bound_printed, method="MIM", framework=_fw),
                   partial(rv_bound_level, method="MIM", framework=_fw)))
for _k, _fw in enumerate(("local", "decl", "fl")):
    register(Claim(f"thm4.3-{_fw}", _THM43[_fw], 160 + _k, partial(cl_printed, framework=_fw),
                   partial(cl_level, framework=_fw)))
