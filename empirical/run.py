"""python -m empirical.run: pre-train with FL or DecL, evaluate, write metrics and a summary.

    python -m empirical.run --preset table1-mae-vit-label --scale smoke
    python -m empirical.run --preset fig2a-connectivity --scale smoke --set federation.rounds=5
    python -m empirical.run --preset robustness-grid --scale smoke --out runs/robustness
    python -m empirical.run --preset replicate-grid --scale smoke --replicates 5 --out runs/replicate-grid
    python -m empirical.run --list-presets
    torchrun --standalone --nproc-per-node=2 -m empirical.run --backend torch --preset ... --scale smoke

Each run writes into its folder (``--out``, default ``runs/<preset>-<scale>``; a preset with
several runs gets one sub-folder per run): ``config.json`` (resolved config, git revision,
torch version), ``metrics.jsonl`` (one record per round), ``checkpoint.pt`` (atomic, every
``run.checkpoint_every`` rounds), ``summary.json`` (final linear-probe and kNN accuracy on the
held-out split, RV measure) and ``model.pt``. A multi-run preset also gets ``index.json`` and
a printed table. ``--resume`` continues from the checkpoints; the result equals that of an
uninterrupted run. ``--replicates R`` repeats every run with ``run.seed`` and ``data.seed``
both raised by r = 0 .. R-1, into ``<out>/rep<r>/``.

Backends: ``--backend local`` (default) simulates every client in this process;
``--backend torch`` spreads the clients over the processes that ``torchrun`` starts
(:mod:`empirical.distributed`; gloo on CPU, nccl on GPUs). Only rank 0 writes files; the
checkpoint has the same format either way, so ``--resume`` works on any number of processes.

Exit status: 0 on success, 2 with a one-line message on bad input (unknown preset or key, a
value of the wrong type or range, a missing data folder, a folder that already holds a run, a
damaged or foreign checkpoint.pt, config.json or data file: named, and left as it is),
3 with a one-line message when a distributed run loses a peer (a rank died or timed out).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from empirical.checkpoint import append_jsonl, atomic_write_text, json_safe, load_checkpoint, load_run_config, save_checkpoint, write_jsonl
from empirical.config import PRESETS, SCALES, ExperimentConfig, apply_overrides, config_diff, parse_overrides, resolve, to_dict
from empirical.distributed import EXIT_PEER_LOST, DistContext, agree, fault_point, report_lost_peer, setup, shielded, teardown
from empirical.engine import Experiment, build, run_round, summarise
from theory.errors import ParameterError, require
from theory.provenance import provenance

__all__ = ["main", "build_parser", "train", "write_config", "replicate_runs"]



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirical.run",
        description="Distributed self-supervised pre-training (FedAvg or gossip DecL; MAE, SimSiam or MAR) "
        "simulated in one process, with kNN monitoring, a final linear probe and the class-mean RV measure.",
    )
    p.add_argument("--preset", help="named experiment (see --list-presets); without it, the defaults")
    p.add_argument(
        "--scale",
        choices=SCALES,
        default="smoke",
        help="'smoke' (CPU, minutes, offline data; default) or 'paper' (the printed setting)",
    )
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
    p.add_argument(
        "--backend",
        choices=("local", "torch"),
        default="local",
        help="'local': all clients in this process (default); 'torch': clients spread over the processes of "
        "torchrun (gloo on CPU, nccl on GPU; only rank 0 writes files)",
    )
    p.add_argument(
        "--dist-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="--backend torch: how long a collective waits for a silent peer before the run stops (default 600)",
    )
    p.add_argument(
        "--replicates",
        type=int,
        default=0,
        metavar="R",
        help="run every selected run R times, replicate r with run.seed and data.seed both raised by r (a new "
        "partition draw, initialisation, sampling and augmentation), into <out>/rep<r>/...; 0 (default): once, "
        "with the configured seeds, no rep folder",
    )
    p.add_argument(
        "--replicate-start",
        type=int,
        default=0,
        metavar="S",
        help="with --replicates R: replicates S .. S+R-1 (to split replicates over workers)",
    )
    p.add_argument("--list-presets", action="store_true", help="list the presets with their runs and exit")
    return p


def write_config(folder: Path, cfg: ExperimentConfig, preset: str | None, run_name: str) -> None:
    doc = {
        **provenance(to_dict(cfg)),
        "preset": preset,
        "run": run_name,
        "torch": torch.__version__,
        "argv": sys.argv[1:],
    }
    atomic_write_text(folder / "config.json", json.dumps(json_safe(doc), indent=2, sort_keys=True) + "\n")


Hook = Callable[[str, int, "int | None"], None]
"""``hook(event, round, client)``, called at "client-done", "round-done" (after the
checkpoint, before the metrics line) and "metrics-written"; tests raise from it to simulate a
kill at that point."""


def train(
    cfg: ExperimentConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    hook: Hook | None = None,
    exp: Experiment | None = None,
    dist: DistContext | None = None,
) -> dict[str, Any]:
    """Run ``cfg`` into folder ``out``; returns the summary (also written to summary.json).

    Files: ``metrics.jsonl`` (one record per round, appended after the round's checkpoint),
    ``checkpoint.pt`` (atomic), ``summary.json``, ``model.pt`` (state dict of the final SSL
    module). ``config.json`` is written by :func:`main`. With ``resume`` the checkpoint is
    continued and the metrics file is rewritten from the records it holds; without it, a folder
    that already holds a run is refused. ``exp``: a prebuilt :func:`empirical.engine.build`.
    ``dist``: distributed run (every rank calls this; rank 0 reads and writes the files and
    returns the summary, the other ranks return ``{}``).
    """
    out = Path(out)
    writer = dist is None or dist.is_writer
    ckpt_path, metrics_path = out / "checkpoint.pt", out / "metrics.jsonl"

    def check_folder() -> None:
        out.mkdir(parents=True, exist_ok=True)
        if not resume:
            require(
                not ckpt_path.exists() and not metrics_path.exists(),
                "--out",
                "a folder without a previous run (pass --resume to continue it, or another --out)",
                str(out),
            )

    agree(dist, check_folder)
    records: list[dict[str, Any]] = []
    start = 0
    saved = None
    refused: ParameterError | None = None
    if resume and writer and ckpt_path.exists():
        try:  # a damaged or foreign checkpoint is refused with one line; the file stays as it is
            saved = load_checkpoint(ckpt_path, map_location=None if dist is None else "cpu")
        except ParameterError as err:
            refused = err
    if dist is not None:
        saved, bad = dist.broadcast((saved, refused is not None))  # rank 0 reads, every rank takes its clients
        if bad and refused is None:  # the other ranks stop with rank 0, which says why
            refused = ParameterError(str(ckpt_path), "a readable checkpoint", "a file rank 0 refused")
    if refused is not None:
        raise refused
    exp = exp or build(cfg, dist)  # after the checkpoint is read: a refused file costs no data preparation
    if saved is not None:
        exp.load_checkpoint_state(saved["state"])
        records = list(saved["records"])
        start = int(saved["round"])
    if resume and writer:
        write_jsonl(metrics_path, records)  # drop lines written after the last checkpoint
    t_start = time.perf_counter()
    elapsed_before = float(records[-1].get("elapsed_s", 0.0)) if records else 0.0
    rounds = cfg.federation.rounds
    bar = tqdm(range(start, rounds), initial=start, total=rounds, desc=cfg.name, disable=not (progress and writer), leave=False)
    for rnd in bar:
        fault_point(dist, rnd)
        on_client = (lambda c, r=rnd: hook("client-done", r, c)) if hook else None
        record = run_round(exp, rnd, on_client)
        record["elapsed_s"] = elapsed_before + time.perf_counter() - t_start
        records.append(record)
        every = cfg.run.checkpoint_every
        with shielded():  # a launcher's SIGTERM (a peer died) waits until the round is on disk
            if every and ((rnd + 1) % every == 0 or rnd == rounds - 1):
                state = exp.checkpoint_state()  # distributed: gathered to rank 0, None elsewhere
                if writer:
                    save_checkpoint(ckpt_path, {"round": rnd + 1, "state": state, "records": records})
            if hook:
                hook("round-done", rnd, None)
            if writer:
                append_jsonl(metrics_path, record)
        if hook:
            hook("metrics-written", rnd, None)
        post = {"loss": f"{record['loss']:.4f}"}
        if "knn_acc" in record:
            post["knn"] = f"{record['knn_acc']:.3f}"
        bar.set_postfix(post)
    bar.close()
    summary = summarise(exp, records)
    if not writer:
        return summary
    torch.save(exp.method.state_dict(), out / "model.pt")  # summarise left the final weights loaded
    atomic_write_text(out / "summary.json", json.dumps(json_safe(summary), indent=2, sort_keys=True) + "\n")
    return summary


def replicate_runs(runs: dict[str, ExperimentConfig], replicates: int, start: int = 0) -> dict[str, ExperimentConfig]:
    """Expand ``runs`` into replicates ``start .. start + replicates - 1``: replicate r adds r to
    both ``run.seed`` and ``data.seed`` (a new partition draw and evaluation split as well as new
    initialisation, client sampling, masks and views), named ``"rep<r>@<run>"`` (the run's folder
    goes under ``rep<r>/``). ``replicates = 0`` returns ``runs`` unchanged. Replicate-major order,
    so that an interrupted experiment holds whole replicates."""
    require(replicates >= 0, "--replicates", "an integer >= 0", replicates)
    require(start >= 0, "--replicate-start", "an integer >= 0", start)
    if replicates == 0:
        require(start == 0, "--replicate-start", "0 unless --replicates is given", start)
        return runs
    out: dict[str, ExperimentConfig] = {}
    for r in range(start, start + replicates):
        for name, cfg in runs.items():
            seeds = {"run.seed": cfg.run.seed + r, "data.seed": cfg.data.seed + r}
            out[f"rep{r}@{name}"] = apply_overrides(cfg, seeds).check()
    return out


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


def _run_all(args: argparse.Namespace, connect: Callable[[str], DistContext | None]) -> int:
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
    runs = replicate_runs(runs, args.replicates, args.replicate_start)
    dist = connect(next(iter(runs.values())).run.device)
    writer = dist is None or dist.is_writer
    rows = []
    for run_name, cfg in runs.items():
        rep, _, base_name = run_name.rpartition("@")
        folder = out / base_name.split("/", 1)[1] if multi else out
        if rep:
            folder = folder.parent / rep / folder.name if multi else out / rep

        def check_and_write_config(folder: Path = folder, cfg: ExperimentConfig = cfg, run_name: str = run_name) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            config_file = folder / "config.json"
            if args.resume and config_file.exists():
                saved = load_run_config(config_file)  # a damaged or foreign file: one line, exit 2
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

        agree(dist, check_and_write_config)  # rank 0 checks and writes; every rank stops on its error
        if cfg.run.threads:
            torch.set_num_threads(cfg.run.threads)
        if cfg.run.deterministic:
            if cfg.run.device.startswith("cuda"):
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by cuBLAS for determinism
            torch.use_deterministic_algorithms(True, warn_only=True)
        summary = train(cfg, folder, resume=args.resume, progress=not args.quiet, dist=dist)
        rows.append(summary)
        if not multi and writer:
            _print_table(rows)
    if multi and writer:
        index = []
        for sub in sorted(p.parent for p in out.glob("**/summary.json")):
            s = json.loads((sub / "summary.json").read_text())
            index.append(
                {
                    "run": str(sub.relative_to(out)),
                    **{k: s.get(k) for k in ("name", "method", "framework", "partition", "final_loss")},
                    "final": s.get("final", {}),
                }
            )
        atomic_write_text(out / "index.json", json.dumps(json_safe(index), indent=2, sort_keys=True) + "\n")
        _print_table(index)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_presets:
        print(_list_presets())
        return 0
    ctx: list[DistContext] = []
    peer_lost = False

    def connect(device: str) -> DistContext | None:
        if args.backend == "local":
            return None
        ctx.append(setup(device, args.dist_timeout))
        return ctx[0]

    try:
        return _run_all(args, connect)
    except (ParameterError, FileNotFoundError) as err:
        if not ctx or ctx[0].is_writer:  # every rank raises the same error: say it once
            print(f"error: {err}", file=sys.stderr)
        return 2
    except (torch.distributed.DistError, RuntimeError) as err:
        if not ctx or (not isinstance(err, torch.distributed.DistError) and not _is_peer_error(err)):
            raise
        peer_lost = True  # leaving the group would wait on the lost peer: exit without it
        report_lost_peer(ctx[0], err)  # one line; the launcher's SIGTERM, if it comes now, is ignored
        return EXIT_PEER_LOST
    finally:
        if ctx and not peer_lost:
            teardown()


def _is_peer_error(err: BaseException) -> bool:
    """A RuntimeError raised by a collective whose peer is gone (gloo/NCCL transport errors)."""
    text = str(err).lower()
    return any(k in text for k in ("gloo", "nccl", "connection", "peer", "timed out", "timeout", "broken pipe"))


if __name__ == "__main__":
    code = main()
    if code == EXIT_PEER_LOST:
        # The process group still references the lost peer: its destructors at interpreter
        # exit can block or abort (SIGABRT seen with gloo after a timeout). The message is out
        # and the checkpoint is on disk, so leave without them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
