"""Batched clients (issue 12; docs/distributed.md): one FL round of K clients through the real
engine, ``federation.batched_clients`` false vs true; and (``--mode backbone``) the backbone alone.

    python benchmarks/bench_batched_clients.py [--mode engine|backbone] [--arch resnet18|vit]
        [--method mae|simsiam|mar] [--clients 20] [--threads 1] [--repeats 3] [--device cpu|cuda]
        [--profile]

``--mode engine`` (default): MNIST (``data/mnist.npz``, 8,000 training images), the smoke
scale's width-8 ResNet-18 or 2-block width-32 ViT, K clients (IID, full participation, one
local epoch of batch 32: about 12 steps each), FedAvg. Both engines are built (not timed) from
the same config; one warm-up round each, whose global weights are compared (max and mean |Δ|);
then ``--repeats`` alternating timed rounds (round 0's learning rate each time), median wall
and CPU time (``time.process_time``, all threads) and the load average are printed.
``--profile``: one more round of each under ``torch.profiler``, the top operators by self CPU
time (where the time goes).

``--mode backbone`` times only the model's compute. Each of K clients takes ``--steps``
steps of loss = mean(features²) on its own batch of 28x28 one-channel inputs, backward, and a
plain SGD update of its own parameters (lr 1e-3), for

* ``sequential``: one module, each client's flat weights loaded in turn (as the engine does);
* ``vmap``: ``vmap(grad(functional_call))`` (attention in its composite form, as the engine)
  over (K, ...) stacked parameters and (K, ...)
  stacked BatchNorm buffers (so BN normalises with each client's own batch statistics and
  updates each client's own running statistics in place);
* ``one model``: the ceiling of any batching: ONE model's forward + backward on all K·B
  images of a step at once (the same FLOPs in ungrouped kernels; not K clients, no update).

It also reports max |Δ| between the two paths' final parameters (float32 summation order only).
Not timed here: the SSL losses (masking/augmentation draws would be made per client outside
the vmap) and the optimiser (AdamW on a (K, P) flat tensor is elementwise). Wall and CPU time
(``time.process_time``) and the load average are printed; the median of ``--repeats`` is used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from empirical import engine
from empirical.config import resolve
from empirical.models import ViTEncoder, resnet18_cifar, vit_tiny_for

LR = 1e-3


def _model(arch: str) -> nn.Module:
    torch.manual_seed(0)
    if arch == "resnet18":
        return resnet18_cifar(1, width=8)
    return ViTEncoder(vit_tiny_for(28, 1, size="smoke"))


def _inputs(k: int, steps: int, b: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(k, steps, b, 1, 28, 28, generator=g).to(device)  # (K, S, B, 1, 28, 28)


def sequential(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    k, steps = x.shape[:2]
    start = {n: t.detach().clone() for n, t in model.state_dict().items()}
    out: dict[str, list[torch.Tensor]] = {n: [] for n, _ in model.named_parameters()}
    for c in range(k):
        model.load_state_dict(start)
        for s in range(steps):
            model.zero_grad(set_to_none=True)
            loss = model.features(x[c, s]).pow(2).mean()
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p.sub_(LR * p.grad)
        for n, p in model.named_parameters():
            out[n].append(p.detach().clone())
    model.load_state_dict(start)
    return {n: torch.stack(v) for n, v in out.items()}


def batched(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    k, steps = x.shape[:2]
    params = {n: p.detach()[None].repeat(k, *[1] * p.dim()).clone() for n, p in model.named_parameters()}  # (K, ...)
    buffers = {n: b.detach()[None].repeat(k, *[1] * b.dim()).clone() for n, b in model.named_buffers()}  # (K, ...)

    def loss_fn(p: dict[str, torch.Tensor], bufs: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return _features_call(model, p, bufs, xb).pow(2).mean()

    g = vmap(grad(loss_fn), in_dims=(0, 0, 0))
    for s in range(steps):
        with sdpa_kernel(SDPBackend.MATH):  # as empirical/batched.py: the fused kernel has no batching rule
            grads = g(params, buffers, x[:, s])
        with torch.no_grad():
            for n in params:
                params[n].sub_(LR * grads[n])
    return params


def one_model(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """One model, each step's K·B images as one batch (the speed ceiling of batching)."""
    k, steps = x.shape[:2]
    for s in range(steps):
        model.zero_grad(set_to_none=True)
        model.features(x[:, s].reshape(-1, *x.shape[3:])).pow(2).mean().backward()
    return {}


def _features_call(model: nn.Module, p: dict[str, torch.Tensor], bufs: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
    """``model.features(xb)`` with parameters ``p`` and buffers ``bufs`` swapped in."""

    class _F(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.m.features(x)

    wrapped = _WRAPPERS.setdefault(id(model), _F())
    return functional_call(wrapped, ({f"m.{n}": t for n, t in p.items()}, {f"m.{n}": t for n, t in bufs.items()}), (xb,))


_WRAPPERS: dict[int, nn.Module] = {}


def _time(fn, *args) -> tuple[float, float, object]:  # noqa: ANN001
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    if args and isinstance(args[-1], torch.Tensor) and args[-1].is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0, out


def engine_config(args: argparse.Namespace, batched: bool):  # noqa: ANN201
    over = {
        "data.name": "mnist",
        "data.max_train": 0,
        "data.test_fraction": 0.2,
        "partition.kind": "iid",
        "partition.n_clients": args.clients,
        "partition.min_size": 16,
        "model.arch": args.arch,
        "model.resnet_width": 8,
        "method.name": args.method,
        "federation.framework": "fl",
        "federation.client_fraction": 1.0,
        "federation.local_epochs": 1,
        "federation.rounds": 1,
        "federation.batched_clients": batched,
        "optim.batch_size": args.batch_size,
        "eval.knn_every": 0,
        "eval.probe": "none",
        "run.device": args.device,
    }
    return resolve(None, "smoke", over)["default"]


def _round(exp: engine.Experiment) -> tuple[float, float, dict]:
    t0, c0 = time.perf_counter(), time.process_time()
    record = engine.run_round(exp, 0)
    if exp.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0, record


def engine_main(args: argparse.Namespace) -> int:
    exps = {name: engine.build(engine_config(args, name == "batched")) for name in ("sequential", "batched")}
    warm = {name: _round(exp) for name, exp in exps.items()}
    a, b = (exps[n].algorithm.final_model() for n in ("sequential", "batched"))
    diff = (a - b).abs()
    moved = float((a - exps["sequential"].initial).abs().mean())
    steps = warm["sequential"][2]["steps"]
    assert steps == warm["batched"][2]["steps"], "the two engines took different step counts"
    load0 = os.getloadavg()
    rows: dict[str, list[tuple[float, float]]] = {"sequential": [], "batched": []}
    for _ in range(args.repeats):
        for name, exp in exps.items():
            rows[name].append(_round(exp)[:2])
    load1 = os.getloadavg()
    cfg = exps["batched"].cfg
    model = f"ResNet-18 width {cfg.model.resnet_width}" if args.arch == "resnet18" else (
        f"ViT width {cfg.model.vit_width} depth {cfg.model.vit_depth}")
    print(f"one FL round: {args.method} {model}, MNIST, K = {args.clients} clients (full participation, 1 local epoch, "
          f"batch {args.batch_size}), {steps} steps in all; {args.threads} thread(s), device {args.device}, torch {torch.__version__}; "
          f"median of {args.repeats}; load average (1, 5, 15 min) {' '.join(f'{x:.2f}' for x in load0)} before, "
          f"{' '.join(f'{x:.2f}' for x in load1)} after; {os.cpu_count()} CPUs")  # fmt: skip
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
    for name, (w, c) in med.items():
        print(f"  {name:10s} wall {w:7.2f} s   CPU {c:7.2f} s   ({steps * args.batch_size / w:7.1f} images/s wall)")
    print(f"  speed-up (sequential / batched): wall {med['sequential'][0] / med['batched'][0]:.2f}x, "
          f"CPU {med['sequential'][1] / med['batched'][1]:.2f}x")
    print(f"  global weights after one round, sequential vs batched: max |Δ| {float(diff.max()):.2e}, mean |Δ| {float(diff.mean()):.2e}"
          f" ({float(diff.mean()) / moved:.1e} of the mean movement {moved:.2e})")  # fmt: skip
    if args.profile:
        for name, exp in exps.items():
            _profile(name, exp)
    return 0


def _profile(name: str, exp: engine.Experiment) -> None:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if exp.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        _round(exp)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:12]
    print(f"  profile, {name}: self CPU time {total / 1e6:.2f} s in all; top operators:")
    for e in top:
        share = 100 * e.self_cpu_time_total / total
        print(f"    {e.key[:48]:48s} {e.self_cpu_time_total / 1e6:7.2f} s  {share:5.1f} %  {e.count:7d} calls")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_batched_clients.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", default="engine", choices=("engine", "backbone"))
    p.add_argument("--arch", default="resnet18", choices=("resnet18", "vit"))
    p.add_argument("--method", default="mae", choices=("mae", "simsiam", "mar"), help="engine mode: SSL method (default mae)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--steps", type=int, default=3, help="backbone mode: steps per client")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", action="store_true", help="engine mode: profile one more round of each")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.mode == "engine":
        return engine_main(args)
    model = _model(args.arch).to(args.device).train()
    x = _inputs(args.clients, args.steps, args.batch_size, args.device)
    load0 = os.getloadavg()[0]
    rows: dict[str, list[tuple[float, float]]] = {"sequential": [], "vmap": [], "one model": []}
    results = {}
    batched(model, x[:, :1])  # warm-up
    for _ in range(args.repeats):
        for name, fn in (("sequential", sequential), ("vmap", batched), ("one model", one_model)):
            wall, cpu, out = _time(fn, model, x)
            rows[name].append((wall, cpu))
            results[name] = out
    diff = max(float((results["sequential"][n] - results["vmap"][n]).abs().max()) for n in results["vmap"])
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    print(f"{args.arch}, K = {args.clients} clients x {args.steps} steps, batch {args.batch_size}, {args.threads} thread(s), "
          f"device {args.device}; load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after; torch {torch.__version__}")  # fmt: skip
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
    for name, (w, c) in med.items():
        print(f"  {name:10s} wall {w:7.3f} s   CPU {c:7.3f} s   ({args.clients * args.steps * args.batch_size / w:8.1f} images/s wall)")
    wall_x = med['sequential'][0] / med['vmap'][0]
    cpu_x = med['sequential'][1] / med['vmap'][1]
    print(f"  speed-up (sequential / vmap): wall {wall_x:.2f}x, CPU {cpu_x:.2f}x; sequential / one model (the ceiling): "
          f"wall {med['sequential'][0] / med['one model'][0]:.2f}x, CPU {med['sequential'][1] / med['one model'][1]:.2f}x")  # fmt: skip
    print(f"  max |Δ| of the final parameters, sequential vs vmap: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
