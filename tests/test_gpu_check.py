"""scripts/gpu_check.sh --dry-run: the GPU check's CPU path runs every step and writes one JSON
with every figure (run here on every CI run; the GPU path needs a GPU and is not run here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_writes_every_step(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [str(REPO / "scripts" / "gpu_check.sh"), "--dry-run", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] is True
    steps = report["steps"]
    assert list(steps) == ["device", "cuda_tests", "nccl_round", "throughput", "linear_sweep"]
    assert all(s["ok"] for s in steps.values()), {k: s for k, s in steps.items() if not s["ok"]}
    assert steps["device"]["cuda_available"] in (True, False) and steps["device"]["torch"]
    assert "skipped" in steps["cuda_tests"]["summary"] or "passed" in steps["cuda_tests"]["summary"]
    assert steps["nccl_round"]["process_group"] == "gloo" and steps["nccl_round"]["rounds"][0]["steps"] > 0
    for label, arch in steps["throughput"].items():
        if label in ("ok", "step_seconds"):
            continue
        assert arch["one_model"][0]["images_per_s"] > 0
        fl = next(v for k, v in arch.items() if k.startswith("fl_round_"))
        assert fl["steps"] > 0 and fl["images_per_s"] > 0
    assert steps["linear_sweep"]["results"] == 1


def test_gpu_check_refuses_an_unknown_step(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_check.py"), "--dry-run", "--only", "nope", "--out", str(tmp_path / "x.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "unknown steps ['nope']" in p.stderr
