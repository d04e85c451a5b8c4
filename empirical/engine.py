"""The distributed training engine: from an :class:`ExperimentConfig` to round records and a summary.

:func:`build` prepares everything once: data (split, partition, feature-skew transforms,
normalisation, all on the run's device), the SSL method (initialised from stream ``"init"``),
ONE working model and ONE optimiser, the clients' persistent state
(:class:`empirical.clients.ClientPool`) and the algorithm (:class:`empirical.fl.FedAvg` or
:class:`empirical.decl.Gossip`). :func:`run_round` trains one round and returns its metrics
record; :func:`summarise` evaluates the final model. Files (metrics, checkpoints, summary) are
written by :mod:`empirical.run` only.

Distributed (``build(cfg, dist)``, :mod:`empirical.distributed`): the same objects on every
rank, with the rank's :class:`~empirical.distributed.DistContext` as the transport of the same
FedAvg / Gossip (:mod:`empirical.transport`); each rank trains only its clients, rank 0 evaluates, and
:meth:`Experiment.checkpoint_state` gathers the global-format state to rank 0.

Resume: every generator is keyed by (client, round, epoch, step) (see
:mod:`empirical.clients`), so the checkpoint needs only the round counter, the models
(global or per client), the clients' optimiser states, the MAR banks and γ counters, and the
metric records; a resumed run draws the same masks, views, batch orders and client samples as
an uninterrupted one and ends with the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from empirical import evaluate
from empirical.clients import (
    ClientData,
    ClientPool,
    FlatState,
    GammaSchedule,
    LocalTrainer,
    OptimizerStates,
    RepresentationBanks,
    keyed_generator,
)
from empirical.config import ExperimentConfig
from empirical.data import ArrayDataset, load_dataset, to_tensor, train_test_split
from empirical.decl import Gossip, build_mixing, build_topology
from empirical.distributed import DistContext, gather_pool_state, load_pool_state
from empirical.fl import FedAvg, clients_per_round
from empirical.methods import MAE, MAR, SimSiam, mae_adamw, simsiam_sgd
from empirical.models import ResNetCIFAR, ViTEncoder, resnet18_cifar, vit_tiny_for
from empirical.partition import (
    Partition,
    apply_client_transform,
    dirichlet_partition,
    feature_skew_partition,
    iid_partition,
    partition_stats,
)
from empirical.seeds import numpy_rng, stream_seed
from theory.errors import ParameterError, require

__all__ = [
    "EvalData",
    "Experiment",
    "build",
    "build_method",
    "build_optimizer",
    "lr_factor",
    "prepare_data",
    "evaluate_model",
    "run_round",
    "summarise",
]

_MAX_TRAIN_KEY = 1  # sub-key of stream "eval" (data seed) for the data.max_train subset
_RIDGE_KEY = 2  # sub-key of stream "eval" (data seed) for the ridge validation split
_FINETUNE_KEY = 3  # sub-key of stream "eval" (data seed) for fine-tuning batch orders


# --------------------------------------------------------------------------- data


@dataclass(eq=False)
class EvalData:
    """Normalised evaluation images and labels (on the run's device)."""

    train_x: Float[Tensor, "n c h w"]
    train_y: Int[Tensor, " n"]
    test_x: Float[Tensor, "m c h w"]
    test_y: Int[Tensor, " m"]
    n_classes: int
    name: str


@dataclass(eq=False)
class PreparedData:
    clients: ClientData
    eval: EvalData
    partition: Partition
    labels: np.ndarray
    n_classes: int
    image_size: int
    in_chans: int
    mean: Tensor
    std: Tensor
    attribution: str


def _load_split(name: str, root: str, image_size: int, test_fraction: float, seed: int) -> tuple[ArrayDataset, ArrayDataset]:
    root_arg = root or None
    if name in ("cifar10", "cifar100"):
        require(bool(root), "data.root", f"the folder holding the {name} python pickles (pass --data-root)", root)
        return load_dataset(name, root_arg, split="train"), load_dataset(name, root_arg, split="test")
    if name == "folder":
        require(bool(root), "data.root", "an ImageFolder tree root/<class>/<image> (pass --data-root)", root)
        ds = load_dataset(name, root_arg, image_size=image_size)
    else:
        ds = load_dataset(name, root_arg)
    return train_test_split(ds, test_fraction, seed)


def _channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    mean = x.mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return mean, std


def _make_partition(cfg: ExperimentConfig, labels: np.ndarray) -> Partition:
    p, seed = cfg.partition, cfg.data.seed
    n = labels.shape[0]
    require(p.n_clients <= n, "partition.n_clients", f"at most the {n} training images", p.n_clients)
    if p.kind == "iid":
        return iid_partition(n, p.n_clients, seed)
    if p.kind == "label":
        return dirichlet_partition(labels, p.n_clients, p.alpha, seed, min_size=min(p.min_size, n // p.n_clients), balance=p.balance)
    return feature_skew_partition(n, p.n_clients, seed, strength=p.feature_strength)


def _fit_images(x: Tensor, size: int, chans: int) -> Tensor:
    """Resize (bilinear) and match channels (grey -> RGB by repetition, RGB -> grey by mean)."""
    if x.shape[1] != chans:
        x = x.repeat(1, chans, 1, 1) if x.shape[1] == 1 else x.mean(dim=1, keepdim=True)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x


def prepare_data(cfg: ExperimentConfig, device: torch.device) -> PreparedData:
    """Split, subsample, partition, transform (feature skew), normalise; all tensors on ``device``.

    Normalisation: per-channel mean and standard deviation of the (clean) training split,
    used for the client images and the evaluation images alike.
    Deviation: the held-out evaluation of a feature-skew run uses the clean images (the skew is
    a property of the clients, not of the downstream task).
    """
    d = cfg.data
    try:
        train, test = _load_split(d.name, d.root, d.image_size, d.test_fraction, d.seed)
    except ParameterError:
        raise
    except ValueError as err:  # malformed files: the user's to fix
        raise ParameterError("data.root", f"a readable {d.name} dataset", str(err)) from err
    if d.max_train and d.max_train < len(train):
        keep = np.sort(numpy_rng(d.seed, "eval", _MAX_TRAIN_KEY).permutation(len(train))[: d.max_train])
        train = train.subset(keep)
    labels = np.asarray(train.labels)
    try:
        partition = _make_partition(cfg, labels)
    except ParameterError:
        raise
    except ValueError as err:  # no Dirichlet draw met partition.min_size
        raise ParameterError("partition", "a feasible partition", str(err)) from err
    x_train, y_train = to_tensor(train)  # (n, C, H, W) in [0, 1]
    x_test, y_test = to_tensor(test)
    c, h, w = train.image_shape
    if d.resize:
        x_train, x_test = _fit_images(x_train, d.resize, c), _fit_images(x_test, d.resize, c)
        h = w = d.resize
    x_clients = x_train
    if partition.transforms:
        x_clients = x_train.clone()
        for idx, spec in zip(partition.indices, partition.transforms):
            t = torch.from_numpy(np.array(idx, dtype=np.int64))
            x_clients[t] = apply_client_transform(spec, x_train[t])
    mean, std = _channel_stats(x_train)
    to_dev = lambda x: ((x - mean) / std).to(device)  # noqa: E731
    indices = tuple(torch.from_numpy(np.array(i, dtype=np.int64)).to(device) for i in partition.indices)
    clients = ClientData(to_dev(x_clients), indices)
    require(h == w, "data", "square images", (h, w))
    if cfg.eval.dataset == "same":
        ev = EvalData(to_dev(x_train), y_train.to(device), to_dev(x_test), y_test.to(device), train.n_classes, d.name)
    else:
        e_train, e_test = _load_split(cfg.eval.dataset, cfg.eval.root or d.root, h, d.test_fraction, d.seed)
        (ex, ey), (tx, ty) = to_tensor(e_train), to_tensor(e_test)
        ex, tx = _fit_images(ex, h, c), _fit_images(tx, h, c)
        em, es = _channel_stats(ex)
        ev = EvalData(
            ((ex - em) / es).to(device), ey.to(device), ((tx - em) / es).to(device), ty.to(device), e_train.n_classes, cfg.eval.dataset
        )
    return PreparedData(clients, ev, partition, labels, train.n_classes, h, c, mean.flatten(), std.flatten(), train.attribution)


# --------------------------------------------------------------------------- model


def build_method(cfg: ExperimentConfig, in_chans: int, image_size: int) -> nn.Module:
    """The SSL module of ``cfg`` (initialised from the global torch RNG: call under
    :func:`_init_rng`)."""
    m, mm = cfg.model, cfg.method
    backbone: ViTEncoder | ResNetCIFAR
    if m.arch == "vit":
        extra = {k: v for k, v in (("width", m.vit_width), ("depth", m.vit_depth), ("heads", m.vit_heads)) if v}
        backbone = ViTEncoder(vit_tiny_for(image_size, in_chans, size=m.vit_size, **extra))
    else:
        backbone = resnet18_cifar(in_chans, width=m.resnet_width)
    if mm.name == "simsiam":
        return SimSiam(backbone, proj_dim=mm.proj_dim, pred_dim=mm.pred_dim)
    mae = MAE(
        backbone,
        mask_ratio=mm.mask_ratio,
        norm_pix_loss=mm.norm_pix_loss,
        decoder_width=mm.decoder_width or None,
        decoder_depth=mm.decoder_depth,
        image_size=image_size,
    )
    if mm.name == "mae":
        return mae
    return MAR(mae, representation=mm.mar_representation, squared=mm.mar_squared_kernel)


def _init_method(cfg: ExperimentConfig, in_chans: int, image_size: int, device: torch.device) -> nn.Module:
    """:func:`build_method` under a forked global RNG seeded from stream ``"init"`` (the
    caller's RNG state is untouched), moved to ``device``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(cfg.run.seed, "init"))
        method = build_method(cfg, in_chans, image_size)
    return method.to(device)


def build_optimizer(cfg: ExperimentConfig, method: nn.Module) -> torch.optim.Optimizer:
    """AdamW (MAE's recipe) or SGD (SimSiam's), lr = base_lr · batch_size / 256."""
    o = cfg.optim
    name = o.name if o.name != "auto" else ("sgd" if cfg.method.name == "simsiam" else "adamw")
    if name == "adamw":
        return mae_adamw(method, o.batch_size, base_lr=o.adamw_base_lr, weight_decay=o.adamw_weight_decay)
    return simsiam_sgd(method, o.batch_size, base_lr=o.sgd_base_lr, momentum=o.momentum, weight_decay=o.sgd_weight_decay)


def lr_factor(rnd: int, rounds: int, schedule: str, warmup: int) -> float:
    """Learning-rate multiplier of round ``rnd`` (0-based): linear warm-up, round r < ``warmup``
    at (r + 1)/``warmup`` of the rate (so ``warmup`` = 1 is no warm-up), then cosine to 0 over
    the remaining rounds (or constant)."""
    if rnd < warmup:
        return (rnd + 1) / warmup
    if schedule == "constant":
        return 1.0
    span = max(1, rounds - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * (rnd - warmup) / span))


def backbone_of(method: nn.Module) -> nn.Module:
    return method.mae.backbone if isinstance(method, MAR) else method.backbone  # type: ignore[return-value]


# --------------------------------------------------------------------------- experiment


@dataclass(eq=False)
class Experiment:
    """Everything :func:`train` needs, built once."""

    cfg: ExperimentConfig
    device: torch.device
    data: PreparedData
    method: nn.Module
    state: FlatState
    optimizer: torch.optim.Optimizer
    trainer: LocalTrainer
    pool: ClientPool
    algorithm: FedAvg | Gossip
    initial: Tensor
    dist: DistContext | None = None

    @property
    def rounds(self) -> int:
        return self.cfg.federation.rounds

    @property
    def is_writer(self) -> bool:
        """True in-process and on rank 0 of a distributed run (the rank that evaluates and writes)."""
        return self.dist is None or self.dist.is_writer

    def set_weights(self, flat: Tensor) -> None:
        self.state.load(flat)

    def checkpoint_state(self) -> dict[str, Any] | None:
        """The run's state in the global (in-process) format; distributed: a collective that
        gathers the clients' state to rank 0 and returns None on the other ranks."""
        if self.dist is None:
            return {"algorithm": self.algorithm.state(), "pool": self.pool.state()}
        algorithm = self.algorithm.state()
        pool = gather_pool_state(self.dist, self.pool)
        return None if pool is None else {"algorithm": algorithm, "pool": pool}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Load a global-format state (distributed: every rank keeps its own clients)."""
        self.algorithm.load_state(state["algorithm"])
        if self.dist is None:
            self.pool.load_state(state["pool"], self.device)
        else:
            load_pool_state(self.dist, self.pool, state["pool"])


def build(cfg: ExperimentConfig, dist: DistContext | None = None) -> Experiment:
    """Build data, model, optimiser, clients and algorithm of ``cfg`` (checked first).

    ``dist``: this process' place in a ``torch.distributed`` run (:mod:`empirical.distributed`);
    it is then the transport of :class:`FedAvg` / :class:`Gossip` and the device is the rank's.
    """
    cfg = cfg.check()
    if cfg.run.device.startswith("cuda"):
        require(torch.cuda.is_available(), "run.device", "'cpu' on this machine (torch.cuda.is_available() is False)", cfg.run.device)
    device = torch.device(cfg.run.device) if dist is None else dist.device
    if dist is not None:
        require(
            dist.world_size <= cfg.partition.n_clients,
            "--nproc-per-node",
            f"at most partition.n_clients = {cfg.partition.n_clients} processes in all (every rank holds at least one client)",
            dist.world_size,
        )
    data = prepare_data(cfg, device)
    method = _init_method(cfg, data.in_chans, data.image_size, device)
    state = FlatState(method)
    optimizer = build_optimizer(cfg, method)
    is_mar = isinstance(method, MAR)
    global_encoder = is_mar and cfg.method.global_repr == "global-encoder"
    reference = reference_state = None
    if global_encoder:
        reference = _init_method(cfg, data.in_chans, data.image_size, device)
        reference_state = FlatState(reference)
        for p in reference.parameters():
            p.requires_grad_(False)
    trainer = LocalTrainer(
        method,
        state,
        optimizer,
        OptimizerStates(optimizer),
        data.clients,
        seed=cfg.run.seed,
        stream="augmentation" if cfg.method.name == "simsiam" else "masking",
        batch_size=cfg.optim.batch_size,
        is_mar=is_mar,
        reference=reference,
        reference_state=reference_state,
        zbar_size=cfg.method.zbar_size,
    )
    n = data.clients.n_clients
    fed = cfg.federation
    if fed.framework == "fl":
        expected = max(1, math.ceil(fed.rounds * clients_per_round(n, fed.client_fraction) / n))
    else:
        expected = fed.rounds
    gamma = None
    if is_mar:
        gamma = GammaSchedule(n, cfg.method.gamma_horizon or expected, cfg.method.gamma_max, cfg.method.gamma_min)
    pool = ClientPool(
        trainer,
        persist_optimizer=cfg.optim.client_state == "persist",
        gamma=gamma,
        banks=RepresentationBanks() if is_mar and not global_encoder else None,
        bank_size=cfg.method.bank_size,
        global_encoder=global_encoder,
        batched=fed.batched_clients,
        batch_cap=fed.batched_max_clients,
    )
    initial = state.read()
    algorithm: FedAvg | Gossip
    if fed.framework == "fl":
        fl_args: dict[str, Any] = {"client_fraction": fed.client_fraction, "local_epochs": fed.local_epochs, "seed": cfg.run.seed}
        algorithm = FedAvg(pool, initial, **fl_args, transport=dist)
    else:
        top = build_topology(cfg.decentralised, n, cfg.run.seed)
        mixing = build_mixing(top, cfg.decentralised.mixing, data.clients.sizes)
        algorithm = Gossip(pool, initial, topology=top, mixing=mixing, local_epochs=fed.local_epochs, transport=dist)
    return Experiment(cfg, device, data, method, state, optimizer, trainer, pool, algorithm, initial, dist)


# --------------------------------------------------------------------------- evaluation


def _features(exp: Experiment, images: Tensor) -> Tensor:
    exp.method.eval()
    try:
        return evaluate.extract_features(exp.method.features, images, exp.cfg.eval.batch_size)  # type: ignore[operator]
    finally:
        exp.method.train()


def evaluate_model(exp: Experiment, weights: Tensor, *, final: bool) -> dict[str, Any]:
    """kNN accuracy and the class-mean RV measure of ``weights`` (the working model is used as
    scratch); with ``final`` also the linear probe and, if configured, fine-tuning."""
    e, ev = exp.cfg.eval, exp.data.eval
    exp.set_weights(weights)
    train_f = _features(exp, ev.train_x)
    test_f = _features(exp, ev.test_x)
    out: dict[str, Any] = {
        "knn_acc": evaluate.knn_accuracy(train_f, ev.train_y, test_f, ev.test_y, ev.n_classes, e.knn_k, e.knn_temperature)
    }
    rv = evaluate.class_mean_representability(test_f, ev.test_y, ev.n_classes)
    out.update(rv_mean=rv.mean, rv_min=rv.min, rv_max=rv.max, rv_spread=rv.spread)
    if not final:
        return out
    out["rv"] = rv.to_dict()
    out["rv_tied"] = rv.tied
    cdr = evaluate.class_direction_retention(train_f, ev.train_y, test_f, ev.test_y, ev.n_classes)
    out.update(cdr_mean=cdr.mean, cdr_min=cdr.min, cdr_spread=cdr.spread, cdr_ties=cdr.ties, cdr=cdr.to_dict())
    if e.probe == "ridge":
        seed = stream_seed(exp.cfg.data.seed, "eval", _RIDGE_KEY)
        probe = evaluate.ridge_probe(train_f, ev.train_y, test_f, ev.test_y, ev.n_classes, seed)
        out.update(linear_probe_acc=probe["acc"], linear_probe={"kind": "ridge", **probe})
    elif e.probe == "logistic":
        probe = evaluate.logistic_probe(train_f, ev.train_y, test_f, ev.test_y, ev.n_classes, e.probe_epochs)
        out.update(linear_probe_acc=probe["acc"], linear_probe={"kind": "logistic", **probe})
    if e.finetune_epochs:
        ds = exp.cfg.data.seed
        ft = evaluate.finetune(
            backbone_of(exp.method),
            ev.train_x,
            ev.train_y,
            ev.test_x,
            ev.test_y,
            ev.n_classes,
            epochs=e.finetune_epochs,
            lr=e.finetune_lr,
            batch_size=exp.cfg.optim.batch_size,
            generator_for_epoch=lambda ep: keyed_generator(ds, "eval", _FINETUNE_KEY, ep, 0, 0, 0),
        )
        out.update(finetune_acc=ft["acc"], finetune=ft)
    return out


# --------------------------------------------------------------------------- training loop


def _round_record(exp: Experiment, rnd: int, report: dict[str, Any], lr: float) -> dict[str, Any]:
    losses = [v for v in report["client_loss"].values() if v == v]
    rec: dict[str, Any] = {
        "round": rnd,
        "framework": exp.cfg.federation.framework,
        "lr": lr,
        "loss": float(np.mean(losses)) if losses else float("nan"),
        "clients": report["clients"],
        "steps": report["steps"],
        "client_loss": report["client_loss"],
        "consensus_distance": report["consensus_distance"],
    }
    if "consensus_after_mixing" in report:
        rec["consensus_after_mixing"] = report["consensus_after_mixing"]
    if report["gamma"]:
        rec["gamma"] = report["gamma"]
        rec["gamma_applied"] = {c: m.get("gamma", 0.0) for c, m in report["client_metrics"].items()}
        amm = [m["a_mmd"] for m in report["client_metrics"].values() if "a_mmd" in m]
        rec["a_mmd"] = float(np.mean(amm)) if amm else None
    return rec


TIMING_KEYS = ("wall_time_s", "elapsed_s")
"""Record fields that measure time; everything else is reproducible across resumes."""


def run_round(exp: Experiment, rnd: int, on_client: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Round ``rnd`` (0-based): learning rate, local training and aggregation/mixing, and the
    kNN/RV monitor when due (every ``eval.knn_every`` rounds and after the last). Returns the
    round's metrics record (``wall_time_s`` included, ``elapsed_s`` is the caller's)."""
    cfg = exp.cfg
    fed, ev = cfg.federation, cfg.eval
    t0 = time.perf_counter()
    lr = lr_factor(rnd, fed.rounds, cfg.optim.schedule, cfg.optim.warmup_rounds)
    exp.trainer.set_lr_factor(lr)
    report = exp.algorithm.run_round(rnd, on_client)
    record = _round_record(exp, rnd, report, lr)
    if ev.knn_every and ((rnd + 1) % ev.knn_every == 0 or rnd == fed.rounds - 1):
        weights = exp.algorithm.final_model()  # distributed DecL: a collective, on every rank
        if exp.is_writer:
            record.update(evaluate_model(exp, weights, final=False))
    record["wall_time_s"] = time.perf_counter() - t0
    return record


def summarise(exp: Experiment, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Final evaluation of the final model (left loaded in the working model) and the run's
    summary: linear probe, kNN, RV measure, partition statistics, graph.

    Distributed: every rank must call it (the final model is a collective); rank 0 evaluates
    and returns the summary, the other ranks load the final model and return ``{}`` (they do
    not wait for rank 0's evaluation, which may outlast the process-group timeout)."""
    weights = exp.algorithm.final_model()
    if not exp.is_writer:
        exp.set_weights(weights)
        return {}
    final = evaluate_model(exp, weights, final=True)
    return _summary(exp, final, records)


def _summary(exp: Experiment, final: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    cfg, data = exp.cfg, exp.data
    stats = partition_stats(data.partition, data.labels, data.n_classes)
    out: dict[str, Any] = {
        "name": cfg.name,
        "scale": cfg.scale,
        "method": cfg.method.name,
        "framework": cfg.federation.framework,
        "partition": cfg.partition.kind,
        "rounds": len(records),
        "final": final,
        "final_loss": records[-1]["loss"] if records else None,
        "train_time_s": records[-1].get("elapsed_s") if records else None,
        "partition_stats": {
            "n_clients": int(stats.counts.shape[0]),
            "sizes": stats.sizes.tolist(),
            "mean_js": stats.mean_js,
            "mean_tv": stats.mean_tv,
            "size_ratio": stats.size_ratio,
            "size_cv": stats.size_cv,
        },
        "eval_dataset": data.eval.name,
        "accuracy_note": (
            "held-out split; accuracies after the final round and the final probe/fine-tune epoch (never the best over epochs)"
        ),
        "data_attribution": data.attribution,
    }
    if isinstance(exp.algorithm, Gossip):
        top = exp.algorithm.topology
        out["graph"] = {
            "name": top.name,
            "mean_connectivity": top.mean_connectivity,
            "sizes": top.sizes.tolist(),
            "mixing": cfg.decentralised.mixing,
        }
    return out
