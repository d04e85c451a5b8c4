"""What every claim check receives: the analysis, the printed constants and the options."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

from ..analysis import Analysis
from ..stats import Settings


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

    def with_replicate(self, replicate: int) -> "Context":
        """The same context on replicate ``replicate`` of the sampled data."""
        return replace(self, analysis=self.analysis.with_replicate(replicate))

    @property
    def cfg(self):  # noqa: ANN201 - ModelConfig
        return self.analysis.cfg

    @property
    def d(self) -> int:
        return self.analysis.cfg.d
