"""Seed streams for every package: one root seed, split into named, independent child streams.

Every random choice draws from a stream named after what it decides (``"data"``, ``"graph"``,
``"init"``, ...). A package declares its streams once, as a :class:`Streams` registry that gives
each name a fixed number (never reused, never renumbered: the number is part of the key), and
derives generators and integer seeds from a root seed with numpy's ``SeedSequence``; the value
of one stream never depends on how many numbers another stream consumed, and no function here
touches global random state. Two names, or two ``extra`` keys (client, replicate, round, ...),
never share a stream within a registry.

The registries, one per package (``theory``'s here, the others in their package's seed module):

=========================  ================  ====================================================
registry                   keying            streams
=========================  ================  ====================================================
:data:`THEORY`             ``"entropy"``     class-q (1), data (2), views (3), eq25-probe (7),
                                             graph-family (8)
:data:`CURVES`             ``"entropy"``     decl-graph (1), connectivity-graph (2); 32-bit seeds
``empirical.seeds``        ``"spawn-key"``   partition, graph, init, client-sampling, ...
``linear_models``          JAX ``fold_in``   init (0), steps (1), client-sampling (2)
=========================  ================  ====================================================

**Keying** (how name and extras enter the ``SeedSequence``), kept per registry so that every
number the toolkit has published (README tables, ``docs/verify-d512.json``, cached sweeps and
runs) is drawn exactly as before:

* ``"spawn-key"``: ``SeedSequence(entropy=root, spawn_key=(number, *extra))`` (the design of
  ``empirical/seeds.py``, which this module generalises);
* ``"entropy"``: ``SeedSequence(entropy=[root, number, *extra])`` (theory's verifier).

Both hash every word, so distinct (number, extra) give unrelated streams. ``linear_models``
takes only :meth:`Streams.number` and folds it into a JAX key (``jax.random.fold_in``).
Deviation kept for the same reason: :data:`CURVES` is its own registry whose ``decl-graph``
stream has the same ``SeedSequence`` as ``THEORY``'s ``class-q``; ``class-q`` is drawn only
under ``q_mode="per-class"``, which ``theory.curves`` never uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np

from .errors import require

__all__ = ["Streams", "KEYINGS", "THEORY", "CURVES", "check_seed"]

Keying = Literal["spawn-key", "entropy"]
KEYINGS: tuple[str, ...] = ("spawn-key", "entropy")


def check_seed(name: str, value: object) -> int:
    """``value`` as an int, or :class:`theory.errors.ParameterError` naming ``name``."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) >= 0
    require(ok, name, "a non-negative integer", value)
    return int(value)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Streams:
    """The named streams of one package: ``numbers[name]`` is the fixed number keying ``name``."""

    owner: str
    numbers: Mapping[str, int]
    keying: Keying = "spawn-key"

    def __post_init__(self) -> None:
        require(self.keying in KEYINGS, "keying", f"one of {KEYINGS}", self.keying)
        values = list(self.numbers.values())
        require(len(set(values)) == len(values) and all(v >= 0 for v in values), "numbers",
                "distinct non-negative integers (one per stream)", dict(self.numbers))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.numbers)

    def number(self, name: str) -> int:
        """The number of stream ``name``; a clear error for a name the registry does not declare."""
        require(name in self.numbers, "name", f"a stream of {self.owner}: one of {self.names}", name)
        return int(self.numbers[name])

    def seed_sequence(self, root: int, name: str, *extra: int) -> np.random.SeedSequence:
        """The ``SeedSequence`` of stream ``name`` under ``root``, sub-keyed by ``extra`` (non-negative ints)."""
        r = check_seed("root", root)
        keys = [check_seed(f"extra[{k}]", e) for k, e in enumerate(extra)]
        number = self.number(name)
        if self.keying == "entropy":
            return np.random.SeedSequence([r, number, *keys])
        return np.random.SeedSequence(entropy=r, spawn_key=(number, *keys))

    def seed(self, root: int, name: str, *extra: int, bits: Literal[63, 32] = 63) -> int:
        """An integer seed for stream ``name``: 63 bits (fits a signed int64; torch and most
        libraries accept it) or 32 bits; stable across platforms and numpy versions."""
        require(bits in (63, 32), "bits", "63 or 32", bits)
        ss = self.seed_sequence(root, name, *extra)
        if bits == 32:
            return int(ss.generate_state(1, dtype=np.uint32)[0])
        return int(ss.generate_state(1, dtype=np.uint64)[0]) >> 1

    def rng(self, root: int, name: str, *extra: int) -> np.random.Generator:
        """A fresh numpy ``Generator`` (PCG64) on stream ``name``."""
        return np.random.default_rng(self.seed_sequence(root, name, *extra))


THEORY = Streams("theory", {
    "class-q": 1,       # the fixed q patterns of q_mode="per-class" (theory.model.class_q_patterns)
    "data": 2,          # client data sets: extra = (sampling seed, client[, replicate >= 1])
    "views": 3,         # augmentation / mask views: extra = (sampling seed, client, objective[, replicate])
    "eq25-probe": 7,    # the random Gram matrices G of the Eqs. 25-26 identity check
    "graph-family": 8,  # the regular / irregular graphs of theory.analysis: extra = (family, index)
}, keying="entropy")
"""Streams of ``theory``'s model, sampler and verifier; root: the model seed ``cfg.seed``."""

CURVES = Streams("theory.curves", {"decl-graph": 1, "connectivity-graph": 2}, keying="entropy")
"""Streams of ``theory.curves`` (32-bit seeds of the graph generators); root: ``--seed``."""
