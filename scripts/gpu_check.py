"""Everything GPU-specific of the toolkit, checked in one run of a few minutes, into one JSON file.

    scripts/gpu_check.sh [--dry-run] [--out PATH]        (= python scripts/gpu_check.py ...)

Meant for a machine with one CUDA GPU, no network, the preinstalled Python packages, and this
working tree plus ``data/mnist.npz`` carried from here. Steps (each timed; a failing step is
recorded with its error and the next one runs; the JSON is rewritten after every step, so a
run cut short still leaves what it measured):

1. ``device``: torch / CUDA / cuDNN versions, the GPU's name, capability and memory, and which
   of the project's Python dependencies import (a missing one explains a failing step);
2. ``cuda_tests``: ``pytest -m cuda tests/test_cuda.py`` (forward/backward of every method x
   backbone on cuda; one FL and one DecL round on cuda against the CPU round);
3. ``nccl_round``: one FedMAR round through ``torchrun --nproc-per-node=1 -m empirical.run
   --backend torch --device cuda`` (a one-rank NCCL process group);
4. ``throughput``: pre-training images/s of MAE on ViT-tiny (``model.vit_size=paper``) and on
   ResNet-18 (width 64), one model alone (batch 32 and 256), and one FL round of 20 clients
   through the engine's sequential client loop and through its batched one
   (``federation.batched_clients``, :mod:`empirical.batched`);
5. ``linear_sweep``: one ``python -m linear_models.sweep --platform gpu`` point (gossip, MIM).

``--dry-run`` runs the same steps on the CPU with tiny sizes (gloo instead of NCCL, ``--platform
cpu``, the CUDA tests then skip): it checks the plumbing in under a minute and is run by
tests/test_gpu_check.py; there the subprocess steps run alongside the in-process ones. Its
numbers are not GPU figures. Default output:
``$OUT/gpu_check.json`` when ``$OUT`` is set, else ``results/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import glob
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO / "data" / "mnist.npz"
DEPENDENCIES = ("numpy", "scipy", "sympy", "networkx", "jaxtyping", "sklearn", "tqdm", "threadpoolctl", "pytest",
                "hypothesis", "jax", "torch")


@dataclass(frozen=True)
class Sizes:
    """What each step runs: the GPU sizes, or the dry run's tiny ones."""

    device: str
    vit_size: str
    vit_width: int  # 0 = the size's own width
    resnet_width: int
    batches: tuple[int, ...]
    steps: int
    warmup: int
    round_clients: int
    round_train: int  # images over all clients of the FL round
    round_batch: int
    warmup_round: bool
    sweep_d: int
    sweep_platform: str
    timeout_s: float
    overlap: bool  # run the subprocess steps alongside the in-process ones (dry run only: no timing matters)


GPU = Sizes("cuda", "paper", 0, 64, (32, 256), 30, 5, 20, 6400, 32, True, 512, "gpu", 240, False)
DRY = Sizes("cpu", "smoke", 16, 4, (8,), 2, 1, 2, 32, 8, False, 8, "cpu", 60, True)

SMALL_RUN = [
    "data.name=mnist", f"data.root={MNIST}", "data.max_train=256", "model.vit_width=32", "model.vit_depth=2",
    "model.vit_heads=2", "method.name=mar", "method.decoder_width=32", "method.proj_dim=32", "method.pred_dim=8",
    "method.bank_size=8", "partition.n_clients=4", "partition.min_size=8", "federation.rounds=1",
    "federation.local_epochs=1", "optim.batch_size=32", "eval.knn_every=0", "eval.probe=none",
]  # fmt: skip


def _log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _run(cmd: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A subprocess in the repository root; its exit status and output tail."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false", **(env or {})}
    t0 = time.perf_counter()
    try:
        p = subprocess.run(list(cmd), cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
        rc, out = p.returncode, (p.stdout + p.stderr)
    except subprocess.TimeoutExpired as err:
        rc, out = 124, f"timed out after {timeout} s; {(err.stdout or b'')!r:.2000}"
    return {"cmd": " ".join(cmd), "rc": rc, "seconds": round(time.perf_counter() - t0, 2), "output_tail": out[-3000:]}


# --------------------------------------------------------------------------- steps


def step_device(sz: Sizes) -> dict[str, Any]:
    import torch

    deps = {}
    for name in DEPENDENCIES:  # found and its installed version, without importing it
        dist_name = {"sklearn": "scikit-learn"}.get(name, name)
        if importlib.util.find_spec(name) is None:
            deps[name] = "missing"
            continue
        try:
            deps[name] = importlib.metadata.version(dist_name)
        except importlib.metadata.PackageNotFoundError:
            deps[name] = "found (version unknown)"
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "dependencies": deps,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            memory_gib=round(props.total_memory / 2**30, 1),
            device_count=torch.cuda.device_count(),
            nccl=".".join(map(str, torch.cuda.nccl.version())),
        )
    elif sz.device == "cuda":
        raise RuntimeError("torch.cuda.is_available() is False: no GPU for the checks (use --dry-run on a CPU machine)")
    return out


def step_cuda_tests(sz: Sizes) -> dict[str, Any]:
    r = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda", "tests/test_cuda.py"], sz.timeout_s)
    tail = r["output_tail"].strip().splitlines()
    r["summary"] = tail[-1] if tail else ""
    # pytest exits 0 when every test is skipped (e.g. CUDA not visible to the subprocess): on a GPU
    # the step passes only when the CUDA tests ran and none was skipped
    ran = "passed" in r["summary"] and "skipped" not in r["summary"]
    r["ok"] = r["rc"] == 0 and (sz.device != "cuda" or ran)
    return r


def step_nccl_round(sz: Sizes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1", "-m", "empirical.run",
            "--backend", "torch", "--quiet", "--threads", "1", "--dist-timeout", "120", "--device", sz.device,
            "--out", tmp, "--set", *SMALL_RUN,
        ]  # fmt: skip
        r = _run(cmd, sz.timeout_s)
        records = [json.loads(line) for f in glob.glob(f"{tmp}/**/metrics.jsonl", recursive=True) for line in open(f) if line.strip()]
    r["process_group"] = "nccl" if sz.device == "cuda" else "gloo"
    r["rounds"] = [{k: rec.get(k) for k in ("round", "clients", "steps", "loss", "consensus_distance", "wall_time_s")} for rec in records]
    r["ok"] = r["rc"] == 0 and len(records) == 1
    return r


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _cfg(sz: Sizes, arch: str, method: str, extra: dict[str, Any] | None = None) -> Any:
    from empirical.config import resolve

    over: dict[str, Any] = {
        "data.name": "mnist",
        "data.root": str(MNIST),
        "model.arch": arch,
        "model.vit_size": sz.vit_size,
        "model.resnet_width": sz.resnet_width,
        "method.name": method,
        "run.device": sz.device,
        "eval.knn_every": 0,
        "eval.probe": "none",
        **({"model.vit_width": sz.vit_width, "method.decoder_width": sz.vit_width} if sz.vit_width else {}),
        **(extra or {}),
    }
    return resolve(None, "smoke", over)["default"]


def _single_model(sz: Sizes, arch: str, method: str, batch: int) -> dict[str, Any]:
    """images/s of loss + backward + optimiser step of one model on random 28x28 inputs."""
    import torch

    from empirical import engine

    cfg = _cfg(sz, arch, method, {"optim.batch_size": batch})
    model = engine.build_method(cfg, 1, 28).to(sz.device)
    opt = engine.build_optimizer(cfg, model)
    x = torch.randn(batch, 1, 28, 28, device=sz.device)
    g = torch.Generator().manual_seed(0)

    def step() -> None:
        loss, _ = model.loss(x, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(sz.warmup):
        step()
    _sync(sz.device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(sz.steps):
        step()
    _sync(sz.device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n_params = sum(p.numel() for p in model.parameters())
    return {"batch": batch, "steps": sz.steps, "seconds": round(wall, 4), "cpu_seconds": round(cpu, 4),
            "images_per_s": round(sz.steps * batch / wall, 1), "parameters": n_params}


def _fl_round(sz: Sizes, arch: str, method: str, batched: bool = False) -> dict[str, Any]:
    """images/s of one full-participation FedAvg round of ``round_clients`` clients (round 1
    after a warm-up round 0 on the GPU; round 0 in the dry run), the engine's sequential or
    batched client loop."""
    from empirical import engine

    extra = {
        "data.max_train": sz.round_train,
        "partition.n_clients": sz.round_clients,
        "partition.min_size": 8,
        "federation.rounds": 2,
        "federation.local_epochs": 1,
        "federation.client_fraction": 1.0,
        "optim.batch_size": sz.round_batch,
        "federation.batched_clients": batched,
    }
    cfg = _cfg(sz, arch, method, extra)
    exp = engine.build(cfg)
    if sz.warmup_round:
        exp.algorithm.run_round(0)
    _sync(sz.device)
    t0, c0 = time.perf_counter(), time.process_time()
    report = exp.algorithm.run_round(int(sz.warmup_round))
    _sync(sz.device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    b = cfg.optim.batch_size
    return {
        "clients": sz.round_clients,
        "client_loop": "batched" if batched else "sequential",
        "batch": b,
        "steps": report["steps"],
        "seconds": round(wall, 4),
        "cpu_seconds": round(cpu, 4),
        "images_per_s": round(report["steps"] * b / wall, 1),
    }


def step_throughput(sz: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arch, label in (("vit", f"mae_vit_{sz.vit_size}"), ("resnet18", f"mae_resnet18_w{sz.resnet_width}")):
        out[label] = {
            "one_model": [_single_model(sz, arch, "mae", b) for b in sz.batches],
            f"fl_round_{sz.round_clients}_clients": _fl_round(sz, arch, "mae"),
            f"batched_fl_round_{sz.round_clients}_clients": _fl_round(sz, arch, "mae", batched=True),
        }
        _log(f"throughput {label}: {json.dumps(out[label])}")
    return out


def step_linear_sweep(sz: Sizes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "linear_models.sweep", "--method", "MIM", "--framework", "gossip", "--d", str(sz.sweep_d),
            "--N", "4", "--seeds", "1", "--platform", sz.sweep_platform, "--out", tmp, "--no-progress",
        ]  # fmt: skip
        r = _run(cmd, sz.timeout_s)
        results = [json.load(open(f)) for f in glob.glob(f"{tmp}/**/*.json", recursive=True)]
    r["results"] = len(results)
    if results:
        res = results[0]
        r["jax"] = res.get("platform") or res.get("jax") or {k: v for k, v in res.items() if "platform" in k or "device" in k}
    r["ok"] = r["rc"] == 0 and len(results) >= 1
    return r


SUBPROCESS_STEPS = ("cuda_tests", "nccl_round", "linear_sweep")
STEPS: tuple[tuple[str, Callable[[Sizes], dict[str, Any]]], ...] = (
    ("device", step_device),
    ("cuda_tests", step_cuda_tests),
    ("nccl_round", step_nccl_round),
    ("throughput", step_throughput),
    ("linear_sweep", step_linear_sweep),
)


def default_out() -> Path:
    return Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else REPO / "results" / "gpu_check.json"


def main(argv: Sequence[str] | None = None) -> int:
    from theory.io import atomic_write_text  # the repository is on sys.path (below, or PYTHONPATH)

    p = argparse.ArgumentParser(prog="scripts/gpu_check.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="the CPU-only path with tiny sizes (gloo, --platform cpu); < 1 min")
    p.add_argument("--out", type=Path, default=None, help="JSON file (default $OUT/gpu_check.json, else results/gpu_check.json)")
    p.add_argument("--only", default="", help="comma-separated steps to run (default all): " + ",".join(n for n, _ in STEPS))
    args = p.parse_args(argv)
    sz = DRY if args.dry_run else GPU
    only = {s for s in args.only.split(",") if s}
    unknown = only - {n for n, _ in STEPS}
    if unknown:
        p.error(f"--only: unknown steps {sorted(unknown)}; allowed: {', '.join(n for n, _ in STEPS)}")
    out_path = args.out or default_out()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dry_run": args.dry_run,
        "sizes": asdict(sz),
        "steps": {},
    }
    if not MNIST.exists():
        _log(f"warning: {MNIST} is missing (carry data/mnist.npz); the data steps will fail")
    t_all = time.perf_counter()
    failed = []
    selected = [(n, fn) for n, fn in STEPS if not only or n in only]

    def timed(fn: Callable[[Sizes], dict[str, Any]]) -> tuple[dict[str, Any], bool, float]:
        t0 = time.perf_counter()
        try:
            res = fn(sz)
            ok = bool(res.pop("ok", True))
        except Exception as err:  # noqa: BLE001 - recorded, and the next step still runs
            res, ok = {"error": f"{type(err).__name__}: {err}"}, False
        return res, ok, time.perf_counter() - t0

    pool = ThreadPoolExecutor(max_workers=len(SUBPROCESS_STEPS)) if sz.overlap else None
    early = {n: pool.submit(timed, fn) for n, fn in selected if n in SUBPROCESS_STEPS} if pool is not None else {}
    for name, fn in selected:
        _log(f"{name} ..." if name not in early else f"{name} (started at the beginning) ...")
        res, ok, seconds = early[name].result() if name in early else timed(fn)
        res = {"ok": ok, "step_seconds": round(seconds, 2), **res}
        report["steps"][name] = res
        report["total_seconds"] = round(time.perf_counter() - t_all, 2)
        atomic_write_text(out_path, json.dumps(report, indent=1, default=str) + "\n")  # readable if cut short
        why = "" if ok else f" ({res.get('error') or res.get('output_tail', '')[-300:]})"
        _log(f"{name}: {'ok' if ok else 'FAILED'} in {res['step_seconds']} s{why}")
        if not ok:
            failed.append(name)
    if pool is not None:
        pool.shutdown()
    _log(f"wrote {out_path} ({report['total_seconds']} s); failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
