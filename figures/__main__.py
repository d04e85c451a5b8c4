"""python -m figures <name|all> [--compute --scale quick|paper]: draw figures from cached results.

Figures are discovered from the modules in :data:`MODULES` that exist; each exposes
``FIGURES: dict[str, Callable[[Path, Path], list[Path]]]`` mapping a figure name to a
function of (results folder, output folder) that returns the files it wrote. No figure
computes theory or trains: without ``--compute`` a missing cache is reported with the command
that produces it. With ``--compute`` a missing cache is computed first by the producer that owns
it (``figures.producers``: the toolkit's own CLIs, with progress, resumable), at ``--scale``,
and the figure is then drawn. The scale goes into every figure and its sidecar.

A figure whose package is not installed (JAX for the linear figures) is reported with one line
naming the extra to install; the other figures are still drawn.

Exit status: 0 when every requested figure was written, 2 when a name is unknown, a cache is
missing or unreadable, a package is missing or a producer failed (one line each; the other
figures are still written).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Callable, Sequence

from theory.errors import FileProblem

from . import producers
from .style import MissingExtra, MissingResults

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
        description="Draw figures (PDF, PNG and a .meta.json sidecar) from cached results; with --compute, "
                    "compute the missing caches first.",
        epilog="figures: " + ", ".join(names) + ". Scales: quick (small settings, all figures in about 15 "
               "minutes on 2 CPUs; results/quick -> figures_out/quick), paper (the README's settings, "
               f"{producers.PAPER_ESTIMATE}; results -> figures_out).")
    p.add_argument("name", help="a figure name (listed below) or 'all'")
    p.add_argument("--compute", action="store_true",
                   help="compute a missing cache with the producer of figures.producers (resumable), then draw")
    p.add_argument("--scale", choices=producers.SCALES, default=None,
                   help="the settings --compute uses, and the default folders (default paper)")
    p.add_argument("--results", default=None,
                   help="folder holding the cached results (default results, or results/quick at --scale quick)")
    p.add_argument("--out", default=None,
                   help="folder the figures are written to (default figures_out, or figures_out/quick at "
                        "--scale quick)")
    return p


def _folders(args: argparse.Namespace) -> tuple[Path, Path]:
    quick = args.scale == "quick"
    results = Path(args.results) if args.results else Path("results/quick" if quick else "results")
    out = Path(args.out) if args.out else Path("figures_out/quick" if quick else "figures_out")
    return results, out


def _needs_compute(exc: MissingResults) -> bool:
    """A cache that is absent or lacks runs is computed; a damaged or foreign one is left alone."""
    return not exc.reason.startswith(("unreadable", "incompatible"))


def draw(name: str, fn: FigureFn, results: Path, out: Path, scale: str | None,
         runner: producers.Runner | None = None) -> tuple[list[Path], str | None]:
    """Draw figure ``name``; with ``scale`` compute its missing cache first. (paths, error line)."""
    computed: set[str] = set()
    while True:
        try:
            return fn(results, out), None
        except MissingExtra as exc:
            return [], f"error: {name}: {exc}"
        except MissingResults as exc:
            prod = producers.owner(exc.path, results) if scale is not None and _needs_compute(exc) else None
            if prod is None or prod.name in computed:
                return [], f"error: {name}: {exc}"
            extra = producers.missing_extra(prod)
            if extra is not None:
                module = producers.EXTRA_MODULE[extra]
                return [], f"error: {name}: computing it needs {module}, which is not installed: " \
                           f"pip install -e '.[{extra}]'"
            try:
                producers.compute(prod, scale, results, **({"runner": runner} if runner else {}))
            except (producers.ScaleConflict, RuntimeError) as err:
                return [], f"error: {name}: {err}"
            except FileProblem as err:
                return [], f"error: {name}: {err}"
            computed.add(prod.name)


def main(argv: Sequence[str] | None = None, runner: producers.Runner | None = None) -> int:
    registry = discover()
    args = build_parser(list(registry)).parse_args(argv)
    if args.name != "all" and args.name not in registry:
        print(f"error: figure: must be one of {sorted(registry)} or 'all', got {args.name!r}", file=sys.stderr)
        return 2
    names = list(registry) if args.name == "all" else [args.name]
    results, out = _folders(args)
    scale = (args.scale or "paper") if args.compute else None
    failed: dict[str, str] = {}
    for k, name in enumerate(names, 1):
        if args.compute:
            print(f"[figures] {k}/{len(names)} {name} (scale {scale}, results {results})", file=sys.stderr,
                  flush=True)
        paths, error = draw(name, registry[name], results, out, scale, runner)
        if error is not None:
            failed.setdefault(error.split(": ", 2)[-1], error)
        for path in paths:
            print(path, flush=True)
    for line in failed.values():
        print(line, file=sys.stderr)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
