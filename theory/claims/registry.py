"""The registry of claims: every step id and claim id of the spec, checked at three levels.

Each claim is defined and registered once, in the module of its block of the paper
(``stationarity``, ``xmatrices``, ``rv_bounds``, ``aggregation``, ``thm44``, ``cor45``,
``thm46``; see ``base``). Ids are those of THEORY.md Sections 5-6, plus
``eq27-28-neighbourhood``, ``eq3-eq4-forms`` and ``a5-rank-c`` for questions Section 6 asks
that no printed id covers. This module runs them (:func:`run_claims`).
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from typing import Callable, Iterable, Sequence

from ..errors import require
from ..stats import aggregate
from ..verdict import LEVELS, ClaimResult, LevelResult, Verdict

# the blocks of the paper, each registering its claims (printed, exact and sampled checks side by side)
from . import aggregation, cor45, rv_bounds, stationarity, thm44, thm46, xmatrices  # noqa: F401  (imported to register)
from .base import Claim, registered
from .context import Context

CLAIMS: tuple[Claim, ...] = registered()


def claim_ids() -> tuple[str, ...]:
    return tuple(c.id for c in CLAIMS)


def _select(ids: Iterable[str] | None) -> list[Claim]:
    wanted = set(ids) if ids is not None else None
    return [c for c in CLAIMS if wanted is None or c.id in wanted]


def _run(claim: Claim, context: Context, level: str) -> LevelResult:
    """One check; a crash is an internal error naming the claim and level, never a verdict."""
    try:
        return claim.check(context, level)
    except Exception as exc:  # noqa: BLE001 - reported, with traceback, as an internal error
        raise RuntimeError(f"internal error in claim {claim.id} at level {level}: {exc}\n"
                           f"{traceback.format_exc()}") from exc


def run_replicate(ctx: Context, ids: Iterable[str] | None, replicate: int,
                  progress: Callable[[str, str], None] | None = None) -> dict[str, LevelResult]:
    """The sampled checks of the selected claims on replicate ``replicate`` of the data (its
    sampled matrices are dropped afterwards; the exact ones stay cached in ``ctx``)."""
    rctx = ctx.with_replicate(replicate)
    out = {}
    for claim in _select(ids):
        if progress:
            progress(claim.id, f"sampled {replicate + 1}/{ctx.stats.replicates}")
        out[claim.id] = _run(claim, rctx, "sampled")
    ctx.analysis.forget_replicate(replicate)
    return out


def aggregate_replicates(ctx: Context, ids: Iterable[str] | None,
                         per_replicate: Sequence[dict[str, LevelResult]]) -> dict[str, LevelResult]:
    """Each claim's sampled LevelResult from its replicates, in replicate order (``theory.stats``);
    a claim over many graphs keeps saying over which (``graph_set``, the same in every replicate)."""
    out = {}
    for c in _select(ids):
        res = aggregate([rep[c.id] for rep in per_replicate], ctx.stats)
        graph_set = per_replicate[0][c.id].numbers.get("graph_set") if per_replicate else None
        if graph_set is not None:
            res = replace(res, summary=f"{res.summary}; taken {graph_set['text']}",
                          numbers={**res.numbers, "graph_set": graph_set})
        out[c.id] = res
    return out


def run_claims(ctx: Context, ids: Iterable[str] | None = None,
               progress: Callable[[str, str], None] | None = None,
               levels: Sequence[str] = LEVELS) -> list[ClaimResult]:
    """Run the selected claims at the given levels (default all). A crash inside a check stops
    the run with an internal error naming the claim and level, never a verdict.

    The sampled level runs every claim on each of ``ctx.stats.replicates`` independent draws,
    replicate after replicate (one replicate's sampled matrices in memory at a time), and states
    each claim's verdict from the replicates (``theory.stats.aggregate``)."""
    require(all(lv in LEVELS for lv in levels), "levels", f"a subset of {LEVELS}", list(levels))
    chosen = [lv for lv in LEVELS if lv in levels]
    claims = _select(ids)
    results: dict[str, dict[str, LevelResult]] = {c.id: {} for c in claims}
    for level in chosen:
        if level == "sampled":
            continue
        for claim in claims:
            if progress:
                progress(claim.id, level)
            results[claim.id][level] = _run(claim, ctx, level)
    if "sampled" in chosen:
        if not ctx.sampled:
            sampled = {c.id: skipped_sampled() for c in claims}
        else:
            reps = [run_replicate(ctx, ids, r, progress) for r in range(ctx.stats.replicates)]
            sampled = aggregate_replicates(ctx, ids, reps)
        for claim in claims:
            results[claim.id]["sampled"] = sampled[claim.id]
    return [ClaimResult(c.id, c.statement, {lv: results[c.id][lv] for lv in chosen}) for c in claims]


def skipped_sampled() -> LevelResult:
    return LevelResult(Verdict.NA, "sampled level skipped (--no-sampled)", {"reason": "skipped"})


def with_sampled(results: Sequence[ClaimResult], sampled: dict[str, LevelResult]) -> list[ClaimResult]:
    """Add the sampled level (computed elsewhere, e.g. in worker processes) to printed/exact results."""
    return [ClaimResult(r.id, r.statement, {**r.levels, "sampled": sampled[r.id]}) for r in results]
