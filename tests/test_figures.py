"""theory.curves (the cache) and python -m figures (the figures): schema, byte-stable reruns, missing caches."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from figures.__main__ import discover
from figures.__main__ import main as figures_main
from figures.theory_figs import FIGURES as THEORY_FIGURES
from theory.curves import main as curves_main

N_TINY = 3
CONN_N = 6
TINY = ["--d-min", "32", "--d-max", "64", "--points", "2", "--N", str(N_TINY), "--profile-d", "32",
        "--conn-N", str(CONN_N), "--conn-d", "32", "--conn-abar", "3,4,6", "--cl2-d-max", "32"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    assert curves_main([*TINY, "--out", str(root / "theory" / "curves.json")]) == 0
    return root


@pytest.fixture(scope="module")
def cache(results: Path) -> dict:
    return json.loads((results / "theory" / "curves.json").read_text())


@pytest.fixture(scope="module")
def rendered(results: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path_factory.mktemp("figures")
    assert figures_main(["all", "--results", str(results), "--out", str(out)]) == 0
    return out, {p.name: p.read_bytes() for p in sorted(out.iterdir())}


# --------------------------------------------------------------------------- the cache
def test_cache_records_config_and_revision(cache: dict) -> None:
    assert cache["schema"] == "theory-curves/1"
    assert cache["command"].startswith("python -m theory.curves --d-min 32")
    assert cache["git_revision"]
    cfg = cache["config"]
    assert (cfg["d_min"], cfg["d_max"], cfg["points"], cfg["n_clients"]) == (32, 64, 2, N_TINY)
    assert cfg["decl_graph"] == "abar:3"  # resolved default max(3, (N + 2) // 2)
    assert cache["sensitivity_vs_d"]["d"] == [32, 64]


def test_cl2_exact_is_capped_and_printed_is_not(cache: dict) -> None:
    block = cache["sensitivity_vs_d"]
    assert block["cl2_d_max"] == 32
    assert block["exact"]["CL2"]["d"] == [32]
    assert block["exact"]["MIM"]["d"] == [32, 64]
    assert len(block["printed"]["CL2"]["fl"]) == 2


def test_ill_posed_values_are_intervals_never_numbers(cache: dict) -> None:
    seen = {True: 0, False: 0}
    for obj, cells in cache["sensitivity_vs_d"]["exact"].items():
        for fw in ("local", "decl", "fl"):
            for cs in ("[c]", "[N]"):
                col = cells[fw][cs]
                for well, s, lo, hi in zip(col["well_posed"], col["s"], col["low"], col["high"]):
                    seen[well] += 1
                    if well:
                        assert s == lo == hi
                    else:
                        assert s is None and lo <= hi
    # CL1 over [c] ties at the cut (c = 2N exceeds the distinct leading eigenvalues): both kinds occur
    assert seen[True] > 0 and seen[False] > 0
    assert cache["sensitivity_vs_d"]["exact"]["CL1"]["fl"]["[c]"]["well_posed"] == [False, False]


def test_exact_values_pinned(cache: dict) -> None:
    # Reference values from this cache (N = 3): the MIM minimiser puts r_k = 1/N on every class axis for
    # FL, and 1/(N-1) on the other clients' axes (0 on its own) for a local model.
    mim = cache["sensitivity_vs_d"]["exact"]["MIM"]
    assert mim["fl"]["[c]"]["s"] == pytest.approx([1 / N_TINY] * 2, abs=1e-12)
    assert mim["local"]["[N]"]["s"] == pytest.approx([1 / (N_TINY - 1)] * 2, abs=1e-12)
    assert mim["fl"]["[N]"]["s"] == pytest.approx([0.0, 0.0], abs=1e-12)


def test_connectivity_graphs_and_fl_level(cache: dict) -> None:
    block = cache["connectivity"]
    kinds = [(g["kind"], g["mean_connectivity"]) for g in block["graphs"]]
    assert ("regular", 3.0) in kinds and ("random", 4.0) in kinds and ("regular", 6.0) in kinds
    assert all(len(col) == len(kinds) for o in block["decl"] for cs in block["decl"][o]
               for col in block["decl"][o][cs].values())
    # a regular graph gives the FL objective exactly (decl_objective_weights = 1/N)
    i = kinds.index(("regular", 3.0))
    assert block["decl"]["MIM"]["[c]"]["s"][i] == pytest.approx(block["fl"]["MIM"]["[c]"]["s"], abs=1e-12)


def test_curves_bad_parameter_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert curves_main(["--d-min", "64", "--d-max", "32", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "d_max" in err[0]
    assert not (tmp_path / "c.json").exists()


# --------------------------------------------------------------------------- the figures
@pytest.mark.slow
def test_all_figures_written(rendered: tuple[Path, dict[str, bytes]], cache: dict) -> None:
    out, files = rendered
    for name in THEORY_FIGURES:
        assert files[f"{name}.png"].startswith(b"\x89PNG\r\n\x1a\n")
        assert files[f"{name}.pdf"].startswith(b"%PDF-")
        meta = json.loads(files[f"{name}.meta.json"])
        assert meta["figure"] == name
        assert meta["results"][0]["config"] == cache["config"]
        assert meta["results"][0]["git_revision"] == cache["git_revision"]


@pytest.mark.slow
def test_rerun_is_byte_identical(rendered: tuple[Path, dict[str, bytes]], results: Path) -> None:
    out, first = rendered
    assert figures_main(["all", "--results", str(results), "--out", str(out)]) == 0
    second = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert second.keys() == first.keys()
    changed = [name for name in first if first[name] != second[name]]
    assert changed == []


def test_missing_cache_names_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "nothing"
    rc = figures_main(["theory-rv-profiles", "--results", str(empty), "--out", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "python -m theory.curves --out" in err[0] and "curves.json" in err[0]
    assert not (tmp_path / "out").exists()
    # 'all' reports the shared cache once
    assert figures_main(["all", "--results", str(empty), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "theory.curves" in line]) == 1


def test_incompatible_cache_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "theory").mkdir()
    (tmp_path / "theory" / "curves.json").write_text('{"schema": "old"}')
    assert figures_main(["theory-connectivity", "--results", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "incompatible" in capsys.readouterr().err


def test_unknown_figure_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert figures_main(["no-such-figure", "--out", str(tmp_path)]) == 2
    assert "theory-connectivity" in capsys.readouterr().err


def test_registry_skips_absent_modules_and_rejects_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    found = discover(("figures.theory_figs", "figures.no_such_module"))
    assert list(found) == list(THEORY_FIGURES)
    dup = types.ModuleType("figures._duplicate_for_test")
    dup.FIGURES = {"theory-rv-profiles": lambda results, out: []}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "figures._duplicate_for_test", dup)
    with pytest.raises(ValueError, match="theory-rv-profiles"):
        discover(("figures.theory_figs", "figures._duplicate_for_test"))


# --------------------------------------------------------------------------- linear-model figures
# A tiny synthetic sweep cache (the fields figures.linear_figs reads, in the layout of
# python -m linear_models.sweep): MIM and CL1 x local/fedavg/gossip at d = 32, 64, 128 (N = 4,
# c = 8), two seeds, and gossip on random and regular graphs of several |Ā| at d = 32.
LIN_N, LIN_C = 4, 8
LIN_GRAPHS = [("abar:3", 2.5, False), ("abar:3.5", 3.5, False), ("ring", 3.0, True), ("complete", 4.0, True)]


def _lin_result(method: str, framework: str, d: int, seed: int, graph: tuple | None = None) -> dict:
    import numpy as np

    rng = np.random.default_rng([d, seed, len(method), len(framework), 0 if graph is None else int(graph[1] * 10)])
    base = 0.2 * (d / 32) ** (-0.8 if method == "MIM" else -0.6)
    exact = np.clip(np.r_[np.full(LIN_N, 0.5 + base), np.full(LIN_C - LIN_N, 0.5)], 0, 1)
    trained = np.clip(exact + 0.01 * rng.standard_normal(LIN_C), 0, 1)
    well = method == "MIM"
    lo, hi = (exact, exact) if well else (np.zeros(LIN_C), np.ones(LIN_C))

    def s_of(r: np.ndarray) -> dict:
        return {k: float(np.ptp(r)) for k in ("[c]", "[N]", "rare")}

    def target() -> dict:
        sv = float(np.ptp(exact))
        s = {k: {"s_interval": [sv, sv] if well else [0.0, 1.0], "well_posed": well} for k in ("[c]", "[N]", "rare")}
        return {"rv_low": lo.tolist(), "rv_high": hi.tolist(), "s": s, "well_posed": well, "subspace_distance": 0.01}

    gname = None if graph is None else graph[0]
    config = {"method": method, "framework": framework, "d": d, "n_clients": LIN_N, "c": LIN_C, "seed": seed,
              "graph": gname, "mixing": "uniform" if graph else None, "participation": 1.0 if framework == "fedavg"
              else None, "tau": d**0.2, "mu": d**-0.2, "n_frequent": d, "n_rare": 4, "data_optimum": True,
              "rounds": 10, "lr": 0.2}
    res = {"schema": 1, "key": f"{method}-{framework}-{d}-{seed}-{gname}", "config": config,
           "device": {"platform": "cpu", "device": "cpu", "jax": "test"}, "git_revision": "test",
           "graph": None if graph is None else {"name": gname, "mean_connectivity": graph[1], "is_regular": graph[2]},
           "final": {"global": None, "clients": []}, "exact": {}, "data_optimum": {}}
    if framework == "local":
        for i in range(LIN_N):
            res["final"]["clients"].append({"client": i, "rv": trained.tolist(), "s": s_of(trained)})
            res["exact"][f"client:{i}"] = target()
            res["data_optimum"][f"client:{i}"] = target()
    else:
        name = "pi" if framework == "gossip" else "fl"
        res["final"]["global"] = {"rv": trained.tolist(), "s": s_of(trained)}
        res["exact"][name] = target()
        res["data_optimum"][name] = target()
    return res


def _write_linear_cache(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    runs = [_lin_result(m, fw, d, s, ("ring", 3.0, True) if fw == "gossip" else None)
            for m in ("MIM", "CL1") for fw in ("local", "fedavg", "gossip") for d in (32, 64, 128) for s in (0, 1)]
    runs += [_lin_result(m, "gossip", 32, s, g) for m in ("MIM", "CL1") for g in LIN_GRAPHS if g[0] != "ring"
             for s in (0, 1)]
    for res in runs:
        (folder / f"{res['key']}.json").write_text(json.dumps(res, sort_keys=True))


@pytest.fixture(scope="module", autouse=True)
def _linear_cache_in_results(results: Path) -> None:
    """The shared results folder also holds a tiny linear sweep, so that `python -m figures all` finds it."""
    _write_linear_cache(results / "linear")


@pytest.fixture(scope="module")
def linear_rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bytes]]:
    from figures.linear_figs import FIGURES as LINEAR_FIGURES

    root = tmp_path_factory.mktemp("linear-results")
    _write_linear_cache(root / "linear")
    out = tmp_path_factory.mktemp("linear-figures")
    for name in LINEAR_FIGURES:
        assert figures_main([name, "--results", str(root), "--out", str(out)]) == 0
    return root, out, {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.slow
def test_linear_figures_written_with_fits_and_provenance(linear_rendered: tuple[Path, Path, dict[str, bytes]]) -> None:
    from figures.linear_figs import FIGURES as LINEAR_FIGURES

    _, _, files = linear_rendered
    for name in LINEAR_FIGURES:
        assert files[f"{name}.png"].startswith(b"\x89PNG\r\n\x1a\n")
        assert files[f"{name}.pdf"].startswith(b"%PDF-")
        meta = json.loads(files[f"{name}.meta.json"])
        assert meta["results"][0]["config"]["n_runs"] == 2 * 3 * 3 * 2 + 2 * 3 * 2
        assert meta["results"][0]["git_revision"] == "test"
    fits = json.loads(files["linear-sensitivity-vs-d.meta.json"])["notes"]["fits"]
    assert set(fits) == {f"{m} {fw}" for m in ("MIM", "CL1") for fw in ("local", "gossip", "fedavg")}
    (mim,) = fits["MIM fedavg"]
    assert mim["d"] == [32, 64, 128] and mim["printed_slope"] == -0.8
    conn = json.loads(files["linear-connectivity.meta.json"])["notes"]
    assert (conn["N"], conn["d"]) == (LIN_N, 32)
    assert conn["MIM [c]"]["irregular"]["abar"] == [2.5, 3.5, 4.0]
    assert conn["MIM [c]"]["regular"]["abar"] == [3.0, 4.0]
    assert "fl_trained" in conn["MIM [c]"]
    # byte-identical reruns: test_rerun_is_byte_identical renders 'all' twice, linear figures included


def test_linear_missing_cache_names_the_sweep_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert figures_main(["linear-connectivity", "--results", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "python -m linear_models.sweep --preset connectivity --out" in err[0]
    # a cache without a d-sweep: that figure names the scaling preset, the others are written
    folder = tmp_path / "linear"
    folder.mkdir()
    for s in (0, 1):
        res = _lin_result("MIM", "gossip", 32, s, ("abar:3", 2.5, False))
        (folder / f"{res['key']}.json").write_text(json.dumps(res))
    assert figures_main(["linear-sensitivity-vs-d", "--results", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no d-sweep" in err and "--preset scaling" in err
    assert not (tmp_path / "o").exists()
    (folder / "broken.json").write_text("{not json")
    assert figures_main(["linear-connectivity", "--results", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "unreadable" in capsys.readouterr().err


# --------------------------------------------------------------------------- empirical figures
# Tiny synthetic caches in the layout of python -m empirical.summarise_grid --cache: grid.json
# (MAE and SimSiam x IID | label x FL | DecL |Ā| 3, 5) and partitions.json (4 clients, 3 classes).
def _write_empirical_cache(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for m, method in enumerate(("mae", "simsiam")):
        for p, part in enumerate(("iid", "label")):
            for fw, abar in (("fl", None), ("decl3", 3.0), ("decl5", 5.0)):
                acc = 0.8 - 0.05 * p - 0.02 * m + (0.01 * abar if abar else 0.06)
                rows.append({"run": f"{method}-{part}-{fw}", "method": method, "partition": part,
                             "alpha": 0.1 if part == "label" else None, "framework": fw, "abar_target": abar,
                             "abar": abar, "seed": 0, "rounds": 2, "linear_probe_acc": acc, "knn_acc": acc - 0.1,
                             "rv_mean": 0.9, "rv_spread": 0.1})
    common = {"command": "python -m empirical.summarise_grid runs/robustness-grid --baseline --cache x",
              "git_revision": "test", "grid_folder": "runs/robustness-grid"}
    grid = {"schema": "empirical-grid/1", **common, "config": {"partition": {"n_clients": 4}}, "rows": rows,
            "baseline": {"mae": {"linear_probe_acc": 0.6}, "simsiam": {"linear_probe_acc": 0.6}}}
    counts = {"iid": [[3, 3, 4], [4, 3, 3], [3, 4, 3], [3, 3, 3]], "label": [[9, 0, 1], [0, 10, 0], [1, 0, 9], [0, 3, 4]]}
    parts = {k: {"kind": k, "alpha": 0.1 if k == "label" else None, "n_clients": 4, "n_classes": 3, "counts": c,
                 "sizes": [sum(r) for r in c], "mean_js": 0.0 if k == "iid" else 0.4, "mean_tv": 0.1,
                 "dataset": "mnist", "data_seed": 0} for k, c in counts.items()}
    (folder / "grid.json").write_text(json.dumps(grid))
    (folder / "partitions.json").write_text(json.dumps({"schema": "empirical-partitions/1", **common,
                                                          "config": {}, "partitions": parts}))


@pytest.fixture(scope="module", autouse=True)
def _empirical_cache_in_results(results: Path) -> None:
    """The shared results folder also holds tiny empirical caches, so that `python -m figures all` finds them."""
    _write_empirical_cache(results / "empirical")


def test_empirical_figures_from_synthetic_cache(tmp_path: Path) -> None:
    from figures.empirical_figs import FIGURES as EMPIRICAL_FIGURES

    _write_empirical_cache(tmp_path / "results" / "empirical")
    out = tmp_path / "out"
    for name in EMPIRICAL_FIGURES:
        assert figures_main([name, "--results", str(tmp_path / "results"), "--out", str(out)]) == 0
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        meta = json.loads((out / f"{name}.meta.json").read_text())
        assert meta["results"][0]["git_revision"] == "test"


def test_empirical_missing_cache_names_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = figures_main(["empirical-grid", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "python -m empirical.summarise_grid runs/robustness-grid --baseline --cache" in err and "grid.json" in err


def test_empirical_grid_figure_with_replicate_intervals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replicated cache (the ``analysis`` of empirical.grid_stats) is drawn with interval error bars."""
    from empirical.grid_stats import analyse

    rows = []
    for rep in range(3):
        for method in ("mae", "simsiam", "mar"):
            for part in ("iid", "label"):
                for fw in ("fl", "decl3", "decl-complete"):
                    acc = 0.8 - (0.03 if part == "label" else 0.0) + 0.005 * rep
                    rows.append({"run": f"{method}-{part}-{fw}", "replicate": rep, "method": method, "partition": part,
                                 "framework": fw, "linear_probe_acc": acc, "cdr_mean": acc - 0.3, "rv_mean": 0.9, "seed": rep})
    folder = tmp_path / "results" / "empirical"
    _write_empirical_cache(folder)
    grid = json.loads((folder / "grid.json").read_text())
    grid["analysis"] = analyse(rows, {0: 0.75, 1: 0.76, 2: 0.755})
    grid["config"] = {"partition": {"n_clients": 5}, "federation": {"rounds": 8}}
    (folder / "grid.json").write_text(json.dumps(grid))
    out = tmp_path / "out"
    import figures.empirical_figs as ef

    drawn: list[tuple[float, dict, str]] = []
    real = ef._errbar
    monkeypatch.setattr(ef, "_errbar", lambda ax, x, iv, color, marker="o", within=None: (
        drawn.append((x, iv, marker)), real(ax, x, iv, color, marker, within)))
    assert figures_main(["empirical-grid", "--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    assert (out / "empirical-grid.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # every cell's accuracy interval and every paired drop's interval is drawn, at its framework's x
    a = grid["analysis"]
    fws = a["frameworks"]
    cells = sorted((round(x), iv["mean"]) for x, iv, m in drawn if m == "o")
    drops = sorted((x, iv["mean"]) for x, iv, m in drawn if m == "s")
    assert cells == sorted((fws.index(c["framework"]), c["acc"]["mean"]) for c in a["cells"])
    assert drops == sorted((fws.index(d["framework"]), d["drop"]["mean"]) for d in a["drops"])
    # accuracies vary over the 3 replicates (error bars); the synthetic drops are the same in each
    assert all(iv["lo"] < iv["mean"] < iv["hi"] for _, iv, m in drawn if m == "o")
    assert all(iv["lo"] == iv["mean"] == iv["hi"] for _, iv, m in drawn if m == "s")
