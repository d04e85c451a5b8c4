"""Communication graphs of DecL, the neighbourhoods A_i, and the aggregation weights on them.

Symbols (Chen et al., ICLR 2026, Section 3.2, Eq. 1, Assumption A.3):

==========  ==============================  ============================================
paper       code                            meaning
==========  ==============================  ============================================
N           ``Topology.n``                  number of clients (nodes 0..N-1)
A_i         ``Topology.neighbourhoods[i]``  {i} plus the neighbours of i, sorted
|A_i|       ``Topology.sizes[i]``           connectivity of client i
|Ā|         ``Topology.mean_connectivity``  (1/N) Σ_i |A_i| = 1 + 2M/N for M edges
w_ij        ``mixing_matrix(...)[i, j]``    D-PSGD mixing weight, > 0 iff j ∈ A_i
ω_j         ``decl_objective_weights``      weight of L_j in the DecL objective of Eq. 1
π_j         ``stationary_weights``          weight of L_j in the gossip consensus
==========  ==============================  ============================================

Three different weightings of the local losses live on one graph:

* ω (Eq. 1, DecL): (1/N) Σ_i (1/|A_i|) Σ_{j∈A_i} L_j = Σ_j ω_j L_j.
* 1/N (Eq. 1, FL), which ω equals exactly when the graph is regular.
* π, the left Perron vector of the mixing matrix W: the models of D-PSGD with a constant
  W reach a consensus that minimises Σ_j π_j L_j. Uniform mixing gives π_j ∝ |A_j|,
  Metropolis-Hastings mixing gives π_j = 1/N; neither is ω on an irregular graph.

Deviations and readings:

* The paper's graphs are Erdős-Rényi graphs with a target |Ā| (Section 6, Table 6). The
  generators here condition on connectivity by rejection, so their law is the connected
  part of G(N, q) or G(N, M); see :func:`with_mean_connectivity` for the fallback that
  is not uniform.
* A connected graph has at least N - 1 edges, so |Ā| >= 3 - 2/N; the range [2, N] that
  the per-node condition 2 <= |A_i| <= N suggests is narrowed to [3 - 2/N, N].
* Table 6's "push-sum" weights need a directed graph and are not provided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Iterable

import networkx as nx
import numpy as np
import scipy.linalg as sla
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .errors import ParameterError, require

MIXING_RULES: tuple[str, ...] = ("uniform", "data-size", "metropolis")
GRAPH_KINDS: tuple[str, ...] = ("random", "regular")
GRAPH_KEYS: tuple[str, ...] = ("regular", "er", "er-abar", "abar", "abar-regular", "edges", "atlas")
GRAPH_SPECS = ("'complete', 'ring', 'path', 'star', 'regular:K', 'er:Q', 'er-abar:A', 'abar:A', 'abar-regular:A', "
               "'atlas:I' or 'edges:I-J,...'")
GRAPH_FAMILIES: tuple[str, ...] = ("complete", "ring", "path", "star", "regular", "er", "abar", "abar-regular")
DEFAULT_MAX_TRIES = 1000
STOCHASTIC_ATOL = 1e-10


def _n_components(adjacency: np.ndarray) -> int:
    count, _ = connected_components(csr_matrix(adjacency.astype(np.int8)), directed=False)
    return int(count)


@dataclass(frozen=True, eq=False)
class Topology:
    """A fixed, connected, undirected graph on the clients 0..N-1 (paper Section 3.2).

    ``adjacency`` (shape (N, N), bool) is stored as a read-only copy; it must be symmetric
    with a zero diagonal (the self loop i ∈ A_i is implicit). Equality compares the name
    and the adjacency.
    """

    adjacency: np.ndarray
    name: str = "graph"
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = np.asarray(self.adjacency)
        require(raw.ndim == 2 and raw.shape[0] == raw.shape[1], "adjacency", "a square (N, N) matrix", raw.shape)
        n = raw.shape[0]
        require(n >= 2, "N", "an integer >= 2", n)
        require(bool(np.all((raw == 0) | (raw == 1))), "adjacency", "a 0/1 or boolean matrix", raw.tolist())
        adj = raw.astype(bool)  # copy: the caller's array can change without affecting us
        require(bool(np.array_equal(adj, adj.T)), "adjacency", "symmetric (an undirected graph)", "a non-symmetric matrix")
        loops = np.flatnonzero(np.diag(adj))
        require(loops.size == 0, "adjacency", "free of self loops (zero diagonal)", f"loops at nodes {loops.tolist()}")
        isolated = np.flatnonzero(~adj.any(axis=1))
        require(isolated.size == 0, "graph", "connected, so that every |A_i| >= 2", f"isolated nodes {isolated.tolist()}")
        components = _n_components(adj)
        require(components == 1, "graph", "connected", f"{components} connected components")
        adj.setflags(write=False)
        object.__setattr__(self, "adjacency", adj)
        object.__setattr__(self, "_hash", hash((self.name, adj.tobytes())))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Topology):
            return NotImplemented
        return self.name == other.name and bool(np.array_equal(self.adjacency, other.adjacency))

    def __hash__(self) -> int:
        return self._hash

    @property
    def n(self) -> int:
        """N, the number of clients."""
        return int(self.adjacency.shape[0])

    @cached_property
    def neighbourhoods(self) -> tuple[tuple[int, ...], ...]:
        """A_i = {i} ∪ neighbours(i), each sorted."""
        closed = self.adjacency | np.eye(self.n, dtype=bool)
        return tuple(tuple(int(j) for j in np.flatnonzero(row)) for row in closed)

    @cached_property
    def sizes(self) -> np.ndarray:
        """|A_i| = degree(i) + 1, int array of shape (N,), read-only."""
        s = self.adjacency.sum(axis=1).astype(int) + 1  # (N,)
        s.setflags(write=False)
        return s

    @property
    def mean_connectivity(self) -> float:
        """|Ā| = (1/N) Σ_i |A_i|."""
        return float(self.sizes.mean())

    @property
    def is_regular(self) -> bool:
        return bool(np.all(self.sizes == self.sizes[0]))

    @cached_property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """The edges (i, j) with i < j, in lexicographic order."""
        rows, cols = np.nonzero(np.triu(self.adjacency, k=1))
        return tuple((int(i), int(j)) for i, j in zip(rows, cols))

    def to_networkx(self) -> nx.Graph:
        g = nx.Graph(name=self.name)
        g.add_nodes_from(range(self.n))
        g.add_edges_from(self.edges)
        return g


# ---- constructors ------------------------------------------------------------------


def _check_n(n: int, minimum: int = 2) -> int:
    require(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= minimum, "N", f"an integer >= {minimum}", n)
    return int(n)


def _from_pairs(n: int, rows: np.ndarray, cols: np.ndarray, name: str) -> Topology:
    adj = np.zeros((n, n), dtype=bool)
    adj[rows, cols] = True
    adj[cols, rows] = True
    return Topology(adj, name)


def from_edges(n: int, edges: Iterable[tuple[int, int]], name: str = "edges") -> Topology:
    """The graph on 0..N-1 with the given undirected edges (duplicates are merged)."""
    n = _check_n(n)
    pairs = [tuple(e) for e in edges]
    for e in pairs:
        require(
            len(e) == 2 and all(isinstance(v, (int, np.integer)) and 0 <= v < n for v in e) and e[0] != e[1],
            "edges",
            f"pairs (i, j) of distinct nodes in [0, N={n})",
            e,
        )
    arr = np.asarray(pairs, dtype=int).reshape(-1, 2)  # (M, 2)
    return _from_pairs(n, arr[:, 0], arr[:, 1], name)


def complete(n: int) -> Topology:
    """K_N: |A_i| = N for every i, the FL case."""
    n = _check_n(n)
    return Topology(~np.eye(n, dtype=bool), "complete")


def ring(n: int) -> Topology:
    """The cycle C_N (|A_i| = 3); for N = 2 the single edge, which equals K_2."""
    n = _check_n(n)
    i = np.arange(n)
    return _from_pairs(n, i, (i + 1) % n, "ring") if n >= 3 else _from_pairs(n, i[:1], i[1:], "ring")


def path(n: int) -> Topology:
    """The path 0 - 1 - ... - N-1."""
    n = _check_n(n)
    i = np.arange(n - 1)
    return _from_pairs(n, i, i + 1, "path")


def star(n: int) -> Topology:
    """The star with centre 0."""
    n = _check_n(n)
    leaves = np.arange(1, n)
    return _from_pairs(n, np.zeros_like(leaves), leaves, "star")


def _circulant(n: int, offsets: range, name: str) -> Topology:
    i = np.arange(n)
    rows = np.concatenate([i for _ in offsets])
    cols = np.concatenate([(i + k) % n for k in offsets])
    return _from_pairs(n, rows, cols, name)


def regular(n: int, degree: int, seed: int = 0) -> Topology:
    """A connected ``degree``-regular graph on N nodes, |A_i| = degree + 1.

    Even degree: the circulant graph i ~ i ± 1, ..., i ± degree/2 (deterministic; ``seed``
    is unused). Odd degree: ``networkx.random_regular_graph`` with seeds drawn from
    ``numpy.random.default_rng(seed)``, redrawn until connected (at most
    ``DEFAULT_MAX_TRIES`` draws). N·degree must be even.
    """
    n = _check_n(n)
    require(
        isinstance(degree, (int, np.integer)) and 1 <= degree <= n - 1, "degree", f"an integer in [1, N-1={n - 1}]", degree
    )
    degree = int(degree)
    name = f"regular(k={degree})"
    if degree == n - 1:
        return Topology(~np.eye(n, dtype=bool), name)
    require(degree >= 2, "degree", f">= 2 for N={n} > 2 (a 1-regular graph is disconnected)", degree)
    if degree % 2 == 0:
        return _circulant(n, range(1, degree // 2 + 1), name)
    require(n * degree % 2 == 0, "degree", f"such that N*degree is even (N={n})", degree)
    rng = np.random.default_rng(seed)
    for _ in range(DEFAULT_MAX_TRIES):
        g = nx.random_regular_graph(degree, n, seed=int(rng.integers(2**32)))
        if nx.is_connected(g):
            e = np.asarray(list(g.edges()), dtype=int)  # (M, 2)
            return _from_pairs(n, e[:, 0], e[:, 1], name)
    raise ParameterError("degree", f"such that a connected random regular graph is found in {DEFAULT_MAX_TRIES} draws", degree)


def _check_tries(max_tries: int) -> None:
    require(isinstance(max_tries, (int, np.integer)) and max_tries >= 1, "max_tries", "an integer >= 1", max_tries)


def erdos_renyi(n: int, q: float, seed: int, max_tries: int = DEFAULT_MAX_TRIES) -> Topology:
    """G(N, q) conditioned on being connected, by rejection with ``default_rng(seed)``.

    Raises ParameterError("q", ...) when none of ``max_tries`` draws is connected: q is
    then too small for N (connectivity needs q of order log(N)/N).
    """
    n = _check_n(n)
    require(0.0 < q <= 1.0, "q", "in (0, 1]", q)
    _check_tries(max_tries)
    rng = np.random.default_rng(seed)
    rows, cols = np.triu_indices(n, k=1)
    for _ in range(max_tries):
        keep = rng.random(rows.size) < q  # (N(N-1)/2,)
        adj = np.zeros((n, n), dtype=bool)
        adj[rows[keep], cols[keep]] = True
        adj |= adj.T
        if adj.any(axis=1).all() and _n_components(adj) == 1:
            return Topology(adj, f"erdos-renyi(q={q:g})")
    raise ParameterError(
        "q", f"large enough that G(N={n}, q) is connected within max_tries={max_tries} draws (q is too small for N)", q
    )


def _random_tree(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random labelled tree on n nodes (Prüfer decoding), edges of shape (n-1, 2)."""
    if n == 2:
        return np.array([[0, 1]])
    prufer = rng.integers(0, n, size=n - 2)
    degree = np.ones(n, dtype=int)
    np.add.at(degree, prufer, 1)
    edges = []
    for v in prufer:
        leaf = int(np.flatnonzero(degree == 1)[0])
        edges.append((leaf, int(v)))
        degree[leaf] -= 1
        degree[v] -= 1
    u, w = np.flatnonzero(degree == 1)
    edges.append((int(u), int(w)))
    return np.asarray(edges, dtype=int)


def mean_connectivity_range(n: int) -> tuple[float, float]:
    """[3 - 2/N, N]: the |Ā| of a tree and of K_N, the extremes over connected graphs."""
    n = _check_n(n)
    return 3.0 - 2.0 / n, float(n)


def with_mean_connectivity(
    n: int, target: float, seed: int, kind: str = "random", max_tries: int = DEFAULT_MAX_TRIES
) -> Topology:
    """A connected graph on N nodes whose |Ā| is within 1/N of ``target``.

    |Ā| = 1 + 2M/N for M edges, so M = round(N (target - 1) / 2) edges give
    |1 + 2M/N - target| <= 1/N (exact when N (target - 1) / 2 is an integer).

    ``kind="random"``: G(N, M) conditioned on connectivity, by rejection with
    ``default_rng(seed)``. When ``max_tries`` draws are all disconnected (targets near
    the tree value 3 - 2/N), the fallback is a uniform random labelled tree plus M - N + 1
    uniformly random extra edges; its law is NOT uniform over connected graphs with M
    edges (it favours graphs with many spanning trees).

    ``kind="regular"``: :func:`regular` with degree target - 1, which must be an integer;
    the achieved |Ā| is then exactly ``target``.

    Deviation: ``target`` must lie in [3 - 2/N, N] (see :func:`mean_connectivity_range`),
    not [2, N]: no connected graph with N >= 3 has |Ā| < 3 - 2/N.
    """
    n = _check_n(n)
    lo, hi = mean_connectivity_range(n)
    require(
        isinstance(target, (int, float, np.integer, np.floating)) and lo - 1e-12 <= target <= hi + 1e-12,
        "mean_connectivity",
        f"in [3 - 2/N, N] = [{lo:g}, {n}] for N={n} (a tree has |Ā| = 3 - 2/N)",
        target,
    )
    require(kind in GRAPH_KINDS, "kind", f"one of {GRAPH_KINDS}", kind)
    _check_tries(max_tries)
    name = f"mean-connectivity({float(target)})"
    if kind == "regular":
        degree = float(target) - 1.0
        require(abs(degree - round(degree)) < 1e-9, "mean_connectivity", "an integer for kind='regular'", target)
        return regular(n, int(round(degree)), seed=seed)
    n_pairs = n * (n - 1) // 2
    m = min(max(int(round(n * (float(target) - 1.0) / 2.0)), n - 1), n_pairs)
    if m == n_pairs:
        return Topology(~np.eye(n, dtype=bool), name)
    rng = np.random.default_rng(seed)
    rows, cols = np.triu_indices(n, k=1)
    for _ in range(max_tries):
        pick = rng.choice(n_pairs, size=m, replace=False)  # (M,)
        adj = np.zeros((n, n), dtype=bool)
        adj[rows[pick], cols[pick]] = True
        adj |= adj.T
        if adj.any(axis=1).all() and _n_components(adj) == 1:
            return Topology(adj, name)
    # Fallback (not uniform): random spanning tree, then random extra edges.
    tree = _random_tree(n, rng)  # (N-1, 2)
    adj = np.zeros((n, n), dtype=bool)
    adj[tree[:, 0], tree[:, 1]] = True
    adj |= adj.T
    free = np.flatnonzero(~adj[rows, cols])
    extra = rng.choice(free, size=m - (n - 1), replace=False)
    adj[rows[extra], cols[extra]] = True
    adj |= adj.T
    return Topology(adj, name)


# ---- every connected graph on a few nodes (networkx's graph atlas) -----------------

# The atlas (An Atlas of Graphs, Read & Wilson 1998, as ``networkx.graph_atlas_g``) lists every
# graph on 0..7 nodes up to isomorphism, with one labelling each (nodes 0..n-1).
ATLAS_MAX_N = 7


@cache
def _atlas() -> tuple[nx.Graph, ...]:
    from networkx.generators.atlas import graph_atlas_g

    return tuple(graph_atlas_g())


def atlas_graph(index: int, n: int | None = None, *, param: str = "graph") -> Topology:
    """Graph ``index`` of networkx's graph atlas as a :class:`Topology` named ``atlas:<index>``,
    with the atlas's labelling (nodes 0..n-1). It must be connected, on ``n`` nodes when given."""
    atlas = _atlas()
    require(isinstance(index, (int, np.integer)) and not isinstance(index, bool) and 0 <= index < len(atlas),
            param, f"'atlas:I' with I an index of networkx's graph atlas in [0, {len(atlas) - 1}]", index)
    g = atlas[int(index)]
    size = g.number_of_nodes()
    if n is not None:
        require(size == n, param, f"an atlas graph on N = {n} nodes (atlas:{index} has {size})", f"atlas:{index}")
    require(size >= 2 and nx.is_connected(g), param, "a connected atlas graph on >= 2 nodes", f"atlas:{index}")
    return from_edges(size, [(int(i), int(j)) for i, j in g.edges()], name=f"atlas:{int(index)}")


def all_connected_graphs(n: int) -> tuple[Topology, ...]:
    """Every connected graph on ``n`` nodes up to isomorphism, one labelling each (networkx's
    graph atlas, :func:`atlas_graph`), in atlas order: 1, 2, 6, 21, 112, 853 graphs for
    n = 2..7. Raises ParameterError("N", ...) for n > ``ATLAS_MAX_N`` (the atlas stops at 7 nodes).

    "Up to isomorphism" covers a claim only when the clients are exchangeable; in the model of
    ``theory.model`` they are not (client i's rare axis is tied to its index), so a relabelled
    graph can give another s: these are one labelling of each shape, not every labelled graph
    (:func:`all_labelled_connected_graphs`)."""
    require(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 2 <= n <= ATLAS_MAX_N, "N",
            f"an integer in [2, {ATLAS_MAX_N}] (networkx's graph atlas lists the graphs on at most "
            f"{ATLAS_MAX_N} nodes)", n)
    return _connected_atlas(int(n))


@cache
def _connected_atlas(n: int) -> tuple[Topology, ...]:
    return tuple(atlas_graph(i) for i, g in enumerate(_atlas())
                 if g.number_of_nodes() == n and nx.is_connected(g))


LABELLED_MAX_N = 6


def all_labelled_connected_graphs(n: int) -> tuple[Topology, ...]:
    """Every connected graph on the labelled nodes 0..n-1 (1, 4, 38, 728, 26704 for n = 2..6),
    named ``labelled:<mask>`` by the bit mask of their edges in ``numpy.triu_indices`` order.
    Raises ParameterError("N", ...) for n > ``LABELLED_MAX_N`` (1 866 256 graphs at n = 7)."""
    require(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 2 <= n <= LABELLED_MAX_N, "N",
            f"an integer in [2, {LABELLED_MAX_N}] (there are 1866256 labelled connected graphs on 7 nodes)", n)
    n = int(n)
    rows, cols = np.triu_indices(n, k=1)
    bits = (np.arange(1 << rows.size)[:, None] >> np.arange(rows.size)[None, :]) & 1  # (2^P, P)
    out = []
    for mask, keep in enumerate(bits.astype(bool)):
        adj = np.zeros((n, n), dtype=bool)
        adj[rows[keep], cols[keep]] = True
        adj |= adj.T
        if adj.any(axis=1).all() and _n_components(adj) == 1:
            out.append(Topology(adj, f"labelled:{mask}"))
    return tuple(out)


def _edge_list(text: str, n: int, param: str) -> list[tuple[int, int]]:
    allowed = f"'edges:' and a comma list of edges I-J between clients 0..{n - 1} (N = {n})"
    pairs = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        a, sep, b = item.partition("-")
        require(sep == "-" and a.strip().isdigit() and b.strip().isdigit(), param, allowed, item)
        pairs.append((int(a), int(b)))
    require(bool(pairs), param, allowed, text)
    require(all(0 <= i < n and 0 <= j < n and i != j for i, j in pairs), param, allowed, text)
    return pairs


def parse_graph(spec: str, n: int, seed: int = 0, *, param: str = "graph") -> Topology:
    """The one parser of graph specs (every package's CLI and config): spec string -> :class:`Topology`.

    ==================  ===============================================================
    spec                graph on N clients
    ==================  ===============================================================
    complete            K_N (the FL case)
    ring, path, star    the cycle, the path 0-1-...-N-1, the star with centre 0
    regular:K           a connected K-regular graph (:func:`regular`)
    er:Q                G(N, Q) conditioned on connectivity (:func:`erdos_renyi`)
    er-abar:A           G(N, q) with q = min(1, (A - 1)/(N - 1)), expected |Ā| = A
    abar:A              a random connected graph with |Ā| = A (:func:`with_mean_connectivity`)
    abar-regular:A      a (A - 1)-regular graph, |Ā| = A exactly
    edges:I-J,K-L,...   exactly these edges (connected, on all N clients)
    atlas:I             graph I of networkx's graph atlas, its labelling (:func:`atlas_graph`)
    ==================  ===============================================================

    Random graphs are drawn with ``seed``. A spec outside this list, or a value out of range,
    raises :class:`ParameterError` naming ``param`` (the caller's option or config field) and
    what is allowed.
    """
    simple = {"complete": complete, "ring": ring, "path": path, "star": star}
    text = str(spec).strip()
    if text in simple:
        return simple[text](n)
    key, sep, arg = text.partition(":")
    if not sep or key not in GRAPH_KEYS:
        raise ParameterError(param, f"one of {GRAPH_SPECS}", spec)
    if key == "edges":
        try:
            return from_edges(n, _edge_list(arg, n, param), name="edges")
        except ParameterError as exc:
            if exc.name == param:
                raise
            raise ParameterError(param, f"a connected graph on all N = {n} clients ({exc})", spec) from None
    if key == "atlas":
        require(arg.strip().isdigit(), param, f"'atlas:' followed by an atlas index (one of {GRAPH_SPECS})", spec)
        return atlas_graph(int(arg), n, param=param)
    try:
        value = int(arg) if key == "regular" else float(arg)
    except ValueError:
        what = "an integer degree" if key == "regular" else "a number"
        raise ParameterError(param, f"'{key}:' followed by {what} (one of {GRAPH_SPECS})", spec) from None
    if key == "regular":
        return regular(n, int(value), seed=seed)
    if key == "er":
        return erdos_renyi(n, value, seed=seed)
    if key == "er-abar":
        n = _check_n(n)
        return erdos_renyi(n, min(1.0, (value - 1.0) / (n - 1)), seed=seed)
    return with_mean_connectivity(n, value, seed=seed, kind="regular" if key == "abar-regular" else "random")


def edges_spec(top: Topology) -> str:
    """The ``edges:`` spec of :func:`parse_graph` naming exactly this topology."""
    return "edges:" + ",".join(f"{i}-{j}" for i, j in top.edges)


def family_spec(family: str, mean_connectivity: float, *, param: str = "graph",
                value_param: str = "mean_connectivity") -> str:
    """The :func:`parse_graph` spec of a graph family at a target |Ā|, as the CLIs and configs
    name them: complete, ring, path, star (|Ā| unused), regular (degree |Ā| - 1, an integer),
    er (G(N, q) with expected |Ā|), abar, abar-regular."""
    require(family in GRAPH_FAMILIES, param, f"one of {GRAPH_FAMILIES}", family)
    if family in ("complete", "ring", "path", "star"):
        return family
    if family == "regular":
        degree = float(mean_connectivity) - 1.0
        require(degree.is_integer(), value_param, "an integer for the regular family (|Ā| = degree + 1)",
                mean_connectivity)
        return f"regular:{int(degree)}"
    return f"{'er-abar' if family == 'er' else family}:{float(mean_connectivity)!r}"


# ---- mixing and objective weights --------------------------------------------------


def mixing_matrix(top: Topology, rule: str = "uniform", sizes: np.ndarray | None = None) -> np.ndarray:
    """Row-stochastic D-PSGD mixing matrix W, shape (N, N), with w_ij > 0 iff j ∈ A_i.

    Rules (Assumption A.3; Appendix A.3.2, Table 6):

    * ``"uniform"`` (Table 6's degree-normalised): w_ij = 1/|A_i|.
    * ``"data-size"``: w_ij = n_j / Σ_{l∈A_i} n_l, n = ``sizes`` (positive, shape (N,));
      ``sizes`` is required for this rule and rejected for the others.
    * ``"metropolis"`` (Metropolis-Hastings, Table 6's doubly stochastic): for j ~ i,
      w_ij = 1/(1 + max(deg_i, deg_j)), and w_ii = 1 - Σ_{j~i} w_ij >= 1/(1 + deg_i).
      Symmetric and doubly stochastic.
    """
    require(rule in MIXING_RULES, "rule", f"one of {MIXING_RULES}", rule)
    n = top.n
    closed = top.adjacency | np.eye(n, dtype=bool)  # (N, N), the pattern of A_i
    if rule == "data-size":
        require(sizes is not None, "sizes", "given (N positive numbers) for rule='data-size'", sizes)
        s = np.asarray(sizes, dtype=float)
        require(
            s.shape == (n,) and bool(np.all(np.isfinite(s) & (s > 0))),
            "sizes",
            f"{n} finite positive numbers",
            s.tolist() if s.ndim <= 1 else s.shape,
        )
        w = closed * s[None, :]  # (N, N)
        return w / w.sum(axis=1, keepdims=True)
    require(sizes is None, "sizes", "None unless rule='data-size'", "an array")
    if rule == "uniform":
        return closed / top.sizes[:, None].astype(float)
    deg = top.sizes - 1  # (N,)
    w = top.adjacency / (1.0 + np.maximum(deg[:, None], deg[None, :]))  # (N, N), zero off the edges
    w[np.diag_indices(n)] = 1.0 - w.sum(axis=1)
    return w


def decl_objective_weights(top: Topology) -> np.ndarray:
    """ω_j = (1/N) Σ_{i: j∈A_i} 1/|A_i|, shape (N,), summing to 1.

    Implements Eq. 1 (DecL): (1/N) Σ_i (1/|A_i|) Σ_{j∈A_i} L_j = Σ_j ω_j L_j, so ω is the
    column mean of the uniform mixing matrix. ω_j = 1/N for every j if and only if the
    graph is regular (take j with the smallest |A_j|: Σ_{i∈A_j} 1/|A_i| <= 1 with equality
    only if all of A_j has that size, and spread by connectivity); then the DecL and FL
    objectives of Eq. 1 coincide.
    """
    return mixing_matrix(top, "uniform").mean(axis=0)


def _check_row_stochastic(mixing: np.ndarray) -> np.ndarray:
    w = np.asarray(mixing, dtype=float)
    require(w.ndim == 2 and w.shape[0] == w.shape[1] and w.shape[0] >= 1, "mixing", "a square matrix", w.shape)
    require(bool(np.all(np.isfinite(w))), "mixing", "finite", "non-finite entries")
    require(bool(np.all(w >= 0)), "mixing", "non-negative", f"min entry {w.min():g}")
    err = float(np.max(np.abs(w.sum(axis=1) - 1.0)))
    require(err <= STOCHASTIC_ATOL, "mixing", f"row-stochastic (|row sum - 1| <= {STOCHASTIC_ATOL:g})", f"error {err:g}")
    return w


def stationary_weights(mixing: np.ndarray) -> np.ndarray:
    """The left Perron vector π of a row-stochastic W: π W = π, π >= 0, Σ_j π_j = 1.

    With a constant W, D-PSGD's local models reach a consensus whose fixed point minimises
    Σ_j π_j L_j. Uniform mixing: π_j = |A_j| / Σ_l |A_l|; Metropolis: π_j = 1/N.
    Computed as the null space of Wᵀ - I (SVD), which also handles periodic W; raises
    ParameterError("mixing", ...) when π is not unique (several closed classes).
    """
    w = _check_row_stochastic(mixing)
    n = w.shape[0]
    basis = sla.null_space(w.T - np.eye(n), rcond=1e-10)  # (N, k)
    require(basis.shape[1] == 1, "mixing", "with a unique stationary distribution (one closed class)", f"{basis.shape[1]} of them")
    v = basis[:, 0]
    pi = v / v.sum()
    require(bool(np.all(pi >= -1e-10)), "mixing", "with a non-negative stationary vector", pi.tolist())
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def mean_inverse_connectivity(top: Topology) -> float:
    """(1/N) Σ_i 1/|A_i|, which Eqs. 29-30 replace by 1/|Ā| (equal iff the graph is
    regular; otherwise strictly larger, by Jensen)."""
    return float(np.mean(1.0 / top.sizes))


def spectral_gap(mixing: np.ndarray) -> float:
    """1 - |λ_2|, λ_2 the eigenvalue of second largest modulus of a row-stochastic W."""
    w = _check_row_stochastic(mixing)
    if np.allclose(w, w.T, atol=1e-14):
        lam = np.abs(np.linalg.eigvalsh(0.5 * (w + w.T)))
    else:
        lam = np.abs(np.linalg.eigvals(w))
    lam = np.sort(lam)[::-1]
    return float(1.0 - lam[1]) if lam.size > 1 else 1.0
