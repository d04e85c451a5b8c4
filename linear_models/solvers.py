"""Exact and trained solvers of the linear objectives for ONE client (vmapped by callers).

* Exact: the top-c eigen solution of an X matrix. :func:`top_c` is the JAX version
  (``jnp.linalg.eigh``, jit, vmappable over clients and seeds) with the eigengap at the
  cut; :func:`exact_solution` is the numpy version that delegates the well-posedness
  logic (ties at the cut, rank < c when X has fewer than c positive eigenvalues) to
  ``theory.rv.solution_subspace``.
* Trained: :func:`client_steps` runs minibatch steps of one client with FRESH views at
  every step (the step key is ``fold_in(client_key, global_step)``, split into a batch
  key and a view key); :func:`fit` trains one client from scratch; :func:`fit_population`
  runs gradient descent on a population loss (pair form for a given X, or Eq. 3 for given
  moments), whose minimisers ``theory`` knows in closed form.

The pair-form objective has minimisers W with WᵀW = Σ_{j≤c, λ_j>0} λ_j v_j v_jᵀ (Eq. 16
and the best PSD rank-c approximation), so compare trained and exact models through
WᵀW or projectors onto the positive part, never through raw W (it is only defined up to
an orthogonal c x c factor, and its rank can be < c).

Deviation: minibatches are drawn uniformly WITH replacement at every step (no epochs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from theory.rv import DEFAULT_RTOL, Subspace, solution_subspace
from theory.structured import SymMatrix

from . import (
    _jax,  # noqa: F401  (float64)
    optim,
)
from .objectives import check_method, population_mae_loss, population_pair_loss, value_and_grad, views


# --------------------------------------------------------------------------- exact
class TopC(NamedTuple):
    """Top-c eigen solution of one X: rows √λ_j v_jᵀ (zero for λ_j <= 0), eigenvalues, gap."""

    w: Float[Array, "c d"]
    values: Float[Array, " c1"]  # the c + 1 largest eigenvalues, descending (c of them if c = d)
    rank: Int[Array, ""]  # r = min(c, #{λ_j > rtol·max|λ|}), the minimiser's rank
    eigengap: Float[Array, ""]  # λ_r - λ_{r+1} at the minimiser's cut (inf when r = d, nan when r = 0)


@partial(jax.jit, static_argnames="c")
def top_c(x: Float[Array, "d d"], c: int, rtol: float = DEFAULT_RTOL) -> TopC:
    """Minimiser of -tr(W X Wᵀ) + ½‖WᵀW‖² by ``jnp.linalg.eigh`` (no tie handling: see
    :func:`exact_solution`). vmap over a leading axis for several clients or seeds.

    As in ``theory.rv`` ("minimiser" rule), eigenvalues <= rtol·max|λ| count as zero, so the
    rank can be below c and the eigengap is taken at the rank's cut.
    """
    d = x.shape[0]
    vals, vecs = jnp.linalg.eigh(0.5 * (x + x.T))  # ascending
    vals, vecs = vals[::-1], vecs[:, ::-1]
    positive = vals > rtol * jnp.max(jnp.abs(vals))
    top = jnp.where(positive[:c], vals[:c], 0.0)
    w = (vecs[:, :c] * jnp.sqrt(top)[None, :]).T  # (c, d)
    rank = jnp.minimum(jnp.sum(positive), c)
    padded = jnp.concatenate([vals, jnp.full((1,), -jnp.inf)])
    gap = jnp.where(rank > 0, padded[jnp.maximum(rank - 1, 0)] - padded[rank], jnp.nan)
    return TopC(w, vals[: min(c + 1, d)], rank, gap)


@dataclass(frozen=True)
class ExactSolution:
    """The exact minimiser's subspace (theory's diagnostic) and, when unique, its rows."""

    subspace: Subspace
    rows: np.ndarray  # (rank, d): √λ_j v_jᵀ over the eigen-entries fixed by the rule

    @property
    def well_posed(self) -> bool:
        return self.subspace.well_posed


def subspace_rows(sub: Subspace) -> np.ndarray:
    """Rows √λ_j v_jᵀ for the eigen-entries strictly inside the selected subspace.

    Equal to ``theory.rv.minimiser_w`` up to an orthogonal factor when the minimiser is
    unique, but O(K² d) instead of a dense d x d eigendecomposition. A bulk eigenspace
    (``BlockScalar``) inside the subspace contributes √bulk e_k for every bulk axis k.
    """
    spec = sub.spec
    rows = []
    for j in sub.fixed:
        lam = float(max(spec.values[j], 0.0))
        if spec.window is not None:  # structured CL2 spectrum (theory.circulant): build the full eigenvector
            rows.append(np.sqrt(lam) * spec.full[j]())
        elif j == spec.bulk_index:
            for k in range(spec.k, spec.d):
                r = np.zeros(spec.d)
                r[k] = np.sqrt(lam)
                rows.append(r)
        else:
            r = np.zeros(spec.d)
            r[: spec.k] = np.sqrt(lam) * spec.vectors[:, j]
            rows.append(r)
    return np.asarray(rows).reshape(len(rows), spec.d)


def exact_solution(x: SymMatrix, c: int, rule: str = "minimiser") -> ExactSolution:
    """Exact solution of the pair-form objective for X; ties are reported by theory.rv."""
    sub = solution_subspace(x, c, rule)  # type: ignore[arg-type]
    return ExactSolution(sub, subspace_rows(sub))


# --------------------------------------------------------------------------- trained
DECAYS: tuple[str, ...] = ("constant", "cosine")
FINAL_FRACTION = 0.01  # the cosine schedule ends at 1% of the initial step size

@dataclass(frozen=True)
class StepSpec:
    """Static (compile-time) part of a training step: objective, batch size, optimiser."""

    method: str
    batch: int
    optimizer: str = "sgd"
    decay: str = "constant"  # learning-rate schedule over the run's global steps
    total_steps: int = 1  # length of the decay (rounds x local steps)

    def __post_init__(self) -> None:
        check_method(self.method)
        from theory.errors import require
        require(self.batch >= 1, "batch", "an integer >= 1", self.batch)
        require(self.optimizer in optim.OPTIMIZERS, "optimizer", f"one of {optim.OPTIMIZERS}", self.optimizer)
        require(self.decay in DECAYS, "decay", f"one of {DECAYS}", self.decay)
        require(self.total_steps >= 1, "total_steps", "an integer >= 1", self.total_steps)

    def lr_at(self, lr: Float[Array, ""], step: Int[Array, ""]) -> Float[Array, ""]:
        """lr at a global step: constant, or cosine from lr to lr·FINAL_FRACTION over total_steps."""
        if self.decay == "constant":
            return lr
        t = jnp.clip(step / self.total_steps, 0.0, 1.0)
        return lr * (FINAL_FRACTION + (1.0 - FINAL_FRACTION) * 0.5 * (1.0 + jnp.cos(jnp.pi * t)))


class Data(NamedTuple):
    """Sampled data of all clients; every client has the same number n of samples."""

    x: Float[Array, "N n d"]
    hx: Float[Array, "N n d"] | None  # H x for CL2, None otherwise


def client_steps(spec: StepSpec, params: Any, opt_state: Any, data: Data, cid: Int[Array, ""],
                 key: PRNGKeyArray, step0: Int[Array, ""], n_steps: int,
                 lr: Float[Array, ""], p: Float[Array, ""]) -> tuple[Any, Any, Float[Array, " n_steps"]]:
    """``n_steps`` minibatch steps of client ``cid`` from ``params``.

    The key of global step s is ``fold_in(key, s)`` for s = step0, ..., step0 + n_steps - 1,
    so a client's randomness depends only on (its key, the step), not on the framework.
    Returns the new parameters, optimiser state and the minibatch losses (before each step).
    """
    opt = optim.by_name(spec.optimizer)
    n = data.x.shape[1]

    def body(carry: tuple[Any, Any], s: Int[Array, ""]) -> tuple[tuple[Any, Any], Float[Array, ""]]:
        params, state = carry
        kb, kv = jax.random.split(jax.random.fold_in(key, step0 + s))
        idx = jax.random.randint(kb, (spec.batch,), 0, n)  # (B,)
        xb = data.x[cid, idx]  # (B, d)
        hb = data.hx[cid, idx] if spec.method == "CL2" else None  # (B, d)
        a, b = views(spec.method, xb, hb, kv, p)
        val, grad = value_and_grad(spec.method, params, a, b)
        upd, state = opt.update(grad, state, spec.lr_at(lr, step0 + s))
        return (jax.tree.map(jnp.add, params, upd), state), val

    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), jnp.arange(n_steps))
    return params, opt_state, losses


@partial(jax.jit, static_argnames=("spec", "steps"))
def fit(spec: StepSpec, params0: Any, x: Float[Array, "n d"], hx: Float[Array, "n d"] | None,
        key: PRNGKeyArray, steps: int, lr: Float[Array, ""] | float,
        p: Float[Array, ""] | float) -> tuple[Any, Float[Array, " steps"]]:
    """Train one client for ``steps`` minibatch steps; returns (params, loss curve).

    vmap over clients / seeds with ``jax.vmap(fit, in_axes=(None, 0, 0, 0, 0, None, None, None))``.
    """
    data = Data(x[None], None if hx is None else hx[None])
    state = optim.by_name(spec.optimizer).init(params0)
    params, _, losses = client_steps(spec, params0, state, data, jnp.asarray(0), key, jnp.asarray(0),
                                     steps, jnp.asarray(lr), jnp.asarray(p))
    return params, losses


@partial(jax.jit, static_argnames=("method", "steps", "optimizer"))
def fit_population(method: str, target: Any, params0: Any, steps: int, lr: Float[Array, ""] | float,
                   optimizer: str = "sgd") -> tuple[Any, Float[Array, " steps"]]:
    """Gradient descent on a population loss (no sampling): the known-optimum setup.

    Pair methods: ``target`` is X (d x d) and the loss -tr(W X Wᵀ) + ½‖WᵀW‖². MAE:
    ``target`` is (Σ_aa, Σ_ba) and the loss is Eq. 3 without its constant.
    """
    opt = optim.by_name(optimizer)
    if method == "MAE":
        def objective(q: Any) -> Float[Array, ""]:
            return population_mae_loss(q, target[0], target[1])
    else:
        def objective(q: Any) -> Float[Array, ""]:
            return population_pair_loss(q, target)

    def body(carry: tuple[Any, Any], _: Any) -> tuple[tuple[Any, Any], Float[Array, ""]]:
        params, state = carry
        val, grad = jax.value_and_grad(objective)(params)
        upd, state = opt.update(grad, state, lr)
        return (jax.tree.map(jnp.add, params, upd), state), val

    (params, _), losses = jax.lax.scan(body, (params0, opt.init(params0)), None, length=steps)
    return params, losses
