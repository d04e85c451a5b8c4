"""The command line of the verifier: report, JSON schema, strict mode and bad input."""

from __future__ import annotations

import json

import pytest

from theory.claims.registry import claim_ids
from theory.verify import main

SPEC_IDS = (
    "eq16-stationarity", "eym-top-c", "eq17-mim-matrix", "eq18-mim-expectation", "eq44-cl-expectation",
    "eq56-cl-dissimilar", "eq20-concentration", "eq19-24-rv-bound", "eq25-26-decl-objective",
    "eq29-30-decl-average", "eq36-37-fl-average", "thm4.2-local", "thm4.2-decl", "thm4.2-fl",
    "thm4.3-local", "thm4.3-decl", "thm4.3-fl", "thm4.4", "cor4.5", "thm4.6",
)
VERDICTS = {"HOLDS", "FAILS", "VACUOUS", "ILL-POSED", "INCONCLUSIVE", "N/A"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("verify") / "report.json"
    # --jobs 2 explicitly: test_two_processes_give_the_report_of_one compares it with --jobs 1
    assert main(["--d", "128", "--json", str(path), "--quiet", "--jobs", "2"]) == 0
    return json.loads(path.read_text())


def test_every_spec_id_is_registered():
    assert set(SPEC_IDS) <= set(claim_ids())


def test_json_schema_and_three_levels(report):
    assert {"params", "claims"} <= set(report)
    assert report["params"]["d"] == 128
    ids = [c["id"] for c in report["claims"]]
    assert set(SPEC_IDS) <= set(ids)
    for c in report["claims"]:
        assert set(c) >= {"id", "statement", "levels"}
        assert set(c["levels"]) == {"printed", "exact", "sampled"}
        for lv in c["levels"].values():
            assert lv["verdict"] in VERDICTS
            assert isinstance(lv["summary"], str) and lv["summary"]


def test_refuted_steps_are_reported_as_failing(report):
    by_id = {c["id"]: c for c in report["claims"]}
    # pinned: the exact model refutes these printed steps at d = 128 (see tests/test_counterexamples.py)
    for cid in ("eq16-stationarity", "eq17-mim-matrix", "eq18-mim-expectation", "eq44-cl-expectation"):
        assert by_id[cid]["levels"]["exact"]["verdict"] == "FAILS"
    assert by_id["eq19-24-rv-bound"]["levels"]["printed"]["verdict"] == "VACUOUS"
    assert by_id["eq25-26-decl-objective"]["levels"]["exact"]["verdict"] == "HOLDS"


def test_text_report_has_one_row_per_claim_and_level(capsys):
    assert main(["--d", "64", "--claims", "eq29-30-decl-average,eq25-26-decl-objective"]) == 0
    out = capsys.readouterr().out
    assert "eq29-30-decl-average" in out and "Where the paper and the exact model disagree" in out
    assert out.count("printed ") >= 2 and out.count("exact ") >= 2 and out.count("sampled ") >= 2


def test_strict_exits_nonzero_on_a_failing_claim():
    assert main(["--d", "64", "--claims", "eq29-30-decl-average", "--quiet", "--strict"]) == 1
    assert main(["--d", "64", "--claims", "eq25-26-decl-objective", "--quiet", "--strict"]) == 0


@pytest.mark.parametrize("argv,needle", [
    (["--d", "64", "--c", "100"], "c:"),
    (["--d", "64", "--p", "1.5"], "p:"),
    (["--d", "64", "--p", "0"], "p:"),
    (["--d", "64", "--N", "1"], "N:"),
    (["--d", "64", "--abar", "1.5"], "--abar:"),
    (["--d", "64", "--abar", "9"], "--abar:"),
    (["--d", "64", "--topology", "abar", "--abar", "2.2", "--N", "8"], "mean_connectivity:"),
    (["--d", "64", "--n-frequent", "2", "--n-rare", "0"], "--n-frequent:"),
    (["--d", "64", "--n-frequent", "0"], "n_frequent:"),
    (["--d", "64", "--claims", "thm9.9"], "--claims:"),
    (["--d", "64", "--const", "C_M=-1"], "--const:"),
    (["--d", "64", "--width", "20"], "--width:"),
    (["--d", "64", "--explain", "thm9.9"], "--explain:"),
    (["--d", "64", "--explain", "thm4.6", "--format", "markdown"], "--format:"),
    (["--d", "64", "--table-only"], "--table-only:"),
    (["--d", "64", "--edges", "0-1,2-3"], "--edges:"),
    (["--d", "64", "--edges", "0-9"], "--edges:"),
])
def test_bad_input_exits_2_with_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err


def test_two_processes_give_the_report_of_one(report, tmp_path):
    """--jobs 2 splits the levels over two processes; the claims must not change."""
    path = tmp_path / "one.json"
    assert main(["--d", "128", "--json", str(path), "--quiet", "--jobs", "1"]) == 0
    assert json.loads(path.read_text())["claims"] == report["claims"]


@pytest.mark.parametrize("flag", [["--jobs", "3"], ["--jobs", "0"], ["--threads", "-1"]])
def test_bad_process_and_thread_counts_exit_2(flag, capsys):
    assert main(["--d", "64", *flag]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + flag[0]) and err.count("\n") == 1


def test_each_claim_is_defined_in_one_block_module():
    """Issue 9, part 6: a claim's printed and computed checks sit in the same module, registered once."""
    import functools

    from theory.claims import base
    from theory.claims.registry import CLAIMS

    def home(fn):
        return (fn.func if isinstance(fn, functools.partial) else fn).__module__

    for c in CLAIMS:
        assert home(c.printed) == home(c.computed), c.id
        assert home(c.computed).split(".")[-1] not in ("steps", "theorems", "printed_level", "registry"), c.id
    with pytest.raises(ValueError, match="registered twice"):
        base.register(CLAIMS[0])
