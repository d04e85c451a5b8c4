"""Replicate statistics of a robustness grid: drops, paper claims, the noise floor, the bridge.

Input: the rows of :func:`empirical.summarise_grid.load_runs` (one per finished run, with
``replicate``, ``method``, ``partition``, ``framework``, ``linear_probe_acc``, ``cdr_mean``, ...).
Everything is paired within a replicate (the same ``run.seed`` and ``data.seed``): a drop is
``acc(IID) - acc(α-skew)`` of the same method, framework and replicate; a comparison of two
methods or frameworks is the per-replicate difference of their drops (or accuracies). Every
estimate is a :class:`empirical.intervals.Interval` over replicates (Student t, 95 %), and a
claim's verdict comes from its interval only (:func:`empirical.intervals.verdict`).

Claims (paper, Section 4 and Table 1 / Fig. 2a / Table 2), each per framework present:

* ``mim-vs-cl``: MIM is more robust than CL: drop(SimSiam) - drop(MAE) > 0.
* ``fl-vs-decl``: FL is at least as robust as DecL (Theorem 4.6): drop(DecL sparsest) - drop(FL) > 0,
  and under skew acc(FL) - acc(DecL sparsest) > 0.
* ``connectivity``: robustness grows with |Ā| (Corollary 4.5): drop(DecL sparsest) - drop(DecL complete) > 0.
* ``mar-vs-mae``: MAR improves MAE under skew: acc_skew(MAR) - acc_skew(MAE) > 0, and drop(MAE) - drop(MAR) > 0.

Noise floor: FL with full participation and DecL on the complete graph with data-size mixing are
the same algorithm with the same keyed draws; their per-replicate accuracy difference is pure
numerical noise (summation order amplified by training), reported per method and partition.

Bridge: the class-direction retention (:func:`empirical.evaluate.class_direction_retention`)
against the probe accuracy, across all runs and as drops (IID minus skew) across
(method, framework, replicate), with Pearson's r and its Fisher-z interval; the old class-mean
RV measure the same way, for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from empirical.intervals import correlation_interval, mean_interval, verdict

__all__ = ["analyse", "SPARSE", "COMPLETE", "cell_values", "paired_differences"]

SPARSE = "decl3"
COMPLETE = "decl-complete"

Key = tuple[str, str, str]  # (method, partition, framework)


def _index(rows: Sequence[dict[str, Any]]) -> dict[tuple[int, str, str, str], dict[str, Any]]:
    out: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for r in rows:
        rep = r.get("replicate")
        out[(int(rep) if rep is not None else 0, r["method"], r["partition"], r["framework"])] = r
    return out


def _val(row: dict[str, Any] | None, metric: str) -> float | None:
    if row is None:
        return None
    v = row.get(metric)
    return float(v) if isinstance(v, (int, float)) else None


def cell_values(rows: Sequence[dict[str, Any]], key: Key, metric: str = "linear_probe_acc") -> dict[int, float]:
    """replicate -> ``metric`` of the run ``key`` = (method, partition, framework)."""
    idx = _index(rows)
    out = {}
    for (rep, m, p, f), r in idx.items():
        if (m, p, f) == key:
            v = _val(r, metric)
            if v is not None:
                out[rep] = v
    return out


def paired_differences(a: dict[int, float], b: dict[int, float]) -> list[float]:
    """``a[r] - b[r]`` for every replicate r present in both, in replicate order."""
    return [a[r] - b[r] for r in sorted(a.keys() & b.keys())]


def _drops(rows: Sequence[dict[str, Any]], method: str, fw: str, metric: str = "linear_probe_acc") -> dict[int, float]:
    iid = cell_values(rows, (method, "iid", fw), metric)
    lab = cell_values(rows, (method, "label", fw), metric)
    return {r: iid[r] - lab[r] for r in iid.keys() & lab.keys()}


def _claim(name: str, text: str, framework: str, diffs: list[float]) -> dict[str, Any] | None:
    if not diffs:
        return None
    iv = mean_interval(diffs)
    return {"claim": name, "statement": text, "framework": framework, "estimate": iv.to_dict(), "verdict": verdict(iv, 1)}


def analyse(rows: Sequence[dict[str, Any]], baseline_acc: dict[int, float] | None = None) -> dict[str, Any]:
    """Cells, drops, claims, noise floor, bridge and gain over the untrained encoder (when
    ``baseline_acc``: replicate -> random-init probe accuracy) of a replicated grid."""
    methods = [m for m in ("mae", "simsiam", "mar") if any(r["method"] == m for r in rows)]
    fws = [f for f in ("fl", SPARSE, COMPLETE) if any(r["framework"] == f for r in rows)]
    fws += sorted({r["framework"] for r in rows} - set(fws))
    reps = sorted({int(r["replicate"]) if r.get("replicate") is not None else 0 for r in rows})
    out: dict[str, Any] = {"replicates": reps, "methods": methods, "frameworks": fws, "interval": "Student t, 95 %, over replicates"}

    cells = []
    for m in methods:
        for p in ("iid", "label"):
            for f in fws:
                acc = cell_values(rows, (m, p, f))
                if not acc:
                    continue
                cdr = cell_values(rows, (m, p, f), "cdr_mean")
                cells.append(
                    {
                        "method": m,
                        "partition": p,
                        "framework": f,
                        "acc": mean_interval(list(acc.values())).to_dict(),
                        "cdr": mean_interval(list(cdr.values())).to_dict() if cdr else None,
                        "rv_mean": mean_interval(list(cell_values(rows, (m, p, f), "rv_mean").values())).to_dict()
                        if cell_values(rows, (m, p, f), "rv_mean")
                        else None,
                    }
                )
    out["cells"] = cells

    drops = []
    for m in methods:
        for f in fws:
            d = _drops(rows, m, f)
            if d:
                dc = _drops(rows, m, f, "cdr_mean")
                drops.append(
                    {
                        "method": m,
                        "framework": f,
                        "drop": mean_interval(list(d.values())).to_dict(),
                        "cdr_drop": mean_interval(list(dc.values())).to_dict() if dc else None,
                    }
                )
    out["drops"] = drops

    claims: list[dict[str, Any] | None] = []
    for f in fws:
        claims.append(
            _claim(
                "mim-vs-cl",
                "drop(SimSiam) - drop(MAE) > 0",
                f,
                paired_differences(_drops(rows, "simsiam", f), _drops(rows, "mae", f)),
            )
        )
    for f in fws:
        claims.append(
            _claim(
                "mar-vs-mae",
                "acc_skew(MAR) - acc_skew(MAE) > 0",
                f,
                paired_differences(cell_values(rows, ("mar", "label", f)), cell_values(rows, ("mae", "label", f))),
            )
        )
        claims.append(
            _claim(
                "mar-vs-mae (drop)",
                "drop(MAE) - drop(MAR) > 0",
                f,
                paired_differences(_drops(rows, "mae", f), _drops(rows, "mar", f)),
            )
        )
    for m in methods:
        claims.append(
            _claim(
                "fl-vs-decl",
                f"{m}: drop(DecL |Ā|=3) - drop(FL) > 0",
                "fl vs " + SPARSE,
                paired_differences(_drops(rows, m, SPARSE), _drops(rows, m, "fl")),
            )
        )
        claims.append(
            _claim(
                "fl-vs-decl (acc)",
                f"{m}: acc_skew(FL) - acc_skew(DecL |Ā|=3) > 0",
                "fl vs " + SPARSE,
                paired_differences(cell_values(rows, (m, "label", "fl")), cell_values(rows, (m, "label", SPARSE))),
            )
        )
        claims.append(
            _claim(
                "connectivity",
                f"{m}: drop(DecL |Ā|=3) - drop(DecL complete) > 0",
                SPARSE + " vs " + COMPLETE,
                paired_differences(_drops(rows, m, SPARSE), _drops(rows, m, COMPLETE)),
            )
        )
    out["claims"] = [c for c in claims if c is not None]

    floor = []
    singles: list[float] = []
    for m in methods:
        for p in ("iid", "label"):
            diffs = paired_differences(cell_values(rows, (m, p, "fl")), cell_values(rows, (m, p, COMPLETE)))
            if diffs:
                singles += diffs
                floor.append(
                    {"method": m, "partition": p, "difference": mean_interval(diffs).to_dict(), "max_abs": max(abs(x) for x in diffs)}
                )
    out["noise_floor"] = {
        "pairs": floor,
        "n_differences": len(singles),
        "rms_single_difference": (sum(x * x for x in singles) / len(singles)) ** 0.5 if singles else None,
        "max_abs_single_difference": max((abs(x) for x in singles), default=None),
        "note": "FL (full participation) minus DecL on the complete graph with data-size mixing: the same algorithm and draws",
    }

    acc_all, cdr_all, rv_all, dacc, dcdr, drv = [], [], [], [], [], []
    for r in rows:
        a, c, v = _val(r, "linear_probe_acc"), _val(r, "cdr_mean"), _val(r, "rv_mean")
        if a is not None and c is not None:
            acc_all.append(a)
            cdr_all.append(c)
            rv_all.append(v if v is not None else float("nan"))
    for m in methods:
        for f in fws:
            da, dc, dv = _drops(rows, m, f), _drops(rows, m, f, "cdr_mean"), _drops(rows, m, f, "rv_mean")
            for rep in sorted(da.keys() & dc.keys()):
                dacc.append(da[rep])
                dcdr.append(dc[rep])
                drv.append(dv.get(rep, float("nan")))
    out["bridge"] = {
        "runs_cdr_vs_acc": correlation_interval(cdr_all, acc_all).to_dict(),
        "runs_rv_vs_acc": correlation_interval(rv_all, acc_all).to_dict(),
        "drops_cdr_vs_acc": correlation_interval(dcdr, dacc).to_dict(),
        "drops_rv_vs_acc": correlation_interval(drv, dacc).to_dict(),
        "note": "Pearson r, Fisher-z 95 % interval; runs of one replicate share seeds, so points are not fully independent",
    }

    if baseline_acc:
        gains = []
        for m in methods:
            for p in ("iid", "label"):
                for f in fws:
                    diffs = paired_differences(cell_values(rows, (m, p, f)), baseline_acc)
                    if diffs:
                        gains.append({"method": m, "partition": p, "framework": f, "gain": mean_interval(diffs).to_dict()})
        out["gain_over_init"] = gains
        out["baseline"] = mean_interval(list(baseline_acc.values())).to_dict()
    return out
