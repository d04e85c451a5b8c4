"""Views and minibatch losses of the four trained objectives, for one client and one batch.

Pair-form objectives (paper Section 2 of the spec; L(W) = -E[(W a)ᵀ (W b)] + ½ ‖WᵀW‖_F²):

======  ============================  ======================  ===========================
method  paper                         view a                  view b
======  ============================  ======================  ===========================
CL1     Eq. 2, similar augmentations  x + ξ                   x + ξ',  ξ, ξ' ~ N(0, I_d)
CL2     dissimilar augmentations      x + ξ                   H x  (``theory.xmatrix.augmentation_matrix``)
MIM     Eq. 4, alignment form         x ⊙ m                   x ⊙ (1 - m),  P(m_k = 0) = p
======  ============================  ======================  ===========================

MAE is the linear masked auto-encoder of Eq. 3: parameters (W_e in R^{c x d},
W_d in R^{d x c}) and loss E ‖W_d W_e (x ⊙ m) - x ⊙ (1 - m)‖² with the MIM views.

Every view is drawn fresh from the key it is given; callers split keys per step.
The minibatch losses are unbiased estimates of the population losses whose minimisers
``theory`` computes (pair form: -tr(W X Wᵀ) + ½‖WᵀW‖², X = ½E[b aᵀ + a bᵀ], Eq. 16).

Deviations: the Gaussian augmentation noise ξ is drawn in float32 and cast to float64
(the losses and gradients are float64). CL2's view b = H x is deterministic, so it is precomputed once per data set
(``hx``) instead of multiplying by the d x d matrix H at every step.
"""

from __future__ import annotations

from typing import Union

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from . import _jax  # noqa: F401  (float64)

METHODS: tuple[str, ...] = ("MIM", "CL1", "CL2", "MAE")
PAIR_METHODS: tuple[str, ...] = ("MIM", "CL1", "CL2")

PairParams = Float[Array, "c d"]
MAEParams = tuple[Float[Array, "c d"], Float[Array, "d c"]]
Params = Union[PairParams, MAEParams]


def check_method(method: str) -> None:
    if method not in METHODS:
        from theory.errors import ParameterError
        raise ParameterError("method", f"one of {METHODS}", method)


def _gaussian(key: PRNGKeyArray, like: Float[Array, "b d"]) -> Float[Array, "b d"]:
    # drawn in float32 (about twice as fast on CPU), used in float64
    return jax.random.normal(key, like.shape, dtype=jnp.float32).astype(like.dtype)


def views(method: str, x: Float[Array, "b d"], hx: Float[Array, "b d"] | None, key: PRNGKeyArray,
          p: Float[Array, ""] | float) -> tuple[Float[Array, "b d"], Float[Array, "b d"]]:
    """One fresh pair of views (a, b) per row of ``x`` (see the module table)."""
    if method in ("MIM", "MAE"):
        keep = (jax.random.uniform(key, x.shape, dtype=x.dtype) >= p).astype(x.dtype)  # m_k = 0 w.p. p
        return x * keep, x * (1.0 - keep)
    k1, k2 = jax.random.split(key)
    a = x + _gaussian(k1, x)
    if method == "CL1":
        return a, x + _gaussian(k2, x)
    assert hx is not None, "CL2 needs the precomputed H x"
    return a, hx


def regulariser(w: Float[Array, "c d"]) -> Float[Array, ""]:
    """½ ‖WᵀW‖_F², computed as ½ ‖W Wᵀ‖_F² (c x c instead of d x d)."""
    g = w @ w.T  # (c, c)
    return 0.5 * jnp.sum(g * g)


def pair_loss(w: Float[Array, "c d"], a: Float[Array, "b d"], b: Float[Array, "b d"]) -> Float[Array, ""]:
    """Minibatch pair-form loss -mean_j (W a_j)ᵀ (W b_j) + ½ ‖WᵀW‖_F²."""
    za = a @ w.T  # (b, c)
    zb = b @ w.T  # (b, c)
    return -jnp.sum(za * zb) / a.shape[0] + regulariser(w)


def pair_value_and_grad(w: Float[Array, "c d"], a: Float[Array, "b d"],
                        b: Float[Array, "b d"]) -> tuple[Float[Array, ""], Float[Array, "c d"]]:
    """:func:`pair_loss` and its gradient -(Z_bᵀ A + Z_aᵀ B)/n + 2 (W Wᵀ) W in closed form.

    About 25% fewer flops than reverse-mode autodiff of :func:`pair_loss` (which forms the
    regulariser's c x d product twice); a test checks it against ``jax.grad``.
    """
    za = a @ w.T  # (b, c)
    zb = b @ w.T  # (b, c)
    g = w @ w.T  # (c, c)
    n = a.shape[0]
    val = -jnp.sum(za * zb) / n + 0.5 * jnp.sum(g * g)
    grad = -(zb.T @ a + za.T @ b) / n + 2.0 * (g @ w)
    return val, grad


def value_and_grad(method: str, params: Params, a: Float[Array, "b d"],
                   b: Float[Array, "b d"]) -> tuple[Float[Array, ""], Params]:
    """Minibatch loss and gradient: closed form for the pair methods, autodiff for MAE."""
    if method == "MAE":
        return jax.value_and_grad(mae_loss)(params, a, b)  # type: ignore[arg-type]
    return pair_value_and_grad(params, a, b)  # type: ignore[arg-type]


def population_pair_loss(w: Float[Array, "c d"], x_matrix: Float[Array, "d d"]) -> Float[Array, ""]:
    """Population pair-form loss -tr(W X Wᵀ) + ½ ‖WᵀW‖_F² (``theory.xmatrix.pair_loss`` in JAX)."""
    return -jnp.sum((w @ x_matrix) * w) + regulariser(w)


def population_mae_loss(params: MAEParams, s_aa: Float[Array, "d d"], s_ba: Float[Array, "d d"]) -> Float[Array, ""]:
    """Population Eq. 3 loss without its constant E‖b‖²: tr(A Σ_aa Aᵀ) - 2 tr(A Σ_ab), A = W_d W_e.

    Σ_aa = E[a aᵀ], Σ_ba = E[b aᵀ] as in ``theory.mae.mask_moments``.
    """
    w_e, w_d = params
    a = w_d @ w_e  # (d, d)
    return jnp.sum((a @ s_aa) * a) - 2.0 * jnp.sum(a * s_ba)


def mae_loss(params: MAEParams, a: Float[Array, "b d"], b: Float[Array, "b d"]) -> Float[Array, ""]:
    """Minibatch Eq. 3 loss mean_j ‖W_d W_e a_j - b_j‖²."""
    w_e, w_d = params
    recon = (a @ w_e.T) @ w_d.T  # (b, d)
    return jnp.sum((recon - b) ** 2) / a.shape[0]


def loss(method: str, params: Params, a: Float[Array, "b d"], b: Float[Array, "b d"]) -> Float[Array, ""]:
    if method == "MAE":
        return mae_loss(params, a, b)  # type: ignore[arg-type]
    return pair_loss(params, a, b)  # type: ignore[arg-type]


def init_params(method: str, key: PRNGKeyArray, c: int, d: int, scale: float) -> Params:
    """Gaussian initialisation with rows of norm ≈ ``scale`` (entries N(0, scale²/d)).

    MAE: W_e as above and W_d with entries N(0, scale²/c), so that both factors start
    at the same small scale.
    """
    if method == "MAE":
        k1, k2 = jax.random.split(key)
        return (scale * jax.random.normal(k1, (c, d)) / jnp.sqrt(d),
                scale * jax.random.normal(k2, (d, c)) / jnp.sqrt(c))
    return scale * jax.random.normal(key, (c, d)) / jnp.sqrt(d)


def representation_rows(method: str, params: Params) -> Float[Array, "c d"]:
    """Rows whose span is the learned representation subspace R and whose Gram is the model's.

    Pair methods: W itself. MAE: Ŵ = (W_dᵀ W_d)^{1/2} W_e, which has row(Ŵ) = row(W_d W_e)
    and ŴᵀŴ = (W_d W_e)ᵀ (W_d W_e).

    Deviation (MAE): W_e alone is not identified by Eq. 3 (encoder rows that the decoder
    ignores receive no gradient), so the representation of a trained MAE is taken to be
    the part of the encoder that the decoder uses, row(W_d W_e).
    """
    if method != "MAE":
        return params  # type: ignore[return-value]
    w_e, w_d = params  # type: ignore[misc]
    vals, vecs = jnp.linalg.eigh(w_d.T @ w_d)  # (c,), (c, c)
    root = (vecs * jnp.sqrt(jnp.clip(vals, 0.0, None))[None, :]) @ vecs.T  # (c, c)
    return root @ w_e
