"""Atomic run checkpoints and JSON-lines metrics.

A checkpoint is one file per run (never one per client), written as ``<name>.tmp`` in the same
folder, flushed to disk, then renamed over the old file with ``os.replace`` (atomic on POSIX
and Windows), so a run killed at any moment leaves either the previous or the new checkpoint,
never a torn one. It holds plain containers of tensors, numbers and strings and is read back
with ``torch.load(weights_only=True)``.

The metrics file has one JSON object per line; on resume it is rewritten from the records
stored in the checkpoint, so it always matches the checkpointed state.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "atomic_write_text", "append_jsonl", "write_jsonl", "read_jsonl", "json_safe"]

CHECKPOINT_VERSION = 1


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """Write ``state`` (plus a format version) to ``path`` atomically (tmp file + os.replace)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save({"version": CHECKPOINT_VERSION, **state}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors stay on their saved device
    unless ``map_location`` is given)."""
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: not a checkpoint of version {CHECKPOINT_VERSION}")
    return state


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def json_safe(value: Any) -> Any:
    """Recursively turn tensors/numpy scalars into Python numbers and non-finite floats into None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return json_safe(value.tolist())
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return json_safe(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(json_safe(record), sort_keys=True) + "\n")
        fh.flush()


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(json_safe(r), sort_keys=True) + "\n" for r in records))


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
