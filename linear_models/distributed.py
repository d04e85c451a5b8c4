"""Distributed training of the linear models: local, FedAvg and gossip (D-PSGD), jit + scan.

All three share one client update (``solvers.client_steps``) and one driver: an outer
``lax.scan`` over logged rounds and an inner one over the rounds between two logs.

* ``local``: every client trains alone; R rounds of E steps (no communication).
* ``fedavg`` (McMahan et al. 2017): each round, m = round(fraction · N) clients drawn
  without replacement (all N when fraction = 1, in client order) run E local steps from
  the global model; the new global model is Σ_k (n_k / Σ n) W_k over the drawn clients.
  The local optimiser state is reset every round.
* ``gossip`` (D-PSGD on the fixed graph, Lian et al. 2017): each client runs E local
  steps from its own model, then mixes with its neighbours by the row-stochastic mixing
  matrix M (``theory.graphs.mixing_matrix``). ``variant="atc"`` (adapt then combine,
  default): W_i ← Σ_j M_ij W_j^local. ``variant="dpsgd"`` (Lian et al.'s form):
  W_i ← Σ_j M_ij W_j + (W_i^local - W_i). The DecL model is the average (1/N) Σ_i W_i.

Deviation: with ``atc``, a complete graph with uniform weights and E = 1 IS FedAvg with
full participation (the tests check it); Lian et al. mix the pre-step models instead,
which has the same fixed points but not this identity. Each gossip client keeps its own
optimiser state across rounds.

Logged per logging point (every ``log_every`` rounds): compressed snapshots of the client
models and of the global model (see :func:`compress`) from which ``metrics`` computes the
RV with ``theory.rv.rv_of_rows``, and the consensus distance (1/M) Σ_i ‖θ_i - θ̄‖_F² / c
over all parameters. The mean minibatch loss of every round is logged too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from theory.frameworks import ALGORITHMS

from . import (
    _jax,  # noqa: F401  (float64)
    optim,
)
from .objectives import representation_rows
from .solvers import Data, StepSpec, client_steps

FRAMEWORKS: tuple[str, ...] = ALGORITHMS  # the algorithm names of theory.frameworks
GOSSIP_VARIANTS: tuple[str, ...] = ("atc", "dpsgd")


@dataclass(frozen=True)
class Schedule:
    """Static (compile-time) shape of a run."""

    rounds: int
    local_steps: int = 1
    log_every: int = 1
    n_sampled: int | None = None  # FedAvg clients per round (None: all)
    keep: int = 0  # leading coordinates kept exactly in the snapshots
    variant: str = "atc"

    def __post_init__(self) -> None:
        from theory.errors import require
        require(self.rounds >= 1, "rounds", "an integer >= 1", self.rounds)
        require(self.local_steps >= 1, "local_steps", "an integer >= 1", self.local_steps)
        require(1 <= self.log_every <= self.rounds and self.rounds % self.log_every == 0, "log_every",
                f"a divisor of rounds={self.rounds}", self.log_every)
        require(self.variant in GOSSIP_VARIANTS, "variant", f"one of {GOSSIP_VARIANTS}", self.variant)


class History(NamedTuple):
    """What a run logs. L = rounds / log_every logging points, M models observed per point."""

    loss: Float[Array, " R"]  # mean minibatch loss of each round (clients and local steps)
    consensus: Float[Array, " L"]
    client_snaps: Float[Array, "L M c k"]  # compressed rows of the observed client models
    client_ids: Int[Array, "L M"]
    global_snap: Float[Array, "L c k"]  # compressed rows of the global (average) model


class RunOutput(NamedTuple):
    history: History
    global_params: Any  # final global model (FedAvg) or average of the local models
    client_params: Any  # final models of the observed clients (leading axis M)


def compress(rows: Float[Array, "c d"], keep: int) -> Float[Array, "c k"]:
    """[W[:, :keep], F] with F Fᵀ = W[:, keep:] W[:, keep:]ᵀ, F of shape (c, c).

    The result has the same W Wᵀ and the same first ``keep`` columns as W, hence the same
    singular values and the same ‖Π_R e_k‖² for k < keep: ``rv_of_rows`` of the snapshot
    equals that of W on the leading coordinates, at O(c (keep + c)) memory per model.
    """
    head, tail = rows[:, :keep], rows[:, keep:]
    vals, vecs = jnp.linalg.eigh(tail @ tail.T)  # (c,), (c, c)
    return jnp.concatenate([head, vecs * jnp.sqrt(jnp.clip(vals, 0.0, None))[None, :]], axis=1)


def _tree_weighted_sum(weights: Float[Array, " M"], tree: Any) -> Any:
    return jax.tree.map(lambda leaf: jnp.tensordot(weights, leaf, axes=1), tree)


def _consensus(models: Any, centre: Any, c: int) -> Float[Array, ""]:
    sq = jax.tree.map(lambda m, g: jnp.sum((m - g[None]) ** 2) / m.shape[0], models, centre)
    return sum(jax.tree.leaves(sq)) / c


def _observe(method: str, keep: int, models: Any, ids: Int[Array, " M"], centre: Any) -> tuple:
    rows = jax.vmap(lambda q: representation_rows(method, q))(models)  # (M, c, d)
    c = rows.shape[1]
    snaps = jax.vmap(lambda r: compress(r, keep))(rows)
    gsnap = compress(representation_rows(method, centre), keep)
    return _consensus(models, centre, c), snaps, ids, gsnap


def _drive(round_fn: Callable, observe: Callable, state: Any, sched: Schedule) -> tuple[Any, History]:
    n_logs = sched.rounds // sched.log_every

    def outer(state: Any, j: Int[Array, ""]) -> tuple[Any, tuple]:
        state, losses = jax.lax.scan(round_fn, state, j * sched.log_every + jnp.arange(sched.log_every))
        return state, (losses, observe(state))

    state, (losses, (cons, snaps, ids, gsnap)) = jax.lax.scan(outer, state, jnp.arange(n_logs))
    return state, History(losses.reshape(-1), cons, snaps, ids, gsnap)


def _client_keys(key: PRNGKeyArray, n: int) -> PRNGKeyArray:
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))


def _local_round(spec: StepSpec, sched: Schedule, data: Data, keys: PRNGKeyArray, lr: Any, p: Any,
                 models: Any, states: Any, ids: Int[Array, " M"], r: Int[Array, ""]) -> tuple[Any, Any, Any]:
    step0 = r * sched.local_steps
    run = jax.vmap(lambda q, s, i, k: client_steps(spec, q, s, data, i, k, step0, sched.local_steps, lr, p))
    return run(models, states, ids, keys[ids])


def gossip_mix(mixing: Float[Array, "N N"], models: Any) -> Any:
    """One gossip averaging step W_i ← Σ_j M_ij W_j over the leading (client) axis of every leaf."""
    return jax.tree.map(lambda leaf: jnp.tensordot(mixing, leaf, axes=1), models)


def _broadcast(tree: Any, m: int) -> Any:
    return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (m,) + leaf.shape), tree)


@partial(jax.jit, static_argnames=("spec", "sched"))
def run_local(spec: StepSpec, sched: Schedule, data: Data, params0: Any, key: PRNGKeyArray,
              lr: Float[Array, ""], p: Float[Array, ""]) -> RunOutput:
    """Every client trains alone from the shared initial model ``params0``."""
    n = data.x.shape[0]
    ids = jnp.arange(n)
    keys = _client_keys(key, n)
    opt = optim.by_name(spec.optimizer)
    models = _broadcast(params0, n)
    states = jax.vmap(opt.init)(models)

    def round_fn(state: Any, r: Int[Array, ""]) -> tuple[Any, Float[Array, ""]]:
        models, states = state
        models, states, losses = _local_round(spec, sched, data, keys, lr, p, models, states, ids, r)
        return (models, states), jnp.mean(losses)

    def observe(state: Any) -> tuple:
        centre = jax.tree.map(lambda leaf: jnp.mean(leaf, axis=0), state[0])
        return _observe(spec.method, sched.keep, state[0], ids, centre)

    (models, _), hist = _drive(round_fn, observe, (models, states), sched)
    return RunOutput(hist, jax.tree.map(lambda leaf: jnp.mean(leaf, axis=0), models), models)


@partial(jax.jit, static_argnames=("spec", "sched"))
def run_fedavg(spec: StepSpec, sched: Schedule, data: Data, params0: Any, key: PRNGKeyArray,
               sample_key: PRNGKeyArray, sizes: Float[Array, " N"], lr: Float[Array, ""],
               p: Float[Array, ""]) -> RunOutput:
    """FedAvg: ``sched.n_sampled`` clients per round, E local steps, size-weighted averaging."""
    n = data.x.shape[0]
    m = n if sched.n_sampled is None else sched.n_sampled
    keys = _client_keys(key, n)
    opt = optim.by_name(spec.optimizer)

    def draw(r: Int[Array, ""]) -> Int[Array, " m"]:
        if m == n:
            return jnp.arange(n)
        return jax.random.choice(jax.random.fold_in(sample_key, r), n, (m,), replace=False)

    def round_fn(state: Any, r: Int[Array, ""]) -> tuple[Any, Float[Array, ""]]:
        glob, _, _ = state
        ids = draw(r)
        starts = _broadcast(glob, m)
        local, _, losses = _local_round(spec, sched, data, keys, lr, p, starts, jax.vmap(opt.init)(starts), ids, r)
        w = sizes[ids] / jnp.sum(sizes[ids])
        return (_tree_weighted_sum(w, local), local, ids), jnp.mean(losses)

    def observe(state: Any) -> tuple:
        glob, local, ids = state
        return _observe(spec.method, sched.keep, local, ids, glob)

    state0 = (params0, _broadcast(params0, m), jnp.arange(m))
    (glob, local, _), hist = _drive(round_fn, observe, state0, sched)
    return RunOutput(hist, glob, local)


@partial(jax.jit, static_argnames=("spec", "sched"))
def run_gossip(spec: StepSpec, sched: Schedule, data: Data, params0: Any, key: PRNGKeyArray,
               mixing: Float[Array, "N N"], lr: Float[Array, ""], p: Float[Array, ""]) -> RunOutput:
    """D-PSGD with a fixed row-stochastic ``mixing`` matrix; the DecL model is the average."""
    n = data.x.shape[0]
    ids = jnp.arange(n)
    keys = _client_keys(key, n)
    opt = optim.by_name(spec.optimizer)
    models = _broadcast(params0, n)
    states = jax.vmap(opt.init)(models)

    def mix(tree: Any) -> Any:
        return gossip_mix(mixing, tree)

    def round_fn(state: Any, r: Int[Array, ""]) -> tuple[Any, Float[Array, ""]]:
        models, states = state
        local, states, losses = _local_round(spec, sched, data, keys, lr, p, models, states, ids, r)
        if sched.variant == "atc":
            new = mix(local)
        else:
            new = jax.tree.map(lambda mx, lo, old: mx + lo - old, mix(models), local, models)
        return (new, states), jnp.mean(losses)

    def average(models: Any) -> Any:
        return jax.tree.map(lambda leaf: jnp.mean(leaf, axis=0), models)

    def observe(state: Any) -> tuple:
        return _observe(spec.method, sched.keep, state[0], ids, average(state[0]))

    (models, _), hist = _drive(round_fn, observe, (models, states), sched)
    return RunOutput(hist, average(models), models)
