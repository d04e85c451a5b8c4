"""The verification report: a JSON-ready dictionary and its text rendering."""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

from .claims.context import Context
from .io import jsonable
from .provenance import git_revision
from .verdict import LEVELS, ClaimResult


def report_dict(ctx: Context, results: Sequence[ClaimResult], elapsed_s: float) -> dict[str, Any]:
    top = ctx.analysis.topology
    params = {
        **ctx.cfg.to_dict(),
        "topology": top.name,
        "mean_connectivity": top.mean_connectivity,
        "edges": [list(e) for e in top.edges],
        "graph_search": ctx.analysis.graph_search,
        "constants": dict(ctx.constants),
        "exact_grid": list(ctx.exact_grid),
        "sampled_grid": list(ctx.sampled_grid),
        "sampled": ctx.sampled,
        "replicates": ctx.stats.replicates,
        "k": ctx.stats.k,
        "limit_d_max": ctx.limit_d_max,
        "limit_dense_d_max": ctx.limit_dense_d_max,
        "git_revision": git_revision(),
        "elapsed_s": round(elapsed_s, 3),
    }
    claims = [r.to_dict() for r in results]
    return {"params": jsonable(params), "claims": jsonable(claims), "disagreements": disagreements(claims)}


def disagreements(claims: list[dict]) -> list[dict]:
    """Claims the printed level accepts (or that are asserted by the paper) but a computed level does not."""
    out = []
    for c in claims:
        bad = {lvl: c["levels"][lvl] for lvl in ("exact", "sampled")
               if lvl in c["levels"] and c["levels"][lvl]["verdict"] in ("FAILS", "ILL-POSED", "VACUOUS")}
        printed = c["levels"].get("printed", {})
        if printed.get("verdict") in ("FAILS", "VACUOUS"):
            bad = {"printed": printed, **bad}
        if bad:
            out.append({"id": c["id"], "levels": {k: {"verdict": v["verdict"], "summary": v["summary"]} for k, v in bad.items()}})
    return out


# columns of the text report: claim id, level, verdict, then the wrapped key numbers
CLAIM_W, LEVEL_W, VERDICT_W = 24, 8, 12
INDENT = CLAIM_W + LEVEL_W + VERDICT_W + 3
MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 80, 1000, 100


def wrap(text: str, width: int, indent: int = 0, first: str | None = None) -> list[str]:
    """``text`` wrapped to ``width`` columns, every line after the first indented by ``indent``
    spaces (the first starts with ``first`` when given, else with the indent). Nothing is cut:
    a word longer than the line is broken, never dropped."""
    lead = " " * indent if first is None else first
    out = textwrap.wrap(" ".join(str(text).split()), width=width, initial_indent=lead,
                        subsequent_indent=" " * indent, break_on_hyphens=False)
    return out or [lead.rstrip()]


def render_text(report: dict[str, Any], summary_only: bool = False, width: int = DEFAULT_WIDTH) -> str:
    """The report as text, every cell in full: long cells wrap under their column at ``width``."""
    p = report["params"]
    lines = [
        *wrap("Verification of Chen et al. (ICLR 2026), linear model of Section 3.2", width, 2, first=""),
        *wrap(f"d={p['d']} N={p['N']} c={p['c']} p={p['p']} tau={p['tau']:.4g} mu={p['mu']:.4g} "
              f"|D_i|={p['samples_per_client']} q={p['q_mode']} rare axes={p['rare_axes']} H={p['augmentation']} "
              f"seed={p['seed']}", width, 2, first=""),
        *wrap(f"graph: {p['topology']} |Ā|={p['mean_connectivity']:.4g}   graph search: "
              f"{p.get('graph_search', 'family')}   revision {p['git_revision']}   "
              f"{p['elapsed_s']:.1f} s", width, 2, first=""),
        *wrap(f"sampled level: R={p['replicates']} independent replicates, mean ± SE; HOLDS/FAILS only beyond "
              f"k={p['k']:g} SE, else INCONCLUSIVE" if p.get("sampled") else "sampled level: skipped", width, 2, first=""),
        "",
    ]
    if not summary_only:
        lines.append(f"{'claim':<{CLAIM_W}} {'level':<{LEVEL_W}} {'verdict':<{VERDICT_W}} key numbers")
        lines.append("-" * width)
        for c in report["claims"]:
            for lvl in LEVELS:
                lv = c["levels"].get(lvl)
                if lv is None:
                    continue
                head = f"{c['id'] if lvl == 'printed' else '':<{CLAIM_W}} {lvl:<{LEVEL_W}} {lv['verdict']:<{VERDICT_W}} "
                lines.extend(wrap(lv["summary"], width, INDENT, first=head))
                if isinstance(lv.get("readings"), dict):  # an asymptotic claim: "at this d" and "as d grows"
                    rd = lv["readings"]
                    lines.extend(wrap(f"at this d {rd['at_d']}, as d grows {rd['as_d_grows']}: {rd['text']}",
                                      width, INDENT))
            lines.append("")
    counts: dict[str, dict[str, int]] = {lvl: {} for lvl in LEVELS}
    for c in report["claims"]:
        for lvl, lv in c["levels"].items():
            counts[lvl][lv["verdict"]] = counts[lvl].get(lv["verdict"], 0) + 1
    lines.extend(wrap("Summary of verdicts: " + "; ".join(
        f"{lvl}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts[lvl].items())) for lvl in LEVELS), width, 2, first=""))
    lines.append("")
    lines.append("Where the paper and the exact model disagree:")
    for d in report["disagreements"]:
        parts = [f"{lvl} {v['verdict']}" for lvl, v in d["levels"].items()]
        first = next(iter(d["levels"].values()))
        lines.extend(wrap(f"{d['id']}: {', '.join(parts)}. {first['summary']}", width, 2, first="- "))
    return "\n".join(lines)
