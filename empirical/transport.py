"""The transport under FedAvg (:mod:`empirical.fl`) and gossip (:mod:`empirical.decl`): where
the clients live and the few collectives the two algorithms need.

The round logic of each algorithm is written once, against :class:`Transport`; a run picks

* :class:`InProcess` (one process holds every client; sums are the local sum, gathers are the
  object itself, there is nothing to exchange), or
* :class:`empirical.distributed.DistContext` (``torch.distributed``: clients in contiguous
  blocks over ranks; ``all_reduce``, ``all_gather_object``, neighbour point-to-point through one
  ``batch_isend_irecv``).

With one rank the two give the same numbers: every partial sum is the whole sum.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from theory.errors import require

__all__ = ["Transport", "InProcess", "Messages"]

Messages = dict[int, list[tuple[int, Tensor]]]
"""Point-to-point messages by peer rank: ``{rank q: [(tag, tensor), ...]}``."""


@runtime_checkable
class Transport(Protocol):
    """What FedAvg and gossip need from the process layout."""

    @property
    def rank(self) -> int: ...

    @property
    def world_size(self) -> int: ...

    @property
    def is_writer(self) -> bool:
        """The process that receives gathered state (rank 0)."""
        ...

    def owner(self, client: int, n_clients: int) -> int:
        """The rank holding ``client``."""
        ...

    def clients(self, n_clients: int) -> list[int]:
        """This process' clients (sorted)."""
        ...

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        """Sum ``t`` over all processes, in place; returns ``t``."""
        ...

    def all_gather(self, obj: Any) -> list[Any]:
        """Every process' ``obj``, in rank order (tensors arrive on the CPU when they travelled)."""
        ...

    def exchange(self, sends: Messages, recvs: Messages) -> None:
        """Send ``sends[q]`` to rank q and fill the buffers ``recvs[q]`` from rank q, all at once;
        every pair of ranks posts its messages in the same order."""
        ...


class InProcess:
    """Every client in this process: the identity transport."""

    rank = 0
    world_size = 1
    is_writer = True

    def owner(self, client: int, n_clients: int) -> int:
        require(0 <= client < n_clients, "client", f"in [0, {n_clients})", client)
        return 0

    def clients(self, n_clients: int) -> list[int]:
        return list(range(n_clients))

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        return t

    def all_gather(self, obj: Any) -> list[Any]:
        return [obj]

    def exchange(self, sends: Messages, recvs: Messages) -> None:
        require(not sends and not recvs, "exchange", "no messages in a single-process run (no peer ranks)", sorted(set(sends) | set(recvs)))
