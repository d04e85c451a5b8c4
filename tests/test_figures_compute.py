"""python -m figures --compute: a missing cache is computed by its producer (figures.producers), then
drawn; a second call recomputes nothing; an interrupted producer resumes at its unfinished step; the
scale is written into the sidecar; and the theory figures need neither JAX nor torch."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from figures import producers, style
from figures.__main__ import draw
from figures.__main__ import main as figures_main

ROOT = Path(__file__).resolve().parents[1]
STUB_CACHE = "stub/cache.json"
STUB_SCHEMA = "stub/1"
TINY_CURVES = ("theory.curves", "--d-min", "32", "--d-max", "64", "--points", "2", "--N", "3", "--profile-d", "32",
               "--conn-N", "6", "--conn-d", "32", "--conn-abar", "3,4,6", "--cl2-d-max", "32", "--threads", "1")


def stub_figure(results: Path, out: Path) -> list[Path]:
    res = style.load_results(results, STUB_CACHE, "stub-producer", "results/" + STUB_CACHE, STUB_SCHEMA)
    with style.styled():
        fig = style.new_figure(2.0, 2.0)
        fig.subplots().plot(np.asarray(res.data["y"], dtype=float))
        return style.save(fig, out, "stub-figure", [res])


class StubRunner:
    """Stands in for ``python -m ...``: step "part" writes a partial file, step "cache" the cache;
    ``fail`` names a step that fails once."""

    def __init__(self, results: Path, fail: str | None = None) -> None:
        self.results, self.fail, self.calls = results, fail, []  # type: list[str]

    def __call__(self, args: Sequence[str]) -> int:
        self.calls.append(args[0])
        if args[0] == self.fail:
            self.fail = None
            return 1
        folder = self.results / "stub"
        folder.mkdir(parents=True, exist_ok=True)
        if args[0] == "part":
            (folder / "part.txt").write_text("1")
        else:
            (folder / "cache.json").write_text(json.dumps({"schema": STUB_SCHEMA, "y": [0.0, 1.0, 0.5]}))
        return 0


@pytest.fixture
def stub_producer(monkeypatch: pytest.MonkeyPatch) -> producers.Producer:
    prod = producers.Producer("stub", "core", ("stub",),
                              steps={"quick": (("part",), ("cache",)), "paper": (("cache",),)},
                              settings={"quick": "two tiny steps", "paper": "one step"})
    monkeypatch.setattr(producers, "PRODUCERS", {"stub": prod})
    return prod


def test_compute_fills_missing_cache_then_draws_and_second_call_recomputes_nothing(
        tmp_path: Path, stub_producer: producers.Producer) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    runner = StubRunner(results)
    # without a scale (no --compute) the missing cache is only reported
    paths, error = draw("stub-figure", stub_figure, results, out, None, runner)
    assert paths == [] and error is not None and "missing results" in error and runner.calls == []
    paths, error = draw("stub-figure", stub_figure, results, out, "quick", runner)
    assert error is None and runner.calls == ["part", "cache"]
    assert [p.name for p in paths] == ["stub-figure.pdf", "stub-figure.png", "stub-figure.meta.json"]
    meta = json.loads((out / "stub-figure.meta.json").read_text())
    assert meta["scale"] == "quick" and meta["scale_settings"] == {"stub": "two tiny steps"}
    state = producers.read_state(results, "stub")
    assert state is not None and state["complete"] and [s["args"] for s in state["steps"]] == [["part"], ["cache"]]
    # second call: the figure is drawn again, nothing is computed
    (out / "stub-figure.png").unlink()
    paths, error = draw("stub-figure", stub_figure, results, out, "quick", runner)
    assert error is None and runner.calls == ["part", "cache"] and (out / "stub-figure.png").exists()


def test_interrupted_producer_resumes_at_its_unfinished_step(tmp_path: Path, stub_producer: producers.Producer) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    runner = StubRunner(results, fail="cache")
    paths, error = draw("stub-figure", stub_figure, results, out, "quick", runner)
    assert paths == [] and error is not None and "exited with status 1" in error and "resume" in error
    assert runner.calls == ["part", "cache"]
    paths, error = draw("stub-figure", stub_figure, results, out, "quick", runner)
    assert error is None and runner.calls == ["part", "cache", "cache"]  # "part" is not run again


def test_other_scale_is_refused_and_nothing_overwritten(tmp_path: Path, stub_producer: producers.Producer) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    runner = StubRunner(results)
    assert draw("stub-figure", stub_figure, results, out, "quick", runner)[1] is None
    (results / STUB_CACHE).unlink()  # the cache is gone, but the folder was computed at the quick scale
    paths, error = draw("stub-figure", stub_figure, results, out, "paper", runner)
    assert paths == [] and error is not None and "scale 'quick'" in error
    assert runner.calls == ["part", "cache"] and not (results / STUB_CACHE).exists()


def test_damaged_cache_is_reported_not_recomputed(tmp_path: Path, stub_producer: producers.Producer) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    (results / "stub").mkdir(parents=True)
    (results / STUB_CACHE).write_text('{"schema": "someone-else/1"}')
    runner = StubRunner(results)
    paths, error = draw("stub-figure", stub_figure, results, out, "quick", runner)
    assert paths == [] and error is not None and "incompatible" in error and runner.calls == []
    assert (results / STUB_CACHE).read_text() == '{"schema": "someone-else/1"}'


@pytest.mark.slow
def test_theory_figures_computed_by_the_real_producer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    tiny = dataclasses.replace(producers.PRODUCERS["theory-curves"],
                               steps={"quick": ((*TINY_CURVES, "--out", "{results}/theory/curves.json"),)},
                               settings={"quick": "tiny test settings"})
    monkeypatch.setitem(producers.PRODUCERS, "theory-curves", tiny)
    calls: list[Sequence[str]] = []

    def runner(args: Sequence[str]) -> int:
        calls.append(args)
        return producers._subprocess_runner(args)

    argv = ["theory-rv-profiles", "--compute", "--scale", "quick", "--results", str(tmp_path / "r"),
            "--out", str(tmp_path / "o")]
    assert figures_main(argv, runner=runner) == 0
    assert len(calls) == 1 and calls[0][0] == "theory.curves"
    meta = json.loads((tmp_path / "o" / "theory-rv-profiles.meta.json").read_text())
    assert meta["scale"] == "quick" and meta["scale_settings"] == {"theory-curves": "tiny test settings"}
    assert "step 1/1" in capsys.readouterr().err  # progress
    assert figures_main(["theory-connectivity", *argv[1:]], runner=runner) == 0
    assert len(calls) == 1  # the shared cache is not recomputed


def test_figures_drawn_by_hand_carry_no_scale(tmp_path: Path) -> None:
    results = tmp_path / "r"
    (results / "stub").mkdir(parents=True)
    (results / STUB_CACHE).write_text(json.dumps({"schema": STUB_SCHEMA, "y": [1.0, 2.0]}))
    stub_figure(results, tmp_path / "o")
    assert json.loads((tmp_path / "o" / "stub-figure.meta.json").read_text())["scale"] is None


BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("jax", "jaxlib", "torch"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


@pytest.mark.slow
def test_theory_figures_without_jax_and_torch(tmp_path: Path) -> None:
    """sitecustomize makes jax and torch unimportable in every child process."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)

    probe = run("-c", "import jax")
    assert probe.returncode != 0 and "No module named 'jax'" in probe.stderr  # the blocker works
    results, out = tmp_path / "r", tmp_path / "o"
    assert run("-m", *TINY_CURVES, "--out", str(results / "theory" / "curves.json")).returncode == 0
    res = run("-m", "figures", "all", "--compute", "--scale", "quick", "--results", str(results), "--out", str(out))
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    for name in ("theory-sensitivity-vs-d", "theory-rv-profiles", "theory-connectivity"):
        assert (out / f"{name}.png").exists()
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    linear = [line for line in errors if line.startswith("error: linear-")]
    # one line per problem (the three linear figures share it), naming the extra to install
    assert len(linear) == 1 and "needs jax" in linear[0] and "pip install -e '.[linear]'" in linear[0]
    empirical = [line for line in errors if line.startswith("error: empirical-")]
    assert len(empirical) == 1 and "pip install -e '.[empirical]'" in empirical[0]
    assert not (results / "linear").exists() and not (results / "empirical").exists()
