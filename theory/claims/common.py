"""Numerical helpers shared by the claim checks: smallest hidden constants and their growth."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..verdict import Verdict

# A hidden O(.)-constant counts as bounded in d when the log-log slope of the smallest
# admissible constant C*(d) over the d-grid is at most this. The exact forms of this model
# give slopes within 0.05 of 0 when bounded and at least 0.3 when they grow.
BOUNDED_SLOPE = 0.1
# Relative residual below which two exact matrices count as equal.
REL_TOL = 1e-6
# Sensitivities closer than this are treated as equal (they are sums of squared
# eigenvector entries, accurate to ~1e-13).
S_TOL = 1e-9


def smallest_lb_constant(r_min: float, lead: float, order: float) -> float:
    """Smallest C with r_min >= 1 - C·order / (lead + C·order), i.e. lead/(lead + C·order) <= r_min.

    ``lead`` is the printed denominator without the O-term, ``order`` the printed order
    (d^(-2/5) or d^(-1/5)). Returns 0 when r_min >= 1 and inf when r_min <= 0 or lead <= 0.
    """
    if lead <= 0:
        return math.inf
    if r_min >= 1.0 - 1e-12:  # r = 1 up to rounding: no constant is needed
        return 0.0
    if r_min <= 0.0:
        return math.inf
    return lead * (1.0 - r_min) / (order * r_min)


def loglog_slope(ds: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of log(value) against log(d); inf if a value is infinite, 0 if all are 0."""
    v = np.asarray(values, dtype=float)
    if np.any(np.isinf(v)):
        return math.inf
    if np.all(v <= 0):
        return 0.0
    mask = v > 0
    if mask.sum() < 2:
        return 0.0 if v[-1] <= 0 else math.inf
    x = np.log(np.asarray(ds, dtype=float)[mask])
    y = np.log(v[mask])
    return float(np.polyfit(x, y, 1)[0])


def constant_verdict(cstar_at_d: float, slope: float) -> Verdict:
    """HOLDS when a finite constant works and stays bounded as d grows, else FAILS."""
    if math.isinf(cstar_at_d) or slope > BOUNDED_SLOPE:
        return Verdict.FAILS
    return Verdict.HOLDS


def compare_intervals(a_low: float, a_high: float, b_low: float, b_high: float,
                      strict: bool) -> Verdict:
    """Verdict of a > b (strict) or a >= b given a in [a_low, a_high], b in [b_low, b_high]."""
    if strict:
        if a_low > b_high + S_TOL:
            return Verdict.HOLDS
        if a_high <= b_low + S_TOL:
            return Verdict.FAILS
    else:
        if a_low >= b_high - S_TOL:
            return Verdict.HOLDS
        if a_high < b_low - S_TOL:
            return Verdict.FAILS
    return Verdict.ILL_POSED


def doubling_grid(d: int, below: int = 3, above: int = 2, floor: int = 32) -> list[int]:
    """d / 2^below, ..., d, ..., d 2^above, keeping values >= ``floor``."""
    grid = [int(d * 2.0**k) for k in range(-below, above + 1)]
    return sorted({g for g in grid if g >= floor} | {d})
