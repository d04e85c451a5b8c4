"""Two optimisers in a few lines of jnp, over any pytree of parameters.

Each is a pair (init, update) in the style of optax's GradientTransformation:
``state = init(params)``, ``updates, state = update(grads, state, lr)``, then
``params + updates``. No dependency on optax (it is not a project dependency).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from . import _jax  # noqa: F401  (float64)

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")


class Optimizer(NamedTuple):
    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], tuple[Any, Any]]


def sgd() -> Optimizer:
    """Plain SGD: updates = -lr · grads; no state."""

    def init(params: Any) -> tuple[()]:
        return ()

    def update(grads: Any, state: Any, lr: Any) -> tuple[Any, Any]:
        return jax.tree.map(lambda g: -lr * g, grads), state

    return Optimizer(init, update)


def adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam (Kingma & Ba 2015, Algorithm 1, with bias correction); eps outside the root."""

    def init(params: Any) -> tuple[Any, Any, Any]:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return (jnp.zeros((), jnp.int64), zeros, zeros)

    def update(grads: Any, state: Any, lr: Any) -> tuple[Any, Any]:
        count, mu, nu = state
        count = count + 1
        mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, mu, grads)
        nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, nu, grads)
        c1 = 1 - b1 ** count.astype(jnp.float64)
        c2 = 1 - b2 ** count.astype(jnp.float64)
        upd = jax.tree.map(lambda m, v: -lr * (m / c1) / (jnp.sqrt(v / c2) + eps), mu, nu)
        return upd, (count, mu, nu)

    return Optimizer(init, update)


def by_name(name: str) -> Optimizer:
    if name == "sgd":
        return sgd()
    if name == "adam":
        return adam()
    from theory.errors import ParameterError
    raise ParameterError("optimizer", f"one of {OPTIMIZERS}", name)
