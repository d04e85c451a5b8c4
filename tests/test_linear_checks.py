"""linear_models.checks: verdict rules on synthetic numbers, and the verifier entry point."""

from __future__ import annotations

from pathlib import Path

import jax
import pytest

from linear_models import check as check_cli
from linear_models.checks import (decreasing_in_connectivity, paired_difference, sampled_checks, sampled_configs,
                                  topology_spec)
from linear_models.experiment import make_topology
from theory import graphs
from theory.errors import ParameterError
from theory.model import paper_config

jax.config.update("jax_numpy_rank_promotion", "raise")


def test_strict_comparison_needs_a_margin_beyond_the_seed_spread() -> None:
    a = {0: 0.50, 1: 0.52, 2: 0.49}
    assert paired_difference(a, {0: 0.10, 1: 0.11, 2: 0.12}, strict=True)["verdict"] == "HOLDS"
    # differences of +-0.02 around 0: not established
    assert paired_difference(a, {0: 0.48, 1: 0.54, 2: 0.49}, strict=True)["verdict"] == "FAILS"
    # ... but compatible with ">="
    assert paired_difference(a, {0: 0.48, 1: 0.54, 2: 0.49}, strict=False)["verdict"] == "HOLDS"
    assert paired_difference(a, {0: 0.90, 1: 0.91, 2: 0.92}, strict=False)["verdict"] == "FAILS"
    assert paired_difference(a, {5: 0.1}, strict=True)["verdict"] == "ILL-POSED"


def test_floor_applies_to_sensitivities_not_to_continuous_quantities() -> None:
    # a consistent gap of 5e-4 (seed spread 1e-5) is below the 1e-3 floor for s, not for Gram errors
    a = {0: 1.0005, 1: 1.00051, 2: 1.00049}
    b = {0: 1.0, 1: 1.0, 2: 1.0}
    assert paired_difference(a, b, strict=True)["verdict"] == "FAILS"
    assert paired_difference(a, b, strict=True, floor=0.0)["verdict"] == "HOLDS"


def test_decrease_in_connectivity_uses_per_seed_slopes() -> None:
    down = [(s, a, 1.0 / a + 0.01 * s) for s in range(3) for a in (3.0, 5.0, 10.0)]
    flat = [(s, a, 0.05 + 0.001 * ((s + int(a)) % 3)) for s in range(3) for a in (3.0, 5.0, 10.0)]
    assert decreasing_in_connectivity(down)["verdict"] == "HOLDS"
    assert decreasing_in_connectivity(flat)["verdict"] == "FAILS"
    assert decreasing_in_connectivity([(0, 4.0, 0.1)])["verdict"] == "ILL-POSED"


def test_topology_spec_round_trips() -> None:
    top = graphs.with_mean_connectivity(7, 4.0, seed=3)
    back = make_topology(topology_spec(top), 7, seed=99)
    assert back.edges == top.edges
    with pytest.raises(ParameterError, match="graph"):
        make_topology("edges:0-x", 7, seed=0)


def test_sampled_configs_cover_the_cells_and_graph_families() -> None:
    cfg = paper_config(128, n_clients=6)
    configs = sampled_configs(cfg, graphs.ring(6), seed=0, n_seeds=2)
    cells = {(c.method, c.framework) for c in configs}
    assert cells == {(m, f) for m in ("MIM", "CL1", "CL2") for f in ("local", "fedavg", "gossip")}
    assert sorted({c.d for c in configs}) == [32, 64, 128]
    graphs_at_d = {c.graph for c in configs if c.framework == "gossip" and c.d == 128}
    assert {"ring", "regular:3", "regular:4", "complete"} <= graphs_at_d
    with pytest.raises(ParameterError, match="topology"):
        sampled_configs(cfg, graphs.ring(5), seed=0)


def test_sampled_checks_return_verdicts_for_the_claims(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the same tiny shapes as tests/test_linear_sweep.py, so that the compiled programs are shared
    cfg = paper_config(32, n_clients=3, n_frequent=20, n_rare=4)
    claims = sampled_checks(cfg, graphs.path(3), seed=0, n_seeds=2, d_grid=(32,), methods=("MIM", "CL1"),
                            overrides={"rounds": 4}, cache_dir=str(tmp_path))
    ids = {c["claim"] for c in claims}
    assert {"thm4.2-local", "thm4.2-decl", "thm4.2-fl", "thm4.3-local", "thm4.3-decl", "thm4.3-fl",
            "thm4.4", "thm4.6", "cor4.5"} <= ids
    assert all(c["verdict"] in ("HOLDS", "FAILS", "ILL-POSED") for c in claims)
    assert all(isinstance(c["numbers"], dict) and c["numbers"] for c in claims)
    # the cached runs feed the command-line check
    assert check_cli.main(["--results", str(tmp_path), "--claims", "thm4.4"]) == 0
    assert capsys.readouterr().out.startswith("thm4.4")
    assert check_cli.main(["--results", str(tmp_path / "missing")]) == 2


def _synthetic(method: str, d: int, seed: int, s: float, n_clients: int | None = None) -> dict:
    """A FedAvg result with the fields the checks read; config resolved as the sweep does."""
    from linear_models.experiment import RunConfig

    cfg = RunConfig(method=method, framework="fedavg", d=d, seed=seed, n_clients=n_clients, rounds=4).resolve().to_dict()
    entry = {"s_interval": [s, s], "well_posed": True}
    return {"config": cfg, "final": {"global": {"s": {"[c]": s, "[N]": s, "rare": s}}},
            "exact": {"fl": {"s": {k: entry for k in ("[c]", "[N]", "rare")}, "subspace_distance": 0.0}},
            "data_optimum": None, "graph": None, "gossip_fixed_point": None}


def test_a_d_sweep_is_one_family_for_the_rate_in_d() -> None:
    from linear_models.checks import claims_from_results, family_key

    runs = [_synthetic("MIM", d, seed, 2.0 * d ** -0.8 * (1 + 0.01 * seed)) for d in (32, 64, 128) for seed in (0, 1)]
    # N, c, τ = d^(1/5), μ = d^(-1/5) and the sample sizes are resolved per d (the paper's scalings),
    # yet the runs form one family
    assert runs[0]["config"]["tau"] != runs[-1]["config"]["tau"]
    assert len({family_key(r) for r in runs}) == 1
    # a run at one of these d with another N is not part of it, and a d-sweep at a fixed N is a family too
    assert family_key(_synthetic("MIM", 64, 0, 0.05, n_clients=20)) != family_key(runs[0])
    fixed_n = [_synthetic("MIM", d, 0, 0.1, n_clients=3) for d in (32, 64)]
    assert family_key(fixed_n[0]) == family_key(fixed_n[1]) != family_key(runs[0])
    claim = next(c for c in claims_from_results(runs) if c["claim"] == "thm4.2-fl")
    rate = claim["numbers"]["rate MIM fedavg"]
    assert rate["trained_slope"] == pytest.approx(-0.8, abs=1e-9) and rate["verdict"] == "HOLDS"
    # a fixed τ is another family
    fixed = [dict(r, config={**r["config"], "tau": 2.0}) for r in runs]
    assert len({family_key(r) for r in runs + fixed}) == 2
