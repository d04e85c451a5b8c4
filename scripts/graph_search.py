"""Thm 4.6 and Cor 4.5 at the exact level over every connected graph on N nodes, at several d.

    python scripts/graph_search.py --d 256,512,1024,2048          # the table of README's findings
    python scripts/graph_search.py --d 512 --labelled --methods MIM,CL1
                                                                   # every labelled graph (N <= 6)

For each d (paper scalings, ``theory.model.paper_config``; N fixed by --N, default the paper's N
at d = 512) and each objective: over the coordinates [c] and [N], how many graphs have s_Dec <
s_Fed beyond S_TOL (Thm 4.6 FAILS there), the worst margin s_Dec - s_Fed and its graph; and Cor
4.5's monotonicity of s_Dec in |Ā| over the irregular graphs (the largest rise, between which
two graphs). ``--labelled`` ranges over every labelled connected graph (26704 at N = 6) instead
of one labelling per isomorphism class: the model's clients are not exchangeable. Writes the
rows as JSON with --json; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from theory import graphs  # noqa: E402
from theory.analysis import Analysis  # noqa: E402
from theory.claims.common import S_TOL, compare_intervals  # noqa: E402
from theory.claims.cor45 import _monotone_verdict  # noqa: E402
from theory.io import atomic_write_text  # noqa: E402
from theory.model import default_n_clients, paper_config  # noqa: E402
from theory.threads import blas_threads  # noqa: E402
from theory.verdict import Verdict  # noqa: E402

COORDS = ("[c]", "[N]")


def method_rows(base: Analysis, method: str, tops: list[graphs.Topology]) -> list[dict]:
    """For each coordinate set, over ``tops``: the graphs where s_Dec < s_Fed (Thm 4.6 FAILS), the
    ILL-POSED ones, the worst margin s_Dec - s_Fed and its graph; and Cor 4.5's verdict over the
    irregular ones. Each graph is computed on a copy of ``base``'s cache (the client X matrices and
    the FL cells), dropped afterwards, so that memory does not grow with the number of graphs."""
    fed = {cs: base.sensitivity("exact", method, "fl", cs) for cs in COORDS}
    fails = dict.fromkeys(COORDS, 0)
    ill = dict.fromkeys(COORDS, 0)
    worst: dict[str, tuple[float, graphs.Topology]] = {}
    series: dict[str, list[dict]] = {cs: [] for cs in COORDS}
    for i, t in enumerate(tops):
        if i % 50 == 0:
            print(f"\r  d={base.cfg.d} {method}: graph {i + 1}/{len(tops)}   ", end="", file=sys.stderr, flush=True)
        an = Analysis(base.cfg, base.topology, _cache=dict(base._cache))  # noqa: SLF001 - a throw-away copy
        for cs in COORDS:
            dec = an.sensitivity("exact", method, "decl", cs, topology=t)
            v = compare_intervals(dec.low, dec.high, fed[cs].low, fed[cs].high, strict=False)
            fails[cs] += v is Verdict.FAILS
            ill[cs] += v is Verdict.ILL_POSED
            margin = dec.low - fed[cs].high
            if cs not in worst or margin < worst[cs][0]:
                worst[cs] = (margin, t)
            if not t.is_regular:
                series[cs].append({"graph": t.name, "mean_connectivity": t.mean_connectivity, **dec.to_dict()})
    rows = []
    for cs in COORDS:
        v, why = _monotone_verdict(series[cs])
        rows.append({"d": base.cfg.d, "method": method, "coords": cs, "graphs": len(tops), "fails": fails[cs],
                     "ill_posed": ill[cs], "worst_margin": worst[cs][0], "worst_graph": worst[cs][1].name,
                     "worst_edges": [list(e) for e in worst[cs][1].edges],
                     "cor45": {"graphs": len(series[cs]), "verdict": v.value, "why": why}})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d", default="256,512,1024,2048", help="comma list of dimensions d")
    ap.add_argument("--N", type=int, default=default_n_clients(512), help="number of clients (default N at d = 512)")
    ap.add_argument("--methods", default="MIM,CL1,CL2", help="comma list of objectives")
    ap.add_argument("--labelled", action="store_true", help="every labelled connected graph (N <= 6)")
    ap.add_argument("--json", default=None, help="write the rows to this path")
    args = ap.parse_args(argv)
    ds = [int(x) for x in args.d.split(",") if x.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    tops = list(graphs.all_labelled_connected_graphs(args.N) if args.labelled else graphs.all_connected_graphs(args.N))
    rows: list[dict] = []
    with blas_threads(1):
        for d in ds:
            t0 = time.perf_counter()
            an = Analysis(paper_config(d, n_clients=args.N), graphs.complete(args.N))
            for method in methods:
                rows.extend(method_rows(an, method, tops))
            elapsed = time.perf_counter() - t0
            for row in rows:
                row.setdefault("seconds_for_d", round(elapsed, 1))
            print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
            for row in rows[-2 * len(methods):]:
                print(f"d={d:5d} {row['method']} {row['coords']}: s_Dec < s_Fed on {row['fails']}/{row['graphs']} "
                      f"graphs ({row['ill_posed']} ILL-POSED), worst margin {row['worst_margin']:.3g} on "
                      f"{row['worst_graph']} (edges {row['worst_edges']}); Cor 4.5 over the {row['cor45']['graphs']} "
                      f"irregular graphs: {row['cor45']['verdict']}, {row['cor45']['why']}", flush=True)
            print(f"d={d}: {elapsed:.1f} s", flush=True)
    if args.json:
        atomic_write_text(args.json, json.dumps({"N": args.N, "labelled": args.labelled, "S_TOL": S_TOL,
                                                 "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
