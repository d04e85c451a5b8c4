"""Files in and out, written once for every package: strict JSON, atomic writes, refusing bad files.

* :func:`jsonable` turns numbers, arrays and tensors into plain JSON types. **NaN convention:**
  a non-finite float (NaN, +inf, -inf) becomes ``None`` (JSON ``null``), so every file stays
  strict JSON (``allow_nan=False``) and any JSON reader can parse it; a reader takes ``null``
  for "no number" (the verifier's report, ``python -m theory.verify --json``, included: its
  ``null`` leaves were NaN or ±inf; the text report and summaries are made from the numbers
  before this conversion, so they still say "nan" or "inf"). Enum members become their value.
* :func:`atomic_write_text` / :func:`write_json_atomic` write a temporary file in the same folder
  (named after the process, so concurrent writers do not collide), flush it to disk and rename
  it over the target with ``os.replace``: a reader or a killed writer sees the old file or the
  new one, never a torn one.
* :func:`load_json` reads a JSON file or refuses it with :class:`theory.errors.FileProblem`:
  one line naming the file and what is wrong with it (unreadable, not JSON, truncated, or
  JSON of another kind). The file is never modified, moved or removed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import FileProblem

__all__ = ["jsonable", "atomic_write_text", "write_json_atomic", "load_json", "read_bytes", "parse_json", "object_with",
           "one_line", "FileProblem"]


def jsonable(x: Any) -> Any:
    """Plain JSON types: mappings (keys as str), lists, bool, int, float, str and None.

    numpy / JAX arrays and torch tensors become nested lists, numpy scalars Python numbers,
    and non-finite floats ``None`` (the NaN convention of the module docstring).
    """
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, Enum):
        return jsonable(x.value)
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if hasattr(x, "tolist") and callable(x.tolist):  # numpy arrays and scalars, torch tensors, JAX arrays
        return jsonable(x.tolist())
    if hasattr(x, "__array__"):
        import numpy as np

        return jsonable(np.asarray(x).tolist())
    if hasattr(x, "item") and callable(x.item):
        return jsonable(x.item())
    return x


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


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: temporary file, fsync, ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():  # the write failed before the rename
            tmp.unlink()
    _fsync_dir(path.parent)


def write_json_atomic(path: str | os.PathLike[str], payload: Any, *, indent: int | None = 2) -> None:
    """:func:`jsonable` of ``payload`` as strict JSON (sorted keys, final newline), written atomically."""
    text = json.dumps(jsonable(payload), indent=indent, sort_keys=True, allow_nan=False)
    atomic_write_text(path, text + "\n")


def one_line(text: object, limit: int = 200) -> str:
    """``text`` with its whitespace collapsed to single spaces, cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def read_bytes(path: str | os.PathLike[str], expected: str) -> bytes:
    """The bytes of ``path``, or :class:`FileProblem` (missing, a folder, unreadable)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileProblem(path, "does not exist", expected) from None
    except IsADirectoryError:
        raise FileProblem(path, "is a folder", expected) from None
    except OSError as err:
        raise FileProblem(path, f"cannot be read ({one_line(err.strerror or err)})", expected) from None


def parse_json(raw: bytes, path: str | os.PathLike[str], expected: str,
               check: Callable[[Any], str | None] | None = None) -> Any:
    """The JSON document in ``raw`` (the bytes of ``path``), or :class:`FileProblem`; see :func:`load_json`."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise FileProblem(path, "is not JSON (not UTF-8 text: a binary or foreign file)", expected) from None
    except json.JSONDecodeError as err:
        what = "is empty" if not raw.strip() else ("is truncated" if _unfinished(raw) else "is not valid JSON")
        raise FileProblem(path, f"{what} ({err.msg} at line {err.lineno} column {err.colno})", expected) from None
    if check is not None:
        problem = check(doc)
        if problem:
            raise FileProblem(path, f"holds {problem}", expected)
    return doc


def _unfinished(raw: bytes) -> bool:
    """True when ``raw`` ends inside a string or with an object or array still open: the start of
    a JSON document cut short (a write that did not finish), not a malformed one."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
        elif byte in (0x7D, 0x5D):  # } ]
            depth -= 1
    return in_string or depth > 0


def load_json(path: str | os.PathLike[str], expected: str,
              check: Callable[[Any], str | None] | None = None) -> Any:
    """The JSON document in ``path``, or :class:`FileProblem` saying what is wrong with the file.

    ``expected`` names what the file should be, e.g. "a result of python -m linear_models.sweep";
    ``check(document)`` returns None when the document is of that kind and otherwise a short
    description of what it is instead (e.g. "an array, not a JSON object").
    """
    return parse_json(read_bytes(path, expected), path, expected, check)


def object_with(*keys: str) -> Callable[[Any], str | None]:
    """A :func:`load_json` check: a JSON object holding ``keys``."""

    def check(doc: Any) -> str | None:
        if not isinstance(doc, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")
            return f"{kind}, not a JSON object"
        missing = [k for k in keys if k not in doc]
        return f"an object without {', '.join(repr(k) for k in missing)}" if missing else None

    return check

