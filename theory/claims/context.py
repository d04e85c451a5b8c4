"""What every claim check receives: the analysis, the printed constants and the options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..analysis import Analysis


@dataclass
class Context:
    analysis: Analysis
    constants: Mapping[str, float] = field(default_factory=dict)
    sampled: bool = True
    exact_grid: tuple[int, ...] = ()
    dense_grid: tuple[int, ...] = ()
    sampled_grid: tuple[int, ...] = ()

    @property
    def cfg(self):  # noqa: ANN201 - ModelConfig
        return self.analysis.cfg

    @property
    def d(self) -> int:
        return self.analysis.cfg.d
