"""Exact optimum of the linear MIM reconstruction objective (paper Eq. 3).

min over W_e (c x d), W_d (d x c) of E‖W_d W_e a - b‖², a = x ⊙ m, b = x ⊙ (1 - m).

With A = W_d W_e of rank ≤ c this is reduced-rank regression of b on a. Its population
moments follow from M = E[x xᵀ] and the masks (P(m_k = 0) = p, independent):

    Σ_aa = E[a aᵀ] = (1-p)² M + p(1-p) Diag(M),     Σ_ba = E[b aᵀ] = p(1-p) (M - Diag(M)).

The optimum is A* = U Uᵀ Σ_ba Σ_aa⁻¹ with U the top eigenvectors of Σ_ba Σ_aa⁻¹ Σ_ab,
and the encoder's row space is row(Uᵀ Σ_ba Σ_aa⁻¹) = col(Σ_aa⁻¹ Σ_ab U). Only the
positive eigenvalues carry signal, so the encoder rank is min(c, rank Σ_ba).
All three matrices are block ⊕ scalar, so the work is on the K x K block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import require
from .model import NonIIDModelConfig
from .moments import second_moment
from .rv import Subspace, solution_subspace
from .structured import BlockScalar


@dataclass(frozen=True)
class ReconstructionOptimum:
    """Encoder row space of the Eq. 3 optimum and the regression's diagnostic."""

    encoder_rows: np.ndarray  # (rank, K): rows spanning row(W_e) on the first K coordinates
    d: int
    subspace: Subspace  # selection on the fitted-covariance spectrum (well-posedness)
    min_loss: float

    def rv(self, coords: list[int]) -> np.ndarray:
        require(self.subspace.well_posed, "X", "a problem with a unique optimum", self.subspace.diagnostic())
        q, _ = np.linalg.qr(self.encoder_rows.T)
        r = np.zeros(len(coords))
        for n, k in enumerate(coords):
            r[n] = float(np.sum(q[k] ** 2)) if k < q.shape[0] else 0.0
        return r


def mask_moments(cfg: NonIIDModelConfig, m: BlockScalar) -> tuple[BlockScalar, BlockScalar, float]:
    """(Σ_aa, Σ_ba, E‖b‖²) for the second moment ``m``."""
    p = cfg.p
    diag = np.diag(m.block)
    saa = (1 - p) ** 2 * m.block + p * (1 - p) * np.diag(diag)
    sba = p * (1 - p) * (m.block - np.diag(diag))
    ebb = p * float(np.sum(diag) + (m.d - m.k) * m.bulk)
    return BlockScalar(saa, (1 - p) * m.bulk, m.d), BlockScalar(sba, 0.0, m.d), ebb


def reconstruction_optimum(cfg: NonIIDModelConfig, m: BlockScalar) -> ReconstructionOptimum:
    """Exact Eq. 3 optimum for a (possibly aggregated) second moment ``m``."""
    saa, sba, ebb = mask_moments(cfg, m)
    saa_inv = np.linalg.inv(saa.block)
    fitted = sba.block @ saa_inv @ sba.block.T
    fitted = 0.5 * (fitted + fitted.T)
    sub = solution_subspace(BlockScalar(fitted, 0.0, m.d), cfg.c, "minimiser")
    spec = sub.spec
    u = np.stack([spec.vectors[:, j] for j in sub.fixed if j != spec.bulk_index], axis=1) \
        if sub.fixed else np.zeros((m.k, 0))
    enc = (saa_inv @ sba.block.T @ u).T  # (rank, K)
    loss = ebb - float(sum(spec.values[j] for j in sub.fixed if j != spec.bulk_index))
    return ReconstructionOptimum(enc, m.d, sub, loss)


def local_reconstruction_optimum(cfg: NonIIDModelConfig, i: int) -> ReconstructionOptimum:
    return reconstruction_optimum(cfg, second_moment(cfg, i))


__all__ = ["ReconstructionOptimum", "mask_moments", "reconstruction_optimum", "local_reconstruction_optimum"]
