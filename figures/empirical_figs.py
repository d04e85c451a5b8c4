"""Figures of the deep experiments (``empirical/``), from the caches of ``python -m empirical.summarise_grid``.

* ``empirical-partitions``: client-by-class image counts of the robustness grid's IID and
  Dirichlet label-skew partitions (one heatmap each, same colour scale).
* ``empirical-grid``: linear-probe accuracy against |Ā| for DecL, per method (panel) and
  partition (colour), the FL run of the same cell as a horizontal line and the randomly
  initialised encoder as a dotted grey line.

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


def grid(results_dir: Path, out_dir: Path) -> list[Path]:
    """Linear-probe accuracy against |Ā| (DecL), FL as a horizontal line, per method and partition."""
    res = _load(results_dir, GRID_CACHE, GRID_SCHEMA)
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
