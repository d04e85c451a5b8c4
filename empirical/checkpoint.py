"""Atomic run checkpoints and JSON-lines metrics.

A checkpoint is one file per run (never one per client), written as ``<name>.tmp`` in the same
folder, flushed to disk, then renamed over the old file with ``os.replace`` (atomic on POSIX
and Windows), so a run killed at any moment leaves either the previous or the new checkpoint,
never a torn one. It holds plain containers of tensors, numbers and strings and is read back
with ``torch.load(weights_only=True)``.

The metrics file has one JSON object per line; on resume it is rewritten from the records
stored in the checkpoint, so it always matches the checkpointed state. Text and JSON go through
:mod:`theory.io` (atomic writes; non-finite numbers become null); ``json_safe`` is its
``jsonable``.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from empirical.config import from_dict
from theory.errors import FileProblem, ParameterError
from theory.io import _fsync_dir, atomic_write_text, load_json, object_with, one_line
from theory.io import jsonable as json_safe

__all__ = ["save_checkpoint", "load_checkpoint", "load_run_config", "atomic_write_text", "append_jsonl", "write_jsonl", "read_jsonl",
           "json_safe"]

CHECKPOINT_VERSION = 1


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


CHECKPOINT_EXPECTED = f"a checkpoint written by python -m empirical.run (torch.save, version {CHECKPOINT_VERSION})"


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors stay on their saved device
    unless ``map_location`` is given).

    A damaged, truncated or foreign file raises :class:`theory.errors.FileProblem` (one line
    naming the file and what is wrong); the file is left as it is.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint here")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a truncated one has lost its directory
        raise FileProblem(path, "is damaged or not a torch file (no complete zip archive)", CHECKPOINT_EXPECTED)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # weights_only refuses objects other than tensors and plain containers
        raise FileProblem(path, "is a torch file of another kind (it holds Python objects, not only tensors and "
                          "plain containers)", CHECKPOINT_EXPECTED) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError, KeyError) as err:
        raise FileProblem(path, f"is damaged or not a torch file ({type(err).__name__}: {one_line(err, 120)})",
                          CHECKPOINT_EXPECTED) from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        found = f"version {state.get('version')!r}" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise FileProblem(path, f"is a torch file of another kind ({found})", CHECKPOINT_EXPECTED)
    missing = [k for k in ("round", "state", "records") if k not in state]
    if missing:
        raise FileProblem(path, f"lacks {', '.join(missing)}", CHECKPOINT_EXPECTED)
    return state


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(json_safe(record), sort_keys=True) + "\n")
        fh.flush()


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(json_safe(r), sort_keys=True) + "\n" for r in records))


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


CONFIG_EXPECTED = "the config.json that python -m empirical.run writes into a run folder"


def load_run_config(path: str | os.PathLike[str]) -> Any:
    """The :class:`empirical.config.ExperimentConfig` saved in a run folder's ``config.json``.

    A damaged file, or one holding something else (not JSON, no "config" object, keys or values
    this version does not know), raises :class:`theory.errors.FileProblem` naming the file.
    """
    doc = load_json(path, CONFIG_EXPECTED, object_with("config"))
    if not isinstance(doc["config"], Mapping):
        raise FileProblem(path, "holds a 'config' that is not an object", CONFIG_EXPECTED)
    try:
        return from_dict(doc["config"])
    except (ParameterError, TypeError, ValueError, AttributeError) as err:
        raise FileProblem(path, f"holds a config this version cannot read ({one_line(err, 160)})", CONFIG_EXPECTED) from None
