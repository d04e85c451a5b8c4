"""python -m empirical.summarise_grid: the robustness-grid table, regenerated from the run folders.

    python -m empirical.summarise_grid runs/robustness-grid
    python -m empirical.summarise_grid runs/robustness-grid --baseline --cache results/empirical
    python -m empirical.summarise_grid runs/robustness-grid --replicate runs/robustness-grid-seed1

Reads ``<grid>/<run>/summary.json`` and ``config.json`` of every finished run of the
``robustness-grid`` preset (MAE | SimSiam x IID | Dirichlet label skew x FL | DecL |Ā|) and
prints, per method and framework, the linear-probe accuracy IID and non-IID, the drop
(IID minus non-IID), the kNN accuracy and the class-mean RV measure (mean over classes).

``--baseline``: also evaluate the randomly initialised encoder of each method (the weights a
run starts from, same evaluation split and probe) and store it in ``<grid>/baseline.json``
(reused on later calls while the config it was computed from is unchanged).
``--cache DIR``: write ``DIR/grid.json`` (the rows, the baseline and the configs) and
``DIR/partitions.json`` (client-by-class counts of the grid's IID and label-skew partitions),
the inputs of ``python -m figures empirical-partitions`` and ``empirical-grid``.
``--replicate FOLDER``: runs of another grid folder (e.g. a second seed of some cells) are
shown next to the same runs of the main folder, with the difference.
``--markdown FILE``: also write the table to FILE.

Exit status 0, or 2 with a one-line message (no finished run in the folder, bad folder).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from empirical.checkpoint import load_run_config
from empirical.config import ExperimentConfig, config_diff, from_dict, to_dict
from empirical.grid_stats import analyse
from empirical.intervals import Correlation, Interval, mean_interval
from theory.errors import ParameterError, require
from theory.io import load_json, object_with, write_json_atomic
from theory.provenance import provenance

__all__ = [
    "GRID_SCHEMA",
    "PARTITION_SCHEMA",
    "grid_table",
    "load_runs",
    "main",
    "partition_counts",
    "random_init_baseline",
    "write_caches",
]

SUMMARY_EXPECTED = "the summary.json that python -m empirical.run writes into a run folder"
GRID_SCHEMA = "empirical-grid/1"
PARTITION_SCHEMA = "empirical-partitions/1"
METHODS = ("mae", "simsiam")
PARTITIONS = ("iid", "label")
METHOD_LABELS = {"mae": "MAE", "simsiam": "SimSiam", "mar": "MAR"}


def _framework_key(cfg: ExperimentConfig) -> str:
    """"fl", "decl-complete" (complete graph) or "decl<|Ā| target>", e.g. "decl5"."""
    if cfg.federation.framework == "fl":
        return "fl"
    if cfg.decentralised.graph == "complete":
        return "decl-complete"
    return f"decl{cfg.decentralised.mean_connectivity:g}"


def _replicate_of(folder: Path, sub: Path) -> int | None:
    """r for a run in ``folder/rep<r>/<run>`` (``--replicates``), None for ``folder/<run>``."""
    rel = sub.relative_to(folder).parts
    if len(rel) == 2 and rel[0].startswith("rep") and rel[0][3:].isdigit():
        return int(rel[0][3:])
    return None


def load_runs(folder: str | Path) -> list[dict[str, Any]]:
    """One row per finished run (a folder holding summary.json and config.json, directly under
    ``folder`` or under ``folder/rep<r>/``), sorted by replicate and name."""
    folder = Path(folder)
    require(folder.is_dir(), "grid folder", "an existing folder of runs", str(folder))
    rows = []
    subs = [p.parent for p in folder.glob("*/summary.json")] + [p.parent for p in folder.glob("rep*/*/summary.json")]
    for sub in sorted(p for p in subs if (p / "config.json").is_file()):
        s = load_json(sub / "summary.json", SUMMARY_EXPECTED, object_with("final"))  # a damaged file: one line, exit 2
        cfg = load_run_config(sub / "config.json")
        f = s.get("final", {})
        graph = s.get("graph") or {}
        sizes = (s.get("partition_stats") or {}).get("sizes") or []
        rows.append(
            {
                "run": sub.name,
                "replicate": _replicate_of(folder, sub),
                "data_seed": cfg.data.seed,
                "cdr_mean": f.get("cdr_mean"),
                "cdr_min": f.get("cdr_min"),
                "cdr_ties": f.get("cdr_ties"),
                "rv_tied": (f.get("rv") or {}).get("tied"),
                "size_ratio": (max(sizes) / min(sizes)) if sizes and min(sizes) > 0 else None,
                "method": cfg.method.name,
                "partition": cfg.partition.kind,
                "alpha": cfg.partition.alpha if cfg.partition.kind == "label" else None,
                "framework": _framework_key(cfg),
                "abar_target": cfg.decentralised.mean_connectivity if cfg.federation.framework == "decl" else None,
                "abar": graph.get("mean_connectivity"),
                "seed": cfg.run.seed,
                "rounds": s.get("rounds"),
                "linear_probe_acc": f.get("linear_probe_acc"),
                "knn_acc": f.get("knn_acc"),
                "rv_mean": f.get("rv_mean"),
                "rv_spread": f.get("rv_spread"),
                "final_loss": s.get("final_loss"),
                "train_time_s": s.get("train_time_s"),
                "mean_js": (s.get("partition_stats") or {}).get("mean_js"),
                "config": to_dict(cfg),
            }
        )
    return rows


def _iid_fl_config(rows: list[dict[str, Any]], method: str) -> ExperimentConfig | None:
    for r in rows:
        if r["method"] == method and r["partition"] == "iid" and r["framework"] == "fl":
            return from_dict(r["config"])
    same = [r for r in rows if r["method"] == method]
    return from_dict(same[0]["config"]) if same else None


def random_init_baseline(cfg: ExperimentConfig) -> dict[str, Any]:
    """Final evaluation (probe, kNN, RV) of the encoder ``cfg`` starts from, before any training.

    The initial weights depend on ``run.seed`` and the model only, and the evaluation split on
    the data seed only, so one value per method stands for every partition and framework.
    """
    from empirical import engine  # heavy; only needed here

    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    exp = engine.build(cfg)
    t0 = time.perf_counter()
    out = engine.evaluate_model(exp, exp.initial, final=True)
    out = {k: v for k, v in out.items() if k not in ("rv",)}
    out["eval_time_s"] = time.perf_counter() - t0
    return out


def _baseline_check(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "something other than a JSON object"
    bad = [k for k, v in doc.items() if not (isinstance(v, dict) and isinstance(v.get("config"), dict) and "final" in v)]
    return f"entries without 'config' and 'final': {', '.join(bad)}" if bad else None


def _baselines(folder: Path, rows: list[dict[str, Any]], compute: bool, only_method: str | None = None) -> dict[str, Any]:
    """``{method: {"config": ..., "final": ...}}`` from ``<folder>/baseline.json``; with ``compute``,
    missing or stale entries are evaluated and the file rewritten."""
    path = folder / "baseline.json"
    saved: dict[str, Any] = load_json(path, "the baseline.json of python -m empirical.summarise_grid --baseline",
                                      _baseline_check) if path.is_file() else {}
    out: dict[str, Any] = {}
    changed = False
    for method in sorted({r["method"] for r in rows}):
        if only_method is not None and method != only_method:
            continue
        cfg = _iid_fl_config(rows, method)
        if cfg is None:
            continue
        entry = saved.get(method)
        fresh = entry is not None and not config_diff(from_dict(entry["config"]), cfg)
        if fresh:
            out[method] = entry
        elif compute:
            out[method] = {"config": to_dict(cfg), "final": random_init_baseline(cfg)}
            changed = True
    if changed:
        write_json_atomic(path, out, indent=2)
    return out


def partition_counts(cfg: ExperimentConfig) -> dict[str, Any]:
    """Client-by-class image counts of the partition ``cfg`` trains on (data split, subset and
    partition exactly as :func:`empirical.engine.prepare_data` makes them)."""
    from empirical import engine
    from empirical.partition import partition_stats

    data = engine.prepare_data(cfg, torch.device("cpu"))
    stats = partition_stats(data.partition, data.labels, data.n_classes)
    return {
        "kind": cfg.partition.kind,
        "alpha": cfg.partition.alpha if cfg.partition.kind == "label" else None,
        "n_clients": int(stats.counts.shape[0]),
        "n_classes": int(data.n_classes),
        "counts": stats.counts.tolist(),
        "sizes": stats.sizes.tolist(),
        "mean_js": float(stats.mean_js),
        "mean_tv": float(stats.mean_tv),
        "dataset": cfg.data.name,
        "data_seed": cfg.data.seed,
    }


def _cell(rows: list[dict[str, Any]], method: str, partition: str, framework: str) -> dict[str, Any] | None:
    for r in rows:
        if (r["method"], r["partition"], r["framework"]) == (method, partition, framework):
            return r
    return None


def _frameworks(rows: list[dict[str, Any]]) -> list[str]:
    keys = {r["framework"] for r in rows}
    decl = sorted((k for k in keys if k not in ("fl", "decl-complete")), key=lambda k: float(k[4:]))
    return (["fl"] if "fl" in keys else []) + decl + (["decl-complete"] if "decl-complete" in keys else [])


def _fmt(v: Any, digits: int = 3) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else "-"


def _framework_label(key: str) -> str:
    if key == "decl-complete":
        return "DecL complete"
    return "FL" if key == "fl" else f"DecL \\|Ā\\|={key[4:]}"


def grid_table(rows: list[dict[str, Any]], baseline: dict[str, Any] | None = None) -> str:
    """Markdown table: per method and framework, probe accuracy IID / label skew and the drop,
    kNN, RV mean; then the random-init rows if ``baseline``."""
    alpha = next((r["alpha"] for r in rows if r["partition"] == "label"), None)
    skew = f"α={alpha:g}" if alpha is not None else "label"
    head = (
        f"| method | framework | probe IID | probe {skew} | drop | kNN IID | kNN {skew} | RV mean IID | RV mean {skew} | \\|Ā\\| realised |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for method in [m for m in (*METHODS, "mar") if any(r["method"] == m for r in rows)]:
        for fw in _frameworks(rows):
            iid, lab = _cell(rows, method, "iid", fw), _cell(rows, method, "label", fw)
            if iid is None and lab is None:
                continue
            p_iid = iid["linear_probe_acc"] if iid else None
            p_lab = lab["linear_probe_acc"] if lab else None
            drop = p_iid - p_lab if isinstance(p_iid, float) and isinstance(p_lab, float) else None
            abars = "/".join(_fmt(r["abar"], 2) for r in (iid, lab) if r and r["abar"] is not None) or "-"
            lines.append(
                f"| {METHOD_LABELS.get(method, method)} | {_framework_label(fw)} | {_fmt(p_iid)} | {_fmt(p_lab)} | "
                f"{_fmt(drop, 3) if drop is None else f'{drop:+.3f}'} | {_fmt(iid and iid['knn_acc'])} | "
                f"{_fmt(lab and lab['knn_acc'])} | {_fmt(iid and iid['rv_mean'])} | {_fmt(lab and lab['rv_mean'])} | {abars} |"
            )
    for method, entry in sorted((baseline or {}).items()):
        f = entry["final"]
        lines.append(
            f"| {METHOD_LABELS.get(method, method)} | random init (no training) | {_fmt(f.get('linear_probe_acc'))} | "
            f"{_fmt(f.get('linear_probe_acc'))} | - | {_fmt(f.get('knn_acc'))} | {_fmt(f.get('knn_acc'))} | "
            f"{_fmt(f.get('rv_mean'))} | {_fmt(f.get('rv_mean'))} | - |"
        )
    return "\n".join(lines)


def replicate_table(
    rows: list[dict[str, Any]],
    other: list[dict[str, Any]],
    baseline: dict[str, Any] | None = None,
    other_baseline: dict[str, Any] | None = None,
) -> str:
    """Same-named runs of two folders (e.g. two seeds): probe accuracy of each, its gain over the
    random-init encoder of the same seed (when both baselines are known) and the difference."""
    by_name = {r["run"]: r for r in rows}

    def gain(r: dict[str, Any], base: dict[str, Any] | None) -> str:
        b = ((base or {}).get(r["method"]) or {}).get("final", {}).get("linear_probe_acc")
        p = r["linear_probe_acc"]
        return f"{p - b:+.3f}" if isinstance(p, float) and isinstance(b, float) else "-"

    lines = [
        "| run | seed | probe | vs init | seed | probe | vs init | difference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in other:
        a = by_name.get(r["run"])
        if a is None:
            continue
        pa, pb = a["linear_probe_acc"], r["linear_probe_acc"]
        diff = f"{pb - pa:+.3f}" if isinstance(pa, float) and isinstance(pb, float) else "-"
        lines.append(
            f"| {r['run']} | {a['seed']} | {_fmt(pa)} | {gain(a, baseline)} | {r['seed']} | {_fmt(pb)} | "
            f"{gain(r, other_baseline)} | {diff} |"
        )
    return "\n".join(lines)


_VERDICT_MARK = {"supported": "**supported**", "not supported": "not supported", "contradicted": "**contradicted**"}


def _iv(d: dict[str, Any] | None, scale: float = 100.0, digits: int = 1,
        within: tuple[float, float] | None = None) -> str:
    if not d:
        return "-"
    return Interval(**d).fmt(scale, digits, within)


def _acc(d: dict[str, Any] | None) -> str:
    """An accuracy or retention in [0, 1] (not a difference): no sign, interval kept in [0, 100]."""
    return _iv(d, within=(0.0, 1.0)).replace("+", "") if d else "-"


def _lbl(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def replicated_tables(analysis: dict[str, Any]) -> str:
    """Markdown tables of a replicated grid: accuracy per cell and drop per (method, framework)
    as mean ± SE [95 % t interval] in percentage points; the claims with their verdicts; the
    noise-floor control; the bridge measure against accuracy."""
    reps = analysis["replicates"]
    out = [f"Replicates: {len(reps)} ({', '.join(str(r) for r in reps)}); every ± is one standard error, [ ] the 95 % "
           "Student-t interval over replicates (for accuracies and retentions, intersected with [0, 100]), in "
           "percentage points (accuracy x 100)."]
    out += ["", "| method | framework | probe IID | probe α=0.1 | drop (IID - skew) | CDR IID | CDR skew | CDR drop |",
            "|---|---|---|---|---|---|---|---|"]
    cells = {(c["method"], c["partition"], c["framework"]): c for c in analysis["cells"]}
    drops = {(d["method"], d["framework"]): d for d in analysis["drops"]}
    for m in analysis["methods"]:
        for f in analysis["frameworks"]:
            ci, cl = cells.get((m, "iid", f)), cells.get((m, "label", f))
            if ci is None and cl is None:
                continue
            d = drops.get((m, f)) or {"drop": None, "cdr_drop": None}
            out.append(
                f"| {_lbl(m)} | {_framework_label(f)} | {_acc(ci and ci['acc'])} | {_acc(cl and cl['acc'])} | {_iv(d['drop'])} | "
                f"{_acc(ci and ci['cdr'])} | {_acc(cl and cl['cdr'])} | {_iv(d['cdr_drop'])} |"
            )
    if analysis.get("baseline"):
        bc = analysis.get("baseline_cdr")
        out.append(
            f"| untrained encoder | - | {_acc(analysis['baseline'])} | {_acc(analysis['baseline'])} | - | {_acc(bc)} | {_acc(bc)} | - |"
        )
    out += ["", "Paper claims (a claim is supported only when its 95 % interval excludes 0 on the predicted side; "
            "contradicted when it excludes 0 on the other side):", "",
            "| claim | comparison | framework | estimate (points) | n | verdict |", "|---|---|---|---|---:|---|"]
    for c in analysis["claims"]:
        e = c["estimate"]
        statement = c["statement"].replace("|", "\\|")  # |Ā| inside a markdown table
        out.append(f"| {c['claim']} | {statement} | {c['framework']} | {_iv(e)} | {e['n']} | {_VERDICT_MARK[c['verdict']]} |")
    nf = analysis["noise_floor"]
    out += ["", "Noise-floor control: FL (full participation) minus DecL on the complete graph (data-size mixing), the "
            "same algorithm with the same draws:", "", "| method | partition | FL - DecL complete (points) | largest single |",
            "|---|---|---|---:|"]
    for p in nf["pairs"]:
        out.append(f"| {_lbl(p['method'])} | {p['partition']} | {_iv(p['difference'])} | {100 * p['max_abs']:.1f} |")
    if nf["n_differences"]:
        out.append(
            f"\nSingle-replicate control differences: RMS {100 * nf['rms_single_difference']:.1f} points, largest "
            f"{100 * nf['max_abs_single_difference']:.1f} points over {nf['n_differences']} pairs."
        )
    b = analysis["bridge"]
    out += ["", "Bridge (class-direction retention, CDR; old class-mean RV for comparison), Pearson r [Fisher-z 95 %]:", "",
            f"- CDR vs probe accuracy, all runs: {Correlation(**b['runs_cdr_vs_acc']).fmt()}",
            f"- CDR drop vs accuracy drop, per (method, framework, replicate): {Correlation(**b['drops_cdr_vs_acc']).fmt()}",
            f"- old RV mean vs probe accuracy, all runs: {Correlation(**b['runs_rv_vs_acc']).fmt()}",
            f"- old RV drop vs accuracy drop: {Correlation(**b['drops_rv_vs_acc']).fmt()}"]
    if analysis.get("gain_over_init"):
        out += ["", "Gain over the untrained encoder (same replicate's initial weights and split):", "",
                "| method | partition | framework | gain (points) |", "|---|---|---|---|"]
        for g in analysis["gain_over_init"]:
            out.append(f"| {_lbl(g['method'])} | {g['partition']} | {_framework_label(g['framework'])} | {_iv(g['gain'])} |")
    return "\n".join(out)


def replicate_baselines(folder: Path, rows: list[dict[str, Any]], compute: bool, cdr: dict[int, float] | None = None) -> dict[int, float]:
    """replicate -> probe accuracy of the untrained encoder (MAE's IID FL config of that replicate;
    the backbone's initial weights are the same for MAE, MAR and SimSiam), cached in
    ``<folder>/rep<r>/baseline.json``. ``cdr``: filled with the untrained encoder's class-direction
    retention per replicate."""
    out: dict[int, float] = {}
    for rep in sorted({r["replicate"] for r in rows if r["replicate"] is not None}):
        sub = [r for r in rows if r["replicate"] == rep]
        method = "mae" if any(r["method"] == "mae" for r in sub) else None
        base = _baselines(folder / f"rep{rep}", sub, compute, only_method=method)
        accs = [e["final"].get("linear_probe_acc") for e in base.values()]
        accs = [a for a in accs if isinstance(a, float)]
        if accs:
            out[rep] = accs[0]
        cdrs = [e["final"].get("cdr_mean") for e in base.values()]
        cdrs = [a for a in cdrs if isinstance(a, float)]
        if cdrs and cdr is not None:
            cdr[rep] = cdrs[0]
    return out


def write_caches(
    folder: Path,
    rows: list[dict[str, Any]],
    baseline: dict[str, Any],
    cache_dir: Path,
    command: str,
    analysis: dict[str, Any] | None = None,
) -> list[Path]:
    """``cache_dir/grid.json`` and ``cache_dir/partitions.json`` (the figures' inputs)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    common = {**provenance(command=command), "grid_folder": str(folder)}
    shared = {k: v for k, v in rows[0]["config"].items() if k not in ("name",)} if rows else {}
    grid = {
        "schema": GRID_SCHEMA,
        **common,
        "config": {"first_run": rows[0]["run"] if rows else None, **shared},
        "rows": [{k: v for k, v in r.items() if k != "config"} for r in rows],
        "baseline": {m: e["final"] for m, e in baseline.items()},
    }
    if analysis is not None:
        grid["analysis"] = analysis
    parts: dict[str, Any] = {}
    for kind in PARTITIONS:
        cfg_row = next((r for r in rows if r["partition"] == kind and r["replicate"] in (None, 0)), None)
        if cfg_row is not None:
            parts[kind] = partition_counts(from_dict(cfg_row["config"]))
    pdoc = {"schema": PARTITION_SCHEMA, **common, "config": {k: p["alpha"] for k, p in parts.items()}, "partitions": parts}
    out = []
    for name, doc in (("grid.json", grid), ("partitions.json", pdoc)):
        path = cache_dir / name
        write_json_atomic(path, doc, indent=1)
        out.append(path)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m empirical.summarise_grid", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="the grid's output folder (python -m empirical.run --preset robustness-grid --out FOLDER)")
    p.add_argument("--baseline", action="store_true", help="evaluate (or reuse) the random-init encoder of each method")
    p.add_argument("--cache", help="write grid.json and partitions.json (the figures' caches) to this folder")
    p.add_argument("--replicate", action="append", default=[], help="another grid folder whose same-named runs are compared")
    p.add_argument("--markdown", help="also write the table(s) to this file")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for --baseline / --cache (default 1)")
    return p


def _require_single_replicate(rows: list[dict[str, Any]], folder: str | Path) -> None:
    """--replicate compares two single-replicate folders run by run; a replicated grid (rep<r>/
    runs, from ``empirical.run --replicates``) is compared across its replicates without it."""
    require(all(r["replicate"] is None for r in rows), "--replicate",
            "two single-replicate grid folders (a folder of rep<r>/ runs is summarised across its replicates, "
            "with intervals, without --replicate)", str(folder))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        require(args.threads >= 1, "--threads", "an integer >= 1", args.threads)
        torch.set_num_threads(args.threads)
        folder = Path(args.folder)
        rows = load_runs(folder)
        require(bool(rows), "folder", "a folder holding at least one finished run (summary.json)", str(folder))
        replicated = any(r["replicate"] is not None for r in rows)
        others = {rep: load_runs(rep) for rep in args.replicate}
        if others:
            for where, its_rows in [(str(folder), rows), *others.items()]:
                _require_single_replicate(its_rows, where)
        analysis = None
        if replicated:
            base_cdr: dict[int, float] = {}
            base_by_rep = replicate_baselines(folder, rows, compute=args.baseline, cdr=base_cdr)
            analysis = analyse(rows, base_by_rep or None)
            if base_cdr:
                analysis["baseline_cdr"] = mean_interval(list(base_cdr.values())).to_dict()
            baseline = {}
            text = [f"Replicated grid: {folder} ({len(rows)} finished runs)", "", replicated_tables(analysis)]
        else:
            baseline = _baselines(folder, rows, compute=args.baseline)
            text = [
                f"Robustness grid: {folder} ({len(rows)} finished runs, seed {sorted({r['seed'] for r in rows})})",
                "",
                grid_table(rows, baseline),
            ]
        for rep, rep_rows in others.items():
            rep_base = _baselines(Path(rep), rep_rows, compute=args.baseline)
            text += ["", f"Replicates: {folder} vs {rep}", "", replicate_table(rows, rep_rows, baseline, rep_base)]
        out = "\n".join(text)
        print(out)
        if args.markdown:
            Path(args.markdown).write_text(out + "\n", encoding="utf-8")
        if args.cache:
            cmd = f"python -m empirical.summarise_grid {folder} --baseline --cache {args.cache}"
            for path in write_caches(folder, rows, baseline, Path(args.cache), cmd, analysis):
                print(path, file=sys.stderr)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
