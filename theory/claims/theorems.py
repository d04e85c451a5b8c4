"""Checks of Theorems 4.2-4.6 and Corollary 4.5 at the exact and sampled levels.

Each check computes the RV / sensitivity of the exact (or sampled) minimiser and compares
it with the printed statement; the verdict comes from those numbers. The printed level is
in ``printed_level``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..analysis import Analysis
from ..graphs import Topology, complete
from ..stats import Decision, Identification, worst_identification
from ..verdict import LevelResult, Verdict, combine
from . import limits, printed_level
from .common import BOUNDED_SLOPE, S_TOL, compare_intervals, constant_verdict, loglog_slope, smallest_lb_constant
from .context import Context

ORDER_EXPONENT = {"MIM": -0.4, "CL1": -0.2, "CL2": -0.2}
CL_VARIANTS = ("CL1", "CL2")


# --------------------------------------------------------------------------- Thm 4.2 / 4.3
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


def rv_bound_level(ctx: Context, level: str, method: str, framework: str) -> LevelResult:
    """Theorem 4.2 / 4.3 cell (method, framework) at the exact or sampled level."""
    an = ctx.analysis
    grid = ctx.sampled_grid if level == "sampled" else (ctx.dense_grid if method == "CL2" else ctx.exact_grid)
    grid = tuple(grid) or (an.cfg.d,)
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


def rv_bound_claim(method: str, framework: str) -> Callable[[Context, str], LevelResult]:
    def check(ctx: Context, level: str) -> LevelResult:
        if level == "printed":
            return printed_level.rv_bound_printed(ctx, method, framework)
        return rv_bound_level(ctx, level, method, framework)
    return check


def rv_bound_cells(methods: tuple[str, ...], framework: str) -> Callable[[Context, str], LevelResult]:
    """One claim covering several methods (Thm 4.3 has CL1 and CL2 in each statement)."""
    def check(ctx: Context, level: str) -> LevelResult:
        parts = {m: rv_bound_claim(m, framework)(ctx, level) for m in methods}
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
    return check


# --------------------------------------------------------------------------- Thm 4.4
def _sens(an: Analysis, level: str, method: str, framework: str, coords: str,
          topology: Topology | None = None):
    return an.sensitivity(level, method, framework, coords, topology=topology)


def _ident(an: Analysis, level: str, cells: list[tuple[str, str, Topology | None]]) -> Identification | None:
    """Sampled level: the least identified of the cells (objective, framework, graph) a margin uses."""
    if level != "sampled":
        return None
    return worst_identification([an.identification(o, f, topology=t) for o, f, t in cells])


def _interval(s) -> list[float]:  # noqa: ANN001 - Sensitivity
    return [s.low, s.high]


def thm44_level(ctx: Context, level: str) -> LevelResult:
    an = ctx.analysis
    rows = {}
    decs: list[Decision] = []
    by_set: dict[str, list[Verdict]] = {"[c]": [], "[N]": [], "rare": []}
    for framework in ("decl", "fl"):
        for cl in CL_VARIANTS:
            for cs in by_set:
                sc = _sens(an, level, cl, framework, cs)
                sm = _sens(an, level, "MIM", framework, cs)
                v = compare_intervals(sc.low, sc.high, sm.low, sm.high, strict=True)
                by_set[cs].append(v)
                ident = _ident(an, level, [(cl, framework, None), ("MIM", framework, None)])
                pop = {}
                if ident is not None and ident.status == "tie":
                    pop = {"s_C": _interval(_sens(an, "exact", cl, framework, cs)),
                           "s_M": _interval(_sens(an, "exact", "MIM", framework, cs))}
                decs.append(Decision(f"{framework}/{cl}/{cs}", sc.low - sm.high - S_TOL, "s_C - s_M",
                                     sc.low - sm.high, group=cs, headline=cs == "[c]", identification=ident,
                                     population=pop))
                rows[f"{framework}/{cl}/{cs}"] = {
                    "verdict": v.value, "s_C": sc.to_dict(), "s_M": sm.to_dict(),
                }
    verdicts = {cs: combine(vs) for cs, vs in by_set.items()}
    v = verdicts["[c]"]
    readings = None
    if level == "exact":
        cells = {}
        for framework in ("decl", "fl"):
            for cl in CL_VARIANTS:
                for cs in by_set:
                    def margin(a: Analysis, cl: str = cl, framework: str = framework, cs: str = cs) -> limits.Margin:
                        sc, sm = _sens(a, "exact", cl, framework, cs), _sens(a, "exact", "MIM", framework, cs)
                        return (sc.low - sm.high, sc.high - sm.low)
                    ds, ms = limits.margin_series(ctx, (cl, "MIM"), margin)
                    cells[f"{framework}/{cl}/{cs}"] = limits.read(ds, ms, strict=True,
                                                                  dense_note=limits.is_dense(an, cl))
        readings = _readings(cells, lambda k: k.endswith("/[c]"))
    fl = rows["fl/CL1/[N]"]
    summary = (f"over [c]: {v.value}; over [N]: {verdicts['[N]'].value} "
               f"(FL, CL1: s_C={_fmt(fl['s_C'])}, s_M={_fmt(fl['s_M'])}); over rare axes: {verdicts['rare'].value}")
    numbers = {"by_coordinates": {k: x.value for k, x in verdicts.items()}, "cells": rows,
               "graph": an.topology.name, "mean_connectivity": an.topology.mean_connectivity}
    if readings:
        numbers["readings"] = readings
        summary += f". Readings over [c]: at d {readings['at_d']}, as d grows {readings['as_d_grows']} ({readings['text']})"
    return LevelResult(v, summary, numbers, tuple(decs))


def _readings(cells: dict[str, dict], headline: Callable[[str], bool]) -> dict:
    at_d, grows, text = limits.summarise(cells, headline)
    return {"at_d": at_d.value, "as_d_grows": grows.value, "text": text, "cells": cells}


def _fmt(s: dict) -> str:
    if s["well_posed"]:
        return f"{s['s']:.3g}"
    lo, hi = s["s_interval"]
    return f"[{lo:.3g}, {hi:.3g}]"


# --------------------------------------------------------------------------- Cor 4.5
def _series(an: Analysis, level: str, method: str, cs: str, tops: list[Topology]) -> list[dict]:
    out = []
    for t in tops:
        s = _sens(an, level, method, "decl", cs, topology=t)
        out.append({"graph": t.name, "mean_connectivity": t.mean_connectivity, **s.to_dict()})
    return out


def _monotone_margin(series: list[dict]) -> float:
    """min(S_TOL - largest increase, total drop - S_TOL): > 0 iff s decreases as |Ā| grows (the
    margin of :func:`_monotone_verdict`, from the lower ends of ILL-POSED intervals)."""
    key = "s" if all(r["well_posed"] for r in series) else None
    pts = sorted(series, key=lambda r: r["mean_connectivity"])
    val = (lambda r: r[key]) if key else (lambda r: r["s_interval"][0])
    worst = 0.0
    for a in pts:
        for b in pts:
            if a["mean_connectivity"] < b["mean_connectivity"] - 1e-9:
                worst = max(worst, val(b) - val(a))
    return min(S_TOL - worst, val(pts[0]) - val(pts[-1]) - S_TOL)


def _monotone_verdict(series: list[dict]) -> tuple[Verdict, str]:
    """Does s decrease as |Ā| grows? FAILS on any increase or when it never decreases."""
    if any(not r["well_posed"] for r in series):
        return Verdict.ILL_POSED, "some s not determined (tied subspace)"
    pts = sorted(series, key=lambda r: r["mean_connectivity"])
    worst = 0.0
    for a in pts:
        for b in pts:
            if a["mean_connectivity"] < b["mean_connectivity"] - 1e-9:
                worst = max(worst, b["s"] - a["s"])
    drop = pts[0]["s"] - pts[-1]["s"]
    if worst > S_TOL:
        return Verdict.FAILS, f"s increases by up to {worst:.3g} as |Ā| grows"
    if drop <= S_TOL:
        return Verdict.FAILS, f"s does not decrease (change {-drop:.3g} from |Ā|={pts[0]['mean_connectivity']:.3g} to {pts[-1]['mean_connectivity']:.3g})"
    return Verdict.HOLDS, f"s falls by {drop:.3g} from |Ā|={pts[0]['mean_connectivity']:.3g} to {pts[-1]['mean_connectivity']:.3g}"


def cor45_level(ctx: Context, level: str) -> LevelResult:
    an = ctx.analysis
    fam = an.graph_family
    rows, by_set = {}, {"[c]": [], "[N]": []}
    decs: list[Decision] = []
    for family, tops in fam.items():
        if len(tops) < 2:
            continue
        for method in ("MIM", "CL1", "CL2"):
            for cs in by_set:
                series = _series(an, level, method, cs, tops)
                v, why = _monotone_verdict(series)
                by_set[cs].append(v)
                ident = _ident(an, level, [(method, "decl", t) for t in tops])
                pop = ({"s": [_interval(_sens(an, "exact", method, "decl", cs, topology=t)) for t in tops]}
                       if ident is not None and ident.status == "tie" else {})
                decs.append(Decision(f"{family}/{method}/{cs}", _monotone_margin(series),
                                     "min(-largest rise, drop) of s over |Ā|", None, group=cs,
                                     headline=cs == "[c]", identification=ident, population=pop))
                rows[f"{family}/{method}/{cs}"] = {"verdict": v.value, "why": why, "series": series}
    verdicts = {cs: combine(vs) for cs, vs in by_set.items()}
    v = verdicts["[c]"]
    readings = None
    if level == "exact":
        cells = {}
        for family, tops in fam.items():
            if len(tops) < 2:
                continue
            for method in ("MIM", "CL1", "CL2"):
                for cs in by_set:
                    def margin(a: Analysis, method: str = method, cs: str = cs, tops: list = tops) -> limits.Margin:
                        series = _series(a, "exact", method, cs, tops)
                        if not all(r["well_posed"] for r in series):
                            return (-math.inf, math.inf)
                        m = _monotone_margin(series)
                        return (m, m)
                    ds, ms = limits.margin_series(ctx, (method,), margin)
                    cells[f"{family}/{method}/{cs}"] = limits.read(ds, ms, strict=True,
                                                                   dense_note=limits.is_dense(an, method))
        readings = _readings(cells, lambda k: k.endswith("/[c]"))
    reg = rows.get("regular/MIM/[N]") or next(iter(rows.values()))
    summary = f"over [c]: {v.value}; over [N]: {verdicts['[N]'].value}; regular graphs, MIM over [N]: {reg['why']}"
    numbers = {"by_coordinates": {k: x.value for k, x in verdicts.items()}, "cells": rows}
    if readings:
        numbers["readings"] = readings
        summary += f". Readings over [c]: at d {readings['at_d']}, as d grows {readings['as_d_grows']} ({readings['text']})"
    return LevelResult(v, summary, numbers, tuple(decs))


# --------------------------------------------------------------------------- Thm 4.6
def thm46_level(ctx: Context, level: str) -> LevelResult:
    an = ctx.analysis
    tops = [an.topology] + [t for ts in an.graph_family.values() for t in ts]
    cplt = complete(an.cfg.n_clients)
    rows, by_set = {}, {"[c]": [], "[N]": []}
    counter: dict[str, dict] = {}
    decs: list[Decision] = []
    for method in ("MIM", "CL1", "CL2"):
        for cs in by_set:
            fed = _sens(an, level, method, "fl", cs)
            res = []
            for t in tops:
                dec = _sens(an, level, method, "decl", cs, topology=t)
                v = compare_intervals(dec.low, dec.high, fed.low, fed.high, strict=False)
                ident = _ident(an, level, [(method, "decl", t), (method, "fl", None)])
                pop = ({"s_Dec": _interval(_sens(an, "exact", method, "decl", cs, topology=t)),
                        "s_Fed": _interval(_sens(an, "exact", method, "fl", cs))}
                       if ident is not None and ident.status == "tie" else {})
                decs.append(Decision(f"{method}/{cs}/{t.name}", dec.high - fed.low + S_TOL, "s_Dec - s_Fed",
                                     dec.high - fed.low, group=cs, headline=cs == "[c]", identification=ident,
                                     population=pop))
                res.append({"graph": t.name, "edges": [list(e) for e in t.edges], "mean_connectivity": t.mean_connectivity,
                            "verdict": v.value, "s_Dec": dec.to_dict(), "s_Fed": fed.to_dict(),
                            "margin": (dec.low - fed.high)})
                by_set[cs].append(v)
            dec_c = _sens(an, level, method, "decl", cs, topology=cplt)
            eq = (dec_c.well_posed and fed.well_posed and abs(dec_c.value - fed.value) <= S_TOL)
            ident = _ident(an, level, [(method, "decl", cplt), (method, "fl", None)])
            decs.append(Decision(f"{method}/{cs}/complete = FL", S_TOL - abs(dec_c.low - fed.low), "|s_Dec - s_Fed| on K_N",
                                 abs(dec_c.low - fed.low), group=cs, headline=cs == "[c]", identification=ident))
            by_set[cs].append(Verdict.HOLDS if eq else (Verdict.ILL_POSED if not (dec_c.well_posed and fed.well_posed) else Verdict.FAILS))
            fails = [r for r in res if r["verdict"] == "FAILS"]
            if fails and cs not in counter:
                worst = min(fails, key=lambda r: r["margin"])
                counter[cs] = {"method": method, **worst}
            rows[f"{method}/{cs}"] = {"graphs": res, "complete_equals_fl": eq}
    verdicts = {cs: combine(vs) for cs, vs in by_set.items()}
    v = verdicts["[c]"]
    summary = f"over [c]: {v.value}; over [N]: {verdicts['[N]'].value}"
    if counter:
        cs, ce = next(iter(counter.items()))
        summary += f"; counterexample ({cs}, {ce['method']}): {ce['graph']} with s_Dec < s_Fed by {-ce['margin']:.3g}"
    numbers = {"by_coordinates": {k: x.value for k, x in verdicts.items()}, "cells": rows, "counterexamples": counter}
    if level == "exact":
        cells = {}
        for method in ("MIM", "CL1", "CL2"):
            for cs in by_set:
                for t in tops:
                    def margin(a: Analysis, method: str = method, cs: str = cs, t: Topology = t) -> limits.Margin:
                        dec, fed = _sens(a, "exact", method, "decl", cs, topology=t), _sens(a, "exact", method, "fl", cs)
                        return (dec.low - fed.high, dec.high - fed.low)
                    ds, ms = limits.margin_series(ctx, (method,), margin)
                    cells[f"{method}/{cs}/{t.name}"] = limits.read(ds, ms, strict=False,
                                                                   dense_note=limits.is_dense(an, method))
        readings = _readings(cells, lambda k: "/[c]/" in k)
        numbers["readings"] = readings
        summary += f". Readings over [c]: at d {readings['at_d']}, as d grows {readings['as_d_grows']} ({readings['text']})"
    return LevelResult(v, summary, numbers, tuple(decs))


def theorem_check(level_fn: Callable[[Context, str], LevelResult],
                  printed_fn: Callable[[Context], LevelResult]) -> Callable[[Context, str], LevelResult]:
    def check(ctx: Context, level: str) -> LevelResult:
        if level == "printed":
            return printed_fn(ctx)
        return level_fn(ctx, level)
    return check

