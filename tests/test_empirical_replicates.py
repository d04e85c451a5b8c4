"""Replicated experiments (issue 10): interval arithmetic, verdicts, the grid statistics, the
noise-floor control pair, optimiser-state reset, MAR's round-0 γ, replicate seeds, balanced
Dirichlet sizes and the class-direction retention bridge. CPU only, seconds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tiny_runs import tiny as shared_tiny

from empirical import engine
from empirical.config import resolve
from empirical.evaluate import class_direction_retention, class_mean_representability
from empirical.grid_stats import analyse
from empirical.intervals import correlation_interval, mean_interval, verdict
from empirical.partition import dirichlet_partition, partition_stats
from empirical.run import replicate_runs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

def tiny(**over: Any) -> Any:
    """The shared tiny run (tests/tiny_runs.py) with 2 rounds."""
    return shared_tiny(**{"federation__rounds": 2, **over})


# --------------------------------------------------------------------------- intervals


def test_mean_interval_known_values() -> None:
    iv = mean_interval([1.0, 2.0, 3.0])
    assert iv.mean == 2.0 and iv.n == 3
    assert iv.se == pytest.approx(1.0 / math.sqrt(3.0), rel=1e-12)
    half = 4.302652729911275 * (1.0 / math.sqrt(3.0))  # t_{2, 0.975}
    assert (iv.lo, iv.hi) == (pytest.approx(2.0 - half, rel=1e-9), pytest.approx(2.0 + half, rel=1e-9))
    five = mean_interval([0.1, 0.3, 0.2, 0.4, 0.5])  # mean 0.3, sd 0.158114, t_{4,0.975} = 2.776445
    assert five.hi - five.mean == pytest.approx(2.7764451051977987 * 0.15811388300841897 / math.sqrt(5), rel=1e-9)
    one = mean_interval([0.7])
    assert one.n == 1 and math.isnan(one.se) and not one.excludes_zero()


def test_verdicts_follow_the_interval() -> None:
    assert verdict(mean_interval([0.02, 0.03, 0.025, 0.035, 0.03])) == "supported"
    assert verdict(mean_interval([-0.02, -0.03, -0.025, -0.035, -0.03])) == "contradicted"
    assert verdict(mean_interval([-0.02, 0.03, -0.025, 0.035, 0.0])) == "not supported"
    assert verdict(mean_interval([-0.02, -0.03, -0.025]), predicted_sign=-1) == "supported"
    assert verdict(mean_interval([0.5])) == "not supported"  # one replicate carries no verdict


def test_correlation_fisher_interval_known_values() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=28)
    y = x + rng.normal(size=28)
    c = correlation_interval(x, y)
    r = float(np.corrcoef(x, y)[0, 1])
    half = 1.959963984540054 / math.sqrt(25)
    assert c.r == pytest.approx(r) and c.n == 28
    assert (c.lo, c.hi) == (pytest.approx(math.tanh(math.atanh(r) - half)), pytest.approx(math.tanh(math.atanh(r) + half)))
    assert math.isnan(correlation_interval([1, 2, 3], [1, 1, 1]).r)  # a constant variable: no correlation


# --------------------------------------------------------------------------- grid statistics


def _rows(drops: dict[str, list[float]], control_noise: float = 0.0) -> list[dict[str, Any]]:
    rows = []
    for method, ds in drops.items():
        for rep, d in enumerate(ds):
            for fw in ("fl", "decl3", "decl-complete"):
                base = 0.8 + 0.01 * rep - (0.02 if fw == "decl3" else 0.0)
                noise = control_noise * (1 if rep % 2 else -1) if fw == "decl-complete" else 0.0
                for part, acc in (("iid", base + noise), ("label", base + noise - d - (0.01 if fw == "decl3" else 0.0))):
                    rows.append({"run": f"{method}-{part}-{fw}", "replicate": rep, "method": method, "partition": part,
                                 "framework": fw, "linear_probe_acc": acc, "cdr_mean": acc - 0.1, "rv_mean": 0.95})
    return rows


def test_analyse_pairs_within_replicates_and_judges_claims() -> None:
    mae = [0.00, 0.01, -0.01, 0.005, 0.0]
    sim = [0.04, 0.05, 0.03, 0.045, 0.04]
    a = analyse(_rows({"mae": mae, "simsiam": sim}, control_noise=0.002))
    drop = next(d for d in a["drops"] if d["method"] == "simsiam" and d["framework"] == "fl")["drop"]
    assert drop["mean"] == pytest.approx(np.mean(sim)) and drop["n"] == 5
    claim = next(c for c in a["claims"] if c["claim"] == "mim-vs-cl" and c["framework"] == "fl")
    assert claim["estimate"]["mean"] == pytest.approx(np.mean(sim) - np.mean(mae))
    assert claim["verdict"] == "supported"
    reversed_ = analyse(_rows({"mae": sim, "simsiam": mae}))
    assert next(c for c in reversed_["claims"] if c["claim"] == "mim-vs-cl" and c["framework"] == "fl")["verdict"] == "contradicted"
    conn = next(c for c in a["claims"] if c["claim"] == "connectivity" and "simsiam" in c["statement"])
    assert conn["estimate"]["mean"] == pytest.approx(0.01) and conn["verdict"] == "supported"
    nf = a["noise_floor"]
    assert nf["max_abs_single_difference"] == pytest.approx(0.002) and nf["n_differences"] == 20
    assert a["bridge"]["runs_cdr_vs_acc"]["r"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- defaults and seeds


def test_defaults_reset_optimiser_balance_sizes_and_use_the_global_encoder() -> None:
    cfg = resolve(None, "smoke")["default"]
    assert cfg.optim.client_state == "reset" and cfg.partition.balance is True
    assert cfg.method.global_repr == "global-encoder" and cfg.method.cnn_mask_bn == "masked-batch"


def test_replicates_vary_run_and_data_seed_together() -> None:
    runs = resolve("replicate-grid", "smoke")
    assert len(runs) == 18 and {c.partition.n_clients for c in runs.values()} == {5}
    assert {c.federation.rounds for c in runs.values()} == {8}  # the same rounds for every method
    reps = replicate_runs(runs, 3, 1)
    assert len(reps) == 54
    for r in (1, 2, 3):
        cfg = reps[f"rep{r}@replicate-grid/mar-label-decl3"]
        assert (cfg.run.seed, cfg.data.seed) == (r, r)
    assert list(reps)[0].startswith("rep1@")  # replicate-major order
    assert replicate_runs(runs, 0) is runs


def test_balanced_dirichlet_sizes_and_quantity_skew_reported() -> None:
    labels = np.repeat(np.arange(10), 200)
    unbalanced = partition_stats(dirichlet_partition(labels, 10, 0.1, 0, min_size=2), labels, 10)
    balanced = partition_stats(dirichlet_partition(labels, 10, 0.1, 0, min_size=2, balance=True), labels, 10)
    assert balanced.size_ratio == 1.0 and balanced.size_cv == 0.0
    assert unbalanced.size_ratio > 2.0 and unbalanced.to_dict()["size_ratio"] == unbalanced.size_ratio
    assert balanced.mean_js > 0.3  # still label-skewed


# --------------------------------------------------------------------------- training state


def test_reset_starts_every_local_training_from_a_fresh_optimiser() -> None:
    for state, fresh in (("reset", True), ("persist", False)):
        exp = engine.build(tiny(optim__client_state=state, federation__client_fraction=1.0))
        seen: list[int] = []
        original = exp.trainer.train

        def spy(*args: Any, _orig: Any = original, _exp: Any = exp, **kwargs: Any) -> Any:
            seen.append(len(_exp.optimizer.state))
            return _orig(*args, **kwargs)

        exp.trainer.train = spy  # type: ignore[method-assign]
        exp.algorithm.run_round(0)
        exp.algorithm.run_round(1)
        assert seen[:4] == [0, 0, 0, 0]  # round 0: nothing to restore either way
        if fresh:
            assert seen[4:] == [0, 0, 0, 0] and exp.pool.saved_optim == {}
        else:
            assert all(n > 0 for n in seen[4:]) and set(exp.pool.saved_optim) == {0, 1, 2, 3}


def test_control_pair_fl_and_complete_graph_agree_after_round_one() -> None:
    """FL with full participation and DecL on the complete graph with data-size mixing: the same
    algorithm and draws (unequal client sizes, so the data-size weights matter)."""
    common = {"partition__kind": "label", "partition__alpha": 0.5, "partition__balance": False, "federation__client_fraction": 1.0}
    fl = engine.build(tiny(**common))
    dl = engine.build(tiny(**common, federation__framework="decl", decentralised__graph="complete", decentralised__mixing="data-size"))
    assert len(set(fl.data.clients.sizes.tolist())) > 1
    r_fl, r_dl = fl.algorithm.run_round(0), dl.algorithm.run_round(0)
    for c in range(4):
        assert r_dl["client_loss"][str(c)] == pytest.approx(r_fl["client_loss"][str(c)], rel=1e-5)
    final = fl.algorithm.final_model()
    assert not torch.equal(final, fl.initial)
    torch.testing.assert_close(dl.algorithm.final_model(), final, rtol=1e-4, atol=1e-5)


def test_mar_round_zero_does_not_spend_gamma_in_bank_mode() -> None:
    exp = engine.build(tiny(method__name="mar", method__global_repr="bank", federation__client_fraction=1.0))
    gmax = exp.cfg.method.gamma_max
    r0 = exp.algorithm.run_round(0)
    assert all(m["gamma"] == 0.0 for m in r0["client_metrics"].values())  # no bank yet
    assert exp.pool.gamma is not None and exp.pool.gamma.times_selected.tolist() == [0, 0, 0, 0]
    r1 = exp.algorithm.run_round(1)
    assert all(m["gamma"] == pytest.approx(gmax) for m in r1["client_metrics"].values())  # first alignment: γ_max
    assert exp.pool.gamma.times_selected.tolist() == [1, 1, 1, 1]


# --------------------------------------------------------------------------- bridge


def test_bridge_scores_collapsed_features_low_and_class_directions_high() -> None:
    g = torch.Generator().manual_seed(0)
    n, k, d = 2000, 10, 32
    y = torch.arange(n) % k
    yt = torch.arange(n // 2) % k
    basis = torch.randn(k, d, generator=g)

    def feats(labels: torch.Tensor, noise: float) -> torch.Tensor:
        return basis[labels] + noise * torch.randn(labels.shape[0], d, generator=g)

    good = class_direction_retention(feats(y, 0.3), y, feats(yt, 0.3), yt, k)
    assert good.mean > 0.9 and good.min > 0.8
    direction = torch.randn(d, 1, generator=g)
    for rank in (1, 3):
        proj = torch.linalg.qr(torch.randn(d, rank, generator=g))[0]  # (d, rank)
        collapse = proj @ proj.T  # rank-r projector
        lo = class_direction_retention(feats(y, 0.3) @ collapse, y, feats(yt, 0.3) @ collapse, yt, k)
        assert lo.rank == rank
        assert lo.mean <= rank / (k - 1) + 0.05  # the in-sample bound q / (c - 1), held out
        assert lo.mean < good.mean - 0.5
        # the old class-mean RV measure does not separate a collapsed map (it scores ~1)
        assert class_mean_representability(feats(yt, 0.3) @ collapse, yt, k).mean > 0.95
    const = class_direction_retention(torch.zeros(n, d), y, torch.zeros(n // 2, d), yt, k)
    assert const.mean == 0.0 and const.rank == 0 and const.ties == k - 1  # all tied at 0
    del direction


def test_replicate_option_refuses_a_replicated_grid_with_one_line(monkeypatch, capsys, tmp_path) -> None:
    from empirical import summarise_grid

    rows = {"single": [{"replicate": None}], "replicated": [{"replicate": 0}, {"replicate": 1}]}
    monkeypatch.setattr(summarise_grid, "load_runs", lambda folder: rows[Path(folder).name])
    for a, b in (("replicated", "single"), ("single", "replicated")):
        assert summarise_grid.main([str(tmp_path / a), "--replicate", str(tmp_path / b)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--replicate" in err and "replicated" in err


def test_interval_of_a_bounded_quantity_is_cut_to_its_range() -> None:
    iv = mean_interval([0.775, 0.829])  # n = 2: t(1) quantile 12.7, the raw interval passes 100 %
    assert iv.hi > 1.0
    text = iv.fmt(within=(0.0, 1.0))
    assert text.endswith("+100.0]") and f"[{iv.lo * 100:+.1f}," in text
    assert iv.fmt() == f"+80.2 ± 2.7 [{iv.lo * 100:+.1f}, {iv.hi * 100:+.1f}]"  # differences are not cut
