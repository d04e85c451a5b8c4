"""Seed streams: one root seed, split into named, independent child streams.

Every random choice in ``empirical/`` draws from a stream named after what it decides
(``"partition"``, ``"graph"``, ``"init"``, ...), derived from a root seed with numpy's
``SeedSequence``:

    SeedSequence(entropy=root, spawn_key=(STREAMS.index(name), *extra))

so two names, or two ``extra`` keys (client index, round, ...), never share a stream, and the
value of one stream never depends on how many numbers another stream has consumed.

Two roots, kept apart on purpose:

* ``data_seed`` decides the data: the held-out evaluation split (stream ``"eval"``), the client
  partition and the per-client feature-skew transforms (stream ``"partition"``). The functions
  of :mod:`empirical.data` and :mod:`empirical.partition` take only this seed.
* the run seed decides everything else: the communication graph, model initialisation, which
  clients are sampled each round, augmentations and MAE masks.

Changing the run (model) seed therefore never changes the data split; a test checks it. No
function here touches global random state (``np.random.seed``, ``torch.manual_seed``).
"""

from __future__ import annotations

import numpy as np
import torch

from theory.errors import require

__all__ = ["STREAMS", "numpy_rng", "seed_sequence", "stream_index", "stream_seed", "torch_generator"]

STREAMS: tuple[str, ...] = (
    "partition",
    "graph",
    "init",
    "client-sampling",
    "augmentation",
    "masking",
    "eval",
)
"""Names of the child streams. Append new names at the end: the position is part of the key."""


def stream_index(name: str) -> int:
    """Position of ``name`` in :data:`STREAMS`; a clear error for an unknown name."""
    require(name in STREAMS, "name", f"one of {STREAMS}", name)
    return STREAMS.index(name)


def _check_seed(name: str, value: object) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) >= 0
    require(ok, name, "a non-negative integer", value)


def seed_sequence(root: int, name: str, *extra: int) -> np.random.SeedSequence:
    """The ``SeedSequence`` of stream ``name`` under ``root``, sub-keyed by ``extra``.

    ``root`` and every entry of ``extra`` must be non-negative integers.
    """
    _check_seed("root", root)
    for k, e in enumerate(extra):
        _check_seed(f"extra[{k}]", e)
    key = (stream_index(name), *(int(e) for e in extra))
    return np.random.SeedSequence(entropy=int(root), spawn_key=key)


def stream_seed(root: int, name: str, *extra: int) -> int:
    """A 63-bit integer seed for stream ``name``; the same arguments give the same seed on every
    platform and numpy version that keeps ``SeedSequence`` stable (numpy promises that)."""
    state = seed_sequence(root, name, *extra).generate_state(1, dtype=np.uint64)[0]
    # 63 bits: fits a signed int64, which torch and most libraries accept as a seed.
    return int(state) >> 1


def numpy_rng(root: int, name: str, *extra: int) -> np.random.Generator:
    """A fresh numpy ``Generator`` (PCG64) on stream ``name``."""
    return np.random.default_rng(seed_sequence(root, name, *extra))


def torch_generator(root: int, name: str, *extra: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device``, seeded with :func:`stream_seed`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(stream_seed(root, name, *extra))
    return generator
