"""Sensitivity cells shared by the theorem checks (Thm 4.4, Cor 4.5, Thm 4.6): one (objective,
framework, graph, coordinate set) cell's s, its identification at the sampled level, and the
readings of a set of cells.
"""

from __future__ import annotations

from typing import Callable

from ..analysis import Analysis
from ..graphs import Topology
from ..stats import Identification, worst_identification
from . import limits

CL_VARIANTS = ("CL1", "CL2")


def sens(an: Analysis, level: str, method: str, framework: str, coords: str,
          topology: Topology | None = None):
    return an.sensitivity(level, method, framework, coords, topology=topology)


def identification_of(an: Analysis, level: str, cells: list[tuple[str, str, Topology | None]]) -> Identification | None:
    """Sampled level: the least identified of the cells (objective, framework, graph) a margin uses."""
    if level != "sampled":
        return None
    return worst_identification([an.identification(o, f, topology=t) for o, f, t in cells])


def interval(s) -> list[float]:  # noqa: ANN001 - Sensitivity
    return [s.low, s.high]


def read_cells(cells: dict[str, dict], headline: Callable[[str], bool]) -> dict:
    at_d, grows, text = limits.summarise(cells, headline)
    return {"at_d": at_d.value, "as_d_grows": grows.value, "text": text, "cells": cells}


def edges_text(edges: list[list[int]] | tuple[tuple[int, int], ...]) -> str:
    """A graph's edges as the --edges option writes them: 0-1,1-2,..."""
    return ",".join(f"{int(i)}-{int(j)}" for i, j in edges)


def fmt_sensitivity(s: dict) -> str:
    if s["well_posed"]:
        return f"{s['s']:.3g}"
    lo, hi = s["s_interval"]
    return f"[{lo:.3g}, {hi:.3g}]"
