"""Corrupt or foreign files are refused at the entry points: exit 2, one line naming the file and
what is wrong with it, and the file left exactly as it was (issue 13, part 3).

One test per kind of file: empirical checkpoints (``empirical.run --resume``), run configs
(config.json, ``--resume``), linear sweep caches (``linear_models.check``), results JSON read by
the summaries and figures (``empirical.summarise_grid``, ``figures``), and data/mnist.npz
(``empirical.run``). Plus the shared helpers of :mod:`theory.io`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from empirical.run import main as run_main
from theory.errors import FileProblem
from theory.io import jsonable, load_json, object_with, write_json_atomic

TINY = [
    "model.vit_width=16",
    "model.vit_depth=1",
    "model.vit_heads=2",
    "method.decoder_width=16",
    "data.max_train=400",
    "partition.n_clients=4",
    "partition.min_size=8",
    "federation.rounds=1",
    "federation.local_epochs=1",
    "optim.batch_size=32",
    "eval.knn_every=0",
    "eval.probe=none",
]


def _truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _refused(capsys: pytest.CaptureFixture[str], path: Path, code: int, before: bytes, needle: str = "") -> str:
    """Exit 2, exactly one line on stderr (no traceback) naming ``path``, and ``path`` unchanged."""
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert str(path) in err, err
    assert needle in err, err
    assert path.read_bytes() == before  # left in place, untouched
    return err


# --------------------------------------------------------------------------- theory.io
def test_jsonable_has_one_nan_convention_and_plain_types() -> None:
    doc = {1: np.float32(1.5), "a": np.arange(3), "t": torch.tensor([0.5, float("nan")]), "b": np.bool_(True),
           "x": (float("inf"), -math.inf, np.float64("nan"), np.int64(7)), "n": None}
    assert jsonable(doc) == {"1": 1.5, "a": [0, 1, 2], "t": [0.5, None], "b": True, "x": [None, None, None, 7], "n": None}
    assert json.loads(json.dumps(jsonable(doc), allow_nan=False))  # strict JSON


def test_write_json_atomic_leaves_strict_json_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json_atomic(path, {"v": float("nan"), "w": np.ones(2)})
    assert json.loads(path.read_text()) == {"v": None, "w": [1.0, 1.0]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize(("content", "needle"), [
    (b"", "is empty"),
    (b'{"a": [1, 2', "is truncated"),
    (b'{"a": 1} trailing', "is not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
    (b"[1, 2]", "holds an array, not a JSON object"),
    (b'{"b": 1}', "holds an object without 'a'"),
])
def test_load_json_says_what_is_wrong(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(FileProblem) as err:
        load_json(path, "a thing", object_with("a"))
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and needle in msg and "(expected a thing)" in msg and "\n" not in msg
    assert path.read_bytes() == content


# --------------------------------------------------------------------------- empirical.run
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-round tiny run: config.json, checkpoint.pt, metrics.jsonl, summary.json."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert run_main(["--quiet", "--threads", "1", "--out", str(out), "--set", *TINY]) == 0
    return out


def _resume(out: Path) -> int:
    return run_main(["--quiet", "--threads", "1", "--resume", "--out", str(out), "--set", *TINY])


@pytest.mark.parametrize(("damage", "needle"), [
    (_truncate, "is damaged or not a torch file (no complete zip archive)"),
    (lambda p: torch.save({"weights": torch.zeros(3)}, p), "is a torch file of another kind"),
    (lambda p: p.write_bytes(b"\x00garbage" * 100), "is damaged or not a torch file"),
    (lambda p: torch.save({"version": 1, "model": torch.nn.Linear(2, 2)}, p), "it holds Python objects"),
], ids=["truncated", "foreign", "garbage", "pickled-objects"])
def test_resume_refuses_a_damaged_checkpoint(finished_run: Path, tmp_path: Path, damage: Callable[[Path], None],
                                             needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.json", "checkpoint.pt", "metrics.jsonl"):
        (out / name).write_bytes((finished_run / name).read_bytes())
    ckpt = out / "checkpoint.pt"
    damage(ckpt)
    before, metrics = ckpt.read_bytes(), (out / "metrics.jsonl").read_bytes()
    capsys.readouterr()
    _refused(capsys, ckpt, _resume(out), before, needle)
    assert (out / "metrics.jsonl").read_bytes() == metrics  # nothing else rewritten either


@pytest.mark.parametrize(("content", "needle"), [
    (None, "is truncated"),
    (b'{"config": {"no_such_section": {"x": 1}}}', "holds a config this version cannot read"),
    (b'{"settings": {}}', "holds an object without 'config'"),
], ids=["truncated", "foreign-keys", "foreign-shape"])
def test_resume_refuses_a_damaged_config(finished_run: Path, tmp_path: Path, content: bytes | None, needle: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.json", "checkpoint.pt", "metrics.jsonl"):
        (out / name).write_bytes((finished_run / name).read_bytes())
    cfg = out / "config.json"
    if content is None:
        _truncate(cfg)
    else:
        cfg.write_bytes(content)
    before = cfg.read_bytes()
    capsys.readouterr()
    _refused(capsys, cfg, _resume(out), before, needle)


def test_run_refuses_a_damaged_mnist_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    npz = data / "mnist.npz"
    np.savez(npz, images=np.zeros((50, 1, 28, 28), dtype=np.uint8), labels=np.arange(50) % 10)
    _truncate(npz)
    before = npz.read_bytes()
    code = run_main(["--quiet", "--threads", "1", "--out", str(tmp_path / "o"), "--data-root", str(data),
                     "--set", *TINY, "data.name=mnist"])
    _refused(capsys, npz, code, before, "is damaged or not an .npz archive")
    np.savez(npz, pixels=np.zeros((5, 28, 28), dtype=np.uint8))  # an npz of something else
    before = npz.read_bytes()
    code = run_main(["--quiet", "--threads", "1", "--out", str(tmp_path / "o2"), "--data-root", str(data),
                     "--set", *TINY, "data.name=mnist"])
    _refused(capsys, npz, code, before, "has no 'images' and 'labels' array")


# --------------------------------------------------------------------------- linear sweep caches
def test_linear_check_refuses_a_damaged_sweep_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from linear_models import check as check_cli

    folder = tmp_path / "linear"
    folder.mkdir()
    cache = folder / "0123456789abcdef.json"
    cache.write_text('{"schema": 1, "config": {"method": "MIM", "d": 64}, "final": {"glo')  # cut mid-write
    before = cache.read_bytes()
    _refused(capsys, cache, check_cli.main(["--results", str(folder)]), before, "is truncated")
    cache.write_text('{"rows": [1, 2, 3]}')  # a JSON file of another tool
    before = cache.read_bytes()
    _refused(capsys, cache, check_cli.main(["--results", str(folder)]), before, "without 'schema', 'config', 'final'")


# --------------------------------------------------------------------------- results read by summaries and figures
def test_summarise_grid_refuses_a_damaged_summary(finished_run: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from empirical.summarise_grid import main as summarise_main

    run = tmp_path / "grid" / "mae-iid-fl"
    run.mkdir(parents=True)
    (run / "config.json").write_bytes((finished_run / "config.json").read_bytes())
    summary = run / "summary.json"
    summary.write_bytes((finished_run / "summary.json").read_bytes())
    _truncate(summary)
    before = summary.read_bytes()
    _refused(capsys, summary, summarise_main([str(tmp_path / "grid")]), before, "is truncated")
    summary.write_bytes(b"\xff\xfe binary")
    _refused(capsys, summary, summarise_main([str(tmp_path / "grid")]), b"\xff\xfe binary", "not UTF-8")


def test_figures_refuse_a_damaged_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from figures.__main__ import main as figures_main

    grid = tmp_path / "results" / "empirical" / "grid.json"
    grid.parent.mkdir(parents=True)
    grid.write_text('{"schema": "empirical-grid/1", "rows": [{"method": "mae", ')
    before = grid.read_bytes()
    code = figures_main(["empirical-grid", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "o")])
    err = _refused(capsys, grid, code, before, "unreadable (is truncated")
    assert "produce them with" in err and not (tmp_path / "o").exists()
