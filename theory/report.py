"""The verification report: a JSON-ready dictionary and its text rendering."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any, Sequence

from .claims.context import Context
from .verdict import LEVELS, ClaimResult, jsonable


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def report_dict(ctx: Context, results: Sequence[ClaimResult], elapsed_s: float) -> dict[str, Any]:
    top = ctx.analysis.topology
    params = {
        **ctx.cfg.to_dict(),
        "topology": top.name,
        "mean_connectivity": top.mean_connectivity,
        "edges": [list(e) for e in top.edges],
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


def _cut(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def render_text(report: dict[str, Any], summary_only: bool = False, width: int = 118) -> str:
    p = report["params"]
    lines = [
        "Verification of Chen et al. (ICLR 2026), linear model of Section 3.2",
        f"d={p['d']} N={p['N']} c={p['c']} p={p['p']} tau={p['tau']:.4g} mu={p['mu']:.4g} |D_i|={p['samples_per_client']} "
        f"q={p['q_mode']} rare axes={p['rare_axes']} H={p['augmentation']} seed={p['seed']}",
        f"graph: {p['topology']} |Ā|={p['mean_connectivity']:.4g}   revision {p['git_revision']}   {p['elapsed_s']:.1f} s",
        (f"sampled level: R={p['replicates']} independent replicates, mean ± SE; HOLDS/FAILS only beyond "
         f"k={p['k']:g} SE, else INCONCLUSIVE" if p.get("sampled") else "sampled level: skipped"),
        "",
    ]
    if not summary_only:
        lines.append(f"{'claim':<24} {'level':<8} {'verdict':<10} key numbers")
        lines.append("-" * width)
        for c in report["claims"]:
            for lvl in LEVELS:
                lv = c["levels"].get(lvl)
                if lv is None:
                    continue
                lines.append(f"{c['id'] if lvl == 'printed' else '':<24} {lvl:<8} {lv['verdict']:<10} "
                             + _cut(lv["summary"], width - 45))
                if isinstance(lv.get("readings"), dict):  # an asymptotic claim: "at this d" and "as d grows"
                    rd = lv["readings"]
                    text = f"at this d {rd['at_d']}, as d grows {rd['as_d_grows']}: {rd['text']}"
                    wrapped = textwrap.wrap(text, width - 45)
                    if len(wrapped) > 2:
                        wrapped = [wrapped[0], _cut(" ".join(wrapped[1:]), width - 45)]
                    lines.extend(f"{'':<45}" + w for w in wrapped)
            lines.append("")
    counts: dict[str, dict[str, int]] = {lvl: {} for lvl in LEVELS}
    for c in report["claims"]:
        for lvl, lv in c["levels"].items():
            counts[lvl][lv["verdict"]] = counts[lvl].get(lv["verdict"], 0) + 1
    lines.append("Summary of verdicts: " + "; ".join(
        f"{lvl}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts[lvl].items())) for lvl in LEVELS))
    lines.append("")
    lines.append("Where the paper and the exact model disagree:")
    for d in report["disagreements"]:
        parts = [f"{lvl} {v['verdict']}" for lvl, v in d["levels"].items()]
        first = next(iter(d["levels"].values()))
        lines.append(f"- {d['id']}: {', '.join(parts)}. {_cut(first['summary'], width - 10)}")
    return "\n".join(lines)
