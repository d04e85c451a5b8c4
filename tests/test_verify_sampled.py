"""The sampled level as a statistic (replicates, k SE, INCONCLUSIVE), ties carried from the
population, the two readings of asymptotic claims, and the eym / local-cell fixes (issue 9)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from theory.claims import limits
from theory.claims.registry import run_claims
from theory.sampler import draw_client_sample
from theory.stats import Decision, Settings, aggregate, decide, estimate, replicates_needed
from theory.verdict import LevelResult, Verdict
from theory.verify import build_parser, main, make_context


def _ctx(*argv: str):
    return make_context(build_parser().parse_args(list(argv)))


# --------------------------------------------------------------------------- statistics
def _replicates(margins: list[float]) -> list[LevelResult]:
    return [LevelResult(Verdict.HOLDS if m >= 0 else Verdict.FAILS, "one draw", {"x": m},
                        (Decision("cell", m, "x", m),)) for m in margins]


def test_margin_within_k_standard_errors_is_inconclusive():
    # mean 0.1, SE 0.1 / sqrt(4) * sd: well within 4 SE of 0, though every draw but one says HOLDS
    margins = [0.3, 0.2, 0.1, -0.2]
    est = estimate(margins)
    assert abs(est.mean) < 4 * est.se
    res = aggregate(_replicates(margins), Settings(replicates=4, k=4.0))
    assert res.verdict is Verdict.INCONCLUSIVE
    row = res.numbers["decisions"][0]
    assert row["margin"]["replicates"] == margins
    assert row["replicates_needed"] == replicates_needed(est, 4.0) > 4
    assert "within 4 SE" in res.summary and "±" in res.summary


def test_margin_beyond_k_standard_errors_decides_both_ways():
    assert aggregate(_replicates([1.0, 1.1, 0.9, 1.05]), Settings(4, 4.0)).verdict is Verdict.HOLDS
    assert aggregate(_replicates([-1.0, -1.1, -0.9, -1.05]), Settings(4, 4.0)).verdict is Verdict.FAILS
    # the same numbers with a k so large that nothing is decided
    assert aggregate(_replicates([1.0, 1.1, 0.9, 1.05]), Settings(4, 50.0)).verdict is Verdict.INCONCLUSIVE


def test_decide_and_replicates_needed_follow_the_standard_error():
    est = estimate([0.1, 0.3, 0.2, 0.0])  # mean 0.15, sd 0.129, SE 0.0645
    assert math.isclose(est.se, np.std([0.1, 0.3, 0.2, 0.0], ddof=1) / 2)
    assert decide(est, 2.0, Verdict.HOLDS, Verdict.FAILS) is Verdict.HOLDS  # 0.15 > 2 * 0.0645
    assert decide(est, 3.0, Verdict.HOLDS, Verdict.FAILS) is Verdict.INCONCLUSIVE
    # at R = replicates_needed the SE shrinks by sqrt(4 / R) and 3 SE fall below the mean
    r = replicates_needed(est, 3.0)
    assert 3.0 * est.se * math.sqrt(4 / r) < est.mean <= 3.0 * est.se * math.sqrt(4 / (r - 1))


def test_verify_reports_inconclusive_when_k_exceeds_the_measured_margin(tmp_path):
    """End to end: with k = 1000 no sampled slope of Eq. 20 is 1000 SE from the bound."""
    path = tmp_path / "r.json"
    assert main(["--d", "64", "--claims", "eq20-concentration", "--replicates", "3", "--k", "1000",
                 "--json", str(path), "--quiet", "--jobs", "1"]) == 0
    lv = json.loads(path.read_text())["claims"][0]["levels"]["sampled"]
    assert lv["verdict"] == "INCONCLUSIVE"
    rows = lv["decisions"]
    assert {r["name"] for r in rows} == {"MIM", "CL1", "CL2"}
    for r in rows:
        assert len(r["margin"]["replicates"]) == 3 and r["margin"]["se"] > 0
        assert abs(r["margin"]["mean"]) < 1000 * r["margin"]["se"]
        assert r["replicates_needed"] > 3


def test_report_header_states_replicates_and_k(capsys):
    assert main(["--d", "64", "--claims", "eq25-26-decl-objective", "--replicates", "2", "--k", "3.5", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "R=2 independent replicates" in out and "k=3.5 SE" in out


@pytest.mark.parametrize("flag,needle", [
    (["--replicates", "1"], "--replicates:"),
    (["--replicates", "0"], "--replicates:"),
    (["--k", "0"], "--k:"),
    (["--k", "-2"], "--k:"),
    (["--k", "nan"], "--k:"),
    (["--k", "inf"], "--k:"),
    (["--limit-d-max", "32"], "--limit-d-max:"),
])
def test_bad_replicates_and_k_exit_2_with_one_line(flag, needle, capsys):
    assert main(["--d", "64", *flag]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + needle) and err.count("\n") == 1


def test_replicates_are_independent_and_replicate_zero_keeps_the_single_draw():
    ctx = _ctx("--d", "64")
    cfg = ctx.cfg
    a0 = ctx.analysis.with_replicate(0).data[0].x
    a1 = ctx.analysis.with_replicate(1).data[0].x
    assert np.array_equal(a0, draw_client_sample(cfg, 0, cfg.seed).x)  # the draw used before replicates
    assert not np.allclose(a0, a1)
    x0 = ctx.analysis.with_replicate(0).x_local("sampled", "MIM")[0]
    x1 = ctx.analysis.with_replicate(1).x_local("sampled", "MIM")[0]
    assert not np.allclose(x0, x1)
    # the exact quantities are shared, not recomputed per replicate
    assert ctx.analysis.with_replicate(1).x_local("exact", "MIM") is ctx.analysis.x_local("exact", "MIM")


# --------------------------------------------------------------------------- ties from the population
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tie_cells_are_ill_posed_or_inconclusive_at_the_sampled_level(seed):
    """Thm 4.4 over [c]: the exact CL1 subspace is tied, so no seed may give a sampled HOLDS/FAILS
    (before issue 9 the sampled level said HOLDS, from whichever way the noise broke the tie)."""
    ctx = _ctx("--d", "64", "--seed", str(seed), "--replicates", "2")
    exact, = run_claims(ctx, ["thm4.4"], levels=("exact",))
    assert exact.levels["exact"].numbers["cells"]["decl/CL1/[c]"]["verdict"] == "ILL-POSED"
    res, = run_claims(ctx, ["thm4.4"], levels=("sampled",))
    lv = res.levels["sampled"]
    assert lv.verdict not in (Verdict.HOLDS, Verdict.FAILS)
    assert lv.numbers["by_group"]["[c]"] in ("ILL-POSED", "INCONCLUSIVE")
    rows = {r["name"]: r for r in lv.numbers["decisions"]}
    for fw in ("decl", "fl"):
        row = rows[f"{fw}/CL1/[c]"]
        assert row["verdict"] == "ILL-POSED"
        lo, hi = row["population"]["s_C"]  # the exact interval, not a sampled number
        assert hi - lo > 1e-6
    # every sampled cell that is not identified carries both numbers
    for row in lv.numbers["decisions"]:
        ident = row.get("identification")
        if row["verdict"] == "INCONCLUSIVE" and ident and ident["status"] == "near-tie":
            assert ident["population_eigengap"] <= 2 * ident["sampling_deviation"]["mean"]


def test_identification_uses_the_population_gap_and_the_measured_deviation():
    ctx = _ctx("--d", "64")
    an = ctx.analysis
    ident = an.identification("MIM", "fl")
    # the population MIM minimiser has rank 1 < c; the sample's noise makes c eigenvalues positive
    assert (ident.sampled_rank, ident.population_rank) == (ctx.cfg.c, 1)
    assert ident.status == "near-tie" and ident.population_gap == 0.0
    dev = np.linalg.norm(np.asarray(an.matrix("sampled", "MIM", "fl")) - an.matrix("exact", "MIM", "fl").dense(), 2)
    assert math.isclose(ident.deviation, dev, rel_tol=1e-8)


# --------------------------------------------------------------------------- the eym and local-cell fixes
def test_positive_eigenvalues_are_counted_not_truncated():
    ctx = _ctx("--d", "128", "--no-sampled")
    an = ctx.analysis
    x = an.matrix("exact", "CL2", "local")  # circulant + low rank (theory.circulant); dense only here
    ev = np.linalg.eigvalsh(x.dense() if hasattr(x, "dense") else np.asarray(x))
    tol = an.rtol * np.max(np.abs(ev))
    truth = int(np.sum(ev > tol))
    assert truth > ctx.cfg.c + 16  # the case the old count (leading c + 16 only) got wrong
    assert an.n_positive("exact", "CL2", "local") == truth
    res, = run_claims(ctx, ["eym-top-c"], levels=("exact",))
    assert res.levels["exact"].numbers["cells"]["CL2/local"]["n_positive_eigenvalues"] == truth
    # a subspace diagnostic built on the leading c + 16 eigenvalues gives no count, only a lower bound
    diag = an.subspace("exact", "CL2", "local").diagnostic()
    assert diag["n_positive_eigenvalues"] in (None, truth) and diag["n_positive_at_least"] <= truth


def test_local_rv_cells_are_keyed_by_the_coordinates_used():
    ctx = _ctx("--d", "64", "--no-sampled")
    res, = run_claims(ctx, ["thm4.2-local"], levels=("exact",))
    coords = res.to_dict()["levels"]["exact"]["coordinates"]
    assert set(coords) == {"[N]\\{i}", "[N]"}
    an, n = ctx.analysis, ctx.cfg.n_clients
    # independent recomputation: r_k on [N]∖{i}, every client, from the minimiser subspace
    r_min = min(float(np.min(an.subspace("exact", "MIM", "local", client=i).rv_bounds(
        [k for k in range(n) if k != i])[0])) for i in range(n))
    assert math.isclose(coords["[N]\\{i}"]["r_min"], r_min, abs_tol=1e-12)


# --------------------------------------------------------------------------- the two readings
def test_limit_reading_of_a_margin_that_vanishes_from_below():
    ds = [512, 1024, 2048]
    ms = [(-1.96e-3, -1.96e-3), (-4.4e-4, -4.4e-4), (-1.1e-4, -1.1e-4)]  # P6 / CL2 of Thm 4.6
    weak = limits.read(ds, ms, strict=False)
    assert weak["at_d"] == "FAILS" and weak["sign_pattern"] == "---"
    assert weak["as_d_grows"] == "INCONCLUSIVE" and "consistent with the limit" in weak["trend"]
    assert -2.3 < weak["trend_exponent"] < -1.9
    assert limits.read(ds, ms, strict=True)["as_d_grows"] == "FAILS"
    flat = limits.read(ds, [(-0.5, -0.5)] * 3, strict=False)
    assert flat["as_d_grows"] == "FAILS"
    turn = limits.read(ds, [(-8e-4, -8e-4), (-6e-5, -6e-5), (1.4e-4, 1.4e-4)], strict=False)
    assert turn["at_d"] == "FAILS" and turn["as_d_grows"] == "HOLDS" and "from d=2048" in turn["trend"]
    tied = limits.read(ds, [(0.1, 0.1), (0.1, 0.1), (-0.2, 0.3)], strict=True)
    assert tied["as_d_grows"] == "ILL-POSED"
    assert limits.read([512], [(-1.0, -1.0)], strict=False)["as_d_grows"] == "INCONCLUSIVE"


def test_asymptotic_claims_report_both_readings():
    ctx = _ctx("--d", "64", "--no-sampled", "--limit-dense-d-max", "128")
    for res in run_claims(ctx, ["thm4.2-local", "thm4.3-fl", "thm4.4", "cor4.5", "thm4.6"], levels=("exact",)):
        rd = res.levels["exact"].numbers["readings"]
        assert rd["at_d"] in {v.value for v in Verdict} and rd["as_d_grows"] in {v.value for v in Verdict}
        assert rd["text"]
    thm46, = run_claims(ctx, ["thm4.6"], levels=("exact",))
    cell = thm46.levels["exact"].numbers["readings"]["cells"]["CL2/[c]/path"]
    # CL2 with the circulant blur H is structured (theory.circulant): it reaches --limit-d-max like
    # the block-structured cells; --limit-dense-d-max only bounds a non-circulant user H
    assert cell["d_grid"] == [64, 128, 256, 512]


def test_cor45_reading_can_hold_and_fail():
    """The cor4.5 margin carries S_TOL itself, so its limit reading is read against 0: a falling s
    reads HOLDS (it could never, when S_TOL was applied twice), a rising one FAILS."""
    from theory.claims import cor45

    def series(values):
        return [{"mean_connectivity": a, "s": s, "well_posed": True} for a, s in zip((2.0, 3.0, 4.0), values)]

    for values, want in (((0.9, 0.8, 0.7), "HOLDS"), ((0.7, 0.8, 0.9), "FAILS"), ((0.8, 0.8, 0.8), "FAILS")):
        assert cor45._monotone_verdict(series(values))[0].value == want
        m = cor45._monotone_margin(series(values))
        assert limits.read([64, 128], [(m, m), (m, m)], strict=True, tol=0.0)["at_d"] == want
