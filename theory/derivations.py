"""Symbolic derivations of the printed conclusions (Thm 4.4, Cor 4.5, Thm 4.6) and proof steps.

Each function works on the closed forms of :mod:`theory.printed` and returns a
:class:`Derivation` whose verdict is computed by sympy, never asserted:

* asymptotics: leading terms in d (``leadterm`` in x = d^(-1/20), so every printed power
  of d becomes an integer power of x) and ``limit``; the sign of a leading coefficient is
  decided for *all* admissible parameters by rewriting p = 1/(1+q), |Ā| = 1+a with q, a > 0;
* thresholds at given numbers: the smallest d >= 2 from which a printed comparison holds
  for every larger d. With t = d^(1/20) each comparison is the sign of a rational function
  of t with exact rational coefficients, so the threshold is the largest sign-relevant real
  root, isolated exactly (``Poly.intervals``) — this also covers d beyond any grid. As the
  independent check, a log grid to ``d_max`` evaluated with mpmath at 50 digits plus
  bisection gives ``threshold_d_grid``; the two must agree (tests check it). A threshold
  of +inf (a float) means the comparison fails for arbitrarily large d.
* vacuity: a printed lower bound 1 - s is informative only where 0 < 1 - s < 1, i.e. where
  its denominator is positive and s < 1; ``*_nonvacuous_from_d`` is the smallest d from
  which that holds for all larger d.

``numbers`` holds plain floats and strings only (symbolic results as ``str``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any, Mapping, TypedDict

import mpmath
import sympy as sp

from . import printed as pr
from .errors import ParameterError, require
from .frameworks import GLOBAL_FRAMEWORKS
from .printed import C_C, C_M, K_M, A_i, Abar, d, eta, kappa, p, trH

D_MIN = 2.0
D_MAX = 1e80
GRID_PER_DECADE = 20
MP_DPS = 50

_t = sp.Symbol("t", positive=True)  # t = d^(1/20)
_x = sp.Symbol("x", positive=True)  # x = d^(-1/20)
_q = sp.Symbol("q", positive=True)  # p = 1/(1+q)
_a = sp.Symbol("a", positive=True)  # |Ā| = 1 + a
_ROOT_EPS = sp.Rational(1, 10**18)

CL_VARIANTS: tuple[str, ...] = ("CL1", "CL2")


@dataclass(frozen=True)
class Derivation:
    """Outcome of one symbolic check. ``holds`` is None when sympy cannot decide."""

    claim_id: str
    holds: bool | None
    statement: str
    numbers: dict[str, float | str] = field(default_factory=dict)


# ---- parameters ----------------------------------------------------------------------
def _rat(x: float) -> sp.Rational:
    return sp.Rational(repr(float(x)))


@dataclass(frozen=True)
class PrintedParams:
    """The numbers at which a printed derivation is evaluated.

    ``constants`` overrides :data:`printed.DEFAULT_CONSTANTS` by name (C_M, C_C, K_M, K_C);
    ``p``, ``Abar`` (|Ā|), ``kappa`` (N = κ d^(1/20)); ``N``, when given, only checks
    2 <= |Ā| <= N; for CL2 exactly one of ``trH`` (a constant) or ``eta`` (tr(H) = η d);
    ``source`` "theorem" or "proof" forms; ``d_max`` and ``grid_per_decade`` set the grid
    cross-check of the thresholds (0 skips it). Ranges are checked where the derivation uses
    them, with errors naming the parameter.
    """

    constants: Mapping[str, float] | None = None
    p: float = 0.75
    Abar: float = 3.0
    N: float | None = None
    kappa: float = 4.0
    trH: float | None = None
    eta: float | None = None
    source: str = "theorem"
    d_max: float = D_MAX
    grid_per_decade: int = GRID_PER_DECADE


@dataclass(frozen=True)
class _Point:
    """Exact numeric values for substitution, and how tr(H) scales."""

    values: dict[sp.Symbol, sp.Expr]
    linear_trh: bool
    echo: dict[str, float | str]


def _resolve(methods: tuple[str, ...], params: "PrintedParams") -> _Point:
    constants, p_, abar, n_clients = params.constants, params.p, params.Abar, params.N
    kappa_, trh, eta_ = params.kappa, params.trH, params.eta
    pr.check_parameter("p", p_)
    pr.check_parameter("Abar", abar)
    pr.check_parameter("kappa", kappa_)
    if n_clients is not None:
        pr.check_parameter("N", n_clients)
        require(abar <= n_clients, "Abar", f"in [2, N={n_clients}] (DecL needs 2 <= |A_i| <= N)", abar)
    values: dict[sp.Symbol, sp.Expr] = {p: _rat(p_), Abar: _rat(abar), kappa: _rat(kappa_)}
    for sym, default in pr.DEFAULT_CONSTANTS.items():
        values[sym] = sp.Rational(default.subs({p: values[p], kappa: values[kappa]}))
    names = tuple(s.name for s in pr.CONSTANTS)
    for name, value in (constants or {}).items():
        require(name in names, "constants", f"a mapping with keys among {names}", dict(constants or {}))
        pr.check_parameter(name, value)
        values[pr.SYMBOLS[name]] = _rat(value)
    echo: dict[str, float | str] = {"p": float(p_), "Abar": float(abar), "kappa": float(kappa_)}
    echo.update({s.name: float(values[s]) for s in pr.CONSTANTS})
    if n_clients is not None:
        echo["N"] = float(n_clients)
    linear = False
    if "CL2" in methods:
        require((trh is None) != (eta_ is None), "trH", "given (a constant > 0), or eta given instead (tr(H) = eta d), not both", trh)
        if eta_ is not None:
            pr.check_parameter("eta", eta_)
            values[eta] = _rat(eta_)  # the generic forms carry tr(H) = eta d already
            linear = True
            echo["trH_mode"] = "linear"
            echo["eta"] = float(eta_)
        else:
            assert trh is not None  # exactly one of trH, eta is given (required above)
            pr.check_parameter("trH", trh)
            values[trH] = _rat(trh)
            echo["trH_mode"] = "constant"
            echo["trH"] = float(trh)
    return _Point(values, linear, echo)


def _check_d_max(d_max: float) -> None:
    require(pr.is_finite_number(d_max) and d_max > 10 * D_MIN, "d_max", f"a finite number > {10 * D_MIN}", d_max)


# ---- symbolic helpers ------------------------------------------------------------------
def _linear(expr: sp.Expr, linear_trh: bool) -> sp.Expr:
    return expr.subs(trH, eta * d) if linear_trh else expr


@lru_cache(maxsize=None)
def _leading(expr: sp.Expr) -> tuple[sp.Expr, sp.Rational]:
    """(c, e) with expr ~ c d^e as d -> oo (c = 0, e = 0 when expr == 0)."""
    if sp.cancel(sp.together(expr)) == 0:
        return sp.Integer(0), sp.Integer(0)
    c, k = expr.subs(d, _x ** (-20)).leadterm(_x)
    return sp.factor(c), sp.Rational(-k, 20)


@lru_cache(maxsize=None)
def _domain_sign(expr: sp.Expr) -> str:
    """Sign of ``expr`` for all p in (0, 1), |Ā|, |A_i| > 1 and positive other symbols."""
    e = sp.factor(sp.together(expr.subs({p: 1 / (1 + _q), Abar: 1 + _a, A_i: 1 + _a})))
    if e.is_zero:
        return "zero"
    if e.is_positive:
        return "positive"
    if e.is_negative:
        return "negative"
    return "undetermined"


@lru_cache(maxsize=None)
def _limit_at_infinity(expr: sp.Expr) -> sp.Expr:
    """lim_{d -> oo}, computed on the domain-rewritten expression and mapped back."""
    e = expr.subs({p: 1 / (1 + _q), Abar: 1 + _a})
    lim = sp.limit(e, d, sp.oo)
    return sp.factor(lim.subs({_q: (1 - p) / p, _a: Abar - 1}))


def _f(x: sp.Expr) -> float:
    return float(sp.N(x, 30))


def _scaled_limit(coef: sp.Expr, order: sp.Rational, scale: sp.Rational) -> sp.Expr:
    """lim (c d^order) d^scale from the leading term."""
    if coef == 0 or order + scale < 0:
        return sp.Integer(0)
    if order + scale == 0:
        return coef
    return sp.oo * sp.sign(coef)


# ---- thresholds ------------------------------------------------------------------------
def _sign_polys(expr_d: sp.Expr) -> tuple[sp.Poly, sp.Poly] | None:
    e = sp.cancel(sp.together(expr_d.subs(d, _t**20)))
    num, den = sp.fraction(e)
    if num == 0:
        return None
    return sp.Poly(num, _t), sp.Poly(den, _t)


def _bisect_root(poly: sp.Poly, lo: sp.Rational, hi: sp.Rational, eps: sp.Rational) -> tuple[sp.Rational, sp.Rational]:
    """Shrink an isolating interval [lo, hi] of a simple real root of ``poly`` to width <= eps.

    Bisection with exact signs: the polynomial's coefficients are cleared to integers and
    evaluated at rational points with Python fractions. Unlike ``Poly.refine_root`` (continued
    fractions, which transform the whole polynomial at every step), the cost does not blow up
    with the size of the coefficients, e.g. for constants given as binary floats.
    """
    _, zpoly = poly.clear_denoms()
    coeffs = [int(c) for c in zpoly.all_coeffs()]

    def sign(x: Fraction) -> int:
        v = Fraction(0)
        for c in coeffs:  # Horner, exact
            v = v * x + c
        return (v > 0) - (v < 0)

    a, b = Fraction(int(lo.p), int(lo.q)), Fraction(int(hi.p), int(hi.q))
    w = Fraction(int(eps.p), int(eps.q))
    sa, sb = sign(a), sign(b)
    if sa == 0:
        return lo, lo
    if sb == 0:
        return hi, hi
    if sa == sb:  # not an isolating interval of a simple root: fall back to sympy
        return poly.refine_root(lo, hi, eps=eps)
    while b - a > w:
        m = (a + b) / 2
        sm = sign(m)
        if sm == 0:
            return sp.Rational(m.numerator, m.denominator), sp.Rational(m.numerator, m.denominator)
        if sm == sa:
            a = m
        else:
            b = m
    return sp.Rational(a.numerator, a.denominator), sp.Rational(b.numerator, b.denominator)


def _exact_threshold(expr_d: sp.Expr, strict: bool, d_min: float = D_MIN) -> float:
    """sup{d >= d_min : not expr(d) > 0 (>= 0 if not strict)}, d_min if empty; +inf if it fails as d -> oo.

    ``expr_d`` has d as its only symbol and exact rational coefficients. Points where a
    denominator vanishes count as failures. In t = d^(1/20), expr = num(t)/den(t) with
    coprime polynomials; walking down from t = oo through the isolated real roots (exact
    interval arithmetic) tracks the sign, and only the root that decides is refined.
    """
    polys = _sign_polys(expr_d)
    if polys is None:  # identically zero
        return math.inf if strict else d_min
    num, den = polys
    if sp.sign(num.LC()) * sp.sign(den.LC()) < 0:
        return math.inf
    t_min = sp.Rational(repr(d_min ** (1.0 / 20.0)))
    # isolating intervals [lo, hi] of the real roots t >= 1 (d >= 1), per polynomial, with
    # multiplicity; num and den are coprime, so overlapping intervals are refined apart
    roots: list[list] = []
    for which, poly in enumerate((num, den)):
        if poly.degree() > 0:
            simple = poly.sqf_part()  # refine_root needs simple roots
            roots += [[lo, hi, int(m), which, simple] for (lo, hi), m in poly.intervals(inf=1)]
    for a in roots:
        for b in roots:
            while a[3] == 0 and b[3] == 1 and not (a[1] < b[0] or b[1] < a[0]):
                for r in (a, b):
                    if r[0] != r[1]:
                        r[0], r[1] = _bisect_root(r[4], r[0], r[1], (r[1] - r[0]) / 4)
    sign_right = 1
    for root in sorted(roots, key=lambda r: (r[0], r[1]), reverse=True):
        if root[1] > t_min >= root[0]:  # straddles t_min: refine until it does not
            root[0], root[1] = _bisect_root(root[4], root[0], root[1], _ROOT_EPS)
        lo, hi, mult, which, simple = root
        if hi <= t_min:
            break
        sign_left = sign_right * (-1) ** mult
        if which == 1 or strict or sign_left < 0:
            if lo != hi:
                lo, hi = _bisect_root(simple, lo, hi, _ROOT_EPS)
            return max(d_min, _f((lo + hi) / 2) ** 20)
        sign_right = sign_left
    return d_min


def _grid_threshold(
    expr_d: sp.Expr, strict: bool, d_min: float = D_MIN, d_max: float = D_MAX, per_decade: int = GRID_PER_DECADE
) -> float:
    """The same as :func:`_exact_threshold` from a log grid on [d_min, d_max] (mpmath) plus bisection.

    ``per_decade`` points per decade of d. Returns +inf when the comparison fails at ``d_max``.
    A sign change that changes back between two grid points is missed; the exact method is
    the reference and this is its independent check.
    """
    if not expr_d.free_symbols:
        return d_min if (expr_d > 0 or (not strict and expr_d == 0)) else math.inf
    # evaluate in t = d^(1/20): every printed power of d becomes an integer power of t
    f = pr.to_numeric(expr_d.subs(d, _t**20), "mpmath")

    def ok(t: mpmath.mpf) -> bool:
        try:
            v = f(t=t)
        except ZeroDivisionError:
            return False
        return bool(v > 0) if strict else bool(v >= 0)

    with mpmath.workdps(MP_DPS):
        lo_log, hi_log = mpmath.log10(d_min) / 20, mpmath.log10(d_max) / 20
        n = max(2, int(math.ceil(20 * float(hi_log - lo_log) * per_decade)) + 1)
        grid = [mpmath.power(10, lo_log + (hi_log - lo_log) * i / (n - 1)) for i in range(n)]
        if not ok(grid[-1]):
            return math.inf
        bad = next((i for i in range(n - 2, -1, -1) if not ok(grid[i])), None)
        if bad is None:
            return d_min
        lo, hi = grid[bad], grid[bad + 1]
        while hi / lo - 1 > mpmath.mpf("1e-17"):
            mid = mpmath.sqrt(lo * hi)
            if ok(mid):
                hi = mid
            else:
                lo = mid
        return float(hi**20)


def _grid_or_skip(expr_d: sp.Expr, strict: bool, d_max: float, per_decade: int) -> float | str:
    return _grid_threshold(expr_d, strict, d_max=d_max, per_decade=per_decade) if per_decade > 0 else "skipped"


def _nonvacuous_from(s_num: sp.Expr) -> float:
    """Smallest d from which 0 < 1 - s < 1 (printed lower bound informative) for all larger d."""
    return _exact_threshold(s_num * (1 - s_num), strict=True)


def _fmt(x: float | str) -> str:
    if isinstance(x, str):
        return x
    return "+inf" if math.isinf(x) else f"{x:.6g}"


# ---- Theorem 4.4 ---------------------------------------------------------------------
class _Thm44Generic(TypedDict):
    """The parameter-free forms behind Theorem 4.4's check: sensitivities, leading terms, limits."""

    s_M: sp.Expr
    s_C: sp.Expr
    cM: sp.Expr
    eM: sp.Rational
    cC: sp.Expr
    eC: sp.Rational
    cdiff: sp.Expr
    ediff: sp.Rational
    ratio_limit: sp.Expr
    scaled_limit: sp.Expr
    closed: tuple[str, sp.Expr] | None  # (direction, threshold on d) where a closed form exists


@lru_cache(maxsize=None)
def _thm44_generic(framework: str, variant: str, source: str, linear: bool) -> _Thm44Generic:
    s_m = pr.sensitivity("MIM", framework, source)
    s_c = _linear(pr.sensitivity(variant, framework, source), linear)
    cm, em = _leading(s_m)
    cc, ec = _leading(s_c)
    cdiff, ediff = _leading(s_c - s_m)
    closed: tuple[str, sp.Expr] | None = None
    if framework == "decl" and source == "theorem":
        # cross-multiplying the (positive) denominators, the C_C C_M d^(-3/5) terms cancel and the
        # common factor (1 - 1/Abar) drops: s^C > s^M  <=>  C_C 2p(1-p) d^(1/5) > C_M G, G the CL factor
        f_m, g_c = pr.MASK_FACTOR, pr.signal_factor(variant)
        if linear and variant == "CL2":  # G = eta d:  d^(4/5) < C_C 2p(1-p) / (C_M eta)
            closed = ("below", (C_C * f_m / (C_M * eta)) ** sp.Rational(5, 4))
        else:
            closed = ("above", (C_M * g_c / (C_C * f_m)) ** 5)
    return {
        "s_M": s_m,
        "s_C": s_c,
        "cM": cm,
        "eM": em,
        "cC": cc,
        "eC": ec,
        "cdiff": cdiff,
        "ediff": ediff,
        "ratio_limit": _limit_at_infinity(s_c / s_m),
        "scaled_limit": _scaled_limit(cdiff, ediff, sp.Rational(3, 5)),
        "closed": closed,
    }


def _check_grid(grid_per_decade: int) -> None:
    require(
        isinstance(grid_per_decade, int) and grid_per_decade >= 0,
        "grid_per_decade",
        "an integer >= 0 (0 skips the grid cross-check)",
        grid_per_decade,
    )


def derive_thm44(framework: str, variant: str, params: PrintedParams = PrintedParams()) -> Derivation:
    """Theorem 4.4 (Eqs. 65-77) on the printed sensitivities: is s^C > s^M for all large d?

    ``framework`` in ("decl", "fl"); ``variant`` "CL1" or "CL2" (then exactly one of ``trH``,
    a constant, or ``eta``, tr(H) = eta d). ``constants`` overrides :data:`printed.DEFAULT_CONSTANTS`
    by name. ``source`` picks the theorem forms or the proof's Eqs. 62-64/71-73. ``N``, when
    given, only checks 2 <= |Ā| <= N (the printed forms do not contain N).

    numbers: ``sM_order``/``sC_order``/``diff_order`` (exponent of d of the leading term, float,
    with ``*_str``), ``sM_coefficient``/``sC_coefficient``/``diff_coefficient`` (at the given
    numbers) and ``*_expr`` (symbolic), ``diff_sign_generic`` (for all admissible parameters),
    ``ratio_limit`` and ``ratio_limit_expr`` (lim s^C/s^M), ``scaled_limit`` and
    ``scaled_limit_expr`` (lim (s^C - s^M) d^(3/5)), ``threshold_d`` (exact; +inf if it fails
    for arbitrarily large d), ``threshold_d_grid`` (or "skipped" with ``grid_per_decade=0``),
    ``last_d_holding`` (sup of the d >= 2 with s^C > s^M; 2.0 if none), ``closed_form``,
    ``closed_form_expr`` and ``closed_form_direction`` ("above": s^C > s^M exactly for d
    above it; "below": exactly for d below it; DecL theorem forms only, else "n/a"),
    ``sM_nonvacuous_from_d``, ``sC_nonvacuous_from_d``, ``meaningful_from_d`` (their max),
    plus the parameters. ``holds``: the leading coefficient of s^C - s^M at the given numbers
    is positive.
    """
    require(framework in GLOBAL_FRAMEWORKS, "framework", f"one of {GLOBAL_FRAMEWORKS}", framework)
    require(variant in CL_VARIANTS, "variant", f"one of {CL_VARIANTS}", variant)
    require(params.source in pr.SOURCES, "source", f"one of {pr.SOURCES}", params.source)
    _check_d_max(params.d_max)
    _check_grid(params.grid_per_decade)
    pt = _resolve((variant,), params)
    g = _thm44_generic(framework, variant, params.source, pt.linear_trh)
    v = pt.values
    s_m, s_c = g["s_M"].subs(v), g["s_C"].subs(v)
    diff = s_c - s_m
    cdiff_num = g["cdiff"].subs(v)
    holds = bool(cdiff_num > 0)
    thr = _exact_threshold(diff, strict=True)
    last = _exact_threshold(-diff, strict=False)  # sup{d : not (s^M - s^C >= 0)} = sup{d : s^C > s^M}
    vac_m, vac_c = _nonvacuous_from(s_m), _nonvacuous_from(s_c)
    ratio = g["ratio_limit"].subs(v)
    scaled = g["scaled_limit"].subs(v)
    closed = g["closed"]
    numbers: dict[str, float | str] = {
        "framework": framework,
        "variant": variant,
        "source": params.source,
        **pt.echo,
        "sM_order": float(g["eM"]),
        "sM_order_str": str(g["eM"]),
        "sM_coefficient": _f(g["cM"].subs(v)),
        "sM_coefficient_expr": str(g["cM"]),
        "sC_order": float(g["eC"]),
        "sC_order_str": str(g["eC"]),
        "sC_coefficient": _f(g["cC"].subs(v)),
        "sC_coefficient_expr": str(g["cC"]),
        "diff_order": float(g["ediff"]),
        "diff_order_str": str(g["ediff"]),
        "diff_coefficient": _f(cdiff_num),
        "diff_coefficient_expr": str(g["cdiff"]),
        "diff_sign_generic": _domain_sign(g["cdiff"]),
        "ratio_limit": str(ratio),
        "ratio_limit_expr": str(g["ratio_limit"]),
        "scaled_limit": _f(scaled) if scaled.is_finite else str(scaled),
        "scaled_limit_expr": str(g["scaled_limit"]),
        "threshold_d": thr,
        "threshold_d_grid": _grid_or_skip(diff, True, params.d_max, params.grid_per_decade),
        "last_d_holding": last,
        "closed_form": _f(closed[1].subs(v)) if closed else "n/a",
        "closed_form_expr": str(closed[1]) if closed else "n/a",
        "closed_form_direction": closed[0] if closed else "n/a",
        "sM_nonvacuous_from_d": vac_m,
        "sC_nonvacuous_from_d": vac_c,
        "meaningful_from_d": max(vac_m, vac_c),
    }
    trh_txt = "tr(H) = eta d" if pt.linear_trh else "tr(H) constant"
    at_numbers = (
        f"s^C > s^M for all d > {_fmt(thr)}"
        if math.isfinite(thr)
        else f"s^C > s^M fails for arbitrarily large d (it holds at no d > {_fmt(last)})"
        if last <= D_MIN
        else f"s^C > s^M fails for arbitrarily large d (last at d = {_fmt(last)})"
    )
    statement = (
        f"Thm 4.4 printed ({framework}, {variant} vs MIM, {params.source} forms"
        + (f", {trh_txt}" if variant == "CL2" else "")
        + f"): s^M ~ d^({g['eM']}), s^C ~ d^({g['eC']}), lim s^C/s^M = {ratio}; "
        f"s^C - s^M ~ ({g['cdiff']}) d^({g['ediff']}), coefficient {numbers['diff_sign_generic']} for all "
        f"admissible parameters, so the printed conclusion {'holds' if holds else 'is reversed'} for large d. "
        f"At these numbers {at_numbers}; both printed bounds are informative for d > {_fmt(max(vac_m, vac_c))}."
    )
    return Derivation("thm4.4", holds, statement, numbers)


# ---- Corollary 4.5 -------------------------------------------------------------------
class _Cor45Generic(TypedDict):
    s: sp.Expr
    deriv: sp.Expr
    sign: str
    bound_den: sp.Expr
    closed: sp.Expr  # 0 when the denominator is positive for all d


@lru_cache(maxsize=None)
def _cor45_generic(method: str, source: str, linear: bool) -> _Cor45Generic:
    s = _linear(pr.sensitivity(method, "decl", source), linear)
    deriv = sp.factor(sp.diff(s, Abar))
    num, den = sp.fraction(deriv)
    den_sign = "nonnegative" if den.is_nonnegative else _domain_sign(den)
    num_sign = _domain_sign(num)
    if num_sign in ("positive", "negative") and den_sign in ("nonnegative", "positive"):
        sign = num_sign
    else:
        sign = "undetermined"
    bound_den = _linear(pr.bound_denominator(method, "decl", source), linear)
    closed = sp.Integer(0)
    if source == "proof" and method != "MIM":
        # F (1 - 1/Abar) d^(2/5) - C_C d^(-1/5) > 0  <=>  d > (C_C / (F (1 - 1/Abar)))^(5/3)
        f = pr.signal_factor(method)
        closed = (C_C / (f * (1 - 1 / Abar))) ** sp.Rational(5, 3)
        if linear:
            closed = (C_C / (eta * (1 - 1 / Abar))) ** sp.Rational(5, 8)
    return {"s": s, "deriv": deriv, "sign": sign, "bound_den": bound_den, "closed": closed}


def derive_cor45(method: str, params: PrintedParams = PrintedParams()) -> Derivation:
    """Corollary 4.5: sign of d s_Dec / d|Ā| for the printed DecL sensitivity (Eq. 62, 63 or 64).

    numbers: ``derivative_expr``, ``derivative_sign`` (for all admissible parameters and d
    where it exists), ``derivative_at_meaningful`` (value at d = 2 max(meaningful_from_d, 2)),
    ``denominator_positive_from_d`` (exact; below it the printed s is negative or undefined),
    ``denominator_positive_closed_form`` (str), ``nonvacuous_from_d``. ``holds``: the derivative
    is negative wherever it exists.
    """
    require(method in pr.METHODS, "method", f"one of {pr.METHODS}", method)
    require(params.source in pr.SOURCES, "source", f"one of {pr.SOURCES}", params.source)
    pt = _resolve((method,), params)
    g = _cor45_generic(method, params.source, pt.linear_trh)
    v = pt.values
    den_from = _exact_threshold(g["bound_den"].subs(v), strict=True)
    vac = _nonvacuous_from(g["s"].subs(v))
    d_eval = 2 * max(den_from, vac, D_MIN)
    sign = str(g["sign"])
    holds = None if sign == "undetermined" else sign == "negative"
    numbers: dict[str, float | str] = {
        "method": method,
        "source": params.source,
        **pt.echo,
        "derivative_expr": str(g["deriv"]),
        "derivative_sign": sign,
        "derivative_at_meaningful": _f(g["deriv"].subs(v).subs(d, _rat(d_eval))) if math.isfinite(d_eval) else "n/a",
        "denominator_positive_from_d": den_from,
        "denominator_positive_closed_form": "all d > 0" if g["closed"] == 0 else f"d > {g['closed']}",
        "denominator_positive_closed_form_value": _f(g["closed"].subs(v)),
        "nonvacuous_from_d": vac,
    }
    statement = (
        f"Cor 4.5 printed ({method}, {params.source} form): d s_Dec/d|Abar| = {g['deriv']}, {sign} wherever defined; "
        f"the printed denominator is positive for d > {_fmt(den_from)} and the bound informative for d > {_fmt(vac)}."
    )
    return Derivation("cor4.5", holds, statement, numbers)


# ---- Theorem 4.6 -------------------------------------------------------------------
class _Thm46Generic(TypedDict):
    s_dec: sp.Expr
    s_fed: sp.Expr
    cdec: sp.Expr
    edec: sp.Rational
    cfed: sp.Expr
    efed: sp.Rational
    cdiff: sp.Expr
    ediff: sp.Rational
    closed: sp.Expr | None  # None for the proof's minus forms
    residual: sp.Expr


@lru_cache(maxsize=None)
def _thm46_generic(method: str, source: str, linear: bool) -> _Thm46Generic:
    s_dec = _linear(pr.sensitivity(method, "decl", source), linear)
    s_fed = _linear(pr.sensitivity(method, "fl", source), linear)
    cdec, edec = _leading(s_dec)
    cfed, efed = _leading(s_fed)
    cdiff, ediff = _leading(s_dec - s_fed)
    k = pr.fl_constant(method)
    closed: sp.Expr | None = None
    if source == "theorem" or method == "MIM":
        # same numerators and O-terms: s_Dec >= s_Fed <=> F (1 - 1/Abar) d^(2/5) <= F d^(2/5) - K d^(7/20)
        # <=> F d^(1/20) >= K Abar (F = tr(H) = eta d gives eta d^(21/20) >= K Abar)
        closed = (k * Abar / eta) ** sp.Rational(20, 21) if (linear and method == "CL2") else (k * Abar / pr.signal_factor(method)) ** 20
    n_of_d = kappa * d ** sp.Rational(1, 20)
    s_dec_sym = pr.sensitivity(method, "decl", source)
    s_fed_sym = pr.sensitivity(method, "fl", source)
    residual = sp.simplify(s_dec_sym.subs(Abar, n_of_d) - s_fed_sym.subs(k, pr.implied_fl_constant_expr(method)))
    return {
        "s_dec": s_dec,
        "s_fed": s_fed,
        "cdec": cdec,
        "edec": edec,
        "cfed": cfed,
        "efed": efed,
        "cdiff": cdiff,
        "ediff": ediff,
        "closed": closed,
        "residual": residual,
    }


def derive_thm46(method: str, params: PrintedParams = PrintedParams()) -> Derivation:
    """Theorem 4.6 (Eqs. 78-89) on the printed sensitivities: s_Dec >= s_Fed for all large d,
    with equality when |A_i| = N.

    numbers: ``sDec_order``, ``sFed_order``, ``diff_order`` (+ ``*_str``), ``diff_coefficient``
    (at the numbers), ``diff_coefficient_expr``, ``diff_sign_generic``; ``threshold_d`` (exact)
    and ``threshold_d_grid`` for s_Dec >= s_Fed; ``threshold_closed_form`` (float, or "n/a" for
    the proof's minus forms) and ``threshold_closed_form_expr``: d* = (K |Ā| / F)^20, F the
    signal factor ((K |Ā| / eta)^(20/21) for tr(H) = eta d); ``implied_threshold`` = (|Ā|/kappa)^20,
    the same with the Eq. 37-implied K (i.e. N(d) = kappa d^(1/20) >= |Ā|);
    ``equality_residual`` (s_Dec at |Ā| = N = kappa d^(1/20) minus s_Fed with the implied K,
    simplified; "0" is exact equality); ``sDec_nonvacuous_from_d``, ``sFed_nonvacuous_from_d``.
    ``holds``: the leading coefficient of s_Dec - s_Fed is positive and the residual is 0.
    """
    require(method in pr.METHODS, "method", f"one of {pr.METHODS}", method)
    require(params.source in pr.SOURCES, "source", f"one of {pr.SOURCES}", params.source)
    _check_d_max(params.d_max)
    _check_grid(params.grid_per_decade)
    pt = _resolve((method,), params)
    g = _thm46_generic(method, params.source, pt.linear_trh)
    v = pt.values
    s_dec, s_fed = g["s_dec"].subs(v), g["s_fed"].subs(v)
    cdiff_num = g["cdiff"].subs(v)
    diff = s_dec - s_fed
    thr = _exact_threshold(diff, strict=False)
    thr_grid = _grid_or_skip(diff, False, params.d_max, params.grid_per_decade)
    closed = g["closed"]
    if closed is not None:
        d_star = _f(closed.subs(v))
        closed_value: float | str = d_star if d_star > D_MIN else D_MIN
    else:
        closed_value = "n/a"
    residual = g["residual"]
    eventually = bool(cdiff_num > 0)
    equality = residual == 0
    numbers: dict[str, float | str] = {
        "method": method,
        "source": params.source,
        **pt.echo,
        "sDec_order": float(g["edec"]),
        "sDec_order_str": str(g["edec"]),
        "sFed_order": float(g["efed"]),
        "sFed_order_str": str(g["efed"]),
        "diff_order": float(g["ediff"]),
        "diff_order_str": str(g["ediff"]),
        "diff_coefficient": _f(cdiff_num),
        "diff_coefficient_expr": str(g["cdiff"]),
        "diff_sign_generic": _domain_sign(g["cdiff"]),
        "threshold_d": thr,
        "threshold_d_grid": thr_grid,
        "threshold_closed_form": closed_value,
        "threshold_closed_form_expr": "n/a" if closed is None else f"max(2, {closed})",
        "implied_threshold": _f((v[pr.Abar] / v[pr.kappa]) ** 20),
        "equality_residual": str(residual),
        "sDec_nonvacuous_from_d": _nonvacuous_from(s_dec),
        "sFed_nonvacuous_from_d": _nonvacuous_from(s_fed),
    }
    statement = (
        f"Thm 4.6 printed ({method}, {params.source} forms): s_Dec - s_Fed ~ ({g['cdiff']}) d^({numbers['diff_order_str']}), "
        f"coefficient {numbers['diff_sign_generic']} for all admissible parameters; at these numbers s_Dec >= s_Fed "
        + (f"for all d >= {_fmt(thr)}" if math.isfinite(thr) else "fails for arbitrarily large d")
        + f" (grid {_fmt(thr_grid)}, closed form {_fmt(closed_value)}; with the Eq. 37-implied K it is "
        f"N(d) = kappa d^(1/20) >= |Abar|, d >= {_fmt(numbers['implied_threshold'])}). With |Abar| = N = kappa d^(1/20) "
        f"and the Eq. 37-implied K, s_Dec - s_Fed simplifies to {residual}"
        + (" (equality)." if equality else " (no equality).")
    )
    return Derivation("thm4.6", eventually and equality, statement, numbers)


# ---- vacuity -----------------------------------------------------------------------
def derive_vacuity(method: str, framework: str, params: PrintedParams = PrintedParams()) -> Derivation:
    """Smallest d from which the printed lower bound 1 - s lies in (0, 1) for all larger d.

    Claim ids ``thm4.2-<framework>`` (MIM) and ``thm4.3-<framework>`` (CL). numbers:
    ``threshold_d`` (exact), ``threshold_d_grid``, ``denominator_positive_from_d``.
    ``holds``: the threshold is finite (the bound is informative for all large d).
    """
    require(method in pr.METHODS, "method", f"one of {pr.METHODS}", method)
    require(framework in pr.FRAMEWORKS, "framework", f"one of {pr.FRAMEWORKS}", framework)
    _check_d_max(params.d_max)
    _check_grid(params.grid_per_decade)
    pt = _resolve((method,), params)
    s = _linear(pr.sensitivity(method, framework, params.source), pt.linear_trh).subs(pt.values)
    den = _linear(pr.bound_denominator(method, framework, params.source), pt.linear_trh).subs(pt.values)
    thr = _nonvacuous_from(s)
    numbers: dict[str, float | str] = {
        "method": method,
        "framework": framework,
        "source": params.source,
        **pt.echo,
        "threshold_d": thr,
        "threshold_d_grid": _grid_or_skip(s * (1 - s), True, params.d_max, params.grid_per_decade),
        "denominator_positive_from_d": _exact_threshold(den, strict=True),
    }
    claim = ("thm4.2-" if method == "MIM" else "thm4.3-") + framework
    statement = f"Printed lower bound ({method}, {framework}, {params.source} form) lies in (0, 1) for all d > {_fmt(thr)}."
    return Derivation(claim, math.isfinite(thr), statement, numbers)


# ---- proof steps -------------------------------------------------------------------
def eq24_algebra() -> Derivation:
    """Eq. 24: (a - C)/(a + C) = 1 - 2C/(a + C) exactly; the paper prints 1 - O/(a + O), absorbing 2."""
    a, c = sp.symbols("a C", positive=True)
    residual = sp.simplify((a - c) / (a + c) - (1 - 2 * c / (a + c)))
    return Derivation(
        "eq24-algebra",
        residual == 0,
        "Eq. 24: (a - C)/(a + C) - (1 - 2C/(a + C)) simplifies to "
        f"{residual}; the printed 1 - O/(a + O) reads O = 2C in the numerator and O = C in the denominator.",
        {"residual": str(residual), "numerator_constant": "2*C", "denominator_constant": "C"},
    )


def eq28_identity() -> Derivation:
    """Eq. 28: first line minus last line, simplified (|A_i| = ``A_i``, O(d^(-2/5)) = C_M d^(-2/5))."""
    residual = sp.simplify(pr.eq28_lhs() - pr.eq28_rhs())
    return Derivation(
        "eq28-neighbour-average",
        residual == 0,
        f"Eq. 28: lhs - rhs simplifies to {residual}.",
        {"residual": str(residual), "lhs": str(pr.eq28_lhs()), "rhs": str(pr.eq28_rhs())},
    )


def eq30_remainder() -> Derivation:
    """Eq. 30, last step: 2p(1-p)((1 - 1/|Ā|) d^(2/5) + 1/|Ā|) + O(d^(-2/5)) = 2p(1-p)(1 - 1/|Ā|) d^(2/5) + O(d^(-2/5)).

    The dropped term 2p(1-p)/|Ā| is Θ(1), not O(d^(-2/5)). It is positive, so dropping it
    lowers the diagonal entry and the derived lower bound stays valid (conservative).
    ``holds``: the dropped term is O(d^(-2/5)).
    """
    before = pr.MASK_FACTOR * ((1 - 1 / Abar) * d ** sp.Rational(2, 5) + 1 / Abar)
    after = pr.MASK_FACTOR * (1 - 1 / Abar) * d ** sp.Rational(2, 5)
    dropped = sp.factor(sp.simplify(before - after))
    coef, order = _leading(dropped)
    holds = bool(order <= sp.Rational(-2, 5))
    return Derivation(
        "eq30-remainder",
        holds,
        f"Eq. 30 drops {dropped} ~ d^({order}) into O(d^(-2/5)); sign {_domain_sign(dropped)}.",
        {"dropped_term": str(dropped), "dropped_order": float(order), "claimed_order": -0.4, "dropped_sign": _domain_sign(dropped)},
    )


def eq37_identity() -> Derivation:
    """Eq. 37 with N = kappa d^(1/20): is lhs = 2p(1-p) d^(2/5) - Θ(d^(7/20)) (+ lower order)?

    Computes lim_{d->oo} (lhs - 2p(1-p) d^(2/5)) / d^(7/20) (the implied -K) and the exact
    remainder lhs - (2p(1-p) d^(2/5) - K d^(7/20)) at the implied K. ``holds``: the limit is
    finite and negative (a positive Θ-constant exists).
    """
    lhs = pr.eq37_lhs()
    f = pr.MASK_FACTOR
    lim = _limit_at_infinity((lhs - f * d ** sp.Rational(2, 5)) / d ** sp.Rational(7, 20))
    sign = _domain_sign(lim)
    implied = -lim
    remainder = sp.factor(sp.simplify(lhs - pr.eq37_rhs().subs(K_M, implied)))
    rcoef, rorder = _leading(remainder)
    holds = bool(lim.is_finite) and sign == "negative"
    return Derivation(
        "eq36-37-fl-average",
        holds,
        f"Eq. 37: (lhs - 2p(1-p) d^(2/5)) / d^(7/20) -> {lim} ({sign}), so the Θ(d^(7/20)) term has constant "
        f"K_M = {implied}; the remainder {remainder} ~ d^({rorder}) is dropped into O(d^(-2/5)).",
        {
            "limit": str(lim),
            "implied_constant": str(implied),
            "limit_sign": sign,
            "remainder": str(remainder),
            "remainder_order": float(rorder),
            "remainder_within_printed_O": "true" if rorder <= sp.Rational(-2, 5) else "false",
        },
    )


__all__ = [
    "Derivation",
    "ParameterError",
    "cor45_printed",
    "eq24_algebra",
    "eq28_identity",
    "eq30_remainder",
    "eq37_identity",
    "thm44_printed",
    "thm46_printed",
    "vacuity_threshold",
]


# ---- keyword forms ------------------------------------------------------------------
# The keyword signatures these derivations had before PrintedParams, for callers written
# against them (tests/test_printed.py): each builds the parameter object and delegates.
def thm44_printed(framework: str, variant: str, constants: Mapping[str, float] | None = None, **kw: Any) -> Derivation:
    """:func:`derive_thm44` with the parameters as keywords (see :class:`PrintedParams`)."""
    return derive_thm44(framework, variant, PrintedParams(constants, **kw))


def cor45_printed(method: str, constants: Mapping[str, float] | None = None, **kw: Any) -> Derivation:
    """:func:`derive_cor45` with the parameters as keywords (see :class:`PrintedParams`)."""
    return derive_cor45(method, PrintedParams(constants, **kw))


def thm46_printed(method: str, constants: Mapping[str, float] | None = None, **kw: Any) -> Derivation:
    """:func:`derive_thm46` with the parameters as keywords (see :class:`PrintedParams`)."""
    return derive_thm46(method, PrintedParams(constants, **kw))


def vacuity_threshold(method: str, framework: str, constants: Mapping[str, float] | None = None,
                      **kw: Any) -> Derivation:
    """:func:`derive_vacuity` with the parameters as keywords (see :class:`PrintedParams`)."""
    return derive_vacuity(method, framework, PrintedParams(constants, **kw))
