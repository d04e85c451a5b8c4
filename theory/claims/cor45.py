"""Corollary 4.5 (s_Dec decreases in |Ā|): the printed derivation, the exact and the sampled checks side by side.
"""

from __future__ import annotations

import math
from typing import Callable

from .. import derivations
from ..analysis import Analysis
from ..graphs import Topology
from ..stats import Decision
from ..verdict import LevelResult, Verdict, combine
from . import limits, printed_level
from .base import claim
from .cells import identification_of, interval, read_cells, sens
from .common import S_TOL
from .context import Context


def cor45_printed_check(ctx: Context) -> LevelResult:
    parts = {}
    for method in ("MIM", "CL1", "CL2"):
        for source in ("theorem", "proof"):
            consts = {**printed_level.constants(ctx, method), **printed_level.user_constants(ctx)}
            parts[f"{method}/{source}"] = derivations.derive_cor45(method, derivations.PrintedParams(
                consts, source=source, **printed_level.common_kwargs(ctx, method)))
    return printed_level.derivation_level(parts, "d s_Dec / d|Ā| < 0 on the printed forms")


def _series(an: Analysis, level: str, method: str, cs: str, tops: list[Topology],
            ctx: Context | None = None) -> list[dict]:
    out = []
    for i, t in enumerate(tops):
        if ctx is not None:
            ctx.progress(f"cor4.5 {level} {method}/{cs} d={an.cfg.d}", i, len(tops))
        s = sens(an, level, method, "decl", cs, topology=t)
        out.append({"graph": t.name, "mean_connectivity": t.mean_connectivity, **s.to_dict()})
    return out


def _largest_rise(pts: list[dict], val: Callable[[dict], float]) -> tuple[float, dict, dict]:
    """max(0, max of val(b) - val(a) over pairs with |Ā|_a < |Ā|_b - 1e-9) and that pair (the
    first two points when nothing rises), for ``pts`` sorted by |Ā|: one pass with the running
    minimum over the strictly lower |Ā| (O(K log K) in all; the K² pairs of an exhaustive graph
    search on 7 nodes are 727 609 per series)."""
    worst, pair = 0.0, (pts[0], pts[0])
    low: dict | None = None  # the point of smallest val among those strictly below the current |Ā|
    j = 0
    for b in pts:
        while j < len(pts) and pts[j]["mean_connectivity"] < b["mean_connectivity"] - 1e-9:
            if low is None or val(pts[j]) < val(low):
                low = pts[j]
            j += 1
        if low is not None and val(b) - val(low) > worst:
            worst, pair = val(b) - val(low), (low, b)
    return worst, pair[0], pair[1]


def _monotone_margin(series: list[dict]) -> float:
    """min(S_TOL - largest increase, total drop - S_TOL): > 0 iff s decreases as |Ā| grows (the
    margin of :func:`_monotone_verdict`, from the lower ends of ILL-POSED intervals)."""
    key = "s" if all(r["well_posed"] for r in series) else None
    pts = sorted(series, key=lambda r: r["mean_connectivity"])
    val = (lambda r: r[key]) if key else (lambda r: r["s_interval"][0])
    worst = _largest_rise(pts, val)[0]
    return min(S_TOL - worst, val(pts[0]) - val(pts[-1]) - S_TOL)


def _monotone_verdict(series: list[dict]) -> tuple[Verdict, str]:
    """Does s decrease as |Ā| grows? FAILS on any increase or when it never decreases."""
    if any(not r["well_posed"] for r in series):
        return Verdict.ILL_POSED, "some s not determined (tied subspace)"
    pts = sorted(series, key=lambda r: r["mean_connectivity"])
    worst, a, b = _largest_rise(pts, lambda r: r["s"])
    drop = pts[0]["s"] - pts[-1]["s"]
    if worst > S_TOL:
        return Verdict.FAILS, (f"s increases by up to {worst:.3g} as |Ā| grows (from {a.get('graph', 'a graph')}, |Ā|="
                               f"{a['mean_connectivity']:.3g}, to {b.get('graph', 'a graph')}, "
                               f"|Ā|={b['mean_connectivity']:.3g})")
    span = f"|Ā|={pts[0]['mean_connectivity']:.3g} to {pts[-1]['mean_connectivity']:.3g}"
    if drop <= S_TOL:
        change = -drop if abs(drop) > S_TOL else 0.0  # within S_TOL: no change (and no "-0")
        return Verdict.FAILS, f"s does not decrease (change {change:+.3g} from {span}; a decrease needs > {S_TOL:g})"
    return Verdict.HOLDS, f"s falls by {drop:.3g} from {span}"


# above this many graphs a tied sampled margin reports the envelope of the exact s intervals, not each
MAX_LISTED = 8


def _population(an: Analysis, method: str, cs: str, tops: list[Topology]) -> dict:
    """The exact s of a population tie's cells: each graph's interval, or over more than MAX_LISTED
    graphs (an exhaustive search) their envelope and count."""
    ivs = [interval(sens(an, "exact", method, "decl", cs, topology=t)) for t in tops]
    if len(ivs) <= MAX_LISTED:
        return {"s": ivs}
    return {"s_envelope": [min(i[0] for i in ivs), max(i[1] for i in ivs)], "graphs": len(ivs)}


@claim('cor4.5',
       'Cor 4.5: in DecL, s decreases as the average connectivity |Ā| grows.',
       order=180, printed=cor45_printed_check)
def cor45_level(ctx: Context, level: str) -> LevelResult:
    an = ctx.analysis
    fam = an.graph_family
    rows: dict[str, dict] = {}
    by_set: dict[str, list[Verdict]] = {"[c]": [], "[N]": []}
    decs: list[Decision] = []
    for family, tops in fam.items():
        if len(tops) < 2:
            continue
        for method in ("MIM", "CL1", "CL2"):
            for cs in by_set:
                series = _series(an, level, method, cs, tops, ctx)
                v, why = _monotone_verdict(series)
                by_set[cs].append(v)
                ident = identification_of(an, level, [(method, "decl", t) for t in tops])
                pop = (_population(an, method, cs, tops) if ident is not None and ident.status == "tie" else {})
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
                        series = _series(a, "exact", method, cs, tops, ctx)
                        if not all(r["well_posed"] for r in series):
                            return (-math.inf, math.inf)
                        m = _monotone_margin(series)
                        return (m, m)
                    ds, ms = limits.margin_series(ctx, (method,), margin)
                    # the margin already carries S_TOL (min(S_TOL - rise, drop - S_TOL) > 0 iff the
                    # at-d verdict HOLDS), so it is read against 0, not against S_TOL again
                    cells[f"{family}/{method}/{cs}"] = limits.read(ds, ms, strict=True, tol=0.0,
                                                                   dense_note=limits.is_dense(an, method))
        readings = read_cells(cells, lambda k: k.endswith("/[c]"))
    reg = rows.get("regular/MIM/[N]") or next(iter(rows.values()))
    graph_set = an.graph_set()
    summary = (f"over [c]: {v.value}; over [N]: {verdicts['[N]'].value}; taken {graph_set['text']}, each of the "
               f"regular and irregular graphs in turn; regular graphs, MIM over [N]: {reg['why']}")
    numbers = {"by_coordinates": {k: x.value for k, x in verdicts.items()}, "cells": rows, "graph_set": graph_set}
    if readings:
        numbers["readings"] = readings
        summary += f". Readings over [c]: at d {readings['at_d']}, as d grows {readings['as_d_grows']} ({readings['text']})"
    return LevelResult(v, summary, numbers, tuple(decs))
