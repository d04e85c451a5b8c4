"""Everything the report holds about one claim, ready to read: ``python -m theory.verify --explain ID``.

:func:`explain` turns one claim of a report (``theory.report.report_dict``) into a plain
dictionary: the paper's equation numbers, the printed closed forms (sympy, pretty-printed) next
to the exact quantities they stand for, every level with its verdict, summary and every cell
(framework × method × coordinate set × graph, as the claim's numbers name them) with its value,
the sampled level's deciding margins as mean ± SE over the replicates, both readings ("at this
d" / "as d grows") where the claim has them, and each counterexample with the
``python -m theory.verify`` command line that reproduces its cell. :func:`render_explain` prints
that dictionary as text. Nothing here computes a verdict: verdicts and numbers are the report's.
"""

from __future__ import annotations

import math
import shlex
from typing import Any, Mapping, Sequence

import sympy as sp

from . import printed
from .report import wrap
from .stats import row_text
from .verdict import LEVELS

# The paper's equations behind each claim (Chen et al., ICLR 2026; numbering as printed).
PAPER_REFS: dict[str, str] = {
    "eq16-stationarity": "Eq. 16 (stationarity of the pair-form objective)",
    "eym-top-c": "Eq. 16 and the rank-c approximation it implies (Eckart-Young-Mirsky)",
    "a5-rank-c": "Assumption A.5",
    "eq17-mim-matrix": "Eq. 17",
    "eq18-mim-expectation": "Eq. 18",
    "eq44-cl-expectation": "Eq. 44",
    "eq56-cl-dissimilar": "Eq. 56 (Assumption A.9)",
    "eq20-concentration": "Eq. 20",
    "eq19-24-rv-bound": "Eqs. 19-24",
    "eq25-26-decl-objective": "Eqs. 1, 25-26",
    "eq27-28-neighbourhood": "Eqs. 27-28",
    "eq29-30-decl-average": "Eqs. 29-30",
    "eq36-37-fl-average": "Eqs. 36-37",
    "eq3-eq4-forms": "Eqs. 3-4",
    "thm4.2-local": "Theorem 4.2.1; Eqs. 18-24",
    "thm4.2-decl": "Theorem 4.2.2; Eqs. 24-33",
    "thm4.2-fl": "Theorem 4.2.2; Eqs. 36-38",
    "thm4.3-local": "Theorem 4.3.1; Lemma A.11, Eqs. 44-46 (CL1), 56-59 (CL2)",
    "thm4.3-decl": "Theorem 4.3.2; Eqs. 46-49 (CL1), 59-60 (CL2)",
    "thm4.3-fl": "Theorem 4.3.2; Eqs. 51 (CL1), 61 (CL2)",
    "thm4.4": "Definition 4.1, Theorem 4.4; Eqs. 62-64 (DecL), 71-73 (FL)",
    "cor4.5": "Corollary 4.5; Eqs. 62-64",
    "thm4.6": "Theorem 4.6; Eqs. 62-64 (DecL), 71-73 (FL)",
}

# Options of the report that do not change what is computed (left out of a reproducing command).
OUTPUT_OPTIONS = ("json", "quiet", "strict", "threads", "jobs", "width", "format", "out", "explain",
                  "table_only", "claims")


# --------------------------------------------------------------------------- numbers as cells
def fmt(x: Any) -> str:
    """One number or leaf as text, in full (4 significant digits for floats)."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, Mapping) and {"mean", "se"} <= set(x):  # an estimate over replicates
        m, se = x["mean"], x["se"]
        if isinstance(m, list):
            return "[" + ", ".join(f"{fmt(a)} ± {fmt(b)}" for a, b in zip(m, se)) + "]"
        return f"{fmt(m)} ± {fmt(se)} (replicates {fmt(x.get('replicates', []))})"
    if isinstance(x, Mapping):
        return "{" + ", ".join(f"{k}: {fmt(v)}" for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in x) + "]"
    return str(x)


def flatten(tree: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(path, value) rows of a level's numbers, keys in sorted order, estimates kept whole."""
    if isinstance(tree, Mapping) and not ({"mean", "se"} <= set(tree)):
        out: list[tuple[str, str]] = []
        for k in sorted(tree, key=str):
            out.extend(flatten(tree[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(tree, (list, tuple)) and tree and all(isinstance(v, Mapping) for v in tree):
        out = []
        for j, v in enumerate(tree):
            name = v.get("graph") or v.get("name") or str(j)
            out.extend(flatten(v, f"{prefix}[{name}]"))
        return out
    return [(prefix, fmt(tree))]


def level_cells(level: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every cell of a level but the verdict, summary and the sampled decisions (shown as margins)."""
    skip = {"verdict", "summary", "decisions", "readings"}
    return flatten({k: v for k, v in level.items() if k not in skip})


# --------------------------------------------------------------------------- printed forms
def _forms(cid: str) -> list[tuple[str, str, str, str]]:
    """(label, kind, method, framework) of the printed closed forms a claim is about."""
    fws = {"local": ("local",), "decl": ("decl",), "fl": ("fl",)}
    if cid.startswith("thm4.2-"):
        return [(f"lower bound on r, MIM {fw}", "bound", "MIM", fw) for fw in fws[cid.split("-")[1]]]
    if cid.startswith("thm4.3-"):
        fw = cid.split("-")[1]
        return [(f"lower bound on r, {m} {fw}", "bound", m, fw) for m in ("CL1", "CL2")]
    if cid == "thm4.4":
        return [(f"s, {m} {fw}", "s", m, fw) for fw in ("decl", "fl") for m in printed.METHODS]
    if cid == "cor4.5":
        return [(f"s_Dec, {m}", "s", m, "decl") for m in printed.METHODS]
    if cid == "thm4.6":
        return [(f"s_{'Dec' if fw == 'decl' else 'Fed'}, {m}", "s", m, fw) for m in printed.METHODS for fw in ("decl", "fl")]
    return []


def printed_forms(cid: str, ctx: Any | None, exact: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The printed closed forms of a claim, pretty-printed, with their value at this configuration
    (``ctx``: the run's ``theory.claims.context.Context``) and the exact quantity they stand for:
    s over [c] and [N] on this run's graph, or, for a bound on r, the exact level's min r cells
    (from ``exact``, the claim's exact level in the report)."""
    from .claims import printed_level  # the printed constants of this configuration

    out = []
    for label, kind, method, fw in _forms(cid):
        expr = printed.lower_bound(method, fw) if kind == "bound" else printed.sensitivity(method, fw)
        row: dict[str, Any] = {"label": label, "formula": sp.pretty(expr, use_unicode=True),
                               "formula_text": str(expr)}
        if ctx is not None:
            abar = ctx.analysis.topology.mean_connectivity
            s = printed_level.printed_sensitivity(ctx, method, fw, ctx.d, abar=abar if fw == "decl" else None)
            row["printed_value"] = 1.0 - s if kind == "bound" else s
            if kind == "s":
                top = ctx.analysis.topology if fw == "decl" else None
                row["exact"] = {cs: ctx.analysis.sensitivity("exact", method, fw, cs, topology=top).to_dict()
                                for cs in ("[c]", "[N]")}
                row["exact_graph"] = ctx.analysis.topology.name if fw == "decl" else "FL"
        if kind == "bound" and exact:
            row["exact_r_min"] = [(path, v) for path, v in level_cells(exact) if path.endswith("r_min")
                                  and (path.startswith(method) or not path.startswith(("CL1", "CL2")))]
        out.append(row)
    return out


# --------------------------------------------------------------------------- counterexamples
def _graph_flags(name: str, edges: Sequence[Sequence[int]] | None) -> list[str]:
    """The flags that make graph ``name`` the graph of a run: --topology for the deterministic
    graphs, else its edge list (--edges), which does not depend on how the graph was drawn."""
    if name in ("path", "star", "complete", "ring"):
        return ["--topology", name]
    if edges:
        return ["--edges", ",".join(f"{int(i)}-{int(j)}" for i, j in edges)]
    return []


def _without(argv: Sequence[str], flags: Sequence[str]) -> list[str]:
    """``argv`` without the given options and their values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in flags:
            skip = True
            continue
        out.append(a)
    return out


def command(argv: Sequence[str], cid: str, graph: str | None = None, edges: Sequence[Sequence[int]] | None = None,
            sampled: bool = True) -> str:
    """The ``python -m theory.verify`` line that recomputes claim ``cid`` with its cell on ``graph``
    as the run's own graph; ``sampled=False`` skips the sampled level (an exact-level cell). The run's
    own graph is checked under any ``--graph-search``, so the command leaves that option out."""
    base = list(argv)
    if graph is not None:
        base = _without(base, ("--topology", "--abar", "--edges", "--graph-search")) + _graph_flags(graph, edges)
    if not sampled and "--no-sampled" not in base:
        base.append("--no-sampled")
    return shlex.join(["python", "-m", "theory.verify", *base, "--explain", cid])


def counterexamples(cid: str, levels: Mapping[str, Any], argv: Sequence[str]) -> list[dict[str, Any]]:
    """Each counterexample a level names (``counterexamples`` in its numbers), with its command."""
    out = []
    for lvl in LEVELS:
        lv = levels.get(lvl) or {}
        ces = lv.get("counterexamples")
        if not isinstance(ces, Mapping):
            continue
        for where, ce in ces.items():  # in the claim's order (headline coordinate set first)
            graph = ce.get("graph")
            desc = ", ".join(f"{k} {_s_text(v) if _is_s(v) else fmt(v)}" for k, v in sorted(ce.items()) if k != "edges")
            out.append({"level": lvl, "where": where, "graph": graph, "edges": ce.get("edges"),
                        "description": desc,
                        "command": command(argv, cid, graph, ce.get("edges"), sampled=lvl == "sampled")})
    return out


# --------------------------------------------------------------------------- the explanation
def explain(report: Mapping[str, Any], cid: str, argv: Sequence[str] = (), ctx: Any | None = None) -> dict[str, Any]:
    """Everything about claim ``cid`` in ``report``; ``argv`` the options of the run (for the
    reproducing commands), ``ctx`` its context (for the printed forms' values; optional)."""
    claim = next(c for c in report["claims"] if c["id"] == cid)
    levels: dict[str, Any] = {}
    for lvl in LEVELS:
        lv = claim["levels"].get(lvl)
        if lv is None:
            continue
        entry: dict[str, Any] = {"verdict": lv["verdict"], "summary": lv["summary"], "cells": level_cells(lv)}
        rd = lv.get("readings")
        if isinstance(rd, Mapping):
            entry["readings"] = {"at_d": rd["at_d"], "as_d_grows": rd["as_d_grows"], "text": rd["text"],
                                 "cells": {k: {"at_d": c["at_d"], "as_d_grows": c["as_d_grows"],
                                               "sign_pattern": c["sign_pattern"], "d_grid": c["d_grid"],
                                               "margin": c["margin"], "trend": c["trend"]}
                                           for k, c in sorted(rd.get("cells", {}).items())}}
        if lv.get("decisions"):
            entry["margins"] = [{"name": r["name"], "verdict": r["verdict"], "text": row_text(r)}
                                for r in lv["decisions"]]
        levels[lvl] = entry
    return {"id": cid, "statement": claim["statement"], "paper": PAPER_REFS.get(cid, ""),
            "reproduce": command(argv, cid),
            "printed_forms": printed_forms(cid, ctx, claim["levels"].get("exact")), "levels": levels,
            "counterexamples": counterexamples(cid, claim["levels"], argv)}


def render_explain(ex: Mapping[str, Any], width: int) -> str:
    """The explanation as text, wrapped to ``width`` columns, nothing cut."""
    lines = [f"{ex['id']}: {ex['statement']}", "=" * min(width, len(ex['id']) + len(ex['statement']) + 2)]
    lines += wrap(f"paper: {ex['paper']}", width, 2, first="")
    lines += wrap(f"this report: {ex['reproduce']}", width, 4, first="")
    if ex["printed_forms"]:
        lines += ["", "Printed forms (every O/Θ an explicit constant) next to the exact quantities"]
        for f in ex["printed_forms"]:
            lines += ["", f"  {f['label']}:"]
            lines += ["    " + ln for ln in f["formula"].splitlines()]
            if "printed_value" in f:
                lines += wrap(f"printed value here: {f['printed_value']:.6g}", width, 6, first="    ")
            for cs, s in (f.get("exact") or {}).items():
                lines += wrap(f"exact s over {cs} on {f['exact_graph']}: {_s_text(s)}", width, 6, first="    ")
            for path, v in f.get("exact_r_min", ()):
                lines += wrap(f"exact {path} = {v}", width, 6, first="    ")
    fails = any(e["verdict"] == "FAILS" for e in ex["levels"].values())
    lines += ["", "Counterexamples" + ("" if ex["counterexamples"] else
                                       ": none named by this claim's checks" + ("; the failing cells are below" if fails else ""))]
    for ce in ex["counterexamples"]:
        lines += wrap(f"{ce['level']} level, {ce['where']}: {ce['description']}", width, 4, first="  - ")
        if ce.get("edges"):
            lines += wrap(f"graph edges: {fmt(ce['edges'])}", width, 4, first="    ")
        lines += wrap(f"reproduce: {ce['command']}", width, 6, first="    ")
    for lvl, e in ex["levels"].items():
        lines += ["", f"{lvl} level: {e['verdict']}"]
        lines += wrap(e["summary"], width, 2)
        rd = e.get("readings")
        if rd:
            lines += wrap(f"readings: at this d {rd['at_d']}, as d grows {rd['as_d_grows']}: {rd['text']}", width, 4,
                          first="  ")
            for k, c in rd["cells"].items():
                lines += wrap(f"{k}: at this d {c['at_d']}, as d grows {c['as_d_grows']}; {c['sign_pattern']} on "
                              f"d={fmt(c['d_grid'])}, margin {fmt(c['margin'])}; {c['trend']}", width, 6, first="    ")
        if e.get("margins"):
            lines += ["  deciding margins (mean ± SE over the replicates):"]
            for m in e["margins"]:
                lines += wrap(f"{m['verdict']}: {m['text']}", width, 6, first="    ")
        if e["cells"]:
            lines += ["  cells:"]
            for path, value in e["cells"]:
                lines += wrap(f"{path} = {value}", width, 6, first="    ")
    return "\n".join(lines)


def _is_s(x: Any) -> bool:
    return isinstance(x, Mapping) and {"s", "well_posed", "s_interval"} <= set(x)


def _s_text(s: Mapping[str, Any]) -> str:
    if s.get("well_posed"):
        return f"{fmt(s['s'])} (r_min {fmt(s['r_min'])})"
    lo, hi = s["s_interval"]
    return f"undefined (tied subspace), in [{fmt(lo)}, {fmt(hi)}]"


def options_argv(args: Any, defaults: Mapping[str, Any], option_strings: Mapping[str, str]) -> list[str]:
    """The command-line options of a run that differ from the defaults and change what is computed."""
    out: list[str] = ["--d", str(args.d)]  # always named: most defaults are functions of d
    for dest, value in sorted(vars(args).items()):
        if dest in OUTPUT_OPTIONS or dest == "d" or value == defaults.get(dest) or dest not in option_strings:
            continue
        flag = option_strings[dest]
        if isinstance(value, bool):
            out.append(flag)
        elif isinstance(value, list):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, _num_arg(value)]
    return out


def _num_arg(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) and math.isfinite(v) else str(v)

