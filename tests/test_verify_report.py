"""Issue 14: the report read in full — wrapped text (nothing cut), --explain, Markdown, progress."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from theory.explain import explain
from theory.render_markdown import digest, findings_table, render_markdown
from theory.report import INDENT, render_text
from theory.verify import Progress, main

ROOT = Path(__file__).resolve().parent.parent
LONG = ("k in [c]: min r = 0 vs bound 0.9764 (C=1); smallest C = inf, slope in d inf. " * 6).strip()


def synthetic_report() -> dict:
    """A report whose summaries are far longer than any line (the cut of issue 14 hid their ends)."""
    lv = {"verdict": "INCONCLUSIVE", "summary": LONG + " END-OF-SUMMARY",
          "readings": {"at_d": "FAILS", "as_d_grows": "FAILS", "text": LONG + " END-OF-READING"}}
    params = {"d": 512, "N": 6, "c": 12, "p": 0.75, "tau": 3.48, "mu": 0.287, "samples_per_client": 1047,
              "q_mode": "per-sample", "rare_axes": [2, 4, 6, 8, 10, 0], "augmentation": "blur", "seed": 0,
              "topology": "path", "mean_connectivity": 2.667, "git_revision": "abc1234", "elapsed_s": 1.0,
              "sampled": True, "replicates": 4, "k": 4.0}
    claim = {"id": "eq25-26-decl-objective", "statement": "s | t", "levels": {"printed": lv, "exact": lv, "sampled": lv}}
    return {"params": params, "claims": [claim],
            "disagreements": [{"id": claim["id"], "levels": {"exact": {"verdict": "FAILS", "summary": LONG + " END-OF-LIST"}}}]}


@pytest.mark.parametrize("width", [80, 100, 137])
def test_text_report_wraps_every_cell_in_full_and_keeps_columns(width):
    text = render_text(synthetic_report(), width=width)
    assert "…" not in text
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width
    for end in ("END-OF-SUMMARY", "END-OF-READING", "END-OF-LIST"):
        assert end in text  # the end of every long cell is printed, not cut
    # each level's key-numbers cell, its wrapped lines joined, is the whole summary and reading,
    # every word in order (a dropped, repeated or reordered word fails)
    starts = [i for i, ln in enumerate(lines) if re.match(r"^\S*\s+(printed|exact|sampled) ", ln)]
    col = lines[starts[0]].index("k in [c]")
    end = next(i for i, ln in enumerate(lines) if i > starts[-1] and not ln.strip())
    want = " ".join(f"{LONG} END-OF-SUMMARY at this d FAILS, as d grows FAILS: {LONG} END-OF-READING".split())
    for a, b in zip(starts, [*starts[1:], end]):
        assert all(not ln[:col].strip() for ln in lines[a + 1 : b])  # continuations only in the column
        assert " ".join(" ".join(ln[col:] for ln in lines[a:b]).split()) == want
    # continuation lines start at the key-numbers column; verdicts sit in one column
    rows = [ln for ln in lines if re.match(r"^\S*\s+(printed|exact|sampled) ", ln)]
    assert len(rows) == 3 and {ln.index("INCONCLUSIVE") for ln in rows} == {34}
    assert all(ln[INDENT - 1] == " " and ln[INDENT] != " " for ln in rows)


def test_progress_only_on_a_terminal_after_a_few_seconds(capsys):
    p = Progress(4, enabled=True, after_s=3600.0)  # a short run: nothing
    p("thm4.6", "exact")
    p.close()
    assert capsys.readouterr().err == ""
    p = Progress(4, enabled=True, after_s=0.0)
    p("thm4.6", "exact")
    p.close()
    assert "[  1/4] thm4.6" in capsys.readouterr().err
    p = Progress(4, enabled=False, after_s=0.0)  # stderr not a terminal, or --quiet
    p("thm4.6", "exact")
    assert capsys.readouterr().err == ""


def test_a_run_with_stderr_not_a_terminal_prints_no_progress(capsys):
    assert main(["--d", "64", "--claims", "eq29-30-decl-average", "--no-sampled"]) == 0
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- --explain
@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    path = tmp_path_factory.mktemp("explain") / "thm46.json"
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["--d", "64", "--explain", "thm4.6", "--replicates", "2", "--json", str(path)]) == 0
    return buf.getvalue(), json.loads(path.read_text())


def test_explain_shows_every_cell_of_thm46(explained):
    text, report = explained
    assert [c["id"] for c in report["claims"]] == ["thm4.6"]  # --explain runs only its claims
    exact = report["claims"][0]["levels"]["exact"]
    n = 0
    for key, row in exact["cells"].items():  # method/coordinate set x graph
        for g in row["graphs"]:
            assert f"cells.{key}.graphs[{g['graph']}].margin = " in text
            n += 1
    assert n >= 3 * 2 * 4
    for cell in exact["readings"]["cells"]:  # both readings of every cell
        assert re.search(re.escape(cell) + r": at this d \S+, as d grows \S+", text)
    assert "deciding margins (mean ± SE over the replicates)" in text and " ± " in text
    assert "Theorem 4.6; Eqs. 62-64 (DecL), 71-73 (FL)" in text
    assert "─" in text and "printed value here" in text and "exact s over [c] on FL" in text  # pretty sympy
    ex = report["explain"][0]  # --json holds the same content
    assert ex["id"] == "thm4.6" and ex["counterexamples"] and ex["levels"]["exact"]["cells"]
    for ce in ex["counterexamples"]:
        assert ce["command"] in " ".join(text.split())  # printed, maybe wrapped


def test_explain_counterexample_command_reproduces_its_cell(explained, tmp_path):
    """The printed command, run as it stands, makes the counterexample's graph the run's own graph,
    with the same margin s_Dec - s_Fed (pinned: the path P5 at d = 64, CL2 over [c])."""
    _, report = explained
    ce = report["explain"][0]["counterexamples"][0]
    assert (ce["level"], ce["where"], ce["graph"]) == ("exact", "[c]", "path")
    margin = report["claims"][0]["levels"]["exact"]["counterexamples"]["[c]"]["margin"]
    assert margin == pytest.approx(-0.009861, abs=1e-6)
    argv = shlex.split(ce["command"])
    assert argv[:3] == ["python", "-m", "theory.verify"]
    path = tmp_path / "again.json"
    assert main([*argv[3:], "--json", str(path)]) == 0
    again = json.loads(path.read_text())
    assert again["params"]["topology"] == "path"
    own = again["claims"][0]["levels"]["exact"]["cells"]["CL2/[c]"]["graphs"][0]  # the run's own graph first
    assert own["graph"] == "path" and own["margin"] == pytest.approx(margin, abs=1e-12)


def test_explain_reproduces_a_drawn_graph_by_its_edges():
    from theory.explain import command

    cmd = command(["--d", "512", "--topology", "abar", "--abar", "4"], "thm4.6", "mean-connectivity(5.67)",
                  [[0, 1], [1, 2], [0, 2]], sampled=False)
    assert cmd == "python -m theory.verify --d 512 --edges 0-1,1-2,0-2 --no-sampled --explain thm4.6"


# --------------------------------------------------------------------------- markdown
def parse_tables(md: str) -> list[list[list[str]]]:
    """Every GitHub-flavoured Markdown table of ``md`` as rows of cells; asserts each is well formed
    (a header, a delimiter row with one cell per column, rows with the header's number of cells)."""
    tables, block = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            rows = [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in block]
            assert all(ln.endswith("|") for ln in block), block[0]
            assert len(rows) >= 2 and all(re.fullmatch(r":?-{3,}:?", c) for c in rows[1]), block[:2]
            assert all(len(r) == len(rows[0]) for r in rows), [ln for ln, r in zip(block, rows) if len(r) != len(rows[0])][:1]
            tables.append([rows[0], *rows[2:]])
            block = []
    return tables


def test_markdown_is_valid_and_byte_stable(tmp_path):
    argv = ["--d", "64", "--claims", "eq29-30-decl-average,thm4.2-decl,eq20-concentration", "--replicates", "2",
            "--format", "markdown"]
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    assert main([*argv, "--out", str(a), "--jobs", "2"]) == 0
    assert main([*argv, "--out", str(b), "--jobs", "1"]) == 0
    assert a.read_bytes() == b.read_bytes()  # no timings, sorted keys: the same inputs give the same bytes
    md = a.read_text()
    tables = parse_tables(md)
    summary = next(t for t in tables if t[0] == ["claim", "printed", "exact", "sampled", "finding"])
    assert [r[0] for r in summary[1:]] == ["`eq20-concentration`", "`eq29-30-decl-average`", "`thm4.2-decl`"]
    assert all(r[4] and "…" not in r[4] for r in summary[1:])
    assert tables[0][0] == ["parameter", "value"]
    params = dict(tuple(r) for r in tables[0][1:])
    assert {"seed", "replicates", "k", "git_revision", "d"} <= set(params) and "elapsed_s" not in params
    for cid in ("eq20-concentration", "eq29-30-decl-average", "thm4.2-decl"):
        assert f"## `{cid}`" in md


def test_markdown_escapes_pipes_and_markup():
    md = render_markdown(synthetic_report())
    tables = parse_tables(md)  # 'statement': 's | t' and |D_i| would split cells if not escaped
    assert tables and "s \\| t" in md


def test_table_only_is_the_findings_table(capsys):
    assert main(["--d", "64", "--claims", "eq29-30-decl-average", "--no-sampled", "--format", "markdown",
                 "--table-only"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| claim | printed | exact | sampled | finding |") and len(parse_tables(out)) == 1


# --------------------------------------------------------------------------- README
def test_readme_findings_table_is_the_generated_one():
    """README's table is what scripts/findings_table.py makes of docs/verify-d512.json (the digest
    of the d = 512 report; regenerate both with `python scripts/findings_table.py`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("findings_table", ROOT / "scripts" / "findings_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    small = json.loads((ROOT / "docs" / "verify-d512.json").read_text(encoding="utf-8"))
    assert small["params"]["d"] == 512
    table = findings_table(small)
    assert mod.readme_table((ROOT / "README.md").read_text(encoding="utf-8")) == table
    parse_tables(table)


def test_digest_keeps_what_the_table_reads(explained):
    _, report = explained
    assert findings_table(digest(report)) == findings_table(report)
    assert findings_table(json.loads(json.dumps(digest(report), sort_keys=True))) == findings_table(report)
    ex = explain(report, "thm4.6")
    assert ex["counterexamples"] and ex["printed_forms"]
