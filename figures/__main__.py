"""python -m figures <name|all>: regenerate figures from cached results only.

Figures are discovered from the modules in :data:`MODULES` that exist; each exposes
``FIGURES: dict[str, Callable[[Path, Path], list[Path]]]`` mapping a figure name to a
function of (results folder, output folder) that returns the files it wrote. No figure
computes theory or trains: a missing cache is reported with the command that produces it.

Exit status: 0 when every requested figure was written, 2 when a name is unknown or a cache
is missing or unreadable (one line per cache; the other figures are still written).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Callable, Sequence

from .style import MissingResults

MODULES: tuple[str, ...] = ("figures.theory_figs", "figures.linear_figs", "figures.empirical_figs")

FigureFn = Callable[[Path, Path], list[Path]]


def discover(modules: Sequence[str] = MODULES) -> dict[str, FigureFn]:
    """All figures of the existing ``modules``, in module order; a module that is absent is skipped.

    An import error inside an existing module is not swallowed, and a name defined by two
    modules is an error.
    """
    found: dict[str, FigureFn] = {}
    owner: dict[str, str] = {}
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        figs = getattr(mod, "FIGURES", None)
        if not isinstance(figs, dict):
            raise TypeError(f"{name}.FIGURES must be a dict of name -> function(results_dir, out_dir)")
        for fig_name, fn in figs.items():
            if fig_name in found:
                raise ValueError(f"figure {fig_name!r} is defined by both {owner[fig_name]} and {name}")
            found[fig_name] = fn
            owner[fig_name] = name
    return found


def build_parser(names: Sequence[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m figures",
        description="Regenerate figures (PDF, PNG and a .meta.json sidecar) from cached results; never computes "
                    "or trains.",
        epilog="figures: " + ", ".join(names))
    p.add_argument("name", help="a figure name (listed below) or 'all'")
    p.add_argument("--results", default="results", help="folder holding the cached results (default results)")
    p.add_argument("--out", default="figures_out", help="folder the figures are written to (default figures_out)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    registry = discover()
    args = build_parser(list(registry)).parse_args(argv)
    if args.name != "all" and args.name not in registry:
        print(f"error: figure: must be one of {sorted(registry)} or 'all', got {args.name!r}", file=sys.stderr)
        return 2
    names = list(registry) if args.name == "all" else [args.name]
    results, out = Path(args.results), Path(args.out)
    failed: dict[Path, str] = {}
    for name in names:
        try:
            paths = registry[name](results, out)
        except MissingResults as exc:
            failed.setdefault(exc.path, f"error: {name}: {exc}")
            continue
        for path in paths:
            print(path)
    for line in failed.values():
        print(line, file=sys.stderr)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
