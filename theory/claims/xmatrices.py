"""The X matrices: the MIM matrix of Eq. 17, the printed expectations of Eqs. 18, 44 and 56 and
the concentration bound of Eq. 20, each at the printed, exact and sampled levels side by side.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import sympy as sp

from ..moments import TAU, second_moment_sympy, second_moments
from ..stats import Decision
from ..structured import as_dense, diagonal, entry, frobenius_sq, minus_diagonal, spectral_norm, trace
from ..verdict import LevelResult, Verdict, combine, not_applicable
from ..xmatrix import OBJECTIVES, printed_expectation, printed_mim_empirical
from .base import Claim, claim, register
from .common import BOUNDED_SLOPE, REL_TOL, loglog_slope
from .context import Context

P = sp.Symbol("p", positive=True)


# --------------------------------------------------------------------------- eq17
def eq17_printed(ctx: Context) -> LevelResult:
    """Symbolic mask expectation for d = 2: ½E[D(1-m)mᵀD + Dm(1-m)ᵀD] vs 2p(1-p)Diag(x)²."""
    x1, x2 = sp.symbols("x1 x2", real=True)
    dx = sp.diag(x1, x2)
    # E[(1-m_k) m_l]: 0 on the diagonal (m_k(1-m_k) = 0), p(1-p) off it (independent masks)
    e_outer = sp.Matrix([[0, P * (1 - P)], [P * (1 - P), 0]])
    exact = sp.simplify(sp.Rational(1, 2) * (dx * e_outer * dx + dx * e_outer.T * dx))
    printed_m = 2 * P * (1 - P) * dx**2
    diff = sp.simplify(exact - printed_m)
    holds = diff == sp.zeros(2, 2)
    return LevelResult(Verdict.HOLDS if holds else Verdict.FAILS,
                       f"mask expectation gives {exact.tolist()} (zero diagonal); printed {printed_m.tolist()}",
                       {"exact": str(exact.tolist()), "printed": str(printed_m.tolist()), "difference": str(diff.tolist())})


@claim('eq17-mim-matrix',
       'X_i^M = 2p(1-p) (1/|D_i|) Σ_j Diag(x_j)² (Eq. 17).',
       order=40, printed=eq17_printed)
def eq17_level(ctx: Context, level: str) -> LevelResult:
    """Eq. 17: X^M = 2p(1-p)·Diag of the second moment? Compared on the same data / population."""
    an = ctx.analysis
    cfg = ctx.cfg
    if level == "exact":
        m = second_moments(cfg)[0]
        printed = cfg.mask_factor * m.diagonal()
        exact = an.x_local("exact", "MIM")[0]  # block ⊕ scalar: never densified
        mc = None
    else:
        x = an.data[0].x
        printed = printed_mim_empirical(cfg, x)
        exact = cfg.p * (1 - cfg.p) * (x.T @ x / x.shape[0])
        np.fill_diagonal(exact, 0.0)
        mc = as_dense(an.x_local("sampled", "MIM")[0])  # one sampled mask per sample
    diff = minus_diagonal(exact, printed)
    rel = float(np.sqrt(frobenius_sq(diff) / frobenius_sq(exact)))
    out = {"relative_frobenius_difference": rel, "printed_trace": float(printed.sum()),
           "exact_trace": trace(exact),
           "exact_max_abs_diagonal": float(np.max(np.abs(diagonal(exact))))}
    if mc is not None:
        # with one mask per sample the Monte Carlo X has zero diagonal too; its distance to
        # the mask expectation shrinks like 1/sqrt(n)
        dense = as_dense(exact)  # the sampled level's exact X is dense already
        out["sampled_masks_vs_mask_expectation_rel"] = float(np.linalg.norm(mc - dense) / np.linalg.norm(dense))
        out["sampled_masks_max_abs_diagonal"] = float(np.max(np.abs(np.diag(mc))))
    v = Verdict.FAILS if rel > REL_TOL else Verdict.HOLDS
    dec = Decision("Eq. 17 vs mask expectation", rel - REL_TOL, "relative Frobenius difference", rel,
                   if_positive=Verdict.FAILS, if_negative=Verdict.HOLDS)
    summary = (f"exact X^M has zero diagonal (trace {out['exact_trace']:.3g}) and mass off the diagonal; printed "
               f"2p(1-p)Diag has trace {out['printed_trace']:.3g}; relative difference {rel:.3g}")
    return LevelResult(v, summary, out, (dec,))


# --------------------------------------------------------------------------- eq18, eq44, eq56
def _model_moment(n: int = 3) -> sp.Matrix:
    return second_moment_sympy(n, 0, rare_axis=2 * ((0 + 1) % n))


def eq18_printed(ctx: Context) -> LevelResult:
    """E[Eq. 17] under the model, symbolically (N = 3, client 0), against the printed Eq. 18 entries."""
    m = _model_moment()
    e17 = 2 * P * (1 - P) * m[1, 1]
    printed18 = 2 * P * (1 - P) * TAU**2
    ratio = sp.simplify(e17 / printed18)
    holds = sp.simplify(e17 - printed18) == 0
    return LevelResult(Verdict.HOLDS if holds else Verdict.FAILS,
                       f"E[Eq. 17] on a class axis k != i is 2p(1-p)({sp.simplify(m[1, 1])}), printed 2p(1-p)τ²; "
                       f"ratio {ratio}",
                       {"expected_eq17_entry": str(e17), "printed_eq18_entry": str(printed18), "ratio": str(ratio),
                        "exact_eq4_entry": "0 (X^M is hollow)"})


def eq44_printed(ctx: Context) -> LevelResult:
    m = _model_moment()
    diag = sp.simplify(m[1, 1])
    off = sp.simplify(m[1, 2])
    holds = sp.simplify(diag - TAU**2) == 0 and off == 0
    return LevelResult(Verdict.HOLDS if holds else Verdict.FAILS,
                       f"E[X^C] = E[xxᵀ]: diagonal {diag} (printed τ² = d^(2/5)), off-diagonal {off} (printed 0)",
                       {"diagonal": str(diag), "offdiagonal": str(off), "printed": "tau**2 on the diagonal, 0 off it",
                        "symbols": {"pi_f": "weight of each frequent class", "pi_r": "weight of the rare class"}})


def eq56_printed(ctx: Context) -> LevelResult:
    """With H = hI (any h > 0): exact ½(HM + MHᵀ) = hM, printed tr(H)·diag = h d·diag."""
    h, d = sp.symbols("h d", positive=True)
    m = _model_moment()
    exact = sp.simplify(h * m[1, 1])
    printed_e = sp.simplify(h * d * TAU**2)
    ratio = sp.simplify(printed_e / exact)
    return LevelResult(Verdict.FAILS if sp.simplify(exact - printed_e) != 0 else Verdict.HOLDS,
                       f"H = hI: exact entry {exact}, printed tr(H)τ² = {printed_e}; ratio {ratio} grows with d",
                       {"exact_entry": str(exact), "printed_entry": str(printed_e), "ratio": str(ratio)})


def _printed_vs_exact(ctx: Context, level: str, objective: str, order_exp: float) -> dict[str, Any]:
    """Spectral distance between the printed diagonal E[X_i] (leading terms) and X_i, as an O-constant."""
    an = ctx.analysis
    out: dict[str, Any] = {}
    grid = ctx.grid(level, objective)
    consts = []
    for dd in grid:
        a = an if dd == ctx.d else an.at_dimension(dd)
        x = a.x_local(level, objective)[0]
        printed = printed_expectation(a.cfg, 0, objective, o_const=0.0)
        dist = spectral_norm(minus_diagonal(x, printed))
        consts.append(dist / dd**order_exp)
        if dd == ctx.d:
            n = a.cfg.n_clients
            out = {
                "printed_diagonal_on_class_axes": float(printed[1]),
                "exact_diagonal_on_class_axes": entry(x, 1, 1),
                "exact_offdiagonal_on_class_axes": entry(x, 1, 2) if n > 2 else 0.0,
                "printed_diagonal_at_i": float(printed[0]),
                "exact_diagonal_at_i": entry(x, 0, 0),
                "spectral_distance": dist,
                "relative_distance": dist / max(spectral_norm(x), 1e-300),
            }
    slope = loglog_slope(grid, consts)
    out.update({"smallest_constant": consts[list(grid).index(ctx.d)] if ctx.d in grid else consts[-1],
                "d_grid": list(grid), "smallest_constant_over_grid": consts, "loglog_slope_of_constant": slope,
                "verdict": (Verdict.HOLDS if slope <= BOUNDED_SLOPE else Verdict.FAILS).value})
    return out


def xmatrix_level(objective: str) -> Callable[[Context, str], LevelResult]:
    order = -0.4 if objective == "MIM" else -0.2
    name = {"MIM": "Eq. 18", "CL1": "Eq. 44", "CL2": "Eq. 56"}[objective]

    def check(ctx: Context, level: str) -> LevelResult:
        r = _printed_vs_exact(ctx, level, objective, order)
        v = Verdict(r["verdict"])
        dec = Decision("O-constant growth", BOUNDED_SLOPE - r["loglog_slope_of_constant"],
                       "log-log slope of the O-constant", r["loglog_slope_of_constant"])
        summary = (f"{name}: printed diag {r['printed_diagonal_on_class_axes']:.4g} vs exact diag "
                   f"{r['exact_diagonal_on_class_axes']:.4g}, off-diag {r['exact_offdiagonal_on_class_axes']:.4g}; "
                   f"‖X - printed‖₂ needs O-constant {r['smallest_constant']:.3g} (slope in d {r['loglog_slope_of_constant']:.2f})")
        return LevelResult(v, summary, r, (dec,))

    return check


register(Claim("eq18-mim-expectation",
               'E[X_i^M] = diag(2p(1-p)τ² on [N]∖{i}, 2p(1-p) at i, O(d^-2/5) elsewhere) (Eq. 18).',
               50, eq18_printed, xmatrix_level("MIM")))
register(Claim("eq44-cl-expectation",
               'E[X_i^C] = diag(d^(2/5) on [N]∖{i}, 1 at i, O(d^-1/5) elsewhere) (Eq. 44).',
               60, eq44_printed, xmatrix_level("CL1")))
register(Claim("eq56-cl-dissimilar",
               "E[X_i^C'] = tr(H) times the Eq. 44 diagonal (Eq. 56).",
               70, eq56_printed, xmatrix_level("CL2")))

# --------------------------------------------------------------------------- eq20
def eq20_printed(ctx: Context) -> LevelResult:
    return not_applicable("a probabilistic bound with no printed derivation (cites Vershynin 2018); checked at the sampled level")


@claim('eq20-concentration',
       '‖X_i - E X_i‖₂ <= O(d^-2/5) (MIM), O(d^-1/5) (CL) with high probability (Eq. 20).',
       order=80, printed=eq20_printed)
def eq20_level(ctx: Context, level: str) -> LevelResult:
    if level == "exact":
        return not_applicable("a concentration bound on sampled matrices; the exact level has no sampling error")
    an = ctx.analysis
    grid = tuple(ctx.sampled_grid) or (ctx.d,)
    rows, vs, decs = {}, [], []
    for obj in OBJECTIVES:
        order = -0.4 if obj == "MIM" else -0.2
        devs = []
        for dd in grid:
            a = an if dd == ctx.d else an.at_dimension(dd)
            devs.append(spectral_norm(as_dense(a.x_local("sampled", obj)[0]) - as_dense(a.x_local("exact", obj)[0])))
        consts = [dv / dd**order for dv, dd in zip(devs, grid)]
        slope = loglog_slope(grid, consts)
        v = Verdict.HOLDS if slope <= BOUNDED_SLOPE else Verdict.FAILS
        vs.append(v)
        decs.append(Decision(obj, BOUNDED_SLOPE - slope, "log-log slope of the O-constant", slope))
        rows[obj] = {"verdict": v.value, "d_grid": list(grid), "deviation": devs, "printed_order": order,
                     "smallest_constant_over_grid": consts, "loglog_slope_of_constant": slope,
                     "samples_per_client": ctx.cfg.samples_per_client}
    r = rows["MIM"]
    summary = (f"MIM: ‖X̂ - EX‖₂ = {r['deviation'][-1]:.3g} at d={grid[-1]} (|D_i|={ctx.cfg.samples_per_client}), "
               f"O(d^-2/5) constant {r['smallest_constant_over_grid'][-1]:.3g}, slope in d {r['loglog_slope_of_constant']:.2f}")
    return LevelResult(combine(vs), summary, {"cells": rows}, tuple(decs))
