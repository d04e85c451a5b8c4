"""Decentralised learning: gossip on a fixed graph (D-PSGD style, Lian et al. 2017).

Round t, every client i (paper Section 3.1, Eq. 1, DecL objective):

1. trains E local epochs from its own model x_i (and its own optimiser state);
2. mixes with its neighbourhood A_i: x_i <- Σ_{j ∈ A_i} w_ij x_j', all clients at once, as one
   (N, N) @ (N, P) product with the row-stochastic W of :func:`theory.graphs.mixing_matrix`
   ("data-size", the paper's rule; "uniform"; "metropolis").

The graph is drawn once from stream ``"graph"``. The model that is evaluated is the average of
all local models, (1/N) Σ_i x_i (paper Section 3.1).

MAR (DecMAR): client i's z̄ pool is the previous-round representations of its neighbourhood
A_i (itself included), or the global encoder = its own model at the start of the round, which
after mixing is the neighbourhood average.

Deviation: "local epoch then mix" is the order used here (the paper does not print it; D-PSGD
mixes and steps in one iteration). Local steps use each client's own learning-rate schedule,
the same for all clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from empirical.clients import ClientPool
from empirical.config import DecentralisedConfig
from empirical.fl import consensus_distance
from empirical.seeds import stream_seed
from theory import graphs
from theory.errors import require

__all__ = ["Gossip", "build_topology", "build_mixing"]


def build_topology(cfg: DecentralisedConfig, n_clients: int, seed: int) -> graphs.Topology:
    """The communication graph of ``cfg`` on N clients, drawn from stream ``"graph"``."""
    gseed = stream_seed(seed, "graph")
    a = cfg.mean_connectivity
    if cfg.graph == "complete":
        return graphs.complete(n_clients)
    if cfg.graph == "ring":
        return graphs.ring(n_clients)
    if cfg.graph == "er":
        require(n_clients >= 2, "partition.n_clients", ">= 2 for a graph", n_clients)
        return graphs.erdos_renyi(n_clients, min(1.0, (a - 1.0) / (n_clients - 1)), seed=gseed)
    kind = "regular" if cfg.graph == "abar-regular" else "random"
    return graphs.with_mean_connectivity(n_clients, a, seed=gseed, kind=kind)


def build_mixing(top: graphs.Topology, rule: str, sizes: np.ndarray) -> np.ndarray:
    """W (N, N) for ``rule``; "data-size" uses the client sizes."""
    return graphs.mixing_matrix(top, rule, sizes if rule == "data-size" else None)


class Gossip:
    """D-PSGD-style gossip on a :class:`ClientPool`; :attr:`models` is (N, P), row i = x_i."""

    def __init__(
        self, pool: ClientPool, initial: Float[Tensor, " p"], *, topology: graphs.Topology, mixing: np.ndarray, local_epochs: int
    ) -> None:
        n = pool.data.n_clients
        require(topology.n == n, "graph", f"on N = {n} nodes", topology.n)
        self.pool = pool
        self.topology = topology
        self.mixing = mixing
        self.local_epochs = local_epochs
        self._w = torch.as_tensor(mixing, dtype=initial.dtype, device=initial.device)  # (N, N)
        self.models = initial.detach()[None, :].repeat(n, 1)  # (N, P): every client starts from the same init

    def expected_selections(self, rounds: int) -> int:
        return rounds

    def run_round(self, rnd: int, on_client: Callable[[int], None] | None = None) -> dict[str, Any]:
        n = self.models.shape[0]
        trained = torch.empty_like(self.models)  # (N, P)
        losses, gammas, metrics, steps = {}, {}, {}, 0
        for i in range(n):
            weights, result, gamma = self.pool.run_client(
                i, rnd, self.models[i], self.local_epochs, self.topology.neighbourhoods[i]
            )
            trained[i] = weights
            losses[str(i)] = result.metrics.get("loss", float("nan"))
            metrics[str(i)] = result.metrics
            steps += result.steps
            if gamma is not None:
                gammas[str(i)] = gamma
            if on_client is not None:
                on_client(i)
        before = consensus_distance(trained)
        self.models = self._w @ trained  # (N, N) @ (N, P): x_i <- Σ_j w_ij x_j
        if self.pool.banks is not None:
            self.pool.banks.end_round(replace=False)
        return {
            "clients": list(range(n)),
            "client_loss": losses,
            "client_metrics": metrics,
            "steps": steps,
            "gamma": gammas,
            "consensus_distance": before,
            "consensus_after_mixing": consensus_distance(self.models),
        }

    def final_model(self) -> Float[Tensor, " p"]:
        """(1/N) Σ_i x_i."""
        return self.models.mean(dim=0)

    def state(self) -> dict[str, Any]:
        return {"models": self.models}

    def load_state(self, state: dict[str, Any]) -> None:
        self.models = state["models"].to(self.models.device)
