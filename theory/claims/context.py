"""What every claim check receives: the analysis, the printed constants and the options."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

import numpy as np

from ..analysis import Analysis
from ..stats import Settings


def is_dense(an: Analysis, objective: str) -> bool:
    """Whether the exact level holds this objective's X as a dense d x d matrix (O(d³) per cell)."""
    return isinstance(an.x_local("exact", objective)[0], np.ndarray)


@dataclass
class Context:
    analysis: Analysis
    constants: Mapping[str, float] = field(default_factory=dict)
    sampled: bool = True
    exact_grid: tuple[int, ...] = ()
    dense_grid: tuple[int, ...] = ()
    sampled_grid: tuple[int, ...] = ()
    stats: Settings = field(default_factory=Settings)
    # the largest d the "as d grows" readings of the asymptotic claims ask of the exact level,
    # for structured (block ⊕ scalar) and for dense exact X matrices; 0 = the default of verify
    limit_d_max: int = 0
    limit_dense_d_max: int = 0
    # progress inside a long claim (one call per graph of an exhaustive graph search): what, done, total
    tick: Callable[[str, int, int], None] | None = field(default=None, repr=False, compare=False)

    def progress(self, what: str, done: int, total: int) -> None:
        """Report progress inside a claim (a no-op unless the caller asked for it)."""
        if self.tick is not None:
            self.tick(what, done, total)

    def grid(self, level: str, objective: str) -> tuple[int, ...]:
        """The dimensions at which a level checks a growth claim of ``objective``: the sampled grid,
        or the exact grid (the dense grid where the exact level holds this X dense, O(d³) each:
        CL2 with a non-circulant user H)."""
        if level == "sampled":
            grid = self.sampled_grid
        else:
            grid = self.dense_grid if is_dense(self.analysis, objective) else self.exact_grid
        return tuple(grid) or (self.d,)

    def with_replicate(self, replicate: int) -> "Context":
        """The same context on replicate ``replicate`` of the sampled data."""
        return replace(self, analysis=self.analysis.with_replicate(replicate))

    @property
    def cfg(self):  # noqa: ANN201 - NonIIDModelConfig
        return self.analysis.cfg

    @property
    def d(self) -> int:
        return self.analysis.cfg.d
