"""Batched clients: one round's local training of K clients as one vmapped computation.

:func:`train_clients_batched` has the signature and the return value of
:func:`empirical.clients.train_clients` and is selected by ``federation.batched_clients``. It
makes the same draws and, up to float32 summation order, computes the same numbers:

* **State.** The K clients' flat weights (:class:`~empirical.clients.FlatState` vectors) are
  stacked ``(K, P)``; parameters are ``(k, ...)`` views of the gathered rows, float buffers
  ``(k, ...)`` copies, given to ``torch.func.functional_call`` of the working module under
  ``vmap(grad_and_value(...))``. :class:`FlatLayout` maps names to columns.
* **Randomness.** Each client's draws are made outside the vmap, with the same keyed
  generators and in the same order as the sequential path, by the method's ``prepare``
  (:mod:`empirical.methods`), then stacked; the vmapped function is the method's pure
  ``loss_prepared``. Batch orders and z̄ row picks are the same keyed draws too.
* **BatchNorm.** Running mean and variance are ``(k, C)`` batched buffers: under vmap each
  client normalises with its own batch statistics and its running-statistics update writes its
  own row. They must be contiguous copies (BN's batching rule updates a contiguous tensor; into
  views of the stacked rows the update was lost), written back after the step. The integer
  ``num_batches_tracked`` (not part of a client's state) gets discarded per-call copies.
* **Optimiser.** :class:`StackedOptimizer` applies ``torch.optim.AdamW`` / ``SGD``'s
  single-tensor update op by op to ``(k, n)`` rows with each client's own step count; its state
  is reset each round or persisted in :class:`~empirical.clients.OptimizerStates`' flat
  format, so checkpoints are interchangeable between the two paths.
* **Unequal clients.** No padding (it would change BatchNorm statistics and loss means): at
  global step j the active clients (those with more than j steps) are grouped by batch shape
  (batch size, whether they align to a z̄, z̄ rows), each group is gathered from the stack,
  trained as one vmap and scattered back.
* **MAR.** γ is a per-client ``(k,)`` tensor; the global-encoder z̄ is a vmapped no-grad
  forward of each client's round-start weights on the same masked batch; bank-mode z̄ rows are
  drawn per client and stacked. Bank refreshes after training stay sequential (forward only).
* **Attention** runs in its composite ("math") form under vmap: the fused CPU kernel has no
  batching rule (vmap would loop over the clients).

Not supported: parameters that get no gradient at some step (a batched step cannot skip
them as ``torch.optim`` does); the config refuses the one such case (MAR's projector head).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from empirical.clients import (
    PURPOSE_ORDER,
    PURPOSE_STEP,
    ClientPool,
    FlatState,
    LocalResult,
    _persistent_float_buffers,
    add_to_report,
    epoch_batches,
    keyed_generator,
    new_report,
    train_clients,
)
from empirical.methods import SSLMethod, floats, mar_metrics
from theory.errors import require

__all__ = ["FlatLayout", "StackedOptimizer", "BatchedClients", "train_clients_batched", "client_loop"]


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class FlatLayout:
    """Where each parameter and persistent float buffer of a :class:`FlatState` module lies in
    its flat vector: ``(name, offset, shape)`` in flat order; parameters occupy columns
    ``[0, n_params)``, buffers ``[n_params, numel)``."""

    params: tuple[tuple[str, int, tuple[int, ...]], ...]
    buffers: tuple[tuple[str, int, tuple[int, ...]], ...]
    n_params: int
    numel: int

    @classmethod
    def of(cls, state: FlatState) -> FlatLayout:
        require(state.is_intact(), "state", "a FlatState whose tensors are still views of its vector", "a broken FlatState")
        base, size = state.flat.data_ptr(), state.flat.element_size()
        offset = lambda t: (t.data_ptr() - base) // size  # noqa: E731
        params = tuple((n, offset(p), tuple(p.shape)) for n, p in state.module.named_parameters())
        ids = {id(b) for _, _, b in _persistent_float_buffers(state.module)}
        buffers = tuple((n, offset(b), tuple(b.shape)) for n, b in state.module.named_buffers() if id(b) in ids)
        ends = [off + (int(np.prod(shape)) if shape else 1) for _, off, shape in params + buffers]
        starts = [off for _, off, _ in params + buffers]
        require(
            starts[0] == 0 and starts[1:] == ends[:-1] and ends[-1] == state.numel and len(params) > 0,
            "state",
            "parameters then float buffers, consecutive in named order (as FlatState lays them out)",
            "another layout",
        )
        return cls(params, buffers, state.n_params, state.numel)

    @staticmethod
    def _views(block: Tensor, entries: Sequence[tuple[str, int, tuple[int, ...]]], start: int, prefix: str) -> dict[str, Tensor]:
        k = block.shape[0]
        out = {}
        for name, off, shape in entries:
            n = int(np.prod(shape)) if shape else 1
            out[prefix + name] = block[:, off - start : off - start + n].view(k, *shape)  # (k, ...)
        return out

    def param_views(self, block: Float[Tensor, "k n"], prefix: str = "") -> dict[str, Tensor]:
        """``(k, ...)`` views of parameter columns ``block`` = rows[:, :n_params]."""
        return self._views(block, self.params, 0, prefix)

    def buffer_copies(self, block: Float[Tensor, "k m"], prefix: str = "") -> dict[str, Tensor]:
        """Contiguous ``(k, ...)`` copies of buffer columns ``block`` = rows[:, n_params:]
        (BatchNorm's batching rule updates running statistics in place only in contiguous
        tensors: into views of ``block`` the update is lost)."""
        return {name: t.clone() for name, t in self._views(block, self.buffers, self.n_params, prefix).items()}

    def flatten_buffers(self, tensors: dict[str, Tensor], prefix: str = "") -> Float[Tensor, "k m"]:
        """:meth:`buffer_copies` back to ``(k, numel - n_params)`` columns."""
        first = tensors[prefix + self.buffers[0][0]]
        return torch.cat([tensors[prefix + name].reshape(first.shape[0], -1) for name, _, _ in self.buffers], dim=1)

    def flatten_params(self, tensors: dict[str, Tensor], prefix: str = "") -> Float[Tensor, "k n"]:
        """``(k, ...)`` per-parameter tensors (e.g. gradients) as ``(k, n_params)`` in flat order."""
        first = tensors[prefix + self.params[0][0]]
        return torch.cat([tensors[prefix + name].reshape(first.shape[0], -1) for name, _, _ in self.params], dim=1)


# --------------------------------------------------------------------------- optimiser


def _scalar_dtype() -> torch.dtype:
    """The dtype of ``torch.optim``'s (non-fused) step counters."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class StackedOptimizer:
    """The working ``torch.optim.AdamW`` or ``SGD`` applied to K clients' rows at once.

    Columns are in the optimiser's parameter order (its param groups concatenated, as
    :class:`~empirical.clients.OptimizerStates` orders them), so each param group is a
    contiguous column range updated with that group's Python-scalar hyper-parameters and the
    same tensor operations as ``torch.optim``'s single-tensor implementation; clients with
    different step counts (persisted state) are updated in separate sub-batches. Learning rates
    are read from the optimiser's groups at every step (the engine's schedule sets them).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, state: FlatState, layout: FlatLayout) -> None:
        kind = type(optimizer)
        require(kind in (torch.optim.AdamW, torch.optim.SGD), "optimizer", "torch.optim.AdamW or SGD for batched clients", kind.__name__)
        self.optimizer = optimizer
        self.is_adamw = kind is torch.optim.AdamW
        for g in optimizer.param_groups:
            if self.is_adamw:
                bad = {k: g[k] for k in ("amsgrad", "maximize", "capturable", "differentiable", "fused") if g.get(k)}
            else:
                bad = {k: g[k] for k in ("maximize", "differentiable", "fused") if g.get(k)}
                if g["momentum"] and g["dampening"]:
                    bad["dampening"] = g["dampening"]
            require(not bad, "optimizer", "the plain single-tensor AdamW/SGD for batched clients", bad)
            require(not isinstance(g["lr"], Tensor), "optimizer", "a float learning rate for batched clients", type(g["lr"]).__name__)
        params = [p for g in optimizer.param_groups for p in g["params"]]
        self.params = params
        cols, ranges, group_ranges = [], [], []
        start = 0
        for g in optimizer.param_groups:
            g_start = start
            for p in g["params"]:
                c0 = (p.data_ptr() - state.flat.data_ptr()) // state.flat.element_size()
                require(0 <= c0 < layout.n_params, "optimizer", "parameters of the working model", "a foreign parameter")
                cols.append(torch.arange(c0, c0 + p.numel()))
                ranges.append((start, start + p.numel()))
                start += p.numel()
            group_ranges.append((g_start, start))
        self.cols = torch.cat(cols).to(state.flat.device)  # (n,) flat column of each optimiser column
        self.ranges = ranges  # per optimiser parameter: its optimiser columns
        self.group_ranges = group_ranges
        self.n = start
        self.device, self.dtype = state.flat.device, state.flat.dtype
        self.begin(0)

    # state --------------------------------------------------------------------

    def begin(self, k: int) -> None:
        """Fresh (reset) state for ``k`` clients."""
        z = lambda: torch.zeros((k, self.n), dtype=self.dtype, device=self.device)  # noqa: E731
        if self.is_adamw:
            self.exp_avg, self.exp_avg_sq = z(), z()
        else:
            self.buf = z()
        self.steps = np.zeros(k, dtype=np.int64)  # AdamW: step count; SGD: momentum buffer exists iff > 0

    def layout(self) -> list[tuple[int, str, tuple[int, ...], str, str]] | None:
        """:class:`~empirical.clients.OptimizerStates`' layout of this optimiser's state."""
        out = []
        for i, p in enumerate(self.params):
            shape, dev, dt = tuple(p.shape), str(p.device), str(p.dtype)
            if self.is_adamw:
                out += [(i, "exp_avg", shape, dev, dt), (i, "exp_avg_sq", shape, dev, dt), (i, "step", (), "cpu", str(_scalar_dtype()))]
            elif self._momentum():
                out.append((i, "momentum_buffer", shape, dev, dt))
        return out or None

    def _momentum(self) -> bool:
        return any(g.get("momentum", 0) != 0 for g in self.optimizer.param_groups)

    def load(self, row: int, saved: dict[str, Tensor] | None, layout: list[tuple[int, str, tuple[int, ...], str, str]] | None) -> None:
        """Row ``row`` from an :meth:`OptimizerStates.save` vector (None: reset)."""
        if saved is None:
            return
        require(layout is not None and layout == self.layout(), "optimizer state", "the layout of this optimiser", "another layout")
        assert layout is not None
        offsets = dict.fromkeys(saved, 0)
        for i, key, shape, dev, dt in layout:
            g = f"{dev}|{dt}"
            n = int(np.prod(shape)) if shape else 1
            piece = saved[g][offsets[g] : offsets[g] + n]
            offsets[g] += n
            a, b = self.ranges[i]
            if key == "step":
                self.steps[row] = int(piece.item())
            elif key == "exp_avg":
                self.exp_avg[row, a:b] = piece.to(self.device, self.dtype)
            elif key == "exp_avg_sq":
                self.exp_avg_sq[row, a:b] = piece.to(self.device, self.dtype)
            else:
                self.buf[row, a:b] = piece.to(self.device, self.dtype)
                self.steps[row] = 1

    def save(self, row: int) -> dict[str, Tensor] | None:
        """Row ``row`` in :meth:`OptimizerStates.save`'s format (None when there is no state)."""
        layout = self.layout()
        if layout is None or self.steps[row] == 0:
            return None
        groups: dict[str, list[Tensor]] = {}
        for i, key, _, dev, dt in layout:
            a, b = self.ranges[i]
            if key == "step":
                piece = torch.tensor([float(self.steps[row])], dtype=_scalar_dtype())
            else:
                src = {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "momentum_buffer": "buf"}[key]
                piece = getattr(self, src)[row, a:b]
            groups.setdefault(f"{dev}|{dt}", []).append(piece.to(dev))
        return {g: torch.cat(ts) for g, ts in groups.items()}

    # update -------------------------------------------------------------------

    def step(self, rows: Sequence[int], params: Float[Tensor, "k n"], grads: Float[Tensor, "k n"]) -> None:
        """One step of the clients ``rows`` (state rows) on ``params`` (updated in place),
        both ``(k, n)`` in optimiser column order."""
        rows_np = np.asarray(rows, dtype=np.int64)
        self.steps[rows_np] += 1
        counts = self.steps[rows_np]
        for t in np.unique(counts):
            sel = np.flatnonzero(counts == t)
            whole = sel.size == rows_np.size
            idx = torch.as_tensor(rows_np[sel], device=self.device)
            sub = None if whole else torch.as_tensor(sel, device=self.device)
            p = params if sub is None else params.index_select(0, sub)
            g = grads if sub is None else grads.index_select(0, sub)
            if self.is_adamw:
                m, v = self.exp_avg.index_select(0, idx), self.exp_avg_sq.index_select(0, idx)
                self._adamw(p, g, m, v, int(t))
                self.exp_avg.index_copy_(0, idx, m)
                self.exp_avg_sq.index_copy_(0, idx, v)
            else:
                buf = self.buf.index_select(0, idx)
                self._sgd(p, g, buf, first=int(t) == 1)
                self.buf.index_copy_(0, idx, buf)
            if sub is not None:
                params.index_copy_(0, sub, p)

    def _adamw(self, p: Tensor, g: Tensor, m: Tensor, v: Tensor, step: int) -> None:
        """``torch.optim.adam._single_tensor_adam`` with decoupled weight decay, op by op."""
        for (a, b), group in zip(self.group_ranges, self.optimizer.param_groups):
            lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
            beta1, beta2 = group["betas"]
            pp, gg, mm, vv = p[:, a:b], g[:, a:b], m[:, a:b], v[:, a:b]
            if wd != 0:
                pp.mul_(1 - lr * wd)
            mm.lerp_(gg, 1 - beta1)
            vv.mul_(beta2).addcmul_(gg, gg, value=1 - beta2)
            bias_correction1 = 1 - beta1 ** float(step)
            bias_correction2 = 1 - beta2 ** float(step)
            step_size = lr / bias_correction1
            denom = (vv.sqrt() / bias_correction2**0.5).add_(eps)
            pp.addcdiv_(mm, denom, value=-step_size)

    def _sgd(self, p: Tensor, g: Tensor, buf: Tensor, *, first: bool) -> None:
        """``torch.optim.sgd._single_tensor_sgd`` (no dampening), op by op."""
        for (a, b), group in zip(self.group_ranges, self.optimizer.param_groups):
            lr, wd, momentum = group["lr"], group["weight_decay"], group["momentum"]
            pp, gg = p[:, a:b], g[:, a:b]
            if wd != 0:
                gg = gg.add(pp, alpha=wd)
            if momentum != 0:
                bb = buf[:, a:b]
                if first:
                    bb.copy_(gg)
                else:
                    bb.mul_(momentum).add_(gg)
                gg = gg.add(bb, alpha=momentum) if group["nesterov"] else bb
            pp.add_(gg, alpha=-lr)


# --------------------------------------------------------------------------- the pure calls


class _Call(nn.Module):
    """``method.loss_prepared`` (or, ``reference``, ``method.representation_prepared``) as a
    module call, for ``functional_call``; its tensors are the method's, named ``method.*``."""

    def __init__(self, method: nn.Module, reference: bool = False) -> None:
        super().__init__()
        self.method = cast(SSLMethod, method)
        self.reference = reference

    def forward(self, prepared: tuple[Tensor, ...], z_global: Tensor | None = None, gamma: Tensor | None = None) -> Any:
        method: Any = self.method
        if self.reference:
            return method.representation_prepared(prepared)
        if z_global is None:
            return method.loss_prepared(prepared)
        return method.loss_prepared(prepared, z_global, gamma)


_PREFIX = "method."


def _batchable_attention() -> Any:
    """Scaled dot-product attention through its composite "math" form: vmap has no batching
    rule for the fused CPU kernel (it would loop over clients); same maths, float32 rounding
    may differ."""
    return sdpa_kernel(SDPBackend.MATH)


@dataclass
class _Job:
    """One active client's step: state row, generator keys and positions."""

    row: int
    client: int
    epoch: int
    step: int
    positions: Tensor


class BatchedClients:
    """The batched client loop of one :class:`~empirical.clients.ClientPool` (built once, on
    first use, by :func:`train_clients_batched`)."""

    def __init__(self, pool: ClientPool) -> None:
        tr = pool.trainer
        self.pool, self.trainer = pool, tr
        self.layout = FlatLayout.of(tr.state)
        # integer buffers (BatchNorm's num_batches_tracked) are not client state, but BN adds 1
        # to them in place, which a grad transform allows only on its inputs: per-call copies
        floats = {id(b) for _, _, b in _persistent_float_buffers(tr.method)}
        self.scratch = {_PREFIX + n: b.detach() for n, b in tr.method.named_buffers() if id(b) not in floats and not b.is_floating_point()}
        self.optim = StackedOptimizer(tr.optimizer, tr.state, self.layout)
        loss_call, ref_call = _Call(tr.method), _Call(tr.method, reference=True)

        def plain(params: dict[str, Tensor], buffers: dict[str, Tensor], prepared: tuple[Tensor, ...]) -> Any:
            return functional_call(loss_call, (params, buffers), (prepared,))

        def aligned(params: dict[str, Tensor], buffers: dict[str, Tensor], prepared: tuple[Tensor, ...], z: Tensor, gamma: Tensor) -> Any:
            return functional_call(loss_call, (params, buffers), (prepared, z, gamma))

        def reference(params: dict[str, Tensor], buffers: dict[str, Tensor], prepared: tuple[Tensor, ...]) -> Tensor:
            return functional_call(ref_call, (params, buffers), (prepared,))

        self._plain = vmap(grad_and_value(plain, has_aux=True))
        self._aligned = vmap(grad_and_value(aligned, has_aux=True))
        self._reference = vmap(reference)

    def _split(self, rows: Float[Tensor, "k p"]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Parameter views of ``rows`` and copies of its buffers (BatchNorm updates them in
        place; :meth:`_step` writes them back)."""
        n = self.layout.n_params
        k = rows.shape[0]
        buffers = self.layout.buffer_copies(rows[:, n:], _PREFIX) if self.layout.buffers else {}
        buffers.update({name: t.expand(k, *t.shape).clone() for name, t in self.scratch.items()})  # (k, ...), discarded
        return self.layout.param_views(rows[:, :n], _PREFIX), buffers

    def train(
        self,
        clients: Sequence[int],
        rnd: int,
        start: Callable[[int], Tensor],
        epochs: int,
        sources: Callable[[int], Sequence[int]],
        on_client: Callable[[int], None] | None = None,
    ) -> tuple[list[Tensor], dict[str, Any]]:
        pool, tr = self.pool, self.trainer
        k_all = len(clients)
        rep = new_report()
        if k_all == 0:
            return [], rep
        starts = torch.stack([start(c).detach() for c in clients])  # (K, P)
        stack = starts.clone()
        # MAR bookkeeping per client, in client order, as ClientPool.run_client
        scheduled: list[float | None] = []
        applied: list[float] = []
        pools: list[Tensor | None] = []
        for c in clients:
            gamma, used, zpool = pool.alignment(c, sources(c))
            scheduled.append(gamma)
            applied.append(used)
            pools.append(zpool)
        self.optim.begin(k_all)
        layout = tr.optim_states.layout
        for i, c in enumerate(clients):
            self.optim.load(i, pool.saved_optim.get(c) if pool.persist_optimizer else None, layout)
        # every client's steps: (epoch, step, positions), the keyed batch orders
        plans: list[list[tuple[int, int, Tensor]]] = []
        for c in clients:
            n = int(tr.data.sizes[c])
            plan = []
            for epoch in range(epochs):
                order = keyed_generator(tr.seed, "augmentation", c, rnd, epoch, 0, PURPOSE_ORDER)
                plan += [(epoch, s, pos) for s, pos in enumerate(epoch_batches(n, tr.batch_size, order))]
            plans.append(plan)
        history: list[list[tuple[list[str], Tensor]]] = [[] for _ in clients]  # per client: (keys, values) per step
        tr.method.train()
        cap = pool.batch_cap  # federation.batched_max_clients (0: no cap)
        for j in range(max(len(p) for p in plans)):
            groups: dict[tuple[int, bool, int], list[_Job]] = {}
            for i, c in enumerate(clients):
                if j < len(plans[i]):
                    epoch, s, pos = plans[i][j]
                    align = tr.is_mar and applied[i] > 0 and (pool.global_encoder or pools[i] is not None)
                    z_rows = 0 if not align or pool.global_encoder else min(tr.zbar_size, pools[i].shape[0])  # type: ignore[union-attr]
                    groups.setdefault((int(pos.numel()), align, z_rows), []).append(_Job(i, c, epoch, s, pos))
            for (_, align, _), jobs in groups.items():
                size = cap if cap > 0 else len(jobs)
                for first in range(0, len(jobs), size):
                    self._step(stack, starts, jobs[first : first + size], rnd, align, applied, pools, history)
        trained = list(stack.unbind(0))
        for i, c in enumerate(clients):
            result = LocalResult(len(plans[i]), self._mean_metrics(history[i], applied[i]))
            if pool.persist_optimizer:
                saved = self.optim.save(i)
                if saved is not None:
                    if tr.optim_states.layout is None:
                        tr.optim_states.layout = self.optim.layout()
                    pool.saved_optim[c] = saved
            if pool.banks is not None:
                tr.state.load(trained[i])
                pool.banks.put(c, tr.bank_representations(c, rnd, pool.bank_size))
            add_to_report(rep, c, result, scheduled[i])
        tr.state.load(trained[-1])  # as the sequential loop leaves it: the last client's weights
        if on_client is not None:
            for c in clients:
                on_client(c)
        return trained, rep

    def _step(
        self,
        stack: Tensor,
        starts: Tensor,
        jobs: list[_Job],
        rnd: int,
        align: bool,
        applied: list[float],
        pools: list[Tensor | None],
        history: list[list[tuple[list[str], Tensor]]],
    ) -> None:
        """One step of the clients ``jobs`` (same batch shape): draws, one vmapped loss and
        gradient, the optimiser update, scattered back into ``stack``."""
        tr = self.trainer
        device = stack.device
        prepared_list = []
        for job in jobs:
            x = tr.data.batch(job.client, job.positions)  # (B, C, H, W)
            g = keyed_generator(tr.seed, tr.stream, job.client, rnd, job.epoch, job.step, PURPOSE_STEP)
            prepared_list.append(cast(SSLMethod, tr.method).prepare(x, g))
        prepared = tuple(torch.stack(parts) for parts in zip(*prepared_list))  # each (k, B, ...)
        idx = torch.as_tensor([job.row for job in jobs], device=device)
        rows = stack.index_select(0, idx)  # (k, P)
        params, buffers = self._split(rows)
        if align:
            if self.pool.global_encoder:
                ref_params, ref_buffers = self._split(starts.index_select(0, idx))
                with torch.no_grad(), _batchable_attention():
                    z_bar = self._reference(ref_params, ref_buffers, prepared)  # (k, B, e)
            else:
                z_bar = torch.stack(
                    [tr.zbar_rows(pools[job.row], job.client, rnd, job.epoch, job.step) for job in jobs]  # type: ignore[arg-type]
                )  # (k, m, e)
            gamma = torch.tensor([applied[job.row] for job in jobs], dtype=rows.dtype, device=device)  # (k,)
            with _batchable_attention():
                grads, (_, metrics) = self._aligned(params, buffers, prepared, z_bar, gamma)
        else:
            with _batchable_attention():
                grads, (_, metrics) = self._plain(params, buffers, prepared)
        flat_grads = self.layout.flatten_params(grads, _PREFIX)  # (k, n_params), flat order
        opt_params = rows.index_select(1, self.optim.cols)  # (k, n), optimiser order
        self.optim.step([job.row for job in jobs], opt_params, flat_grads.index_select(1, self.optim.cols))
        rows.index_copy_(1, self.optim.cols, opt_params)
        if self.layout.buffers:
            rows[:, self.layout.n_params :] = self.layout.flatten_buffers(buffers, _PREFIX)
        stack.index_copy_(0, idx, rows)
        keys = list(metrics)
        values = torch.stack([metrics[key].detach() for key in keys], dim=1)  # (k, n_metrics), read at the end
        for r, job in enumerate(jobs):
            history[job.row].append((keys, values[r]))

    def _mean_metrics(self, steps: list[tuple[list[str], Tensor]], gamma: float) -> dict[str, float]:
        """Mean over steps of the float metrics, summed in step order as the sequential loop does
        (one device-to-host copy per client)."""
        totals: dict[str, float] = {}
        host = torch.stack([values for _, values in steps]).cpu() if steps else None  # (S, n_metrics)
        for s, (keys, _) in enumerate(steps):
            assert host is not None
            tensors = dict(zip(keys, host[s].unbind(0)))
            metrics = mar_metrics(tensors, gamma) if self.trainer.is_mar else floats(tensors)
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + value
        return {key: value / max(len(steps), 1) for key, value in totals.items()}


def client_loop(pool: ClientPool) -> Callable[..., tuple[list[Tensor], dict[str, Any]]]:
    """The client loop ``pool`` asks for: :func:`train_clients_batched` when ``pool.batched``
    (``federation.batched_clients``), else :func:`empirical.clients.train_clients` (also for
    pools without the attribute, e.g. test stubs)."""
    return train_clients_batched if getattr(pool, "batched", False) else train_clients


_ENGINES: weakref.WeakKeyDictionary[ClientPool, BatchedClients] = weakref.WeakKeyDictionary()


def train_clients_batched(
    pool: ClientPool,
    clients: Sequence[int],
    rnd: int,
    start: Callable[[int], Tensor],
    epochs: int,
    sources: Callable[[int], Sequence[int]],
    on_client: Callable[[int], None] | None = None,
) -> tuple[list[Tensor], dict[str, Any]]:
    """:func:`empirical.clients.train_clients` with the clients trained as one batch (see the
    module docstring); same arguments, same return value. ``on_client`` is called for every
    client, in order, after the batch has trained."""
    engine = _ENGINES.get(pool)
    if engine is None:
        engine = _ENGINES[pool] = BatchedClients(pool)
    return engine.train(clients, rnd, start, epochs, sources, on_client)
