"""Shared, cached exact and sampled quantities for one model configuration and graph.

An :class:`Analysis` computes each X matrix, aggregate and solution subspace once, for the
``exact`` level (population moments) and the ``sampled`` level (one sampled data set per
client, one sampled pair of views per sample), so that the claim checks stay cheap.
The sampled level is replicated: :meth:`Analysis.with_replicate` gives the same study on an
independent draw (replicate r of the named streams of ``theory.sampler``), sharing the exact
quantities; :meth:`Analysis.identification` says whether a sampled cell's subspace estimates
the population one (``theory.stats``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import numpy as np

from . import graphs
from .aggregate import aggregate, fl_weights
from .circulant import CirculantLowRank, default_window
from .errors import ParameterError, require
from .frameworks import FRAMEWORKS
from .model import NonIIDModelConfig
from .rv import (
    IncompleteSpectrumError,
    Rule,
    Sensitivity,
    Spectrum,
    Subspace,
    count_positive,
    sensitivity,
    solution_subspace,
    spectrum,
    structured_spectrum,
)
from .sampler import ClientSample, draw_client_samples, stream_rng
from .seeds import THEORY
from .stats import IDENTIFICATION_FACTOR, Identification
from .structured import BlockScalar, SymMatrix, as_dense, spectral_norm
from .xmatrix import OBJECTIVES, empirical_x, exact_x

_T = TypeVar("_T")


# Up to this d the spectrum of a circulant-plus-low-rank X (CL2 with a circulant H) is taken
# from its dense form: measured per cell on this 2-core machine (1 BLAS thread), the leading
# c + 16 eigenpairs by LAPACK take 0.005 / 0.017 / 0.08 / 0.74 s at d = 256 / 512 / 1024 / 2048,
# the structured solver (theory.circulant) 0.04-0.1 s for an FL cell and up to ~0.4 s for a
# local one. Both agree to 1e-10 in r and s (tests/test_structured.py); set to 0 to force the
# structured solver everywhere (tests/test_verify_structured.py does).
DENSE_CROSSOVER_D = 1024
COORDINATE_SETS: tuple[str, ...] = ("[c]", "[N]", "rare")
# The graphs the claims over many graphs (Cor 4.5, Thm 4.6, Eqs. 29-30) range over: "family",
# a few seeded graphs per |Ā| (:meth:`Analysis.graph_family`), or "exhaustive", every connected
# graph on N <= graphs.ATLAS_MAX_N nodes up to isomorphism (graphs.all_connected_graphs).
GRAPH_SEARCHES: tuple[str, ...] = ("family", "exhaustive")


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

    cfg: NonIIDModelConfig
    topology: graphs.Topology
    seed: int = 0
    rtol: float = 1e-9
    config_at: Callable[[int], NonIIDModelConfig] | None = None
    replicate: int = 0
    _cache: dict = field(default_factory=dict, repr=False)
    graph_search: str = "family"

    def __post_init__(self) -> None:
        require(self.topology.n == self.cfg.n_clients, "topology",
                f"a graph on N={self.cfg.n_clients} clients", self.topology.n)
        require(self.graph_search in GRAPH_SEARCHES, "graph_search", f"one of {GRAPH_SEARCHES}", self.graph_search)
        if self.graph_search == "exhaustive":
            require(self.cfg.n_clients <= graphs.ATLAS_MAX_N, "graph_search",
                    f"'family' when N > {graphs.ATLAS_MAX_N} ('exhaustive' needs N in [2, {graphs.ATLAS_MAX_N}], "
                    f"N = {self.cfg.n_clients} here)", self.graph_search)

    # ---- data ---------------------------------------------------------------
    @property
    def data(self) -> tuple[ClientSample, ...]:
        return self._memo(("data", self.replicate), lambda: draw_client_samples(self.cfg, self.seed, replicate=self.replicate))

    def _memo(self, key: tuple, fn: Callable[[], _T]) -> _T:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def _rep(self, level: str) -> tuple:
        """Cache-key suffix: sampled quantities belong to one replicate, exact ones to all."""
        return (self.replicate,) if level == "sampled" else ()

    def with_replicate(self, replicate: int) -> "Analysis":
        """The same study on replicate ``replicate`` of the sampled data (exact quantities shared)."""
        if replicate == self.replicate:
            return self
        return Analysis(self.cfg, self.topology, self.seed, self.rtol, self.config_at, replicate, self._cache,
                        graph_search=self.graph_search)

    def forget_replicate(self, replicate: int) -> None:
        """Drop the cached sampled quantities of one replicate (here and at the other dimensions)."""
        for key in [k for k in self._cache if k and k[0] == "at"]:
            self._cache[key].forget_replicate(replicate)
        for key in [k for k in self._cache if _is_replicate_key(k, replicate)]:
            del self._cache[key]

    # ---- X matrices ---------------------------------------------------------
    def x_local(self, level: str, objective: str) -> tuple[SymMatrix, ...]:
        require(level in ("exact", "sampled"), "level", "'exact' or 'sampled'", level)
        require(objective in OBJECTIVES, "objective", f"one of {OBJECTIVES}", objective)

        def build() -> tuple[SymMatrix, ...]:
            if level == "exact":
                return tuple(exact_x(self.cfg, i, objective) for i in range(self.cfg.n_clients))
            out = []
            for cd in self.data:
                rng = stream_rng(self.cfg, self.seed, "views", cd.client, OBJECTIVES.index(objective),
                                 replicate=self.replicate)
                out.append(empirical_x(self.cfg, cd.x, objective, rng))
            return tuple(out)

        return self._memo(("x", level, objective) + self._rep(level), build)

    def weights(self, framework: str, topology: graphs.Topology | None = None) -> np.ndarray:
        require(framework in ("decl", "fl"), "framework", "'decl' or 'fl'", framework)
        if framework == "fl":
            return fl_weights(self.cfg.n_clients)
        return graphs.decl_objective_weights(topology or self.topology)

    def x_global(self, level: str, objective: str, framework: str,
                 topology: graphs.Topology | None = None) -> SymMatrix:
        top = topology or self.topology
        w = self.weights(framework, top)
        key = ("xg", level, objective, _weights_key(w)) + self._rep(level)
        return self._memo(key, lambda: aggregate(self.x_local(level, objective), w))

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
            return (level, objective, "local", client) + self._rep(level)
        return (level, objective, "global", _weights_key(self.weights(framework, topology or self.topology))) + self._rep(level)

    def spectrum(self, level: str, objective: str, framework: str, client: int = 0,
                 topology: graphs.Topology | None = None, complete: bool = False) -> Spectrum:
        """The cell's spectrum, computed once: all of it for a block-structured X, the leading
        c + 16 eigenpairs of a dense one (or all of it with ``complete``)."""
        key = ("spec",) + self._cell_key(level, objective, framework, client, topology)
        have = self._cache.get(key)
        if have is not None and (have.complete or not complete):
            return have
        x = self.matrix(level, objective, framework, client, topology)
        if isinstance(x, CirculantLowRank) and self.cfg.d <= DENSE_CROSSOVER_D:
            x = x.dense()  # small d: LAPACK on the dense matrix is faster than the secular solver
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
                 rule: Rule = "minimiser", topology: graphs.Topology | None = None) -> Subspace:
        key = ("sub", rule) + self._cell_key(level, objective, framework, client, topology)

        def build() -> Subspace:
            spec = self.spectrum(level, objective, framework, client, topology)
            try:
                return solution_subspace(spec, self.cfg.c, rule, self.rtol)
            except IncompleteSpectrumError:  # the cut falls in a cluster reaching past the leading part
                full = self.spectrum(level, objective, framework, client, topology, complete=True)
                return solution_subspace(full, self.cfg.c, rule, self.rtol)

        return self._memo(key, build)

    def n_positive(self, level: str, objective: str, framework: str, client: int = 0,
                   topology: graphs.Topology | None = None) -> int:
        """The number of eigenvalues of the cell's X above the tie tolerance, all of them counted
        (by the inertia of X - tol I when the leading part of a dense spectrum is all positive)."""
        spec = self.spectrum(level, objective, framework, client, topology)
        tol = self.rtol * max(float(np.max(np.abs(spec.values))), 1e-300)
        if spec.complete or np.any(spec.values <= tol):
            return int(np.sum(spec.mult[spec.values > tol]))
        key = ("npos",) + self._cell_key(level, objective, framework, client, topology)
        return self._memo(key, lambda: count_positive(
            self.matrix(level, objective, framework, client, topology), tol))

    def deviation(self, objective: str, framework: str, client: int = 0,
                  topology: graphs.Topology | None = None) -> float:
        """‖X̂ - X‖₂ of a cell: the measured sampling deviation of this replicate."""
        key = ("dev",) + self._cell_key("sampled", objective, framework, client, topology)
        return self._memo(key, lambda: spectral_norm(
            as_dense(self.matrix("sampled", objective, framework, client, topology))
            - as_dense(self.matrix("exact", objective, framework, client, topology))))

    def identification(self, objective: str, framework: str, client: int = 0,
                       topology: graphs.Topology | None = None) -> Identification:
        """Does the sampled minimiser subspace of this cell estimate the population one?

        A cell the exact level finds ILL-POSED (a population tie at the cut) is a tie here too.
        Otherwise the population eigengap is taken at the sampled subspace's own cut (its rank
        r̂): λ_r̂ - λ_{r̂+1} of the exact X; a gap <= 2 ‖X̂ - X‖₂ is a near-tie, the sampled
        subspace not identified (see ``theory.stats``). When r̂ exceeds the population rank (the
        sample's noise makes eigenvalues positive that are 0 in the population) that gap is 0
        and no sample size resolves it."""
        key = ("ident",) + self._cell_key("sampled", objective, framework, client, topology)

        def build() -> Identification:
            sub_s = self.subspace("sampled", objective, framework, client, topology=topology)
            sub_e = self.subspace("exact", objective, framework, client, topology=topology)
            name = f"{objective}/{framework}" + (f"/client {client}" if framework == "local" else "")
            n = self.cfg.samples_per_client
            ranks = (sub_s.rank, sub_e.rank)
            if not sub_e.well_posed:  # the exact level finds this cell ILL-POSED
                return Identification("tie", 0.0, math.nan, n, name, *ranks)
            gap = _gap_at(sub_e.spec, sub_s.rank)
            dev = self.deviation(objective, framework, client, topology)
            status = "identified" if gap > IDENTIFICATION_FACTOR * dev else "near-tie"
            return Identification(status, max(gap, 0.0), dev, n, name, *ranks)

        return self._memo(key, build)

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
    @property
    def graph_family(self) -> dict[str, list[graphs.Topology]]:
        """The graphs of the claims over many graphs, as {"regular": [...], "irregular": [...]}
        (shared by replicates): with ``graph_search="family"`` the regular graphs (ring up to
        complete) and irregular graphs of increasing |Ā|, some of them drawn from the seed; with
        "exhaustive" every connected graph on N nodes up to isomorphism, split by regularity."""
        if self.graph_search == "exhaustive":
            return self._memo(("graph_family", "exhaustive"), self._exhaustive_family)
        return self._memo(("graph_family",), self._graph_family)

    def _exhaustive_family(self) -> dict[str, list[graphs.Topology]]:
        every = graphs.all_connected_graphs(self.cfg.n_clients)
        return {"regular": [t for t in every if t.is_regular], "irregular": [t for t in every if not t.is_regular]}

    def graph_set(self, with_run_graph: bool = False) -> dict[str, object]:
        """Over which graphs a claim over :attr:`graph_family` took its verdict, for the report:
        ``search``, ``count`` (graphs of the set), ``text`` (the words the summaries use) and
        ``graphs`` (their names); ``with_run_graph`` when the run's own graph is checked too."""
        n = self.cfg.n_clients
        tops = [t for ts in self.graph_family.values() for t in ts]
        lead = "on the run's graph and " if with_run_graph else ""
        if self.graph_search == "exhaustive":
            text = (f"{lead}over all {len(tops)} connected graphs on {n} nodes (up to isomorphism, one labelling "
                    "each: networkx's graph atlas)")
        else:
            if n <= graphs.ATLAS_MAX_N:
                every = f"--graph-search exhaustive covers all {len(graphs.all_connected_graphs(n))} connected graphs on {n} nodes"
            else:
                every = f"--graph-search exhaustive covers all connected graphs only for N <= {graphs.ATLAS_MAX_N}"
            text = f"{lead}over the {len(tops)} graphs of the drawn family (seeded; {every})"
        return {"search": self.graph_search, "count": len(tops), "text": text, "graphs": [t.name for t in tops]}

    def _graph_family(self) -> dict[str, list[graphs.Topology]]:
        n = self.cfg.n_clients
        regular: list[graphs.Topology] = []
        for deg in range(2 if n > 3 else n - 1, n):
            if (n * deg) % 2 == 0:
                try:
                    regular.append(graphs.complete(n) if deg == n - 1 else
                                   graphs.regular(n, deg, seed=THEORY.seed(self.seed, "graph-family", 0, deg)))
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
                top = graphs.with_mean_connectivity(n, float(target), seed=THEORY.seed(self.seed, "graph-family", 1, t))
            except ValueError:
                continue
            if not top.is_regular:
                irregular.append(top)
        return {"regular": regular, "irregular": irregular}

    def at_dimension(self, d: int) -> "Analysis":
        """The same study at another d (paper scalings), for growth-in-d checks."""
        if self.config_at is None:
            raise ParameterError("config_at", "set to study other dimensions", None)
        cfg = self.config_at(d)
        require(cfg.n_clients == self.cfg.n_clients, "config_at", "a factory that keeps N fixed", cfg.n_clients)
        key = ("at", d)
        base = self._memo(key, lambda: Analysis(cfg, self.topology, self.seed, self.rtol, self.config_at,
                                                graph_search=self.graph_search))
        return base.with_replicate(self.replicate)


def _is_replicate_key(key: tuple, replicate: int) -> bool:
    """Keys of cached sampled quantities of ``replicate`` (their last entry is the replicate)."""
    if not key or key[0] == "at":
        return False
    if key[0] == "data":
        return key[1] == replicate
    return "sampled" in key and key[-1] == replicate


def _gap_at(spec: Spectrum, r: int) -> float:
    """λ_r - λ_{r+1} (1-based, with multiplicities) of a spectrum; +inf when r = 0 or r = d."""
    if r <= 0 or r >= spec.d:
        return math.inf
    cum = np.cumsum(spec.mult)
    j = int(np.searchsorted(cum, r))
    if cum[j] > r:
        return 0.0
    if j + 1 >= len(spec.values):
        return math.inf if spec.complete else float(spec.values[j] - spec.values[-1])
    return float(spec.values[j] - spec.values[j + 1])
