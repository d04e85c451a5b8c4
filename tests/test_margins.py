"""theory.margins: a margin curve reads signs with the claims' tolerance (theory.claims.common.S_TOL)."""

from __future__ import annotations

from theory.claims import limits
from theory.claims.common import S_TOL
from theory.margins import summarise


def _curve(values: list[float]):
    grid = [512 * 2**i for i in range(len(values))]
    return summarise("thm4.6", {}, grid, values, values, values, [True] * len(values), [1.0] * len(values), 1e-10)


def test_sign_pattern_counts_a_margin_within_s_tol_as_zero_and_beyond_it_as_a_sign():
    curve = _curve([3 * S_TOL, -3 * S_TOL, 0.5 * S_TOL, -0.5 * S_TOL])
    assert curve.sign_pattern == "+-00"
    assert curve.reading.startswith(f"0 within {S_TOL:g}")


def test_determined_signs_agree_with_the_claims_limit_reading():
    # values beyond ±S_TOL: the curve's +/- must be the claim reading's +/- (non-strict comparison)
    values = [2e-9, 5e-8, -4e-9, -1e-6, 3e-5]
    curve = _curve(values)
    reading = limits.read([512 * 2**i for i in range(len(values))], [(v, v) for v in values], strict=False)
    assert curve.sign_pattern == reading["sign_pattern"] == "++--+"
    assert curve.last_sign_change == (4096, 8192)
