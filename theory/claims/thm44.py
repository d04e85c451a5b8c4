"""Theorem 4.4 (s^C > s^M as d grows): the printed derivation, the exact and the sampled checks side by side.
"""

from __future__ import annotations

from .. import derivations
from ..analysis import Analysis
from ..stats import Decision
from ..verdict import LevelResult, Verdict, combine
from . import limits, printed_level
from .base import claim
from .cells import CL_VARIANTS, fmt_sensitivity, identification_of, interval, read_cells, sens
from .common import S_TOL, compare_intervals
from .context import Context


def thm44_printed_check(ctx: Context) -> LevelResult:
    parts = {}
    for framework in ("decl", "fl"):
        for variant in ("CL1", "CL2"):
            consts = {**printed_level.constants(ctx, variant), **printed_level.user_constants(ctx)}
            parts[f"{framework}/{variant}"] = derivations.derive_thm44(framework, variant, derivations.PrintedParams(
                consts, **printed_level.common_kwargs(ctx, variant)))
    # the paper's own reading of Eq. 68: tr(H) a constant in d (here its value at this d)
    consts = {**printed_level.constants(ctx, "CL2"), **printed_level.user_constants(ctx)}
    kw = printed_level.common_kwargs(ctx, "CL2")
    kw.pop("eta")
    parts["decl/CL2 (tr(H) read as a constant)"] = derivations.derive_thm44("decl", "CL2", derivations.PrintedParams(
        consts, trH=printed_level.trace_h(ctx), **kw))
    return printed_level.derivation_level(parts, "s^C > s^M for large d on the printed forms (tr(H) = η d for the configured H)")


@claim('thm4.4',
       'Thm 4.4: for any network, s^C > s^M as d -> inf (s over the leading c coordinates).',
       order=170, printed=thm44_printed_check)
def thm44_level(ctx: Context, level: str) -> LevelResult:
    an = ctx.analysis
    rows = {}
    decs: list[Decision] = []
    by_set: dict[str, list[Verdict]] = {"[c]": [], "[N]": [], "rare": []}
    for framework in ("decl", "fl"):
        for cl in CL_VARIANTS:
            for cs in by_set:
                sc = sens(an, level, cl, framework, cs)
                sm = sens(an, level, "MIM", framework, cs)
                v = compare_intervals(sc.low, sc.high, sm.low, sm.high, strict=True)
                by_set[cs].append(v)
                ident = identification_of(an, level, [(cl, framework, None), ("MIM", framework, None)])
                pop = {}
                if ident is not None and ident.status == "tie":
                    pop = {"s_C": interval(sens(an, "exact", cl, framework, cs)),
                           "s_M": interval(sens(an, "exact", "MIM", framework, cs))}
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
                        sc, sm = sens(a, "exact", cl, framework, cs), sens(a, "exact", "MIM", framework, cs)
                        return (sc.low - sm.high, sc.high - sm.low)
                    ds, ms = limits.margin_series(ctx, (cl, "MIM"), margin)
                    cells[f"{framework}/{cl}/{cs}"] = limits.read(ds, ms, strict=True,
                                                                  dense_note=limits.is_dense(an, cl))
        readings = read_cells(cells, lambda k: k.endswith("/[c]"))
    fl = rows["fl/CL1/[N]"]
    summary = (f"over [c]: {v.value}; over [N]: {verdicts['[N]'].value} "
               f"(FL, CL1: s_C={fmt_sensitivity(fl['s_C'])}, s_M={fmt_sensitivity(fl['s_M'])}); over rare axes: {verdicts['rare'].value}")
    numbers = {"by_coordinates": {k: x.value for k, x in verdicts.items()}, "cells": rows,
               "graph": an.topology.name, "mean_connectivity": an.topology.mean_connectivity}
    if readings:
        numbers["readings"] = readings
        summary += f". Readings over [c]: at d {readings['at_d']}, as d grows {readings['as_d_grows']} ({readings['text']})"
    return LevelResult(v, summary, numbers, tuple(decs))
