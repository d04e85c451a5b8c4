"""The verification report as Markdown: ``python -m theory.verify --format markdown``.

A header with the parameters (sorted by name; seed, R, k and git revision among them), a
summary table (claim, printed / exact / sampled verdicts, one-line finding in full) and one
section per claim with its levels, readings, deciding margins and cells. The output depends on
the report's content only (no timings, no dates; keys sorted), so the same inputs give the same
bytes. :func:`findings_table` is the table of README.md ("What the toolkit finds"), regenerated
by ``python -m theory.verify --d 512 --format markdown --table-only``.
"""

from __future__ import annotations

from typing import Any, Mapping

from .explain import PAPER_REFS, fmt, level_cells
from .stats import row_text
from .verdict import LEVELS

# characters that Markdown (GitHub's dialect) would read as markup inside a table cell
_ESCAPE = str.maketrans({c: "\\" + c for c in "\\|*`<>~$"})
# parameters left out of the header: timing (not an input) and what the sections already show
_NOT_PARAMS = ("elapsed_s",)


def cell(text: Any) -> str:
    """One table cell: whitespace collapsed to single spaces, Markdown markup escaped."""
    return " ".join(str(text).split()).translate(_ESCAPE)


def finding(claim: Mapping[str, Any]) -> str:
    """The one-line finding of a claim: the summary of the exact level (the stated model), else of
    the sampled, else of the printed level; plus the "as d grows" reading when the summary does not
    already state it."""
    levels = claim["levels"]
    lv = next((levels[k] for k in ("exact", "sampled", "printed") if k in levels and levels[k]["verdict"] != "N/A"),
              next(levels[k] for k in LEVELS if k in levels))
    text = lv["summary"]
    rd = lv.get("readings")
    if isinstance(rd, Mapping) and "as d grows" not in text and "Readings" not in text:
        text += f". As d grows: {rd['as_d_grows']} ({rd['text']})"
    return text


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows]
    return out


def findings_table(report: Mapping[str, Any]) -> str:
    """The summary table: claim, the verdict at each level, the finding in full."""
    rows = [[f"`{c['id']}`".replace("`", "\0")] + [c["levels"].get(lvl, {}).get("verdict", "") for lvl in LEVELS]
            + [finding(c)] for c in report["claims"]]
    # the claim id is code: escape its text, keep its backticks
    return "\n".join(table(["claim", *LEVELS, "finding"], rows)).replace("\0", "`") + "\n"


def header(report: Mapping[str, Any]) -> list[str]:
    p = report["params"]
    rows = [[k, fmt(v)] for k, v in sorted(p.items()) if k not in _NOT_PARAMS]
    return ["# Verification of Chen et al. (ICLR 2026) in its linear model (Section 3.2)", "",
            f"`python -m theory.verify`, git revision {cell(p['git_revision'])}, seed {p['seed']}, sampled level "
            f"R = {p['replicates']} replicates and k = {p['k']:g} standard errors"
            + ("" if p.get("sampled") else " (skipped)") + ".", "",
            *table(["parameter", "value"], rows)]


def section(claim: Mapping[str, Any]) -> list[str]:
    out = [f"## `{claim['id']}`", "", cell(claim["statement"])]
    if claim["id"] in PAPER_REFS:
        out += ["", f"Paper: {cell(PAPER_REFS[claim['id']])}."]
    for lvl in LEVELS:
        lv = claim["levels"].get(lvl)
        if lv is None:
            continue
        out += ["", f"### {lvl}: {lv['verdict']}", "", cell(lv["summary"])]
        rd = lv.get("readings")
        if isinstance(rd, Mapping):
            out += ["", f"Readings: at this d {rd['at_d']}, as d grows {rd['as_d_grows']} ({cell(rd['text'])})."]
            if rd.get("cells"):
                out += ["", *table(["cell", "at this d", "as d grows", "signs", "d", "margin", "trend"],
                                   [[k, c["at_d"], c["as_d_grows"], c["sign_pattern"], fmt(c["d_grid"]),
                                     fmt(c["margin"]), c["trend"]] for k, c in sorted(rd["cells"].items())])]
        if lv.get("decisions"):
            out += ["", *table(["deciding margin (mean ± SE)", "verdict"],
                               [[row_text(r), r["verdict"]] for r in lv["decisions"]])]
        cells = level_cells(lv)
        if cells:
            out += ["", *table(["cell", "value"], [list(c) for c in cells])]
    return out


def render_markdown(report: Mapping[str, Any], table_only: bool = False) -> str:
    """The report as Markdown (or only its findings table); byte-stable for the same report content."""
    if table_only:
        return findings_table(report)
    lines = [*header(report), "", "## Summary", "", findings_table(report).rstrip("\n")]
    for c in report["claims"]:
        lines += ["", *section(c)]
    return "\n".join(lines) + "\n"


def digest(report: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a report that :func:`findings_table` reads (parameters, and per claim and level
    the verdict, summary and readings): small enough to commit beside README.md, from which the
    README's table is regenerated and checked (``scripts/findings_table.py``)."""
    def level(lv: Mapping[str, Any]) -> dict[str, Any]:
        out = {"verdict": lv["verdict"], "summary": lv["summary"]}
        rd = lv.get("readings")
        if isinstance(rd, Mapping):
            out["readings"] = {k: rd[k] for k in ("at_d", "as_d_grows", "text")}
        return out

    return {"params": {k: v for k, v in report["params"].items() if k not in _NOT_PARAMS},
            "claims": [{"id": c["id"], "statement": c["statement"],
                        "levels": {k: level(v) for k, v in c["levels"].items()}} for c in report["claims"]]}
