"""Provenance of a written result: which code made it, written once for every package.

**One format.** :func:`git_revision` is the abbreviated commit of HEAD (12 hex digits), with
``-dirty`` appended when tracked files differ from it (untracked files do not count), or
``"unknown"`` outside a git checkout or without git: e.g. ``"1e03fe6a2b4c-dirty"``. Every file
the toolkit writes stores it under the key ``"git_revision"``; :func:`provenance` gives that key
together with the resolved configuration (and the command, where one made the file).

Files written before this module used other spellings of the same fact (a 7-digit hash from
``git rev-parse --short``, ``git describe --always --dirty``, or ``{"revision", "dirty"}`` under
``"git"`` in an empirical run's ``config.json``). No code reads the value back (figures and
reports only display it, as ``str``), so those files still load.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .io import jsonable

__all__ = ["UNKNOWN", "HASH_DIGITS", "git_revision", "provenance"]

UNKNOWN = "unknown"
HASH_DIGITS = 12
_REPO = Path(__file__).resolve().parent


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.strip()


def git_revision(cwd: str | Path | None = None) -> str:
    """HEAD of the repository holding ``cwd`` (this package by default) in the one format above."""
    where = Path(cwd) if cwd is not None else _REPO
    try:
        commit = _git(where, "rev-parse", f"--short={HASH_DIGITS}", "HEAD")
        dirty = bool(_git(where, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return (commit + ("-dirty" if dirty else "")) if commit else UNKNOWN


def provenance(config: Any = None, *, command: str | None = None, cwd: str | Path | None = None) -> dict[str, Any]:
    """``{"git_revision": ..., "config": <config as JSON>, "command": ...}`` for a file's header.

    ``config`` is the *resolved* configuration (a dataclass with ``to_dict``, or a mapping);
    None leaves the key out, as does a None ``command``.
    """
    out: dict[str, Any] = {"git_revision": git_revision(cwd)}
    if config is not None:
        out["config"] = jsonable(config.to_dict() if hasattr(config, "to_dict") else config)
    if command is not None:
        out["command"] = command
    return out
