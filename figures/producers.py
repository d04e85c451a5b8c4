"""What computes each figure's cache, at which scale: the one registry of producers.

A :class:`Producer` is a list of steps, each an existing CLI of the toolkit
(``python -m theory.curves``, ``python -m linear_models.sweep``, ``python -m empirical.run`` and
``python -m empirical.summarise_grid``) with the arguments of one :data:`SCALES` entry. It owns
the cache paths in ``outputs`` (relative to the results folder): a figure that raises
:class:`figures.style.MissingResults` for a path under one of them is computed by that producer.
Adding a figure on an existing cache needs no entry here; a figure on a new cache adds one
:class:`Producer` to :data:`PRODUCERS`.

Scales:

* ``quick``: small but meaningful settings, every figure within about 15 minutes on a 2-core
  machine (the figures are marked "quick scale"; they are not the README's numbers);
* ``paper``: the settings of the figures and tables in the README (hours on that machine; the
  estimate in :data:`PAPER_ESTIMATE`).

Progress and resumption (:func:`compute`): every step's own output streams to the terminal, and
a state file ``<results>/.producers/<name>.json`` records the scale and the steps finished; an
interrupted producer restarts at its first unfinished step, and each step resumes on its own
(the linear sweep skips cached runs, ``empirical.run --resume`` continues from checkpoints,
``theory.curves`` takes seconds at the quick scale). A finished producer is never rerun; a
results folder computed at another scale is refused with one line (nothing is overwritten).

This module imports neither matplotlib nor jax nor torch.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from theory.errors import FileProblem
from theory.io import parse_json, read_bytes, write_json_atomic

SCALES: tuple[str, ...] = ("quick", "paper")
STATE_DIR = ".producers"
STATE_SCHEMA = "figures-producer-state/1"

# The extra of pyproject.toml each producer's CLI needs, and the module that proves it is installed.
EXTRA_MODULE: dict[str, str] = {"core": "numpy", "linear": "jax", "empirical": "torch"}


@dataclass(frozen=True)
class Producer:
    """One cache and the commands that write it.

    ``steps[scale]``: argument lists run as ``python -m <args...>`` from the working directory;
    ``{results}`` in an argument is replaced by the results folder. ``settings[scale]``: one
    line saying what the scale is, copied into the sidecar of every figure drawn from it.
    """

    name: str
    extra: str
    outputs: tuple[str, ...]
    steps: Mapping[str, tuple[tuple[str, ...], ...]]
    settings: Mapping[str, str] = field(default_factory=dict)

    def commands(self, scale: str, results: Path) -> list[list[str]]:
        """The argument lists (after ``python -m``) of ``scale`` for this results folder."""
        if scale not in self.steps:
            raise ValueError(f"--scale: must be one of {tuple(self.steps)} for {self.name}, got {scale!r}")
        return [[a.replace("{results}", str(results)) for a in step] for step in self.steps[scale]]

    def owns(self, path: Path, results: Path) -> bool:
        """Whether ``path`` lies at or under one of this producer's outputs in ``results``."""
        p = Path(path)
        for rel in self.outputs:
            out = Path(results) / rel
            if p == out or out in p.parents:
                return True
        return False


_T1 = ("--threads", "1")
_LIN = ("linear_models.sweep", "--out", "{results}/linear")
_GRID = ("empirical.run", "--preset", "robustness-grid", "--scale", "smoke", "--threads", "1", "--resume")

PRODUCERS: dict[str, Producer] = {
    p.name: p
    for p in (
        Producer(
            "theory-curves", "core", ("theory/curves.json",),
            steps={
                "quick": (("theory.curves", "--d-max", "2048", "--points", "7", "--cl2-d-max", "1024",
                           "--profile-d", "256", "--conn-d", "256", "--conn-abar", "3,4,5,6,8,10,15,20",
                           *_T1, "--out", "{results}/theory/curves.json"),),
                "paper": (("theory.curves", *_T1, "--out", "{results}/theory/curves.json"),),
            },
            settings={
                "quick": "theory.curves with d = 32..2048 (7 points; exact CL2 to d = 1024), profiles and "
                         "connectivity at d = 256, N = 20, |Ā| in {3,4,5,6,8,10,15,20}",
                "paper": "theory.curves defaults: d = 32..8192 (9 points; exact CL2 to 2048), profiles and "
                         "connectivity at d = 512",
            },
        ),
        Producer(
            "linear-sweeps", "linear", ("linear",),
            steps={
                "quick": (
                    (*_LIN, "--preset", "connectivity", "--d", "128", "--seeds", "2"),
                    (*_LIN, "--method", "MIM,CL1", "--framework", "fedavg", "--d", "128", "--N", "20", "--seeds", "2"),
                    (*_LIN, "--preset", "scaling", "--method", "MIM,CL1", "--d", "64,128,256", "--seeds", "2"),
                ),
                "paper": (
                    (*_LIN, "--preset", "connectivity"),
                    (*_LIN, "--preset", "connectivity", "--method", "CL2"),
                    (*_LIN, "--method", "MIM,CL1", "--framework", "gossip", "--d", "512", "--N", "20",
                     "--abar", "3,5,10,20", "--graph-kind", "regular", "--seeds", "5"),
                    (*_LIN, "--method", "MIM,CL1", "--framework", "fedavg", "--d", "512", "--N", "20", "--seeds", "5"),
                    (*_LIN, "--preset", "scaling", "--method", "MIM,CL1", "--d", "64..2048"),
                    (*_LIN, "--preset", "scaling", "--method", "MIM,CL1", "--d", "4096"),
                    (*_LIN, "--preset", "scaling", "--method", "CL2", "--d", "64..4096"),
                ),
            },
            settings={
                "quick": "linear_models.sweep: connectivity preset at d = 128 (N = 20, |Ā| in {3,5,10,20}) with "
                         "its FedAvg level, and the scaling preset for MIM, CL1 at d = 64,128,256; seeds 0-1",
                "paper": "linear_models.sweep as in docs/linear_models.md: connectivity (MIM, CL1, CL2; random and "
                         "regular graphs; FedAvg level) at d = 512, seeds 0-4; scaling d = 64..4096, seeds 0-2",
            },
        ),
        # Assumes the robustness-grid preset of empirical.run and summarise_grid's --baseline/--cache
        # (the figures read <results>/empirical/{grid,partitions}.json). Update here when they change.
        Producer(
            "empirical-grid", "empirical", ("empirical/grid.json", "empirical/partitions.json"),
            steps={
                "quick": (
                    (*_GRID, "--out", "{results}/runs/robustness-grid",
                     "--set", "data.max_train=2000", "partition.min_size=8", "federation.rounds=2"),
                    ("empirical.summarise_grid", "{results}/runs/robustness-grid", "--baseline", *_T1,
                     "--cache", "{results}/empirical"),
                ),
                "paper": (
                    (*_GRID, "--out", "{results}/runs/robustness-grid"),
                    ("empirical.summarise_grid", "{results}/runs/robustness-grid", "--baseline", *_T1,
                     "--cache", "{results}/empirical"),
                ),
            },
            settings={
                "quick": "empirical.run robustness-grid (smoke) with 2,000 MNIST images (1,600 for training, clients "
                         "of 8 or more) and 2 rounds instead of 10,000 and 16 (MAE) / 12 (SimSiam): 20 runs, seed 0; "
                         "a pipeline check (at 2 rounds no encoder beat its untrained initialisation, 2026-12-01)",
                "paper": "empirical.run robustness-grid at the smoke scale: the README's CPU experiment (MNIST, "
                         "20 clients, 16/12 rounds, seed 0)",
            },
        ),
    )
}

# From the measured costs on the 2-CPU machine (README, docs/linear_models.md, docs/empirical.md):
# theory.curves defaults, the linear sweeps above (147+103+218+82+460+213+546 s) and the grid (~100 CPU-min).
PAPER_ESTIMATE = "about 2.5 hours on the 2-CPU machine (linear sweeps ~30 min, the empirical grid ~100 min, " \
                 "theory.curves under a minute)"


# --------------------------------------------------------------------------- state
class ScaleConflict(Exception):
    """The results folder holds a producer's cache computed at another scale."""


def state_path(results: Path, name: str) -> Path:
    return Path(results) / STATE_DIR / f"{name}.json"


def read_state(results: Path, name: str) -> dict[str, Any] | None:
    """The state file of producer ``name`` in ``results``, or None when there is none.

    A damaged or foreign state file raises :class:`theory.errors.FileProblem` naming it."""
    path = state_path(results, name)
    if not path.exists():
        return None
    expected = f"a state file of `python -m figures --compute` ({STATE_SCHEMA})"
    data = parse_json(read_bytes(path, expected), path, expected)
    if not isinstance(data, dict) or data.get("schema") != STATE_SCHEMA:
        raise FileProblem(path, expected, "a JSON document of another kind")
    return data


def scale_of(results: Path, name: str) -> dict[str, Any] | None:
    """``{"scale", "settings", "complete"}`` of producer ``name`` in ``results`` (None: not computed
    by ``--compute``, e.g. by hand)."""
    state = read_state(results, name)
    if state is None:
        return None
    return {"scale": state.get("scale"), "settings": state.get("settings"), "complete": bool(state.get("complete"))}


def missing_extra(producer: Producer) -> str | None:
    """The extra whose module is not importable here, or None."""
    module = EXTRA_MODULE[producer.extra]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as absent
        found = False
    return None if found else producer.extra


Runner = Callable[[Sequence[str]], int]


def _subprocess_runner(args: Sequence[str]) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.run([sys.executable, "-m", *args], env=env).returncode


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def compute(producer: Producer, scale: str, results: Path, runner: Runner = _subprocess_runner,
            log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> bool:
    """Run the unfinished steps of ``producer`` at ``scale`` into ``results``; True when it ran any.

    Raises :class:`ScaleConflict` when ``results`` holds this producer's cache at another scale,
    and :class:`RuntimeError` (with the command) when a step fails; the state file then keeps the
    steps finished so far, and the next call starts at the failed step.
    """
    results = Path(results)
    commands = producer.commands(scale, results)
    state = read_state(results, producer.name)
    if state is not None and state.get("scale") != scale:
        raise ScaleConflict(f"{results} holds the {producer.name} cache computed at scale {state.get('scale')!r}, "
                            f"not {scale!r}: pass another --results folder or remove "
                            f"{state_path(results, producer.name)} and its outputs")
    if state is None:
        state = {"schema": STATE_SCHEMA, "producer": producer.name, "scale": scale,
                 "settings": producer.settings.get(scale), "steps": [], "complete": False}
    if state.get("complete"):
        return False
    done = {tuple(s["args"]) for s in state.get("steps", []) if isinstance(s, dict) and "args" in s}
    todo = [c for c in commands if tuple(c) not in done]
    state_path(results, producer.name).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(state_path(results, producer.name), state, indent=1)
    for k, args in enumerate(todo, 1):
        line = "python -m " + shlex.join(args)
        log(f"[{producer.name} {scale}] step {len(done) + k}/{len(commands)}: {line}")
        t0, c0 = time.perf_counter(), os.times()
        rc = runner(args)
        c1 = os.times()
        wall = time.perf_counter() - t0
        cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        if rc != 0:
            raise RuntimeError(f"producer {producer.name}: `{line}` exited with status {rc}; rerun to resume")
        state["steps"].append({"args": list(args), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                               "finished": _now()})
        write_json_atomic(state_path(results, producer.name), state, indent=1)
        log(f"[{producer.name} {scale}] step {len(done) + k}/{len(commands)} done in {wall:.0f} s "
            f"(CPU {cpu:.0f} s)")
    state["complete"] = True
    write_json_atomic(state_path(results, producer.name), state, indent=1)
    return True


def owner(path: Path, results: Path) -> Producer | None:
    """The producer whose outputs hold ``path``."""
    return next((p for p in PRODUCERS.values() if p.owns(path, results)), None)


def scale_for(path: Path) -> dict[str, Any] | None:
    """The scale record of the producer that computed the cache ``path`` (None when no
    ``--compute`` state file covers it): the nearest parent folder with a ``.producers``
    folder is taken as the results folder."""
    path = Path(path)
    for results in path.parents:
        if (results / STATE_DIR).is_dir():
            prod = owner(path, results)
            if prod is None:
                return None
            record = scale_of(results, prod.name)
            return None if record is None else {"producer": prod.name, **record}
    return None


__all__: Sequence[str] = ("SCALES", "PRODUCERS", "PAPER_ESTIMATE", "Producer", "ScaleConflict", "compute",
                          "owner", "read_state", "scale_of", "scale_for", "missing_extra", "state_path")
