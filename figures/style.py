"""The look and the output format of every figure: rcParams, byte-stable files, provenance.

* :data:`RC` is the one set of rcParams; :func:`styled` applies it for the duration of one
  figure (nothing is changed globally, and pyplot is never imported).
* :func:`new_figure` attaches the Agg canvas explicitly, so figures render with Agg whatever
  backend the caller has chosen.
* :func:`save` writes ``<name>.pdf`` and ``<name>.png`` with fixed metadata (no dates, a
  fixed producer, fixed dpi and svg hash salt), so rerunning on the same results gives
  byte-identical files, and ``<name>.meta.json`` with the config and git revision of the
  results that were plotted.
* :func:`scale_record` says at which scale (``figures.producers``) the results of a figure were
  computed; :func:`save` writes it into the sidecar and marks the figure with it.
* :func:`load_results` reads a cached result and raises :class:`MissingResults` (naming the
  command that produces it) when it is absent or unreadable.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from theory.errors import FileProblem
from theory.io import parse_json, read_bytes, write_json_atomic
from theory.provenance import git_revision

from . import producers

PRODUCER = "dssl-verify figures"
DPI = 150

RC: dict[str, Any] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "svg.hashsalt": "dssl-verify",
    "pdf.fonttype": 42,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.formatter.useoffset": False,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.5,
    "errorbar.capsize": 2.5,
    "legend.frameon": False,
}

# Okabe-Ito colours (distinguishable with colour-vision deficiency), one per framework.
FRAMEWORK_COLORS = {"local": "#009E73", "decl": "#D55E00", "fl": "#0072B2"}
FRAMEWORK_LABELS = {"local": "local (client 0)", "decl": "DecL", "fl": "FL"}
OBJECTIVE_LABELS = {
    "MIM": "MIM (alignment, Eq. 4)",
    "CL1": "CL, similar augmentations",
    "CL2": "CL, dissimilar augmentations (H)",
}
ILL_POSED_ALPHA = 0.15


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Apply :data:`RC` while one figure is built and saved."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure of ``width`` x ``height`` inches on an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# --------------------------------------------------------------------------- provenance
class MissingExtra(Exception):
    """A figure needs a package of an extra that is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(f"needs {module}, which is not installed: pip install -e '.[{extra}]'")


class MissingResults(Exception):
    """A cached result is absent or unreadable; the message names the command that makes it."""

    def __init__(self, path: Path, command: str, reason: str = "missing") -> None:
        self.path = path
        self.command = command
        self.reason = reason
        super().__init__(f"{reason} results {path}: produce them with `{command}`")


@dataclass(frozen=True)
class Results:
    """A cached result and where it came from."""

    path: Path
    data: dict[str, Any]
    sha256: str

    def provenance(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "schema": self.data.get("schema"),
            "command": self.data.get("command"),
            "git_revision": self.data.get("git_revision"),
            "config": self.data.get("config"),
        }


def producing_command(command: str, default_out: str, results_dir: Path, relpath: str) -> str:
    """``command``, with ``--out`` added when the results folder is not the default one."""
    path = results_dir / relpath
    if Path(default_out) == path:
        return command
    return f"{command} --out {shlex.quote(str(path))}"


def read_json(path: Path, command: str) -> tuple[Any, bytes]:
    """The JSON document in ``path`` and its bytes; a damaged file raises :class:`MissingResults`
    naming it, what is wrong (:func:`theory.io.parse_json`) and the command that remakes it."""
    expected = f"the output of `{command}`"
    try:
        raw = read_bytes(path, expected)
        return parse_json(raw, path, expected), raw
    except FileProblem as err:
        raise MissingResults(path, command, f"unreadable ({err.problem})") from None


def load_results(results_dir: Path, relpath: str, command: str, default_out: str, schema: str) -> Results:
    """Read ``results_dir / relpath``, a JSON cache written by ``command`` with the given ``schema``."""
    path = Path(results_dir) / relpath
    cmd = producing_command(command, default_out, Path(results_dir), relpath)
    if not path.is_file():
        raise MissingResults(path, cmd)
    data, raw = read_json(path, cmd)
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else None
        raise MissingResults(path, cmd, f"incompatible (schema {found!r}, expected {schema!r})")
    return Results(path, data, hashlib.sha256(raw).hexdigest())


# --------------------------------------------------------------------------- output
def scale_record(sources: Sequence[Results]) -> dict[str, Any]:
    """``{"scale", "settings"}`` of the results a figure is drawn from: the scale recorded by
    ``python -m figures --compute`` (``figures.producers``) for every source; "mixed" when the
    sources differ, None when no source was computed by ``--compute`` (e.g. by hand)."""
    found = [producers.scale_for(s.path) for s in sources]
    scales = {f["scale"] for f in found if f is not None}
    if not scales:
        return {"scale": None, "settings": None}
    settings = {f["producer"]: f["settings"] for f in found if f is not None}
    if len(scales) > 1 or None in found:
        return {"scale": "mixed", "settings": settings}
    return {"scale": scales.pop(), "settings": settings}


def save(fig: Figure, out_dir: Path, name: str, sources: Sequence[Results],
         notes: dict[str, Any] | None = None) -> list[Path]:
    """Write ``name``.pdf, ``name``.png and ``name``.meta.json to ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf, png, meta = out_dir / f"{name}.pdf", out_dir / f"{name}.png", out_dir / f"{name}.meta.json"
    scale = scale_record(sources)
    if scale["scale"] is not None:
        fig.text(0.995, 0.002, f"scale: {scale['scale']}" + (" (small settings, not the README's)"
                                                               if scale["scale"] == "quick" else ""),
                 ha="right", va="bottom", fontsize=6, color="0.45")
    fig.savefig(pdf, format="pdf", dpi=DPI,
                metadata={"CreationDate": None, "ModDate": None, "Producer": PRODUCER, "Creator": PRODUCER})
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": PRODUCER})
    sidecar = {
        "figure": name,
        "scale": scale["scale"],
        "scale_settings": scale["settings"],
        "files": [pdf.name, png.name],
        "figures_git_revision": git_revision(),
        "matplotlib": matplotlib.__version__,
        "results": [s.provenance() for s in sources],
        **({"notes": notes} if notes else {}),
    }
    write_json_atomic(meta, sidecar, indent=1)  # strict JSON; non-finite numbers in the notes become null
    return [pdf, png, meta]
