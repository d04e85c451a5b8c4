"""The tiny empirical run shared by the engine and replicate tests: a one-block, width-16 ViT on
400 scikit-learn digits, 4 clients (a second or two on one CPU thread)."""

from __future__ import annotations

from typing import Any

from empirical.config import ExperimentConfig, resolve

TINY: dict[str, Any] = {
    "model.vit_width": 16,
    "model.vit_depth": 1,
    "model.vit_heads": 2,
    "method.decoder_width": 16,
    "method.proj_dim": 32,
    "method.pred_dim": 8,
    "method.bank_size": 8,
    "data.max_train": 400,
    "partition.n_clients": 4,
    "partition.min_size": 8,
    "federation.rounds": 3,
    "federation.local_epochs": 1,
    "optim.batch_size": 32,
    "eval.knn_every": 0,
    "eval.probe": "none",
}


def tiny(**over: Any) -> ExperimentConfig:
    """A digits run of a one-block, width-16 ViT on 400 images (a second or two)."""
    return resolve(None, "smoke", {**TINY, **{k.replace("__", "."): v for k, v in over.items()}})["default"]


def set_args(*, drop: tuple[str, ...] = (), **over: Any) -> list[str]:
    """The tiny run as ``empirical.run --set`` arguments (``key=value``), without the keys in
    ``drop`` and with ``over`` (``__`` for ``.`` in keys) applied."""
    merged = {k: v for k, v in TINY.items() if k not in drop}
    merged.update({k.replace("__", "."): v for k, v in over.items()})
    return [f"{k}={v}" for k, v in merged.items()]
