"""empirical.gamma_calibration: the γ rule from the method's own loss, with replicate uncertainty."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_runs import tiny  # tests/tiny_runs.py (tests/ is on sys.path under pytest)

from empirical import engine
from empirical.gamma_calibration import _CALIBRATION_ROUND, gradient_ratio, main, rule_over_replicates
from empirical.methods import MAE
from empirical.mmd import a_mmd


def test_rule_is_decided_only_when_the_interval_stays_in_one_rounding_cell() -> None:
    tight = rule_over_replicates([0.20, 0.21, 0.19, 0.205])  # log10 ≈ -0.69 ± 0.01
    assert tight["verdict"] == "DECIDED" and tight["gamma_max"] == 0.1
    near = rule_over_replicates([0.28, 0.35, 0.30, 0.33])  # log10 ρ around -0.5, the 0.1 | 1 boundary
    assert near["verdict"] == "INCONCLUSIVE" and near["candidates"] == [0.1, 1.0]
    one = rule_over_replicates([0.2])
    assert one["verdict"] == "INCONCLUSIVE" and "replicates" in one["to_resolve"]
    with pytest.raises(Exception, match="ratios"):
        rule_over_replicates([0.2, -1.0])


def test_alignment_gradient_equals_the_a_mmd_term_taken_directly() -> None:
    # independent computation of ‖∇ A-MMD‖ on the calibration's first batch: the MAE forward and the
    # A-MMD of Eq. 5 written out here, against the difference of Eq. 5 at γ = 1 and γ = 0
    cfg = tiny(method__name="mar", method__global_repr="global-encoder")
    out = gradient_ratio(cfg, batches=1)
    exp = engine.build(cfg)
    trainer, method = exp.trainer, exp.method
    exp.set_weights(exp.initial)
    trainer.load_reference()
    trainer.optim_states.load(None)
    trainer.train(0, 0, 1, gamma=0.0)
    from empirical.clients import PURPOSE_STEP, epoch_batches, keyed_generator

    order = keyed_generator(cfg.run.seed, "augmentation", 0, _CALIBRATION_ROUND, 0, 0, 1)
    x = trainer.data.batch(0, epoch_batches(int(trainer.data.sizes[0]), cfg.optim.batch_size, order)[0])
    g = keyed_generator(cfg.run.seed, "masking", 0, _CALIBRATION_ROUND, 0, 0, PURPOSE_STEP)
    g_ref = torch.Generator()
    g_ref.set_state(g.get_state())
    with torch.no_grad():
        z_bar = trainer.reference.local_representation(x, g_ref)
    masked = method.mae.forward_masked(x, g)
    params = [p for p in method.parameters() if p.requires_grad]
    align = a_mmd(method._z(masked.pooled), z_bar, squared=method.squared, bandwidth_sample=method.bandwidth_sample)
    recon = MAE.reconstruction_loss(masked)
    norm = lambda loss: math.sqrt(sum(float(t.pow(2).sum()) for t in torch.autograd.grad(  # noqa: E731
        loss, params, retain_graph=True, allow_unused=True) if t is not None))
    assert out["a_mmd_grad_norm"] == pytest.approx(norm(align), rel=1e-4)
    assert out["recon_grad_norm"] == pytest.approx(norm(recon), rel=1e-5)
    assert out["ratio"] == pytest.approx(norm(recon) / norm(align), rel=1e-4)


def test_cli_reports_the_rule_with_its_replicates(capsys) -> None:
    base = ["--preset", "replicate-grid", "--run", "mar-iid-fl", "--scale", "smoke", "--batches", "1",
            "--set", "data.max_train=400", "model.resnet_width=4", "partition.min_size=8"]
    assert main([*base, "--replicates", "2"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert len(out["replicates"]) == 2 and out["rule"]["log10_ratio"]["n"] == 2
    assert out["rule"]["verdict"] in ("DECIDED", "INCONCLUSIVE")
    assert main([*base, "--replicates", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
