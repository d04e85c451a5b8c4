"""Verdicts and per-level results of the claim registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Mapping

from .io import jsonable

LEVELS: tuple[str, ...] = ("printed", "exact", "sampled")


class Verdict(str, Enum):
    HOLDS = "HOLDS"
    FAILS = "FAILS"
    VACUOUS = "VACUOUS"
    ILL_POSED = "ILL-POSED"
    INCONCLUSIVE = "INCONCLUSIVE"
    NA = "N/A"

    def __str__(self) -> str:
        return self.value


# When sub-checks are combined into one verdict, the most severe wins: one cell that FAILS beyond
# the noise makes a claim fail; a cell that is undecided (INCONCLUSIVE) keeps a claim from holding.
_SEVERITY = {Verdict.FAILS: 5, Verdict.ILL_POSED: 4, Verdict.INCONCLUSIVE: 3, Verdict.VACUOUS: 2,
             Verdict.HOLDS: 1, Verdict.NA: 0}


def combine(verdicts: Iterable[Verdict | str]) -> Verdict:
    """The most severe of ``verdicts`` (members or their values, e.g. "ILL-POSED"), for every package.

    **The empty set is N/A**: no sub-check applied, so there is nothing to support or refute the
    claim. N/A is the least severe verdict, so it is the identity of this rule: combining the
    combined verdicts of the parts of a set gives the verdict of the whole set, empty parts
    included. (HOLDS would assert a claim from no evidence; ILL-POSED would say the quantity is
    undefined, which an absent check does not show, and would let an empty part hide a HOLDS.)
    """
    vs = [Verdict(v) for v in verdicts]
    if not vs:
        return Verdict.NA
    return max(vs, key=lambda v: _SEVERITY[v])


@dataclass(frozen=True)
class LevelResult:
    """The verdict of one claim at one level, a one-line summary and the numbers behind it."""

    verdict: Verdict
    summary: str
    numbers: Mapping[str, Any] = field(default_factory=dict)
    # the signed deciding margins behind the verdict (``theory.stats.Decision``), from which
    # the sampled level's verdict over replicates is computed; not part of the JSON itself
    decisions: tuple[Any, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "summary": self.summary, **jsonable(dict(self.numbers))}


def not_applicable(reason: str) -> LevelResult:
    return LevelResult(Verdict.NA, reason, {"reason": reason})


@dataclass(frozen=True)
class ClaimResult:
    id: str
    statement: str
    levels: Mapping[str, LevelResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "levels": {lvl: self.levels[lvl].to_dict() for lvl in LEVELS if lvl in self.levels},
        }
