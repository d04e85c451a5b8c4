"""Federated learning: FedAvg weighted by data size over a sampled fraction of the clients.

Round t (McMahan et al. 2017; paper Section 3.1 and Eq. 1, FL objective):

1. the server samples K = max(1, round(client_fraction · N)) clients without replacement,
   from stream ``"client-sampling"`` keyed by t (:func:`sample_clients`);
2. each sampled client starts from the global weights x_t, keeps its own optimiser state
   (or not, see :class:`empirical.clients.ClientPool`) and trains E local epochs;
3. x_{t+1} = Σ_{i ∈ S_t} (n_i / Σ_{j ∈ S_t} n_j) x_i (:func:`fedavg_weights`), parameters and
   BatchNorm running statistics alike.

MAR (FedMAR): z̄ is the pool of representations that the participants of round t-1 computed
when they trained (empty in round 0, where the loss is plain MAE), or the global encoder x_t.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from empirical.batched import client_loop
from empirical.clients import ClientPool, merge_reports
from empirical.seeds import numpy_rng
from empirical.transport import InProcess, Transport
from theory.errors import require

__all__ = ["FedAvg", "sample_clients", "clients_per_round", "fedavg_weights", "sq_dist_sum"]


def clients_per_round(n_clients: int, fraction: float) -> int:
    """K = max(1, round(fraction · N))."""
    require(0.0 < fraction <= 1.0, "client_fraction", "in (0, 1]", fraction)
    return max(1, min(n_clients, int(round(fraction * n_clients))))


def sample_clients(seed: int, rnd: int, n_clients: int, k: int) -> list[int]:
    """The sorted clients of round ``rnd``: k of N without replacement (all when k = N)."""
    if k >= n_clients:
        return list(range(n_clients))
    rng = numpy_rng(seed, "client-sampling", rnd)
    return sorted(int(c) for c in rng.choice(n_clients, size=k, replace=False))


def fedavg_weights(sizes: np.ndarray, selected: Sequence[int]) -> np.ndarray:
    """n_i / Σ_{j ∈ selected} n_j for i in ``selected`` (in that order)."""
    s = np.asarray(sizes, dtype=np.float64)[list(selected)]
    require(bool(np.all(s > 0)), "sizes", "positive for every selected client", s.tolist())
    return s / s.sum()


def sq_dist_sum(rows: Float[Tensor, "k p"], mean: Float[Tensor, " p"]) -> Tensor:
    """Σ_i ‖x_i - x̄‖² in float64 (a 0-d tensor on ``mean``'s device; 0 for no rows)."""
    if rows.shape[0] == 0:
        return torch.zeros((), dtype=torch.float64, device=mean.device)
    return (rows - mean[None, :]).double().pow(2).sum()


class FedAvg:
    """FedAvg on a :class:`ClientPool` over a :class:`~empirical.transport.Transport`;
    :attr:`global_weights` is x_t, the same on every process.

    Every process draws the same client sample, trains its own selected clients from x_t and
    sums w_i x_i (and x_i, for the consensus distance); the transport's sum gives x_{t+1}
    everywhere. MAR banks of the round's participants are gathered to every process (they form
    the next round's z̄ pool); per-client metrics likewise.
    """

    def __init__(
        self,
        pool: ClientPool,
        initial: Float[Tensor, " p"],
        *,
        client_fraction: float,
        local_epochs: int,
        seed: int,
        transport: Transport | None = None,
    ) -> None:
        self.pool = pool
        self.transport: Transport = transport if transport is not None else InProcess()
        self.n_clients = pool.data.n_clients
        self.k = clients_per_round(self.n_clients, client_fraction)
        self.local_epochs = local_epochs
        self.seed = seed
        self.global_weights = initial.detach().clone()
        self.previous_participants: list[int] = []

    def expected_selections(self, rounds: int) -> int:
        """Expected selections of one client over ``rounds`` rounds, ceil(rounds · K / N)."""
        return max(1, math.ceil(rounds * self.k / self.n_clients))

    def run_round(self, rnd: int, on_client: Callable[[int], None] | None = None) -> dict[str, Any]:
        tr, n = self.transport, self.n_clients
        selected = sample_clients(self.seed, rnd, n, self.k)
        mine = [c for c in selected if tr.owner(c, n) == tr.rank]
        w = fedavg_weights(self.pool.data.sizes, selected)
        weight_of = dict(zip(selected, (float(x) for x in w)))
        trained, rep = client_loop(self.pool)(
            self.pool, mine, rnd, lambda c: self.global_weights, self.local_epochs, lambda c: self.previous_participants, on_client
        )
        x = self.global_weights
        acc = torch.zeros((2, x.numel()), dtype=x.dtype, device=x.device)  # (2, P)
        for c, xc in zip(mine, trained):
            acc[0].add_(xc, alpha=weight_of[c])  # Σ w_i x_i
            acc[1].add_(xc)  # Σ x_i (consensus distance)
        tr.all_reduce_sum(acc)
        self.global_weights = acc[0].clone()
        mean = acc[1] / len(selected)
        sq = sq_dist_sum(torch.stack(trained) if trained else acc[:0], mean)
        tr.all_reduce_sum(sq)
        banks = self.pool.banks
        rep["banks"] = dict(banks.current) if banks is not None else {}
        parts = tr.all_gather(rep)
        if banks is not None:  # z̄ of the next round: the banks of all of this round's participants
            banks.current = {int(c): z.to(x.device) for p in parts for c, z in p["banks"].items()}
            banks.end_round(replace=True)
        self.previous_participants = selected
        merged = merge_reports(parts, selected)
        return {
            "clients": selected,
            "weights": [float(v) for v in w],
            "client_loss": merged["losses"],
            "client_metrics": merged["metrics"],
            "steps": merged["steps"],
            "gamma": merged["gammas"],
            "consensus_distance": float(sq.sqrt() / len(selected) ** 0.5),
        }

    def final_model(self) -> Float[Tensor, " p"]:
        return self.global_weights

    def state(self) -> dict[str, Any]:
        return {"global": self.global_weights, "previous_participants": list(self.previous_participants)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.global_weights = state["global"].to(self.global_weights.device)
        self.previous_participants = [int(c) for c in state["previous_participants"]]
