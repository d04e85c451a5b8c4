"""python -m empirical.gamma_calibration: the scale of MAR's γ for the unbiased A-MMD estimator.

    python -m empirical.gamma_calibration --preset replicate-grid --run mar-iid-fl --scale smoke --replicates 5

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
"global-encoder"``). Both gradients come from the method's own Eq. 5 (``MAR.loss_prepared`` on
the same drawn masks, at γ = 0 and γ = 1: ∇ A-MMD is their difference), so the calibration
cannot drift from the loss it calibrates.

Uncertainty: ``--replicates R`` repeats the procedure with ``run.seed`` and ``data.seed`` + r (as
``empirical.run --replicates`` does) and gives log10 ρ as mean ± SE with its 95 % t interval. The
rule's γ_max is DECIDED only when that interval stays within one rounding cell (k - ½, k + ½) of
log10 ρ; otherwise the output says INCONCLUSIVE and names the two candidate values. Prints JSON:
``rule`` (from all replicates) and ``replicates`` (each one's norms, ρ and single-draw γ_max).
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
from empirical.intervals import mean_interval
from empirical.methods import MAR
from empirical.run import replicate_runs
from theory.errors import ParameterError, require

__all__ = ["gradient_ratio", "gamma_max_rule", "rule_over_replicates", "main"]

_CALIBRATION_ROUND = 10_000  # a round index no training run reaches, so the draws are new ones


def _grads(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


def _norm(tensors: Sequence[torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.pow(2).sum()) for t in tensors))


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
        prepared = method.prepare(x, g)  # one draw of masks for both terms
        recon, _ = method.loss_prepared(prepared, z_bar, 0.0)  # Eq. 5 at γ = 0: the reconstruction term
        both, metrics = method.loss_prepared(prepared, z_bar, 1.0)  # at γ = 1: recon + A-MMD
        g_recon, g_both = _grads(recon, params), _grads(both, params)
        recon_norms.append(_norm(g_recon))
        align_norms.append(_norm([b - r for b, r in zip(g_both, g_recon)]))
        aligns.append(float(metrics["a_mmd"]))
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


def rule_over_replicates(ratios: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """The γ_max rule from ρ measured on independent replicates: log10 ρ as mean ± SE [t interval];
    DECIDED when the interval lies inside one rounding cell (k - ½, k + ½), else INCONCLUSIVE
    (with one replicate there is no interval, so never DECIDED)."""
    require(len(ratios) >= 1 and all(r > 0 and math.isfinite(r) for r in ratios), "ratios",
            "finite numbers > 0", list(ratios))
    iv = mean_interval([math.log10(r) for r in ratios], level)
    k = round(iv.mean)
    decided = iv.n >= 2 and k - 0.5 < iv.lo and iv.hi < k + 0.5
    out: dict[str, Any] = {"log10_ratio": iv.to_dict(), "ratios": list(ratios), "gamma_max": float(10.0 ** k)}
    if decided:
        out["verdict"] = "DECIDED"
    else:
        lo_k, hi_k = (round(iv.lo), round(iv.hi)) if iv.n >= 2 else (k, k)
        out["verdict"] = "INCONCLUSIVE"
        out["candidates"] = sorted({float(10.0 ** j) for j in range(lo_k, hi_k + 1)} | {float(10.0 ** k)})
        out["to_resolve"] = ("more replicates (--replicates): the interval of log10 ρ crosses a rounding boundary "
                             "k ± 1/2" if iv.n >= 2 else "--replicates 2 or more: one replicate has no interval")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m empirical.gamma_calibration", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="replicate-grid")
    p.add_argument("--run", default="mar-iid-fl", help="run of the preset (an IID MAR cell)")
    p.add_argument("--scale", choices=SCALES, default="smoke")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--replicates", type=int, default=1,
                   help="independent replicates (run.seed and data.seed + r); the rule is DECIDED only beyond their noise")
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
        require(args.replicates >= 1, "--replicates", "an integer >= 1", args.replicates)
        reps = replicate_runs({key: runs[key]}, args.replicates) if args.replicates > 1 else {key: runs[key]}
        per_rep = []
        for i, cfg in enumerate(reps.values()):
            per_rep.append(gradient_ratio(cfg, args.batches))
            print(f"replicate {i + 1}/{len(reps)}: ρ = {per_rep[-1]['ratio']:.4g}", file=sys.stderr, flush=True)
        # one rule from all replicates; each replicate's own measurement (and its single-draw
        # gamma_max_rule) only in the list, so no top-level γ_max can contradict the rule's
        out = {"preset": args.preset, "run": args.run, "scale": args.scale,
               "rule": rule_over_replicates([r["ratio"] for r in per_rep]), "replicates": per_rep}
        print(json.dumps(out, indent=2))
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
