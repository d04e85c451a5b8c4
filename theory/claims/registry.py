"""The registry of claims: every step id and claim id of the spec, checked at three levels.

Each entry maps an id to its statement and a check ``(Context, level) -> LevelResult``.
Ids are those of THEORY.md Sections 5-6, plus ``eq27-28-neighbourhood``, ``eq3-eq4-forms``
and ``a5-rank-c`` for questions Section 6 asks that no printed id covers.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..errors import require
from ..stats import aggregate
from ..verdict import LEVELS, ClaimResult, LevelResult, Verdict
from . import printed_level as pl
from . import steps, theorems
from .context import Context

Check = Callable[[Context, str], LevelResult]


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    check: Check


def _levels(printed: Callable[[Context], LevelResult], other: Check) -> Check:
    def check(ctx: Context, level: str) -> LevelResult:
        return printed(ctx) if level == "printed" else other(ctx, level)
    return check


CLAIMS: tuple[Claim, ...] = (
    Claim("eq16-stationarity", "Stationarity of the pair-form objective gives X = WᵀW (Eq. 16).",
          _levels(pl.eq16_printed, steps.eq16_level)),
    Claim("eym-top-c", "Minimising the pair form is the rank-c approximation of X: row(W*) = top-c eigenvectors.",
          _levels(pl.eym_printed, steps.eym_level)),
    Claim("a5-rank-c", "Assumption A.5: the minimisers have rank c.",
          _levels(pl.a5_printed, steps.rank_c_level)),
    Claim("eq17-mim-matrix", "X_i^M = 2p(1-p) (1/|D_i|) Σ_j Diag(x_j)² (Eq. 17).",
          _levels(pl.eq17_printed, steps.eq17_level)),
    Claim("eq18-mim-expectation", "E[X_i^M] = diag(2p(1-p)τ² on [N]∖{i}, 2p(1-p) at i, O(d^-2/5) elsewhere) (Eq. 18).",
          _levels(pl.eq18_printed, steps.xmatrix_level("MIM"))),
    Claim("eq44-cl-expectation", "E[X_i^C] = diag(d^(2/5) on [N]∖{i}, 1 at i, O(d^-1/5) elsewhere) (Eq. 44).",
          _levels(pl.eq44_printed, steps.xmatrix_level("CL1"))),
    Claim("eq56-cl-dissimilar", "E[X_i^C'] = tr(H) times the Eq. 44 diagonal (Eq. 56).",
          _levels(pl.eq56_printed, steps.xmatrix_level("CL2"))),
    Claim("eq20-concentration", "‖X_i - E X_i‖₂ <= O(d^-2/5) (MIM), O(d^-1/5) (CL) with high probability (Eq. 20).",
          _levels(pl.eq20_printed, steps.eq20_level)),
    Claim("eq19-24-rv-bound", "Eqs. 19-24 bound r_k from below through Σ_{j=1}^{d} (e_kᵀv_j)².",
          _levels(pl.eq19_printed, steps.eq19_level)),
    Claim("eq25-26-decl-objective", "The DecL objective of Eq. 1 has the minimisers of ‖(1/N)Σ_i X̄_i - WᵀW‖² (Eqs. 25-26).",
          _levels(pl.eq25_printed, steps.eq25_level)),
    Claim("eq27-28-neighbourhood", "The neighbourhood average X̄_i has the diagonal of Eq. 27, by the identity of Eq. 28.",
          _levels(pl.eq28_printed, steps.eq27_level)),
    Claim("eq29-30-decl-average", "(1/N) Σ_i 1/|A_i| = 1/|Ā| (printed as |Ā|) (Eqs. 29-30).",
          _levels(pl.eq29_printed, steps.eq29_level)),
    Claim("eq36-37-fl-average", "((N-1)2p(1-p)d^(2/5) + 2p(1-p))/N = 2p(1-p)d^(2/5) - Θ(d^(7/20)) with N = Θ(d^(1/20)) (Eqs. 36-37).",
          _levels(pl.eq37_printed, steps.eq37_level)),
    Claim("eq3-eq4-forms", "The alignment form (Eq. 4) stands for the MIM reconstruction objective (Eq. 3).",
          _levels(pl.eq3_printed, steps.eq3_eq4_level)),
    Claim("thm4.2-local", "Thm 4.2.1: local MIM RV r_{i,k} >= 1 - O(d^-2/5)/(2p(1-p)d^(2/5) + O(d^-2/5)), k in [N]∖{i}.",
          theorems.rv_bound_claim("MIM", "local")),
    Claim("thm4.2-decl", "Thm 4.2.2: DecL MIM RV >= 1 - O(d^-2/5)/(2p(1-p)(1-1/|Ā|)d^(2/5) + O(d^-2/5)).",
          theorems.rv_bound_claim("MIM", "decl")),
    Claim("thm4.2-fl", "Thm 4.2.2: FL MIM RV >= 1 - O(d^-2/5)/(2p(1-p)d^(2/5) - Θ(d^(7/20)) + O(d^-2/5)).",
          theorems.rv_bound_claim("MIM", "fl")),
    Claim("thm4.3-local", "Thm 4.3.1: local CL RV >= 1 - O(d^-1/5)/(d^(2/5) + O(d^-1/5)) (tr(H)d^(2/5) for dissimilar).",
          theorems.rv_bound_cells(("CL1", "CL2"), "local")),
    Claim("thm4.3-decl", "Thm 4.3.2: DecL CL RV >= 1 - O(d^-1/5)/((1-1/|Ā|)d^(2/5) + O(d^-1/5)) (times tr(H) for dissimilar).",
          theorems.rv_bound_cells(("CL1", "CL2"), "decl")),
    Claim("thm4.3-fl", "Thm 4.3.2: FL CL RV >= 1 - O(d^-1/5)/(d^(2/5) - Θ(d^(7/20)) + O(d^-1/5)) (tr(H) for dissimilar).",
          theorems.rv_bound_cells(("CL1", "CL2"), "fl")),
    Claim("thm4.4", "Thm 4.4: for any network, s^C > s^M as d -> inf (s over the leading c coordinates).",
          theorems.theorem_check(theorems.thm44_level, pl.thm44_printed)),
    Claim("cor4.5", "Cor 4.5: in DecL, s decreases as the average connectivity |Ā| grows.",
          theorems.theorem_check(theorems.cor45_level, pl.cor45_printed)),
    Claim("thm4.6", "Thm 4.6: s_Dec >= s_Fed as d -> inf, with equality when |A_i| = N.",
          theorems.theorem_check(theorems.thm46_level, pl.thm46_printed)),
)


def claim_ids() -> tuple[str, ...]:
    return tuple(c.id for c in CLAIMS)


def run_claims(ctx: Context, ids: Iterable[str] | None = None,
               progress: Callable[[str, str], None] | None = None,
               levels: Sequence[str] = LEVELS) -> list[ClaimResult]:
    """Run the selected claims at the given levels (default all). A crash inside a check stops
    the run with an internal error naming the claim and level, never a verdict.

    The sampled level runs every claim on each of ``ctx.stats.replicates`` independent draws,
    replicate after replicate (one replicate's sampled matrices in memory at a time), and states
    each claim's verdict from the replicates (``theory.stats.aggregate``)."""
    require(all(lv in LEVELS for lv in levels), "levels", f"a subset of {LEVELS}", list(levels))
    wanted = set(ids) if ids is not None else None
    chosen = [lv for lv in LEVELS if lv in levels]
    claims = [c for c in CLAIMS if wanted is None or c.id in wanted]
    results: dict[str, dict[str, LevelResult]] = {c.id: {} for c in claims}

    def run(claim: Claim, context: Context, level: str) -> LevelResult:
        try:
            return claim.check(context, level)
        except Exception as exc:  # noqa: BLE001 - reported, with traceback, as an internal error
            raise RuntimeError(f"internal error in claim {claim.id} at level {level}: {exc}\n"
                               f"{traceback.format_exc()}") from exc

    for level in chosen:
        if level == "sampled":
            continue
        for claim in claims:
            if progress:
                progress(claim.id, level)
            results[claim.id][level] = run(claim, ctx, level)
    if "sampled" in chosen:
        if not ctx.sampled:
            for claim in claims:
                results[claim.id]["sampled"] = LevelResult(Verdict.NA, "sampled level skipped (--no-sampled)",
                                                           {"reason": "skipped"})
        else:
            per_rep: dict[str, list[LevelResult]] = {c.id: [] for c in claims}
            for r in range(ctx.stats.replicates):
                rctx = ctx.with_replicate(r)
                for claim in claims:
                    if progress:
                        progress(claim.id, f"sampled {r + 1}/{ctx.stats.replicates}")
                    per_rep[claim.id].append(run(claim, rctx, "sampled"))
                ctx.analysis.forget_replicate(r)
            for claim in claims:
                results[claim.id]["sampled"] = aggregate(per_rep[claim.id], ctx.stats)
    return [ClaimResult(c.id, c.statement, {lv: results[c.id][lv] for lv in chosen}) for c in claims]


def merge_levels(parts: Sequence[Sequence[ClaimResult]]) -> list[ClaimResult]:
    """Join results of the same claims computed at disjoint levels (e.g. in two processes)."""
    merged: dict[str, ClaimResult] = {}
    for part in parts:
        for r in part:
            have = merged.get(r.id)
            merged[r.id] = r if have is None else ClaimResult(r.id, r.statement, {**have.levels, **r.levels})
    return list(merged.values())
