"""BLAS thread control for the command-line tools.

On a small machine shared with other work, OpenBLAS threads spin while waiting for a core and
a dense eigen-decomposition can take many times longer with two threads than with one
(``benchmarks/bench_verify.py`` records both). The commands therefore default to one BLAS
thread and take ``--threads`` (0 = the library's default).
"""

from __future__ import annotations

import contextlib
from typing import Any

from threadpoolctl import threadpool_limits

from .errors import require

__all__ = ["blas_threads"]


def blas_threads(n: int) -> contextlib.AbstractContextManager[Any]:
    """Limit the BLAS thread pool to ``n`` threads inside the block; ``n = 0`` leaves it alone."""
    require(isinstance(n, int) and n >= 0, "--threads", "an integer >= 0 (0 = the BLAS library's default)", n)
    if n == 0:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")
