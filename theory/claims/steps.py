"""Former home of the exact/sampled checks of the proof steps; they now live with their claims
(``stationarity``, ``xmatrices``, ``rv_bounds``, ``aggregation``). These names are kept for code
written against the old layout (tests/test_counterexamples.py)."""

from __future__ import annotations

from .aggregation import eq25_level, eq27_level, eq29_level, eq37_level
from .common import REL_TOL
from .rv_bounds import eq19_level
from .stationarity import eq3_eq4_level, eq16_level, eym_level, rank_c_level
from .xmatrices import eq17_level, eq20_level, xmatrix_level

__all__ = ["REL_TOL", "eq3_eq4_level", "eq16_level", "eq17_level", "eq19_level", "eq20_level", "eq25_level",
           "eq27_level", "eq29_level", "eq37_level", "eym_level", "rank_c_level", "xmatrix_level"]
