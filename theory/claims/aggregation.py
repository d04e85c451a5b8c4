"""Aggregation: the DecL objective (Eqs. 25-26), the neighbourhood average (Eqs. 27-28), the
mean connectivity (Eqs. 29-30) and the FL average (Eqs. 36-37), each at the printed, exact and
sampled levels side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from .. import derivations, graphs
from ..seeds import THEORY
from ..stats import Decision
from ..structured import entry, half_sq_distance_to_gram, weighted_sum
from ..verdict import LevelResult, Verdict, combine, not_applicable
from ..xmatrix import OBJECTIVES, printed_expectation
from .base import claim
from .context import Context


# --------------------------------------------------------------------------- eq25-26
def eq25_printed(ctx: Context) -> LevelResult:
    """Σ_j ω_j ‖X_j - G‖² - ‖Σ_j ω_j X_j - G‖² does not depend on G when Σ_j ω_j = 1 (2x2, 3 clients)."""
    g = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"g{min(i, j)}{max(i, j)}"))
    w1, w2 = sp.symbols("w1 w2", positive=True)
    ws = [w1, w2, 1 - w1 - w2]
    xs = [sp.Matrix(2, 2, lambda i, j, t=t: sp.Symbol(f"x{t}_{min(i, j)}{max(i, j)}")) for t in range(3)]
    fro = lambda a: sum(v**2 for v in a)  # noqa: E731
    expr = sum(w * fro(x - g) for w, x in zip(ws, xs)) - fro(sum((w * x for w, x in zip(ws, xs)), sp.zeros(2, 2)) - g)
    grads = [sp.simplify(sp.diff(expr, s)) for s in g.free_symbols]
    holds = all(gr == 0 for gr in grads)
    return LevelResult(Verdict.HOLDS if holds else Verdict.FAILS,
                       "the difference has zero gradient in G for weights summing to one: same minimisers",
                       {"gradients": [str(x) for x in grads]})


@claim('eq25-26-decl-objective',
       'The DecL objective of Eq. 1 has the minimisers of ‖(1/N)Σ_i X̄_i - WᵀW‖² (Eqs. 25-26).',
       order=100, printed=eq25_printed)
def eq25_level(ctx: Context, level: str) -> LevelResult:
    """Σ_i (1/N)(1/|A_i|) Σ_{j∈A_i} ½‖X_j - G‖² - ½‖X̄ - G‖² is the same for every G = WᵀW."""
    an = ctx.analysis
    rng = THEORY.rng(ctx.cfg.seed, "eq25-probe")
    rows, vs, decs = {}, [], []
    top = an.topology
    sizes = top.sizes
    for obj in OBJECTIVES:
        xs = an.x_local(level, obj)
        xbar = an.x_global(level, obj, "decl")
        gaps = []
        for _ in range(4):
            w = rng.standard_normal((ctx.cfg.c, ctx.cfg.d)) / np.sqrt(ctx.cfg.d)
            # ½‖X_j - WᵀW‖², once per client j, without forming WᵀW (d x d)
            loss = [half_sq_distance_to_gram(xj, w) for xj in xs]
            lhs = sum((1.0 / top.n) * (1.0 / sizes[i]) * loss[j]
                      for i in range(top.n) for j in top.neighbourhoods[i])
            gaps.append(lhs - half_sq_distance_to_gram(xbar, w))
        spread = float(np.ptp(gaps))
        scale = float(max(abs(g) for g in gaps) + 1.0)
        v = Verdict.HOLDS if spread <= 1e-9 * scale else Verdict.FAILS
        vs.append(v)
        decs.append(Decision(obj, 1e-9 * scale - spread, "spread over W of the difference", spread))
        rows[obj] = {"verdict": v.value, "spread_of_difference_over_W": spread, "scale": scale}
    summary = f"objective minus ½‖X̄ - WᵀW‖² varies by {max(r['spread_of_difference_over_W'] for r in rows.values()):.1e} over random W"
    return LevelResult(combine(vs), summary, {"cells": rows, "graph": top.name}, tuple(decs))


# --------------------------------------------------------------------------- eq27-28
def eq28_printed(ctx: Context) -> LevelResult:
    der = derivations.eq28_identity()
    return LevelResult(Verdict.HOLDS if der.holds else Verdict.FAILS, der.statement, dict(der.numbers))


@claim('eq27-28-neighbourhood',
       'The neighbourhood average X̄_i has the diagonal of Eq. 27, by the identity of Eq. 28.',
       order=110, printed=eq28_printed)
def eq27_level(ctx: Context, level: str) -> LevelResult:
    """Eq. 27 gives the entry at i as 2p(1-p)d^(2/5); from its own inputs it is the Eq. 28 value."""
    if level == "sampled":
        return not_applicable("an algebraic step on printed expectations")
    an = ctx.analysis
    cfg = ctx.cfg
    top = an.topology
    i = int(np.argmin(top.sizes))
    a = top.sizes[i]
    f = cfg.mask_factor
    # average of the printed Eq. 18 diagonals over A_i, at coordinate i
    printed_inputs = np.mean([printed_expectation(cfg, j, "MIM", o_const=0.0)[i] for j in top.neighbourhoods[i]])
    eq28_value = f * ((1 - 1 / a) * cfg.tau**2 + 1 / a)
    eq27_at_i = f * cfg.tau**2
    exact = entry(weighted_sum([an.x_local("exact", "MIM")[j] for j in top.neighbourhoods[i]], [1.0 / a] * a), i, i)
    v = Verdict.FAILS if abs(eq27_at_i - printed_inputs) > 1e-9 * eq27_at_i else Verdict.HOLDS
    summary = (f"client {i} (|A_i|={a}): Eq. 27 prints {eq27_at_i:.4g} at i; averaging the printed Eq. 18 over A_i "
               f"gives {printed_inputs:.4g} (= Eq. 28 value {eq28_value:.4g}); exact entry {exact:.4g}")
    return LevelResult(v, summary, {"client": i, "eq27_printed_at_i": eq27_at_i, "average_of_printed_inputs": printed_inputs,
                                    "eq28_value": eq28_value, "exact_entry": exact})


# --------------------------------------------------------------------------- eq29-30
def eq29_printed(ctx: Context) -> LevelResult:
    """Smallest irregular graph, the path on 3 nodes: |A| = (2, 3, 2)."""
    sizes = [sp.Integer(2), sp.Integer(3), sp.Integer(2)]
    lhs = sum(1 / s for s in sizes) / 3
    abar = sum(sizes) / 3
    return LevelResult(Verdict.FAILS if lhs != abar else Verdict.HOLDS,
                       f"path P3: (1/N)Σ1/|A_i| = {lhs}, printed |Ā| = {abar}, intended 1/|Ā| = {1 / abar} "
                       "(equal only on regular graphs, by Jensen)",
                       {"mean_inverse_connectivity": str(lhs), "printed_|Abar|": str(abar), "inverse_|Abar|": str(1 / abar)})


@claim('eq29-30-decl-average',
       '(1/N) Σ_i 1/|A_i| = 1/|Ā| (printed as |Ā|) (Eqs. 29-30).',
       order=120, printed=eq29_printed)
def eq29_level(ctx: Context, level: str) -> LevelResult:
    if level == "sampled":
        return not_applicable("a graph identity; nothing is sampled")
    an = ctx.analysis
    rows: list[dict[str, Any]] = []
    for t in [an.topology] + [t for ts in an.graph_family.values() for t in ts]:
        lhs = graphs.mean_inverse_connectivity(t)
        rows.append({"graph": t.name, "mean_inverse_connectivity": lhs, "inverse_mean_connectivity": 1.0 / t.mean_connectivity,
                     "printed_rhs_|Abar|": t.mean_connectivity, "difference": lhs - 1.0 / t.mean_connectivity,
                     "regular": t.is_regular})
    own = rows[0]
    worst = max(rows, key=lambda r: abs(r["difference"]))
    v = Verdict.HOLDS if abs(own["difference"]) <= 1e-12 else Verdict.FAILS
    graph_set = an.graph_set(with_run_graph=True)
    summary = (f"on {own['graph']}: (1/N)Σ1/|A_i| = {own['mean_inverse_connectivity']:.4g} vs 1/|Ā| = "
               f"{own['inverse_mean_connectivity']:.4g} (printed: |Ā| = {own['printed_rhs_|Abar|']:.4g}); largest gap "
               f"{worst['difference']:.3g} on {worst['graph']}; taken {graph_set['text']}")
    return LevelResult(v, summary, {"graphs": rows, "graph_set": graph_set})


# --------------------------------------------------------------------------- eq36-37
def eq37_printed(ctx: Context) -> LevelResult:
    der = derivations.eq37_identity()
    return LevelResult(Verdict.HOLDS if der.holds else Verdict.FAILS, der.statement, dict(der.numbers))


@claim('eq36-37-fl-average',
       '((N-1)2p(1-p)d^(2/5) + 2p(1-p))/N = 2p(1-p)d^(2/5) - Θ(d^(7/20)) with N = Θ(d^(1/20)) (Eqs. 36-37).',
       order=130, printed=eq37_printed)
def eq37_level(ctx: Context, level: str) -> LevelResult:
    """Eq. 36 as printed: the FL diagonal on the class axes equals 2p(1-p)d^(2/5) - Θ(d^(7/20))."""
    an = ctx.analysis
    cfg = ctx.cfg
    x = an.x_global(level, "MIM", "fl")
    n = cfg.n_clients
    printed_avg = ((n - 1) * cfg.mask_factor * cfg.tau**2 + cfg.mask_factor) / n
    diag = float(np.mean([entry(x, k, k) for k in range(n)]))
    rel = abs(diag - printed_avg) / printed_avg
    v = Verdict.HOLDS if rel <= 0.05 else Verdict.FAILS
    dec = Decision("MIM/fl class-axis diagonal", 0.05 - rel, "relative gap to the Eq. 37 average", rel)
    summary = (f"MIM FL diagonal on class axes: exact {diag:.4g} vs the average Eq. 37 takes {printed_avg:.4g} "
               f"(relative gap {rel:.3g})")
    return LevelResult(v, summary, {"exact_mean_diagonal_on_class_axes": diag, "printed_average": printed_avg,
                                    "relative_gap": rel}, (dec,))
