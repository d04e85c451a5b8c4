"""What a claim is and how it is registered: one call per claim, in the module of its block.

A :class:`Claim` holds the check of each level side by side: ``printed(ctx)`` (the printed
algebra, symbolic) and ``computed(ctx, level)`` (the exact and the sampled level, which share
their code and differ only in the data they are given). Block modules register their claims
with the :func:`claim` decorator (on the computed check) or :func:`register`; the registry
(``theory.claims.registry``) imports the blocks and orders the claims by ``order`` (their
place in the paper's argument, used for the report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..verdict import LevelResult
from .context import Context

PrintedCheck = Callable[[Context], LevelResult]
ComputedCheck = Callable[[Context, str], LevelResult]


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    order: int
    printed: PrintedCheck
    computed: ComputedCheck

    def check(self, ctx: Context, level: str) -> LevelResult:
        """The claim at one level: the printed check, or the computed one at "exact" / "sampled"."""
        return self.printed(ctx) if level == "printed" else self.computed(ctx, level)


_REGISTRY: dict[str, Claim] = {}


def register(c: Claim) -> Claim:
    """Add a claim; an id or an order registered twice is an error (two files defining one claim)."""
    if c.id in _REGISTRY:
        raise ValueError(f"claim id {c.id!r} registered twice")
    clash = [o.id for o in _REGISTRY.values() if o.order == c.order]
    if clash:
        raise ValueError(f"claim {c.id!r}: order {c.order} already taken by {clash[0]!r}")
    _REGISTRY[c.id] = c
    return c


def claim(id: str, statement: str, *, order: int, printed: PrintedCheck) -> Callable[[ComputedCheck], ComputedCheck]:
    """Decorator registering the decorated exact/sampled check with its printed check."""
    def wrap(computed: ComputedCheck) -> ComputedCheck:
        register(Claim(id, statement, order, printed, computed))
        return computed
    return wrap


def registered() -> tuple[Claim, ...]:
    """Every registered claim, in report order."""
    return tuple(sorted(_REGISTRY.values(), key=lambda c: c.order))
