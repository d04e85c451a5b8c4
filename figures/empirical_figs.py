"""Figures of the deep experiments (``empirical/``), from the caches of ``python -m empirical.summarise_grid``.

* ``empirical-partitions``: client-by-class image counts of the robustness grid's IID and
  Dirichlet label-skew partitions (one heatmap each, same colour scale).
* ``empirical-grid``: for a replicated grid (the cache holds ``analysis``, from
  ``--replicates``): per method (column), the linear-probe accuracy of every framework and
  partition (top) and the drop IID - skew (bottom), each as the mean over replicates with its
  95 % Student-t interval as an error bar, the untrained encoder as a grey band (its interval);
  for a single-seed grid: accuracy against |Ā| for DecL, per method (panel) and partition
  (colour), the FL run of the same cell as a horizontal line and the randomly initialised
  encoder as a dotted grey line.

Both read ``results/empirical/{partitions,grid}.json``; a missing cache is reported with the
command that writes it (it needs the grid's run folders, ``runs/robustness-grid``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from . import style

GRID_CACHE = "empirical/grid.json"
PARTITION_CACHE = "empirical/partitions.json"
GRID_SCHEMA = "empirical-grid/1"
PARTITION_SCHEMA = "empirical-partitions/1"
GRID_FOLDER = "runs/robustness-grid"
METHOD_LABELS = {"mae": "MAE", "simsiam": "SimSiam", "mar": "MAR"}
PARTITION_COLORS = {"iid": "#0072B2", "label": "#D55E00"}


def _command(results_dir: Path) -> str:
    return f"python -m empirical.summarise_grid {GRID_FOLDER} --baseline --cache {Path(results_dir) / 'empirical'}"


def _load(results_dir: Path, relpath: str, schema: str) -> style.Results:
    path = Path(results_dir) / relpath
    # default_out == the path itself: the command already names the cache folder
    return style.load_results(results_dir, relpath, _command(results_dir), str(path), schema)


def _partition_label(p: dict[str, Any]) -> str:
    if p["kind"] == "label":
        return f"Dirichlet label skew, α = {p['alpha']:g}"
    return "IID"


# --------------------------------------------------------------------------- partitions
def partitions(results_dir: Path, out_dir: Path) -> list[Path]:
    """Heatmaps of the image counts per client (rows) and class (columns)."""
    res = _load(results_dir, PARTITION_CACHE, PARTITION_SCHEMA)
    parts = [res.data["partitions"][k] for k in ("iid", "label", "feature") if k in res.data["partitions"]]
    vmax = max(int(np.max(p["counts"])) for p in parts)
    with style.styled():
        fig = style.new_figure(3.3 * len(parts) + 0.9, 4.4)
        axes = np.atleast_1d(fig.subplots(1, len(parts), sharey=True, squeeze=False)[0])
        image = None
        for ax, p in zip(axes, parts):
            counts = np.asarray(p["counts"], dtype=float)  # (N, K)
            image = ax.imshow(counts, aspect="auto", cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
            ax.grid(False)
            ax.set_xticks(range(p["n_classes"]))
            ax.set_xlabel("class")
            ax.set_title(f"{_partition_label(p)}\nmean JS to the global label mix = {p['mean_js']:.3f}")
            ax.set_yticks(range(0, p["n_clients"], max(1, p["n_clients"] // 10)))
        axes[0].set_ylabel("client")
        if image is not None:
            fig.colorbar(image, ax=list(axes), label="images", shrink=0.9)
        p0 = parts[0]
        fig.suptitle(f"{p0['dataset'].upper()} partitions of the robustness grid: {p0['n_clients']} clients, "
                     f"data seed {p0['data_seed']}")
        return style.save(fig, out_dir, "empirical-partitions", [res])


# --------------------------------------------------------------------------- grid results
def _abar_of(row: dict[str, Any]) -> float:
    return float(row["abar_target"])


FRAMEWORK_LABELS = {"fl": "FL", "decl3": "DecL\n|Ā|=3", "decl-complete": "DecL\ncomplete"}


def _fw_label(key: str) -> str:
    return FRAMEWORK_LABELS.get(key, key.replace("decl", "DecL\n|Ā|="))


def _errbar(ax: Any, x: float, iv: dict[str, Any], color: str, marker: str = "o",
            within: tuple[float, float] | None = None) -> None:
    """The mean and its interval; ``within``: the quantity's range, the interval is cut to it."""
    lo, hi = iv.get("lo"), iv.get("hi")
    m = iv["mean"]
    if lo is None or hi is None or not np.isfinite(lo):
        ax.plot([x], [m], marker, color=color)
        return
    if within is not None:
        lo, hi = max(lo, within[0]), min(hi, within[1])
    ax.errorbar([x], [m], yerr=[[m - lo], [hi - m]], fmt=marker, color=color, capsize=3, lw=1.2)


def _grid_replicated(res: style.Results, out_dir: Path) -> list[Path]:
    a = res.data["analysis"]
    methods, fws = a["methods"], a["frameworks"]
    cells = {(c["method"], c["partition"], c["framework"]): c for c in a["cells"]}
    drops = {(d["method"], d["framework"]): d for d in a["drops"]}
    base = a.get("baseline")
    with style.styled():
        fig = style.new_figure(3.4 * max(1, len(methods)) + 0.4, 6.4)
        axes = fig.subplots(2, max(1, len(methods)), sharey="row", squeeze=False)
        for j, method in enumerate(methods):
            top, bottom = axes[0][j], axes[1][j]
            for i, fw in enumerate(fws):
                for k, (part, color) in enumerate(PARTITION_COLORS.items()):
                    c = cells.get((method, part, fw))
                    if c is not None:
                        _errbar(top, i + (k - 0.5) * 0.22, c["acc"], color, within=(0.0, 1.0))
                d = drops.get((method, fw))
                if d is not None:
                    _errbar(bottom, i, d["drop"], "0.15", "s")
            if base is not None and base.get("lo") is not None and np.isfinite(base["lo"]):
                top.axhspan(base["lo"], base["hi"], color="0.6", alpha=0.35, lw=0)
            elif base is not None:
                top.axhline(base["mean"], color="0.5", ls=":", lw=1.2)
            bottom.axhline(0.0, color="0.5", lw=0.8)
            for ax in (top, bottom):
                ax.set_xticks(range(len(fws)), [_fw_label(f) for f in fws])
                ax.set_xlim(-0.6, len(fws) - 0.4)
            top.set_title(METHOD_LABELS.get(method, method))
        axes[0][0].set_ylabel("linear-probe accuracy (held-out)")
        axes[1][0].set_ylabel("drop: IID − label skew")
        alpha = next((c["partition"] for c in a["cells"] if c["partition"] == "label"), None)
        handles = [
            Line2D([], [], color=PARTITION_COLORS["iid"], marker="o", label="IID"),
            Line2D([], [], color=PARTITION_COLORS["label"], marker="o", label="Dirichlet label skew" if alpha else "label skew"),
            Line2D([], [], color="0.15", marker="s", ls="", label="drop (paired by replicate)"),
            Line2D([], [], color="0.6", lw=6, alpha=0.5, label="untrained encoder (95 % interval)"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=4)
        cfg = res.data.get("config") or {}
        n_clients = (cfg.get("partition") or {}).get("n_clients", "?")
        rounds = (cfg.get("federation") or {}).get("rounds", "?")
        fig.suptitle(f"Replicated grid: {n_clients} clients, {rounds} rounds, {len(a['replicates'])} replicates; "
                     "mean and 95 % t interval over replicates")
        return style.save(fig, out_dir, "empirical-grid", [res])


def grid(results_dir: Path, out_dir: Path) -> list[Path]:
    """Replicated grid: accuracy and drop with 95 % intervals per method and framework; single-seed
    grid: linear-probe accuracy against |Ā| (DecL), FL as a horizontal line."""
    res = _load(results_dir, GRID_CACHE, GRID_SCHEMA)
    if res.data.get("analysis"):
        return _grid_replicated(res, out_dir)
    rows = res.data["rows"]
    baseline = res.data.get("baseline") or {}
    methods = [m for m in ("mae", "simsiam", "mar") if any(r["method"] == m for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    with style.styled():
        fig = style.new_figure(3.6 * max(1, len(methods)) + 0.4, 3.6)
        axes = np.atleast_1d(fig.subplots(1, max(1, len(methods)), sharey=True, squeeze=False)[0])
        for ax, method in zip(axes, methods):
            for part, color in PARTITION_COLORS.items():
                cell = [r for r in rows if r["method"] == method and r["partition"] == part]
                decl = sorted((r for r in cell if r["framework"] != "fl" and r["linear_probe_acc"] is not None), key=_abar_of)
                if decl:
                    ax.plot([_abar_of(r) for r in decl], [r["linear_probe_acc"] for r in decl], "-o", color=color)
                for r in cell:
                    if r["framework"] == "fl" and r["linear_probe_acc"] is not None:
                        ax.axhline(r["linear_probe_acc"], color=color, ls="--", lw=1.0)
            base = baseline.get(method, {}).get("linear_probe_acc")
            if base is not None:
                ax.axhline(base, color="0.5", ls=":", lw=1.2)
            ax.set_xscale("log", base=2)
            ticks = sorted({_abar_of(r) for r in rows if r["framework"] != "fl"})
            if ticks:
                ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
                ax.minorticks_off()
            ax.set_xlabel(r"DecL mean connectivity $|\bar A|$ (target)")
            ax.set_title(METHOD_LABELS.get(method, method))
        axes[0].set_ylabel("linear-probe accuracy (held-out)")
        alpha = next((r["alpha"] for r in rows if r["partition"] == "label"), None)
        handles = [
            Line2D([], [], color=PARTITION_COLORS["iid"], marker="o", label="IID, DecL"),
            Line2D([], [], color=PARTITION_COLORS["label"], marker="o",
                   label=f"label skew α = {alpha:g}, DecL" if alpha is not None else "label skew, DecL"),
            Line2D([], [], color="0.2", ls="--", label="FL (same partition colour)"),
            Line2D([], [], color="0.5", ls=":", label="random-init encoder"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=4)
        n_clients = rows[0].get("config", {}).get("partition", {}).get("n_clients") if rows else None
        cfg = res.data.get("config") or {}
        n_clients = (cfg.get("partition") or {}).get("n_clients", n_clients)
        per_method: dict[str, set] = {}
        for r in rows:
            per_method.setdefault(str(r.get("method")), set()).add(r.get("rounds"))
        rounds = ", ".join(f"{m} {'/'.join(str(x) for x in sorted(v, key=str))}" for m, v in sorted(per_method.items())) or "?"
        fig.suptitle(f"Robustness grid: {n_clients} clients, rounds {rounds}, "
                     f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)}")
        return style.save(fig, out_dir, "empirical-grid", [res])


FIGURES: dict[str, Callable[[Path, Path], list[Path]]] = {
    "empirical-partitions": partitions,
    "empirical-grid": grid,
}

__all__: Sequence[str] = ("FIGURES", "grid", "partitions")
