"""Seed streams: one root seed, split into named, independent child streams.

Every random choice in ``empirical/`` draws from a stream named after what it decides
(``"partition"``, ``"graph"``, ``"init"``, ...): the registry :data:`EMPIRICAL` of
:class:`theory.seeds.Streams` (the one seed-stream design of every package), keyed

    SeedSequence(entropy=root, spawn_key=(STREAMS.index(name), *extra))

so two names, or two ``extra`` keys (client index, round, ...), never share a stream, and the
value of one stream never depends on how many numbers another stream has consumed. This module
adds only torch generators on top (:func:`torch_generator`); the numpy functions are
:class:`~theory.seeds.Streams`' own, bound to :data:`EMPIRICAL`.

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

import torch

from theory.seeds import Streams

__all__ = ["EMPIRICAL", "STREAMS", "numpy_rng", "seed_sequence", "stream_index", "stream_seed", "torch_generator"]

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

EMPIRICAL = Streams("empirical", {name: k for k, name in enumerate(STREAMS)}, keying="spawn-key")

stream_index = EMPIRICAL.number
"""Position of ``name`` in :data:`STREAMS`; a clear error for an unknown name."""
seed_sequence = EMPIRICAL.seed_sequence
"""The ``SeedSequence`` of stream ``name`` under ``root``, sub-keyed by ``extra`` (non-negative ints)."""
numpy_rng = EMPIRICAL.rng
"""A fresh numpy ``Generator`` (PCG64) on stream ``name``."""


def stream_seed(root: int, name: str, *extra: int) -> int:
    """A 63-bit integer seed for stream ``name`` (fits a signed int64, which torch accepts)."""
    return EMPIRICAL.seed(root, name, *extra)


def torch_generator(root: int, name: str, *extra: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device``, seeded with :func:`stream_seed`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(stream_seed(root, name, *extra))
    return generator
