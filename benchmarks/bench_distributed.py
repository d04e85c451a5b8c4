"""Wall time of one FL round: in-process vs the torch.distributed backend on 1 and 2 gloo processes.

    python benchmarks/bench_distributed.py [--clients 8] [--rounds 6] [--nprocs 1,2] [--threads 1]
        [--framework fl|decl] [--repeats 2]

Every configuration is the smoke-scale default (digits, 2-block width-32 ViT, MAE, batch 32,
one local epoch) with all clients training every round and no evaluation during training. It
runs as a real command (``python -m empirical.run`` for "local", ``torchrun --standalone
--nproc-per-node=K -m empirical.run --backend torch`` otherwise), one intra-op thread per
process. The round time is rank 0's ``wall_time_s`` of rounds 1..R-1 (round 0 is warm-up;
process start, data preparation and the final evaluation are excluded). The cases run
``--repeats`` times in alternating order, and the table gives the median and the range of
the round times over all repeats, plus the median wall time of the whole command. Machine,
date and load average are printed with it: on a shared machine other load changes the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _command(backend: str, nproc: int, out: Path, args: argparse.Namespace) -> list[str]:
    sets = [
        f"partition.n_clients={args.clients}",
        f"federation.rounds={args.rounds}",
        "federation.client_fraction=1.0",
        f"federation.framework={args.framework}",
        "eval.knn_every=0",
        "eval.probe=none",
    ]
    if args.framework == "decl":
        sets.append("decentralised.graph=ring")
    tail = ["-m", "empirical.run", "--quiet", "--threads", str(args.threads), "--out", str(out), "--set", *sets]
    if backend == "local":
        return [sys.executable, *tail]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return [*launch, *tail, "--backend", "torch"]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--nprocs", default="1,2", help="comma-separated process counts for --backend torch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--framework", choices=("fl", "decl"), default="fl")
    args = p.parse_args(argv)
    cases = [("local", 1)] + [("torch", int(k)) for k in args.nprocs.split(",")]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print(f"date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}")
    print(f"machine: {os.cpu_count()} logical CPUs (nproc), {_cpu_model()}, {platform.system()} {platform.release()}")
    print(f"load average before: {_load()}")
    rounds: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
    totals: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
    commands: dict[tuple[str, int], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for backend, k in cases if rep % 2 == 0 else cases[::-1]:
                out = Path(tmp) / f"{backend}{k}-{rep}"
                cmd = _command(backend, k, out, args)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
                totals[backend, k].append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    print(proc.stderr[-3000:], file=sys.stderr)
                    return 1
                records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
                rounds[backend, k] += [r["wall_time_s"] for r in records[1:]]
                commands[backend, k] = " ".join(cmd[1:]).replace(str(out), "OUT")
    rows = [
        (b, k, statistics.median(rounds[b, k]), min(rounds[b, k]), max(rounds[b, k]), statistics.median(totals[b, k]), commands[b, k])
        for b, k in cases
    ]
    print(f"load average after: {_load()}")
    print(
        f"config: smoke default, {args.framework}, {args.clients} clients all training each round, {args.rounds} rounds "
        f"(round 0 not timed), {args.repeats} repeats, {args.threads} thread(s) per process"
    )
    base = rows[0][2]
    head = f"{'backend':8s} {'procs':>5s} {'round s (median)':>17s} {'min':>7s} {'max':>7s} {'speed-up':>8s} {'command s':>9s}"
    print(head)
    print("-" * len(head))
    for backend, k, med, lo, hi, total, _ in rows:
        print(f"{backend:8s} {k:5d} {med:17.3f} {lo:7.3f} {hi:7.3f} {base / med:8.2f} {total:9.1f}")
    print("commands:")
    for backend, k, *_, cmd in rows:
        print(f"  {backend} x{k}: python {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
