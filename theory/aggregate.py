"""Global X matrices of FL and DecL (paper Eq. 1) on a given graph.

Every local objective is L_j(W) = -tr(W X_j Wᵀ) + ½‖WᵀW‖², linear in X_j with the same
regulariser. A weighted sum Σ_j w_j L_j with Σ_j w_j = 1 is therefore the pair-form
objective of X = Σ_j w_j X_j, and its minimisers follow from ``rv.solution_subspace``.

* FL (Eq. 1, right): w_j = 1/N (all |D_j| are equal in the model; ``fl_weights`` also
  takes sizes, as FedAvg does).
* DecL (Eq. 1, left): (1/N) Σ_i (1/|A_i|) Σ_{j∈A_i} L_j = Σ_j ω_j L_j with
  ω_j = (1/N) Σ_{i∋j} 1/|A_i| (``graphs.decl_objective_weights``). On a regular graph
  ω_j = 1/N and the DecL objective IS the FL objective.
* D-PSGD gossip with a row-stochastic mixing matrix converges to a consensus weighted by
  the left Perron vector π of the mixing matrix (``graphs.stationary_weights``), which is
  not ω in general (uniform mixing gives π_j ∝ |A_j|).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import require
from .structured import SymMatrix, weighted_sum


def fl_weights(n_clients: int, sizes: Sequence[float] | None = None) -> np.ndarray:
    require(n_clients >= 1, "N", "an integer >= 1", n_clients)
    if sizes is None:
        return np.full(n_clients, 1.0 / n_clients)
    s = np.asarray(sizes, dtype=float)
    require(s.shape == (n_clients,) and bool(np.all(s > 0)), "sizes", f"{n_clients} positive numbers", sizes)
    return s / s.sum()


def aggregate(xs: Sequence[SymMatrix], weights: Sequence[float] | np.ndarray) -> SymMatrix:
    """Σ_j w_j X_j; the weights must be non-negative and sum to one."""
    w = np.asarray(weights, dtype=float)
    require(len(w) == len(xs), "weights", f"{len(xs)} weights", len(w))
    require(bool(np.all(w >= 0)) and abs(w.sum() - 1.0) < 1e-9, "weights", "non-negative and summing to 1", w.tolist())
    return weighted_sum(list(xs), w.tolist())
