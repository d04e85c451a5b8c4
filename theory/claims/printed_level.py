"""Helpers of the ``printed`` level shared by the claim blocks: the printed constants, tr(H),
the numeric printed sensitivity, and the verdict of a set of symbolic derivations.

Every O(·)/Θ(·) of the printed bounds is an explicit constant (``constants``). The printed
checks themselves live with their claims (``stationarity``, ``xmatrices``, ``rv_bounds``,
``aggregation``, ``thm44``, ``cor45``, ``thm46``); steps are checked with sympy on the smallest
instance that decides them, theorems on the closed forms of ``theory.printed`` through
``theory.derivations``.
"""

from __future__ import annotations

from functools import lru_cache

from .. import derivations, printed
from ..verdict import LevelResult, Verdict, combine
from ..xmatrix import augmentation_trace
from .context import Context


def constants(ctx: Context, method: str = "CL1", d: float | None = None) -> dict[str, float]:
    """Numeric values of the printed constants for this configuration.

    C_M = C_C = 1. The Θ(d^(7/20)) constants K_M, K_C are the ones Eq. 37 itself implies for
    N = κ d^(1/20) (κ = N / d^(1/20)): 2p(1-p)/κ, 1/κ, and tr(H)/κ for dissimilar CL.
    Values given with ``--const`` replace these.
    """
    cfg = ctx.cfg
    kappa = cfg.n_clients / cfg.d ** (1 / 20)
    k_c = (printed.implied_fl_constant("CL2", cfg.p, kappa, trH=trace_h(ctx, d)) if method == "CL2"
           else printed.implied_fl_constant("CL1", cfg.p, kappa))
    out = {"C_M": 1.0, "C_C": 1.0, "K_M": printed.implied_fl_constant("MIM", cfg.p, kappa), "K_C": k_c}
    out.update({k: float(v) for k, v in ctx.constants.items()})
    return out


def trace_h(ctx: Context, d: float | None = None) -> float:
    """tr(H) at dimension d (default the configuration's): proportional to d for every H offered."""
    return augmentation_trace(ctx.cfg.augmentation, ctx.cfg.d if d is None else d)


@lru_cache(maxsize=None)
def _numeric_sensitivity(method: str, framework: str, source: str) -> printed.NumericExpr:
    """The printed s compiled once per (method, framework, source): lambdify costs ~5 ms a call."""
    return printed.to_numeric(printed.sensitivity(method, framework, source))


def printed_sensitivity(ctx: Context, method: str, framework: str, d: float, constant: float | None = None,
                        abar: float | None = None, source: str = "theorem") -> float:
    """Numeric printed s = 1 - lower bound (``source="theorem"``) or Eqs. 62-64 / 71-73 (``"proof"``)."""
    cfg = ctx.cfg
    consts = constants(ctx, method, d)
    if constant is not None:
        consts["C_M"] = consts["C_C"] = constant
    f = _numeric_sensitivity(method, framework, source)
    values = {"d": float(d), "p": cfg.p, "Abar": float(abar if abar is not None else cfg.n_clients),
              "N": float(cfg.n_clients), "trH": trace_h(ctx, d) if method == "CL2" else 1.0, **consts}
    return float(f(**{k: v for k, v in values.items() if k in f.symbols}))


def common_kwargs(ctx: Context, method: str) -> dict:
    cfg = ctx.cfg
    kw = {"p": cfg.p, "Abar": ctx.analysis.topology.mean_connectivity, "N": cfg.n_clients,
          "kappa": cfg.n_clients / cfg.d ** (1 / 20)}
    if method == "CL2":
        kw["eta"] = trace_h(ctx) / cfg.d  # tr(H) = η d for every H offered (blur: η = 1/2)
    return kw


def user_constants(ctx: Context) -> dict[str, float]:
    return {k: float(v) for k, v in ctx.constants.items()}


def derivation_level(parts: dict[str, "derivations.Derivation"], head: str) -> LevelResult:
    verdicts = [Verdict.HOLDS if d.holds else (Verdict.FAILS if d.holds is False else Verdict.ILL_POSED)
                for d in parts.values()]
    v = combine(verdicts)
    bad = [k for k, d in parts.items() if d.holds is not True]
    first = parts[bad[0]] if bad else next(iter(parts.values()))
    summary = f"{head}: {v.value}" + (f" ({', '.join(bad)} fail)" if bad else "") + f". {first.statement}"
    return LevelResult(v, summary, {k: {"holds": d.holds, "statement": d.statement, **d.numbers}
                                    for k, d in parts.items()})
