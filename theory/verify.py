"""python -m theory.verify: a report on every claim and proof step of the paper's theory.

Each claim of ``theory.claims.registry`` is checked at the printed, exact and sampled
levels; the report prints one row per claim and level with the verdict and key numbers,
then a summary of where the paper and the exact model disagree. The sampled level is a
statistic over ``--replicates`` independent draws, with verdicts only beyond ``--k`` standard
errors (``theory.stats``); asymptotic claims carry an "as d grows" reading at the exact level
(``theory.claims.limits``) up to ``--limit-d-max`` / ``--limit-dense-d-max``.

Exit status: 0 when the report was produced (1 with ``--strict`` when a claim FAILS),
2 with a one-line message on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Sequence

from . import graphs
from .analysis import GRAPH_SEARCHES, Analysis
from .claims.common import doubling_grid
from .claims.context import Context
from .claims.registry import aggregate_replicates, claim_ids, run_claims, run_replicate, with_sampled
from .errors import ParameterError, require
from .explain import explain, options_argv, render_explain
from .io import atomic_write_text
from .model import NonIIDModelConfig, paper_config
from .render_markdown import render_markdown
from .report import DEFAULT_WIDTH, MAX_WIDTH, MIN_WIDTH, render_text, report_dict
from .stats import DEFAULT_K, DEFAULT_REPLICATES, Settings
from .threads import blas_threads
from .verdict import ClaimResult, LevelResult

TOPOLOGIES = ("ring", "complete", "regular", "er", "abar", "path", "star")
LIMIT_FACTOR = 8  # default reach of the "as d grows" readings: d, 2d, ..., 8d (structured exact X)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m theory.verify",
        description="Verify the theory of Chen et al. (ICLR 2026) in its own linear model: every claim and proof "
                    "step at the printed (symbolic), exact (population) and sampled levels.")
    m = p.add_argument_group("model (paper Section 3.2; defaults follow the paper's scalings)")
    m.add_argument("--d", type=int, default=512, help="ambient dimension d (integer >= 2; default 512)")
    m.add_argument("--N", type=int, default=None, help="number of clients N >= 2 (default ceil(4 d^(1/20)))")
    m.add_argument("--c", type=int, default=None, help="embedding width c <= d (default 2N)")
    m.add_argument("--p", type=float, default=0.75, help="MIM mask ratio p in (0, 1) (default 0.75)")
    m.add_argument("--tau", type=float, default=None, help="class offset τ > 0 (default d^(1/5))")
    m.add_argument("--mu", type=float, default=None, help="noise scale μ > 0 (default d^(-1/5))")
    m.add_argument("--n-frequent", type=int, default=None, help="samples per frequent class (default d)")
    m.add_argument("--n-rare", type=int, default=None, help="samples of the rare class (default ceil(sqrt(d)))")
    m.add_argument("--q-mode", choices=("per-sample", "per-class"), default="per-sample",
                   help="reading of q: independent per sample and axis, or fixed per class")
    m.add_argument("--rare-axis", choices=("class-index", "owner"), default="class-index",
                   help="axis of the rare class h_i: the index h_i itself, or the class axis of its owner")
    m.add_argument("--augmentation", default="blur", help="H of dissimilar CL: blur, identity or scale:<h>")
    g = p.add_argument_group("graph")
    g.add_argument("--topology", choices=TOPOLOGIES, default="abar",
                   help="DecL graph: ring, complete, regular (degree |Ā|-1), er (G(N, q), q = (|Ā|-1)/(N-1)), "
                        "abar (random connected graph with the target |Ā|), path, star (default abar)")
    g.add_argument("--abar", type=float, default=None,
                   help="target average connectivity |Ā| in [2, N] (default (N+2)/2 rounded down to a reachable value)")
    g.add_argument("--edges", default=None, metavar="I-J,...",
                   help="the DecL graph as an explicit edge list on clients 0..N-1, e.g. 0-1,1-2,2-3 (replaces "
                        "--topology; the reproducing commands of --explain use it for randomly drawn graphs)")
    g.add_argument("--graph-search", choices=GRAPH_SEARCHES, default="family",
                   help="the graphs Cor 4.5, Thm 4.6 and Eqs. 29-30 range over besides the run's graph: family (a few "
                        "regular, path, star and seeded random graphs; default) or exhaustive (every connected graph on "
                        f"N <= {graphs.ATLAS_MAX_N} nodes up to isomorphism, from networkx's graph atlas: 112 at N = 6; "
                        "one labelling each)")
    p.add_argument("--seed", type=int, default=0, help="seed of the model, the graph and the sampled data (default 0)")
    p.add_argument("--const", action="append", default=[], metavar="NAME=VALUE",
                   help="value of a hidden constant of the printed bounds: C_M, C_C (O-terms), K_M, K_C (Θ-terms); "
                        "repeatable (defaults: C=1, K implied by Eq. 37)")
    p.add_argument("--claims", default=None, help="comma-separated claim ids to run (default all): " + ", ".join(claim_ids()))
    p.add_argument("--no-sampled", action="store_true",
                   help="skip the sampled level: the way to run at very large d (the printed and exact levels are "
                        "structured, O(d log d); e.g. --d 1048576 --no-sampled takes about a minute), while the sampled "
                        "level holds d x d matrices and is refused, with the largest d this machine can hold, beyond it")
    st = p.add_argument_group("sampled level (a statistic over independent replicates)")
    st.add_argument("--replicates", type=int, default=DEFAULT_REPLICATES,
                    help="independent draws of data, masks and views, R >= 2; every sampled number is reported as "
                         f"mean ± standard error over them (default {DEFAULT_REPLICATES})")
    st.add_argument("--k", type=float, default=DEFAULT_K,
                    help="a sampled HOLDS/FAILS needs every deciding margin beyond k standard errors, otherwise "
                         f"INCONCLUSIVE (default {DEFAULT_K:g})")
    lim = p.add_argument_group("limit readings of the asymptotic claims (Thms 4.2-4.4, Cor 4.5, Thm 4.6)")
    lim.add_argument("--limit-d-max", type=int, default=None,
                     help="largest d of the 'as d grows' grid d, 2d, 4d, ... for block-structured exact X "
                          f"matrices (default {LIMIT_FACTOR} d)")
    lim.add_argument("--limit-dense-d-max", type=int, default=None,
                     help="the same for exact X matrices the exact level holds dense (CL2 with a non-circulant "
                          "user H): O(d^3) each (default d, i.e. no growth reading for them)")
    p.add_argument("--train", action="store_true",
                   help="add trained linear models (JAX, linear_models) to the sampled level")
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", default=None,
                     help="write the full report as JSON to PATH (with --explain: plus the explanations, key 'explain')")
    out.add_argument("--strict", action="store_true", help="exit 1 when any claim FAILS at any level")
    out.add_argument("--quiet", action="store_true", help="print only the summary; no progress")
    out.add_argument("--width", type=int, default=None, metavar="N",
                     help=f"text width in columns, {MIN_WIDTH}-{MAX_WIDTH}: long cells wrap under their column, "
                          f"nothing is cut (default: the terminal's width, {DEFAULT_WIDTH} when stdout is not a terminal)")
    out.add_argument("--explain", action="append", default=[], metavar="ID",
                     help="print everything about claim ID instead of the table: every level and cell, margins "
                          "(mean ± SE), both readings, the printed forms next to the exact quantities, the paper's "
                          "equations and each counterexample with the command that reproduces it; repeatable or "
                          "a comma list; runs only these claims unless --claims says more")
    out.add_argument("--format", choices=("text", "markdown"), default="text",
                     help="text (default) or markdown: a summary table and one section per claim, byte-stable for "
                          "the same inputs (no timings), for a paper's appendix or a review")
    out.add_argument("--out", metavar="PATH", default=None, help="write the text or markdown report to PATH instead of stdout")
    out.add_argument("--table-only", action="store_true",
                     help="with --format markdown: only the findings table (the one in README.md)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads per process, 0 for the library's default (default 1: see benchmarks/bench_verify.py)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes: 2 computes the printed and exact levels beside the sampled one, 1 runs "
                        "everything in this process (default: 2 when the machine has 2 or more CPUs)")
    return p


def _parse_constants(items: Sequence[str]) -> dict[str, float]:
    allowed = ("C_M", "C_C", "K_M", "K_C")
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        require(name in allowed, "--const", f"NAME=VALUE with NAME in {allowed}", item)
        try:
            v = float(value)
        except ValueError:
            v = float("nan")
        require(v > 0, "--const", "a positive number after '='", item)
        out[name] = v
    return out


def build_config(args: argparse.Namespace, d: int | None = None) -> NonIIDModelConfig:
    return paper_config(
        args.d if d is None else d,
        n_clients=args.N, c=args.c, p=args.p, tau=None if d not in (None, args.d) else args.tau,
        mu=None if d not in (None, args.d) else args.mu,
        n_frequent=None if d not in (None, args.d) else args.n_frequent,
        n_rare=None if d not in (None, args.d) else args.n_rare,
        q_mode=args.q_mode, rare_axis=args.rare_axis, augmentation=args.augmentation, seed=args.seed)


def topology_from_args(args: argparse.Namespace, n: int) -> graphs.Topology:
    """The run's graph: ``--edges``, else ``--topology`` at ``--abar`` (default max(2, (N+2)//2)),
    through the one parser :func:`theory.graphs.parse_graph`."""
    if args.edges is not None:
        return graphs.parse_graph("edges:" + args.edges, n, param="--edges")
    if args.abar is not None:
        require(2.0 <= args.abar <= n, "--abar", f"in [2, N={n}]", args.abar)
    abar = args.abar if args.abar is not None else float(max(2, (n + 2) // 2))
    spec = graphs.family_spec(args.topology, abar, param="--topology", value_param="--abar")
    return graphs.parse_graph(spec, n, seed=args.seed, param="--topology")


def make_context(args: argparse.Namespace) -> Context:
    cfg = build_config(args)
    require(args.graph_search != "exhaustive" or cfg.n_clients <= graphs.ATLAS_MAX_N, "--graph-search",
            f"'family' when N > {graphs.ATLAS_MAX_N}: 'exhaustive' needs --N in [2, {graphs.ATLAS_MAX_N}] (networkx's "
            f"graph atlas stops at {graphs.ATLAS_MAX_N} nodes; pass a smaller --N, or a --d whose default N is <= "
            f"{graphs.ATLAS_MAX_N})",
            f"exhaustive with N = {cfg.n_clients}")
    top = topology_from_args(args, cfg.n_clients)
    fixed_n = cfg.n_clients

    def config_at(d: int) -> NonIIDModelConfig:
        a = argparse.Namespace(**{**vars(args), "N": fixed_n, "c": cfg.c})
        return build_config(a, d)

    if not args.no_sampled:
        require(cfg.samples_per_client >= cfg.c, "--n-frequent",
                f"large enough that |D_i| = 2 n_frequent + n_rare >= c = {cfg.c} for the sampled level "
                "(or pass --no-sampled)", cfg.n_frequent)
    check_size(args, cfg)
    an = Analysis(cfg, top, seed=args.seed, config_at=config_at, graph_search=args.graph_search)
    d = cfg.d
    stats = Settings(args.replicates, args.k)
    lim_max = LIMIT_FACTOR * d if args.limit_d_max is None else args.limit_d_max
    dense_max = d if args.limit_dense_d_max is None else args.limit_dense_d_max
    require(lim_max >= d, "--limit-d-max", f"an integer >= d = {d}", lim_max)
    require(dense_max >= d, "--limit-dense-d-max", f"an integer >= d = {d}", dense_max)
    floor = max(32, cfg.support_size + 2, cfg.c + 2)
    above = int(math.floor(math.log2(lim_max / d) + 1e-9))
    dense_above = int(math.floor(math.log2(dense_max / d) + 1e-9))
    return Context(
        analysis=an,
        constants=_parse_constants(args.const),
        sampled=not args.no_sampled,
        exact_grid=tuple(doubling_grid(d, below=3, above=above, floor=floor)),
        dense_grid=tuple(doubling_grid(d, below=2, above=dense_above, floor=floor)),
        sampled_grid=tuple(doubling_grid(d, below=2, above=0, floor=floor)),
        stats=stats,
        limit_d_max=lim_max,
        limit_dense_d_max=dense_max,
        tick=GraphTicker() if args.graph_search == "exhaustive" and not args.quiet and sys.stderr.isatty() else None,
    )


def check_size(args: argparse.Namespace, cfg: NonIIDModelConfig) -> None:
    """Refuse, before any work, a --d whose O(d^2) parts (the sampled level; the exact level of a
    non-circulant user H) would not fit in this machine's memory (``theory.memory``)."""
    from .augmentation import parse_augmentation
    from .memory import available_bytes, largest_feasible_d, run_bytes

    parse_augmentation(cfg.augmentation).check_dimension(cfg.d)
    budget = available_bytes()
    need = run_bytes(cfg, sampled=not args.no_sampled)
    if need > budget:
        top = largest_feasible_d(cfg, sampled=not args.no_sampled, budget=budget)
        why = "the sampled level" if not args.no_sampled else f"the dense CL2 matrices of H = {cfg.augmentation}"
        hint = "; pass --no-sampled to run the printed and exact levels at this d" if not args.no_sampled else ""
        raise ParameterError("--d", f"at most {top} on this machine ({why} needs about {need / 2**30:.1f} GiB, "
                                    f"{budget / 2**30:.1f} GiB available){hint}", cfg.d)


def _worker_context() -> multiprocessing.context.BaseContext:
    """Fresh worker processes: a fork of this process would copy the threads of any library
    already running here (JAX with --train, a BLAS pool) and can deadlock. ``forkserver``
    (preloading the theory) where the platform has it, else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["theory.claims.registry", "theory.analysis"])
        return ctx
    return multiprocessing.get_context("spawn")


_WORKER_CONTEXT: dict[str, Context] = {}


def _worker_ctx(args: argparse.Namespace) -> Context:
    """The (deterministic) context of this worker process, built once: the exact quantities it
    caches are shared by every task the worker runs."""
    key = repr(sorted(vars(args).items()))
    if key not in _WORKER_CONTEXT:
        _WORKER_CONTEXT.clear()
        _WORKER_CONTEXT[key] = make_context(args)
    return _WORKER_CONTEXT[key]


def _run_levels(args: argparse.Namespace, ids: list[str] | None, levels: tuple[str, ...]) -> list[ClaimResult]:
    """A task of ``--jobs 2``: some levels other than the sampled one."""
    with blas_threads(args.threads):
        return run_claims(_worker_ctx(args), ids, levels=levels)


def _run_replicate(args: argparse.Namespace, ids: list[str] | None, replicate: int) -> dict[str, LevelResult]:
    """A task of ``--jobs 2``: the sampled checks on one replicate."""
    with blas_threads(args.threads):
        return run_replicate(_worker_ctx(args), ids, replicate)


def _ids(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def output_width(args: argparse.Namespace) -> int:
    """--width, else the terminal's width when stdout is a terminal, else DEFAULT_WIDTH."""
    if args.width is not None:
        require(MIN_WIDTH <= args.width <= MAX_WIDTH, "--width", f"an integer in [{MIN_WIDTH}, {MAX_WIDTH}]", args.width)
        return args.width
    if sys.stdout.isatty():
        return max(MIN_WIDTH, min(MAX_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns))
    return DEFAULT_WIDTH


class Progress:
    """Levels and claims done, on stderr, only when stderr is a terminal, not --quiet, and the
    run has taken more than ``after_s`` seconds (a short run prints nothing)."""

    def __init__(self, total: int, enabled: bool, after_s: float = 2.0) -> None:
        self.total, self.enabled, self.after_s = total, enabled, after_s
        self.done, self.t0, self.shown = 0, time.perf_counter(), False

    def __call__(self, what: str, level: str, steps: int = 1) -> None:
        self.done += steps
        if self.enabled and time.perf_counter() - self.t0 > self.after_s:
            self.shown = True
            print(f"\r[{self.done:3d}/{self.total}] {what:<26} {level:<16}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.shown:
            print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)


class GraphTicker:
    """Progress inside a claim that ranges over many graphs (``--graph-search exhaustive``): one
    overwritten line on stderr, at most every ``every_s`` seconds."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s, self.last = every_s, time.perf_counter()

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            print(f"\r  {what}: graph {done + 1}/{total}" + " " * 10, end="", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        ctx = make_context(args)
        ids = None
        valid = ", ".join(claim_ids())
        if args.claims:
            ids = _ids(args.claims)
            unknown = sorted(set(ids) - set(claim_ids()))
            require(not unknown, "--claims", f"ids among {valid}", ",".join(unknown))
        explained = [i for item in args.explain for i in _ids(item)]
        unknown = sorted(set(explained) - set(claim_ids()))
        require(not unknown, "--explain", f"ids among {valid}", ",".join(unknown))
        require(not args.explain or bool(explained), "--explain", f"ids among {valid}", ",".join(args.explain))
        explained = list(dict.fromkeys(explained))
        if explained:
            ids = list(dict.fromkeys((ids or []) + explained))
            require(args.format == "text", "--format", "text with --explain (--json holds the same content)", args.format)
        require(not args.table_only or args.format == "markdown", "--table-only", "used with --format markdown", True)
        width = output_width(args)
        if args.train:
            require(not args.no_sampled, "--train", "used without --no-sampled (it adds to the sampled level)", True)
            try:
                import linear_models.checks  # noqa: F401 - needs jax
            except ImportError as exc:
                raise ParameterError("--train", "used with jax installed (pip install -e '.[linear]')", str(exc)) from None
        threads = blas_threads(args.threads)
        require(args.jobs in (1, 2), "--jobs", "1 or 2", args.jobs)
        for flag, path in (("--json", args.json), ("--out", args.out)):
            if path:
                parent = os.path.dirname(os.path.abspath(path))
                require(os.path.isdir(parent), flag, "a path in an existing folder", path)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    n_claims = len(ids) if ids else len(claim_ids())
    progress = Progress(n_claims * (2 + (ctx.stats.replicates if ctx.sampled else 1)),
                        enabled=not args.quiet and sys.stderr.isatty())

    with threads:
        if args.jobs == 2 and ctx.sampled:
            # tasks: the printed and exact levels (longest, first), then one per sampled replicate,
            # taken by whichever of the two workers is free; replicate r's draws do not depend on
            # which process runs it, so the report equals that of --jobs 1
            with ProcessPoolExecutor(max_workers=2, mp_context=_worker_context()) as pool:
                head = pool.submit(_run_levels, args, ids, ("printed", "exact"))
                reps = [pool.submit(_run_replicate, args, ids, r) for r in range(ctx.stats.replicates)]
                # future -> (what, level, steps) for the progress line
                names: dict[Future[Any], tuple[str, str, int]] = {head: ("printed, exact", "levels done", 2 * n_claims)}
                names.update({f: (f"sampled {r + 1}/{ctx.stats.replicates}", "replicate done", n_claims)
                              for r, f in enumerate(reps)})
                for fut in as_completed(names):
                    what, level, steps = names[fut]
                    progress(what, level, steps)
                results = with_sampled(head.result(), aggregate_replicates(ctx, ids, [f.result() for f in reps]))
        else:
            results = run_claims(ctx, ids, progress)
        if ctx.sampled and args.train:
            from .training import trained_checks  # optional: needs jax
            results = trained_checks(ctx, results)
    progress.close()
    if ctx.tick is not None:
        print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - t0
    report = report_dict(ctx, results, elapsed)
    run_argv = options_argv(args, vars(parser.parse_args([])),
                            {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings})
    if explained:
        explanations = [explain(report, cid, run_argv, ctx) for cid in explained]
        report["explain"] = explanations
        text = "\n\n".join(render_explain(e, width) for e in explanations)
    elif args.format == "markdown":
        text = render_markdown(report, table_only=args.table_only)
    else:
        text = render_text(report, summary_only=args.quiet, width=width)
    if args.out:
        atomic_write_text(args.out, text if text.endswith("\n") else text + "\n")
    else:
        print(text)
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1, allow_nan=False) + "\n")
    if args.strict and any(lv["verdict"] == "FAILS" for c in report["claims"] for lv in c["levels"].values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
