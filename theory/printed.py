"""The paper's printed bounds and sensitivities (Theorems 4.2-4.3, Eqs. 62-64, 71-73) in sympy.

Every O(.) and Θ(.) the paper prints is an explicit positive constant symbol, so each
closed form is an exact expression in d, p, |Ā|, tr(H) and those constants:

==========  ==========  ======================================================
symbol      paper       meaning
==========  ==========  ======================================================
``d``       d           ambient dimension
``p``       p           MIM mask ratio
``Abar``    |Ā|         average connectivity of the DecL graph
``N``       N           number of clients
``trH``     tr(H)       trace of the dissimilar-augmentation map (Assumption A.9)
``C_M``     O(d^-2/5)   = C_M d^(-2/5), the MIM concentration term (Eqs. 18, 20)
``C_C``     O(d^-1/5)   = C_C d^(-1/5), the CL concentration term (Eqs. 44, 56)
``K_M``     Θ(d^7/20)   = K_M d^(7/20) in the MIM FL denominator (Eqs. 36-38)
``K_C``     Θ(d^7/20)   = K_C d^(7/20) in the CL FL denominators (Eqs. 51, 61)
``kappa``   Θ(.)        N = kappa d^(1/20), the scaling of Theorem 4.2
``eta``                 tr(H) = eta d, the scaling of tr(H) for the identity or a blur
``A_i``     |A_i|       connectivity of client i (Eq. 28)
==========  ==========  ======================================================

Methods: ``"MIM"``; ``"CL1"`` (CL, similar augmentations, Lemma A.11); ``"CL2"`` (CL,
dissimilar augmentations with tr(H)). Frameworks: ``"local"``, ``"decl"``, ``"fl"``.

Deviations:

* One symbol stands for the O(.) constant in both the numerator and the denominator of a
  printed bound, as printed. The derivation (Eq. 24) gives (a - C)/(a + C) = 1 - 2C/(a + C):
  the printed numerator constant is twice the denominator's (see ``derivations.eq24_algebra``).
* Eq. 37 with N = kappa d^(1/20) itself implies the Θ-constant: its left side is
  2p(1-p)(1 - 1/N) d^(2/5) + 2p(1-p)/N, so K_M = 2p(1-p)/kappa, and with that value the FL
  denominator is 2p(1-p)(1 - 1/N) d^(2/5) + C_M d^(-2/5): the DecL form at |Ā| = N. Likewise
  K_C = 1/kappa for CL1 and tr(H)/kappa for CL2 (:func:`implied_fl_constant`).
  :data:`DEFAULT_CONSTANTS` sets C_M = C_C = 1, K_M = 2p(1-p)/kappa and K_C = 1/kappa (the CL1
  value, also used for CL2 unless overridden).

Only :func:`to_numeric` turns these expressions into numeric code.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Literal, Mapping, Protocol, cast

import mpmath
import numpy as np
import sympy as sp

from .errors import ParameterError, require
from .frameworks import FRAMEWORKS

Method = Literal["MIM", "CL1", "CL2"]
Framework = Literal["local", "decl", "fl"]
Source = Literal["theorem", "proof"]

METHODS: tuple[str, ...] = ("MIM", "CL1", "CL2")
SOURCES: tuple[str, ...] = ("theorem", "proof")

# ---- symbols, declared once ------------------------------------------------------
d = sp.Symbol("d", positive=True)
p = sp.Symbol("p", positive=True)
Abar = sp.Symbol("Abar", positive=True)
N = sp.Symbol("N", positive=True)
trH = sp.Symbol("trH", positive=True)
A_i = sp.Symbol("A_i", positive=True)
kappa = sp.Symbol("kappa", positive=True)
eta = sp.Symbol("eta", positive=True)
C_M = sp.Symbol("C_M", positive=True)
C_C = sp.Symbol("C_C", positive=True)
K_M = sp.Symbol("K_M", positive=True)
K_C = sp.Symbol("K_C", positive=True)

CONSTANTS: tuple[sp.Symbol, ...] = (C_M, C_C, K_M, K_C)
SYMBOLS: dict[str, sp.Symbol] = {s.name: s for s in (d, p, Abar, N, trH, A_i, kappa, eta, *CONSTANTS)}

MASK_FACTOR = 2 * p * (1 - p)

DEFAULT_CONSTANTS: dict[sp.Symbol, sp.Expr] = {
    C_M: sp.Integer(1),
    C_C: sp.Integer(1),
    K_M: MASK_FACTOR / kappa,
    K_C: 1 / kappa,
}

_TWO_FIFTHS = sp.Rational(2, 5)
_SEVEN_TWENTIETHS = sp.Rational(7, 20)


# ---- parameter domains -------------------------------------------------------------
def _finite_floats(value: Any) -> np.ndarray:
    items = np.asarray(value, dtype=object).ravel()
    return np.array([float(v) for v in items], dtype=float)


_DOMAINS: dict[str, tuple[str, Callable[[np.ndarray], bool]]] = {
    "d": ("a finite number > 0", lambda v: bool(np.all(v > 0))),
    "p": ("in the open interval (0, 1)", lambda v: bool(np.all((v > 0) & (v < 1)))),
    "Abar": ("a finite number >= 2 (DecL needs 2 <= |A_i| <= N)", lambda v: bool(np.all(v >= 2))),
    "A_i": ("a finite number >= 2 (DecL needs 2 <= |A_i| <= N)", lambda v: bool(np.all(v >= 2))),
    "N": ("a finite number >= 2", lambda v: bool(np.all(v >= 2))),
}
_POSITIVE = ("a finite number > 0", lambda v: bool(np.all(v > 0)))


def check_parameter(name: str, value: Any) -> None:
    """Raise :class:`ParameterError` unless ``value`` (scalar or array) is in the domain of ``name``.

    d > 0, 0 < p < 1, |Ā| >= 2, |A_i| >= 2, N >= 2; tr(H), kappa, eta and the constants > 0.
    """
    allowed, ok = _DOMAINS.get(name, _POSITIVE)
    try:
        v = _finite_floats(value)
    except (TypeError, ValueError):
        raise ParameterError(name, allowed, value) from None
    require(v.size > 0 and bool(np.all(np.isfinite(v))) and ok(v), name, allowed, value)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    require(value in choices, name, f"one of {choices}", value)


# ---- building blocks ---------------------------------------------------------------
def signal_factor(method: str) -> sp.Expr:
    """The factor of d^(2/5): 2p(1-p) (MIM, Eq. 18), 1 (CL1, Eq. 44), tr(H) (CL2, Eq. 56)."""
    _check_choice("method", method, METHODS)
    return {"MIM": MASK_FACTOR, "CL1": sp.Integer(1), "CL2": trH}[method]


def noise_term(method: str) -> sp.Expr:
    """The O(.) term: C_M d^(-2/5) for MIM (Eq. 20), C_C d^(-1/5) for CL (Eqs. 44, 57)."""
    _check_choice("method", method, METHODS)
    return C_M * d ** (-_TWO_FIFTHS) if method == "MIM" else C_C * d ** sp.Rational(-1, 5)


def fl_constant(method: str) -> sp.Symbol:
    """The constant of the Θ(d^(7/20)) term in the FL forms: K_M (MIM), K_C (CL1, CL2)."""
    _check_choice("method", method, METHODS)
    return K_M if method == "MIM" else K_C


def bound_denominator(method: str, framework: str, source: str = "theorem") -> sp.Expr:
    """Denominator of the printed bound / sensitivity.

    local: F d^(2/5) + O; decl: F (1 - 1/|Ā|) d^(2/5) ± O; fl: F d^(2/5) - K d^(7/20) + O,
    F = :func:`signal_factor`, O = :func:`noise_term`. The sign is + everywhere except for
    ``source="proof"`` with CL in DecL, where Eqs. 63-64 print a minus.
    """
    _check_choice("method", method, METHODS)
    _check_choice("framework", framework, FRAMEWORKS)
    _check_choice("source", source, SOURCES)
    f, o = signal_factor(method), noise_term(method)
    if framework == "local":
        return f * d**_TWO_FIFTHS + o
    if framework == "decl":
        sign = -1 if (source == "proof" and method != "MIM") else 1
        return f * (1 - 1 / Abar) * d**_TWO_FIFTHS + sign * o
    return f * d**_TWO_FIFTHS - fl_constant(method) * d**_SEVEN_TWENTIETHS + o


# ---- the printed closed forms ------------------------------------------------------
def lower_bound(method: str, framework: str) -> sp.Expr:
    """Printed lower bound on the RV coordinates (the upper bound is 1).

    Implements Theorem 4.2 (MIM; Eqs. 24, 33, 38) and Theorem 4.3 (CL1: Lemma A.11, Eqs. 46,
    49, 51; CL2: Eqs. 59-61): 1 - O / :func:`bound_denominator`, e.g. MIM decl
    1 - C_M d^(-2/5) / (2p(1-p)(1 - 1/Abar) d^(2/5) + C_M d^(-2/5)).
    """
    return 1 - sensitivity(method, framework, "theorem")


def sensitivity(method: str, framework: str, source: str = "theorem") -> sp.Expr:
    """Sensitivity s = 1 - (lower bound) as used in the proofs of Thm 4.4 and 4.6.

    ``source="theorem"``: 1 - :func:`lower_bound` (Theorems 4.2-4.3, plus sign).
    ``source="proof"``: Eqs. 62-64 (DecL) and 71-73 (FL) as printed; Eqs. 63-64 have
    (1 - 1/|Ā|) d^(2/5) - C_C d^(-1/5) (times tr(H) for CL2) in the denominator. The
    proofs define no local sensitivity, so ``framework="local"`` needs ``source="theorem"``.
    """
    _check_choice("source", source, SOURCES)
    if framework == "local":
        require(source == "theorem", "source", "'theorem' for framework='local' (Eqs. 62-73 are global)", source)
    return noise_term(method) / bound_denominator(method, framework, source)


def eq28_lhs() -> sp.Expr:
    """Eq. 28, first line: ((|A_i| - 1) 2p(1-p) d^(2/5) + 2p(1-p) + |A_i| C_M d^(-2/5)) / |A_i|."""
    return ((A_i - 1) * MASK_FACTOR * d**_TWO_FIFTHS + MASK_FACTOR + A_i * C_M * d ** (-_TWO_FIFTHS)) / A_i


def eq28_rhs() -> sp.Expr:
    """Eq. 28, last line: 2p(1-p)((1 - 1/|A_i|) d^(2/5) + 1/|A_i|) + C_M d^(-2/5)."""
    return MASK_FACTOR * ((1 - 1 / A_i) * d**_TWO_FIFTHS + 1 / A_i) + C_M * d ** (-_TWO_FIFTHS)


def eq37_lhs(substitute_n: bool = True) -> sp.Expr:
    """Eq. 37, first line without the N O(d^(-2/5))/N term (it is the same O on both sides).

    ((N - 1) 2p(1-p) d^(2/5) + 2p(1-p)) / N, with N = kappa d^(1/20) unless ``substitute_n``
    is False.
    """
    n = kappa * d ** sp.Rational(1, 20) if substitute_n else N
    return ((n - 1) * MASK_FACTOR * d**_TWO_FIFTHS + MASK_FACTOR) / n


def eq37_rhs() -> sp.Expr:
    """Eq. 37, last line without the O(d^(-2/5)) term: 2p(1-p) d^(2/5) - K_M d^(7/20)."""
    return MASK_FACTOR * d**_TWO_FIFTHS - K_M * d**_SEVEN_TWENTIETHS


def implied_fl_constant_expr(method: str) -> sp.Expr:
    """The Θ-constant that Eq. 37 implies with N = kappa d^(1/20): :func:`signal_factor` / kappa."""
    return signal_factor(method) / kappa


def implied_fl_constant(method: str, p: float, kappa: float, trH: float | None = None) -> float:
    """Numeric :func:`implied_fl_constant_expr`: 2p(1-p)/kappa (MIM), 1/kappa (CL1), tr(H)/kappa (CL2).

    With this constant the printed FL denominator equals the DecL one at |Ā| = N = kappa d^(1/20).
    """
    _check_choice("method", method, METHODS)
    check_parameter("p", p)
    check_parameter("kappa", kappa)
    values: dict[sp.Symbol, float] = {SYMBOLS["p"]: p, SYMBOLS["kappa"]: kappa}
    if method == "CL2":
        if trH is None:
            raise ParameterError("trH", "a finite number > 0 for method='CL2'", trH)
        check_parameter("trH", trH)
        values[SYMBOLS["trH"]] = trH
    return float(implied_fl_constant_expr(method).subs(values))


def constant_values(p: float, kappa: float, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """:data:`DEFAULT_CONSTANTS` at (p, kappa) as floats, keyed by name, with ``overrides`` applied."""
    check_parameter("p", p)
    check_parameter("kappa", kappa)
    out = {s.name: float(v.subs({SYMBOLS["p"]: p, SYMBOLS["kappa"]: kappa})) for s, v in DEFAULT_CONSTANTS.items()}
    for name, value in (overrides or {}).items():
        require(name in out, "constants", f"a mapping with keys among {tuple(out)}", dict(overrides or {}))
        check_parameter(name, value)
        out[name] = float(value)
    return out


# ---- the one place where sympy becomes numeric code ---------------------------------
class NumericExpr(Protocol):
    """What :func:`to_numeric` returns: ``f(**values)``, with ``f.symbols`` (its keyword names)
    and ``f.expr`` (the sympy expression it was compiled from)."""

    symbols: tuple[str, ...]
    expr: sp.Expr

    def __call__(self, **values: Any) -> Any: ...


def to_numeric(expr: sp.Expr, backend: Literal["numpy", "mpmath"] = "numpy") -> NumericExpr:
    """Compile ``expr`` with :func:`sympy.lambdify` into ``f(**values)``.

    The keyword arguments are the names of the free symbols (``f.symbols``); every value is
    checked with :func:`check_parameter` first. ``backend="numpy"`` accepts arrays,
    ``"mpmath"`` evaluates at the current ``mpmath.mp`` precision.
    """
    require(backend in ("numpy", "mpmath"), "backend", "'numpy' or 'mpmath'", backend)
    symbols = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    names = tuple(s.name for s in symbols)
    compiled = sp.lambdify(symbols, expr, modules=backend)

    def evaluate(**values: Any) -> Any:
        missing = [n for n in names if n not in values]
        extra = [n for n in values if n not in names]
        if missing or extra:
            raise TypeError(f"expected keyword arguments {names}; missing {missing}, unexpected {extra}")
        for name in names:
            check_parameter(name, values[name])
        if backend == "mpmath":
            args = [mpmath.mpf(values[n]) if not isinstance(values[n], mpmath.mpf) else values[n] for n in names]
        else:
            args = [np.asarray(values[n], dtype=float) for n in names]
        return compiled(*args)

    f = cast(NumericExpr, evaluate)  # given its two attributes here
    f.symbols = names
    f.expr = expr
    return f


def is_finite_number(x: Any) -> bool:
    """True for a finite real scalar (float, int, numpy or mpmath)."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError, OverflowError):
        return False
