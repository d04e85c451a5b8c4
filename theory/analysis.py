"""Shared, cached exact and sampled quantities for one model configuration and graph.

An :class:`Analysis` computes each X matrix, aggregate and solution subspace once, for the
``exact`` level (population moments) and the ``sampled`` level (one sampled data set per
client, one sampled pair of views per sample), so that the claim checks stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from . import graphs
from .aggregate import aggregate, fl_weights
from .errors import require
from .model import ModelConfig
from .circulant import CirculantLowRank, default_window
from .rv import (IncompleteSpectrumError, Sensitivity, Spectrum, Subspace, sensitivity, solution_subspace, spectrum,
                 structured_spectrum)
from .structured import BlockScalar
from .sampler import ClientData, sample_clients
from .structured import SymMatrix
from .xmatrix import OBJECTIVES, empirical_x, exact_x

FRAMEWORKS: tuple[str, ...] = ("local", "decl", "fl")
COORDINATE_SETS: tuple[str, ...] = ("[c]", "[N]", "rare")


def _weights_key(w: np.ndarray) -> bytes:
    """Cache key of an aggregate Σ_j w_j X_j: the weights to 15 decimals.

    The FL and DecL objectives depend on the graph only through these weights (Eq. 1 and
    Eqs. 25-26), so graphs with the same weights (e.g. every regular graph, whose DecL weights
    are 1/N up to rounding, like FL's) share one aggregate, computed with the first weights seen.
    """
    return np.round(np.asarray(w, dtype=float), 15).tobytes()


@dataclass
class Analysis:
    """Cached quantities of one (configuration, topology, seed)."""

    cfg: ModelConfig
    topology: graphs.Topology
    seed: int = 0
    rtol: float = 1e-9
    config_at: Callable[[int], ModelConfig] | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        require(self.topology.n == self.cfg.n_clients, "topology",
                f"a graph on N={self.cfg.n_clients} clients", self.topology.n)

    # ---- data ---------------------------------------------------------------
    @cached_property
    def data(self) -> tuple[ClientData, ...]:
        return sample_clients(self.cfg, self.seed)

    def _memo(self, key: tuple, fn: Callable[[], object]) -> object:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # ---- X matrices ---------------------------------------------------------
    def x_local(self, level: str, objective: str) -> tuple[SymMatrix, ...]:
        require(level in ("exact", "sampled"), "level", "'exact' or 'sampled'", level)
        require(objective in OBJECTIVES, "objective", f"one of {OBJECTIVES}", objective)

        def build() -> tuple[SymMatrix, ...]:
            if level == "exact":
                return tuple(exact_x(self.cfg, i, objective) for i in range(self.cfg.n_clients))
            out = []
            for cd in self.data:
                rng = np.random.default_rng([self.cfg.seed, 3, self.seed, cd.client, OBJECTIVES.index(objective)])
                out.append(empirical_x(self.cfg, cd.x, objective, rng))
            return tuple(out)

        return self._memo(("x", level, objective), build)  # type: ignore[return-value]

    def weights(self, framework: str, topology: graphs.Topology | None = None) -> np.ndarray:
        require(framework in ("decl", "fl"), "framework", "'decl' or 'fl'", framework)
        if framework == "fl":
            return fl_weights(self.cfg.n_clients)
        return graphs.decl_objective_weights(topology or self.topology)

    def x_global(self, level: str, objective: str, framework: str,
                 topology: graphs.Topology | None = None) -> SymMatrix:
        top = topology or self.topology
        w = self.weights(framework, top)
        key = ("xg", level, objective, _weights_key(w))
        return self._memo(key, lambda: aggregate(self.x_local(level, objective), w))  # type: ignore[return-value]

    # ---- subspaces, RV and sensitivity --------------------------------------
    def matrix(self, level: str, objective: str, framework: str, client: int = 0,
               topology: graphs.Topology | None = None) -> SymMatrix:
        """X of one cell: client ``client``'s X for "local", the FL or DecL aggregate otherwise."""
        require(framework in FRAMEWORKS, "framework", f"one of {FRAMEWORKS}", framework)
        if framework == "local":
            return self.x_local(level, objective)[client]
        return self.x_global(level, objective, framework, topology)

    def _cell_key(self, level: str, objective: str, framework: str, client: int,
                  topology: graphs.Topology | None) -> tuple:
        if framework == "local":
            return (level, objective, "local", client)
        return (level, objective, "global", _weights_key(self.weights(framework, topology or self.topology)))

    def spectrum(self, level: str, objective: str, framework: str, client: int = 0,
                 topology: graphs.Topology | None = None, complete: bool = False) -> Spectrum:
        """The cell's spectrum, computed once: all of it for a block-structured X, the leading
        c + 16 eigenpairs of a dense one (or all of it with ``complete``)."""
        key = ("spec",) + self._cell_key(level, objective, framework, client, topology)
        have = self._cache.get(key)
        if have is not None and (have.complete or not complete):
            return have
        x = self.matrix(level, objective, framework, client, topology)
        if isinstance(x, CirculantLowRank):  # circulant H: O(d log d), leading part with its tie (never complete)
            if have is None:
                self._cache[key] = structured_spectrum(x, self.cfg.c, self.rtol, self.window)
            return self._cache[key]
        top = None if complete or isinstance(x, BlockScalar) else self.cfg.c + 16
        self._cache[key] = spectrum(x, top=top)
        return self._cache[key]

    @property
    def window(self) -> int:
        """Coordinates on which structured eigenvectors are kept: every coordinate set lies below it."""
        return default_window(self.cfg.d, self.cfg.c, self.cfg.support_size)

    def subspace(self, level: str, objective: str, framework: str, client: int = 0,
                 rule: str = "minimiser", topology: graphs.Topology | None = None) -> Subspace:
        key = ("sub", rule) + self._cell_key(level, objective, framework, client, topology)

        def build() -> Subspace:
            spec = self.spectrum(level, objective, framework, client, topology)
            try:
                return solution_subspace(spec, self.cfg.c, rule, self.rtol)  # type: ignore[arg-type]
            except IncompleteSpectrumError:  # the cut falls in a cluster reaching past the leading part
                full = self.spectrum(level, objective, framework, client, topology, complete=True)
                return solution_subspace(full, self.cfg.c, rule, self.rtol)  # type: ignore[arg-type]

        return self._memo(key, build)  # type: ignore[return-value]

    def coords(self, name: str, client: int | None = None) -> list[int]:
        """Coordinate sets: "[c]" as printed, "[N]" the class axes, "rare" the rare axes,
        "[N]\\i" the class axes without the client's own (Theorem 4.2.1)."""
        if name == "[c]":
            return list(range(self.cfg.c))
        if name == "[N]":
            return list(range(self.cfg.n_clients))
        if name == "rare":
            return sorted(set(self.cfg.rare_axes))
        if name == "[N]\\i":
            require(client is not None, "client", "given for [N]\\i", client)
            return [k for k in range(self.cfg.n_clients) if k != client]
        allowed = COORDINATE_SETS + ("[N]\\i",)
        raise ValueError(f"coordinate set: must be one of {allowed}, got {name!r}")

    def sensitivity(self, level: str, objective: str, framework: str, coords: str = "[c]",
                    topology: graphs.Topology | None = None, client: int = 0) -> Sensitivity:
        sub = self.subspace(level, objective, framework, client=client, topology=topology)
        return sensitivity(sub, self.coords(coords, client))

    # ---- graph families for Cor 4.5 and Thm 4.6 ------------------------------
    @cached_property
    def graph_family(self) -> dict[str, list[graphs.Topology]]:
        """Regular graphs (ring up to complete) and irregular graphs of increasing |Ā|."""
        n = self.cfg.n_clients
        regular: list[graphs.Topology] = []
        for deg in range(2 if n > 3 else n - 1, n):
            if (n * deg) % 2 == 0:
                try:
                    regular.append(graphs.complete(n) if deg == n - 1 else graphs.regular(n, deg, seed=self.seed))
                except ValueError:
                    continue
        irregular: list[graphs.Topology] = []
        if n >= 3:
            irregular.append(graphs.path(n))
            irregular.append(graphs.star(n))
        lo, hi = graphs.mean_connectivity_range(n)
        targets = np.linspace(lo, hi - 2.0 / n, num=min(2, max(1, n - 2)))
        for t, target in enumerate(targets):
            try:
                top = graphs.with_mean_connectivity(n, float(target), seed=self.seed + 101 * t)
            except ValueError:
                continue
            if not top.is_regular:
                irregular.append(top)
        return {"regular": regular, "irregular": irregular}

    def at_dimension(self, d: int) -> "Analysis":
        """The same study at another d (paper scalings), for growth-in-d checks."""
        require(self.config_at is not None, "config_at", "set to study other dimensions", None)
        cfg = self.config_at(d)  # type: ignore[misc]
        require(cfg.n_clients == self.cfg.n_clients, "config_at", "a factory that keeps N fixed", cfg.n_clients)
        key = ("at", d)
        return self._memo(key, lambda: Analysis(cfg, self.topology, self.seed, self.rtol, self.config_at))  # type: ignore[return-value]
