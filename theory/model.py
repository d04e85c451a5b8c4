"""The paper's non-IID data model (Section 3.2) as an immutable, validated configuration.

Symbols (Chen et al., ICLR 2026, Section 3.2 and Theorem 4.2):

==========  =====================  ==========================================
paper       attribute              meaning
==========  =====================  ==========================================
d           ``d``                  ambient dimension
N           ``n_clients``          number of clients (2N classes)
c           ``c``                  embedding width, W in R^{c x d}
p           ``p``                  MIM mask ratio, P(m_k = 0)
τ           ``tau``                class-offset scale, τ = d^(1/5) by default
μ           ``mu``                 noise scale, μ = d^(-1/5) by default
|classes|   ``n_frequent``         samples of each frequent class 2i-1, 2i
O(d^α)      ``n_rare``             samples of the rare class h_i
h_i         ``rare_classes``       rare class of client i (0-based class index)
==========  =====================  ==========================================

Indices are 0-based throughout the code: client i in {0..N-1} has the class axis
e_i and the frequent classes 2i, 2i+1; the paper's 1-based e_i, 2i-1, 2i map to
these by subtracting one.

Deviations and readings (the paper leaves these open; each is a parameter):

* ``q_mode``: the paper writes one q^(2i-1,k) per class and axis. ``"per-sample"``
  (default) draws q independently per sample and per axis; ``"per-class"`` draws it
  once per (class, axis) from the model seed, so every class is a fixed vector plus
  Gaussian noise.
* ``rare_classes``: the paper does not say how h_i is chosen. Default: the first
  class of the next client, h_i = 2((i + 1) mod N).
* ``rare_axis``: the paper indexes an axis e_{h_i} with a class index h_i in [2N].
  ``"class-index"`` (default) reads it literally, axis h_i; ``"owner"`` uses the
  class axis of the client owning class h_i, axis floor(h_i / 2).
* ``N = Θ(d^(1/20))`` is rounded as N = max(2, ceil(κ d^(1/20))) with κ =
  ``DEFAULT_CLIENT_CONSTANT`` = 4, so that d = 512 gives N = 6 (κ = 1 would give
  N = 2 for every d below 2^20, where DecL and FL coincide).
* Sample counts: |D_i| = Θ(d^β) with β = 1 and the rare count O(d^α) with α = 1/2:
  ``n_frequent = d`` per frequent class and ``n_rare = ceil(sqrt(d))``.
* ``augmentation``: the linear map H of dissimilar-augmentation CL (Assumption A.9),
  by name: ``"blur"`` (circulant 1/4, 1/2, 1/4; default), ``"identity"``, or
  ``"scale:<h>"`` (h I).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from .errors import require
from .seeds import THEORY

QMode = Literal["per-sample", "per-class"]
RareAxis = Literal["class-index", "owner"]

DEFAULT_CLIENT_CONSTANT = 4.0
DEFAULT_MASK_RATIO = 0.75
DEFAULT_RARE_EXPONENT = 0.5  # α in O(d^α)
DEFAULT_SIZE_EXPONENT = 1.0  # β in |D_i| = Θ(d^β)

Q_MODES: tuple[str, ...] = ("per-sample", "per-class")
RARE_AXES: tuple[str, ...] = ("class-index", "owner")


def default_n_clients(d: int, constant: float = DEFAULT_CLIENT_CONSTANT) -> int:
    """N = max(2, ceil(κ d^(1/20))): the documented rounding of N = Θ(d^(1/20))."""
    require(d >= 1, "d", "a positive integer", d)
    return max(2, math.ceil(constant * d ** (1.0 / 20.0) - 1e-12))


def default_rare_classes(n_clients: int) -> tuple[int, ...]:
    """h_i = 2((i + 1) mod N): the first class of the next client (0-based)."""
    return tuple(2 * ((i + 1) % n_clients) for i in range(n_clients))


def _validate_augmentation(name: str) -> None:
    from .augmentation import parse_augmentation  # the names and their maps live there

    parse_augmentation(name)


@dataclass(frozen=True)
class NonIIDModelConfig:
    """Validated parameters of the 2N-class non-IID model. See the module docstring."""

    d: int
    n_clients: int
    c: int
    p: float
    tau: float
    mu: float
    n_frequent: int
    n_rare: int
    rare_classes: tuple[int, ...]
    rare_axis: RareAxis = "class-index"
    q_mode: QMode = "per-sample"
    augmentation: str = "blur"
    seed: int = 0
    _checked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d, n = self.d, self.n_clients
        require(isinstance(d, (int, np.integer)) and d >= 2, "d", "an integer >= 2", d)
        require(isinstance(n, (int, np.integer)) and n >= 2, "N", "an integer >= 2", n)
        require(isinstance(self.c, (int, np.integer)) and 1 <= self.c <= d, "c", f"an integer in [1, d={d}]", self.c)
        require(0.0 < self.p < 1.0, "p", "in the open interval (0, 1)", self.p)
        require(self.tau > 0 and math.isfinite(self.tau), "tau", "a finite number > 0", self.tau)
        require(self.mu > 0 and math.isfinite(self.mu), "mu", "a finite number > 0", self.mu)
        require(self.n_frequent >= 1, "n_frequent", "an integer >= 1", self.n_frequent)
        require(self.n_rare >= 0, "n_rare", "an integer >= 0", self.n_rare)
        require(self.q_mode in Q_MODES, "q_mode", f"one of {Q_MODES}", self.q_mode)
        require(self.rare_axis in RARE_AXES, "rare_axis", f"one of {RARE_AXES}", self.rare_axis)
        require(len(self.rare_classes) == n, "rare_classes", f"a tuple of N={n} class indices", self.rare_classes)
        for i, h in enumerate(self.rare_classes):
            require(
                0 <= h < 2 * n and h not in (2 * i, 2 * i + 1),
                f"rare_classes[{i}]",
                f"a class index in [0, 2N={2 * n}) other than {2 * i} and {2 * i + 1}",
                h,
            )
        require(self.support_size <= d, "d", f">= {self.support_size} (the class and rare axes must fit)", d)
        _validate_augmentation(self.augmentation)

    # ---- derived quantities -------------------------------------------------
    @property
    def rare_axes(self) -> tuple[int, ...]:
        """Axis index of the rare class of each client (see ``rare_axis``)."""
        if self.rare_axis == "class-index":
            return tuple(self.rare_classes)
        return tuple(h // 2 for h in self.rare_classes)

    @property
    def support_size(self) -> int:
        """K: every class and rare axis lies in the first K coordinates."""
        return max(self.n_clients, max(self.rare_axes) + 1)

    @property
    def samples_per_client(self) -> int:
        """|D_i| = 2 n_frequent + n_rare (equal for all clients, as the paper assumes)."""
        return 2 * self.n_frequent + self.n_rare

    @property
    def frequent_weight(self) -> float:
        """π_f: the population weight of each frequent class on a client."""
        return self.n_frequent / self.samples_per_client

    @property
    def rare_weight(self) -> float:
        """π_r: the population weight of the rare class on a client."""
        return self.n_rare / self.samples_per_client

    @property
    def mask_factor(self) -> float:
        """2p(1-p), the factor the paper prints in Eqs. 17-18."""
        return 2.0 * self.p * (1.0 - self.p)

    def with_(self, **changes: Any) -> "NonIIDModelConfig":
        """A validated copy with some fields changed (each value checked by __post_init__)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        return {
            "d": self.d,
            "N": self.n_clients,
            "c": self.c,
            "p": self.p,
            "tau": self.tau,
            "mu": self.mu,
            "n_frequent": self.n_frequent,
            "n_rare": self.n_rare,
            "samples_per_client": self.samples_per_client,
            "rare_classes": list(self.rare_classes),
            "rare_axes": list(self.rare_axes),
            "rare_axis": self.rare_axis,
            "q_mode": self.q_mode,
            "augmentation": self.augmentation,
            "seed": self.seed,
        }


def paper_config(
    d: int,
    *,
    n_clients: int | None = None,
    c: int | None = None,
    p: float = DEFAULT_MASK_RATIO,
    tau: float | None = None,
    mu: float | None = None,
    n_frequent: int | None = None,
    n_rare: int | None = None,
    rare_classes: tuple[int, ...] | None = None,
    rare_axis: RareAxis = "class-index",
    q_mode: QMode = "per-sample",
    augmentation: str = "blur",
    seed: int = 0,
) -> NonIIDModelConfig:
    """A :class:`NonIIDModelConfig` with the paper's scalings for everything not given.

    τ = d^(1/5), μ = d^(-1/5) (Theorem 4.2), N = max(2, ceil(4 d^(1/20))), c = 2N,
    n_frequent = d^β with β = 1, n_rare = ceil(d^α) with α = 1/2.
    """
    require(isinstance(d, (int, np.integer)) and d >= 2, "d", "an integer >= 2", d)
    n = default_n_clients(d) if n_clients is None else n_clients
    require(isinstance(n, (int, np.integer)) and n >= 2, "N", "an integer >= 2", n)
    return NonIIDModelConfig(
        d=int(d),
        n_clients=int(n),
        c=int(2 * n if c is None else c),
        p=float(p),
        tau=float(d ** 0.2 if tau is None else tau),
        mu=float(d ** -0.2 if mu is None else mu),
        n_frequent=int(round(d ** DEFAULT_SIZE_EXPONENT)) if n_frequent is None else int(n_frequent),
        n_rare=int(math.ceil(d ** DEFAULT_RARE_EXPONENT)) if n_rare is None else int(n_rare),
        rare_classes=default_rare_classes(n) if rare_classes is None else tuple(int(h) for h in rare_classes),
        rare_axis=rare_axis,
        q_mode=q_mode,
        augmentation=augmentation,
        seed=int(seed),
    )


def class_q_patterns(cfg: NonIIDModelConfig) -> np.ndarray:
    """The fixed q^(class, k) of the ``"per-class"`` reading, shape (2N, N), entries in {0, 1}.

    Column k of row 2i or 2i+1 is q for axis k; the own axis k = i is zero. Drawn from
    stream ``"class-q"`` of :data:`theory.seeds.THEORY` so it does not depend on the sampling stream.
    """
    n = cfg.n_clients
    rng = THEORY.rng(cfg.seed, "class-q")
    q = rng.integers(0, 2, size=(2 * n, n)).astype(float)
    for i in range(n):
        q[2 * i, i] = 0.0
        q[2 * i + 1, i] = 0.0
    return q
