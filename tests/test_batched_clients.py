"""Batched clients (empirical/batched.py) against the sequential client loop (empirical/clients.py).

Each test builds the same tiny run twice (tests/tiny_runs.py: 400 digits, 4 clients, batch 32;
one-block width-16 ViT or width-4 ResNet-18), ``federation.batched_clients`` false and true,
trains two rounds and compares everything a checkpoint holds (models, optimiser states and
their layout, γ counters, MAR banks) and every round record (clients, steps, per-client losses
and metrics, γ).

Tolerance. Both paths make the same draws, so they differ only in float32 summation order
(vmapped convolutions and batched matmuls, attention through its composite form). For tensors
that training moves, e.g. the models, the discrepancy is compared with the movement itself:

    mean |a - b| <= REL · mean |a - ref|,      REL = 1e-3,

with ``ref`` the initial model for models, zero for optimiser states and banks: the paths must
agree to 0.1 % of what training changed. Max |Δ| is not bounded tighter than the update size
(AdamW turns ulp-level differences of near-zero gradients into sign flips of whole updates,
|Δ| up to 2·lr per step on a few coordinates), so it is bounded by 2·lr·(steps). Each round
is compared from the same state (:func:`compare_rounds`). Measured over the cases below
(torch 2.13 CPU, 2026-12-01): ratio at most 4.6e-5 (ViT, AdamW sign flips), 7e-7 on the
ResNets; per-client metrics at most 3.6e-5 relative (SimSiam's loss, a mean cosine near 0 at
initialisation), 1e-5 otherwise. The negative controls give ratios of 3.6e-2 (two clients'
seeds swapped) and 8.6e-2 (optimiser state kept across rounds) and a max |Δ| of 1.8 (BN
statistics lost). Metrics must agree to 1e-4 relative or 1e-6 absolute (the scale of a
cosine is 1); client lists, step counts, scheduled γ and integers exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from test_distributed import TINY, assert_same_run, local, torchrun
from tiny_runs import tiny

from empirical import batched, engine
from empirical.batched import StackedOptimizer
from empirical.clients import FlatState, keyed_generator
from empirical.config import ExperimentConfig
from theory.errors import ParameterError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REL = 1e-3
METRIC_REL = 1e-4
METRIC_ABS = 1e-6


def build_pair(**over: Any) -> tuple[engine.Experiment, engine.Experiment]:
    base = {"federation__rounds": 2, **over}
    return engine.build(tiny(**base, federation__batched_clients=False)), engine.build(tiny(**base, federation__batched_clients=True))


def train(exp: engine.Experiment, rounds: range) -> list[dict[str, Any]]:
    """The algorithm's full round reports (per-client metrics included), at the engine's
    learning rate of each round."""
    out = []
    for r in rounds:
        fed, o = exp.cfg.federation, exp.cfg.optim
        exp.trainer.set_lr_factor(engine.lr_factor(r, fed.rounds, o.schedule, o.warmup_rounds))
        out.append(exp.algorithm.run_round(r))
    return out


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{prefix}{key}/").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, sub in enumerate(tree) for k, v in _leaves(sub, f"{prefix}{i}/").items()}
    return {prefix: tree}


def discrepancy(seq: engine.Experiment, bat: engine.Experiment) -> dict[str, float]:
    """mean |Δ| / mean |seq - ref| per float tensor of the checkpoint state (ref: the initial
    model for model tensors, 0 otherwise); asserts the non-float leaves equal and max |Δ|
    within 2·lr·steps."""
    sa, sb = _leaves(seq.checkpoint_state()), _leaves(bat.checkpoint_state())
    assert sa.keys() == sb.keys()
    lr = max(g["lr"] for g in seq.optimizer.param_groups)
    steps = max(1, int(seq.data.clients.sizes.max()) // seq.cfg.optim.batch_size) * seq.cfg.federation.local_epochs * 2
    ratios = {}
    for key, a in sa.items():
        b = sb[key]
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            assert a.shape == b.shape and a.dtype == b.dtype, key
            is_model = key.startswith("algorithm/")
            ref = seq.initial.expand_as(a) if is_model and a.shape[-1] == seq.initial.numel() else torch.zeros_like(a)
            diff = (a - b).abs()
            if is_model:
                assert float(diff.max()) <= 2 * lr * steps + 1e-6, (key, float(diff.max()))
            ratios[key] = float(diff.mean() / (a - ref).abs().mean().clamp_min(1e-30))
        elif isinstance(a, torch.Tensor):
            assert torch.equal(a, b), key
        else:
            assert a == b, key
    return ratios


def assert_same_records(ra: list[dict[str, Any]], rb: list[dict[str, Any]]) -> None:
    """Clients, steps and scheduled γ equal; every client's reported metrics (loss, recon,
    applied γ, A-MMD, z_std) within METRIC_REL."""
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        assert (x["clients"], x["steps"], x["gamma"]) == (y["clients"], y["steps"], y["gamma"])
        assert x["client_metrics"].keys() == y["client_metrics"].keys()
        for c, metrics in x["client_metrics"].items():
            assert list(metrics) == list(y["client_metrics"][c]), c
            for key, v in metrics.items():
                assert v == pytest.approx(y["client_metrics"][c][key], rel=METRIC_REL, abs=METRIC_ABS), (c, key)
        assert x["client_loss"] == {c: m.get("loss", float("nan")) for c, m in x["client_metrics"].items()}
        assert x["consensus_distance"] == pytest.approx(y["consensus_distance"], rel=1e-2, abs=1e-6)


def assert_same_runs(seq: engine.Experiment, bat: engine.Experiment, ra: list, rb: list) -> dict[str, float]:
    assert_same_records(ra, rb)
    ratios = discrepancy(seq, bat)
    worst = max(ratios, key=ratios.__getitem__)
    assert ratios[worst] <= REL, (worst, ratios[worst])
    return ratios


def compare_rounds(seq: engine.Experiment, bat: engine.Experiment, rounds: int = 2) -> None:
    """Train both ``rounds`` rounds, each from the same state: before every round after the
    first the batched run loads the sequential run's checkpoint state (models, optimiser
    states, banks, γ counters), so each comparison measures one round's discrepancy and not
    its chaotic growth over rounds (measured: SimSiam's SGD on a ResNet grows a 4e-7 ratio to
    1e-4 in one more round when the paths are left to drift)."""
    for r in range(rounds):
        if r > 0:
            state = seq.checkpoint_state()
            assert state is not None
            bat.load_checkpoint_state(state)
        assert_same_runs(seq, bat, train(seq, range(r, r + 1)), train(bat, range(r, r + 1)))


# --------------------------------------------------------------------------- equivalence

CASES = [
    pytest.param(method, arch, framework, id=f"{method}-{arch}-{framework}")
    for method in ("mae", "simsiam", "mar")
    for arch in ("vit", "resnet18")
    for framework in ("fl", "decl")
]


def _framework(framework: str) -> dict[str, Any]:
    if framework == "fl":
        return {"federation__framework": "fl", "federation__client_fraction": 0.5}
    return {"federation__framework": "decl", "federation__client_fraction": 1.0, "decentralised__graph": "ring"}


@pytest.mark.parametrize(("method", "arch", "framework"), CASES)
def test_batched_equals_sequential(method: str, arch: str, framework: str) -> None:
    """MAE, SimSiam, MAR (global encoder) x ViT, ResNet-18 (BatchNorm) x FL (2 of 4 clients
    per round), DecL (ring): two rounds agree within the stated tolerance."""
    seq, bat = build_pair(method__name=method, model__arch=arch, model__resnet_width=4, **_framework(framework))
    compare_rounds(seq, bat)
    assert bat.state.is_intact()  # functional_call handed the working module's tensors back


@pytest.mark.parametrize("framework", ["fl", "decl"])
def test_mar_bank_mode(framework: str) -> None:
    """MAR with z̄ from the previous round's banks: round 0 trains plain MAE (no bank yet),
    round 1 aligns to per-client z̄ rows; banks and γ counters agree."""
    seq, bat = build_pair(method__name="mar", method__global_repr="bank", **_framework(framework))
    compare_rounds(seq, bat)
    state = seq.checkpoint_state()
    assert state is not None and len(state["pool"]["banks"]["previous"]) > 0
    report = train(seq, range(2, 3))[0]  # a third round aligns (round 1 did too)
    assert all("a_mmd" in m for m in report["client_metrics"].values())


def test_unequal_clients_group_by_batch_shape() -> None:
    """Clients with different step counts and two with fewer samples than the batch (each one
    batch of all its samples, of different sizes, so separate groups): MAR on a ResNet
    (BatchNorm statistics depend on the batch) with 2 local epochs."""
    over = {
        "partition__kind": "label",
        "partition__alpha": 0.1,
        "partition__balance": False,
        "data__seed": 3,
        "optim__batch_size": 64,
        "model__arch": "resnet18",
        "model__resnet_width": 4,
        "federation__client_fraction": 1.0,
        "federation__local_epochs": 2,
        "method__name": "mar",
    }
    seq, bat = build_pair(**over)
    sizes = seq.data.clients.sizes
    b = seq.cfg.optim.batch_size
    steps = [1 if n < b else n // b for n in sizes]
    small = sorted(int(n) for n in sizes if n < b)
    assert len(set(small)) >= 2 and len(set(steps)) >= 2, (sizes.tolist(), steps)  # the case is exercised
    compare_rounds(seq, bat)


def test_batch_cap_cuts_groups_into_chunks_with_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """federation.batched_max_clients = 3 on 4 clients (MAR on a ResNet, all clients every round):
    no vmapped call holds more than 3 clients, and the run equals the sequential loop as the
    uncapped one does."""
    over = {"method__name": "mar", "model__arch": "resnet18", "model__resnet_width": 4, "federation__client_fraction": 1.0}
    seq = engine.build(tiny(federation__rounds=2, federation__batched_clients=False, **over))
    capped = engine.build(tiny(federation__rounds=2, federation__batched_clients=True, federation__batched_max_clients=3,
                               **over))
    sizes: list[int] = []
    real = batched.BatchedClients._step
    monkeypatch.setattr(batched.BatchedClients, "_step", lambda self, stack, starts, jobs, *a: (sizes.append(len(jobs)),
                                                                                              real(self, stack, starts, jobs, *a)))
    compare_rounds(seq, capped)
    assert max(sizes) == 3 and 1 in sizes  # 4 clients of one shape: a chunk of 3, then 1
    with pytest.raises(ParameterError, match="batched_max_clients"):
        tiny(federation__batched_max_clients=-1)


@pytest.mark.parametrize("method", ["mae", "simsiam"])
def test_persisted_optimizer_state_is_interchangeable(method: str) -> None:
    """optim.client_state = "persist": the saved per-client states (AdamW moments and step,
    SGD momentum) agree in OptimizerStates' flat format and layout, and a round-0 checkpoint of
    either path resumes in the other."""
    over = {"method__name": method, "optim__client_state": "persist", "federation__client_fraction": 1.0}
    seq, bat = build_pair(**over)
    ra, rb = train(seq, range(1)), train(bat, range(1))
    assert_same_runs(seq, bat, ra, rb)
    assert seq.pool.saved_optim.keys() == bat.pool.saved_optim.keys() == {0, 1, 2, 3}
    state_seq, state_bat = seq.checkpoint_state(), bat.checkpoint_state()
    assert state_seq is not None and state_bat is not None
    seq.load_checkpoint_state(state_bat)  # each resumes from the other's checkpoint
    bat.load_checkpoint_state(state_seq)
    ra, rb = train(seq, range(1, 2)), train(bat, range(1, 2))
    assert_same_runs(seq, bat, ra, rb)


# --------------------------------------------------------------------------- the optimiser alone


def _toy(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.BatchNorm1d(7), torch.nn.Linear(7, 3))


@pytest.mark.parametrize("kind", ["adamw", "sgd", "sgd-nesterov"])
def test_stacked_optimizer_equals_torch_optim(kind: str) -> None:
    """Three clients on the same gradients: StackedOptimizer rows equal torch.optim's results
    (to 1e-6 relative: elementwise kernels may vectorise a slice's tail differently), with two
    param groups (one without weight decay), a client whose state was loaded from a saved
    vector (one step ahead) and save() in OptimizerStates' format."""
    from empirical.clients import OptimizerStates

    model = _toy(0)
    state = FlatState(model)
    params = list(model.parameters())
    groups = [{"params": params[::2], "weight_decay": 0.05}, {"params": params[1::2], "weight_decay": 0.0}]
    if kind == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.95))
    else:
        opt = torch.optim.SGD(groups, lr=1e-2, momentum=0.9, nesterov=kind == "sgd-nesterov")
    states = OptimizerStates(opt)
    layout = batched.FlatLayout.of(state)
    stacked = StackedOptimizer(opt, state, layout)
    g = torch.Generator().manual_seed(1)
    start = state.read()
    grads = [torch.randn(3, state.numel, generator=g) for _ in range(3)]  # (client, P) per step
    # reference: torch.optim per client; client 2 takes one extra step first, saved and reloaded
    expected, saved = [], None
    for c in range(3):
        state.load(start)
        states.load(None)
        steps = grads if c != 2 else [grads[0], *grads]
        for i, gr in enumerate(steps):
            for p, (_, off, shape) in zip(model.parameters(), layout.params):
                p.grad = gr[c, off : off + p.numel()].view(shape).clone()
            opt.step()
            if c == 2 and i == 0:
                saved = states.save()
        expected.append(state.read())
    final_saved = states.save()  # client 2's state after all its steps
    stacked.begin(3)
    stacked.load(2, saved, states.layout)
    rows = start[None].repeat(3, 1)  # (3, P); client 2 resumes from its weights after the saved step
    state.load(start)
    states.load(None)
    for p, (_, off, shape) in zip(model.parameters(), layout.params):
        p.grad = grads[0][2, off : off + p.numel()].view(shape).clone()
    opt.step()
    rows[2] = state.read()
    for gr in grads:
        p_opt = rows.index_select(1, stacked.cols)
        stacked.step([0, 1, 2], p_opt, gr.index_select(1, stacked.cols))
        rows.index_copy_(1, stacked.cols, p_opt)
    for c in range(3):
        torch.testing.assert_close(rows[c], expected[c], rtol=1e-6, atol=1e-7)
    assert stacked.layout() == states.layout
    mine = stacked.save(2)
    theirs = final_saved
    assert mine is not None and theirs is not None and mine.keys() == theirs.keys()
    for key in mine:
        torch.testing.assert_close(mine[key], theirs[key], rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- config


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ParameterError, match="federation.batched_clients"):
        tiny(federation__batched_clients="maybe").check()
    with pytest.raises(ParameterError, match="mar_representation"):
        tiny(federation__batched_clients=True, method__name="mar", method__mar_representation="projector").check()
    cfg: ExperimentConfig = tiny(federation__batched_clients=True)
    assert cfg.check().federation.batched_clients is True


# --------------------------------------------------------------------------- negative controls


def _fails(seq: engine.Experiment, bat: engine.Experiment, rounds: int = 2) -> None:
    with pytest.raises(AssertionError):
        compare_rounds(seq, bat, rounds)


def test_swapped_client_seeds_fail_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: the batched path draws client 0's masks with client 1's key and vice versa."""

    def swapped(seed: int, stream: str, client: int, *rest: int) -> torch.Generator:
        return keyed_generator(seed, stream, {0: 1, 1: 0}.get(client, client), *rest)

    seq, bat = build_pair(method__name="mae", federation__client_fraction=1.0)
    monkeypatch.setattr(batched, "keyed_generator", swapped)
    _fails(seq, bat)


def test_kept_optimizer_state_fails_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: the batched path does not reset the optimiser state between rounds (the
    configured ``optim.client_state`` is "reset")."""
    original = StackedOptimizer.begin

    def keep(self: StackedOptimizer, k: int) -> None:
        if not hasattr(self, "steps") or self.steps.shape[0] != k or not self.steps.any():
            original(self, k)

    seq, bat = build_pair(method__name="mae", federation__client_fraction=1.0)
    monkeypatch.setattr(StackedOptimizer, "begin", keep)
    _fails(seq, bat)


def test_lost_batchnorm_statistics_fail_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: BatchNorm's running statistics are not written back (the bug of handing BN
    non-contiguous views of the stacked rows)."""
    seq, bat = build_pair(method__name="simsiam", model__arch="resnet18", model__resnet_width=4, federation__client_fraction=1.0)
    monkeypatch.setattr(batched.FlatLayout, "flatten_buffers", lambda self, tensors, prefix="": _initial_buffers(bat, tensors))
    _fails(seq, bat, rounds=1)


def _initial_buffers(exp: engine.Experiment, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    k = next(iter(tensors.values())).shape[0]
    n = exp.state.n_params
    return exp.initial[n:][None].repeat(k, 1)



# --------------------------------------------------------------------------- torch.distributed


@pytest.mark.slow
def test_two_gloo_ranks_batched_match_in_process(tmp_path: Path) -> None:
    """Each rank batches its own clients: FedMAR (bank mode, 4 clients, 2 rounds) on 2 gloo
    ranks with batched clients equals the in-process batched run (test_distributed's tolerance)."""
    args = ["--set", *TINY, "federation.rounds=2", "federation.client_fraction=1.0", "method.global_repr=bank",
            "federation.batched_clients=true"]  # fmt: skip
    local(["--out", str(tmp_path / "in"), *args])
    proc = torchrun(2, ["--out", str(tmp_path / "two"), *args])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_run(tmp_path / "in", tmp_path / "two")


# --------------------------------------------------------------------------- CUDA (skipped here)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("arch", ["vit", "resnet18"])
def test_batched_equals_sequential_on_cuda(arch: str) -> None:
    """FedMAR (global encoder) on cuda, batched vs sequential, TF32 off (it would change the
    precision of the two paths' different kernels, not just their summation order); the
    AdamW state lives on cuda, its step counters on the CPU (OptimizerStates' two groups)."""
    prev = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        seq, bat = build_pair(method__name="mar", model__arch=arch, model__resnet_width=4, run__device="cuda",
                              optim__client_state="persist", federation__client_fraction=1.0)  # fmt: skip
        compare_rounds(seq, bat)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = prev
