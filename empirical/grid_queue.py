"""python -m empirical.grid_queue: run a replicated grid as a resumable queue of single runs.

    python -m empirical.grid_queue --out runs/replicate-grid --replicates 5 --workers 2

Each job is one run of one replicate (``python -m empirical.run --preset PRESET --only CELL
--replicates 1 --replicate-start R --threads 1 --quiet --out OUT``, with ``--resume`` when the
run's folder already holds a checkpoint); ``--workers`` jobs run at a time. Finished runs
(``summary.json`` present) are skipped, so calling the command again after an interruption
continues where it stopped (a run killed mid-way resumes from its last round's checkpoint).

Order: the cells in no ``--last`` tier for every replicate, replicate by replicate, then each
tier's cells the same way. Default: first the 5 cells of MIM vs CL and MAR vs MAE in FL (MAE
and SimSiam IID and skewed, MAR skewed), then MAE on the sparse graph and MAE skewed on the
complete graph (FL vs DecL and the noise-floor control), then MAE IID on the complete graph and
MAR IID in FL, then SimSiam and MAR on the sparse graph, then on the complete graph; so a queue
stopped early holds whole replicates of the most needed comparisons. (The README's run
reached this order after two restarts on a machine slower than planned: its replicates 0 and 1
ran MAE on the graphs before the SimSiam and MAR cells; the runs are independent, so the order
changes only which runs exist when the queue stops.)
Progress lines include the CPU time (user + system) of the finished runs so far.
Progress (job started / finished, wall time, exit status) goes to stdout, one line each.
Exit status 0 when every job finished, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import fnmatch
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from empirical.config import PRESETS
from theory.errors import ParameterError, require

__all__ = ["jobs", "main"]

DEFAULT_LAST = (
    "mae-iid-decl3,mae-label-decl3,mae-label-declcomplete;mae-iid-declcomplete,mar-iid-fl;"
    "simsiam-*-decl3,mar-*-decl3;simsiam-*-declcomplete,mar-*-declcomplete"
)


def jobs(cells: Sequence[str], replicates: int, tiers: Sequence[Sequence[str]]) -> list[tuple[int, str]]:
    """(replicate, cell) in queue order: the cells matching no tier for every replicate
    (replicate-major), then those of the first tier for every replicate, then the next tier..."""
    placed: set[str] = set()
    groups: list[list[str]] = []
    for patterns in tiers:
        group = [c for c in cells if c not in placed and any(fnmatch.fnmatch(c, p) for p in patterns)]
        placed.update(group)
        groups.append(group)
    groups.insert(0, [c for c in cells if c not in placed])
    return [(r, c) for group in groups for r in range(replicates) for c in group]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m empirical.grid_queue", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="replicate-grid")
    p.add_argument("--scale", default="smoke")
    p.add_argument("--out", required=True)
    p.add_argument("--replicates", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--last",
        default=DEFAULT_LAST,
        help="tiers of cell patterns queued after all other cells: tiers separated by ';', patterns by ','",
    )
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    try:
        require(args.preset in PRESETS, "--preset", "one of " + ", ".join(sorted(PRESETS)), args.preset)
        require(args.replicates >= 1, "--replicates", "an integer >= 1", args.replicates)
        require(args.workers >= 1, "--workers", "an integer >= 1", args.workers)
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cells = [k.split("/", 1)[1] for k in PRESETS[args.preset].runs(args.scale)]
    out = Path(args.out)
    queue = [
        (r, c)
        for r, c in jobs(cells, args.replicates, [[x for x in t.split(",") if x] for t in args.last.split(";") if t])
        if not (out / f"rep{r}" / c / "summary.json").exists()
    ]
    print(f"{time.strftime('%H:%M:%S')} queue: {len(queue)} runs to do", flush=True)
    running: list[tuple[subprocess.Popen[bytes], int, str, float]] = []
    failed = 0
    while queue or running:
        while queue and len(running) < args.workers:
            r, c = queue.pop(0)
            folder = out / f"rep{r}" / c
            cmd = [sys.executable, "-m", "empirical.run", "--preset", args.preset, "--scale", args.scale, "--only", c,
                   "--replicates", "1", "--replicate-start", str(r), "--threads", "1", "--quiet", "--out", str(out)]
            if (folder / "checkpoint.pt").exists() or (folder / "config.json").exists():
                cmd.append("--resume")
            if args.overrides:
                cmd += ["--set", *args.overrides]
            log = open(out / f"rep{r}-{c}.log", "ab") if out.exists() else None
            if log is None:
                out.mkdir(parents=True, exist_ok=True)
                log = open(out / f"rep{r}-{c}.log", "ab")
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), r, c, time.perf_counter()))
            log.close()
            print(f"{time.strftime('%H:%M:%S')} start rep{r}/{c}", flush=True)
        time.sleep(2.0)
        for job in list(running):
            proc, r, c, t0 = job
            if proc.poll() is not None:
                running.remove(job)
                failed += proc.returncode != 0
                use = resource.getrusage(resource.RUSAGE_CHILDREN)
                print(f"{time.strftime('%H:%M:%S')} done  rep{r}/{c} rc={proc.returncode} {time.perf_counter() - t0:.0f}s "
                      f"({len(queue)} queued; CPU of finished runs {(use.ru_utime + use.ru_stime) / 60:.1f} min)", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
