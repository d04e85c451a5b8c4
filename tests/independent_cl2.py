"""An independent computation of dissimilar CL's (CL2) exact X at the paper's defaults, written
from the model's definition (Section 3.2) with none of theory's code, for tests that re-verify a
reported sensitivity: M_i by enumerating the 2^(N-1) patterns of q and both frequent classes (no
closed form), the rare class on axis h_i = 2((i+1) mod N), the blur H built densely,
X_i = ½(H M_i + M_i Hᵀ), a plain dense eigh of the aggregate Σ_i w_i X_i."""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np


def cl2_client_x(d: int = 512, n: int = 6) -> list[np.ndarray]:
    """X_i of CL2, i = 0..N-1, each (d, d), at τ = d^(1/5), μ = d^(-1/5), n_frequent = d, n_rare = ⌈√d⌉."""
    tau, mu = d**0.2, d**-0.2
    n_f, n_r = d, math.ceil(math.sqrt(d))
    pi_f, pi_r = n_f / (2 * n_f + n_r), n_r / (2 * n_f + n_r)
    h = 0.5 * np.eye(d) + 0.25 * (np.eye(d, k=1) + np.eye(d, k=-1))
    h[0, d - 1] = h[d - 1, 0] = 0.25
    out = []
    for i in range(n):
        m = mu**2 * np.eye(d)
        others = [k for k in range(n) if k != i]
        for q in itertools.product((0.0, 1.0), repeat=n - 1):
            for sign in (1.0, -1.0):
                u = np.zeros(d)
                u[i] = sign
                u[others] = -tau * np.asarray(q)
                m += pi_f / 2 ** (n - 1) * np.outer(u, u)
        rare = 2 * ((i + 1) % n)
        m[rare, rare] += pi_r
        out.append(0.5 * (h @ m + m @ h.T))
    return out


def sensitivity(xs: Sequence[np.ndarray], weights: np.ndarray, c: int, coords: Sequence[int]) -> tuple[float, float]:
    """(s, relative eigengap at the cut) of the minimiser of Σ_j w_j X_j: r_k = Σ_{j<c} v_jk² over
    the top c eigenvectors, s = max - min of r over ``coords``."""
    x = sum(w * xi for w, xi in zip(weights, xs))
    vals, vecs = np.linalg.eigh(x)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    assert vals[c - 1] > 0
    r = np.sum(vecs[:, :c] ** 2, axis=1)
    sel = r[list(coords)]
    return float(sel.max() - sel.min()), float((vals[c - 1] - vals[c]) / vals[0])


def decl_weights(adjacency: np.ndarray) -> np.ndarray:
    """ω_j = (1/N) Σ_{i: j ∈ A_i} 1/|A_i| (Eq. 1), A_i = {i} ∪ neighbours(i)."""
    a = np.asarray(adjacency, dtype=bool) | np.eye(len(adjacency), dtype=bool)
    size = a.sum(axis=1)
    return np.array([sum(1 / size[i] for i in range(len(a)) if a[i, j]) for j in range(len(a))]) / len(a)
