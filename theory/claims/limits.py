"""Finite d and the limit: the two readings of an asymptotic claim at the exact level.

Theorems 4.2-4.4, Corollary 4.5 and Theorem 4.6 are stated "as d grows". Each has a deciding
margin m(d) (positive when the claim holds at that d). Two readings:

* **at this d**: the sign of m(d) at the configured d;
* **as d grows**: m on the grid d, 2d, 4d, ... up to the largest d the exact level is asked to
  reach (``Context.limit_d_max`` for block-structured exact X matrices, ``limit_dense_d_max``
  for dense ones, O(d³) each), its sign pattern and its fitted trend |m| ∝ d^a over the points
  of the last sign. The exact level is called at each d (``Analysis.at_dimension``), so a faster
  exact level only makes the grid reach further.

Rules of the "as d grows" verdict (S_TOL as at one d):

* the last point ILL-POSED (m only known to lie in an interval containing 0): ILL-POSED;
* one point only: INCONCLUSIVE, the exact level was not asked to reach beyond d;
* m of the right sign at the largest d reached: HOLDS (as far as reached; the text says from
  which d on when the sign changed along the grid);
* m of the wrong sign at the largest d: FAILS, except when |m| decays (a < -BOUNDED_SLOPE)
  and the claim is a non-strict inequality: then lim m = 0 satisfies it, the grid cannot decide
  the sign of the limit, and the reading is INCONCLUSIVE ("consistent with the limit").
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ..analysis import Analysis
from ..verdict import Verdict, combine
from .common import BOUNDED_SLOPE, S_TOL
from .context import Context, is_dense

# A margin is (low, high): equal when well posed, an interval when the subspace is tied.
Margin = tuple[float, float]


def up_grid(d: int, d_max: int) -> list[int]:
    """d, 2d, 4d, ... <= d_max."""
    out = [d]
    while out[-1] * 2 <= d_max:
        out.append(out[-1] * 2)
    return out


def reach(ctx: Context, objectives: Sequence[str]) -> int:
    """The largest d the limit reading of cells of these objectives asks of the exact level."""
    an = ctx.analysis
    d = an.cfg.d
    structured_max = ctx.limit_d_max or d
    dense_max = ctx.limit_dense_d_max or d
    return min(dense_max if is_dense(an, o) else structured_max for o in objectives)


def margin_series(ctx: Context, objectives: Sequence[str], fn: Callable[[Analysis], Margin]) -> tuple[list[int], list[Margin]]:
    """m(d) on the grid d, 2d, ... that the exact level affords for these objectives."""
    an = ctx.analysis
    ds = up_grid(an.cfg.d, reach(ctx, objectives))
    return ds, [fn(an if dd == an.cfg.d else an.at_dimension(dd)) for dd in ds]


def _sign(m: Margin, strict: bool, tol: float = S_TOL) -> int:
    """+1 right sign, -1 wrong sign, 0 undetermined (an interval across the boundary)."""
    lo, hi = m
    if strict:
        if lo > tol:
            return 1
        if hi <= tol:
            return -1
    else:
        if lo >= -tol:
            return 1
        if hi < -tol:
            return -1
    return 0


def _trend(ds: Sequence[int], ms: Sequence[float]) -> float:
    """Least-squares slope a of log|m| against log d (nan with fewer than 2 non-zero points)."""
    pts = [(math.log(d), math.log(abs(m))) for d, m in zip(ds, ms) if m != 0 and math.isfinite(m)]
    if len(pts) < 2:
        return math.nan
    x, y = np.array(pts).T
    return float(np.polyfit(x, y, 1)[0])


def read(ds: Sequence[int], ms: Sequence[Margin], strict: bool, dense_note: bool = False, tol: float = S_TOL) -> dict:
    """Both readings of one cell from its margins on the grid (see the module docstring)."""
    signs = [_sign(m, strict, tol) for m in ms]
    mid = [0.5 * (lo + hi) for lo, hi in ms]
    at_d = {1: Verdict.HOLDS, -1: Verdict.FAILS, 0: Verdict.ILL_POSED}[signs[0]]
    out = {"d_grid": list(ds), "margin": [list(m) if m[0] != m[1] else m[0] for m in ms],
           "sign_pattern": "".join({1: "+", -1: "-", 0: "?"}[s] for s in signs),
           "at_d": at_d.value, "strict": strict}
    last = signs[-1]
    if last == 0:
        v, text = Verdict.ILL_POSED, f"not defined at d={ds[-1]} (tied subspace)"
        out.update(as_d_grows=v.value, trend=text)
        return out
    if len(ds) == 1:
        why = ("the exact level holds this X dense (O(d³)); --limit-dense-d-max reaches further"
               if dense_note else "the exact level was not asked beyond d (--limit-d-max)")
        out.update(as_d_grows=Verdict.INCONCLUSIVE.value, trend=f"d={ds[0]} only: {why}")
        return out
    tail = len(signs)
    while tail > 0 and signs[tail - 1] == last:
        tail -= 1
    a = _trend(ds[tail:], mid[tail:])
    out["trend_exponent"] = a
    sgn = "⁺" if last > 0 else "⁻"
    if math.isnan(a):
        shape = "m = 0 at the last points" if all(m == 0 for m in mid[tail:]) else "too few points to fit"
    elif a < -BOUNDED_SLOPE:
        shape = f"m → 0{sgn} like d^{a:.2g}"
    elif a > BOUNDED_SLOPE:
        shape = f"|m| grows like d^{a:.2g}"
    else:
        shape = f"m ≈ {mid[-1]:.3g}, flat in d"
    reached = f"d={ds[0]}..{ds[-1]}"
    if last > 0:
        v = Verdict.HOLDS
        text = f"holds at every d reached ({reached}); {shape}" if tail == 0 else (
            f"holds from d={ds[tail]} to {ds[-1]} (fails below); {shape}")
    elif not strict and not math.isnan(a) and a < -BOUNDED_SLOPE:
        v = Verdict.INCONCLUSIVE
        text = (f"fails at every d reached ({reached}) but {shape}: consistent with the limit lim m = 0, "
                "which a finite grid cannot tell from a small negative limit" if tail == 0 else
                f"fails from d={ds[tail]} on, {shape}: consistent with lim m = 0")
    else:
        v = Verdict.FAILS
        text = f"fails at every d reached ({reached}); {shape}" if tail == 0 else (
            f"fails from d={ds[tail]} to {ds[-1]}; {shape}")
    out.update(as_d_grows=v.value, trend=text)
    return out


def summarise(cells: dict[str, dict], headline: Callable[[str], bool]) -> tuple[Verdict, Verdict, str]:
    """(at-d verdict, as-d-grows verdict, text naming the deciding cell) over the headline cells."""
    head = {k: c for k, c in cells.items() if headline(k)} or cells
    at_d = combine(Verdict(c["at_d"]) for c in head.values())
    grows = combine(Verdict(c["as_d_grows"]) for c in head.values())
    key = next((k for k, c in head.items() if c["as_d_grows"] == grows.value), next(iter(head)))
    c = head[key]
    return at_d, grows, f"{key}: {c['sign_pattern']} on d={c['d_grid'][0]}..{c['d_grid'][-1]}, {c['trend']}"
