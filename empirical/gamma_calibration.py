"""python -m empirical.gamma_calibration: the scale of MAR's γ for the unbiased A-MMD estimator.

    python -m empirical.gamma_calibration --preset replicate-grid --run mar-iid-fl --scale smoke

Rule (written down in :data:`empirical.config.REPLICATE_GAMMA_MAX` and docs/empirical.md): γ_max
is the power of 10 nearest to ρ = ‖∇ recon‖ / ‖∇ A-MMD‖, the ratio of the gradient norms of the
two terms of Eq. 5 (with respect to all trainable parameters) at the start of local training on
IID data, so that at γ_max the alignment and reconstruction gradients have the same size; γ_min =
γ_max / 100 keeps the paper's ratio (Eq. 7, 1e-1 -> 1e-3). Measured on an IID cell only, never on
skewed ones.

Procedure: from the run's initial weights, client 0 trains one local epoch of plain MAE (γ = 0),
which makes its local model differ from the round's starting (global) model as it does during a
round; then on ``--batches`` fresh batches of client 0 both gradients are taken, z̄ being the
starting model's representation of the same masked batch (``method.global_repr =
"global-encoder"``). Prints the norms, ρ and the rule's γ_max as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from empirical.clients import PURPOSE_STEP, epoch_batches, keyed_generator
from empirical.config import SCALES, parse_overrides, resolve
from empirical.methods import MAE, MAR
from empirical.mmd import a_mmd
from theory.errors import ParameterError, require

__all__ = ["gradient_ratio", "gamma_max_rule", "main"]

_CALIBRATION_ROUND = 10_000  # a round index no training run reaches, so the draws are new ones


def _grad_norm(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads if g is not None))


def gradient_ratio(cfg: Any, batches: int = 4, client: int = 0) -> dict[str, Any]:
    """‖∇ recon‖, ‖∇ A-MMD‖ and their ratio (means over ``batches`` batches) for MAR config ``cfg``."""
    from empirical import engine

    require(cfg.method.name == "mar", "method.name", "'mar' (the calibration is for MAR's γ)", cfg.method.name)
    require(cfg.method.global_repr == "global-encoder", "method.global_repr", "'global-encoder'", cfg.method.global_repr)
    require(batches >= 1, "--batches", "an integer >= 1", batches)
    exp = engine.build(cfg)
    trainer = exp.trainer
    exp.set_weights(exp.initial)
    trainer.load_reference()  # z̄ model = the round's starting model
    trainer.optim_states.load(None)
    trainer.train(client, 0, 1, gamma=0.0)  # one local epoch of plain MAE: the local model drifts
    method = exp.method
    assert isinstance(method, MAR) and trainer.reference is not None
    params = [p for p in method.parameters() if p.requires_grad]
    n = int(trainer.data.sizes[client])
    order = keyed_generator(cfg.run.seed, "augmentation", client, _CALIBRATION_ROUND, 0, 0, 1)
    recon_norms, align_norms, aligns = [], [], []
    method.train()
    for step, positions in enumerate(epoch_batches(n, cfg.optim.batch_size, order)[:batches]):
        x = trainer.data.batch(client, positions)
        g = keyed_generator(cfg.run.seed, "masking", client, _CALIBRATION_ROUND, 0, step, PURPOSE_STEP)
        g_ref = torch.Generator(device=g.device)
        g_ref.set_state(g.get_state())
        with torch.no_grad():
            z_bar = trainer.reference.local_representation(x, g_ref)
        out = method.mae.forward_masked(x, g)
        recon = MAE.reconstruction_loss(out)
        align = a_mmd(method._z(out.pooled), z_bar, squared=method.squared, bandwidth_sample=method.bandwidth_sample)
        recon_norms.append(_grad_norm(recon, params))
        align_norms.append(_grad_norm(align, params))
        aligns.append(float(align.detach()))
    r, a = float(np.mean(recon_norms)), float(np.mean(align_norms))
    ratio = r / a if a > 0 else float("inf")
    return {
        "recon_grad_norm": r,
        "a_mmd_grad_norm": a,
        "a_mmd_value": float(np.mean(aligns)),
        "ratio": ratio,
        "batches": len(recon_norms),
        "gamma_max_rule": gamma_max_rule(ratio),
        "paper_gamma_max_share": 0.1 / ratio if math.isfinite(ratio) else 0.0,
    }


def gamma_max_rule(ratio: float) -> float:
    """The power of 10 nearest (in log scale) to ``ratio``."""
    require(ratio > 0 and math.isfinite(ratio), "ratio", "a finite number > 0", ratio)
    return float(10.0 ** round(math.log10(ratio)))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m empirical.gamma_calibration", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="replicate-grid")
    p.add_argument("--run", default="mar-iid-fl", help="run of the preset (an IID MAR cell)")
    p.add_argument("--scale", choices=SCALES, default="smoke")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    try:
        require(args.threads >= 1, "--threads", "an integer >= 1", args.threads)
        torch.set_num_threads(args.threads)
        runs = resolve(args.preset, args.scale, parse_overrides(args.overrides))
        key = next((k for k in runs if k.split("/")[-1] == args.run), None)
        require(key is not None, "--run", "a run of the preset: " + ", ".join(k.split("/")[-1] for k in runs), args.run)
        require("iid" in args.run, "--run", "an IID cell (γ is never calibrated on skewed data)", args.run)
        assert key is not None
        out = gradient_ratio(runs[key], args.batches)
        print(json.dumps({"preset": args.preset, "run": args.run, "scale": args.scale, **out}, indent=2))
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
