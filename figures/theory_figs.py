"""Figures of the exact and printed theory, from the cache of ``python -m theory.curves``.

* ``theory-sensitivity-vs-d``: printed s (Theorems 4.2-4.3) against the exact model's s,
  over [c] and over the class axes [N], log-log in d.
* ``theory-rv-profiles``: r_k over the first 2N + 4 coordinates at one d.
* ``theory-connectivity``: exact s_Dec against |Ā|, with the FL level.
* ``theory-margins-vs-d``: the deciding margin of each asymptotic claim against d (symlog), with
  its sign pattern, last sign change, fitted rate and reading (``theory.margins``).

ILL-POSED values (tied top-c subspace) are drawn as the interval of every admissible value,
never as a point. An exact s below :data:`ZERO_TOL` is zero up to rounding (r_k are sums of
squared eigenvector entries, accurate to about 1e-13); on log axes it is drawn on a marked
floor line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from theory.frameworks import FRAMEWORKS

from . import style

CACHE = "theory/curves.json"
COMMAND = "python -m theory.curves"
DEFAULT_OUT = "results/theory/curves.json"
SCHEMA = "theory-curves/1"
OBJECTIVES = ("MIM", "CL1", "CL2")
COORDS = ("[c]", "[N]")
ZERO_TOL = 1e-12
LOG_FLOOR = 1e-8


def _load(results_dir: Path) -> style.Results:
    return style.load_results(results_dir, CACHE, COMMAND, DEFAULT_OUT, SCHEMA)


def _coords_label(cs: str, n: int, c: int) -> str:
    if cs == "[c]":
        return f"over [c], c = {c} (as printed)"
    return f"over the class axes [N], N = {n}"


def _abar(x: float) -> str:
    return rf"$|\bar A|$ = {x:.3g}"


def _decl_label(g: dict[str, Any]) -> str:
    kind = "regular" if g["regular"] else "irregular"
    return f"DecL ({kind} graph '{g['spec']}', {_abar(g['mean_connectivity'])})"


def _framework_label(fw: str, g: dict[str, Any]) -> str:
    return _decl_label(g) if fw == "decl" else style.FRAMEWORK_LABELS[fw]


# --------------------------------------------------------------------------- sensitivity vs d
def _log_value(v: float) -> float:
    return LOG_FLOOR if v < ZERO_TOL else v


def _sensitivity_panel(ax: Axes, block: dict[str, Any], obj: str, cs: str) -> None:
    ds = np.asarray(block["d"], dtype=float)
    exact = block["exact"][obj]
    ed = np.asarray(exact["d"], dtype=float)
    offsets = {"local": 0.92, "decl": 1.0, "fl": 1.08}  # multiplicative, to separate interval bars
    band_lo = np.full(len(ed), np.inf)
    band_hi = np.full(len(ed), -np.inf)
    for fw in FRAMEWORKS:
        color = style.FRAMEWORK_COLORS[fw]
        ax.plot(ds, block["printed"][obj][fw], ls="--", color=color, lw=1.1)
        col = exact[fw][cs]
        well = np.asarray(col["well_posed"], dtype=bool)
        lo = np.array([_log_value(v) for v in col["low"]])
        hi = np.array([_log_value(v) for v in col["high"]])
        s = np.array([_log_value(v) if v is not None else np.nan for v in col["s"]])
        if well.any():
            sw = np.where(well, s, np.nan)
            ax.plot(ed, sw, "-o", color=color, ms=4)
            zero = well & (s <= LOG_FLOOR)
            if zero.any():
                ax.plot(ed[zero] * offsets[fw], s[zero], "v", color=color, ms=6, mec="black", mew=0.5, clip_on=False)
        if (~well).any():
            band_lo = np.minimum(band_lo, np.where(well, np.inf, lo))
            band_hi = np.maximum(band_hi, np.where(well, -np.inf, hi))
            x = ed[~well] * offsets[fw]
            ax.vlines(x, lo[~well], hi[~well], color=color, lw=1.4)
            ax.plot(x, lo[~well], "_", color=color, ms=5)
            ax.plot(x, hi[~well], "_", color=color, ms=5)
    ill = np.isfinite(band_lo)
    if ill.any():  # one neutral band: the union of the admissible intervals of all frameworks
        ax.fill_between(ed, np.where(ill, band_lo, np.nan), np.where(ill, band_hi, np.nan), color="0.5",
                        alpha=style.ILL_POSED_ALPHA, lw=0, step=None)
    ax.axhline(LOG_FLOOR, color="0.4", lw=0.6, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(LOG_FLOOR / 4, 3.0)
    ax.set_xlim(ds.min() / 1.3, ds.max() * 1.3)
    if obj == "CL2" and len(ed) and ed.max() < ds.max():
        ax.axvline(ed.max() * 1.15, color="0.5", lw=0.6, ls="-.")
        ax.text(ed.max() * 1.25, 0.3, f"exact CL2\nonly to d = {int(ed.max())}\n(--cl2-d-max)", fontsize=7, color="0.3",
                va="top")
    ill_all = all(not w for fw in FRAMEWORKS for w in exact[fw][cs]["well_posed"])
    if ill_all:
        ax.text(0.97, 0.04, "exact: ILL-POSED at every d (tied top-c subspace);\nbars: every admissible s",
                transform=ax.transAxes, fontsize=7, color="0.1", va="bottom", ha="right",
                bbox={"facecolor": "white", "edgecolor": "0.6", "lw": 0.5, "pad": 2})


def sensitivity_vs_d(results_dir: Path, out_dir: Path) -> list[Path]:
    """Printed vs exact s against d, panels (coordinate set) x (objective)."""
    res = _load(results_dir)
    block = res.data["sensitivity_vs_d"]
    g = block["graph"]
    with style.styled():
        fig = style.new_figure(10.5, 6.8)
        axes = fig.subplots(2, 3, sharex=True, sharey=True)
        for r, cs in enumerate(COORDS):
            for k, obj in enumerate(OBJECTIVES):
                ax = axes[r, k]
                _sensitivity_panel(ax, block, obj, cs)
                if r == 0:
                    ax.set_title(style.OBJECTIVE_LABELS[obj])
                if r == 1:
                    ax.set_xlabel("dimension d")
                if k == 0:
                    ax.set_ylabel(f"sensitivity s\n{_coords_label(cs, block['N'], block['c'])}")
        handles = [Line2D([], [], color=style.FRAMEWORK_COLORS[fw], lw=2, label=_framework_label(fw, g))
                   for fw in FRAMEWORKS]
        handles += [
            Line2D([], [], color="0.2", ls="--", label="printed s = 1 - lower bound (Thm 4.2-4.3, C = 1)"),
            Line2D([], [], color="0.2", ls="-", marker="o", label="exact s (well posed)"),
            Patch(facecolor="0.5", alpha=2 * style.ILL_POSED_ALPHA, label="exact s ILL-POSED: interval [low, high]"),
            Line2D([], [], color="0.2", ls="", marker="v", mec="black",
                   label=f"exact s < {ZERO_TOL:g} (zero), on the dotted floor"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=3)
        fig.suptitle(f"Sensitivity against d: printed bounds vs the exact model (N = {block['N']} fixed, c = 2N)")
        return style.save(fig, out_dir, "theory-sensitivity-vs-d", [res],
                          {"zero_tolerance": ZERO_TOL, "log_floor": LOG_FLOOR})


# --------------------------------------------------------------------------- RV profiles
def rv_profiles(results_dir: Path, out_dir: Path) -> list[Path]:
    """r_k over the first 2N + 4 coordinates for local client 0, DecL and FL."""
    res = _load(results_dir)
    block = res.data["rv_profiles"]
    coords = np.asarray(block["coords"])
    n, c = block["N"], block["c"]
    objs = [o for o in OBJECTIVES if o in block["objectives"]]
    offsets = {"local": -0.22, "decl": 0.0, "fl": 0.22}
    with style.styled():
        fig = style.new_figure(8.5, 2.3 * len(objs) + 0.9)
        axes = np.atleast_1d(fig.subplots(len(objs), 1, sharex=True))
        for ax, obj in zip(axes, objs):
            ax.axvspan(-0.5, n - 0.5, color="0.85", alpha=0.5, lw=0)
            ax.axvline(c - 0.5, color="0.3", lw=0.8, ls="--")
            ax.text(c - 0.4, 1.02, f"c = {c}", fontsize=7, color="0.3", va="bottom")
            for h in block["rare_axes"]:
                if h <= coords.max():
                    ax.plot([h], [-0.09], marker="^", color="0.35", ms=4, clip_on=False)
            for fw in FRAMEWORKS:
                rec = block["objectives"][obj][fw]
                lo, hi = np.asarray(rec["r_low"]), np.asarray(rec["r_high"])
                x = coords + offsets[fw]
                color = style.FRAMEWORK_COLORS[fw]
                tied = hi - lo > 1e-12
                ax.plot(x[~tied], lo[~tied], "o", color=color, ms=4.5)
                if tied.any():
                    ax.vlines(x[tied], lo[tied], hi[tied], color=color, lw=2.2, alpha=0.75)
                    ax.plot(x[tied], lo[tied], "_", color=color, ms=6)
                    ax.plot(x[tied], hi[tied], "_", color=color, ms=6)
            state = ", ".join(f"{style.FRAMEWORK_LABELS[fw]} {'well posed' if block['objectives'][obj][fw]['well_posed'] else 'ILL-POSED'}"
                              for fw in FRAMEWORKS)
            ax.set_title(f"{style.OBJECTIVE_LABELS[obj]}: {state}", loc="left")
            ax.set_ylim(-0.12, 1.1)
            ax.set_ylabel(r"$r_k$")
        axes[-1].set_xlabel("coordinate k (0-based)")
        axes[-1].set_xticks(coords)
        axes[-1].set_xlim(coords.min() - 0.6, coords.max() + 0.6)
        g = block["graph"]
        handles = [Line2D([], [], color=style.FRAMEWORK_COLORS[fw], ls="", marker="o", label=_framework_label(fw, g))
                   for fw in FRAMEWORKS]
        handles += [
            Line2D([], [], color="0.3", lw=2.2, label="ILL-POSED: range of r_k over the tied subspaces"),
            Patch(facecolor="0.85", label=f"class axes [N], N = {n}"),
            Line2D([], [], color="0.35", ls="", marker="^", label="rare axes"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=3)
        fig.suptitle(f"Representability vector r at d = {block['d']} (exact model, N = {n}, c = {c})")
        return style.save(fig, out_dir, "theory-rv-profiles", [res])


# --------------------------------------------------------------------------- connectivity
def _linear_value(v: float) -> float:
    return 0.0 if v < ZERO_TOL else v


def _connectivity_panel(ax: Axes, block: dict[str, Any], obj: str, cs: str) -> None:
    recs = block["graphs"]
    col = block["decl"][obj][cs]
    fl = block["fl"][obj][cs]
    if fl["well_posed"]:
        ax.axhline(_linear_value(fl["s"]), color="black", ls="--", lw=1.0, zorder=1)
    else:
        ax.axhspan(fl["low"], fl["high"], color="black", alpha=0.08, lw=0, zorder=0)
    markers = {"random": ("o", style.FRAMEWORK_COLORS["decl"], -0.12), "regular": ("s", "#CC79A7", 0.12)}
    for kind, (marker, color, dx) in markers.items():
        idx = [i for i, g in enumerate(recs) if g["kind"] == kind]
        if not idx:
            continue
        x = np.array([recs[i]["mean_connectivity"] for i in idx]) + dx
        well = np.array([col["well_posed"][i] for i in idx], dtype=bool)
        s = np.array([_linear_value(col["s"][i]) if col["s"][i] is not None else np.nan for i in idx], dtype=float)
        lo = np.array([col["low"][i] for i in idx])
        hi = np.array([col["high"][i] for i in idx])
        if well.any():
            ax.plot(x[well], s[well], marker=marker, color=color, ls="-" if kind == "random" else ":", lw=0.9,
                    mfc=color if kind == "random" else "white", zorder=3)
        if (~well).any():
            ax.vlines(x[~well], lo[~well], hi[~well], color=color, lw=2.0, alpha=0.7, zorder=2)
    if not any(col["well_posed"]):
        ax.text(0.97, 0.5, "ILL-POSED on every graph\n(tied top-c subspace);\nbars: every admissible s",
                transform=ax.transAxes, fontsize=7, color="0.1", ha="right", va="center",
                bbox={"facecolor": "white", "edgecolor": "0.6", "lw": 0.5, "pad": 2})
    elif max(v for v in col["high"]) < ZERO_TOL and fl["high"] < ZERO_TOL:
        ax.text(0.5, 0.7, f"s < {ZERO_TOL:g} on every graph and for FL\n(zero up to rounding)",
                transform=ax.transAxes, fontsize=7, color="0.1", ha="center")


def connectivity(results_dir: Path, out_dir: Path) -> list[Path]:
    """Exact s_Dec against |Ā| on random and regular graphs, FL as a horizontal line."""
    res = _load(results_dir)
    block = res.data["connectivity"]
    objs = [o for o in OBJECTIVES if o in block["decl"]]
    with style.styled():
        fig = style.new_figure(3.4 * len(objs) + 0.5, 5.6)
        axes = np.atleast_2d(fig.subplots(2, len(objs), sharex=True, squeeze=False))
        for r, cs in enumerate(COORDS):
            for k, obj in enumerate(objs):
                ax = axes[r, k]
                _connectivity_panel(ax, block, obj, cs)
                if r == 0:
                    ax.set_title(style.OBJECTIVE_LABELS[obj])
                if r == 1:
                    ax.set_xlabel(r"average connectivity $|\bar A|$")
                if k == 0:
                    ax.set_ylabel(r"$s_{Dec}$ " + _coords_label(cs, block["N"], block["c"]))
        handles = [
            Line2D([], [], color=style.FRAMEWORK_COLORS["decl"], marker="o", label="DecL, random graph with target |A|"
                   .replace("|A|", r"$|\bar A|$")),
            Line2D([], [], color="#CC79A7", marker="s", mfc="white", ls=":", label="DecL, regular graph"),
            Line2D([], [], color="black", ls="--", label="FL level"),
            Line2D([], [], color="0.4", lw=2.0, label="ILL-POSED: interval of s"),
            Patch(facecolor="black", alpha=0.08, label="FL ILL-POSED: interval"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=5)
        fig.suptitle(f"DecL sensitivity against connectivity (exact model, N = {block['N']}, d = {block['d']}, "
                     f"c = {block['c']})")
        return style.save(fig, out_dir, "theory-connectivity", [res])


# --------------------------------------------------------------------------- margins vs d
def _margin_title(mc: dict[str, Any]) -> str:
    cell = mc["cell"]
    where = {"thm4.6": f"{cell['method']} over {cell['coords']}, DecL on {cell['graph']}",
             "thm4.4": f"{cell['method']} vs MIM, {cell['framework']}, over {cell['coords']}",
             "cor4.5": f"{cell['method']} over {cell['coords']}, graph family",
             "thm4.2": f"{cell['method']}, {cell['framework']}",
             "thm4.3": f"{cell['method']}, {cell['framework']}"}[mc["claim_id"]]
    return f"{mc['claim_id']}: {where}"


def _margin_panel(ax: Axes, mc: dict[str, Any]) -> None:
    ds = np.asarray(mc["d"], dtype=float)
    lo = np.array([np.nan if v is None else v for v in mc["low"]], dtype=float)
    hi = np.array([np.nan if v is None else v for v in mc["high"]], dtype=float)
    val = np.array([np.nan if v is None else v for v in mc["value"]], dtype=float)
    well = np.asarray(mc["well_posed"], dtype=bool)
    mags = np.abs(np.concatenate([val, lo, hi]))
    mags = mags[np.isfinite(mags) & (mags > 0)]
    lin = max(float(np.min(mags)) if mags.size else 1e-12, 1e-12)
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.plot(ds[well], val[well], "o-", color="#0072B2", ms=3.5)
    bounded = ~well & np.isfinite(lo) & np.isfinite(hi)
    if bounded.any():
        ax.vlines(ds[bounded], lo[bounded], hi[bounded], color="#D55E00", lw=2.5)
    for x in ds[~well & ~bounded]:  # no finite enclosure: the margin is undetermined there
        ax.text(x, 0.0, "?", color="#D55E00", ha="center", va="center", fontsize=8, fontweight="bold")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=lin)
    ax.tick_params(axis="y", labelsize=6)
    rate = "" if mc["rate"] is None else f", |m| ~ d^{mc['rate']:.2f}"
    ax.set_title(f"{_margin_title(mc)}\nsigns {mc['sign_pattern']}{rate}", fontsize=7)
    ax.set_xlabel(_wrap(mc["reading"], 52), fontsize=6)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def margins_vs_d(results_dir: Path, out_dir: Path) -> list[Path]:
    """The deciding margin of each asymptotic claim against d (exact level, N fixed)."""
    res = _load(results_dir)
    block = res.data["margins"]
    curves = block["curves"]
    cols = 4
    rows = max(1, -(-len(curves) // cols))
    with style.styled():
        fig = style.new_figure(3.4 * cols, 3.1 * rows + 0.6)
        axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
        for ax, mc in zip(axes.ravel(), curves):
            _margin_panel(ax, mc)
        for ax in axes.ravel()[len(curves):]:
            ax.set_axis_off()
        handles = [Line2D([], [], color="#0072B2", marker="o", label="margin against d (well posed; log2 d axis)"),
                   Line2D([], [], color="#D55E00", lw=2, label="ILL-POSED (tied top-c subspace): enclosure of the margin"),
                   Line2D([], [], color="0.3", lw=0.8, label="0: the claim's side is above")]
        fig.legend(handles=handles, loc="outside lower center", ncol=3)
        fig.suptitle(f"Deciding margins of the asymptotic claims against d (exact level, N = {block['N']}, c = 2N)")
        return style.save(fig, out_dir, "theory-margins-vs-d", [res])


FIGURES: dict[str, Callable[[Path, Path], list[Path]]] = {
    "theory-sensitivity-vs-d": sensitivity_vs_d,
    "theory-rv-profiles": rv_profiles,
    "theory-connectivity": connectivity,
    "theory-margins-vs-d": margins_vs_d,
}

__all__: Sequence[str] = ("FIGURES", "sensitivity_vs_d", "rv_profiles", "connectivity", "margins_vs_d")
