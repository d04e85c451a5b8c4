"""The torch.distributed backend (empirical/distributed.py) against the in-process simulator.

Multi-process runs are launched with torchrun (``python -m torch.distributed.run --standalone
--nproc-per-node=K -m empirical.run --backend torch``) on CPU/gloo, one thread per process.
Configs: FedMAR/DecMAR (bank mode: the z̄ banks travel between ranks too) with a one-block
width-16 ViT on 400 digits images, 4 clients, 2-3 rounds.

Tolerance. Rank counts change only the float32 summation order: FedAvg's Σ w_i x_i is split
into per-rank partial sums plus an all-reduce, gossip's W x uses only the neighbourhood
columns. After one aggregation the models agree to 1 ulp (~1e-7). The next round's AdamW steps
divide by sqrt(v̂) + 1e-8, which turns ulp-level differences of near-zero gradients into
differences of up to about one learning rate (1e-3 here) on a few coordinates, so after 2
rounds we require max |Δ| <= 1e-3 and mean |Δ| <= 1e-6 over every checkpointed tensor
(measured: max ~1e-4, mean ~1e-7). Integers, client samples and step counts must be equal.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_runs import set_args  # tests/tiny_runs.py (tests/ is on sys.path under pytest)

from empirical.checkpoint import load_checkpoint, read_jsonl
from empirical.distributed import FAULT_MODE_ENV, FAULT_RANK_ENV, FAULT_ROUND_ENV, DistContext
from empirical.engine import TIMING_KEYS
from empirical.run import main

REPO = Path(__file__).resolve().parents[1]

# The shared tiny run (tests/tiny_runs.py) as MAR; each command sets its own number of rounds.
TINY = set_args(drop=("federation.rounds",), method__name="mar")
# One FL run and one DecL run on a ring (the preset's FL variant has full participation).
PAIR = ["--preset", "fig2a-connectivity", "--only", "fl,decl-abar3", "--set", *TINY, "federation.rounds=2", "decentralised.graph=ring"]
# FedMAR with 2 of 4 clients per round: ranks without a selected client, banks of the previous
# round's participants.
PARTIAL = ["--set", *TINY, "federation.rounds=3", "federation.client_fraction=0.5", "method.global_repr=bank"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def torchrun(k: int, args: list[str], *, env: dict[str, str] | None = None, timeout: float = 120,
             log_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``log_dir``: each rank's stdout and stderr go to their own files there (torchrun
    ``--log-dir --redirects 3``, read with :func:`rank_stderr`) instead of torchrun's streams."""
    logs = ["--log-dir", str(log_dir), "--redirects", "3"] if log_dir is not None else []
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={k}", *logs,
        "-m", "empirical.run", "--backend", "torch", "--quiet", "--threads", "1", "--dist-timeout", "60", *args,
    ]  # fmt: skip
    base = {k: v for k, v in os.environ.items() if k not in (FAULT_RANK_ENV, FAULT_ROUND_ENV)}
    full_env = {**base, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)


def rank_stderr(log_dir: Path, rank: int) -> str:
    """What rank ``rank`` wrote to stderr in a :func:`torchrun` with ``log_dir`` (one run per folder)."""
    files = sorted(Path(log_dir).glob(f"*/attempt_*/{rank}/stderr.log"))
    assert len(files) == 1, files
    return files[0].read_text(encoding="utf-8", errors="replace")


def rank_exitcodes(torchrun_stderr: str) -> dict[int, int]:
    """{rank: exit code} of the failed ranks, from torchrun's failure report."""
    found = re.findall(r"rank\s*:\s*(\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)", torchrun_stderr)
    return {int(r): int(c) for r, c in found}


def local(args: list[str]) -> None:
    assert main(["--quiet", "--threads", "1", *args]) == 0


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{prefix}{key}/").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, sub in enumerate(tree) for k, v in _leaves(sub, f"{prefix}{i}/").items()}
    return {prefix: tree}


def assert_same_run(a: Path, b: Path) -> None:
    """Checkpoints (global format) and metrics of two runs agree within the stated tolerance."""
    ca, cb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert ca["round"] == cb["round"]
    la, lb = _leaves(ca["state"]), _leaves(cb["state"])
    assert la.keys() == lb.keys()
    for key, x in la.items():
        y = lb[key]
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            assert x.shape == y.shape and x.dtype == y.dtype, key
            diff = (x - y).abs()
            assert diff.max() <= 1e-3 and diff.mean() <= 1e-6, (key, float(diff.max()), float(diff.mean()))
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y), key
        else:
            assert x == y, key
    ra, rb = read_jsonl(a / "metrics.jsonl"), read_jsonl(b / "metrics.jsonl")
    assert len(ra) == len(rb) == ca["round"]
    for x, y in zip(ra, rb):
        assert (x["round"], x["clients"], x["steps"]) == (y["round"], y["clients"], y["steps"])
        assert x["client_loss"].keys() == y["client_loss"].keys()
        for c, v in x["client_loss"].items():
            assert v == pytest.approx(y["client_loss"][c], rel=1e-4)
        assert x["consensus_distance"] == pytest.approx(y["consensus_distance"], rel=1e-3)
        assert set(x) - set(TIMING_KEYS) == set(y) - set(TIMING_KEYS)


# --------------------------------------------------------------------------- no processes


def test_clients_map_to_contiguous_balanced_blocks() -> None:
    for n, w in [(4, 2), (4, 4), (10, 3), (7, 7), (20, 8)]:
        ctxs = [DistContext(r, w, r, torch.device("cpu"), "gloo") for r in range(w)]
        blocks = [c.clients(n) for c in ctxs]
        assert sorted(sum(blocks, [])) == list(range(n))
        assert all(b == list(range(b[0], b[-1] + 1)) for b in blocks)  # contiguous
        assert max(map(len, blocks)) - min(map(len, blocks)) <= 1  # balanced, none empty
        assert all(ctxs[0].owner(c, n) == r for r, b in enumerate(blocks) for c in b)


def test_torch_backend_outside_torchrun_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert main(["--backend", "torch", "--quiet", "--out", str(tmp_path), "--set", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --backend: must be 'torch' only under torchrun") and "\n" not in err


# --------------------------------------------------------------------------- equivalence


@pytest.mark.slow
def test_fl_and_decl_match_in_process_on_2_and_4_ranks(tmp_path: Path) -> None:
    local([*PAIR, "--out", str(tmp_path / "local")])
    for k in (2, 4):
        proc = torchrun(k, [*PAIR, "--out", str(tmp_path / f"ranks{k}")])
        assert proc.returncode == 0, proc.stderr[-3000:]
        for run in ("fl", "decl-abar3"):
            assert_same_run(tmp_path / f"ranks{k}" / run, tmp_path / "local" / run)
        assert (tmp_path / f"ranks{k}" / "index.json").exists()
    # the runs trained: the final models moved away from the initialisation
    ck = load_checkpoint(tmp_path / "ranks4" / "decl-abar3" / "checkpoint.pt")["state"]["algorithm"]["models"]
    assert ck.shape[0] == 4 and float((ck[0] - ck[2]).abs().max()) > 0


# --------------------------------------------------------------------------- faults, resume


@pytest.mark.slow
def test_dead_rank_stops_run_and_resume_on_other_rank_count_matches(tmp_path: Path) -> None:
    """Rank 1 dies at the start of round 1. Rank 0 learns it twice, at about the same moment:
    gloo's "connection closed" in its next collective and torchrun's SIGTERM. Whichever comes
    first, it prints one line and leaves with status 3, and the round-0 checkpoint is whole.
    Each rank's output is read from its own file (no interleaving through torchrun's streams)."""
    cut, logs = tmp_path / "cut", tmp_path / "logs"
    t0 = time.monotonic()
    proc = torchrun(2, [*PARTIAL, "--out", str(cut)], env={FAULT_RANK_ENV: "1", FAULT_ROUND_ENV: "1"}, timeout=90,
                    log_dir=logs)
    assert time.monotonic() - t0 < 90
    assert proc.returncode != 0
    err0, err1 = rank_stderr(logs, 0), rank_stderr(logs, 1)
    assert "fault hook: rank 1 exits at the start of round 1" in err1
    lines = [ln for ln in err0.splitlines() if ln.startswith("error: rank 0 of 2")]
    assert len(lines) == 1 and "a peer process failed or stopped answering" in lines[0] and "--resume" in lines[0], err0[-3000:]
    assert "Traceback" not in err0, err0[-3000:]
    assert rank_exitcodes(proc.stderr) == {0: 3, 1: 1}, proc.stderr[-3000:]  # rank 0 left through the one-line path
    assert load_checkpoint(cut / "checkpoint.pt")["round"] == 1  # round 0 was checkpointed
    assert not (cut / "summary.json").exists()
    shutil.copytree(cut, tmp_path / "cut-local")

    proc = torchrun(3, ["--resume", *PARTIAL, "--out", str(cut)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    local([*PARTIAL, "--out", str(tmp_path / "full")])
    assert_same_run(cut, tmp_path / "full")
    # The checkpoint of the 2-rank run has the in-process format: it resumes in-process too.
    # (The other direction is the same code: rank 0 reads the same format and broadcasts it.)
    local(["--resume", *PARTIAL, "--out", str(tmp_path / "cut-local")])
    assert_same_run(tmp_path / "cut-local", tmp_path / "full")

    ck = load_checkpoint(cut / "checkpoint.pt")
    # 2 clients in each of 3 rounds; round 0 has no bank yet and is not counted (issue 10)
    assert ck["state"]["pool"]["times_selected"].sum() == 2 * 2 and set(ck["state"]["pool"]["banks"]["previous"]) == {
        str(c) for c in read_jsonl(cut / "metrics.jsonl")[-1]["clients"]
    }


@pytest.mark.slow
def test_hung_rank_hits_the_timeout_and_every_rank_says_why(tmp_path: Path) -> None:
    """A rank that stops answering: the others' collective times out after --dist-timeout, they
    exit with status 3 and one line; torchrun then stops the hung rank (SIGTERM), which says so."""
    env = {FAULT_RANK_ENV: "1", FAULT_ROUND_ENV: "0", FAULT_MODE_ENV: "hang"}
    t0 = time.monotonic()
    args = ["--set", *TINY, "federation.rounds=1", "--dist-timeout", "3", "--out", str(tmp_path / "hang")]
    proc = torchrun(2, args, env=env, timeout=90)
    assert time.monotonic() - t0 < 90 and proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: rank ")]
    assert any(ln.startswith("error: rank 0 of 2") and "stopped answering" in ln for ln in errors), proc.stderr[-3000:]
    assert "exitcode: 3" in proc.stderr  # torchrun's report: rank 0 left through the clear-message path



def test_in_process_transport_is_the_identity_and_refuses_messages() -> None:
    """The single-process transport: sums and gathers are the local values, every client is
    local; a message to a peer rank (there is none) is an error, not silently dropped."""
    from empirical.transport import InProcess, Transport
    from theory.errors import ParameterError

    tr = InProcess()
    assert isinstance(tr, Transport) and isinstance(DistContext(0, 1, 0, torch.device("cpu"), "gloo"), Transport)
    t = torch.arange(3.0)
    assert tr.all_reduce_sum(t) is t and torch.equal(t, torch.arange(3.0))
    assert tr.all_gather({"a": 1}) == [{"a": 1}]
    assert tr.clients(5) == [0, 1, 2, 3, 4] and tr.owner(4, 5) == 0
    tr.exchange({}, {})
    with pytest.raises(ParameterError, match="exchange"):
        tr.exchange({1: [(0, t)]}, {})
