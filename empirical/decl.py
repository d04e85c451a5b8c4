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

from empirical.batched import client_loop
from empirical.clients import ClientPool, merge_reports
from empirical.config import DecentralisedConfig
from empirical.fl import sq_dist_sum
from empirical.seeds import stream_seed
from empirical.transport import InProcess, Messages, Transport
from theory import graphs
from theory.errors import require

__all__ = ["Gossip", "build_topology", "build_mixing"]


def build_topology(cfg: DecentralisedConfig, n_clients: int, seed: int) -> graphs.Topology:
    """The communication graph of ``cfg`` on N clients, drawn from stream ``"graph"``."""
    spec = graphs.family_spec(cfg.graph, cfg.mean_connectivity, param="decentralised.graph",
                              value_param="decentralised.mean_connectivity")
    return graphs.parse_graph(spec, n_clients, seed=stream_seed(seed, "graph"), param="decentralised.graph")


def build_mixing(top: graphs.Topology, rule: str, sizes: np.ndarray) -> np.ndarray:
    """W (N, N) for ``rule``; "data-size" uses the client sizes."""
    return graphs.mixing_matrix(top, rule, sizes if rule == "data-size" else None)


_TAG_MODELS, _TAG_BANKS, _TAG_GATHER = 0, 1, 2


class Gossip:
    """D-PSGD-style gossip on a :class:`ClientPool` over a :class:`~empirical.transport.Transport`.

    :attr:`models` holds this process' clients' rows (``(n_local, P)``, row k = client
    ``mine[k]``; in-process all N rows, row i = x_i). A process trains its clients, sends the
    trained models (and MAR banks) of its clients that neighbour a client of rank q to q and
    receives q's such models, all in one exchange, then applies its rows of W restricted to the
    neighbourhood columns (in-process: the whole (N, N) @ (N, P) product, nothing exchanged).
    """

    def __init__(
        self,
        pool: ClientPool,
        initial: Float[Tensor, " p"],
        *,
        topology: graphs.Topology,
        mixing: np.ndarray,
        local_epochs: int,
        transport: Transport | None = None,
    ) -> None:
        n = pool.data.n_clients
        require(topology.n == n, "graph", f"on N = {n} nodes", topology.n)
        tr: Transport = transport if transport is not None else InProcess()
        self.pool, self.topology, self.mixing, self.local_epochs, self.transport = pool, topology, mixing, local_epochs, tr
        self.n = n
        self.mine = tr.clients(n)
        hoods = topology.neighbourhoods
        # columns of W this process needs: the neighbourhoods of its clients
        self.needed = sorted({j for i in self.mine for j in hoods[i]})
        self._w = torch.as_tensor(mixing[np.ix_(self.mine, self.needed)], dtype=initial.dtype, device=initial.device)  # (n_local, k)
        self.models = initial.detach()[None, :].repeat(len(self.mine), 1)  # (n_local, P): every client starts from the same init
        owner = lambda c: tr.owner(c, n)  # noqa: E731
        self.send_ids: dict[int, list[int]] = {}  # rank q -> my clients some client of q needs
        self.recv_ids: dict[int, list[int]] = {}  # rank q -> q's clients some client of mine needs
        for q in range(tr.world_size):
            if q == tr.rank:
                continue
            theirs = [i for i in range(n) if owner(i) == q]
            send = sorted({j for i in theirs for j in hoods[i] if owner(j) == tr.rank})
            recv = sorted(j for j in self.needed if owner(j) == q)
            if send:
                self.send_ids[q] = send
            if recv:
                self.recv_ids[q] = recv

    def expected_selections(self, rounds: int) -> int:
        return rounds

    def run_round(self, rnd: int, on_client: Callable[[int], None] | None = None) -> dict[str, Any]:
        tr, n = self.transport, self.n
        row = {c: k for k, c in enumerate(self.mine)}
        hoods = self.topology.neighbourhoods
        trained_list, rep = client_loop(self.pool)(
            self.pool, self.mine, rnd, lambda c: self.models[row[c]], self.local_epochs, lambda c: hoods[c], on_client
        )
        trained = torch.stack(trained_list)  # (n_local, P)
        banks = self.pool.banks
        p = trained.shape[1]
        sends: Messages = {}
        recvs: Messages = {}
        for q, ids in self.send_ids.items():
            sends[q] = [(_TAG_MODELS, trained[[row[j] for j in ids]])]
            if banks is not None:
                sends[q].append((_TAG_BANKS, torch.cat([banks.current[j] for j in ids])))
        bank_rows = None
        if banks is not None and self.recv_ids:
            e = next(iter(banks.current.values())).shape[1]
            bank_rows = lambda j: min(self.pool.bank_size, int(self.pool.data.sizes[j]))  # noqa: E731
        for q, ids in self.recv_ids.items():
            recvs[q] = [(_TAG_MODELS, torch.empty((len(ids), p), dtype=trained.dtype, device=trained.device))]
            if bank_rows is not None:
                m = sum(bank_rows(j) for j in ids)
                recvs[q].append((_TAG_BANKS, torch.empty((m, e), dtype=trained.dtype, device=trained.device)))
        tr.exchange(sends, recvs)
        rows_of: dict[int, Tensor] = {c: trained[k] for k, c in enumerate(self.mine)}
        for q, ids in self.recv_ids.items():
            for k, j in enumerate(ids):
                rows_of[j] = recvs[q][0][1][k]
            if bank_rows is not None and banks is not None:
                for j, z in zip(ids, torch.split(recvs[q][1][1], [bank_rows(j) for j in ids])):
                    banks.current[j] = z
        x_needed = torch.stack([rows_of[j] for j in self.needed])  # (k, P)
        self.models = self._w @ x_needed  # (n_local, k) @ (k, P): x_i <- Σ_{j ∈ A_i} w_ij x_j
        before = self._consensus(trained)
        after = self._consensus(self.models)
        if banks is not None:
            banks.end_round(replace=False)
        merged = merge_reports(tr.all_gather(rep), range(n))
        return {
            "clients": list(range(n)),
            "client_loss": merged["losses"],
            "client_metrics": merged["metrics"],
            "steps": merged["steps"],
            "gamma": merged["gammas"],
            "consensus_distance": before,
            "consensus_after_mixing": after,
        }

    def _consensus(self, local: Float[Tensor, "k p"]) -> float:
        """sqrt((1/N) Σ_i ‖x_i - x̄‖²) over all N clients (a collective)."""
        mean = self.transport.all_reduce_sum(local.sum(dim=0)) / self.n
        sq = self.transport.all_reduce_sum(sq_dist_sum(local, mean))
        return float((sq / self.n).sqrt())

    def final_model(self) -> Float[Tensor, " p"]:
        """(1/N) Σ_i x_i (a collective: every process must call it)."""
        return self.transport.all_reduce_sum(self.models.sum(dim=0)) / self.n

    def state(self) -> dict[str, Any]:
        """{"models": (N, P)} on the writer (gathered by point-to-point), {"models": None} elsewhere."""
        tr = self.transport
        if not tr.is_writer:
            tr.exchange({0: [(_TAG_GATHER, self.models)]}, {})
            return {"models": None}
        blocks: dict[int, list[int]] = {}
        for c in range(self.n):
            blocks.setdefault(tr.owner(c, self.n), []).append(c)
        full = torch.empty((self.n, self.models.shape[1]), dtype=self.models.dtype, device=self.models.device)  # (N, P)
        bufs = {q: torch.empty_like(full[: len(ids)]) for q, ids in blocks.items() if q != tr.rank}
        tr.exchange({}, {q: [(_TAG_GATHER, b)] for q, b in bufs.items()})
        full[self.mine] = self.models
        for q, b in bufs.items():
            full[blocks[q]] = b
        return {"models": full}

    def load_state(self, state: dict[str, Any]) -> None:
        self.models = state["models"][self.mine].to(self.models.device, self.models.dtype).clone()
