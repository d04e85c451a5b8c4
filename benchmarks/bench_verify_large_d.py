"""Growth of ``python -m theory.verify --no-sampled`` (printed + exact levels) with d, to 2^20.

    python benchmarks/bench_verify_large_d.py                       # d = 2^9 .. 2^20
    python benchmarks/bench_verify_large_d.py --dims 512 1048576 --repeats 3

Each run is a fresh interpreter (imports included, as a user sees it), with --jobs 1 --threads 1,
so that its peak resident memory is that of one process, read from ``os.wait4`` for that child
alone. The table gives the best and median wall time over ``repeats``, the CPU time of the best run
and its peak memory; the growth exponent of the best time in d is fitted over d >= 2^14. The
machine, date, git revision and the load average before and after are printed with the table,
so that a recorded number says under which conditions it was measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np
from bench_verify import cpu_model  # one definition of the CPU-model probe

from theory.provenance import git_revision


def run_once(d: int, extra: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one child run."""
    cmd = [sys.executable, "-m", "theory.verify", "--d", str(d), "--no-sampled", "--quiet", "--jobs", "1",
           "--threads", "1", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"theory.verify --d {d} failed: {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", type=int, nargs="+", default=[2**k for k in range(9, 21)])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="extra arguments for theory.verify")
    args = p.parse_args(argv)
    rev = git_revision()
    print(f"# theory.verify --no-sampled --jobs 1 --threads 1; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"{cpu_model()}, {os.cpu_count()} logical CPUs; python {platform.python_version()}; numpy {np.__version__}; "
          f"git {rev}; load average {os.getloadavg()[0]:.2f}; extra args {args.extra}", flush=True)
    print(f"{'d':>8} {'best s':>8} {'median s':>9} {'cpu s':>7} {'peak MiB':>9} {'load':>5}", flush=True)
    rows = []
    for d in args.dims:
        runs = [run_once(d, args.extra) for _ in range(args.repeats)]
        best = min(runs, key=lambda r: r[0])
        rows.append((d, best[0]))
        print(f"{d:>8} {best[0]:8.2f} {statistics.median(r[0] for r in runs):9.2f} {best[1]:7.2f} {best[2]:9.0f} "
              f"{os.getloadavg()[0]:5.2f}", flush=True)
    big = [(d, t) for d, t in rows if d >= 2**14]
    if len(big) >= 2:
        slope = np.polyfit(np.log([r[0] for r in big]), np.log([r[1] for r in big]), 1)[0]
        print(f"growth: best wall time ~ d^{slope:.2f} over d in [{big[0][0]}, {big[-1][0]}]")
    print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
