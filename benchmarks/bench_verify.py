"""Wall time of ``python -m theory.verify`` against d and BLAS threads.

    python benchmarks/bench_verify.py                      # d = 128, 512, 2048; --threads 1 and 0
    python benchmarks/bench_verify.py --dims 512 --repeats 5 --threads 1
    python benchmarks/bench_verify.py --dims 512 2048 --threads 1 --phases   # where the time goes

Each run is a fresh interpreter (imports included, as a user sees it). The table gives the best
and the median over ``repeats`` and the peak resident memory; the growth exponent of the best
time in d is fitted over the dims. ``--threads 0`` is the BLAS library's default thread count.
The machine, date, git revision and load average before and after are printed with the table,
so that a recorded number says under which conditions it was measured. The default run has
the default sampled replicates (``--replicates``) unless ``--extra`` says otherwise.

``--phases`` instead times, in one fresh process per d (the run's own ``--threads``, default 1), the imports, the
printed level, the exact level (with its "as d grows" readings) and each sampled replicate
(none with ``--extra --no-sampled``), through the same ``run_claims``/``run_replicate`` as the run, so
that a missed target can be attributed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

from theory.provenance import git_revision


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_once(d: int, threads: int, extra: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one run in a child process. CPU time and
    memory are complete with --jobs 1 only (the forkserver workers of --jobs 2 are not counted)."""
    c0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "theory.verify", "--d", str(d), "--quiet", "--threads", str(threads), *extra],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over children so far (KiB)
    return wall, _children_cpu() - c0, peak / 1024


PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
from theory.claims.registry import run_claims, run_replicate
from theory.threads import blas_threads
from theory.verify import build_parser, make_context
out = {"imports": time.perf_counter() - t0}
args = build_parser().parse_args(["--d", sys.argv[1], *sys.argv[2:]])
ctx = make_context(args)
with blas_threads(args.threads):
    for level in ("printed", "exact"):
        t = time.perf_counter()
        run_claims(ctx, levels=(level,))
        out[level] = time.perf_counter() - t
    for r in range(ctx.stats.replicates if ctx.sampled else 0):
        t = time.perf_counter()
        run_replicate(ctx, None, r)
        out[f"sampled replicate {r}"] = time.perf_counter() - t
print(json.dumps(out))
"""


def phases(d: int, extra: list[str]) -> dict[str, float]:
    """Seconds per phase of one run at dimension d (see the module docstring)."""
    res = subprocess.run([sys.executable, "-c", PHASES, str(d), *extra], check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", type=int, nargs="+", default=[128, 512, 2048])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="BLAS thread settings to time (0 = default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--phases", action="store_true", help="time the phases of one run per d instead (imports, "
                   "printed, exact, each sampled replicate)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="extra arguments for theory.verify")
    args = p.parse_args(argv)
    rev = git_revision()
    print(f"# theory.verify wall time; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_model()}, "
          f"{os.cpu_count()} logical CPUs; python {platform.python_version()}; numpy {np.__version__}; git {rev}; "
          f"load average {os.getloadavg()[0]:.2f}; extra args {args.extra}")
    if args.phases:
        for d in args.dims:
            ph = phases(d, args.extra)
            print(f"d = {d}: " + ", ".join(f"{k} {v:.2f} s" for k, v in ph.items()), flush=True)
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
        return 0
    # with --jobs 2 the work runs in forkserver workers, whose memory getrusage does not see
    one_process = any(a == "--jobs" and b == "1" for a, b in zip(args.extra, args.extra[1:]))
    print(f"{'d':>6} {'threads':>7} {'best s':>8} {'median s':>9} {'CPU s*':>8} {'peak MiB*':>9}")
    best: dict[int, list[tuple[int, float]]] = {}
    for d in args.dims:
        for th in args.threads:
            runs = [time_once(d, th, args.extra) for _ in range(args.repeats)]
            ts = [r[0] for r in runs]
            best.setdefault(th, []).append((d, min(ts)))
            peak = f"{runs[-1][2]:9.0f}" if one_process else f"{'n/a':>9}"
            cpu = f"{min(r[1] for r in runs):8.2f}" if one_process else f"{'n/a':>8}"
            print(f"{d:>6} {th if th else 'default':>7} {min(ts):8.2f} {statistics.median(ts):9.2f} {cpu} {peak}",
                  flush=True)
    for th, rows in best.items():
        if len(rows) >= 2:
            slope = np.polyfit(np.log([r[0] for r in rows]), np.log([r[1] for r in rows]), 1)[0]
            print(f"growth (threads {th if th else 'default'}): best time ~ d^{slope:.2f} over d in {[r[0] for r in rows]}")
    print(f"# load average after: {os.getloadavg()[0]:.2f}; *CPU time (user + sys, best run) and peak RSS "
          "(maximum over the runs so far) only with --extra --jobs 1: the workers of --jobs 2 are not counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
