"""Trained linear models at the sampled level (``python -m theory.verify --train``).

The JAX solvers live in ``linear_models`` (optional dependency group ``linear``); this
module only merges their verdicts into the report, as extra entries of the sampled level.
"""

from __future__ import annotations

from typing import Any

from .claims.context import Context
from .errors import ParameterError
from .verdict import ClaimResult, LevelResult, Verdict, combine


def trained_checks(ctx: Context, results: list[ClaimResult]) -> list[ClaimResult]:
    try:
        from linear_models.checks import sampled_checks
    except ImportError as exc:  # jax missing
        raise ParameterError("--train", "used with jax installed (pip install -e '.[linear]')", str(exc)) from exc
    rows: list[dict[str, Any]] = sampled_checks(ctx.cfg, ctx.analysis.topology, ctx.analysis.seed)
    by_claim: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_claim.setdefault(row["claim"], []).append(row)
    out = []
    for res in results:
        extra = by_claim.pop(res.id, [])
        if not extra:
            out.append(res)
            continue
        levels = dict(res.levels)
        base = levels["sampled"]
        trained_verdict = combine(Verdict(r["verdict"]) for r in extra)
        levels["sampled"] = LevelResult(
            combine([base.verdict, trained_verdict]) if base.verdict is not Verdict.NA else trained_verdict,
            f"{base.summary} | trained: {trained_verdict.value}",
            {**base.numbers, "trained": extra},
        )
        out.append(ClaimResult(res.id, res.statement, levels))
    for cid, extra in by_claim.items():  # trained checks of claims not in the registry
        v = combine(Verdict(r["verdict"]) for r in extra)
        out.append(ClaimResult(cid, f"trained linear models: {cid}", {
            "printed": LevelResult(Verdict.NA, "trained-model check only", {}),
            "exact": LevelResult(Verdict.NA, "trained-model check only", {}),
            "sampled": LevelResult(v, f"trained: {v.value}", {"trained": extra}),
        }))
    return out
