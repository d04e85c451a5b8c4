"""The ``torch.distributed`` transport: clients spread over processes, FedAvg's sums by all-reduce,
gossip's neighbour models by point-to-point exchange with the neighbours' ranks.

This module holds only the transport (:class:`DistContext`, an
:class:`empirical.transport.Transport`) and the rank bookkeeping (set-up, failure handling,
checkpoint gather/scatter of the clients' state). The round logic is that of the in-process
run, written once: :class:`empirical.fl.FedAvg` and :class:`empirical.decl.Gossip` built with
``transport=ctx``.

Launch (``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)::

    torchrun --standalone --nproc-per-node=K -m empirical.run --backend torch ...

Process group: "gloo" on CPU, "nccl" when ``run.device`` is CUDA (rank r uses
``cuda:LOCAL_RANK``), created with a finite timeout (``--dist-timeout``) so a hung peer
cannot block the others forever.

Client-to-rank map: contiguous blocks, client c lives on rank ``c · W // N`` (W ranks, N
clients, W <= N), so every rank holds ⌊N/W⌋ or ⌈N/W⌉ clients and ring neighbours mostly share
a rank. A rank keeps only its clients' persistent state (optimiser states, MAR banks, DecL
models); every rank prepares the whole data set (the partition is a pure function of the data
seed) and uses only its clients' indices. Randomness is keyed by (seed, stream, client, round,
epoch, step) (:mod:`empirical.clients`), so a client draws the same masks, views and batches
on any rank.

* FL (:class:`~empirical.fl.FedAvg`): every rank draws the same client sample, trains its selected
  clients from x_t, sums w_i x_i (and x_i, for the consensus distance) and
  ``all_reduce(SUM)`` gives x_{t+1} on every rank. MAR banks of the round's participants are
  all-gathered (they form the next round's z̄ pool).
* DecL (:class:`~empirical.decl.Gossip`): rank r trains its clients, sends the trained models (and MAR
  banks) of its clients that neighbour a client of rank q to q and receives q's such models,
  all in one ``batch_isend_irecv`` of ``P2POp``s, then applies its rows of W restricted to the
  neighbourhood columns. No all-gather of models.
* Per-client metrics (losses, γ, step counts) are all-gathered as small Python objects.

Checkpoints have the global format of the in-process run (:meth:`empirical.engine.Experiment.
checkpoint_state`): rank 0 gathers the models and the clients' state and writes; on resume rank
0 reads and broadcasts, and every rank keeps its own clients. A checkpoint therefore resumes on
any number of ranks, and in-process and distributed checkpoints are interchangeable.

Numbers: a distributed run equals the in-process one up to float32 summation order (FedAvg's
sum is split over ranks, gossip's product over fewer columns), i.e. relative differences of a
few 1e-7 per round, which training then carries along.

Test hook (fault injection, not for production): with ``DSSL_FAULT_KILL_RANK=r`` and
``DSSL_FAULT_AT_ROUND=t`` in the environment, rank r leaves with ``os._exit(1)`` at the start
of round t (after the round t-1 checkpoint), as a crashed process would; with also
``DSSL_FAULT_MODE=hang`` it stops answering instead (the others hit ``--dist-timeout``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from empirical.clients import ClientPool
from empirical.transport import Messages
from theory.errors import ParameterError, require

__all__ = [
    "DistContext",
    "EXIT_PEER_LOST",
    "peer_lost_line",
    "report_lost_peer",
    "shielded",
    "setup",
    "teardown",
    "agree",
    "fault_point",
    "gather_pool_state",
    "load_pool_state",
    "FAULT_RANK_ENV",
    "FAULT_ROUND_ENV",
    "FAULT_MODE_ENV",
]

FAULT_RANK_ENV = "DSSL_FAULT_KILL_RANK"
FAULT_ROUND_ENV = "DSSL_FAULT_AT_ROUND"
FAULT_MODE_ENV = "DSSL_FAULT_MODE"

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process' place in the process group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_writer(self) -> bool:
        """Rank 0 writes every file."""
        return self.rank == 0

    def owner(self, client: int, n_clients: int) -> int:
        """The rank holding ``client``: contiguous blocks, c · W // N."""
        return client * self.world_size // n_clients

    def clients(self, n_clients: int) -> list[int]:
        """This rank's clients (sorted)."""
        return [c for c in range(n_clients) if self.owner(c, n_clients) == self.rank]

    # small collectives ---------------------------------------------------------------

    def broadcast(self, obj: T, src: int = 0) -> T:
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]  # type: ignore[return-value]

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (tensors inside it travel, and arrive, on the CPU)."""
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, _to_cpu(obj))
        return out

    # the transport of empirical.fl / empirical.decl (empirical.transport.Transport) ----------

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        """``all_reduce(SUM)`` in place; returns ``t``."""
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def exchange(self, sends: Messages, recvs: Messages) -> None:
        """Neighbour point-to-point: one ``batch_isend_irecv`` of every message."""
        _exchange(sends, recvs)

    def gather(self, obj: Any) -> list[Any] | None:
        out: list[Any] | None = [None] * self.world_size if self.is_writer else None
        dist.gather_object(obj, out, dst=0)
        return out


# --------------------------------------------------------------------------- leaving after a lost peer
#
# When a rank dies, torchrun's agent sends SIGTERM to the survivors within about 0.1 s, and at
# about the same moment a survivor waiting in a collective gets gloo's "connection closed" error.
# A SIGTERM handler that raises an exception races with the handling of that error: landing in
# the ``except`` block of ``empirical.run.main`` before its message was printed, it replaced the
# error by a second exception that escaped ``main`` (no "error: rank ..." line, a traceback,
# exit 1, or SIGABRT from the process group's destructors at interpreter exit). So the handler
# does not raise: it says why on stderr and leaves with ``os._exit(EXIT_PEER_LOST)`` itself,
# unless this rank is already doing so (then it does nothing) or is inside :func:`shielded`
# (a checkpoint write; it leaves when the block is done, with the file whole on disk).

EXIT_PEER_LOST = 3  # exit status of a rank that stopped because a peer died or hung
SIGTERM_REASON = "stopped by the launcher (SIGTERM), most likely because another rank failed"


@dataclass
class _Leaving:
    ctx: DistContext | None = None
    leaving: bool = False  # this rank has said why it stops and is on its way out
    shield_depth: int = 0
    pending: bool = False  # a SIGTERM came inside a shielded block


_LEAVING = _Leaving()


def peer_lost_line(ctx: DistContext, reason: str) -> str:
    """The one line a rank prints when the run stops because of a lost peer."""
    return (
        f"error: rank {ctx.rank} of {ctx.world_size}: the distributed run stopped because a peer process failed or "
        f"stopped answering ({reason}); continue from the last checkpoint with --resume, on any number of processes"
    )


def _say(line: str) -> None:
    """One write of ``line`` to fd 2 (atomic on a pipe; safe inside a signal handler, where
    ``sys.stderr`` may be in the middle of a write)."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError, RuntimeError):
        pass
    os.write(2, (line + "\n").encode("utf-8", "replace"))


def report_lost_peer(ctx: DistContext, err: BaseException) -> None:
    """Print why this rank stops (the first line of ``err``); from now on SIGTERM is ignored.
    The caller then leaves with status :data:`EXIT_PEER_LOST` (``os._exit``: the process
    group's destructors could wait on the lost peer or abort)."""
    _LEAVING.leaving = True
    text = str(err).strip()
    _say(peer_lost_line(ctx, text.splitlines()[0] if text else type(err).__name__))


def _leave_now() -> None:
    _LEAVING.leaving = True
    if _LEAVING.ctx is not None:
        _say(peer_lost_line(_LEAVING.ctx, SIGTERM_REASON))
    try:
        sys.stdout.flush()
    except (OSError, ValueError, RuntimeError):
        pass
    os._exit(EXIT_PEER_LOST)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _LEAVING.leaving:
        return
    if _LEAVING.shield_depth:
        _LEAVING.pending = True
        return
    _leave_now()


@contextmanager
def shielded() -> Iterator[None]:
    """A block that SIGTERM does not cut short (rank 0's checkpoint and metrics writes): a SIGTERM
    that arrives inside it makes the rank leave when the block is done. A no-op outside torchrun."""
    _LEAVING.shield_depth += 1
    try:
        yield
    finally:
        _LEAVING.shield_depth -= 1
        if _LEAVING.shield_depth == 0 and _LEAVING.pending and not _LEAVING.leaving:
            _leave_now()


# --------------------------------------------------------------------------- set-up


def setup(device: str, timeout_s: float) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment.

    ``device``: the run's device ("cpu" -> gloo; "cuda..." -> nccl on ``cuda:LOCAL_RANK``).
    SIGTERM (sent by torchrun's agent when another worker fails) makes this rank print one line
    and leave with status :data:`EXIT_PEER_LOST` (see "leaving after a lost peer" above).
    """
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    require(
        not missing,
        "--backend",
        "'torch' only under torchrun (e.g. torchrun --standalone --nproc-per-node=2 -m empirical.run ...), "
        "which sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT",
        f"missing {', '.join(missing)}",
    )
    require(timeout_s > 0, "--dist-timeout", "a number of seconds > 0", timeout_s)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        require(torch.cuda.is_available(), "run.device", "'cpu' on this machine (torch.cuda.is_available() is False)", device)
        require(
            local < torch.cuda.device_count(),
            "--nproc-per-node",
            f"at most the {torch.cuda.device_count()} visible GPUs with run.device=cuda",
            local + 1,
        )
        backend, dev = "nccl", torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        backend, dev = "gloo", torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
    ctx = DistContext(rank, world, local, dev, backend)
    _LEAVING.ctx = ctx
    signal.signal(signal.SIGTERM, _on_sigterm)
    return ctx


def teardown() -> None:
    """Leave the process group (no-op if none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def agree(ctx: DistContext | None, check: Callable[[], None]) -> None:
    """Run ``check`` (a file-system check that may raise ParameterError) on rank 0 only and
    raise its error on every rank, so that no rank is left waiting in a collective."""
    if ctx is None:
        check()
        return
    problem: tuple[str, str, Any] | None = None
    if ctx.is_writer:
        try:
            check()
        except ParameterError as err:
            problem = (err.name, err.allowed, err.value)
    problem = ctx.broadcast(problem)
    if problem is not None:
        raise ParameterError(*problem)


def fault_point(ctx: DistContext | None, rnd: int) -> None:
    """Test hook: at the start of round ``rnd``, rank ``DSSL_FAULT_KILL_RANK`` exits abruptly
    (``os._exit(1)``) when ``DSSL_FAULT_AT_ROUND`` = ``rnd``, or, with ``DSSL_FAULT_MODE=hang``,
    stops answering (sleeps) so that the others run into the process-group timeout."""
    if ctx is None or FAULT_RANK_ENV not in os.environ:
        return
    if int(os.environ[FAULT_RANK_ENV]) == ctx.rank and int(os.environ.get(FAULT_ROUND_ENV, "0")) == rnd:
        if os.environ.get(FAULT_MODE_ENV, "exit") == "hang":
            print(f"fault hook: rank {ctx.rank} hangs at the start of round {rnd}", file=sys.stderr, flush=True)
            time.sleep(24 * 3600)
        print(f"fault hook: rank {ctx.rank} exits at the start of round {rnd}", file=sys.stderr, flush=True)
        os._exit(1)


# --------------------------------------------------------------------------- helpers


def _exchange(sends: Messages, recvs: Messages) -> None:
    """One ``batch_isend_irecv``: ``sends[q]`` = [(tag, tensor)] to rank q, ``recvs[q]`` =
    [(tag, buffer)] filled from rank q. Every pair posts its messages in the same order."""
    ops = []
    for q in sorted(set(sends) | set(recvs)):
        for tag, t in sends.get(q, []):
            ops.append(dist.P2POp(dist.isend, t.contiguous(), q, tag=tag))
        for tag, buf in recvs.get(q, []):
            ops.append(dist.P2POp(dist.irecv, buf, q, tag=tag))
    if ops:
        for req in dist.batch_isend_irecv(ops):
            req.wait()


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- client state


def _map_device(saved: str, device: torch.device) -> str:
    """Where an optimiser-state group saved on ``saved`` lives on this rank: CPU entries (e.g.
    AdamW's step counters) stay on the CPU, accelerator entries go to this rank's device."""
    return "cpu" if saved == "cpu" else str(device)


def _relocate(saved: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """Optimiser-state groups keyed "device|dtype" moved as :func:`_map_device` says."""
    out = {}
    for key, t in saved.items():
        dev, dtype = key.split("|", 1)
        target = _map_device(dev, device)
        out[f"{target}|{dtype}"] = t.to(target)
    return out


def _relocate_layout(layout: list[list[Any]] | None, device: torch.device) -> list[list[Any]] | None:
    return None if layout is None else [[i, k, s, _map_device(d, device), t] for i, k, s, d, t in layout]


def gather_pool_state(ctx: DistContext, pool: ClientPool) -> dict[str, Any] | None:
    """The global :meth:`ClientPool.state` on rank 0 (None elsewhere): each client's entries are
    taken from its owner."""
    n = pool.data.n_clients
    own = set(ctx.clients(n))
    local = pool.state()
    part = {
        "optim": _to_cpu({k: v for k, v in local["optim"].items() if int(k) in own}),
        "optim_layout": local["optim_layout"],
        "times_selected": None if local["times_selected"] is None else local["times_selected"][sorted(own)].clone(),
        "banks": None if local["banks"] is None else _to_cpu({k: v for k, v in local["banks"]["previous"].items() if int(k) in own}),
    }
    parts = ctx.gather(part)
    if parts is None:
        return None
    layout = next((p["optim_layout"] for p in parts if p["optim_layout"] is not None), None)
    layout = _relocate_layout(layout, ctx.device)  # as an in-process run on rank 0's device would record it
    optim: dict[str, Any] = {}
    banks: dict[str, Tensor] = {}
    times = None if local["times_selected"] is None else torch.zeros_like(local["times_selected"])
    for q, p in enumerate(parts):
        optim.update({k: _relocate(v, ctx.device) for k, v in p["optim"].items()})
        if times is not None:
            times[[c for c in range(n) if ctx.owner(c, n) == q]] = p["times_selected"]
        if p["banks"] is not None:
            banks.update({k: z.to(ctx.device) for k, z in p["banks"].items()})
    return {
        "optim": {k: optim[k] for k in sorted(optim, key=int)},
        "optim_layout": layout,
        "times_selected": times,
        "banks": None if local["banks"] is None else {"previous": {k: banks[k] for k in sorted(banks, key=int)}},
    }


def load_pool_state(ctx: DistContext, pool: ClientPool, state: dict[str, Any]) -> None:
    """Load a global pool state, keeping this rank's clients' optimiser states (moved to this
    rank's device); γ counters and MAR banks are kept whole (small; only owned or requested
    entries are read)."""
    n = pool.data.n_clients
    own = set(ctx.clients(n))
    layout = _relocate_layout(state["optim_layout"], ctx.device)
    local = {
        **state,
        "optim": {k: _relocate(v, ctx.device) for k, v in state["optim"].items() if int(k) in own},
        "optim_layout": layout,
    }
    pool.load_state(local, ctx.device)
