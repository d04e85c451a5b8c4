"""The ``torch.distributed`` backend: clients spread over processes, FedAvg by all-reduce, gossip by
point-to-point exchange with the neighbours' ranks.

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

* FL (:class:`DistFedAvg`): every rank draws the same client sample, trains its selected
  clients from x_t, sums w_i x_i (and x_i, for the consensus distance) and
  ``all_reduce(SUM)`` gives x_{t+1} on every rank. MAR banks of the round's participants are
  all-gathered (they form the next round's z̄ pool).
* DecL (:class:`DistGossip`): rank r trains its clients, sends the trained models (and MAR
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from jaxtyping import Float
from torch import Tensor

from empirical.clients import ClientPool
from empirical.decl import Gossip
from empirical.fl import FedAvg, fedavg_weights, sample_clients
from theory import graphs
from theory.errors import ParameterError, require

__all__ = [
    "DistContext",
    "PeerFailure",
    "EXIT_PEER_LOST",
    "peer_lost_line",
    "report_lost_peer",
    "shielded",
    "DistFedAvg",
    "DistGossip",
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
_TAG_MODELS, _TAG_BANKS, _TAG_GATHER = 0, 1, 2

T = TypeVar("T")


class PeerFailure(RuntimeError):
    """Another rank died or stopped answering; the run cannot continue."""


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
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

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


def _exchange(
    sends: dict[int, list[tuple[int, Tensor]]], recvs: dict[int, list[tuple[int, Tensor]]]
) -> None:
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


def _sq_dist_sum(rows: Float[Tensor, "k p"], mean: Float[Tensor, " p"]) -> Tensor:
    """Σ_i ‖x_i - x̄‖² in float64 (a 0-d tensor on the rows' device)."""
    if rows.shape[0] == 0:
        return torch.zeros((), dtype=torch.float64, device=mean.device)
    return (rows - mean[None, :]).double().pow(2).sum()


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    return obj


def _merge_reports(parts: Sequence[dict[str, Any]], order: Sequence[int]) -> dict[str, Any]:
    """Per-client metrics of every rank, keyed by str(client) in ``order``."""
    merged: dict[str, dict[str, Any]] = {"losses": {}, "metrics": {}, "gammas": {}}
    for p in parts:
        for key in merged:
            merged[key].update(p[key])
    out: dict[str, Any] = {k: {str(c): v[str(c)] for c in order if str(c) in v} for k, v in merged.items()}
    out["steps"] = sum(int(p["steps"]) for p in parts)
    return out


def _train_clients(
    pool: ClientPool,
    clients: Sequence[int],
    rnd: int,
    start: Callable[[int], Tensor],
    epochs: int,
    sources: Callable[[int], Sequence[int]],
    on_client: Callable[[int], None] | None,
) -> tuple[list[Tensor], dict[str, Any]]:
    trained: list[Tensor] = []
    rep: dict[str, Any] = {"losses": {}, "metrics": {}, "gammas": {}, "steps": 0}
    for c in clients:
        weights, result, gamma = pool.run_client(c, rnd, start(c), epochs, sources(c))
        trained.append(weights)
        rep["losses"][str(c)] = result.metrics.get("loss", float("nan"))
        rep["metrics"][str(c)] = result.metrics
        rep["steps"] += result.steps
        if gamma is not None:
            rep["gammas"][str(c)] = gamma
        if on_client is not None:
            on_client(c)
    return trained, rep


# --------------------------------------------------------------------------- FL


class DistFedAvg(FedAvg):
    """FedAvg with the clients spread over ranks; x_t is replicated on every rank."""

    def __init__(self, pool: ClientPool, initial: Float[Tensor, " p"], *, ctx: DistContext, **kwargs: Any) -> None:
        super().__init__(pool, initial, **kwargs)
        self.ctx = ctx

    def run_round(self, rnd: int, on_client: Callable[[int], None] | None = None) -> dict[str, Any]:
        ctx, n = self.ctx, self.n_clients
        selected = sample_clients(self.seed, rnd, n, self.k)
        mine = [c for c in selected if ctx.owner(c, n) == ctx.rank]
        w = fedavg_weights(self.pool.data.sizes, selected)
        weight_of = dict(zip(selected, (float(x) for x in w)))
        trained, rep = _train_clients(
            self.pool, mine, rnd, lambda c: self.global_weights, self.local_epochs, lambda c: self.previous_participants, on_client
        )
        acc = torch.zeros((2, self.global_weights.numel()), dtype=self.global_weights.dtype, device=self.global_weights.device)
        for c, x in zip(mine, trained):
            acc[0].add_(x, alpha=weight_of[c])  # Σ w_i x_i
            acc[1].add_(x)  # Σ x_i (consensus distance)
        dist.all_reduce(acc, op=dist.ReduceOp.SUM)
        self.global_weights = acc[0].clone()
        mean = acc[1] / len(selected)
        sq = _sq_dist_sum(torch.stack(trained) if trained else acc[:0], mean)
        dist.all_reduce(sq, op=dist.ReduceOp.SUM)
        banks = self.pool.banks
        rep["banks"] = _to_cpu(banks.current) if banks is not None else {}
        parts = ctx.all_gather(rep)
        if banks is not None:  # z̄ of the next round: the banks of all of this round's participants
            banks.current = {int(c): z.to(ctx.device) for p in parts for c, z in p["banks"].items()}
            banks.end_round(replace=True)
        self.previous_participants = selected
        merged = _merge_reports(parts, selected)
        return {
            "clients": selected,
            "weights": [float(x) for x in w],
            "client_loss": merged["losses"],
            "client_metrics": merged["metrics"],
            "steps": merged["steps"],
            "gamma": merged["gammas"],
            "consensus_distance": float(sq.sqrt() / len(selected) ** 0.5),
        }


# --------------------------------------------------------------------------- DecL


class DistGossip(Gossip):
    """Gossip with the clients spread over ranks; :attr:`models` holds only this rank's
    clients' rows (``(n_local, P)``, row k = client ``mine[k]``)."""

    def __init__(
        self,
        pool: ClientPool,
        initial: Float[Tensor, " p"],
        *,
        topology: graphs.Topology,
        mixing: np.ndarray,
        local_epochs: int,
        ctx: DistContext,
    ) -> None:
        n = pool.data.n_clients
        require(topology.n == n, "graph", f"on N = {n} nodes", topology.n)
        self.pool, self.topology, self.mixing, self.local_epochs, self.ctx = pool, topology, mixing, local_epochs, ctx
        self.n = n
        self.mine = ctx.clients(n)
        hoods = topology.neighbourhoods
        # columns of W this rank needs: the neighbourhoods of its clients
        self.needed = sorted({j for i in self.mine for j in hoods[i]})
        self._w = torch.as_tensor(mixing[np.ix_(self.mine, self.needed)], dtype=initial.dtype, device=initial.device)  # (n_local, k)
        self.models = initial.detach()[None, :].repeat(len(self.mine), 1)  # (n_local, P)
        owner = lambda c: ctx.owner(c, n)  # noqa: E731
        self.send_ids: dict[int, list[int]] = {}  # rank q -> my clients some client of q needs
        self.recv_ids: dict[int, list[int]] = {}  # rank q -> q's clients some client of mine needs
        for q in range(ctx.world_size):
            if q == ctx.rank:
                continue
            theirs = [i for i in range(n) if owner(i) == q]
            send = sorted({j for i in theirs for j in hoods[i] if owner(j) == ctx.rank})
            recv = sorted(j for j in self.needed if owner(j) == q)
            if send:
                self.send_ids[q] = send
            if recv:
                self.recv_ids[q] = recv

    def run_round(self, rnd: int, on_client: Callable[[int], None] | None = None) -> dict[str, Any]:
        ctx, n = self.ctx, self.n
        row = {c: k for k, c in enumerate(self.mine)}
        hoods = self.topology.neighbourhoods
        trained_list, rep = _train_clients(
            self.pool, self.mine, rnd, lambda c: self.models[row[c]], self.local_epochs, lambda c: hoods[c], on_client
        )
        trained = torch.stack(trained_list)  # (n_local, P)
        banks = self.pool.banks
        p = trained.shape[1]
        sends: dict[int, list[tuple[int, Tensor]]] = {}
        recvs: dict[int, list[tuple[int, Tensor]]] = {}
        for q, ids in self.send_ids.items():
            sends[q] = [(_TAG_MODELS, trained[[row[j] for j in ids]])]
            if banks is not None:
                sends[q].append((_TAG_BANKS, torch.cat([banks.current[j] for j in ids])))
        bank_shape = None
        if banks is not None:
            e = next(iter(banks.current.values())).shape[1]
            bank_shape = lambda j: (min(self.pool.bank_size, int(self.pool.data.sizes[j])), e)  # noqa: E731
        for q, ids in self.recv_ids.items():
            recvs[q] = [(_TAG_MODELS, torch.empty((len(ids), p), dtype=trained.dtype, device=trained.device))]
            if bank_shape is not None:
                m = sum(bank_shape(j)[0] for j in ids)
                recvs[q].append((_TAG_BANKS, torch.empty((m, bank_shape(ids[0])[1]), dtype=trained.dtype, device=trained.device)))
        _exchange(sends, recvs)
        rows_of: dict[int, Tensor] = {c: trained[k] for k, c in enumerate(self.mine)}
        for q, ids in self.recv_ids.items():
            for k, j in enumerate(ids):
                rows_of[j] = recvs[q][0][1][k]
            if bank_shape is not None and banks is not None:
                parts = torch.split(recvs[q][1][1], [bank_shape(j)[0] for j in ids])
                for j, z in zip(ids, parts):
                    banks.current[j] = z
        x_needed = torch.stack([rows_of[j] for j in self.needed])  # (k, P)
        self.models = self._w @ x_needed  # (n_local, k) @ (k, P): x_i <- Σ_{j ∈ A_i} w_ij x_j
        before = self._consensus(trained)
        after = self._consensus(self.models)
        if banks is not None:
            banks.end_round(replace=False)
        merged = _merge_reports(ctx.all_gather(rep), range(n))
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
        mean = local.sum(dim=0)
        dist.all_reduce(mean, op=dist.ReduceOp.SUM)
        mean /= self.n
        sq = _sq_dist_sum(local, mean)
        dist.all_reduce(sq, op=dist.ReduceOp.SUM)
        return float((sq / self.n).sqrt())

    def final_model(self) -> Float[Tensor, " p"]:
        """(1/N) Σ_i x_i (a collective: every rank must call it)."""
        total = self.models.sum(dim=0)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total / self.n

    def state(self) -> dict[str, Any]:
        """{"models": (N, P)} on rank 0 (gathered by point-to-point), {"models": None} elsewhere."""
        ctx = self.ctx
        if not ctx.is_writer:
            _exchange({0: [(_TAG_GATHER, self.models)]}, {})
            return {"models": None}
        blocks: dict[int, list[int]] = {}
        for c in range(self.n):
            blocks.setdefault(ctx.owner(c, self.n), []).append(c)
        full = torch.empty((self.n, self.models.shape[1]), dtype=self.models.dtype, device=self.models.device)  # (N, P)
        bufs = {q: torch.empty_like(full[: len(ids)]) for q, ids in blocks.items() if q != ctx.rank}
        _exchange({}, {q: [(_TAG_GATHER, b)] for q, b in bufs.items()})
        full[self.mine] = self.models
        for q, b in bufs.items():
            full[blocks[q]] = b
        return {"models": full}

    def load_state(self, state: dict[str, Any]) -> None:
        self.models = state["models"][self.mine].to(self.models.device, self.models.dtype).clone()


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
