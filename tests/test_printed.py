"""The printed level: closed forms of Thms 4.2-4.3 / Eqs. 62-73 and the derivations built on them."""

from __future__ import annotations

import functools
import json
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from theory import derivations as D
from theory import printed as P
from theory.errors import ParameterError

F = P.MASK_FACTOR
D25 = P.d ** sp.Rational(2, 5)


# ---- exact sympy identities ----------------------------------------------------------
def test_symbols_are_declared_once_and_positive() -> None:
    assert all(s.is_positive for s in P.SYMBOLS.values())
    assert P.sensitivity("MIM", "decl").free_symbols <= set(P.SYMBOLS.values())


@pytest.mark.parametrize(
    ("method", "framework", "expected"),
    [
        ("MIM", "local", 1 - P.C_M * P.d ** sp.Rational(-2, 5) / (F * D25 + P.C_M * P.d ** sp.Rational(-2, 5))),
        (
            "MIM",
            "decl",
            1 - P.C_M * P.d ** sp.Rational(-2, 5) / (F * (1 - 1 / P.Abar) * D25 + P.C_M * P.d ** sp.Rational(-2, 5)),
        ),
        (
            "MIM",
            "fl",
            1
            - P.C_M
            * P.d ** sp.Rational(-2, 5)
            / (F * D25 - P.K_M * P.d ** sp.Rational(7, 20) + P.C_M * P.d ** sp.Rational(-2, 5)),
        ),
        ("CL1", "decl", 1 - P.C_C * P.d ** sp.Rational(-1, 5) / ((1 - 1 / P.Abar) * D25 + P.C_C * P.d ** sp.Rational(-1, 5))),
        (
            "CL2",
            "fl",
            1
            - P.C_C
            * P.d ** sp.Rational(-1, 5)
            / (P.trH * D25 - P.K_C * P.d ** sp.Rational(7, 20) + P.C_C * P.d ** sp.Rational(-1, 5)),
        ),
    ],
)
def test_lower_bound_is_the_printed_form(method: str, framework: str, expected: sp.Expr) -> None:
    assert sp.simplify(P.lower_bound(method, framework) - expected) == 0


@pytest.mark.parametrize("method", P.METHODS)
@pytest.mark.parametrize("framework", P.FRAMEWORKS)
def test_theorem_sensitivity_is_one_minus_lower_bound(method: str, framework: str) -> None:
    assert sp.simplify(P.sensitivity(method, framework, "theorem") - (1 - P.lower_bound(method, framework))) == 0


def test_proof_forms_eqs_62_to_73() -> None:
    o1 = P.C_C * P.d ** sp.Rational(-1, 5)
    # Eqs. 63-64 print a minus where the theorems print a plus
    assert sp.simplify(P.sensitivity("CL1", "decl", "proof") - o1 / ((1 - 1 / P.Abar) * D25 - o1)) == 0
    assert sp.simplify(P.sensitivity("CL2", "decl", "proof") - o1 / (P.trH * (1 - 1 / P.Abar) * D25 - o1)) == 0
    assert sp.simplify(P.sensitivity("CL1", "decl", "proof") - P.sensitivity("CL1", "decl", "theorem")) != 0
    # Eq. 62 and Eqs. 71-73 agree with the theorems
    assert P.sensitivity("MIM", "decl", "proof") == P.sensitivity("MIM", "decl", "theorem")
    for method in P.METHODS:
        assert P.sensitivity(method, "fl", "proof") == P.sensitivity(method, "fl", "theorem")
    with pytest.raises(ParameterError, match="source"):
        P.sensitivity("MIM", "local", "proof")


@pytest.mark.parametrize("method", P.METHODS)
def test_implied_constant_makes_fl_the_decl_form_at_abar_equal_n(method: str) -> None:
    n_of_d = P.kappa * P.d ** sp.Rational(1, 20)
    fl = P.sensitivity(method, "fl").subs(P.fl_constant(method), P.implied_fl_constant_expr(method))
    assert sp.simplify(fl - P.sensitivity(method, "decl").subs(P.Abar, n_of_d)) == 0


def test_default_and_implied_constants() -> None:
    assert P.DEFAULT_CONSTANTS[P.K_M] == F / P.kappa
    assert P.DEFAULT_CONSTANTS[P.K_C] == 1 / P.kappa
    assert P.DEFAULT_CONSTANTS[P.C_M] == 1 and P.DEFAULT_CONSTANTS[P.C_C] == 1
    assert P.implied_fl_constant("MIM", 0.75, 4.0) == pytest.approx(0.375 / 4, rel=1e-15)
    assert P.implied_fl_constant("CL1", 0.75, 4.0) == 0.25
    assert P.implied_fl_constant("CL2", 0.75, 4.0, trH=3.0) == 0.75
    assert P.constant_values(0.75, 4.0, {"C_C": 2.0}) == {"C_M": 1.0, "C_C": 2.0, "K_M": 0.09375, "K_C": 0.25}
    with pytest.raises(ParameterError, match="trH"):
        P.implied_fl_constant("CL2", 0.75, 4.0)


def test_eq28_eq24_identities() -> None:
    assert sp.simplify(P.eq28_lhs() - P.eq28_rhs()) == 0
    assert D.eq28_identity().holds is True
    r = D.eq24_algebra()
    assert r.holds is True and r.numbers["residual"] == "0"


def test_eq37_implied_constant_and_remainder() -> None:
    r = D.eq37_identity()
    assert r.holds is True
    assert sp.simplify(sp.sympify(r.numbers["limit"], locals=P.SYMBOLS) + F / P.kappa) == 0
    # the exact remainder 2p(1-p)/(kappa d^(1/20)) is Θ(d^(-1/20)), not the printed O(d^(-2/5))
    remainder = sp.sympify(r.numbers["remainder"], locals=P.SYMBOLS)
    assert sp.simplify(remainder - F / (P.kappa * P.d ** sp.Rational(1, 20))) == 0
    assert r.numbers["remainder_order"] == -0.05 and r.numbers["remainder_within_printed_O"] == "false"
    # the same limit straight from the printed forms
    lim = sp.limit((P.eq37_lhs() - F * D25) / P.d ** sp.Rational(7, 20), P.d, sp.oo)
    assert sp.simplify(lim + F / P.kappa) == 0


def test_eq30_drops_a_theta_one_term() -> None:
    r = D.eq30_remainder()
    assert r.holds is False
    assert sp.simplify(sp.sympify(r.numbers["dropped_term"], locals=P.SYMBOLS) - F / P.Abar) == 0
    assert r.numbers["dropped_order"] == 0.0 and r.numbers["dropped_sign"] == "positive"


# ---- to_numeric ----------------------------------------------------------------------
_ROUND_TRIP = [
    P.lower_bound("MIM", "fl"),
    P.sensitivity("CL2", "decl", "proof"),
    P.sensitivity("CL1", "fl"),
    P.eq28_lhs(),
    P.eq37_lhs(),
]


@pytest.mark.parametrize("expr", _ROUND_TRIP, ids=range(len(_ROUND_TRIP)))
def test_to_numeric_round_trip(expr: sp.Expr) -> None:
    rng = np.random.default_rng(20260101)
    f_np, f_mp = P.to_numeric(expr, "numpy"), P.to_numeric(expr, "mpmath")
    for _ in range(20):
        vals = {n: float(rng.uniform(0.1, 5.0)) for n in f_np.symbols}
        vals["d"] = float(10 ** rng.uniform(0.5, 8))
        if "p" in vals:
            vals["p"] = float(rng.uniform(0.05, 0.95))
        for name in ("Abar", "A_i"):
            if name in vals:
                vals[name] = float(rng.uniform(2, 10))
        reference = expr.evalf(60, subs={P.SYMBOLS[n]: sp.Float(v, 60) for n, v in vals.items()})
        # float64 through numpy; cancellation in 1 - s costs a few digits at most
        assert float(f_np(**vals)) == pytest.approx(float(reference), rel=1e-10, abs=1e-14)
        with mpmath.workdps(50):
            assert abs(f_mp(**vals) - mpmath.mpf(str(reference))) <= mpmath.mpf(10) ** -40 * max(1, abs(f_mp(**vals)))


def test_to_numeric_vectorises_over_d() -> None:
    f = P.to_numeric(P.sensitivity("MIM", "decl"))
    ds = np.array([2.0, 512.0, 1e6])
    vals = f(d=ds, p=0.75, Abar=3.0, C_M=1.0)
    assert vals.shape == (3,)
    assert np.all(np.diff(vals) < 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [("p", 1.5), ("p", 0.0), ("Abar", 1.5), ("d", 0.0), ("d", -3.0), ("C_M", -1.0), ("d", float("nan"))],
)
def test_to_numeric_rejects_bad_parameters(name: str, value: float) -> None:
    f = P.to_numeric(P.sensitivity("MIM", "decl"))
    vals = {"d": 512.0, "p": 0.75, "Abar": 3.0, "C_M": 1.0, name: value}
    with pytest.raises(ParameterError) as err:
        f(**vals)
    assert err.value.name == name


def test_derivations_reject_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="^trH"):
        D.thm44_printed("decl", "CL2")
    with pytest.raises(ParameterError, match="^trH"):
        D.thm44_printed("decl", "CL2", trH=1.0, eta=0.5)
    with pytest.raises(ParameterError, match="^Abar"):
        D.thm46_printed("MIM", Abar=7.0, N=6)
    with pytest.raises(ParameterError, match="^p"):
        D.cor45_printed("MIM", p=1.0)
    with pytest.raises(ParameterError, match="^constants"):
        D.vacuity_threshold("MIM", "fl", {"K": 1.0})
    with pytest.raises(ParameterError, match="^K_M"):
        D.vacuity_threshold("MIM", "fl", {"K_M": 0.0})
    with pytest.raises(ParameterError, match="^framework"):
        D.thm44_printed("local", "CL1")
    with pytest.raises(ParameterError, match="^eta"):
        D.thm46_printed("CL2", eta=-1.0)


# ---- Theorem 4.4 ---------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _sens(method: str, framework: str, source: str = "theorem") -> object:
    return P.to_numeric(P.sensitivity(method, framework, source), "mpmath")


def _at(f: object, d: float, numbers: dict[str, float | str]) -> mpmath.mpf:
    vals = {n: numbers[n] for n in f.symbols if n != "d"}  # type: ignore[attr-defined]
    return f(d=d, **vals)  # type: ignore[operator]


@pytest.mark.parametrize("framework", ["decl", "fl"])
def test_thm44_default_threshold_and_grid(framework: str) -> None:
    r = D.thm44_printed(framework, "CL1", p=0.75, Abar=3, N=6, kappa=4)
    assert r.holds is True
    n = r.numbers
    assert (n["sM_order"], n["sC_order"], n["ratio_limit"]) == (-0.8, -0.6, "oo")
    # DecL, theorem forms: s^C > s^M <=> d > (C_M / (C_C 2p(1-p)))^5 = 0.375^-5; with the
    # Eq. 37-implied K (the defaults) FL is the DecL form at |Ā| = N and has the same threshold
    assert n["threshold_d"] == pytest.approx(0.375**-5, rel=1e-12)
    assert n["threshold_d_grid"] == pytest.approx(n["threshold_d"], rel=1e-9)
    assert n["scaled_limit"] == (1.5 if framework == "decl" else 1.0)
    assert n["diff_sign_generic"] == "positive"
    json.dumps(n)
    assert all(isinstance(v, (float, str)) for v in n.values())


@pytest.mark.parametrize("framework", ["decl", "fl"])
def test_thm44_reverses_for_trh_proportional_to_d(framework: str) -> None:
    """Counterexample: tr(H) = d/2 (identity or blur: tr(H) grows like d) at p = 0.75, |Ā| = 3."""
    r = D.thm44_printed(framework, "CL2", p=0.75, Abar=3, N=6, kappa=4, eta=0.5)
    n = r.numbers
    assert r.holds is False
    assert n["ratio_limit"] == "0" and n["scaled_limit"] == 0.0
    assert (n["sM_order"], n["sC_order"], n["diff_order"]) == (-0.8, -1.6, -0.8)
    assert n["diff_sign_generic"] == "negative"
    # -C_M / (2p(1-p)(1 - 1/|Ā|)) = -1/(0.375 * 2/3) = -4 (DecL); -C_M / (2p(1-p)) = -8/3 (FL)
    assert n["diff_coefficient"] == pytest.approx(-4.0 if framework == "decl" else -8 / 3, rel=1e-12)
    assert math.isinf(n["threshold_d"]) and math.isinf(n["threshold_d_grid"])
    assert n["last_d_holding"] == 2.0  # s^C2 > s^M at no d > 2
    assert n["meaningful_from_d"] == 2.0  # both printed bounds informative: not a vacuity artefact
    if framework == "decl":
        # s^C2 > s^M <=> d < (C_C 2p(1-p) / (C_M eta))^(5/4) = 0.75^1.25
        assert n["closed_form_direction"] == "below"
        assert n["closed_form"] == pytest.approx(0.75**1.25, rel=1e-12)
    # the printed values at d = 512 (plain float reference:
    #   s_C2 = x^-1/5 / (0.5 x u x^2/5 + x^-1/5), s_M = x^-2/5 / (0.375 u x^2/5 + x^-2/5), x = 512,
    #   u = 2/3 (DecL) or, FL, u x^2/5 -> x^2/5 - 0.25 x^7/20 / (1 or 0.375 for s_M))
    x = 512.0
    if framework == "decl":
        s_c2 = x**-0.2 / (0.5 * x * (2 / 3) * x**0.4 + x**-0.2)
        s_m = x**-0.4 / (0.375 * (2 / 3) * x**0.4 + x**-0.4)
    else:
        s_c2 = x**-0.2 / (0.5 * x * x**0.4 - 0.25 * x**0.35 + x**-0.2)
        s_m = x**-0.4 / (0.375 * x**0.4 - 0.09375 * x**0.35 + x**-0.4)
    with mpmath.workdps(30):
        c2 = _at(P.to_numeric(P.sensitivity("CL2", framework).subs(P.trH, 0.5 * P.d), "mpmath"), x, n)
        m = _at(_sens("MIM", framework), x, n)
    assert float(c2) == pytest.approx(s_c2, rel=1e-12) and float(m) == pytest.approx(s_m, rel=1e-12)
    assert s_c2 < s_m
    pinned = (1.38749e-4, 2.64842e-2) if framework == "decl" else (9.25696e-5, 2.17171e-2)
    assert (s_c2, s_m) == pytest.approx(pinned, rel=1e-5)


@st.composite
def admissible(draw: st.DrawFn) -> dict[str, float]:
    """p in (0, 1), 2 <= |Ā| <= N, kappa > 0 and positive constants."""
    n = draw(st.integers(2, 40))
    return {
        "p": draw(st.floats(0.02, 0.98)),
        "N": float(n),
        "Abar": draw(st.floats(2.0, float(n))),
        "kappa": draw(st.floats(0.5, 8.0)),
        "C_M": draw(st.floats(0.05, 20.0)),
        "C_C": draw(st.floats(0.05, 20.0)),
        "K_M": draw(st.floats(0.001, 2.0)),
        "K_C": draw(st.floats(0.001, 2.0)),
        "trH": draw(st.floats(0.05, 20.0)),
    }


def _split(params: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    consts = {k: params[k] for k in ("C_M", "C_C", "K_M", "K_C")}
    kw = {k: params[k] for k in ("p", "N", "Abar", "kappa")}
    return consts, kw


_DEFAULTS = {"p": 0.75, "N": 6.0, "Abar": 3.0, "kappa": 4.0, "C_M": 1.0, "C_C": 1.0, "K_M": 0.09375, "K_C": 0.25, "trH": 1.0}


@given(params=admissible(), framework=st.sampled_from(["decl", "fl"]), variant=st.sampled_from(["CL1", "CL2"]))
@example(params=_DEFAULTS, framework="fl", variant="CL1")
def test_thm44_sc_exceeds_sm_beyond_threshold(params: dict[str, float], framework: str, variant: str) -> None:
    consts, kw = _split(params)
    trh = {"trH": params["trH"]} if variant == "CL2" else {}
    r = D.thm44_printed(framework, variant, consts, grid_per_decade=0, **kw, **trh)
    assert r.holds is True
    thr = r.numbers["threshold_d"]
    assert isinstance(thr, float) and math.isfinite(thr)
    numbers = {**r.numbers, **trh}
    s_c, s_m = _sens(variant, framework), _sens("MIM", framework)
    with mpmath.workdps(50):
        for factor in (1.0001, 3.0, 1e3, 1e9):
            d = thr * factor
            assert _at(s_c, d, numbers) > _at(s_m, d, numbers), (d, thr)
    if r.numbers["closed_form_direction"] == "above":
        assert thr == pytest.approx(max(D.D_MIN, r.numbers["closed_form"]), rel=1e-9)


def _printed_s(method: str, framework: str, d: mpmath.mpf, v: dict[str, float], trh: mpmath.mpf | None = None) -> mpmath.mpf:
    """The theorem-form printed sensitivity s = 1 - (lower bound of Thm 4.2 / 4.3), written out here
    in mpmath (independent of ``theory.printed``): O / (F (1 - 1/|Ā|) d^(2/5) + O) for DecL and
    O / (F d^(2/5) - K d^(7/20) + O) for FL, with F = 2p(1-p), O = C_M d^(-2/5), K = K_M (MIM) and
    F = tr(H), O = C_C d^(-1/5), K = K_C (CL2)."""
    d = mpmath.mpf(d)
    if method == "MIM":
        f, o, k = 2 * mpmath.mpf(v["p"]) * (1 - mpmath.mpf(v["p"])), v["C_M"] * d ** mpmath.mpf(-0.4), v["K_M"]
    else:
        f, o, k = mpmath.mpf(trh), v["C_C"] * d ** mpmath.mpf(-0.2), v["K_C"]
    if framework == "decl":
        return o / (f * (1 - 1 / mpmath.mpf(v["Abar"])) * d ** mpmath.mpf(0.4) + o)
    return o / (f * d ** mpmath.mpf(0.4) - k * d ** mpmath.mpf(0.35) + o)


@given(params=admissible(), framework=st.sampled_from(["decl", "fl"]), eta_=st.floats(0.01, 20.0))
@example(params=_DEFAULTS, framework="decl", eta_=0.5)
@example(params={**_DEFAULTS, "C_C": 20.0, "C_M": 0.05}, framework="decl", eta_=0.01)  # reverses at d ≈ 1.7e5
def test_thm44_printed_with_trh_proportional_to_d(params: dict[str, float], framework: str, eta_: float) -> None:
    """Thm 4.4 on the printed forms with tr(H) = eta d (the identity, a blur: tr(H) grows like d).

    The CL2 signal grows like d^(7/5), so s^C2 ~ d^(-8/5) falls below s^M ~ d^(-4/5) for every
    admissible parameter: the printed conclusion is reversed. Checked on the sensitivities written
    out above at d beyond the reported last d where s^C2 > s^M, and (when that d is past the
    domain's start) just below it, where s^C2 > s^M must still hold."""
    consts, kw = _split(params)
    r = D.thm44_printed(framework, "CL2", consts, grid_per_decade=0, eta=eta_, **kw)
    n = r.numbers
    assert r.holds is False and n["diff_sign_generic"] == "negative"
    assert (n["sM_order"], n["sC_order"]) == (-0.8, -1.6)
    assert math.isinf(n["threshold_d"])
    last = n["last_d_holding"]
    assert isinstance(last, float) and math.isfinite(last) and last >= D.D_MIN
    v = {**params, **consts}
    with mpmath.workdps(50):
        for d in (last * (1 + 1e-12), last * 3.0, last * 1e3, last * 1e9):
            d = mpmath.mpf(d)
            assert _printed_s("CL2", framework, d, v, eta_ * d) < _printed_s("MIM", framework, d, v), (d, last)
        if last > D.D_MIN:
            d = mpmath.mpf(last) * (1 - mpmath.mpf(1e-12))
            assert _printed_s("CL2", framework, d, v, eta_ * d) > _printed_s("MIM", framework, d, v), (d, last)
    if framework == "decl":
        # cross-multiplying the positive denominators: s^C2 > s^M <=> d^(4/5) < C_C 2p(1-p) / (C_M eta)
        closed = (params["C_C"] * 2 * params["p"] * (1 - params["p"]) / (params["C_M"] * eta_)) ** 1.25
        assert last == pytest.approx(max(D.D_MIN, closed), rel=1e-9)


# ---- Corollary 4.5 -------------------------------------------------------------------
@given(params=admissible(), method=st.sampled_from(P.METHODS), source=st.sampled_from(P.SOURCES))
def test_cor45_derivative_sign_at_random_points(params: dict[str, float], method: str, source: str) -> None:
    consts, kw = _split(params)
    trh = {"trH": params["trH"]} if method == "CL2" else {}
    r = D.cor45_printed(method, consts, source=source, **kw, **trh)
    assert r.holds is True and r.numbers["derivative_sign"] == "negative"
    if r.numbers["denominator_positive_closed_form"] != "all d > 0":
        assert r.numbers["denominator_positive_from_d"] == pytest.approx(
            max(D.D_MIN, r.numbers["denominator_positive_closed_form_value"]), rel=1e-9
        )
    # finite difference in |Ā| where the printed denominator is positive
    f = _sens(method, "decl", source)
    d = 2 * max(r.numbers["denominator_positive_from_d"], D.D_MIN)
    numbers = {**r.numbers, **trh}
    with mpmath.workdps(50):
        lo = _at(f, d, {**numbers, "Abar": params["Abar"]})
        hi = _at(f, d, {**numbers, "Abar": params["Abar"] * 1.01})
    assert hi < lo


# ---- Theorem 4.6 -------------------------------------------------------------------
@pytest.mark.parametrize("method", P.METHODS)
def test_thm46_defaults_and_equality(method: str) -> None:
    trh = {"eta": 0.5} if method == "CL2" else {}
    r = D.thm46_printed(method, p=0.75, Abar=3, N=6, kappa=4, **trh)
    n = r.numbers
    assert r.holds is True and n["equality_residual"] == "0" and n["diff_sign_generic"] == "positive"
    assert n["threshold_d"] == n["threshold_d_grid"] == n["threshold_closed_form"] == 2.0
    assert n["implied_threshold"] == pytest.approx(0.75**20, rel=1e-12)


def test_thm46_proof_forms_break_the_equality_case() -> None:
    r = D.thm46_printed("CL1", p=0.75, Abar=3, N=6, kappa=4, source="proof")
    assert r.holds is False
    assert r.numbers["equality_residual"] != "0"
    assert r.numbers["diff_sign_generic"] == "positive"  # the inequality part still holds
    assert D.thm46_printed("MIM", source="proof").holds is True  # Eq. 62 prints the plus sign


def test_thm46_closed_form_against_both_searches() -> None:
    # d* = (K_M |Ā| / (2p(1-p)))^20 = (1 * 3 / 0.375)^20 = 8^20
    r = D.thm46_printed("MIM", {"K_M": 1.0}, p=0.75, Abar=3, N=6, kappa=4)
    n = r.numbers
    assert n["threshold_closed_form"] == pytest.approx(8.0**20, rel=1e-12)
    assert n["threshold_d"] == pytest.approx(8.0**20, rel=1e-12)
    assert n["threshold_d_grid"] == pytest.approx(8.0**20, rel=1e-9)
    # tr(H) = eta d: d* = (K_C |Ā| / eta)^(20/21)
    r = D.thm46_printed("CL2", {"K_C": 5.0}, p=0.75, Abar=3, N=6, kappa=4, eta=0.5)
    assert r.numbers["threshold_d"] == pytest.approx(30.0 ** (20 / 21), rel=1e-12)
    assert r.numbers["threshold_d_grid"] == pytest.approx(30.0 ** (20 / 21), rel=1e-9)


@given(params=admissible(), method=st.sampled_from(P.METHODS))
@example(params=_DEFAULTS, method="MIM")
def test_thm46_sdec_at_least_sfed_beyond_threshold(params: dict[str, float], method: str) -> None:
    consts, kw = _split(params)
    trh = {"trH": params["trH"]} if method == "CL2" else {}
    r = D.thm46_printed(method, consts, grid_per_decade=0, **kw, **trh)
    assert r.holds is True
    thr = r.numbers["threshold_d"]
    assert thr == pytest.approx(r.numbers["threshold_closed_form"], rel=1e-9)
    numbers = {**r.numbers, **trh}
    s_dec, s_fed = _sens(method, "decl"), _sens(method, "fl")
    with mpmath.workdps(50):
        for factor in (1.0001, 3.0, 1e3, 1e9):
            d = thr * factor
            assert _at(s_dec, d, numbers) >= _at(s_fed, d, numbers), (d, thr)
    if thr > 2 * D.D_MIN:  # and it fails just below the threshold
        with mpmath.workdps(50):
            assert _at(s_dec, thr * 0.999, numbers) < _at(s_fed, thr * 0.999, numbers)


# ---- vacuity -----------------------------------------------------------------------
def test_vacuity_of_fl_bound_with_large_theta_constant() -> None:
    r = D.vacuity_threshold("MIM", "fl", {"K_M": 1.0}, p=0.75, Abar=3, kappa=4)
    n = r.numbers
    assert r.claim_id == "thm4.2-fl" and r.holds is True
    # the FL denominator 0.375 d^(2/5) - d^(7/20) + d^(-2/5) turns positive near (1/0.375)^20
    assert n["denominator_positive_from_d"] == pytest.approx((1 / 0.375) ** 20, rel=1e-3)
    assert n["threshold_d"] >= n["denominator_positive_from_d"]
    assert n["threshold_d_grid"] == pytest.approx(n["threshold_d"], rel=1e-9)
    f = P.to_numeric(P.lower_bound("MIM", "fl"), "mpmath")
    with mpmath.workdps(50):
        for d in (n["threshold_d"] * 1.001, n["threshold_d"] * 1e6):
            assert 0 < f(d=d, p=0.75, C_M=1.0, K_M=1.0) < 1
        assert not 0 < f(d=n["threshold_d"] * 0.999, p=0.75, C_M=1.0, K_M=1.0) < 1


@pytest.mark.parametrize("method", P.METHODS)
@pytest.mark.parametrize("framework", P.FRAMEWORKS)
def test_vacuity_defaults(method: str, framework: str) -> None:
    trh = {"eta": 0.5} if method == "CL2" else {}
    r = D.vacuity_threshold(method, framework, p=0.75, Abar=3, kappa=4, grid_per_decade=0, **trh)
    assert r.holds is True and r.numbers["threshold_d"] == 2.0


def test_root_bisection_is_exact_for_binary_float_coefficients() -> None:
    """Thresholds refine isolating intervals by exact bisection: the interval keeps the root and
    reaches the requested width, also for coefficients with 2^52 denominators (which made
    sympy's continued-fraction refinement take minutes)."""
    t = sp.Symbol("t")
    c = sp.Rational(0.1)  # 3602879701896397/36028797018963968
    poly = sp.Poly((t - 3 * c) * (t**2 + c) * (t - sp.Rational(7, 3)), t)
    eps = sp.Rational(1, 10**18)
    for (lo, hi), _ in poly.intervals():
        a, b = D._bisect_root(poly, lo, hi, eps)
        assert b - a <= eps and lo <= a <= b <= hi
        assert poly.eval(a) * poly.eval(b) <= 0  # the root is still inside
