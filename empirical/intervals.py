"""Interval arithmetic for replicated experiments: means with t intervals, verdicts, correlations.

Pure functions on numbers (no files, no torch). Every interval here is two-sided at ``level``
(default 95 %):

* :func:`mean_interval`: the mean of independent replicates with its standard error and the
  Student-t interval ``mean ± t_{n-1, (1+level)/2} · sd / √n`` (``sd`` with n - 1 in the
  denominator). Paired comparisons (IID vs skewed run of the same replicate, method A vs
  method B in the same replicate) are passed as their per-replicate differences.
* :func:`verdict`: "supported" when the interval lies entirely on the side the claim predicts,
  "contradicted" when it lies entirely on the other side, "not supported" when it contains 0
  (the effect is not beyond the replicate noise; more replicates would resolve it).
* :func:`correlation_interval`: Pearson's r with the Fisher-z interval
  ``tanh(atanh r ± z_{(1+level)/2} / √(n - 3))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import stats

from theory.errors import require

__all__ = [
    "Interval",
    "Correlation",
    "mean_interval",
    "verdict",
    "correlation_interval",
    "Verdict",
]

Verdict = Literal["supported", "not supported", "contradicted"]


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` replicates, its standard error and a two-sided ``level`` interval [lo, hi]
    (``method`` "t": Student t with n - 1 degrees of freedom). With n = 1 the SE and interval
    are NaN (one replicate says nothing about the noise)."""

    mean: float
    se: float
    lo: float
    hi: float
    n: int
    level: float
    method: str = "t"

    def excludes_zero(self) -> bool:
        return bool(self.n >= 2 and (self.lo > 0 or self.hi < 0))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def fmt(self, scale: float = 100.0, digits: int = 1, within: tuple[float, float] | None = None) -> str:
        """``"+2.3 ± 0.8 [+0.5, +4.1]"`` (values times ``scale``, e.g. percentage points).

        ``within``: the range the quantity cannot leave (e.g. (0, 1) for an accuracy); the printed
        interval is the t interval intersected with it (still a ``level`` interval, since the true
        value lies in the range; with n = 2 the t interval alone can reach beyond 100 %)."""
        if self.n < 2:
            return f"{self.mean * scale:+.{digits}f} (n=1)"
        lo, hi = self.lo, self.hi
        if within is not None:
            lo, hi = max(lo, within[0]), min(hi, within[1])
        return (
            f"{self.mean * scale:+.{digits}f} ± {self.se * scale:.{digits}f} "
            f"[{lo * scale:+.{digits}f}, {hi * scale:+.{digits}f}]"
        )


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean, standard error and the t interval of independent replicate values (NaNs dropped)."""
    require(0.0 < level < 1.0, "level", "in (0, 1)", level)
    x = np.asarray([float(v) for v in values], dtype=np.float64)
    x = x[np.isfinite(x)]
    require(x.size >= 1, "values", "at least one finite value", list(values))
    n = int(x.size)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, float("nan"), float("nan"), float("nan"), n, level)
    se = float(x.std(ddof=1) / math.sqrt(n))
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * se
    return Interval(mean, se, mean - half, mean + half, n, level)


def verdict(interval: Interval, predicted_sign: int = 1) -> Verdict:
    """The claim "the effect has sign ``predicted_sign``" (+1 or -1) judged by ``interval``."""
    require(predicted_sign in (1, -1), "predicted_sign", "+1 or -1", predicted_sign)
    if not interval.excludes_zero():
        return "not supported"
    side = 1 if interval.lo > 0 else -1
    return "supported" if side == predicted_sign else "contradicted"


@dataclass(frozen=True)
class Correlation:
    """Pearson's r of ``n`` pairs with its Fisher-z ``level`` interval (NaN when n < 4 or a
    variable is constant)."""

    r: float
    lo: float
    hi: float
    n: int
    level: float
    method: str = "pearson, fisher-z"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def fmt(self) -> str:
        if not math.isfinite(self.lo):
            return f"r = {self.r:+.2f} (n={self.n}, no interval)"
        return f"r = {self.r:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}] (n={self.n})"


def correlation_interval(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> Correlation:
    """Pearson correlation of paired values (pairs with a NaN dropped) and its Fisher-z interval."""
    require(0.0 < level < 1.0, "level", "in (0, 1)", level)
    a = np.asarray([float(v) for v in x], dtype=np.float64)
    b = np.asarray([float(v) for v in y], dtype=np.float64)
    require(a.shape == b.shape, "x, y", "sequences of the same length", (a.size, b.size))
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    if n < 3 or a.std() == 0 or b.std() == 0:
        return Correlation(float("nan"), float("nan"), float("nan"), n, level)
    r = float(np.corrcoef(a, b)[0, 1])
    if n < 4 or abs(r) >= 1.0:
        return Correlation(r, float("nan"), float("nan"), n, level)
    z, half = math.atanh(r), float(stats.norm.ppf(0.5 + level / 2.0)) / math.sqrt(n - 3)
    return Correlation(r, math.tanh(z - half), math.tanh(z + half), n, level)
