"""linear_models.distributed: FedAvg and gossip reduce to each other where they must, and the
mixing matrices of ``theory.graphs`` behave as gossip needs them to."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import linear_models  # noqa: F401  (float64)
from linear_models.distributed import Schedule, compress, gossip_mix, run_fedavg, run_gossip, run_local
from linear_models.objectives import init_params
from linear_models.solvers import Data, StepSpec
from theory import graphs
from theory.model import paper_config
from theory.rv import rv_of_rows
from theory.sampler import draw_client_samples

jax.config.update("jax_numpy_rank_promotion", "raise")

CFG = paper_config(32, n_clients=3, c=4, n_frequent=40, n_rare=6)
X = np.stack([cd.x for cd in draw_client_samples(CFG, seed=0)])  # (3, 86, 32)
LR, P = jnp.asarray(0.01), jnp.asarray(CFG.p)
KEY, SAMPLE_KEY = jax.random.key(11), jax.random.key(12)


def _data(method: str, clients: slice = slice(None)) -> Data:
    x = jnp.asarray(X[clients])
    return Data(x, 0.5 * x if method == "CL2" else None)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["CL2", "MAE"])  # views from precomputed H x; a two-factor pytree
def test_fedavg_with_one_client_is_centralised_training(method: str) -> None:
    data = _data(method, slice(0, 1))
    spec = StepSpec(method, 8, "sgd", "cosine", 12)
    sched = Schedule(rounds=4, local_steps=3, log_every=2, keep=8)
    p0 = init_params(method, jax.random.key(1), CFG.c, CFG.d, 0.1)
    local = run_local(spec, sched, data, p0, KEY, LR, P)
    fed = run_fedavg(spec, sched, data, p0, KEY, SAMPLE_KEY, jnp.ones(1), LR, P)
    for a, b in zip(jax.tree.leaves(local.client_params), jax.tree.leaves(fed.global_params)):
        np.testing.assert_array_equal(a[0], b)
    np.testing.assert_array_equal(local.history.loss, fed.history.loss)


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(1.0, 1.0, 1.0), (1.0, 2.0, 5.0)])
def test_gossip_on_the_complete_graph_is_fedavg(sizes: tuple[float, ...]) -> None:
    # uniform weights (equal sizes) or data-size weights: both are FedAvg's n_k / Σ n on K_N
    data = _data("MIM")
    spec = StepSpec("MIM", 8, "sgd", "constant", 6)
    sched = Schedule(rounds=6, local_steps=1, log_every=3, keep=8)
    p0 = init_params("MIM", jax.random.key(2), CFG.c, CFG.d, 0.1)
    top = graphs.complete(CFG.n_clients)
    rule = "uniform" if len(set(sizes)) == 1 else "data-size"
    mixing = graphs.mixing_matrix(top, rule, sizes=None if rule == "uniform" else np.asarray(sizes))
    gos = run_gossip(spec, sched, data, p0, KEY, jnp.asarray(mixing), LR, P)
    fed = run_fedavg(spec, sched, data, p0, KEY, SAMPLE_KEY, jnp.asarray(sizes), LR, P)
    for i in range(CFG.n_clients):  # every local model equals the global one after each round
        np.testing.assert_allclose(gos.client_params[i], fed.global_params, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gos.global_params, fed.global_params, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gos.history.loss, fed.history.loss, rtol=1e-10)


def test_fedavg_partial_participation_draws_distinct_clients() -> None:
    data = _data("MIM")
    spec = StepSpec("MIM", 8, "sgd")
    sched = Schedule(rounds=6, local_steps=2, log_every=1, n_sampled=2, keep=8)
    p0 = init_params("MIM", jax.random.key(3), CFG.c, CFG.d, 0.1)
    out = run_fedavg(spec, sched, data, p0, KEY, SAMPLE_KEY, jnp.ones(3), LR, P)
    ids = np.asarray(out.history.client_ids)
    assert ids.shape == (6, 2)
    assert all(len(set(row)) == 2 for row in ids.tolist())
    assert len({tuple(sorted(r)) for r in ids.tolist()}) > 1  # the draw changes with the round


def test_history_shapes_and_compressed_snapshots() -> None:
    data = _data("CL1")
    spec = StepSpec("CL1", 8, "sgd")
    keep = 6
    sched = Schedule(rounds=4, local_steps=1, log_every=2, keep=keep)
    p0 = init_params("CL1", jax.random.key(4), CFG.c, CFG.d, 0.5)
    mixing = jnp.asarray(graphs.mixing_matrix(graphs.path(3), "metropolis"))
    out = run_gossip(spec, sched, data, p0, KEY, mixing, LR, P)
    h = out.history
    assert h.loss.shape == (4,) and h.consensus.shape == (2,)
    assert h.client_snaps.shape == (2, 3, CFG.c, keep + CFG.c)
    assert h.global_snap.shape == (2, CFG.c, keep + CFG.c)
    # the snapshot keeps r_k exactly on the leading coordinates
    w = np.asarray(out.client_params[1])
    snap = np.asarray(compress(jnp.asarray(w), keep))
    np.testing.assert_allclose(rv_of_rows(snap)[:keep], rv_of_rows(w)[:keep], atol=1e-10)


# --------------------------------------------------------------------------- mixing properties
@st.composite
def connected_graphs(draw: st.DrawFn) -> graphs.Topology:
    """A random spanning tree (each node attaches to an earlier one) plus random extra edges."""
    n = draw(st.integers(2, 7))
    edges = {(draw(st.integers(0, i - 1)), i) for i in range(1, n)}
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    edges |= {(min(a, b), max(a, b)) for a, b in extra if a != b}
    return graphs.from_edges(n, sorted(edges))


RULES = st.sampled_from(["uniform", "metropolis", "data-size"])


def _mixing(top: graphs.Topology, rule: str, seed: int) -> np.ndarray:
    sizes = np.random.default_rng(seed).integers(1, 10, top.n).astype(float) if rule == "data-size" else None
    return graphs.mixing_matrix(top, rule, sizes=sizes)


@settings(max_examples=40, deadline=None)
@given(top=connected_graphs(), rule=RULES, seed=st.integers(0, 2**16))
@example(top=graphs.star(5), rule="uniform", seed=0)
@example(top=graphs.path(4), rule="metropolis", seed=0)
@example(top=graphs.complete(2), rule="data-size", seed=1)
def test_gossip_mixing_preserves_consensus_and_the_stationary_average(top: graphs.Topology, rule: str,
                                                                     seed: int) -> None:
    mixing = _mixing(top, rule, seed)
    m = jnp.asarray(mixing)
    rng = np.random.default_rng(seed)
    models = jnp.asarray(rng.standard_normal((top.n, 2, 3)))  # (N, c, d)
    mixed = gossip_mix(m, models)
    # a consensus is a fixed point (row-stochastic)
    same = jnp.broadcast_to(models[0], models.shape)
    np.testing.assert_allclose(gossip_mix(m, same), same, atol=1e-12)
    # the π-weighted average is invariant (π M = π), π the weights D-PSGD converges to
    pi = jnp.asarray(graphs.stationary_weights(mixing))
    np.testing.assert_allclose(jnp.tensordot(pi, mixed, axes=1), jnp.tensordot(pi, models, axes=1), atol=1e-10)
    # client i only hears from A_i
    for i in range(top.n):
        outside = [j for j in range(top.n) if j not in top.neighbourhoods[i]]
        if outside:
            bumped = models.at[outside[0]].add(1.0)
            np.testing.assert_allclose(gossip_mix(m, bumped)[i], mixed[i], atol=1e-12)
    # repeated mixing reaches the π-average consensus (self-loops make M aperiodic)
    lim = gossip_mix(jnp.linalg.matrix_power(m, 512), models)
    target = jnp.tensordot(pi, models, axes=1)
    np.testing.assert_allclose(lim, jnp.broadcast_to(target, models.shape), atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(top=connected_graphs(), seed=st.integers(0, 2**16))
@example(top=graphs.star(6), seed=0)
def test_metropolis_gossip_never_increases_the_consensus_distance(top: graphs.Topology, seed: int) -> None:
    m = jnp.asarray(graphs.mixing_matrix(top, "metropolis"))
    models = jnp.asarray(np.random.default_rng(seed).standard_normal((top.n, 2, 3)))

    def consensus(w: jnp.ndarray) -> float:
        return float(jnp.sum((w - jnp.mean(w, axis=0)[None]) ** 2))

    before, after = consensus(models), consensus(gossip_mix(m, models))
    assert after <= before + 1e-12
    np.testing.assert_allclose(jnp.mean(gossip_mix(m, models), axis=0), jnp.mean(models, axis=0), atol=1e-12)
