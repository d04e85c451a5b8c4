"""Memory a verification run needs, to refuse a --d this machine cannot hold before any work.

The exact level is structured (O(d) memory: ``theory.circulant``), except the CL2 matrices of a
non-circulant user H, which are dense. The sampled level holds, at its largest grid point d,
every client's data set (|D_i| x d) and its empirical X matrices (d x d per objective) with their
aggregates. The constants below are upper envelopes of measured peaks, with a margin of about 1.5x
(``/usr/bin/time -v python -m theory.verify --d D --jobs 1``, N = 6: 0.28 GB at d = 512, 0.67 GB
at 1024, 2.2 GB at 2048, i.e. about 500 B·d² of sampled level); they decide only whether to start.
"""

from __future__ import annotations

import os

from .augmentation import parse_augmentation
from .model import NonIIDModelConfig

# bytes per d^2 of the sampled level, per client (data 2 x 8 B x |D_i|/d plus about 3 d x d X
# matrices, their aggregates and the dense spectral work), and bytes per d of the exact level
# (its grid reaches 8 d; O(d) symbols, vectors and trigonometric tables)
SAMPLED_BYTES_PER_D2_PER_CLIENT = 96.0
SAMPLED_BYTES_PER_D2 = 160.0
EXACT_BYTES_PER_D = 2400.0
DENSE_H_BYTES_PER_D2 = 8.0 * 24
BASE_BYTES = 400 * 2**20  # the interpreter with numpy, scipy and sympy


def available_bytes() -> int:
    """MemAvailable of /proc/meminfo (else the physical memory), less 10 %."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * 0.9)
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.9)
    except (ValueError, OSError, AttributeError):
        return 2**62


def run_bytes(cfg: NonIIDModelConfig, sampled: bool) -> float:
    """Estimated peak bytes of ``python -m theory.verify`` at cfg.d."""
    d = float(cfg.d)
    need = BASE_BYTES + EXACT_BYTES_PER_D * d
    if parse_augmentation(cfg.augmentation).kind == "dense":
        need += DENSE_H_BYTES_PER_D2 * d * d * max(1, cfg.n_clients)
    if sampled:
        need += (SAMPLED_BYTES_PER_D2_PER_CLIENT * cfg.n_clients + SAMPLED_BYTES_PER_D2) * d * d
    return need


def largest_feasible_d(cfg: NonIIDModelConfig, sampled: bool, budget: int | None = None) -> int:
    """The largest d (same N, c, H) whose estimated peak fits in ``budget`` bytes."""
    budget = available_bytes() if budget is None else budget
    lo = max(cfg.support_size, cfg.c, 2)
    if run_bytes(_at(cfg, lo), sampled) > budget:
        return 0
    hi = lo
    while hi < 2**48 and run_bytes(_at(cfg, 2 * hi), sampled) <= budget:
        hi *= 2
    hi = 2 * hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if run_bytes(_at(cfg, mid), sampled) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _at(cfg: NonIIDModelConfig, d: int) -> NonIIDModelConfig:
    return cfg.with_(d=max(d, cfg.support_size, cfg.c))
