"""Symmetric d x d matrices of the form  block ⊕ bulk·I, circulant + low rank, and their weighted sums.

Every exact population matrix of the model (second moments, the CL1 and MIM X matrices,
their FL and DecL aggregates) is a dense symmetric block on the first K coordinates
plus a multiple of the identity on the remaining d - K. Storing it as such keeps the
exact analysis O(K^3) instead of O(d^3). The CL2 matrices with a circulant H are
:class:`theory.circulant.CirculantLowRank` (O(d log d)). Dense matrices are plain numpy
arrays (the small-d cross-check, and a non-circulant user H).

The helpers below (``weighted_sum``, ``spectral_norm``, ``minus_diagonal``, ``entry``,
``diagonal``, ``trace``, ``frobenius_sq``, ``left_multiply``) accept all three forms and never
densify a structured one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import scipy.sparse.linalg as spla

from .circulant import CirculantLowRank
from .errors import require

# Dense spectral norms above this size use Lanczos (ARPACK), 2-3x faster than a full eigvalsh
# at d = 2048 and equal to it to ~1e-14 relative; below it, or without convergence, eigvalsh.
_LANCZOS_FROM = 256
_LANCZOS_TOL = 1e-13


@dataclass(frozen=True)
class BlockScalar:
    """X = [[block, 0], [0, bulk·I_{d-K}]], block of shape (K, K), symmetric."""

    block: np.ndarray
    bulk: float
    d: int

    def __post_init__(self) -> None:
        k = self.block.shape[0]
        require(self.block.shape == (k, k), "block", "a square matrix", self.block.shape)
        require(1 <= k <= self.d, "block", f"of size K in [1, d={self.d}]", k)

    @property
    def k(self) -> int:
        return self.block.shape[0]

    def dense(self) -> np.ndarray:
        out = np.zeros((self.d, self.d))
        out[: self.k, : self.k] = self.block
        idx = np.arange(self.k, self.d)
        out[idx, idx] = self.bulk
        return out

    def diagonal(self) -> np.ndarray:
        return np.concatenate([np.diag(self.block), np.full(self.d - self.k, self.bulk)])

    def scaled(self, a: float) -> "BlockScalar":
        return BlockScalar(a * self.block, a * self.bulk, self.d)

    def frobenius_sq(self) -> float:
        return float(np.sum(self.block**2) + (self.d - self.k) * self.bulk**2)


SymMatrix = Union[BlockScalar, CirculantLowRank, np.ndarray]
STRUCTURED = (BlockScalar, CirculantLowRank)


def as_dense(x: SymMatrix) -> np.ndarray:
    """The d x d array (small-d cross-checks only; the exact level never calls it)."""
    return x.dense() if isinstance(x, STRUCTURED) else np.asarray(x, dtype=float)


def weighted_sum(mats: Sequence[SymMatrix], weights: Sequence[float]) -> SymMatrix:
    """Σ_j w_j X_j, kept block-structured when every term is (with a common K)."""
    require(len(mats) == len(weights) and len(mats) > 0, "weights", "one weight per matrix", len(weights))
    blocks = [m for m in mats if isinstance(m, BlockScalar)]
    if len(blocks) == len(mats) and len({m.k for m in blocks}) == 1:
        block = sum(w * m.block for m, w in zip(blocks, weights))
        bulk = float(sum(w * m.bulk for m, w in zip(blocks, weights)))
        return BlockScalar(np.asarray(block), bulk, blocks[0].d)
    circs = [m for m in mats if isinstance(m, CirculantLowRank)]
    if len(circs) == len(mats) and len({id(m.basis) for m in circs}) == 1:
        return CirculantLowRank(circs[0].basis,
                                float(sum(w * m.alpha for m, w in zip(circs, weights))),
                                float(sum(w * m.beta for m, w in zip(circs, weights))),
                                np.asarray(sum(w * m.t for m, w in zip(circs, weights))))
    return np.asarray(sum(w * as_dense(m) for m, w in zip(mats, weights)))


def spectral_norm(x: SymMatrix) -> float:
    """‖X‖₂ of a symmetric matrix from its eigenvalues (no eigenvectors); O(K^3) when structured."""
    if isinstance(x, BlockScalar):
        top = float(np.max(np.abs(np.linalg.eigvalsh(0.5 * (x.block + x.block.T)))))
        return max(top, abs(x.bulk)) if x.k < x.d else top
    if isinstance(x, CirculantLowRank):
        return max(abs(x.eigenvalue(1)), abs(x.eigenvalue(x.d)))
    a = np.asarray(x, dtype=float)
    a = 0.5 * (a + a.T)
    if a.shape[0] > _LANCZOS_FROM:
        try:  # the largest |eigenvalue| by Lanczos, to ARPACK's tolerance relative to it
            v0 = np.random.default_rng(0).standard_normal(a.shape[0])
            return float(abs(spla.eigsh(a, k=1, which="LM", tol=_LANCZOS_TOL, v0=v0, return_eigenvectors=False)[0]))
        except spla.ArpackNoConvergence:
            pass
    return float(np.max(np.abs(np.linalg.eigvalsh(a))))


def minus_diagonal(x: SymMatrix, diag: np.ndarray) -> SymMatrix:
    """X - Diag(diag), kept block-structured when ``diag`` is constant beyond X's block."""
    diag = np.asarray(diag, dtype=float)
    require(diag.shape == (dimension(x),), "diag", f"a vector of length d = {dimension(x)}", diag.shape)
    if isinstance(x, BlockScalar):
        rest = diag[x.k:]
        if rest.size == 0 or np.all(rest == rest[0]):
            bulk = x.bulk - (float(rest[0]) if rest.size else 0.0)
            return BlockScalar(x.block - np.diag(diag[: x.k]), bulk, x.d)
    if isinstance(x, CirculantLowRank):
        return x.minus_diagonal(diag)
    return as_dense(x) - np.diag(diag)


def entry(x: SymMatrix, i: int, j: int) -> float:
    """X[i, j] without forming X."""
    if isinstance(x, BlockScalar):
        if i < x.k and j < x.k:
            return float(x.block[i, j])
        return x.bulk if i == j else 0.0
    if isinstance(x, CirculantLowRank):
        return x.entry(i, j)
    return float(np.asarray(x)[i, j])


def dimension(x: SymMatrix) -> int:
    return x.d if isinstance(x, STRUCTURED) else int(np.asarray(x).shape[0])


def diagonal(x: SymMatrix) -> np.ndarray:
    """diag(X), length d."""
    if isinstance(x, STRUCTURED):
        return x.diagonal()
    return np.diag(np.asarray(x, dtype=float)).copy()


def trace(x: SymMatrix) -> float:
    if isinstance(x, BlockScalar):
        return float(np.trace(x.block) + (x.d - x.k) * x.bulk)
    if isinstance(x, CirculantLowRank):
        return x.trace()
    return float(np.trace(np.asarray(x, dtype=float)))


def frobenius_sq(x: SymMatrix) -> float:
    """‖X‖_F²."""
    if isinstance(x, STRUCTURED):
        return x.frobenius_sq()
    return float(np.sum(np.asarray(x, dtype=float) ** 2))


def left_multiply(a: np.ndarray, x: SymMatrix) -> np.ndarray:
    """a X for a of shape (m, d) and a symmetric X, without forming a structured X."""
    if isinstance(x, BlockScalar):
        out = x.bulk * a
        out[:, : x.k] = a[:, : x.k] @ x.block
        return out
    if isinstance(x, CirculantLowRank):
        return x.matvec(np.asarray(a, dtype=float).T).T
    return a @ np.asarray(x)


def half_sq_distance_to_gram(x: SymMatrix, w: np.ndarray) -> float:
    """½‖X - WᵀW‖_F² for W of shape (c, d): ½(‖X‖² - 2 tr(W X Wᵀ) + ‖W Wᵀ‖²), no d x d product."""
    w_sq, wwt_sq = _row_stats(w)
    if isinstance(x, CirculantLowRank):
        wxw = x.gram_trace(w)
    elif isinstance(x, BlockScalar):  # bulk ‖W‖² + tr(W_K (block - bulk I) W_Kᵀ): no (c, d) temporaries
        wk = w[:, : x.k]
        wxw = x.bulk * w_sq + float(np.sum((wk @ (x.block - x.bulk * np.eye(x.k))) * wk))
    else:
        wxw = float(np.sum(left_multiply(w, x) * w))
    return 0.5 * (frobenius_sq(x) - 2.0 * wxw + wwt_sq)


_ROW_STATS: dict = {}


def _row_stats(w: np.ndarray) -> tuple[float, float]:
    """(‖W‖_F², ‖W Wᵀ‖_F²), remembered for the last W (checks evaluate many X against one W)."""
    key = (id(w), w.shape, float(w.ravel()[0]), float(w.ravel()[-1]))
    if _ROW_STATS.get("key") != key:
        wwt = w @ w.T
        _ROW_STATS.clear()
        _ROW_STATS.update(key=key, value=(float(np.trace(wwt)), float(np.sum(wwt * wwt))))
    return _ROW_STATS["value"]
