"""Figures of the trained linear models, from the cache of ``python -m linear_models.sweep``.

* ``linear-rv-trained-vs-exact``: r_k of every trained model against r_k of its exact
  population target (top row) and s over [c] (bottom row), one panel per objective, with
  the identity line. An ILL-POSED exact value (tied top-c subspace) is drawn as the
  interval of every admissible value at the trained height, never as a point.
* ``linear-sensitivity-vs-d``: trained s over [c] against d, log-log, one panel per
  (objective, framework) cell: every seed, the mean per d, the least-squares fit of
  ``linear_models.checks.rate_in_d`` (mean over seeds of the per-seed slopes) and the
  printed rate (d^(-4/5) MIM, d^(-3/5) CL; Thms 4.2-4.3) as a reference line.
* ``linear-connectivity``: trained s_Dec (mean ± sd over seeds) against |Ā| on random and
  on regular graphs, the exact s of each graph's own fixed point, and the FL level
  (trained FedAvg when cached, and the exact FL s), the linear-model twin of the paper's
  Fig. 2a. Rows: s over [c] (as printed) and over the class axes [N].

The cache is the folder ``<results>/linear`` of one JSON file per run; nothing is trained
here. A missing folder, or one without the runs a figure needs, raises
:class:`figures.style.MissingResults` naming the sweep command that produces them.
``linear_models.checks`` (which needs JAX) is imported only when a figure is drawn, so that the
other figures need no JAX (:func:`_checks`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from theory import frameworks

from . import style

RELPATH = "linear"
DEFAULT_OUT = "results/linear"
SWEEP = "python -m linear_models.sweep"
CONNECTIVITY_COMMAND = f"{SWEEP} --preset connectivity"
SCALING_COMMAND = f"{SWEEP} --preset scaling --method MIM,CL1,CL2"
OBJECTIVES = ("MIM", "CL1", "CL2", "MAE")
# the sweeps name runs by algorithm; theory.frameworks maps them to the paper's frameworks
FRAMEWORKS = tuple(frameworks.ALGORITHM_OF[f] for f in frameworks.FRAMEWORKS)  # local, gossip, fedavg
FRAMEWORK_KEY = frameworks.FRAMEWORK_OF
FRAMEWORK_NAME = {a: frameworks.LABELS[f] for a, f in frameworks.FRAMEWORK_OF.items()}
LOG_FLOOR = 1e-4  # s below this is drawn on the floor line of log axes
REGULAR_COLOR = "#CC79A7"


# --------------------------------------------------------------------------- the cache
def _checks() -> Any:
    """``linear_models.checks``, imported when a linear figure is drawn: it needs JAX, which the
    other figures do not; without it :class:`figures.style.MissingExtra` names the extra to install."""
    try:
        return importlib.import_module("linear_models.checks")
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root in ("jax", "jaxlib", "jaxtyping"):
            raise style.MissingExtra("linear", root) from None
        raise


def _command(command: str, results_dir: Path) -> str:
    return style.producing_command(command, DEFAULT_OUT, Path(results_dir), RELPATH)


def load_sweep(results_dir: Path) -> tuple[list[dict[str, Any]], style.Results]:
    """Every cached run of ``<results_dir>/linear`` and one provenance record for the folder."""
    _checks()  # without JAX: one line naming the extra, before any file is read
    folder = Path(results_dir) / RELPATH
    both = f"{_command(CONNECTIVITY_COMMAND, results_dir)}` and `{_command(SCALING_COMMAND, results_dir)}"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise style.MissingResults(folder, both, "missing")
    runs: list[dict[str, Any]] = []
    digest = hashlib.sha256()
    revisions: set[str] = set()
    for path in files:
        data, raw = style.read_json(path, both)
        if not isinstance(data, dict) or "config" not in data or "final" not in data:
            raise style.MissingResults(path, both, "incompatible (not a linear_models.sweep result)")
        digest.update(path.name.encode() + hashlib.sha256(raw).digest())
        revisions.add(str(data.get("git_revision")))
        runs.append(data)
    schemas = sorted({r.get("schema") for r in runs}, key=str)
    prov = {"schema": schemas[0] if len(schemas) == 1 else schemas, "command": SWEEP,
            "git_revision": ", ".join(sorted(revisions)),
            "config": {"n_runs": len(runs), "devices": sorted({json.dumps(r.get("device"), sort_keys=True)
                                                              for r in runs})}}
    return runs, style.Results(folder, prov, digest.hexdigest())


def _require(runs: Sequence[Any], results_dir: Path, command: str, what: str) -> None:
    if not runs:
        raise style.MissingResults(Path(results_dir) / RELPATH, _command(command, results_dir), f"no {what} in the")


def _exact_entries(res: Mapping[str, Any], source: str = "exact") -> list[tuple[Any, Mapping[str, Any]]]:
    """(trained RV, target) pairs of a run: the global model, or every local model.

    ``source``: "exact" (the population optimum) or "data_optimum" (the optimum of the
    augmentation-averaged objective of the run's own sample; absent for large d)."""
    targets = res.get(source) or {}
    fw = res["config"]["framework"]
    if fw == "local":
        return [(c["rv"], targets[f"client:{c['client']}"]) for c in res["final"]["clients"]
                if f"client:{c['client']}" in targets]
    target = "pi" if fw == "gossip" else "fl"
    return [(res["final"]["global"]["rv"], targets[target])] if target in targets else []


def _objectives(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    present = {r["config"]["method"] for r in runs}
    return [m for m in OBJECTIVES if m in present]


# --------------------------------------------------------------------------- (a) trained vs exact
def _rv_panel(ax: Axes, runs: Sequence[Mapping[str, Any]], source: str = "exact") -> dict[str, Any]:
    diffs: list[float] = []
    n_well = n_ill = 0
    for fw in FRAMEWORKS:
        color = style.FRAMEWORK_COLORS[FRAMEWORK_KEY[fw]]
        xs, ys, seg_lo, seg_hi, seg_y = [], [], [], [], []
        for r in (r for r in runs if r["config"]["framework"] == fw):
            for rv, target in _exact_entries(r, source):
                lo = np.asarray(target["rv_low"], dtype=float)
                hi = np.asarray(target["rv_high"], dtype=float)
                tr = np.asarray(rv, dtype=float)[: lo.size]
                lo, hi = lo[: tr.size], hi[: tr.size]
                tied = hi - lo > 1e-9
                xs.extend(lo[~tied])
                ys.extend(tr[~tied])
                seg_lo.extend(lo[tied])
                seg_hi.extend(hi[tied])
                seg_y.extend(tr[tied])
                diffs.extend(np.abs(tr[~tied] - lo[~tied]).tolist())
        n_well += len(xs)
        n_ill += len(seg_y)
        if seg_y:
            ax.hlines(seg_y, seg_lo, seg_hi, color=color, lw=0.6, alpha=0.25, zorder=1)
        if xs:
            ax.plot(xs, ys, "o", color=color, ms=2.5, alpha=0.5, mew=0, zorder=2)
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", zorder=3)
    ax.set_xlim(-0.04, 1.04)
    ax.set_ylim(-0.04, 1.04)
    ax.set_aspect("equal")
    if not n_well + n_ill:
        ax.text(0.5, 0.5, "not cached", transform=ax.transAxes, ha="center", color="0.4")
    err = np.asarray(diffs)
    return {"max_abs_error_well_posed": float(err.max()) if err.size else None,
            "median_abs_error_well_posed": float(np.median(err)) if err.size else None,
            "p95_abs_error_well_posed": float(np.quantile(err, 0.95)) if err.size else None,
            "fraction_within_0.05": float(np.mean(err <= 0.05)) if err.size else None,
            "points_well_posed": n_well, "points_ill_posed": n_ill}


def _s_panel(ax: Axes, runs: Sequence[Mapping[str, Any]]) -> None:
    for fw in FRAMEWORKS:
        color = style.FRAMEWORK_COLORS[FRAMEWORK_KEY[fw]]
        sel = [r for r in runs if r["config"]["framework"] == fw]
        if not sel:
            continue
        ex = [_checks().exact_s(r) for r in sel]
        tr = np.array([_checks().trained_s(r) for r in sel])
        lo = np.array([e[0] for e in ex])
        hi = np.array([e[1] for e in ex])
        well = np.array([e[2] for e in ex], dtype=bool)
        if well.any():
            ax.plot(lo[well], tr[well], "o", color=color, ms=3.5, alpha=0.7, mew=0)
        if (~well).any():
            ax.hlines(tr[~well], lo[~well], hi[~well], color=color, lw=0.8, alpha=0.35)
            ax.plot(lo[~well], tr[~well], "|", color=color, ms=4, alpha=0.6)
            ax.plot(hi[~well], tr[~well], "|", color=color, ms=4, alpha=0.6)
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
    ax.set_xlim(-0.04, 1.04)
    ax.set_ylim(-0.04, 1.04)
    ax.set_aspect("equal")


def _summary(stats: Mapping[str, Any]) -> str:
    if stats["median_abs_error_well_posed"] is None:
        return "no well-posed target"
    return (f"|Δr| median {stats['median_abs_error_well_posed']:.3f}, 95% {stats['p95_abs_error_well_posed']:.3f}, "
            f"max {stats['max_abs_error_well_posed']:.2f}")


def rv_trained_vs_exact(results_dir: Path, out_dir: Path) -> list[Path]:
    """r_k of every cached trained model against its exact population target and against the
    optimum of its own sample; s over [c] against the exact s."""
    runs, prov = load_sweep(results_dir)
    objs = _objectives(runs)
    notes: dict[str, Any] = {}
    with style.styled():
        fig = style.new_figure(2.9 * len(objs) + 0.8, 9.2)
        axes = np.atleast_2d(fig.subplots(3, len(objs), squeeze=False))
        for k, obj in enumerate(objs):
            sel = [r for r in runs if r["config"]["method"] == obj]
            stats = _rv_panel(axes[0, k], sel, "exact")
            sample = _rv_panel(axes[1, k], sel, "data_optimum")
            notes[obj] = {"runs": len(sel), "population": stats, "sample_optimum": sample}
            axes[0, k].set_title(f"{style.OBJECTIVE_LABELS.get(obj, obj)}\n{len(sel)} runs; {_summary(stats)}",
                                 fontsize=8)
            axes[1, k].set_title(_summary(sample), fontsize=8)
            axes[0, k].set_xlabel(r"exact $r_k$ (population optimum)")
            axes[1, k].set_xlabel(r"$r_k$ of the sample's optimum")
            if obj in _checks().PRINTED_RATE:
                _s_panel(axes[2, k], sel)
                axes[2, k].set_xlabel(r"exact $s$ over [c]")
            else:
                axes[2, k].set_axis_off()
        axes[0, 0].set_ylabel(r"trained $r_k$, $k <$ max(c, support)")
        axes[1, 0].set_ylabel(r"trained $r_k$")
        axes[2, 0].set_ylabel(r"trained $s$ over [c]")
        handles = [Line2D([], [], color=style.FRAMEWORK_COLORS[FRAMEWORK_KEY[fw]], ls="", marker="o",
                          label=FRAMEWORK_NAME[fw]) for fw in FRAMEWORKS]
        handles += [Line2D([], [], color="0.4", lw=1.0, label="ILL-POSED target: interval of admissible values"),
                    Line2D([], [], color="black", ls="--", lw=0.8, label="identity")]
        fig.legend(handles=handles, loc="outside lower center", ncol=3)
        fig.suptitle("Trained linear models vs the exact minimiser of their objective\n(DecL: stationary weights π "
                     "of the mixing; local: each client's own)")
        return style.save(fig, out_dir, "linear-rv-trained-vs-exact", [prov], notes)


# --------------------------------------------------------------------------- (b) s against d
def d_families(runs: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[list[Mapping[str, Any]]]]:
    """(method, framework) -> the families of runs (``checks.family_key``) spanning two or more d."""
    fams: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for r in runs:
        if r["config"]["method"] in _checks().PRINTED_RATE:
            fams[_checks().family_key(r)].append(r)
    out: dict[tuple[str, str], list[list[Mapping[str, Any]]]] = defaultdict(list)
    for key in sorted(fams, key=str):
        fam = fams[key]
        if len({r["config"]["d"] for r in fam}) >= 2:
            c = fam[0]["config"]
            out[(c["method"], c["framework"])].append(fam)
    return out


def _floor(v: float) -> float:
    return v if v > LOG_FLOOR else LOG_FLOOR


def _d_panel(ax: Axes, fams: Sequence[Sequence[Mapping[str, Any]]], method: str, color: str) -> list[dict[str, Any]]:
    fits = []
    styles = ["-", ":", "-."]
    for j, fam in enumerate(fams):
        ds = sorted({int(r["config"]["d"]) for r in fam})
        by_d = {d: [_checks().trained_s(r) for r in fam if int(r["config"]["d"]) == d] for d in ds}
        for d in ds:
            ax.plot([d] * len(by_d[d]), [_floor(v) for v in by_d[d]], ".", color=color, alpha=0.35, ms=3)
        mean = np.array([float(np.mean(by_d[d])) for d in ds])
        ax.plot(ds, [_floor(v) for v in mean], "o", color=color, ms=4.5, ls="none")
        ex = [_checks().exact_s(next(r for r in fam if int(r["config"]["d"]) == d)) for d in ds]
        for d, (lo, hi, well) in zip(ds, ex):
            if well:
                ax.plot([d], [_floor(lo)], "D", mfc="white", mec="0.2", ms=4, zorder=4)
            else:
                ax.vlines(d * 1.06, _floor(lo), _floor(hi), color="0.5", lw=1.0)
        fit = _checks().rate_in_d(fam, method)
        slope = fit.get("trained_slope")
        x = np.array([ds[0], ds[-1]], dtype=float)
        if slope is not None and math.isfinite(slope) and (mean > 0).all():
            centre = math.exp(float(np.mean(np.log(mean))))
            xc = math.exp(float(np.mean(np.log(ds))))
            ax.plot(x, centre * (x / xc) ** slope, color=color, ls=styles[j % 3], lw=1.2)
        anchor = _floor(float(mean[0]))
        ax.plot(x, anchor * (x / x[0]) ** _checks().PRINTED_RATE[method], color="black", ls="--", lw=0.9)
        graph = fam[0]["config"].get("graph")
        fits.append({"graph": graph, "d": ds, "verdict": fit["verdict"], "trained_slope": slope,
                     "slope_se": fit.get("slope_se"), "printed_slope": _checks().PRINTED_RATE[method],
                     "exact_slope": fit.get("exact_slope"), "n_seeds": fit.get("n_seeds")})
        label = f"fit {slope:+.2f} ± {fit.get('slope_se', math.nan):.2f}" if slope is not None else "no fit"
        ax.text(0.03, 0.04 + 0.11 * j, f"{label} (printed {_checks().PRINTED_RATE[method]:+.1f}): {fit['verdict']}"
                + (f" [{graph}]" if graph else ""), transform=ax.transAxes, fontsize=7, color="0.1")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.axhline(LOG_FLOOR, color="0.4", lw=0.6, ls=":")
    return fits


def sensitivity_vs_d(results_dir: Path, out_dir: Path) -> list[Path]:
    """Trained s over [c] against d per (objective, framework), with fitted and printed slopes."""
    runs, prov = load_sweep(results_dir)
    fams = d_families(runs)
    _require(list(fams), results_dir, SCALING_COMMAND, "d-sweep (a cell run at two or more d)")
    objs = [m for m in OBJECTIVES if any(k[0] == m for k in fams)]
    fws = [f for f in FRAMEWORKS if any(k[1] == f for k in fams)]
    notes: dict[str, Any] = {}
    with style.styled():
        fig = style.new_figure(3.2 * len(fws) + 0.6, 2.6 * len(objs) + 1.0)
        axes = np.atleast_2d(fig.subplots(len(objs), len(fws), squeeze=False, sharex=True, sharey=True))
        for i, obj in enumerate(objs):
            for j, fw in enumerate(fws):
                ax = axes[i, j]
                if (obj, fw) not in fams:
                    ax.text(0.5, 0.5, "not cached", transform=ax.transAxes, ha="center", color="0.4")
                    continue
                fits = _d_panel(ax, fams[(obj, fw)], obj, style.FRAMEWORK_COLORS[FRAMEWORK_KEY[fw]])
                notes[f"{obj} {fw}"] = fits
                if i == 0:
                    ax.set_title(FRAMEWORK_NAME[fw])
                if j == 0:
                    ax.set_ylabel(f"{style.OBJECTIVE_LABELS.get(obj, obj)}\ntrained s over [c]", fontsize=8)
                if i == len(objs) - 1:
                    ax.set_xlabel("dimension d")
        handles = [Line2D([], [], color="0.3", ls="", marker=".", alpha=0.5, label="one seed"),
                   Line2D([], [], color="0.3", ls="", marker="o", label="mean over seeds"),
                   Line2D([], [], color="0.3", ls="-", label="least-squares fit (mean per-seed slope)"),
                   Line2D([], [], color="black", ls="--", label="printed rate d^(-4/5) MIM, d^(-3/5) CL"),
                   Line2D([], [], color="0.2", ls="", marker="D", mfc="white", label="exact population s"),
                   Line2D([], [], color="0.5", lw=1.0, label="exact ILL-POSED: interval"),
                   Line2D([], [], color="0.4", ls=":", lw=0.6, label=f"floor: s < {LOG_FLOOR:g}")]
        fig.legend(handles=handles, loc="outside lower center", ncol=4)
        fig.suptitle("Trained sensitivity against d (N, c, τ, μ and sample sizes by the paper's scalings)")
        return style.save(fig, out_dir, "linear-sensitivity-vs-d", [prov],
                          {"fits": notes, "log_floor": LOG_FLOOR})


# --------------------------------------------------------------------------- (c) connectivity
# fields left out when grouping the connectivity runs: the graph and seed vary, and the
# objective's own training budget (METHOD_DEFAULTS) differs between objectives
CONN_FREE: tuple[str, ...] = ("seed", "graph", "method", "rounds", "batch", "lr", "init_scale", "p", "log_every",
                              "augmentation", "data_optimum")


def connectivity_groups(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Gossip runs of one setting (d, N, mixing, ...) at two or more |Ā|: the largest N, then d.

    Also the FedAvg runs (full participation) at that d and N, for the FL level."""
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for r in runs:
        c = r["config"]
        if c["framework"] == "gossip" and c["method"] in _checks().PRINTED_RATE and r.get("graph"):
            groups[tuple(sorted((k, str(v)) for k, v in c.items() if k not in CONN_FREE))].append(r)

    def rank(key: tuple) -> tuple:
        c = groups[key][0]["config"]
        return int(c["n_clients"]), int(c["d"]), len(groups[key])

    ok = [k for k, v in groups.items() if len({round(r["graph"]["mean_connectivity"], 9) for r in v}) >= 2]
    if not ok:
        return {}
    sel = groups[max(ok, key=rank)]
    n, d = int(sel[0]["config"]["n_clients"]), int(sel[0]["config"]["d"])
    fed = [r for r in runs if r["config"]["framework"] == "fedavg" and (r["config"].get("participation") or 1.0) == 1.0
           and (int(r["config"]["n_clients"]), int(r["config"]["d"])) == (n, d)]
    return {"N": n, "d": d, "gossip": sel, "fedavg": fed}


def _conn_panel(ax: Axes, gossip: Sequence[Mapping[str, Any]], fed: Sequence[Mapping[str, Any]],
                cs: str) -> dict[str, Any]:
    note: dict[str, Any] = {}
    if fed:
        vals = [_checks().trained_s(r, cs) for r in fed]
        m, sd = float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        ax.axhspan(m - sd, m + sd, color=style.FRAMEWORK_COLORS["fl"], alpha=0.12, lw=0)
        ax.axhline(m, color=style.FRAMEWORK_COLORS["fl"], lw=1.1)
        lo, hi, well = _checks().exact_s(fed[0], cs)
        note["fl_trained"] = [m, sd]
    else:  # no FedAvg runs: K_N with uniform mixing has π = 1/N, the FL weights
        full = [r for r in gossip if r["graph"]["mean_connectivity"] == r["config"]["n_clients"]]
        lo, hi, well = _checks().exact_s(full[0], cs) if full else (math.nan, math.nan, False)
    if well:
        ax.axhline(lo, color="black", ls="--", lw=1.0)
    elif math.isfinite(lo):
        ax.axhspan(lo, hi, color="black", alpha=0.06, lw=0)
    note["fl_exact"] = [lo, hi, well]
    kinds = {"irregular": ("o", style.FRAMEWORK_COLORS["decl"], "-", -0.1),
             "regular": ("s", REGULAR_COLOR, ":", 0.1)}
    for kind, (marker, color, ls, dx) in kinds.items():
        if kind == "regular":
            sel = [r for r in gossip if r["graph"]["is_regular"]]
        else:  # K_N (regular) is the right end of both families
            sel = [r for r in gossip if not r["graph"]["is_regular"]
                   or r["graph"]["mean_connectivity"] == r["config"]["n_clients"]]
        abars = sorted({round(r["graph"]["mean_connectivity"], 9) for r in sel})
        if len(abars) < 2:
            continue
        means, sds, ex = [], [], []
        for a in abars:
            at = [r for r in sel if round(r["graph"]["mean_connectivity"], 9) == a]
            vals = [_checks().trained_s(r, cs) for r in at]
            means.append(float(np.mean(vals)))
            sds.append(float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
            ex.append([_checks().exact_s(r, cs) for r in at])
        x = np.asarray(abars) + dx
        ax.errorbar(x, means, yerr=sds, color=color, marker=marker, ls=ls, lw=0.9,
                    mfc=color if kind == "irregular" else "white", zorder=3)
        for xa, e in zip(x, ex):
            lo_e = float(np.mean([v[0] for v in e]))
            hi_e = float(np.mean([v[1] for v in e]))
            if all(v[2] for v in e):
                ax.plot([xa], [lo_e], "x", color=color, ms=5, mew=1.0, zorder=4)
            else:
                ax.vlines(xa, lo_e, hi_e, color=color, lw=2.0, alpha=0.25)
        note[kind] = {"abar": abars, "trained_mean": means, "trained_sd": sds}
    return note


def connectivity(results_dir: Path, out_dir: Path) -> list[Path]:
    """Trained s_Dec against |Ā| (random and regular graphs) with the FL level, per objective."""
    runs, prov = load_sweep(results_dir)
    grp = connectivity_groups(runs)
    _require(list(grp), results_dir, CONNECTIVITY_COMMAND, "gossip runs at two or more |Ā|")
    objs = [m for m in OBJECTIVES  # objectives run on two or more |Ā|
            if len({round(r["graph"]["mean_connectivity"], 9) for r in grp["gossip"] if r["config"]["method"] == m}) >= 2]
    notes: dict[str, Any] = {"N": grp["N"], "d": grp["d"]}
    with style.styled():
        fig = style.new_figure(3.4 * len(objs) + 0.5, 5.8)
        axes = np.atleast_2d(fig.subplots(2, len(objs), squeeze=False, sharex=True))
        for k, obj in enumerate(objs):
            g = [r for r in grp["gossip"] if r["config"]["method"] == obj]
            f = [r for r in grp["fedavg"] if r["config"]["method"] == obj]
            for row, cs in enumerate(("[c]", "[N]")):
                ax = axes[row, k]
                notes[f"{obj} {cs}"] = _conn_panel(ax, g, f, cs)
                if row == 0:
                    ax.set_title(style.OBJECTIVE_LABELS.get(obj, obj))
                else:
                    ax.set_xlabel(r"average connectivity $|\bar A|$")
                if k == 0:
                    ax.set_ylabel(r"trained $s_{Dec}$ over " + ("[c] (as printed)" if cs == "[c]" else "[N]"))
        handles = [
            Line2D([], [], color=style.FRAMEWORK_COLORS["decl"], marker="o", label="DecL, random graphs (mean ± sd)"),
            Line2D([], [], color=REGULAR_COLOR, marker="s", mfc="white", ls=":", label="DecL, regular graphs"),
            Line2D([], [], color="0.2", marker="x", ls="", label="exact s of the graph's fixed point (π)"),
            Line2D([], [], color=style.FRAMEWORK_COLORS["fl"], lw=1.1, label="FL level, trained FedAvg (± sd)"),
            Line2D([], [], color="black", ls="--", label="FL level, exact"),
            Patch(facecolor="0.4", alpha=0.3, label="exact ILL-POSED: interval"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=3)
        mixing = grp["gossip"][0]["config"].get("mixing")
        fig.suptitle(rf"Trained DecL sensitivity against $|\bar A|$ (N = {grp['N']}, d = {grp['d']}, D-PSGD, "
                     f"{mixing} mixing)")
        return style.save(fig, out_dir, "linear-connectivity", [prov], notes)


FIGURES: dict[str, Callable[[Path, Path], list[Path]]] = {
    "linear-rv-trained-vs-exact": rv_trained_vs_exact,
    "linear-sensitivity-vs-d": sensitivity_vs_d,
    "linear-connectivity": connectivity,
}

__all__: Sequence[str] = ("FIGURES", "load_sweep", "d_families", "connectivity_groups", "rv_trained_vs_exact",
                          "sensitivity_vs_d", "connectivity")
