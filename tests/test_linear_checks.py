"""linear_models.checks: verdict rules on synthetic numbers, and the verifier entry point."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import pytest

from linear_models import check as check_cli
from linear_models.checks import (
    claims_from_results,
    decreasing_in_connectivity,
    paired_difference,
    sampled_checks,
    sampled_configs,
    trained_s,
)
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
    back = graphs.parse_graph(graphs.edges_spec(top), 7, seed=99)
    assert back.edges == top.edges
    with pytest.raises(ParameterError, match="graph"):
        graphs.parse_graph("edges:0-x", 7, seed=0)


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


@pytest.mark.slow
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
    # the verdicts follow from the cached runs: recomputed from the files they are the same, and
    # making every CL run's trained s exceed every MIM run's by 0.5 turns thm4.4 into HOLDS
    files = sorted(tmp_path.rglob("*.json"))
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    assert {c["claim"]: c["verdict"] for c in claims_from_results(runs)} == {c["claim"]: c["verdict"] for c in claims}
    mim = {(r["config"]["framework"], r["config"]["graph"], r["config"]["seed"]): trained_s(r)
           for r in runs if r["config"]["method"] == "MIM"}
    for r in runs:
        c = r["config"]
        if c["method"] == "CL1" and c["framework"] != "local":
            r["final"]["global"]["s"]["[c]"] = mim[(c["framework"], c["graph"], c["seed"])] + 0.5
        elif c["method"] == "CL1":
            for client in r["final"]["clients"]:
                client["s"]["[c]"] = mim[("local", None, c["seed"])] + 0.5
    thm44 = next(c for c in claims_from_results(runs) if c["claim"] == "thm4.4")
    assert thm44["verdict"] == "HOLDS", thm44["numbers"]
    # the cached runs feed the command-line check
    assert check_cli.main(["--results", str(tmp_path), "--claims", "thm4.4"]) == 0
    assert capsys.readouterr().out.startswith("thm4.4")
    assert check_cli.main(["--results", str(tmp_path / "missing")]) == 2


def _synthetic(method: str, d: int, seed: int, s: float, n_clients: int | None = None) -> dict:
    """A FedAvg result with the fields the checks read; config resolved as the sweep does."""
    from linear_models.experiment import LinearRunConfig

    cfg = LinearRunConfig(method=method, framework="fedavg", d=d, seed=seed, n_clients=n_clients, rounds=4).resolve().to_dict()
    entry = {"s_interval": [s, s], "well_posed": True}
    return {"config": cfg, "final": {"global": {"s": {"[c]": s, "[N]": s, "rare": s}}},
            "exact": {"fl": {"s": {k: entry for k in ("[c]", "[N]", "rare")}, "subspace_distance": 0.0}},
            "data_optimum": None, "graph": None, "gossip_fixed_point": None}


def _run(method: str, framework: str, seed: int, s: float, exact: float | None = None, graph: str | None = None,
         abar: float | None = None, well_posed: bool = True) -> dict:
    """A synthetic run result (d = 64, N = 6) with trained s = ``s`` on every coordinate set, the exact s
    of its own target ``exact`` (default: ``s``), and for gossip the graph's |Ā|."""
    from linear_models.experiment import LinearRunConfig

    cfg = LinearRunConfig(method=method, framework=framework, d=64, seed=seed, rounds=4,
                    graph=graph if framework == "gossip" else None).resolve().to_dict()
    e = s if exact is None else exact
    entry = {"s_interval": [e, e] if well_posed else [e - 0.2, e + 0.2], "well_posed": well_posed}
    target = {"s": {k: entry for k in ("[c]", "[N]", "rare")}, "subspace_distance": 0.0}
    trained = {"s": {k: s for k in ("[c]", "[N]", "rare")}}
    out: dict = {"config": cfg, "data_optimum": None, "graph": None, "gossip_fixed_point": None}
    if framework == "local":
        out["final"] = {"clients": [trained] * 6}
        out["exact"] = {f"client:{i}": target for i in range(6)}
    else:
        out["final"] = {"global": trained}
        out["exact"] = {"pi" if framework == "gossip" else "fl": target, "omega": target}
    if framework == "gossip":
        out["graph"] = {"is_regular": True, "mean_connectivity": abar}
    return out


def _verdicts(runs: list[dict]) -> dict[str, str]:
    from linear_models.checks import claims_from_results

    return {c["claim"]: c["verdict"] for c in claims_from_results(runs)}


def test_claims_on_constructed_results_have_the_known_verdicts() -> None:
    noise = (0.0, 0.002, -0.002)  # seed-to-seed spread, far below every constructed effect
    # thm4.2-fl: trained s at its exact value -> HOLDS; 0.1 off (spread 0.002) -> FAILS; tie -> ILL-POSED
    at = [_run("MIM", "fedavg", k, 0.3 + e, exact=0.3) for k, e in enumerate(noise)]
    off = [_run("MIM", "fedavg", k, 0.4 + e, exact=0.3) for k, e in enumerate(noise)]
    tied = [_run("MIM", "fedavg", k, 0.3 + e, exact=0.3, well_posed=False) for k, e in enumerate(noise)]
    assert _verdicts(at)["thm4.2-fl"] == "HOLDS"
    assert _verdicts(off)["thm4.2-fl"] == "FAILS"
    assert _verdicts(tied)["thm4.2-fl"] == "ILL-POSED"
    # thm4.3-local reads the clients' mean s
    assert _verdicts([_run("CL1", "local", k, 0.5 + e, exact=0.2) for k, e in enumerate(noise)])["thm4.3-local"] == "FAILS"
    # thm4.4: s_C > s_M paired by seed
    mim = [_run("MIM", "fedavg", k, 0.1 + e) for k, e in enumerate(noise)]
    cl_above = [_run("CL1", "fedavg", k, 0.5 + e) for k, e in enumerate(noise)]
    cl_below = [_run("CL1", "fedavg", k, 0.05 + e) for k, e in enumerate(noise)]
    assert _verdicts(mim + cl_above)["thm4.4"] == "HOLDS"
    assert _verdicts(mim + cl_below)["thm4.4"] == "FAILS"
    # thm4.6: s_Dec >= s_Fed, every gossip graph against FedAvg; cor4.5: s_Dec decreasing in |Ā|
    fed = [_run("MIM", "fedavg", k, 0.3) for k in range(3)]
    graphs_abar = (("ring", 3.0), ("regular:4", 5.0), ("complete", 6.0))
    dec_down = [_run("MIM", "gossip", k, 0.9 / a + 0.4 + e, graph=g, abar=a)
                for k, e in enumerate(noise) for g, a in graphs_abar]
    dec_up = [_run("MIM", "gossip", k, 0.05 * a + e, graph=g, abar=a) for k, e in enumerate(noise) for g, a in graphs_abar]
    v = _verdicts(fed + dec_down)
    assert (v["thm4.6"], v["cor4.5"]) == ("HOLDS", "HOLDS")  # s_Dec = 0.4 + 0.9/|Ā| >= 0.3, decreasing in |Ā|
    v = _verdicts(fed + dec_up)
    assert (v["thm4.6"], v["cor4.5"]) == ("FAILS", "FAILS")  # s_Dec = 0.15, 0.25, 0.3: below 0.3, increasing


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
