"""Distributed engine, evaluation, checkpoints and the run command (empirical/config, clients,
fl, decl, engine, evaluate, checkpoint, run). CPU only; tiny ViTs on scikit-learn digits."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from tiny_runs import TINY, tiny  # tests/tiny_runs.py (tests/ is on sys.path under pytest)

from empirical import engine
from empirical.checkpoint import read_jsonl
from empirical.clients import PURPOSE_ORDER, PURPOSE_STEP, epoch_batches, keyed_generator
from empirical.config import PRESETS, SCALES, ExperimentConfig, apply_overrides, from_dict, resolve, to_dict
from empirical.evaluate import class_mean_representability, knn_accuracy, ridge_probe
from empirical.fl import FedAvg, fedavg_weights, sample_clients
from empirical.mmd import gamma_schedule
from empirical.run import main, train
from theory.errors import ParameterError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- config


def test_presets_resolve_at_both_scales() -> None:
    for name in PRESETS:
        for scale in SCALES:
            runs = resolve(name, scale)
            assert runs, name
            for cfg in runs.values():
                assert cfg.scale == scale
                assert from_dict(to_dict(cfg)) == cfg  # config.json round trip
    fig = resolve("fig2a-connectivity", "paper")
    assert sorted(c.decentralised.mean_connectivity for c in fig.values() if c.federation.framework == "decl") == [3, 5, 10, 20]
    assert all(c.partition.n_clients == 20 for c in fig.values())
    t6 = resolve("table6", "paper")
    assert {(c.decentralised.mixing, c.decentralised.mean_connectivity) for c in t6.values() if c.federation.framework == "decl"} == {
        (r, a) for r in ("data-size", "uniform", "metropolis") for a in (5.0, 10.0)
    }
    t1 = resolve("table1-simsiam-cnn-label", "paper")["table1-simsiam-cnn-label"]
    assert (t1.method.name, t1.model.arch, t1.partition.kind, t1.partition.n_clients, t1.federation.client_fraction) == (
        "simsiam", "resnet18", "label", 100, 0.05
    )


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("federation.rounds", "three", "federation.rounds: must be an integer"),
        ("federation.rounds", "2.5", "federation.rounds: must be an integer"),
        ("method.mask_ratio", "high", "method.mask_ratio: must be a number"),
        ("method.name", "byol", "method.name: must be one of 'mae', 'simsiam', 'mar'"),
        ("method.norm_pix_loss", "maybe", "method.norm_pix_loss: must be a boolean"),
        ("method.nope", "1", "method.nope: must be a field of [method]"),
        ("methd.name", "mae", "override key: must be a section among"),
        ("rounds", "3", "override key"),
    ],
)
def test_override_type_errors(key: str, value: str, needle: str) -> None:
    with pytest.raises(ParameterError) as err:
        apply_overrides(ExperimentConfig(), {key: value})
    assert needle in str(err.value)


def test_override_values_and_ranges() -> None:
    cfg = apply_overrides(ExperimentConfig(), {"federation.rounds": "3", "method.mask_ratio": "0.6", "method.norm_pix_loss": "false"})
    assert (cfg.federation.rounds, cfg.method.mask_ratio, cfg.method.norm_pix_loss) == (3, 0.6, False)
    with pytest.raises(ParameterError, match=r"federation.rounds: must be an integer >= 1"):
        apply_overrides(ExperimentConfig(), {"federation.rounds": "0"}).check()
    with pytest.raises(ParameterError, match=r"federation.client_fraction: must be 1 when"):
        apply_overrides(ExperimentConfig(), {"federation.framework": "decl"}).check()
    with pytest.raises(ParameterError, match=r"decentralised.mean_connectivity: must be in \[3 - 2/N, N\]"):
        tiny(federation__framework="decl", federation__client_fraction=1.0, decentralised__mean_connectivity=9.0)


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--set", "federation.rounds=x"],
        ["--preset", "no-such-preset"],
        ["--set", "federation.rounds"],
        ["--set", "data.name=cifar10"],  # no --data-root
    ):
        assert main([*argv, "--out", str(tmp_path / "x"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert main(["--list-presets"]) == 0
    assert "fig2a-connectivity" in capsys.readouterr().out


# --------------------------------------------------------------------------- aggregation


@given(
    sizes=st.lists(st.integers(1, 1000), min_size=1, max_size=12),
    data=st.data(),
)
@example(sizes=[10, 30, 60], data=None)
def test_fedavg_weights_are_data_size_proportional(sizes: list[int], data: Any) -> None:
    n = len(sizes)
    selected = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1))) if data is not None else [0, 2]
    w = fedavg_weights(np.array(sizes), selected)
    s = np.array(sizes, dtype=float)[selected]
    np.testing.assert_allclose(w, s / s.sum(), rtol=1e-12)


def test_fedavg_round_weights_by_data_size() -> None:
    """FedAvg.run_round with a stub pool returning x_i = i·1: x_{t+1} = Σ n_i i / Σ n_i."""

    class StubData:
        n_clients = 3
        sizes = np.array([10, 30, 60])

    class StubPool:
        data, banks = StubData(), None

        def run_client(self, c, rnd, start, epochs, sources):  # noqa: ANN001
            from empirical.clients import LocalResult

            return torch.full((5,), float(c)), LocalResult(1, {"loss": 0.0}), None

    fed = FedAvg(StubPool(), torch.zeros(5), client_fraction=1.0, local_epochs=1, seed=0)  # type: ignore[arg-type]
    report = fed.run_round(0)
    assert report["clients"] == [0, 1, 2]
    torch.testing.assert_close(fed.global_weights, torch.full((5,), (0 * 10 + 1 * 30 + 2 * 60) / 100))
    # sqrt((1/K) Σ_i ‖x_i - x̄‖²) for x_i = i·1 (5 entries), x̄ = 1·1: sqrt(5 · 2 / 3)
    assert math.isclose(report["consensus_distance"], math.sqrt(5 * 2 / 3), rel_tol=1e-6)


def test_client_sampling_is_keyed_by_round() -> None:
    a = [sample_clients(7, r, 10, 3) for r in range(5)]
    assert a == [sample_clients(7, r, 10, 3) for r in range(5)]
    assert all(len(s) == 3 and s == sorted(set(s)) for s in a)
    assert len({tuple(s) for s in a}) > 1
    assert sample_clients(7, 0, 10, 10) == list(range(10))


# --------------------------------------------------------------------------- equivalences


def _train_rounds(exp: engine.Experiment) -> None:
    cfg = exp.cfg
    for rnd in range(cfg.federation.rounds):
        exp.trainer.set_lr_factor(engine.lr_factor(rnd, cfg.federation.rounds, cfg.optim.schedule, cfg.optim.warmup_rounds))
        exp.algorithm.run_round(rnd)


@pytest.mark.parametrize("method", ["mae", "simsiam"])
def test_fedavg_single_client_equals_centralised(method: str) -> None:
    """One client, full participation, ``client_state="persist"``: FedAvg (state swapped through
    the flat vectors and the optimiser-state bank every round) equals a plain loop over the same
    batches and draws with one optimiser throughout."""
    cfg = tiny(
        method__name=method,
        partition__n_clients=1,
        federation__client_fraction=1.0,
        federation__local_epochs=2,
        optim__client_state="persist",
    )
    exp = engine.build(cfg)
    _train_rounds(exp)

    data = exp.data.clients
    model = engine._init_method(cfg, exp.data.in_chans, exp.data.image_size, torch.device("cpu"))
    opt = engine.build_optimizer(cfg, model)
    base = [g["lr"] for g in opt.param_groups]
    stream = "augmentation" if method == "simsiam" else "masking"
    seed, n = cfg.run.seed, int(data.sizes[0])
    model.train()
    for rnd in range(cfg.federation.rounds):
        f = engine.lr_factor(rnd, cfg.federation.rounds, cfg.optim.schedule, 0)
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * f
        for epoch in range(cfg.federation.local_epochs):
            order = keyed_generator(seed, "augmentation", 0, rnd, epoch, 0, PURPOSE_ORDER)
            for step, pos in enumerate(epoch_batches(n, cfg.optim.batch_size, order)):
                x = data.images[data.indices[0][pos]]
                loss, _ = model.loss(x, keyed_generator(seed, stream, 0, rnd, epoch, step, PURPOSE_STEP))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    exp.set_weights(exp.algorithm.final_model())
    assert exp.state.is_intact()
    fed_state, central_state = exp.method.state_dict(), model.state_dict()
    for key, value in central_state.items():
        if value.is_floating_point():
            assert torch.equal(fed_state[key], value), key
    assert not torch.equal(exp.initial, exp.algorithm.final_model())  # it did train


def test_decl_complete_uniform_equals_fedavg_full_participation() -> None:
    """Complete graph + uniform mixing after 1 local epoch = FedAvg with all clients (equal
    client sizes, so FedAvg's data-size weights are uniform too)."""
    common = {"partition__kind": "iid", "federation__client_fraction": 1.0, "federation__rounds": 2}
    fl = engine.build(tiny(**common))
    dl = engine.build(tiny(**common, federation__framework="decl", decentralised__graph="complete", decentralised__mixing="uniform"))
    assert set(fl.data.clients.sizes.tolist()) == {100}
    _train_rounds(fl)
    _train_rounds(dl)
    final = fl.algorithm.final_model()
    assert not torch.equal(final, fl.initial)
    torch.testing.assert_close(dl.algorithm.final_model(), final, rtol=1e-5, atol=1e-6)
    for i in range(4):  # every local model holds the consensus
        torch.testing.assert_close(dl.algorithm.models[i], final, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- MAR


def test_mar_gamma_follows_client_selections(tmp_path: Path) -> None:
    cfg = tiny(
        method__name="mar",
        method__global_repr="bank",
        federation__client_fraction=0.5,
        federation__rounds=5,
        method__gamma_horizon=2,
    )
    train(cfg, tmp_path, progress=False)
    records = read_jsonl(tmp_path / "metrics.jsonl")
    counts = np.zeros(4, dtype=int)
    for rec in records:
        selected = sample_clients(cfg.run.seed, rec["round"], 4, 2)
        assert rec["clients"] == selected
        for c in selected:
            expected = gamma_schedule(int(counts[c]), 2, cfg.method.gamma_max, cfg.method.gamma_min)
            assert rec["gamma"][str(c)] == pytest.approx(expected, rel=1e-12)
            # round 0 has no previous-round bank: plain MAE, and the selection is not counted
            # (ω stays 0, so the client gets γ_max when it first aligns)
            assert rec["gamma_applied"][str(c)] == pytest.approx(0.0 if rec["round"] == 0 else expected, rel=1e-12)
            if rec["round"] > 0:
                counts[c] += 1
    assert records[0]["a_mmd"] is None and records[1]["a_mmd"] is not None
    assert counts.max() > 2  # γ reached γ_min and stayed there (ω clamped at Ω)


def test_mar_bank_is_previous_round_and_detached() -> None:
    exp = engine.build(tiny(method__name="mar", method__global_repr="bank", federation__client_fraction=0.5))
    banks = exp.pool.banks
    assert banks is not None
    exp.algorithm.run_round(0)
    first = set(banks.previous)
    assert first == set(sample_clients(0, 0, 4, 2))
    assert all(not z.requires_grad and z.grad_fn is None for z in banks.previous.values())
    exp.algorithm.run_round(1)
    assert set(banks.previous) == set(sample_clients(0, 1, 4, 2))  # FL: only the last participants


def test_mar_global_encoder_aligns_from_round_zero() -> None:
    """z̄ = the round's starting model on the same masked batch: available in round 0, and the
    reference holds exactly the weights the client started from."""
    exp = engine.build(tiny(method__name="mar", method__global_repr="global-encoder", federation__client_fraction=0.5))
    assert exp.pool.banks is None and exp.trainer.reference_state is not None
    start = exp.algorithm.final_model().clone()
    report = exp.algorithm.run_round(0)
    assert all(m["gamma"] == pytest.approx(0.1) and "a_mmd" in m for m in report["client_metrics"].values())
    assert torch.equal(exp.trainer.reference_state.flat, start)
    assert not torch.equal(exp.algorithm.final_model(), start)


# --------------------------------------------------------------------------- run, resume


def test_smoke_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    sets = [f"{k}={v}" for k, v in TINY.items() if k not in ("eval.knn_every", "eval.probe")] + ["eval.knn_every=2"]
    rc = main(["--preset", "table1-mae-vit-label", "--scale", "smoke", "--out", str(out), "--quiet", "--set", *sets])
    assert rc == 0
    doc = json.loads((out / "config.json").read_text())
    assert doc["config"]["method"]["name"] == "mae" and doc["config"]["partition"]["kind"] == "label"
    assert doc["git_revision"] and doc["preset"] == "table1-mae-vit-label"
    records = read_jsonl(out / "metrics.jsonl")
    assert [r["round"] for r in records] == [0, 1, 2]
    for r in records:
        assert {"loss", "lr", "consensus_distance", "wall_time_s", "clients", "client_loss"} <= r.keys()
    assert "knn_acc" in records[1] and "knn_acc" in records[2] and "knn_acc" not in records[0]
    summary = json.loads((out / "summary.json").read_text())
    final = summary["final"]
    assert 0.0 <= final["linear_probe_acc"] <= 1.0 and 0.0 <= final["knn_acc"] <= 1.0
    assert final["linear_probe_acc"] > 0.3  # far above chance (0.1) on digits
    assert {"mean", "min", "max", "spread"} <= final["rv"].keys()
    assert (out / "checkpoint.pt").exists() and (out / "model.pt").exists()
    # A second run into the same folder is refused without --resume.
    assert main(["--preset", "table1-mae-vit-label", "--out", str(out), "--quiet", "--set", *sets]) == 2


class Killed(Exception):
    pass


def _kill_at(event: str, rnd: int, nth_client: int | None = None):  # noqa: ANN202
    seen = {"n": 0}

    def hook(ev: str, r: int, client: int | None) -> None:
        if ev == event and r == rnd:
            seen["n"] += 1
            if nth_client is None or seen["n"] == nth_client:
                raise Killed(f"{ev} round {r}")

    return hook


def _strip_timing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in engine.TIMING_KEYS} for r in records]


@pytest.mark.parametrize(
    ("overrides", "kill"),
    [
        # FedMAR, half the clients per round: kill in the middle of round 1 (after one client).
        ({"method__name": "mar", "federation__client_fraction": 0.5, "eval__knn_every": 1}, ("client-done", 1, 1)),
        # Same, killed after the round-1 checkpoint but before its metrics line.
        ({"method__name": "mar", "federation__client_fraction": 0.5}, ("round-done", 1, None)),
        # DecL SimSiam (SGD momentum, BatchNorm buffers) on a ring, killed mid-round 2.
        (
            {
                "method__name": "simsiam",
                "federation__framework": "decl",
                "federation__client_fraction": 1.0,
                "decentralised__graph": "ring",
            },
            ("client-done", 2, 3),
        ),
    ],
)
def test_resume_equals_uninterrupted(tmp_path: Path, overrides: dict[str, Any], kill: tuple[str, int, int | None]) -> None:
    cfg = tiny(**overrides)
    full = engine.build(cfg)
    s_full = train(cfg, tmp_path / "full", progress=False, exp=full)

    with pytest.raises(Killed):
        train(cfg, tmp_path / "cut", progress=False, hook=_kill_at(*kill))
    resumed = engine.build(cfg)  # a fresh process' worth of state
    s_cut = train(cfg, tmp_path / "cut", progress=False, resume=True, exp=resumed)

    assert torch.equal(full.algorithm.final_model(), resumed.algorithm.final_model())
    assert _strip_timing(read_jsonl(tmp_path / "full" / "metrics.jsonl")) == _strip_timing(read_jsonl(tmp_path / "cut" / "metrics.jsonl"))
    assert s_full["final"] == s_cut["final"]


def test_resume_continues_streams_not_restarts(tmp_path: Path) -> None:
    """A resumed run does not replay round 0's draws: killing after round 0 and resuming gives
    round-1 client samples and losses of the uninterrupted run, which differ from round 0's."""
    cfg = tiny(federation__client_fraction=0.5)
    train(cfg, tmp_path / "a", progress=False)
    with pytest.raises(Killed):
        train(cfg, tmp_path / "b", progress=False, hook=_kill_at("metrics-written", 0))
    train(cfg, tmp_path / "b", progress=False, resume=True)
    a, b = (read_jsonl(tmp_path / x / "metrics.jsonl") for x in ("a", "b"))
    assert _strip_timing(a) == _strip_timing(b)
    assert a[0]["clients"] != a[1]["clients"] or a[0]["client_loss"] != a[1]["client_loss"]


# --------------------------------------------------------------------------- evaluation


def _clustered(n_per: int, k: int, d: int, noise: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(k).repeat_interleave(n_per)
    x = torch.zeros(k * n_per, d)
    x[torch.arange(k * n_per), y] = 1.0
    return x + noise * torch.randn(x.shape, generator=g), y


def test_rv_measure_one_for_class_means_lower_for_random() -> None:
    k, d = 5, 20
    x, y = _clustered(200, k, d, noise=0.01)
    rv = class_mean_representability(x, y, k)
    assert rv.mean > 0.999 and rv.spread < 1e-3 and not rv.tied and rv.c == k

    # Nuisance: k high-variance directions unrelated to the classes take the top-k subspace.
    g = torch.Generator().manual_seed(1)
    nuisance = torch.zeros_like(x)
    nuisance[:, k : 2 * k] = 3.0 * torch.randn(x.shape[0], k, generator=g)
    low = class_mean_representability(x + nuisance, y, k)
    assert low.mean < 0.3  # not 0: class means pick up sampling noise of the nuisance, ~0.2 here

    # A random projection of label-free noise: r is about c / d on average.
    z = torch.randn(x.shape[0], d, generator=g) @ torch.randn(d, d, generator=g)
    rand = class_mean_representability(z, y, k)
    assert rand.mean < 0.7 and rand.mean < rv.mean - 0.3

    # Exactly isotropic features: the top-c subspace is not unique and is reported as tied.
    iso = torch.cat([torch.eye(d), -torch.eye(d)]).repeat(10, 1)  # covariance exactly I / d
    yy = torch.arange(iso.shape[0]) % 3  # +e_j and -e_j fall in different classes
    assert class_mean_representability(iso, yy, 3).tied


def test_knn_and_ridge_on_separable_features() -> None:
    x, y = _clustered(60, 4, 8, noise=0.05)
    xt, yt = _clustered(20, 4, 8, noise=0.05, seed=3)
    assert knn_accuracy(x, y, xt, yt, 4, k=20) == 1.0
    probe = ridge_probe(x, y, xt, yt, 4, seed=0)
    assert probe["acc"] == 1.0
    g = torch.Generator().manual_seed(5)
    unrelated = ridge_probe(torch.randn(240, 8, generator=g), y, torch.randn(80, 8, generator=g), yt, 4, seed=0)
    assert unrelated["acc"] < 0.6  # features independent of the labels: near chance (0.25)


def test_robustness_grid_smoke_uses_the_resnet_and_paper_scale_is_unchanged() -> None:
    """The CPU grid trains a width-8 ResNet-18 (the tiny ViT did not beat its random init), MAE for
    16 rounds and SimSiam for 12; the paper-scale grid keeps the default ViT and 25 rounds."""
    smoke = resolve("robustness-grid", "smoke")
    assert len(smoke) == 20
    for name, cfg in smoke.items():
        assert (cfg.model.arch, cfg.model.resnet_width, cfg.partition.n_clients) == ("resnet18", 8, 20), name
        assert cfg.federation.rounds == (16 if cfg.method.name == "mae" else 12), name
    paper = resolve("robustness-grid", "paper")
    assert all(c.model.arch == "vit" and c.federation.rounds == 25 and c.optim.adamw_base_lr == 1.5e-4 for c in paper.values())
