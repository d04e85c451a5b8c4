"""python -m linear_models.sweep: cache, resume, byte-identical results, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import pytest

from linear_models import sweep
from linear_models.experiment import LinearRunConfig, config_key

jax.config.update("jax_numpy_rank_promotion", "raise")

# 4 tiny configurations: 2 methods x 2 frameworks at d = 32, N = 3 (c = 6), 4 rounds
GRID = ["--method", "MIM,CL1", "--framework", "local,gossip", "--d", "32", "--N", "3", "--graph", "path",
        "--set", "rounds=4", "--set", "n_frequent=20", "--set", "n_rare=4", "--no-progress"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json"))}


def test_an_interrupted_sweep_resumes_to_byte_identical_results(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert sweep.main(GRID + ["--out", str(full)]) == 0
    assert sweep.main(GRID + ["--out", str(resumed), "--max-configs", "1"]) == 0  # "killed" after one
    assert len(_files(resumed)) == 1
    assert sweep.main(GRID + ["--out", str(resumed)]) == 0
    assert "3 computed, 1 cached" in capsys.readouterr().out
    a, b = _files(full), _files(resumed)
    assert len(a) == 4 and a == b
    assert not list(resumed.glob(".*.tmp"))  # no temporary file left behind
    # a rerun reuses every result
    assert sweep.main(GRID + ["--out", str(full)]) == 0
    assert "0 computed, 4 cached" in capsys.readouterr().out
    # each file holds its resolved configuration, and its name is the hash of it
    for name, raw in a.items():
        res = json.loads(raw)
        assert name == f"{config_key(LinearRunConfig(**res['config']))}.json" == f"{res['key']}.json"
        assert res["device"]["platform"] in ("cpu", "gpu", "cuda", "rocm", "tpu")
        assert len(res["history"]["loss"]) == 4


def test_equal_runs_share_one_key() -> None:
    # the graph does not apply to local training, and p does not apply to CL
    a = LinearRunConfig(method="CL1", framework="local", d=32, graph="ring", p=0.5).resolve()
    b = LinearRunConfig(method="CL1", framework="local", d=32, graph="star", p=0.75).resolve()
    assert config_key(a) == config_key(b)
    c = LinearRunConfig(method="MIM", framework="local", d=32, p=0.5).resolve()
    d = LinearRunConfig(method="MIM", framework="local", d=32, p=0.75).resolve()
    assert config_key(c) != config_key(d)


@pytest.mark.parametrize("argv,name", [
    (["--method", "SIMCLR"], "--method"),
    (["--d", "4"], "d"),
    (["--p", "1.5", "--method", "MIM"], "p"),
    (["--seeds", "x-y"], "--seeds"),
    (["--set", "rounds=ten"], "--set rounds"),
    (["--set", "nonsense=1"], "--set"),
    (["--abar", "9", "--N", "4"], "mean_connectivity"),
    (["--graph", "hypercube"], "graph"),
    (["--set", "participation=2", "--framework", "fedavg"], "participation"),
    (["--framework", "server"], "--framework"),
])
def test_bad_input_exits_2_with_one_line_naming_the_parameter(argv: list[str], name: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert sweep.main(argv + ["--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {name}:")


def test_presets_resolve(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert sweep.main(["--preset", "connectivity", "--dry-run", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 * 4 * 5  # methods x |Ā| x seeds
    cfgs = [json.loads(line.split(" ", 2)[2]) for line in lines]
    assert {c["n_clients"] for c in cfgs} == {20} and {c["d"] for c in cfgs} == {512}
    assert sweep.main(["--preset", "scaling", "--dry-run", "--out", str(tmp_path)]) == 0
    cfgs = [json.loads(line.split(" ", 2)[2]) for line in capsys.readouterr().out.strip().splitlines()]
    assert sorted({c["d"] for c in cfgs}) == [64, 128, 256, 512, 1024, 2048, 4096]
    assert all(c["data_optimum"] == (c["d"] <= 1024) for c in cfgs)


# --------------------------------------------------------------------------- --platform
def test_help_names_match_the_modules() -> None:
    from linear_models.distributed import FRAMEWORKS
    from linear_models.objectives import METHODS

    assert sweep.METHOD_NAMES == METHODS and sweep.FRAMEWORK_NAMES == FRAMEWORKS


def test_platform_option_is_validated(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    jax.devices()  # this process runs JAX already: only its own platform can be chosen now
    here = jax.default_backend()
    tiny = ["--method", "MIM", "--framework", "local", "--d", "32", "--N", "3", "--dry-run", "--out", str(tmp_path)]
    for bad in ("tpu", "cuda", "GPU", ""):
        assert sweep.main(tiny + ["--platform", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error: --platform:") and "auto, cpu, gpu" in err
    assert sweep.main(tiny + ["--platform", here]) == 0
    assert sweep.main(tiny + ["--platform", "auto"]) == 0
    capsys.readouterr()
    other = "gpu" if here == "cpu" else "cpu"
    assert sweep.main(tiny + ["--platform", other]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --platform:") and f"already runs on in this process ({here})" in err


def test_platform_is_set_before_jax_is_imported(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    code = ("import os, sys\n"
            "from linear_models import sweep\n"
            "from linear_models.platforms import select_platform\n"
            "assert 'jax' not in sys.modules\n"
            "select_platform('cpu')\n"
            "assert os.environ['JAX_PLATFORMS'] == 'cpu'\n"
            "import jax\n"
            "assert jax.default_backend() == 'cpu'\n")
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True, timeout=120)
    # --platform gpu never falls back to the CPU silently
    res = subprocess.run([sys.executable, "-m", "linear_models.sweep", "--platform", "gpu", "--dry-run", "--d", "32",
                          "--N", "3", "--out", str(tmp_path)], check=False, cwd=root, env=env, capture_output=True,
                         text=True,
                         timeout=120)
    if res.returncode == 0:  # a machine with a GPU
        assert "todo" in res.stdout
    else:
        assert res.returncode == 2 and res.stderr.startswith("error: --platform:")


def test_device_is_recorded_but_not_part_of_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = ["--method", "MIM", "--framework", "local"] + GRID[4:] + ["--out", str(tmp_path)]
    assert sweep.main(one) == 0
    (path,) = tmp_path.glob("*.json")
    res = json.loads(path.read_text())
    assert res["device"]["platform"] == jax.default_backend() and "device" not in res["config"]
    # a result computed elsewhere (another platform) is reused as it is
    res["device"] = {"platform": "gpu", "device": "NVIDIA H200", "jax": res["device"]["jax"]}
    path.write_text(json.dumps(res))
    capsys.readouterr()
    assert sweep.main(one + ["--platform", jax.default_backend()]) == 0
    assert "0 computed, 1 cached" in capsys.readouterr().out


def test_framework_accepts_the_papers_names_as_their_algorithms() -> None:
    """theory.frameworks: --framework decl,fl is gossip,fedavg (same runs, same cache keys).
    Catches: the paper's names refused, or mapped to the wrong algorithm."""
    from linear_models.experiment import config_key

    def keys(fw: str) -> list[str]:
        args = sweep.build_parser().parse_args(["--framework", fw, "--d", "64", "--seeds", "1"])
        return [config_key(rc) for rc in sweep.build_grid(args)]

    assert keys("decl,fl") == keys("gossip,fedavg")
    assert keys("decl") != keys("fl")
