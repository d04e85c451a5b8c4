"""CUDA checks (marker ``cuda``; every test skips where ``torch.cuda.is_available()`` is False).

Run on a GPU machine with ``pytest -m cuda`` (``scripts/gpu_check.sh`` does, carrying only
``data/mnist.npz``). Never run on the CPU-only CI machine: there they are reported as skipped.

Tolerance (CUDA round vs CPU round). The keyed generators are CPU generators, so both devices
draw the same masks, views and batches; the devices differ only in kernels (reduction orders,
cuDNN algorithms). TF32 is switched off for the comparison (on by default for cuDNN
convolutions on Ampere and newer, which would change the precision, not just the order).
As in tests/test_distributed.py, AdamW's division by sqrt(v̂) + 1e-8 turns ulp-level gradient
differences on near-zero coordinates into differences of up to about one learning rate, so
after one round we require max |Δ| <= 2·lr and mean |Δ| <= 1e-5 over the flat model, and equal
step counts and client samples. Not yet measured on a GPU (none lent so far).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_runs import TINY  # tests/tiny_runs.py (tests/ is on sys.path under pytest)

from empirical import engine
from empirical.config import resolve

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO / "data" / "mnist.npz"

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)"),
]

# The shared tiny run (tests/tiny_runs.py) on MNIST, a little larger, one round, with a ResNet width
SMALL = {
    **TINY,
    "data.name": "mnist",
    "data.root": str(MNIST),
    "data.max_train": 512,
    "model.vit_width": 32,
    "model.vit_depth": 2,
    "model.resnet_width": 8,
    "method.decoder_width": 32,
    "federation.rounds": 1,
}


def _cfg(**over: object):
    return resolve(None, "smoke", {**SMALL, **over})["default"]


@pytest.fixture
def no_tf32():
    prev = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = prev


@pytest.mark.parametrize("arch", ["vit", "resnet18"])
@pytest.mark.parametrize("method", ["mae", "simsiam", "mar"])
def test_forward_backward_on_cuda(method: str, arch: str) -> None:
    """Every method x backbone: a loss on cuda, finite, with a finite gradient on every trained
    parameter that the loss reaches."""
    cfg = _cfg(**{"method.name": method, "model.arch": arch})
    model = engine.build_method(cfg, 1, 28).cuda()
    x = torch.randn(8, 1, 28, 28, device="cuda")
    g = torch.Generator().manual_seed(0)
    loss, _ = model.loss(x, g)
    assert loss.device.type == "cuda" and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)


@pytest.mark.parametrize("framework", ["fl", "decl"])
def test_one_round_on_cuda_equals_the_cpu_round(framework: str, no_tf32: None) -> None:
    """One FedMAR/DecMAR round of a ViT on cuda and on the CPU: same clients and steps, models
    within the tolerance of the module docstring."""
    over = {
        "method.name": "mar",
        "model.arch": "vit",
        "federation.framework": framework,
        "federation.client_fraction": 1.0,
        "decentralised.graph": "ring",
    }
    runs = {}
    for dev in ("cpu", "cuda"):
        exp = engine.build(_cfg(**over, **{"run.device": dev}))
        report = exp.algorithm.run_round(0)
        runs[dev] = (report["clients"], report["steps"], exp.algorithm.final_model().cpu())
    (ca, sa, xa), (cb, sb, xb) = runs["cpu"], runs["cuda"]
    assert (ca, sa) == (cb, sb)
    lr = exp.optimizer.param_groups[0]["initial_lr"]  # AdamW's lr = base_lr · B / 256
    diff = (xa - xb).abs()
    assert diff.max() <= 2 * lr and diff.mean() <= 1e-5, (float(diff.max()), float(diff.mean()))
