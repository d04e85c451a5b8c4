"""python -m empirical.run: pre-train with FL or DecL, evaluate, write metrics and a summary.

    python -m empirical.run --preset table1-mae-vit-label --scale smoke
    python -m empirical.run --preset fig2a-connectivity --scale smoke --set federation.rounds=5
    python -m empirical.run --preset robustness-grid --scale smoke --out runs/robustness
    python -m empirical.run --list-presets

Each run writes into its folder (``--out``, default ``runs/<preset>-<scale>``; a preset with
several runs gets one sub-folder per run): ``config.json`` (resolved config, git revision,
torch version), ``metrics.jsonl`` (one record per round), ``checkpoint.pt`` (atomic, every
``run.checkpoint_every`` rounds), ``summary.json`` (final linear-probe and kNN accuracy on the
held-out split, RV measure) and ``model.pt``. A multi-run preset also gets ``index.json`` and
a printed table. ``--resume`` continues from the checkpoints; the result equals that of an
uninterrupted run.

Exit status: 0 on success, 2 with a one-line message on bad input (unknown preset or key, a
value of the wrong type or range, a missing data folder, a folder that already holds a run).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from empirical.checkpoint import atomic_write_text, json_safe
from empirical.config import PRESETS, SCALES, ExperimentConfig, config_diff, from_dict, parse_overrides, resolve, to_dict
from theory.errors import ParameterError, require

__all__ = ["main", "build_parser", "git_revision", "write_config"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirical.run",
        description="Distributed self-supervised pre-training (FedAvg or gossip DecL; MAE, SimSiam or MAR) "
        "simulated in one process, with kNN monitoring, a final linear probe and the class-mean RV measure.",
    )
    p.add_argument("--preset", help="named experiment (see --list-presets); without it, the defaults")
    p.add_argument("--scale", choices=SCALES, default="smoke", help="'smoke' (CPU, minutes, offline data; default) or 'paper' (the printed setting)")
    p.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="dotted config overrides, e.g. federation.rounds=3 method.mask_ratio=0.6 (checked against the field types)",
    )
    p.add_argument("--out", help="output folder (default runs/<preset>-<scale>)")
    p.add_argument("--only", help="comma-separated glob patterns: run only the matching runs of a multi-run preset")
    p.add_argument("--resume", action="store_true", help="continue the runs in --out from their checkpoints")
    p.add_argument("--device", help="'cpu' or 'cuda' (same as --set run.device=...)")
    p.add_argument("--data-root", help="data file or folder (same as --set data.root=...)")
    p.add_argument("--threads", type=int, help="torch CPU threads (same as --set run.threads=...)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list-presets", action="store_true", help="list the presets with their runs and exit")
    return p


def git_revision() -> dict[str, Any]:
    """The repository's HEAD commit and whether the working tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"revision": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"revision": None, "dirty": None}


def write_config(folder: Path, cfg: ExperimentConfig, preset: str | None, run_name: str) -> None:
    doc = {
        "config": to_dict(cfg),
        "preset": preset,
        "run": run_name,
        "git": git_revision(),
        "torch": torch.__version__,
        "argv": sys.argv[1:],
    }
    atomic_write_text(folder / "config.json", json.dumps(json_safe(doc), indent=2, sort_keys=True) + "\n")


def _list_presets() -> str:
    lines = []
    for name in sorted(PRESETS):
        p = PRESETS[name]
        lines.append(f"{name:28s} {len(p.runs('paper')):2d} run(s)  {p.description}")
    return "\n".join(lines)


def _print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'run':40s} {'probe':>7s} {'kNN':>7s} {'RV mean':>8s} {'RV spread':>9s} {'loss':>8s}"
    print(head)
    print("-" * len(head))
    for r in rows:
        f = r.get("final", {})

        def fmt(v: Any, w: int) -> str:
            return f"{v:{w}.4f}" if isinstance(v, (int, float)) else f"{'-':>{w}s}"

        print(
            f"{r['name']:40s} {fmt(f.get('linear_probe_acc'), 7)} {fmt(f.get('knn_acc'), 7)} "
            f"{fmt(f.get('rv_mean'), 8)} {fmt(f.get('rv_spread'), 9)} {fmt(r.get('final_loss'), 8)}"
        )


def _run_all(args: argparse.Namespace) -> int:
    from empirical.engine import train  # torch-heavy imports after argument checks

    overrides: dict[str, Any] = parse_overrides(args.overrides)
    if args.device:
        overrides["run.device"] = args.device
    if args.data_root:
        overrides["data.root"] = args.data_root
    if args.threads is not None:
        overrides["run.threads"] = args.threads
    runs = resolve(args.preset, args.scale, overrides)
    if args.only:
        patterns = [p.strip() for p in args.only.split(",") if p.strip()]
        runs = {k: v for k, v in runs.items() if any(fnmatch.fnmatch(k.split("/")[-1], pat) or fnmatch.fnmatch(k, pat) for pat in patterns)}
        require(bool(runs), "--only", "patterns matching at least one run of the preset", args.only)
    out = Path(args.out) if args.out else Path("runs") / f"{args.preset or 'default'}-{args.scale}"
    multi = args.preset is not None and len(PRESETS[args.preset].runs(args.scale)) > 1
    rows = []
    for run_name, cfg in runs.items():
        folder = out / run_name.split("/", 1)[1] if multi else out
        folder.mkdir(parents=True, exist_ok=True)
        config_file = folder / "config.json"
        if args.resume and config_file.exists():
            saved = from_dict(json.loads(config_file.read_text())["config"])
            diff = config_diff(saved, cfg)
            require(not diff, "--resume", f"the same config as {config_file}", f"differences in {', '.join(diff)}")
        else:
            require(
                not (folder / "checkpoint.pt").exists() and not (folder / "metrics.jsonl").exists(),
                "--out",
                "a folder without a previous run (pass --resume to continue it, or another --out)",
                str(folder),
            )
            write_config(folder, cfg, args.preset, run_name)
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        if cfg.run.deterministic:
            if cfg.run.device.startswith("cuda"):
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by cuBLAS for determinism
            torch.use_deterministic_algorithms(True, warn_only=True)
        summary = train(cfg, folder, resume=args.resume, progress=not args.quiet)
        rows.append(summary)
        if not multi:
            _print_table(rows)
    if multi:
        index = []
        for sub in sorted(p for p in out.iterdir() if (p / "summary.json").exists()):
            s = json.loads((sub / "summary.json").read_text())
            index.append({"run": sub.name, **{k: s.get(k) for k in ("name", "method", "framework", "partition", "final_loss")}, "final": s.get("final", {})})
        atomic_write_text(out / "index.json", json.dumps(json_safe(index), indent=2, sort_keys=True) + "\n")
        _print_table(index)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_presets:
        print(_list_presets())
        return 0
    try:
        return _run_all(args)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
