"""Wall time of ``python -m theory.verify`` against d (run: python benchmarks/bench_verify.py).

Each d runs in a fresh interpreter (imports included, as a user sees it), ``repeats`` times;
the table gives the best and the median, and the fitted growth exponent of the time in d.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from datetime import date

import numpy as np


def time_once(d: int, extra: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "theory.verify", "--d", str(d), "--quiet", *extra],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dims", type=int, nargs="+", default=[128, 512, 2048])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="extra arguments for theory.verify")
    args = p.parse_args(argv)
    print(f"# theory.verify wall time, {date.today()}, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, extra args {args.extra}")
    print(f"{'d':>6} {'best s':>8} {'median s':>9}")
    rows = []
    for d in args.dims:
        ts = [time_once(d, args.extra) for _ in range(args.repeats)]
        rows.append((d, min(ts), statistics.median(ts)))
        print(f"{d:>6} {min(ts):8.2f} {statistics.median(ts):9.2f}", flush=True)
    if len(rows) >= 2:
        slope = np.polyfit(np.log([r[0] for r in rows]), np.log([r[1] for r in rows]), 1)[0]
        print(f"growth: time ~ d^{slope:.2f} over d in {[r[0] for r in rows]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
