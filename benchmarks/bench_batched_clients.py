"""Feasibility of batched clients (issue 12, part 3; design in docs/distributed.md): K clients'
backbone forward + backward, one after another vs as one ``torch.func.vmap`` over stacked
parameters.

    python benchmarks/bench_batched_clients.py [--arch resnet18|vit] [--clients 20] [--steps 3]
        [--batch-size 32] [--threads 1] [--repeats 3] [--device cpu|cuda]

This times only what batching changes: the model's compute. Each of K clients takes ``--steps``
steps of loss = mean(features²) on its own batch of 28x28 one-channel inputs, backward, and a
plain SGD update of its own parameters (lr 1e-3), for

* ``sequential``: one module, each client's flat weights loaded in turn (as the engine does);
* ``vmap``: ``vmap(grad(functional_call))`` over (K, ...) stacked parameters and (K, ...)
  stacked BatchNorm buffers (so BN normalises with each client's own batch statistics and
  updates each client's own running statistics in place).

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
        grads = g(params, buffers, x[:, s])
        with torch.no_grad():
            for n in params:
                params[n].sub_(LR * grads[n])
    return params


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


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_batched_clients.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="resnet18", choices=("resnet18", "vit"))
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = _model(args.arch).to(args.device).train()
    x = _inputs(args.clients, args.steps, args.batch_size, args.device)
    load0 = os.getloadavg()[0]
    rows: dict[str, list[tuple[float, float]]] = {"sequential": [], "vmap": []}
    results = {}
    batched(model, x[:, :1])  # warm-up
    for _ in range(args.repeats):
        for name, fn in (("sequential", sequential), ("vmap", batched)):
            wall, cpu, out = _time(fn, model, x)
            rows[name].append((wall, cpu))
            results[name] = out
    diff = max(float((results["sequential"][n] - results["vmap"][n]).abs().max()) for n in results["vmap"])
    print(f"{args.arch}, K = {args.clients} clients x {args.steps} steps, batch {args.batch_size}, {args.threads} thread(s), "
          f"device {args.device}; load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after; torch {torch.__version__}")  # fmt: skip
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
    for name, (w, c) in med.items():
        print(f"  {name:10s} wall {w:7.3f} s   CPU {c:7.3f} s   ({args.clients * args.steps * args.batch_size / w:8.1f} images/s wall)")
    wall_x = med['sequential'][0] / med['vmap'][0]
    cpu_x = med['sequential'][1] / med['vmap'][1]
    print(f"  speed-up (sequential / vmap): wall {wall_x:.2f}x, CPU {cpu_x:.2f}x")
    print(f"  max |Δ| of the final parameters, sequential vs vmap: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
