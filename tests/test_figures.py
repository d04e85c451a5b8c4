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
def test_all_figures_written(rendered: tuple[Path, dict[str, bytes]], cache: dict) -> None:
    out, files = rendered
    for name in THEORY_FIGURES:
        assert files[f"{name}.png"].startswith(b"\x89PNG\r\n\x1a\n")
        assert files[f"{name}.pdf"].startswith(b"%PDF-")
        meta = json.loads(files[f"{name}.meta.json"])
        assert meta["figure"] == name
        assert meta["results"][0]["config"] == cache["config"]
        assert meta["results"][0]["git_revision"] == cache["git_revision"]


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
