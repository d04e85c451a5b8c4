"""Overhead of the simulated FL engine over plain training of one model on the same steps.

    python benchmarks/bench_fl_overhead.py [--method mae] [--clients 10] [--fraction 0.5]
        [--local-epochs 2] [--rounds 4] [--batch-size 32] [--repeats 3] [--threads 1]

Both sides train the same model (built by :func:`empirical.engine.build`) with the same
optimiser and batch size for the same number of steps on the same images:

* FL: ``FedAvg.run_round`` for every round (client sampling, loading the global weights and the
  client's optimiser state into the working model, keyed generators, reading the weights out,
  weighted averaging); optionally plus an atomic checkpoint every round;
* centralised: one model, one optimiser, one generator, random batches of the whole training
  set, the number of steps FL made.

No evaluation on either side (``eval.knn_every=0`` and ``run_round`` called directly, so the
final probe of :func:`empirical.engine.summarise` is never run); the engine is built before the
clock starts on both sides. Runs alternate (FL, centralised, FL, ...) and the median of
``--repeats`` is reported. Each run records its wall time and its CPU time
(``time.process_time``, all threads of the process): on a machine shared with other jobs the
wall time measures the load as much as the engine, while the CPU time of a single-threaded
run is the work done, so both overheads are printed, with the load average. The target is an
overhead of at most 15 % (wall time on an otherwise idle machine; CPU time otherwise).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from empirical import engine
from empirical.checkpoint import save_checkpoint
from empirical.config import resolve


def _config(args: argparse.Namespace):
    over = {
        "data.name": args.dataset,
        "method.name": args.method,
        "partition.n_clients": args.clients,
        "federation.client_fraction": args.fraction,
        "federation.local_epochs": args.local_epochs,
        "federation.rounds": args.rounds,
        "optim.batch_size": args.batch_size,
        "eval.knn_every": 0,
        "eval.probe": "none",
    }
    return resolve(None, "smoke", over)["default"]


def run_fl(cfg, checkpoint: bool) -> tuple[float, float, int]:
    """(wall s, CPU s, steps) of ``cfg.federation.rounds`` FedAvg rounds."""
    exp = engine.build(cfg)
    steps = 0
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        for rnd in range(cfg.federation.rounds):
            steps += engine.run_round(exp, rnd)["steps"]
            if checkpoint:
                save_checkpoint(Path(tmp) / "checkpoint.pt", {"round": rnd + 1, "state": exp.checkpoint_state(), "records": []})
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, steps


def count_fl_steps(cfg) -> int:
    """Steps of the FL run, from the same sampling and batching rules (no training)."""
    from empirical.fl import clients_per_round, sample_clients

    exp_sizes = engine.prepare_data(cfg, torch.device("cpu")).clients.sizes
    n, b = len(exp_sizes), cfg.optim.batch_size
    k = clients_per_round(n, cfg.federation.client_fraction)
    total = 0
    for rnd in range(cfg.federation.rounds):
        for c in sample_clients(cfg.run.seed, rnd, n, k):
            size = int(exp_sizes[c])
            total += cfg.federation.local_epochs * (1 if size < b else size // b)
    return total


def run_central(cfg, steps: int) -> tuple[float, float]:
    """(wall s, CPU s) of ``steps`` steps of one model on random batches of all client images."""
    exp = engine.build(cfg)
    model, opt = exp.method, exp.optimizer
    images = exp.data.clients.images
    g = torch.Generator().manual_seed(0)
    model.train()
    b = cfg.optim.batch_size
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        idx = torch.randint(images.shape[0], (b,), generator=g)
        loss, _ = model.loss(images.index_select(0, idx), g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_fl_overhead.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="digits or mnist (default digits)")
    p.add_argument("--method", default="mae", choices=("mae", "simsiam", "mar"), help="SSL method (default mae)")
    p.add_argument("--clients", type=int, default=10, help="number of clients N (default 10)")
    p.add_argument("--fraction", type=float, default=0.5, help="clients sampled per round (default 0.5)")
    p.add_argument("--local-epochs", type=int, default=2, help="local epochs per round (default 2)")
    p.add_argument("--rounds", type=int, default=4, help="communication rounds (default 4)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    p.add_argument("--repeats", type=int, default=3, help="alternating repetitions; the median is reported (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = _config(args)
    steps = count_fl_steps(cfg)
    _, _, actual = run_fl(cfg, checkpoint=False)  # warm-up, and a check of the step count
    assert actual == steps, (actual, steps)
    load_before = os.getloadavg()
    runs: dict[str, list[tuple[float, float]]] = {"fl": [], "fl+ckpt": [], "central": []}
    for _ in range(args.repeats):
        runs["fl"].append(run_fl(cfg, checkpoint=False)[:2])
        runs["central"].append(run_central(cfg, steps))
        runs["fl+ckpt"].append(run_fl(cfg, checkpoint=True)[:2])
    load_after = os.getloadavg()
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    print(
        f"FL overhead: {args.method} ViT (smoke) on {args.dataset}, N={args.clients}, fraction {args.fraction}, "
        f"{args.local_epochs} local epochs, {args.rounds} rounds, batch {args.batch_size}, {steps} steps, "
        f"{args.threads} thread(s), median of {args.repeats}"
    )
    print(f"load average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs")
    head = f"{'setting':36s} {'wall s':>8s} {'overhead':>9s} {'CPU s':>8s} {'CPU ms/step':>11s} {'overhead':>9s}"
    print(head)
    print("-" * len(head))
    rows = (
        ("centralised (one model, same steps)", "central"),
        ("FL (FedAvg engine)", "fl"),
        ("FL + atomic checkpoint every round", "fl+ckpt"),
    )
    for name, key in rows:
        ow = 100.0 * (wall[key] - wall["central"]) / wall["central"]
        oc = 100.0 * (cpu[key] - cpu["central"]) / cpu["central"]
        print(f"{name:36s} {wall[key]:8.2f} {ow:8.1f}% {cpu[key]:8.2f} {1000 * cpu[key] / steps:11.1f} {oc:8.1f}%")
    print("target: FL overhead <= 15% (wall time on an idle machine; CPU time when the machine is shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
