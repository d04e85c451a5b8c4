"""Simulated clients: their data, one shared working model, per-client state and local training.

Nothing is rebuilt per client or per round. The process holds

* :class:`ClientData`: every training image once, on the run's device, and one preallocated
  index tensor per client; a local epoch is a keyed permutation of that index tensor cut into
  batches (no DataLoader);
* :class:`FlatState`: the working model's parameters and floating-point buffers re-pointed
  as views of ONE flat vector, so "load client i's weights" is one ``copy_`` and "read them" is
  one ``clone``; FedAvg and gossip then act on flat vectors (a matrix product for gossip);
* :class:`OptimizerStates`: each client's optimiser state (SGD momentum, AdamW moments and
  step) kept as flat vectors between rounds (``optim.client_state = "persist"``), or dropped
  (``"reset"``). Memory: clients x (optimiser state size), e.g. 2 x parameters for AdamW;
* :class:`RepresentationBanks`: the detached MAR representations each client computed when it
  last trained, double-buffered by round;
* :class:`LocalTrainer`: E local epochs of one client on the working model.

Randomness is keyed, not carried: every generator is a fresh CPU ``torch.Generator`` whose
seed is a pure function of ``(run seed, stream, client, round, epoch, step, purpose)``
(:func:`keyed_generator`). The round counter is therefore the whole generator state, and a run
resumed from a checkpoint redraws exactly the masks, views and batch orders of an
uninterrupted one. CPU generators also make the draws identical on CPU and CUDA.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from empirical.methods import floats, mar_metrics
from empirical.seeds import torch_generator
from theory.errors import require

__all__ = [
    "ClientData",
    "FlatState",
    "OptimizerStates",
    "RepresentationBanks",
    "LocalTrainer",
    "LocalResult",
    "keyed_generator",
    "epoch_batches",
    "PURPOSE_STEP",
    "PURPOSE_ORDER",
    "PURPOSE_ZBAR",
    "PURPOSE_BANK",
    "train_clients",
    "new_report",
    "add_to_report",
    "merge_reports",
]

# Last key of every generator, so that draws for different purposes never share a stream.
PURPOSE_STEP = 0  # masks (stream "masking") or views (stream "augmentation") of one step
PURPOSE_ORDER = 1  # batch order of one local epoch (stream "augmentation", step 0)
PURPOSE_ZBAR = 2  # which rows of the z̄ pool a step aligns to (stream "masking")
PURPOSE_BANK = 3  # samples and masks of a client's MAR bank refresh (stream "masking", epoch 0, step 0)


def keyed_generator(seed: int, stream: str, client: int, rnd: int, epoch: int, step: int, purpose: int) -> torch.Generator:
    """A fresh CPU generator on ``stream`` keyed by (client, round, epoch, step, purpose).

    Deviation: :mod:`empirical.seeds` has no batch-order stream; batch orders use stream
    ``"augmentation"`` with purpose :data:`PURPOSE_ORDER`, distinct from every view draw.
    """
    return torch_generator(seed, stream, client, rnd, epoch, step, purpose)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[Int[Tensor, " b"]]:
    """Positions ``0..n-1`` in a random order (one ``randperm`` from ``generator``), cut into
    ``n // batch_size`` full batches (the incomplete last batch is dropped, as SimSiam and MAE
    do); a client with fewer than ``batch_size`` samples trains one batch of all of them."""
    require(n >= 2, "client size", "at least 2 samples (batch statistics need two)", n)
    perm = torch.randperm(n, generator=generator)  # (n,) on CPU
    if n < batch_size:
        return [perm]
    steps = n // batch_size
    return list(perm[: steps * batch_size].view(steps, batch_size).unbind(0))  # steps x (B,)


# --------------------------------------------------------------------------- data


@dataclass(eq=False)
class ClientData:
    """All training images on one device and each client's sample indices.

    Attributes:
        images: ``(n, C, H, W)`` float32, normalised, feature-skew transforms already applied.
        indices: one int64 tensor of positions in ``images`` per client (same device).
        sizes: ``(N,)`` client sizes n_i (numpy, int64).
    """

    images: Float[Tensor, "n c h w"]
    indices: tuple[Int[Tensor, " m"], ...]
    sizes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.sizes = np.array([int(i.numel()) for i in self.indices], dtype=np.int64)
        small = np.flatnonzero(self.sizes < 2)
        require(
            small.size == 0,
            "partition",
            "clients of at least 2 samples (raise partition.min_size or use fewer clients)",
            f"clients {small.tolist()} with sizes {self.sizes[small].tolist()}",
        )

    @property
    def n_clients(self) -> int:
        return len(self.indices)

    def batch(self, client: int, positions: Int[Tensor, " b"]) -> Float[Tensor, "b c h w"]:
        """The images at ``positions`` (client-local, CPU) of ``client``."""
        idx = self.indices[client].index_select(0, positions.to(self.indices[client].device))  # (B,)
        return self.images.index_select(0, idx)  # (B, C, H, W)


# --------------------------------------------------------------------------- flat state


def _persistent_float_buffers(module: nn.Module) -> list[tuple[nn.Module, str, Tensor]]:
    out = []
    for mod in module.modules():
        for name, buf in mod._buffers.items():
            if buf is not None and name not in mod._non_persistent_buffers_set and buf.is_floating_point():
                out.append((mod, name, buf))
    return out


class FlatState:
    """The parameters and persistent floating-point buffers of ``module`` as views of one vector.

    After construction ``module``'s tensors live in :attr:`flat` (P,), in ``parameters()`` then
    buffer order; :meth:`load` and :meth:`read` are single copies. Integer buffers (BatchNorm's
    ``num_batches_tracked``, which only matters when BN momentum is None, not the case here) and
    non-persistent buffers (fixed position embeddings) are not part of a client's state.
    Moving the module to another device afterwards breaks the views: build it on its device.
    """

    def __init__(self, module: nn.Module) -> None:
        params = list(module.parameters())
        buffers = _persistent_float_buffers(module)
        tensors = [p.data for p in params] + [b for _, _, b in buffers]
        require(len(tensors) > 0, "module", "a module with parameters", type(module).__name__)
        dtypes = {t.dtype for t in tensors}
        devices = {t.device for t in tensors}
        require(len(dtypes) == 1 and len(devices) == 1, "module", "tensors of one dtype on one device", (dtypes, devices))
        self.module = module
        self.flat = torch.cat([t.detach().reshape(-1) for t in tensors])  # (P,)
        self.numel = int(self.flat.numel())
        self.n_params = sum(p.numel() for p in params)
        offset = 0
        with torch.no_grad():
            for p in params:
                n = p.numel()
                p.data = self.flat[offset : offset + n].view_as(p)
                offset += n
            for mod, name, buf in buffers:
                n = buf.numel()
                mod._buffers[name] = self.flat[offset : offset + n].view_as(buf)
                offset += n
        self._tensors = [p.data for p in params] + [mod._buffers[name] for mod, name, _ in buffers]

    def is_intact(self) -> bool:
        """True while every parameter and buffer is still a view of :attr:`flat`."""
        base = self.flat.untyped_storage().data_ptr()
        current = [p.data for p in self.module.parameters()] + [b for _, _, b in _persistent_float_buffers(self.module)]
        return len(current) == len(self._tensors) and all(t.untyped_storage().data_ptr() == base for t in current)

    def load(self, vector: Float[Tensor, " p"]) -> None:
        with torch.no_grad():
            self.flat.copy_(vector)

    def read(self) -> Float[Tensor, " p"]:
        return self.flat.detach().clone()


class OptimizerStates:
    """Per-client optimiser state of one shared ``torch.optim`` optimiser, as flat vectors.

    ``save()`` packs the working optimiser's per-parameter state (every tensor entry, e.g.
    ``exp_avg``, ``exp_avg_sq``, ``step``) into one flat tensor per (device, dtype) group;
    ``load(saved)`` makes the working optimiser's entries views of a copy of ``saved``;
    ``load(None)`` clears the state so the optimiser starts fresh (lazily, at its next step).
    The layout (entry names, shapes) is fixed after the first ``save`` and checked afterwards.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        self.layout: list[tuple[int, str, tuple[int, ...], str, str]] | None = None

    def _entries(self) -> list[tuple[int, str, Tensor]]:
        out = []
        for i, p in enumerate(self.params):
            state = self.optimizer.state.get(p, {})
            for key in sorted(state):
                if isinstance(state[key], Tensor):
                    out.append((i, key, state[key]))
        return out

    @staticmethod
    def _group(entry_device: str, entry_dtype: str) -> str:
        return f"{entry_device}|{entry_dtype}"

    def save(self) -> dict[str, Tensor] | None:
        entries = self._entries()
        if not entries:
            return None
        layout = [(i, k, tuple(t.shape), str(t.device), str(t.dtype)) for i, k, t in entries]
        if self.layout is None:
            self.layout = layout
        require(layout == self.layout, "optimizer state", "the same layout for every client", "a changed layout")
        groups: dict[str, list[Tensor]] = {}
        for (_, _, _, dev, dt), (_, _, t) in zip(layout, entries):
            groups.setdefault(self._group(dev, dt), []).append(t.detach().reshape(-1))
        return {g: torch.cat(ts) for g, ts in groups.items()}

    def load(self, saved: dict[str, Tensor] | None) -> None:
        self.optimizer.state.clear()
        if saved is None:
            return
        require(self.layout is not None, "optimizer state", "a layout (save before load)", None)
        assert self.layout is not None
        buffers = {g: t.detach().clone() for g, t in saved.items()}
        offsets = dict.fromkeys(buffers, 0)
        for i, key, shape, dev, dt in self.layout:
            g = self._group(dev, dt)
            n = int(np.prod(shape)) if shape else 1
            view = buffers[g][offsets[g] : offsets[g] + n].view(shape)
            offsets[g] += n
            self.optimizer.state[self.params[i]][key] = view

    def layout_to_list(self) -> list[list[Any]] | None:
        return None if self.layout is None else [[i, k, list(s), d, t] for i, k, s, d, t in self.layout]

    def layout_from_list(self, data: list[list[Any]] | None) -> None:
        self.layout = None if data is None else [(int(i), str(k), tuple(int(x) for x in s), str(d), str(t)) for i, k, s, d, t in data]


# --------------------------------------------------------------------------- MAR banks


class RepresentationBanks:
    """The z̄ sources of MAR with ``method.global_repr = "bank"``.

    :attr:`previous` holds, per client, the detached ``(m, e)`` representations computed when
    the client last trained, as of the end of the previous round; :attr:`current` collects this
    round's refreshes. Reads during a round see only :attr:`previous`, so the order in which
    the simulation visits clients cannot leak information within a round; :meth:`end_round`
    replaces the previous banks by this round's (FL: z̄ comes from the previous round's
    participants only) or updates them (DecL: every client trains every round anyway).
    """

    def __init__(self) -> None:
        self.previous: dict[int, Tensor] = {}
        self.current: dict[int, Tensor] = {}

    def put(self, client: int, z: Float[Tensor, "m e"]) -> None:
        self.current[client] = z.detach()

    def pool(self, clients: Sequence[int]) -> Float[Tensor, "k e"] | None:
        """Concatenated previous-round banks of ``clients`` (None if none of them has one)."""
        parts = [self.previous[c] for c in clients if c in self.previous]
        if not parts:
            return None
        pool = torch.cat(parts)  # (sum m, e)
        return pool if pool.shape[0] >= 2 else None

    def end_round(self, replace: bool) -> None:
        self.previous = dict(self.current) if replace else {**self.previous, **self.current}
        self.current = {}

    def state(self) -> dict[str, Any]:
        return {"previous": {str(k): v for k, v in self.previous.items()}}

    def load_state(self, state: dict[str, Any], device: torch.device) -> None:
        self.previous = {int(k): v.to(device) for k, v in state["previous"].items()}
        self.current = {}


# --------------------------------------------------------------------------- local training


@dataclass
class LocalResult:
    """What one client's local training reports: step count and mean metrics over its steps."""

    steps: int
    metrics: dict[str, float]


class LocalTrainer:
    """Local epochs of one client on the shared working model.

    Args:
        method: the working SSL module (wrapped by ``state``), in train mode.
        state: its :class:`FlatState`.
        optimizer: the one optimiser over ``method``'s parameters; ``optim_states`` saves and
            restores it per client.
        data: the clients' data.
        seed: run seed; ``stream``: "masking" (MAE/MAR) or "augmentation" (SimSiam).
        reference: for MAR with ``global_repr="global-encoder"``, a second module of the same
            architecture holding the round's starting model (z̄ = its representation of the same
            masked batch, under ``no_grad``).
        zbar_size: rows of the z̄ pool drawn per step (bank mode).
    """

    def __init__(
        self,
        method: nn.Module,
        state: FlatState,
        optimizer: torch.optim.Optimizer,
        optim_states: OptimizerStates,
        data: ClientData,
        *,
        seed: int,
        stream: str,
        batch_size: int,
        is_mar: bool,
        reference: nn.Module | None = None,
        reference_state: FlatState | None = None,
        zbar_size: int = 0,
    ) -> None:
        self.method = method
        self.state = state
        self.optimizer = optimizer
        self.optim_states = optim_states
        self.data = data
        self.seed = seed
        self.stream = stream
        self.batch_size = batch_size
        self.is_mar = is_mar
        self.reference = reference
        self.reference_state = reference_state
        self.zbar_size = zbar_size or batch_size
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def set_lr_factor(self, factor: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def train(
        self,
        client: int,
        rnd: int,
        epochs: int,
        *,
        gamma: float = 0.0,
        zbar_pool: Tensor | None = None,
        use_reference: bool = False,
    ) -> LocalResult:
        """Train ``client`` for ``epochs`` local epochs from the weights and optimiser state
        already loaded into the working model. MAR: align to rows of ``zbar_pool`` (bank mode)
        or to the reference model's representation of the same batch (``use_reference``)."""
        method, opt = self.method, self.optimizer
        method.train()
        totals: dict[str, float] = {}
        steps = 0
        n = int(self.data.sizes[client])
        for epoch in range(epochs):
            order = keyed_generator(self.seed, "augmentation", client, rnd, epoch, 0, PURPOSE_ORDER)
            for step, positions in enumerate(epoch_batches(n, self.batch_size, order)):
                x = self.data.batch(client, positions)  # (B, C, H, W)
                g = keyed_generator(self.seed, self.stream, client, rnd, epoch, step, PURPOSE_STEP)
                prepared = method.prepare(x, g)  # every random draw of the step
                metrics: dict[str, float]
                if self.is_mar:
                    z_bar = None
                    if use_reference and gamma > 0:
                        assert self.reference is not None
                        with torch.no_grad():  # the reference sees the same masked batch as the loss
                            z_bar = self.reference.representation_prepared(prepared)  # (B, e)
                    elif zbar_pool is not None and gamma > 0:
                        z_bar = self.zbar_rows(zbar_pool, client, rnd, epoch, step)  # (k, e)
                    loss, tensors = method.loss_prepared(prepared, z_bar, gamma)
                    metrics = mar_metrics(tensors, gamma)
                else:
                    loss, tensors = method.loss_prepared(prepared)
                    metrics = floats(tensors)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for key, value in metrics.items():
                    totals[key] = totals.get(key, 0.0) + float(value)
                steps += 1
        return LocalResult(steps, {k: v / max(steps, 1) for k, v in totals.items()})

    def zbar_rows(self, zbar_pool: Float[Tensor, "m e"], client: int, rnd: int, epoch: int, step: int) -> Float[Tensor, "k e"]:
        """The z̄ rows of one step in bank mode: ``min(zbar_size, m)`` rows of the pool, a keyed
        draw (stream "masking", purpose :data:`PURPOSE_ZBAR`)."""
        k = min(self.zbar_size, zbar_pool.shape[0])
        pick = keyed_generator(self.seed, "masking", client, rnd, epoch, step, PURPOSE_ZBAR)
        rows = torch.randperm(zbar_pool.shape[0], generator=pick)[:k].to(zbar_pool.device)
        return zbar_pool.index_select(0, rows)  # (k, e)

    def load_reference(self) -> None:
        """Copy the working model (the round's starting point) into the reference model."""
        assert self.reference_state is not None
        self.reference_state.load(self.state.flat)

    def bank_representations(self, client: int, rnd: int, bank_size: int) -> Float[Tensor, "m e"]:
        """Detached representations of up to ``bank_size`` of ``client``'s samples under the
        working model (fresh masks); computed after the client's state has been read out, so
        any buffer update here is discarded."""
        n = int(self.data.sizes[client])
        g = keyed_generator(self.seed, "masking", client, rnd, 0, 0, PURPOSE_BANK)
        positions = torch.randperm(n, generator=g)[: min(bank_size, n)]
        x = self.data.batch(client, positions)
        with torch.no_grad():
            return self.method.local_representation(x, g).detach()  # (m, e)


# --------------------------------------------------------------------------- per-client state


class GammaSchedule:
    """γ_t^(i) of Eq. 7 per client: ω = the number of times client i was selected BEFORE this
    round and aligned to a z̄ (0 at its first alignment, so a client starts at γ_max), Ω =
    ``horizon``. In bank mode a selection without any z̄ (round 0: no bank exists) is not counted.

    Reading: "the number of times client i has been selected up to round t" is read as
    excluding round t itself, so that the schedule starts at γ_max as the paper intends
    (strong alignment early).
    """

    def __init__(self, n_clients: int, horizon: int, gamma_max: float, gamma_min: float) -> None:
        from empirical.mmd import gamma_schedule

        self._gamma = gamma_schedule
        self.horizon, self.gamma_max, self.gamma_min = horizon, gamma_max, gamma_min
        self.times_selected = np.zeros(n_clients, dtype=np.int64)

    def gamma(self, client: int) -> float:
        return self._gamma(int(self.times_selected[client]), self.horizon, self.gamma_max, self.gamma_min)

    def selected(self, client: int) -> None:
        self.times_selected[client] += 1


class ClientPool:
    """The clients' persistent state around one :class:`LocalTrainer`.

    :meth:`run_client` is one client's turn: load the starting weights and the client's
    optimiser state into the working model, train, read the trained weights out, store the
    optimiser state, refresh the client's MAR bank. Used by both :mod:`empirical.fl` and
    :mod:`empirical.decl`.
    """

    def __init__(
        self,
        trainer: LocalTrainer,
        *,
        persist_optimizer: bool,
        gamma: GammaSchedule | None,
        banks: RepresentationBanks | None,
        bank_size: int,
        global_encoder: bool,
        batched: bool = False,
        batch_cap: int = 0,
    ) -> None:
        self.trainer = trainer
        self.batched = batched  # train a round's clients with empirical.batched.train_clients_batched
        self.batch_cap = batch_cap  # at most this many clients per vmapped call (0: no cap)
        self.persist_optimizer = persist_optimizer
        self.saved_optim: dict[int, dict[str, Tensor]] = {}
        self.gamma = gamma
        self.banks = banks
        self.bank_size = bank_size
        self.global_encoder = global_encoder

    @property
    def data(self) -> ClientData:
        return self.trainer.data

    def run_client(
        self, client: int, rnd: int, start: Float[Tensor, " p"], epochs: int, zbar_sources: Sequence[int] = ()
    ) -> tuple[Float[Tensor, " p"], LocalResult, float | None]:
        """Train ``client`` from ``start``; returns (trained weights, result, scheduled γ or None;
        the γ actually applied is ``result.metrics["gamma"]``).

        ``zbar_sources``: clients whose previous-round banks form the z̄ pool (bank mode).
        """
        trainer = self.trainer
        trainer.state.load(start)
        trainer.optim_states.load(self.saved_optim.get(client) if self.persist_optimizer else None)
        gamma, applied, pool = self.alignment(client, zbar_sources)
        if gamma is not None and self.global_encoder:
            trainer.load_reference()
        result = trainer.train(client, rnd, epochs, gamma=applied, zbar_pool=pool, use_reference=self.global_encoder)
        trained = trainer.state.read()
        if self.persist_optimizer:
            saved = trainer.optim_states.save()
            if saved is not None:
                self.saved_optim[client] = saved
        if self.banks is not None:
            self.banks.put(client, trainer.bank_representations(client, rnd, self.bank_size))
        return trained, result, gamma

    def alignment(self, client: int, zbar_sources: Sequence[int]) -> tuple[float | None, float, Tensor | None]:
        """MAR bookkeeping of one client's turn: (scheduled γ of Eq. 7 or None when not MAR,
        γ actually applied, the z̄ pool in bank mode or None); counts the selection."""
        gamma: float | None = None  # scheduled γ (Eq. 7)
        applied = 0.0  # γ actually used: 0 while no z̄ exists yet (bank mode, first round)
        pool = None
        if self.gamma is not None:
            gamma = self.gamma.gamma(client)
            if self.global_encoder:
                applied = gamma
            elif self.banks is not None:
                pool = self.banks.pool(zbar_sources)
                applied = gamma if pool is not None else 0.0
            if applied > 0.0 or pool is not None or self.global_encoder:
                # ω counts the selections at which the client aligned: a bank-mode client that
                # found no z̄ yet (round 0) keeps ω = 0 and gets γ_max when it first aligns
                self.gamma.selected(client)
        return gamma, applied, pool

    # checkpointing -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "optim": {str(k): v for k, v in self.saved_optim.items()},
            "optim_layout": self.trainer.optim_states.layout_to_list(),
            "times_selected": None if self.gamma is None else torch.from_numpy(self.gamma.times_selected.copy()),
            "banks": None if self.banks is None else self.banks.state(),
        }

    def load_state(self, state: dict[str, Any], device: torch.device) -> None:
        self.saved_optim = {int(k): dict(v) for k, v in state["optim"].items()}
        self.trainer.optim_states.layout_from_list(state["optim_layout"])
        if self.gamma is not None:
            self.gamma.times_selected = state["times_selected"].numpy().astype(np.int64).copy()
        if self.banks is not None:
            self.banks.load_state(state["banks"], device)


def train_clients(
    pool: ClientPool,
    clients: Sequence[int],
    rnd: int,
    start: Callable[[int], Tensor],
    epochs: int,
    sources: Callable[[int], Sequence[int]],
    on_client: Callable[[int], None] | None = None,
) -> tuple[list[Tensor], dict[str, Any]]:
    """One round's local training of ``clients`` (in order), the client loop of FedAvg and
    gossip: client c starts from ``start(c)`` and aligns to the banks of ``sources(c)``.

    Returns the trained flat weights (one per client) and the report
    ``{"losses", "metrics", "gammas": {str(c): ...}, "steps": total}``.
    """
    trained: list[Tensor] = []
    rep = new_report()
    for c in clients:
        weights, result, gamma = pool.run_client(c, rnd, start(c), epochs, sources(c))
        trained.append(weights)
        add_to_report(rep, c, result, gamma)
        if on_client is not None:
            on_client(c)
    return trained, rep


def new_report() -> dict[str, Any]:
    """An empty :func:`train_clients` report."""
    return {"losses": {}, "metrics": {}, "gammas": {}, "steps": 0}


def add_to_report(rep: dict[str, Any], client: int, result: LocalResult, gamma: float | None) -> None:
    """Record one client's result (and scheduled γ) in a :func:`train_clients` report."""
    rep["losses"][str(client)] = result.metrics.get("loss", float("nan"))
    rep["metrics"][str(client)] = result.metrics
    rep["steps"] += result.steps
    if gamma is not None:
        rep["gammas"][str(client)] = gamma


def merge_reports(parts: Sequence[dict[str, Any]], order: Sequence[int]) -> dict[str, Any]:
    """The :func:`train_clients` reports of every process, keyed by str(client) in ``order``."""
    merged: dict[str, dict[str, Any]] = {"losses": {}, "metrics": {}, "gammas": {}}
    for p in parts:
        for key in merged:
            merged[key].update(p[key])
    out: dict[str, Any] = {k: {str(c): v[str(c)] for c in order if str(c) in v} for k, v in merged.items()}
    out["steps"] = sum(int(p["steps"]) for p in parts)
    return out
