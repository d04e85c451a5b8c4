"""python -m linear_models.check: the paper's claims on the cached trained linear models.

Reads every result of a sweep folder (``python -m linear_models.sweep``), runs
``linear_models.checks.claims_from_results`` and prints one block per claim: the verdict
and, per sub-check, its verdict and key numbers. ``--json`` writes the full list of
``{"claim", "verdict", "numbers"}`` dicts. Exit status 0, or 2 with a one-line message
when the folder is missing or holds no results.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from theory.errors import ParameterError, require
from theory.io import write_json_atomic

from .checks import claims_from_results
from .sweep import DEFAULT_OUT, load_results

_KEYS = ("trained_mean", "trained_sd", "exact", "data_optimum_mean", "trained_slope", "slope_se", "printed_slope",
         "exact_slope", "mean_difference", "se", "a_mean", "b_mean", "s_mean_by_abar", "slope_mean", "closer")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def render(claims: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for c in claims:
        lines.append(f"{c['claim']:<18} {c['verdict']}")
        for label, sub in c["numbers"].items():
            if not isinstance(sub, Mapping) or "verdict" not in sub:
                lines.append(f"    {label}: {_fmt(sub)}")
                continue
            head = sub["[c]"] if "[c]" in sub else sub
            nums = ", ".join(f"{k}={_fmt(head[k])}" for k in _KEYS if k in head and head[k] is not None)
            lines.append(f"    {sub['verdict']:<9} {label}: {nums}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m linear_models.check",
                                description="Check the paper's claims (Thms 4.2-4.6, Cor 4.5) on cached trained "
                                            "linear models; s is taken over [c] for the verdicts.")
    p.add_argument("--results", default=str(DEFAULT_OUT), help=f"sweep result folder (default {DEFAULT_OUT})")
    p.add_argument("--claims", default=None, help="comma-separated claim ids to print (default all)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the claims as JSON to PATH")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        folder = Path(args.results)
        require(folder.is_dir(), "--results", "an existing folder of sweep results", str(folder))
        results = load_results(folder)
        require(len(results) > 0, "--results", "a folder holding at least one result (*.json)", str(folder))
        if args.json:
            parent = os.path.dirname(os.path.abspath(args.json))
            require(os.path.isdir(parent), "--json", "a path in an existing folder", args.json)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    claims = claims_from_results(results)
    if args.claims:
        wanted = {s.strip() for s in args.claims.split(",")}
        claims = [c for c in claims if c["claim"] in wanted]
    print(render(claims))
    if args.json:
        write_json_atomic(args.json, claims, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
