"""Former home of the exact/sampled checks of Theorems 4.2-4.6 and Corollary 4.5; they now live
with their claims (``rv_bounds``, ``thm44``, ``cor45``, ``thm46``). These names are kept for code
written against the old layout (tests/test_counterexamples.py)."""

from __future__ import annotations

from .cells import CL_VARIANTS
from .cor45 import cor45_level
from .rv_bounds import rv_bound_level
from .thm44 import thm44_level
from .thm46 import thm46_level

__all__ = ["CL_VARIANTS", "cor45_level", "rv_bound_level", "thm44_level", "thm46_level"]
