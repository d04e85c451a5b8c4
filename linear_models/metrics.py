"""RV, sensitivity and distances of trained models, computed with ``theory.rv`` (numpy).

The RV of a trained W is ``theory.rv.rv_of_rows`` at a numerical-rank tolerance
``rank_rtol``: singular directions with σ_j < rank_rtol · σ_1 are not part of R. A
trained W never reaches a rank-deficient optimum exactly (directions with a zero
eigenvalue of X decay only through the quartic term, like 1/√t), so without this
tolerance the leftovers of the initialisation would count as representation.

Distances to an exact solution W* (rows √λ_j v_jᵀ):

* ``gram_error``: ‖WᵀW - W*ᵀW*‖_F / ‖W*ᵀW*‖_F, from c x c products (no d x d matrix).
* ``subspace_distance``: ``theory.rv.subspace_distance`` between the effective row space of
  W and row(W*), evaluated on an orthonormal basis Q of the sum of both row spaces (the
  projectors vanish outside span Q, so the spectral norm is unchanged; O(d c²)).
* ``fixed_residual``: max over unit v in F of ‖(I - Π_R) v‖, F the eigenvectors strictly
  inside an exact subspace; meaningful also when the exact subspace is ILL-POSED.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from theory.model import NonIIDModelConfig
from theory.rv import rv_of_rows
from theory.rv import subspace_distance as _theory_subspace_distance

DEFAULT_RANK_RTOL = 1e-2


def coordinate_sets(cfg: NonIIDModelConfig, client: int | None = None) -> dict[str, list[int]]:
    """"[c]" as printed, "[N]" the class axes, "rare" the rare axes; with ``client``,
    also "[N]\\i" (the class axes other than the client's own, Theorem 4.2 local)."""
    sets = {
        "[c]": list(range(cfg.c)),
        "[N]": list(range(cfg.n_clients)),
        "rare": sorted(set(cfg.rare_axes)),
    }
    if client is not None:
        sets["[N]\\i"] = [k for k in range(cfg.n_clients) if k != client]
    return sets


def kept_coordinates(cfg: NonIIDModelConfig) -> int:
    """How many leading coordinates the snapshots keep: every coordinate set lies below."""
    return max(cfg.c, cfg.support_size)


def rv(rows: np.ndarray, keep: int, rank_rtol: float = DEFAULT_RANK_RTOL) -> np.ndarray:
    """r_k for k < keep of the row space of ``rows`` (a model or its compressed snapshot)."""
    return rv_of_rows(np.asarray(rows, dtype=float), rtol=rank_rtol)[:keep]


def sensitivities(r: np.ndarray, sets: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """s = max_k r_k - min_k r_k over each coordinate set."""
    return {name: float(np.max(r[list(ks)]) - np.min(r[list(ks)])) for name, ks in sets.items()}


def singular_values(rows: np.ndarray) -> np.ndarray:
    return np.linalg.svd(np.asarray(rows, dtype=float), compute_uv=False)


def numerical_rank(rows: np.ndarray, rank_rtol: float = DEFAULT_RANK_RTOL) -> int:
    s = singular_values(rows)
    return int(np.sum(s > rank_rtol * s[0])) if s.size and s[0] > 0 else 0


def effective_basis(rows: np.ndarray, rank_rtol: float = DEFAULT_RANK_RTOL) -> np.ndarray:
    """Orthonormal rows spanning the effective row space (σ_j >= rank_rtol σ_1)."""
    _, s, vt = np.linalg.svd(np.asarray(rows, dtype=float), full_matrices=False)
    if not s.size or s[0] <= 0:
        return np.zeros((0, vt.shape[1]))
    return vt[s >= rank_rtol * s[0]]


def subspace_distance(a: np.ndarray, b: np.ndarray, rank_rtol: float = DEFAULT_RANK_RTOL) -> float:
    """‖Π_A - Π_B‖_2 of the effective row spaces (``theory.rv.subspace_distance`` on span Q)."""
    ea, eb = effective_basis(a, rank_rtol), effective_basis(b, rank_rtol)
    if ea.shape[0] == 0 or eb.shape[0] == 0:
        return float(ea.shape[0] != eb.shape[0])
    q, _ = np.linalg.qr(np.concatenate([ea, eb], axis=0).T)  # (d, ra + rb)
    return _theory_subspace_distance(ea @ q, eb @ q)


def gram_error(w: np.ndarray, w_star: np.ndarray) -> float:
    """‖WᵀW - W*ᵀW*‖_F / ‖W*ᵀW*‖_F via ‖WᵀW‖² = ‖WWᵀ‖², ⟨WᵀW, W*ᵀW*⟩ = ‖W W*ᵀ‖²."""
    a = np.sum((w @ w.T) ** 2)
    b = np.sum((w_star @ w_star.T) ** 2)
    cross = np.sum((w @ w_star.T) ** 2)
    return float(np.sqrt(max(a - 2 * cross + b, 0.0) / b)) if b > 0 else float("nan")


def fixed_residual(rows: np.ndarray, fixed_rows: np.ndarray, rank_rtol: float = DEFAULT_RANK_RTOL) -> float:
    """max_{v ∈ span(fixed_rows), ‖v‖=1} ‖(I - Π_R) v‖ for R the effective row space of rows."""
    if fixed_rows.shape[0] == 0:
        return 0.0
    f, _ = np.linalg.qr(fixed_rows.T)  # (d, f) orthonormal
    u = effective_basis(rows, rank_rtol)  # (r, d)
    proj = f.T @ u.T  # (f, r)
    smallest = np.linalg.svd(proj, compute_uv=False) if proj.size else np.zeros(0)
    captured = float(np.min(smallest)) if smallest.size == f.shape[1] else 0.0
    return float(np.sqrt(max(0.0, 1.0 - captured**2)))
