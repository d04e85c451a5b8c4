"""python -m linear_models.sweep: train the linear models over a grid, one cached JSON per run.

Usage examples::

    python -m linear_models.sweep --preset connectivity
    python -m linear_models.sweep --preset scaling --seeds 3
    python -m linear_models.sweep --method MIM,CL1 --framework local,gossip --d 64..1024 \\
        --abar 3,5 --seeds 2 --set rounds=300 --set lr=0.1

The grid is the product of the list options; every point is resolved
(:meth:`linear_models.experiment.LinearRunConfig.resolve`) and keyed by a hash of the resolved
configuration, so equal runs are computed once. A result is written atomically (a temporary
file, then ``os.replace``) to ``<out>/<key>.json`` as soon as its run finishes; a rerun skips
every key already on disk, so an interrupted sweep resumes where it stopped. Bad input
exits with status 2 and a one-line message naming the parameter and its allowed range.

Presets (they set only what differs from the defaults of ``LinearRunConfig``):

* ``connectivity``: gossip (D-PSGD, uniform mixing) on 20 clients at d = 512 on random
  connected graphs with |Ā| in {3, 5, 10} and the complete graph (|Ā| = 20), seeds 0-4,
  methods MIM and CL1 (Cor 4.5; one objective of each paradigm, so that the preset runs in
  under 5 minutes on a 2-core CPU: measured 131-147 s wall, 1.3 GB peak RSS, on a shared
  2-core AMD EPYC; ``--method CL2`` adds its 20 runs in about 100 s more).
* ``scaling``: d = 64, 128, ..., 4096 (N and c follow the paper's scalings) for each method
  (MIM, CL1, CL2, MAE) and framework (local, fedavg, gossip on a ring), seeds 0-2; the
  augmentation-averaged data optimum is solved only for d <= 1024 (it needs d x d matrices).

Schema of a cached result (``SCHEMA_VERSION`` = 1; JSON, NaN and inf written as null):

=========================  ==================================================================
key                        content
=========================  ==================================================================
schema, key                schema version; the file's cache key (16 hex digits)
config                     the resolved ``LinearRunConfig`` (every field; units as in ``--help``)
model                      ``theory.model.NonIIDModelConfig.to_dict()`` (d, N, c, p, τ, μ, sizes, ...)
device                     {"platform", "device", "jax"}: where JAX ran
git_revision               ``theory.provenance.git_revision()`` of the code that produced it
lambda_ref                 λ_ref, the unit of ``lr`` (1/λ_ref) and ``init_scale`` (√λ_ref)
coordinate_sets            {"[c]", "[N]", "rare"}: the coordinate index lists of s
graph                      null, or {"name", "sizes" (|A_i|), "mean_connectivity",
                           "is_regular", "mixing" (N x N)} for gossip
history.round              the rounds at the L logging points
history.loss               mean minibatch loss of every round (length ``rounds``)
history.consensus          (1/M) Σ_i ‖θ_i - θ̄‖_F² / c at each logging point (FedAvg: the
                           drawn clients' local models against the new global model)
history.client_ids         (L, M) the clients observed at each logging point
history.global_s           {set: [s at each logging point]} of the global/average model
                           (null for local)
history.global_rank        numerical rank of the global model at each logging point
history.client_s           {set: (L, M) s of each observed client}; sets also hold "[N]\\i"
final.global               null (local) or {"rv" (r_k for k < max(c, K)), "s" {set: s},
                           "rank", "singular_values"}
final.clients              [{"client", "rv", "s", "rank", "singular_values"}] final models
exact.<target>             targets: "fl" (FedAvg), "pi" (gossip stationary weights π) and
                           "omega" (Eq. 1 weights ω) for gossip, "client:i" for local. Each:
                           "weights", "well_posed", "diagnostic" (theory.rv), "rank", "s"
                           {set: theory.rv.Sensitivity.to_dict()}, "rv_low"/"rv_high",
                           "fixed_residual", "subspace_distance", "gram_error" (trained
                           against exact), and when the data optimum is on:
                           "sampling_error" ε = ‖X̂ - X‖_2 and "gap_resolved" (gap > 2ε)
data_optimum.<target>      the same comparison against the optimum of the augmentation-
                           averaged objective of the sample (null when off)
gossip_fixed_point         gossip: {"metric", "pi", "omega", "weights_equal", "closer"}
=========================  ==================================================================

Timings are not stored (results must be byte-identical across reruns); the command prints
the wall time of the sweep and the platform it ran on.

Platform: ``--platform {auto,cpu,gpu}`` (``linear_models.platforms``) sets ``JAX_PLATFORMS``
before JAX is imported; ``gpu`` without a GPU backend exits 2. The platform and device are
recorded in ``device`` of every result and are not part of the cache key (the key hashes
the resolved ``LinearRunConfig`` only), so results computed on a CPU and on a GPU are
interchangeable: a sweep resumed on the other platform skips what is cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from theory.errors import ParameterError, require
from theory.frameworks import ALGORITHMS, as_algorithm
from theory.io import load_json, object_with, write_json_atomic
from theory.provenance import git_revision

from .platforms import PLATFORMS, check_platform, select_platform

if TYPE_CHECKING:  # the modules that import JAX are imported on use, after --platform is applied
    from .experiment import LinearRunConfig

DEFAULT_OUT = Path("results") / "linear"
# for --help only (without importing JAX); equal to objectives.METHODS and distributed.FRAMEWORKS (tested)
METHOD_NAMES: tuple[str, ...] = ("MIM", "CL1", "CL2", "MAE")
FRAMEWORK_NAMES: tuple[str, ...] = ALGORITHMS
PRESETS: tuple[str, ...] = ("connectivity", "scaling")


# --------------------------------------------------------------------------- grid
def _parse_list(text: str, cast: type, name: str) -> list[Any]:
    """'a,b,c' or, for integers, 'lo..hi' (powers of two from lo to hi)."""
    out: list[Any] = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        if cast is int and ".." in item:
            lo_s, hi_s = item.split("..", 1)
            try:
                lo, hi = int(lo_s), int(hi_s)
            except ValueError:
                raise ParameterError(name, "integers or LO..HI (powers of two)", item) from None
            require(0 < lo <= hi, name, "LO..HI with 0 < LO <= HI", item)
            v = lo
            while v <= hi:
                out.append(v)
                v *= 2
            continue
        try:
            out.append(cast(item))
        except ValueError:
            raise ParameterError(name, f"a comma-separated list of {cast.__name__} values", item) from None
    require(len(out) > 0, name, "a non-empty list", text)
    return out


def _seeds(text: str) -> list[int]:
    """'5' means seeds 0..4; '3,7' or '2-4' list them."""
    text = str(text)
    if "," not in text and "-" not in text:
        n = _parse_list(text, int, "--seeds")[0]
        require(n >= 1, "--seeds", "a count >= 1, a list 'a,b' or a range 'a-b'", text)
        return list(range(n))
    if "-" in text and "," not in text:
        a, b = text.split("-", 1)
        try:
            lo, hi = int(a), int(b)
        except ValueError:
            raise ParameterError("--seeds", "a count, a list 'a,b' or a range 'a-b'", text) from None
        require(0 <= lo <= hi, "--seeds", "a range a-b with 0 <= a <= b", text)
        return list(range(lo, hi + 1))
    seeds = _parse_list(text, int, "--seeds")
    require(all(s >= 0 for s in seeds), "--seeds", "non-negative integers", text)
    return seeds


def _field_cast(name: str) -> Any:
    from .experiment import LinearRunConfig

    hints = typing.get_type_hints(LinearRunConfig)
    require(name in hints, "--set", f"KEY=VALUE with KEY a LinearRunConfig field ({', '.join(hints)})", name)
    tp = hints[name]
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    base = args[0] if args else tp
    optional = type(None) in typing.get_args(tp)

    def cast(value: str) -> Any:
        if optional and value.lower() in ("none", "null"):
            return None
        if base is bool:
            require(value.lower() in ("true", "false", "1", "0"), f"--set {name}", "true or false", value)
            return value.lower() in ("true", "1")
        try:
            return base(value)
        except ValueError:
            raise ParameterError(f"--set {name}", f"a value of type {base.__name__}", value) from None

    return cast


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``--set key=value`` pairs, each cast to the type of the LinearRunConfig field."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        require(bool(sep), "--set", "KEY=VALUE", item)
        out[key.strip()] = _field_cast(key.strip())(value.strip())
    return out


def preset_grid(name: str) -> dict[str, list[Any]]:
    """The option lists a preset sets (the rest keep LinearRunConfig's defaults)."""
    require(name in PRESETS, "--preset", f"one of {PRESETS}", name)
    from .distributed import FRAMEWORKS
    from .objectives import METHODS

    if name == "connectivity":
        return {"method": ["MIM", "CL1"], "framework": ["gossip"], "d": [512], "n_clients": [20],
                "graph": ["abar:3", "abar:5", "abar:10", "complete"], "seed": list(range(5))}
    return {"method": list(METHODS), "framework": list(FRAMEWORKS), "d": [64 * 2**k for k in range(7)],
            "graph": ["ring"], "seed": list(range(3))}


def build_grid(args: argparse.Namespace) -> list[LinearRunConfig]:
    """All resolved configurations of the command line, deduplicated, in a stable order."""
    from .distributed import FRAMEWORKS
    from .experiment import LinearRunConfig, config_key
    from .objectives import METHODS

    grid: dict[str, list[Any]] = preset_grid(args.preset) if args.preset else {}
    if args.method:
        grid["method"] = _parse_list(args.method, str, "--method")
    if args.framework:
        grid["framework"] = [as_algorithm(f, "--framework") for f in _parse_list(args.framework, str, "--framework")]
    if args.d:
        grid["d"] = _parse_list(args.d, int, "--d")
    if args.N:
        grid["n_clients"] = _parse_list(args.N, int, "--N")
    if args.p:
        grid["p"] = _parse_list(args.p, float, "--p")
    if args.abar:
        kind = "abar-regular" if args.graph_kind == "regular" else "abar"
        grid["graph"] = [f"{kind}:{a:g}" for a in _parse_list(args.abar, float, "--abar")]
    if args.graph:
        grid["graph"] = _parse_list(args.graph, str, "--graph")
    if args.seeds is not None:
        grid["seed"] = _seeds(args.seeds)
    overrides = parse_overrides(args.set)
    for key in overrides:
        grid.pop(key, None)
    for key, allowed in (("method", METHODS), ("framework", FRAMEWORKS)):
        for v in grid.get(key, []):
            require(v in allowed, f"--{key}", f"a list of values among {allowed}", v)
    # data and exact targets are cached per (d, N, seed): keep those outermost
    order = ["d", "n_clients", "p", "seed", "method", "framework", "graph"]
    keys = [k for k in order if k in grid] + [k for k in grid if k not in order]
    out: list[LinearRunConfig] = []
    seen: set[str] = set()
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values), **overrides)
        if args.preset == "scaling":
            point.setdefault("data_optimum", int(point.get("d", 512)) <= 1024)
        try:
            rc = LinearRunConfig(**point).resolve()
        except TypeError as exc:  # a field of the wrong type in --set
            raise ParameterError("--set", "values of the fields' types", str(exc)) from None
        key = config_key(rc)
        if key not in seen:
            seen.add(key)
            out.append(rc)
    return out


# --------------------------------------------------------------------------- cache
def result_path(out: Path, rc: LinearRunConfig) -> Path:
    from .experiment import config_key

    return out / f"{config_key(rc)}.json"


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    """A result as strict JSON (indent 1), written atomically (:func:`theory.io.write_json_atomic`)."""
    write_json_atomic(path, payload, indent=1)


RESULT_EXPECTED = "a result of python -m linear_models.sweep (a JSON object with 'schema', 'config' and 'final')"


def load_result(path: Path) -> dict[str, Any]:
    """One cached result; a damaged or foreign file raises :class:`theory.errors.FileProblem`
    (one line naming it; the file is left in place)."""
    return load_json(path, RESULT_EXPECTED, object_with("schema", "config", "final"))  # type: ignore[no-any-return]


def load_results(out: Path) -> list[dict[str, Any]]:
    """Every cached result in ``out`` (sorted by key)."""
    return [load_result(p) for p in sorted(Path(out).glob("*.json"))]


def run_sweep(configs: Sequence[LinearRunConfig], out: Path, max_configs: int | None = None,
              progress: bool = True, revision: str | None = None) -> dict[str, int]:
    """Compute every configuration not cached in ``out``; at most ``max_configs`` new ones."""
    from .experiment import run

    out.mkdir(parents=True, exist_ok=True)
    rev = git_revision() if revision is None else revision
    todo = [rc for rc in configs if not result_path(out, rc).exists()]
    cached = len(configs) - len(todo)
    if max_configs is not None:
        todo = todo[:max_configs]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(configs), initial=cached, unit="run", desc="linear sweep", file=sys.stderr)
    done = 0
    for rc in todo:
        result = run(rc)
        result["git_revision"] = rev
        write_atomic(result_path(out, rc), result)
        done += 1
        if bar is not None:
            bar.set_postfix_str(f"{rc.method} {rc.framework} d={rc.d} seed={rc.seed}", refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    return {"total": len(configs), "cached": cached, "computed": done, "remaining": len(configs) - cached - done}


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m linear_models.sweep",
        description="Train the linear models of Chen et al. (ICLR 2026) over a grid of configurations "
                    "(JAX, float64) and cache one JSON result per configuration.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Lists are comma-separated; integer lists also accept LO..HI for the powers of two from LO "
               "to HI (e.g. --d 64..4096). Every other LinearRunConfig field can be set with --set KEY=VALUE, e.g. "
               "rounds (communication rounds; local: rounds of local steps), local_steps (SGD steps per round), "
               "batch (samples per minibatch), lr (step size in units of 1/λ_ref, λ_ref the largest eigenvalue "
               "of the clients' population X; default 0.2, MAE 0.1), decay (constant|cosine), optimizer "
               "(sgd|adam), init_scale (initial row norm in units of √λ_ref), participation (FedAvg fraction "
               "of clients per round, in (0, 1]), mixing (uniform|data-size|metropolis), variant (atc|dpsgd), "
               "n_frequent / n_rare (samples per class), rank_rtol (numerical-rank tolerance of the RV, "
               "relative to the largest singular value), data_optimum (true|false).")
    p.add_argument("--preset", choices=PRESETS, default=None,
                   help="connectivity: 20 clients, d=512, |Ā| in {3,5,10,20}, 5 seeds, gossip, MIM and CL1; "
                        "scaling: d=64..4096 for every method x framework, 3 seeds")
    p.add_argument("--method", default=None, help=f"objectives, among {', '.join(METHOD_NAMES)} (default MIM)")
    p.add_argument("--framework", default=None, help=f"among {', '.join(FRAMEWORK_NAMES)} (default gossip); the paper's names decl "
                   "(= gossip) and fl (= fedavg) are accepted too (theory.frameworks)")
    p.add_argument("--d", default=None, help="ambient dimensions d (integers >= 8; default 512)")
    p.add_argument("--N", default=None, help="numbers of clients N >= 2 (default ceil(4 d^(1/20)))")
    p.add_argument("--p", default=None, help="mask ratios p in (0, 1) for MIM and MAE (default 0.75)")
    p.add_argument("--abar", default=None,
                   help="target average connectivities |Ā| in [3 - 2/N, N] for gossip (graphs 'abar:A')")
    p.add_argument("--graph-kind", choices=("random", "regular"), default="random",
                   help="graphs for --abar: random connected graphs, or regular ones (|Ā| - 1 an integer)")
    p.add_argument("--graph", default=None,
                   help="gossip graphs as theory.graphs specs: complete, ring, path, star, regular:K, er:Q, abar:A, "
                        "abar-regular:A (default ring)")
    p.add_argument("--seeds", default=None, help="a count n (seeds 0..n-1), a list 'a,b' or a range 'a-b' (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any LinearRunConfig field, cast to its type (repeatable; see below)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"result folder (default {DEFAULT_OUT})")
    p.add_argument("--max-configs", type=int, default=None,
                   help="compute at most this many new configurations, then stop (resumable)")
    p.add_argument("--platform", default="auto", metavar="{" + ",".join(PLATFORMS) + "}",
                   help="where JAX runs: auto (a GPU when JAX sees one, else the CPU), cpu, or gpu (an error when "
                        "no GPU backend starts); sets JAX_PLATFORMS before JAX is imported. The platform is "
                        "recorded in every result ('device') but is not part of the cache key: CPU and GPU "
                        "results are interchangeable (default auto)")
    p.add_argument("--dry-run", action="store_true", help="list the resolved configurations and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        select_platform(args.platform)  # before anything imports JAX
        require(args.max_configs is None or args.max_configs >= 0, "--max-configs", "an integer >= 0", args.max_configs)
        platform = check_platform(args.platform)
        configs = build_grid(args)
        out = Path(args.out)
        require(not out.exists() or out.is_dir(), "--out", "a folder (it is created if missing)", str(out))
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from .experiment import config_key

    if args.dry_run:
        for rc in configs:
            state = "cached" if result_path(out, rc).exists() else "todo"
            print(f"{config_key(rc)} {state:6s} {json.dumps(dataclasses.asdict(rc), sort_keys=True)}")
        return 0
    t0 = time.perf_counter()
    counts = run_sweep(configs, out, args.max_configs, progress=not args.no_progress)
    elapsed = time.perf_counter() - t0
    print(f"{counts['computed']} computed, {counts['cached']} cached, {counts['remaining']} remaining "
          f"of {counts['total']} configurations in {elapsed:.1f} s on {platform} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
