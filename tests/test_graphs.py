"""Graphs, neighbourhoods A_i and mixing weights (theory/graphs.py; paper Eq. 1, Eqs. 29-30)."""

from __future__ import annotations

from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from theory import graphs
from theory.errors import ParameterError

# ---- strategies --------------------------------------------------------------------


@st.composite
def n_and_target(draw, max_n: int = 30):
    """(N, target) with target in the connected range [3 - 2/N, N]."""
    n = draw(st.integers(2, max_n))
    lo, hi = graphs.mean_connectivity_range(n)
    target = draw(st.floats(lo, hi, allow_nan=False))
    return n, target


@st.composite
def n_and_degree(draw, max_n: int = 24):
    """(N, degree) for which a connected degree-regular graph exists."""
    n = draw(st.integers(3, max_n))
    degree = draw(st.integers(2, n - 1))
    if n * degree % 2:
        degree -= 1  # n odd and degree odd: degree - 1 >= 2 is even
    return n, degree


@st.composite
def topologies(draw, max_n: int = 12):
    """Connected graphs of every constructor, regular and irregular."""
    n = draw(st.integers(2, max_n))
    seed = draw(st.integers(0, 2**16))
    kind = draw(st.sampled_from(["complete", "ring", "path", "star", "er", "abar", "regular"]))
    if kind == "er":
        return graphs.erdos_renyi(n, draw(st.floats(0.5, 1.0)), seed=seed)
    if kind == "abar":
        lo, hi = graphs.mean_connectivity_range(n)
        return graphs.with_mean_connectivity(n, draw(st.floats(lo, hi)), seed=seed)
    if kind == "regular":
        if n == 2:
            return graphs.regular(2, 1)
        n, degree = draw(n_and_degree(max_n=max_n))
        return graphs.regular(n, degree, seed=seed)
    return graphs.parse_graph(kind, n)


def positive_sizes(n: int):
    return st.lists(st.floats(0.5, 1000.0), min_size=n, max_size=n).map(np.array)


# ---- Topology ------------------------------------------------------------------------


@given(topologies())
def test_topology_invariants(top):
    adj = top.adjacency
    assert adj.dtype == bool and not adj.flags.writeable
    assert np.array_equal(adj, adj.T) and not np.any(np.diag(adj))
    assert nx.is_connected(top.to_networkx())
    for i, a_i in enumerate(top.neighbourhoods):
        assert list(a_i) == sorted({i} | set(np.flatnonzero(adj[i]).tolist()))
    assert top.sizes.tolist() == [len(a) for a in top.neighbourhoods]
    assert np.all(top.sizes >= 2) and np.all(top.sizes <= top.n)
    assert top.mean_connectivity == pytest.approx(1 + 2 * len(top.edges) / top.n, rel=1e-14)
    assert all(i < j for i, j in top.edges)
    assert graphs.from_edges(top.n, top.edges).adjacency.tolist() == adj.tolist()


def test_topology_copies_and_freezes_its_input():
    adj = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
    top = graphs.Topology(adj, "p3")
    adj[0, 2] = adj[2, 0] = True
    assert top.edges == ((0, 1), (1, 2))
    with pytest.raises(ValueError):
        top.adjacency[0, 2] = True
    assert top == graphs.from_edges(3, [(1, 0), (2, 1), (1, 2)], name="p3")
    assert hash(top) == hash(graphs.Topology(top.adjacency, "p3"))
    assert top != graphs.path(3)  # different name


def test_named_graphs():
    assert graphs.complete(5).sizes.tolist() == [5] * 5
    assert graphs.ring(6).sizes.tolist() == [3] * 6
    assert graphs.ring(2).edges == ((0, 1),) == graphs.complete(2).edges
    assert graphs.path(4).edges == ((0, 1), (1, 2), (2, 3))
    assert graphs.star(4).sizes.tolist() == [4, 2, 2, 2]
    assert graphs.ring(5).is_regular and not graphs.star(4).is_regular
    assert graphs.parse_graph("regular:4", 9).name == "regular(k=4)"
    assert graphs.parse_graph("er:0.6", 8, seed=3) == graphs.erdos_renyi(8, 0.6, seed=3)
    assert graphs.parse_graph("abar:5", 20, seed=1) == graphs.with_mean_connectivity(20, 5.0, seed=1)
    assert graphs.parse_graph("abar-regular:5", 20).sizes.tolist() == [5] * 20


@given(n_and_degree(), st.integers(0, 2**16))
@example((10, 3), 0)
@example((3, 2), 0)
def test_regular_has_requested_degree(n_degree, seed):
    n, degree = n_degree
    top = graphs.regular(n, degree, seed=seed)
    assert top.is_regular and top.sizes.tolist() == [degree + 1] * n
    assert top.name == f"regular(k={degree})"
    assert top == graphs.regular(n, degree, seed=seed)


@given(n_and_target(), st.integers(0, 2**16))
@example((20, 3.0), 0)
@example((20, 2.9), 0)  # a spanning tree, reached through the fallback
@example((2, 2.0), 0)
@example((7, 5.5), 0)  # N(target - 1)/2 = 15.75 is not an integer
def test_with_mean_connectivity_hits_target(n_target, seed):
    n, target = n_target
    top = graphs.with_mean_connectivity(n, target, seed=seed)
    assert abs(top.mean_connectivity - target) <= 1.0 / n + 1e-12
    assert nx.is_connected(top.to_networkx())
    assert top == graphs.with_mean_connectivity(n, target, seed=seed)


def test_with_mean_connectivity_fallback_is_a_tree_plus_edges():
    # max_tries=1 at the tree value: G(30, 29) is connected with probability ~1e-9, so
    # the spanning-tree fallback runs.
    tree = graphs.with_mean_connectivity(30, 3 - 2 / 30, seed=5, max_tries=1)
    assert len(tree.edges) == 29 and nx.is_tree(tree.to_networkx())
    denser = graphs.with_mean_connectivity(30, 4.0, seed=5, max_tries=1)
    assert len(denser.edges) == 45 and abs(denser.mean_connectivity - 4.0) < 1e-12


@given(st.integers(3, 20).flatmap(lambda n: st.tuples(st.just(n), st.integers(3, n))))
@example((2, 2))
def test_with_mean_connectivity_regular_kind_is_exact(n_abar):
    n, abar = n_abar
    if n > 2 and n * (abar - 1) % 2:
        with pytest.raises(ParameterError) as err:
            graphs.with_mean_connectivity(n, abar, seed=0, kind="regular")
        assert err.value.name == "degree"
        return
    top = graphs.with_mean_connectivity(n, abar, seed=0, kind="regular")
    assert top.is_regular and top.mean_connectivity == abar


@given(st.integers(2, 15), st.floats(0.4, 1.0), st.integers(0, 2**16))
def test_erdos_renyi_is_connected_and_seeded(n, q, seed):
    top = graphs.erdos_renyi(n, q, seed=seed)
    assert nx.is_connected(top.to_networkx())
    assert top == graphs.erdos_renyi(n, q, seed=seed)
    assert top.name == f"erdos-renyi(q={q:g})"


def test_erdos_renyi_q_one_is_complete():
    assert graphs.erdos_renyi(6, 1.0, seed=0).adjacency.tolist() == graphs.complete(6).adjacency.tolist()


# ---- mixing matrices -------------------------------------------------------------------


@given(topologies(), st.sampled_from(graphs.MIXING_RULES), st.data())
def test_mixing_row_stochastic_with_pattern_of_neighbourhoods(top, rule, data):
    sizes = data.draw(positive_sizes(top.n)) if rule == "data-size" else None
    w = graphs.mixing_matrix(top, rule, sizes=sizes)
    assert w.shape == (top.n, top.n)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-13)
    closed = top.adjacency | np.eye(top.n, dtype=bool)
    assert np.array_equal(w > 0, closed)
    assert np.all(w >= 0)


@given(topologies())
def test_metropolis_is_symmetric_and_doubly_stochastic(top):
    w = graphs.mixing_matrix(top, "metropolis")
    assert np.array_equal(w, w.T)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=0, atol=1e-13)
    np.testing.assert_allclose(graphs.stationary_weights(w), 1.0 / top.n, rtol=1e-10)


@given(topologies(), st.sampled_from(graphs.MIXING_RULES), st.data())
def test_stationary_weights_closed_forms(top, rule, data):
    sizes = data.draw(positive_sizes(top.n)) if rule == "data-size" else None
    w = graphs.mixing_matrix(top, rule, sizes=sizes)
    pi = graphs.stationary_weights(w)
    assert np.all(pi >= 0) and pi.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(pi @ w, pi, rtol=0, atol=1e-12)
    if rule == "uniform":
        expected = top.sizes / top.sizes.sum()
    elif rule == "metropolis":
        expected = np.full(top.n, 1.0 / top.n)
    else:
        # data-size mixing is reversible: π_i w_ij = c n_i n_j for π_i ∝ n_i Σ_{l∈A_i} n_l.
        closed = top.adjacency | np.eye(top.n, dtype=bool)
        expected = sizes * (closed @ sizes)
        expected = expected / expected.sum()
    np.testing.assert_allclose(pi, expected, rtol=1e-9, atol=1e-12)


@given(topologies())
def test_stationary_weights_match_the_consensus_of_gossip(top):
    # Sampled twin: every row of W^t tends to π (uniform mixing is aperiodic, w_ii > 0).
    # The error decays like (1 - gap)^t; t = 4000 and gap >= 1e-2 here give < 1e-17.
    w = graphs.mixing_matrix(top, "uniform")
    gap = graphs.spectral_gap(w)
    assert gap >= 1e-2
    consensus = np.linalg.matrix_power(w, 4000)
    np.testing.assert_allclose(consensus, np.tile(graphs.stationary_weights(w), (top.n, 1)), atol=1e-12)


def test_stationary_weights_periodic_chain():
    flip = np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(graphs.stationary_weights(flip), [0.5, 0.5], rtol=1e-14)
    assert graphs.spectral_gap(flip) == pytest.approx(0.0, abs=1e-14)


def test_stationary_weights_rejects_two_closed_classes():
    with pytest.raises(ParameterError) as err:
        graphs.stationary_weights(np.eye(3))
    assert err.value.name == "mixing"


def test_spectral_gap_reference_values():
    # Uniform mixing on K_N is J/N (eigenvalues 1, 0, ..., 0): gap 1.
    assert graphs.spectral_gap(graphs.mixing_matrix(graphs.complete(5))) == pytest.approx(1.0, abs=1e-12)
    # Metropolis on C_6 is circulant (1/3, 1/3, 1/3): eigenvalues (1 + 2cos(2πk/6))/3, so
    # |λ_2| = 2/3 (k = 1) and the gap is 1/3.
    assert graphs.spectral_gap(graphs.mixing_matrix(graphs.ring(6), "metropolis")) == pytest.approx(1 / 3, rel=1e-12)


# ---- objective weights (Eq. 1) and Eqs. 29-30 ---------------------------------------------


@given(topologies())
def test_decl_weights_sum_to_one_and_are_uniform_iff_regular(top):
    omega = graphs.decl_objective_weights(top)
    # Twin: the double sum of Eq. 1 written out.
    direct = np.zeros(top.n)
    for a_i in top.neighbourhoods:
        for j in a_i:
            direct[j] += 1.0 / (top.n * len(a_i))
    np.testing.assert_allclose(omega, direct, rtol=1e-14)
    assert omega.sum() == pytest.approx(1.0, abs=1e-14)
    assert bool(np.allclose(omega, 1.0 / top.n, rtol=1e-12, atol=0)) == top.is_regular


@given(topologies())
def test_mean_inverse_connectivity_vs_eq_29_30(top):
    # Jensen: (1/N) Σ 1/|A_i| >= 1/|Ā|, with equality iff every |A_i| is the same.
    gap = graphs.mean_inverse_connectivity(top) - 1.0 / top.mean_connectivity
    assert gap >= -1e-15
    assert (gap <= 1e-15) == top.is_regular


def test_path_p3_pinned_numbers():
    # P3: |A| = (2, 3, 2), |Ā| = 7/3.
    top = graphs.path(3)
    assert top.sizes.tolist() == [2, 3, 2]
    assert Fraction(top.mean_connectivity).limit_denominator(100) == Fraction(7, 3)
    # ω = (1/3)(1/2 + 1/3, 1/2 + 1/3 + 1/2, 1/3 + 1/2) = (5/18, 4/9, 5/18), not 1/3 each:
    # the DecL objective of Eq. 1 on P3 is not the FL objective.
    np.testing.assert_allclose(graphs.decl_objective_weights(top), [5 / 18, 4 / 9, 5 / 18], rtol=1e-15)
    # Eqs. 29-30 replace (1/N) Σ 1/|A_i| = 4/9 by 1/|Ā| = 3/7; they differ by 1/63.
    assert graphs.mean_inverse_connectivity(top) == pytest.approx(4 / 9, rel=1e-15)
    assert 1 / top.mean_connectivity == pytest.approx(3 / 7, rel=1e-15)
    assert graphs.mean_inverse_connectivity(top) - 1 / top.mean_connectivity == pytest.approx(1 / 63, rel=1e-12)
    # Uniform gossip weights π = (2, 3, 2)/7: neither ω nor 1/N.
    uniform = graphs.mixing_matrix(top, "uniform")
    np.testing.assert_allclose(graphs.stationary_weights(uniform), [2 / 7, 3 / 7, 2 / 7], rtol=1e-12)
    # Metropolis: degrees (1, 2, 1), every edge weight 1/3.
    metropolis = graphs.mixing_matrix(top, "metropolis")
    np.testing.assert_allclose(metropolis, [[2 / 3, 1 / 3, 0], [1 / 3, 1 / 3, 1 / 3], [0, 1 / 3, 2 / 3]], rtol=1e-15)
    # Data-size with n = (1, 2, 3): rows n_j / Σ_{l∈A_i} n_l.
    data = graphs.mixing_matrix(top, "data-size", sizes=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(data, [[1 / 3, 2 / 3, 0], [1 / 6, 2 / 6, 3 / 6], [0, 2 / 5, 3 / 5]], rtol=1e-15)


# ---- errors name the parameter ---------------------------------------------------------


def _name_of(call, *args, **kwargs) -> str:
    with pytest.raises(ParameterError) as err:
        call(*args, **kwargs)
    return err.value.name


def test_errors_name_the_parameter():
    assert _name_of(graphs.complete, 1) == "N"
    assert _name_of(graphs.Topology, np.zeros((1, 1), dtype=bool)) == "N"
    assert _name_of(graphs.Topology, np.zeros((2, 3), dtype=bool)) == "adjacency"
    assert _name_of(graphs.Topology, np.array([[0, 1], [0, 0]])) == "adjacency"
    assert _name_of(graphs.Topology, np.array([[1, 1], [1, 0]])) == "adjacency"
    assert _name_of(graphs.from_edges, 4, [(0, 1), (2, 3)]) == "graph"
    assert _name_of(graphs.from_edges, 3, [(0, 1)]) == "graph"  # node 2 is isolated
    assert _name_of(graphs.from_edges, 3, [(0, 3)]) == "edges"
    assert _name_of(graphs.from_edges, 3, [(1, 1)]) == "edges"
    assert _name_of(graphs.regular, 6, 1) == "degree"
    assert _name_of(graphs.regular, 5, 3) == "degree"  # N*degree odd
    assert _name_of(graphs.regular, 5, 5) == "degree"
    assert _name_of(graphs.erdos_renyi, 5, 0.0, seed=0) == "q"
    assert _name_of(graphs.with_mean_connectivity, 10, 12.0, seed=0) == "mean_connectivity"
    assert _name_of(graphs.with_mean_connectivity, 10, 5.0, seed=0, kind="bogus") == "kind"
    assert _name_of(graphs.with_mean_connectivity, 10, 4.5, seed=0, kind="regular") == "mean_connectivity"
    assert _name_of(graphs.parse_graph, "torus", 5) == "graph"
    assert _name_of(graphs.parse_graph, "er:x", 5) == "graph"
    top = graphs.ring(5)
    assert _name_of(graphs.mixing_matrix, top, "push-sum") == "rule"
    assert _name_of(graphs.mixing_matrix, top, "data-size") == "sizes"
    assert _name_of(graphs.mixing_matrix, top, "data-size", sizes=np.array([1.0, 2, 3, 4, 0])) == "sizes"
    assert _name_of(graphs.mixing_matrix, top, "data-size", sizes=np.ones(4)) == "sizes"
    assert _name_of(graphs.mixing_matrix, top, "uniform", sizes=np.ones(5)) == "sizes"
    assert _name_of(graphs.stationary_weights, np.full((3, 3), 0.5)) == "mixing"
    assert _name_of(graphs.spectral_gap, np.array([[1.5, -0.5], [0.0, 1.0]])) == "mixing"


def test_erdos_renyi_too_sparse_says_q_is_too_small():
    with pytest.raises(ParameterError, match="too small for N") as err:
        graphs.erdos_renyi(40, 0.01, seed=0, max_tries=20)
    assert err.value.name == "q"


@given(st.integers(2, 40), st.data())
def test_target_outside_connected_range_is_rejected(n, data):
    lo, hi = graphs.mean_connectivity_range(n)
    bad = data.draw(st.one_of(st.floats(0.0, lo - 1e-6), st.floats(hi + 1e-6, 10.0 * n)))
    with pytest.raises(ParameterError, match=r"\[3 - 2/N, N\]") as err:
        graphs.with_mean_connectivity(n, bad, seed=0)
    assert err.value.name == "mean_connectivity"


def test_target_two_is_rejected_for_three_or_more_clients():
    # Deviation from [2, N]: a connected graph on N >= 3 nodes has |Ā| >= 3 - 2/N > 2.
    assert graphs.mean_connectivity_range(3) == pytest.approx((7 / 3, 3.0))
    assert _name_of(graphs.with_mean_connectivity, 3, 2.0, seed=0) == "mean_connectivity"
    assert graphs.with_mean_connectivity(2, 2.0, seed=0).edges == ((0, 1),)
