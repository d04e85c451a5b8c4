"""Theorem 4.6 (s_Dec >= s_Fed as d grows): the printed derivation, the exact and the sampled checks side by side.
"""

from __future__ import annotations

from .. import derivations
from ..analysis import Analysis
from ..graphs import Topology, complete
from ..stats import Decision
from ..verdict import LevelResult, Verdict, combine
from . import limits, printed_level
from .base import claim
from .cells import edges_text, identification_of, interval, read_cells, sens
from .common import S_TOL, compare_intervals
from .context import Context


def thm46_printed_check(ctx: Context) -> LevelResult:
    parts = {}
    for method in ("MIM", "CL1", "CL2"):
        consts = {**printed_level.constants(ctx, method), **printed_level.user_constants(ctx)}
        parts[method] = derivations.derive_thm46(method, derivations.PrintedParams(consts, **printed_level.common_kwargs(ctx, method)))
    return printed_level.derivation_level(parts, "s_Dec >= s_Fed for large d on the printed forms")


@claim('thm4.6',
       'Thm 4.6: s_Dec >= s_Fed as d -> inf, with equality when |A_i| = N.',
       order=190, printed=thm46_printed_check)
def thm46_level(ctx: Context, level: str) -> LevelResult:
    an = ctx.analysis
    tops = [an.topology] + [t for ts in an.graph_family.values() for t in ts]
    cplt = complete(an.cfg.n_clients)
    rows: dict[str, dict] = {}
    by_set: dict[str, list[Verdict]] = {"[c]": [], "[N]": []}
    counter: dict[str, dict] = {}
    decs: list[Decision] = []
    for method in ("MIM", "CL1", "CL2"):
        for cs in by_set:
            fed = sens(an, level, method, "fl", cs)
            res = []
            for i, t in enumerate(tops):
                ctx.progress(f"thm4.6 {level} {method}/{cs}", i, len(tops))
                dec = sens(an, level, method, "decl", cs, topology=t)
                v = compare_intervals(dec.low, dec.high, fed.low, fed.high, strict=False)
                ident = identification_of(an, level, [(method, "decl", t), (method, "fl", None)])
                pop = ({"s_Dec": interval(sens(an, "exact", method, "decl", cs, topology=t)),
                        "s_Fed": interval(sens(an, "exact", method, "fl", cs))}
                       if ident is not None and ident.status == "tie" else {})
                decs.append(Decision(f"{method}/{cs}/{t.name}", dec.high - fed.low + S_TOL, "s_Dec - s_Fed",
                                     dec.high - fed.low, group=cs, headline=cs == "[c]", identification=ident,
                                     population=pop))
                res.append({"graph": t.name, "edges": [list(e) for e in t.edges], "mean_connectivity": t.mean_connectivity,
                            "verdict": v.value, "s_Dec": dec.to_dict(), "s_Fed": fed.to_dict(),
                            "margin": (dec.low - fed.high)})
                by_set[cs].append(v)
            dec_c = sens(an, level, method, "decl", cs, topology=cplt)
            eq = (dec_c.well_posed and fed.well_posed and abs(dec_c.value - fed.value) <= S_TOL)
            ident = identification_of(an, level, [(method, "decl", cplt), (method, "fl", None)])
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
    graph_set = an.graph_set(with_run_graph=True)
    summary = f"over [c]: {v.value}; over [N]: {verdicts['[N]'].value}; taken {graph_set['text']}"
    if counter:
        cs, ce = next(iter(counter.items()))
        summary += (f"; counterexample ({cs}, {ce['method']}): {ce['graph']} (edges {edges_text(ce['edges'])}) "
                    f"with s_Dec < s_Fed by {-ce['margin']:.3g}")
    numbers = {"by_coordinates": {k: x.value for k, x in verdicts.items()}, "cells": rows, "counterexamples": counter,
               "graph_set": graph_set}
    if level == "exact":
        cells = {}
        for method in ("MIM", "CL1", "CL2"):
            for cs in by_set:
                for i, t in enumerate(tops):
                    ctx.progress(f"thm4.6 as d grows {method}/{cs}", i, len(tops))
                    def margin(a: Analysis, method: str = method, cs: str = cs, t: Topology = t) -> limits.Margin:
                        dec, fed = sens(a, "exact", method, "decl", cs, topology=t), sens(a, "exact", method, "fl", cs)
                        return (dec.low - fed.high, dec.high - fed.low)
                    ds, ms = limits.margin_series(ctx, (method,), margin)
                    cells[f"{method}/{cs}/{t.name}"] = limits.read(ds, ms, strict=False,
                                                                   dense_note=limits.is_dense(an, method))
        readings = read_cells(cells, lambda k: "/[c]/" in k)
        numbers["readings"] = readings
        summary += f". Readings over [c]: at d {readings['at_d']}, as d grows {readings['as_d_grows']} ({readings['text']})"
    return LevelResult(v, summary, numbers, tuple(decs))
