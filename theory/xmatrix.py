"""The X matrices X = ½ E[b aᵀ + a bᵀ] of each pair-form objective (paper Eq. 16).

Exact (population) forms, derived here from M_i = E[x xᵀ] (see ``moments``):

* CL, similar augmentations (Eq. 2, a = x + ξ, b = x + ξ'): ξ, ξ' are independent,
  zero-mean and independent of x, so every cross term vanishes and X^C = M_i.
* CL, dissimilar augmentations (a = x + ξ, b = H x): X^C' = ½ (H M_i + M_i Hᵀ).
* MIM alignment (Eq. 4, a = x ⊙ m, b = x ⊙ (1 - m), P(m_k = 0) = p): entry (k, l) of
  E[b aᵀ] is E[x_k x_l] E[(1 - m_k) m_l], which is 0 for k = l and p(1 - p) for k ≠ l, so
  X^M = p(1 - p) (M_i - Diag(M_i)): the HOLLOW part of M_i. Its diagonal is zero.

Printed forms: Eq. 17 (2p(1-p) times the DIAGONAL of the empirical second moment), Eq. 18
(its printed expectation), Eq. 44 (CL) and Eq. 56 (tr(H) times Eq. 44). The O(·) entries
of the printed diagonals are filled with ``o_const`` times the printed order.
Empirical forms are computed from a sampled data set with sampled views.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .augmentation import Augmentation, parse_augmentation
from .circulant import CirculantLowRank
from .errors import ParameterError, require
from .model import NonIIDModelConfig
from .moments import second_moment
from .structured import BlockScalar, SymMatrix

Objective = Literal["MIM", "CL1", "CL2"]
OBJECTIVES: tuple[str, ...] = ("MIM", "CL1", "CL2")
OBJECTIVE_NAMES = {
    "MIM": "MIM alignment (Eq. 4)",
    "CL1": "CL, similar augmentations (Eq. 2)",
    "CL2": "CL, dissimilar augmentations (H)",
}


def _check_objective(objective: str) -> None:
    require(objective in OBJECTIVES, "objective", f"one of {OBJECTIVES}", objective)


def augmentation_matrix(cfg: NonIIDModelConfig) -> np.ndarray:
    """The d x d map H of dissimilar-augmentation CL named by ``cfg.augmentation`` (dense: for
    small-d cross-checks only; see ``theory.augmentation`` for the names).

    ``blur``: circulant [1/4, 1/2, 1/4] (a 1-D blur; symmetric, tr(H) = d/2,
    tr(P H P) = c/2 > 0 so Assumption A.9 holds). ``identity``: I. ``scale:h``: h I.
    """
    return parse_augmentation(cfg.augmentation).dense(cfg.d)


def apply_augmentation(name: str, x: np.ndarray) -> np.ndarray:
    """x Hᵀ for a batch x of shape (n, d), without building H (O(n d log d) at most)."""
    return parse_augmentation(name).apply_rows(x)


def augmentation_trace(name: str, d: float) -> float:
    """tr(H) of the named augmentation at dimension d, without building H (d/2, d or h d)."""
    return parse_augmentation(name).trace(d)


def hollow(x: BlockScalar) -> BlockScalar:
    block = x.block - np.diag(np.diag(x.block))
    return BlockScalar(block, 0.0, x.d)


def exact_x(cfg: NonIIDModelConfig, i: int, objective: str) -> SymMatrix:
    """Exact population X_i of ``objective`` for client ``i``."""
    _check_objective(objective)
    m = second_moment(cfg, i)
    if objective == "CL1":
        return m
    if objective == "MIM":
        return hollow(m).scaled(cfg.p * (1.0 - cfg.p))
    return dissimilar_x(parse_augmentation(cfg.augmentation), m)


def dissimilar_x(aug: Augmentation, m: BlockScalar) -> SymMatrix:
    """X = ½ (H M + M Hᵀ) for M = block ⊕ μ²I, in the structure H allows.

    H = h I: X = h M (block ⊕ scalar). H circulant: X = μ² H_s + Q T Qᵀ with Q = [P, H P],
    T = ½[[0, D], [D, 0]], D = block - μ² I (``theory.circulant``). Other H (a user matrix that
    is not circulant): the dense d x d product, O(d K² + d²), for small d only.
    """
    k = m.k
    if aug.kind == "scalar":
        return m.scaled(aug.scale)
    dmat = m.block - m.bulk * np.eye(k)
    if aug.kind == "circulant":
        t = 0.5 * np.block([[np.zeros((k, k)), dmat], [dmat, np.zeros((k, k))]])
        return CirculantLowRank(aug.basis(m.d, k), m.bulk, 0.0, t)
    h = aug.dense(m.d)
    hm = m.bulk * h
    hm[:, :k] += h[:, :k] @ dmat
    return 0.5 * (hm + hm.T)


def exact_xs(cfg: NonIIDModelConfig, objective: str) -> tuple[SymMatrix, ...]:
    return tuple(exact_x(cfg, i, objective) for i in range(cfg.n_clients))


# --------------------------------------------------------------------------- printed
def printed_expectation(cfg: NonIIDModelConfig, i: int, objective: str, o_const: float = 1.0) -> np.ndarray:
    """The printed E[X_i] as a diagonal vector of length d.

    MIM (Eq. 18): 2p(1-p)τ² on [N]∖{i}, 2p(1-p) at i, o·d^(-2/5) elsewhere.
    CL1 (Eq. 44): d^(2/5) on [N]∖{i}, 1 at i, o·d^(-1/5) elsewhere.
    CL2 (Eq. 56): tr(H) times the Eq. 44 diagonal.
    """
    _check_objective(objective)
    d, n = cfg.d, cfg.n_clients
    if objective == "MIM":
        f = cfg.mask_factor
        diag = np.full(d, o_const * d ** -0.4)
        diag[:n] = f * cfg.tau**2 + o_const * d ** -0.4
        diag[i] = f + o_const * d ** -0.4
        return diag
    diag = np.full(d, o_const * d ** -0.2)
    diag[:n] = d**0.4 + o_const * d ** -0.2
    diag[i] = 1.0 + o_const * d ** -0.2
    if objective == "CL2":
        diag = augmentation_trace(cfg.augmentation, d) * diag
    return diag


def printed_mim_empirical(cfg: NonIIDModelConfig, x: np.ndarray) -> np.ndarray:
    """Eq. 17 as printed: 2p(1-p) (1/n) Σ_j Diag(x_j)², a diagonal vector of length d."""
    return cfg.mask_factor * np.mean(x**2, axis=0)


# --------------------------------------------------------------------------- empirical
def mim_mask_expected(cfg: NonIIDModelConfig, x: np.ndarray) -> np.ndarray:
    """E over masks of the empirical MIM X for a fixed sample: p(1-p) hollow(xᵀx / n)."""
    m = x.T @ x / x.shape[0]
    np.fill_diagonal(m, 0.0)
    return cfg.p * (1.0 - cfg.p) * m


def sample_views(cfg: NonIIDModelConfig, x: np.ndarray, objective: str, rng: np.random.Generator,
                 h: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One pair of views (a, b) per sample, each of shape (n, d)."""
    _check_objective(objective)
    if objective == "MIM":
        keep = (rng.random(x.shape) >= cfg.p).astype(float)  # m_k = 0 with probability p
        return x * keep, x * (1.0 - keep)
    a = x + rng.standard_normal(x.shape)
    if objective == "CL1":
        return a, x + rng.standard_normal(x.shape)
    return a, (apply_augmentation(cfg.augmentation, x) if h is None else x @ h.T)


def empirical_x(cfg: NonIIDModelConfig, x: np.ndarray, objective: str, rng: np.random.Generator,
                h: np.ndarray | None = None) -> np.ndarray:
    """Empirical X̂ = (1/n) Σ_j ½ (b_j a_jᵀ + a_j b_jᵀ) with one sampled view pair per sample."""
    require(x.ndim == 2 and x.shape[1] == cfg.d, "x", f"an array of shape (n, d={cfg.d})", x.shape)
    require(x.shape[0] >= 1, "samples", "at least 1", x.shape[0])
    a, b = sample_views(cfg, x, objective, rng, h)
    ba = b.T @ a / x.shape[0]
    return 0.5 * (ba + ba.T)


def pair_loss(x_matrix: SymMatrix, w: np.ndarray) -> float:
    """L(W) = -tr(W X Wᵀ) + ½ ‖WᵀW‖_F²: the pair-form objective in terms of X."""
    xd = x_matrix.dense() if isinstance(x_matrix, (BlockScalar, CirculantLowRank)) else x_matrix
    if w.shape[1] != xd.shape[0]:
        raise ParameterError("W", f"a matrix with {xd.shape[0]} columns", w.shape)
    g = w.T @ w
    return float(-np.sum(xd * g) + 0.5 * np.sum(g * g))
