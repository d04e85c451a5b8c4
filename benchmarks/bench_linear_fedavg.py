"""Benchmark: FedAvg training of the linear MIM model, JAX (linear_models) against plain NumPy.

Both implement the same algorithm: every round all N clients start from the global W
(c x d), run E minibatch SGD steps of the MIM alignment loss (Eq. 4) with fresh masks
(P(m_k = 0) = p) on B samples drawn with replacement, and the server averages the local
models weighted by client size. float64 throughout; the NumPy version loops over rounds,
clients and steps with vectorised batch operations and the same closed-form gradient.

Each (implementation, d, N) point runs in its own subprocess so that peak memory is its
own: ``resource.getrusage`` max RSS for both, and ``tracemalloc`` peak of the NumPy
version's Python/NumPy allocations. JAX is timed twice: the first call includes tracing
and XLA compilation, the second is the steady state. Both run on ONE thread (BLAS and XLA
thread pools limited through the environment of the subprocesses) unless ``--threads``.

Same computation: before timing, ``--check`` (on by default) runs the NumPy reference on
the SAME random draws as JAX (batch indices and masks generated with JAX's keys exactly as
``linear_models.solvers.client_steps`` derives them) for a few rounds and compares the
final global models: they agree to rounding (relative error ~1e-15), so the timed NumPy
loop is the same algorithm, with numpy's own generator.

The training is compute-bound in both: a local step costs 8 B d c + 4 c² d flops (8.5
MFLOP at d = 512, c = 40, B = 32; 85 GFLOP for the whole d=512, N=20 run), so the table
also prints the achieved GFLOP/s and the CPU-time / wall-time ratio (1.0: one thread).

    python benchmarks/bench_linear_fedavg.py            # the table (d=512, N=20, c=2N, 100 rounds)
    python benchmarks/bench_linear_fedavg.py --quick    # fewer points
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LOCAL_STEPS = 5
BATCH = 32
ROUNDS = 100
P_MASK = 0.75


def _data(d: int, n_clients: int) -> tuple[np.ndarray, float]:
    sys.path.insert(0, str(ROOT))
    from theory.model import paper_config
    from theory.sampler import draw_client_samples
    from theory.xmatrix import exact_x

    cfg = paper_config(d, n_clients=n_clients)
    x = np.stack([cd.x for cd in draw_client_samples(cfg, seed=0)])  # (N, n, d)
    lam = max(float(np.max(np.linalg.eigvalsh(exact_x(cfg, i, "MIM").block))) for i in range(n_clients))
    return x, 0.2 / lam


def numpy_fedavg(x: np.ndarray, w0: np.ndarray, lr: float, rounds: int, seed: int = 0,
                 draws: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The reference: loops over rounds, clients and local steps.

    ``draws`` = (indices (R, N, E, B), keep masks (R, N, E, B, d)) replaces numpy's generator
    (to compare with JAX on identical randomness)."""
    rng = np.random.default_rng(seed)
    n_clients, n, d = x.shape
    sizes = np.full(n_clients, float(n))
    w = w0.copy()
    for r in range(rounds):
        local = []
        for i in range(n_clients):
            wi = w.copy()
            for e in range(LOCAL_STEPS):
                if draws is None:
                    xb = x[i, rng.integers(0, n, BATCH)]  # (B, d)
                    keep = rng.random(xb.shape) >= P_MASK
                else:
                    xb, keep = x[i, draws[0][r, i, e]], draws[1][r, i, e]
                a, b = xb * keep, xb * ~keep
                za, zb = a @ wi.T, b @ wi.T  # (B, c)
                grad = -(zb.T @ a + za.T @ b) / BATCH + 2.0 * (wi @ wi.T) @ wi
                wi -= lr * grad
            local.append(wi)
        w = np.tensordot(sizes / sizes.sum(), np.stack(local), axes=1)
    return w


def jax_draws(n_clients: int, n: int, d: int, rounds: int, key_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The batch indices and MIM keep-masks that run_fedavg draws with key(key_seed) (full
    participation): client key fold_in(key, i), step key fold_in(client key, r E + e), split
    into (batch key, view key); see linear_models.solvers.client_steps and objectives.views."""
    import jax
    import jax.numpy as jnp

    import linear_models._jax  # noqa: F401  (float64, as in training)

    def one(i: jax.Array, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        kb, kv = jax.random.split(jax.random.fold_in(jax.random.fold_in(jax.random.key(key_seed), i), step))
        idx = jax.random.randint(kb, (BATCH,), 0, n)
        keep = jax.random.uniform(kv, (BATCH, d), dtype=jnp.float64) >= P_MASK
        return idx, keep

    steps = jnp.arange(rounds * LOCAL_STEPS).reshape(rounds, 1, LOCAL_STEPS)
    clients = jnp.arange(n_clients).reshape(1, n_clients, 1)
    fn = jax.vmap(jax.vmap(jax.vmap(one, (None, 0)), (0, None)), (None, 0))
    idx, keep = fn(clients[0, :, 0], steps[:, 0, :])
    return np.asarray(idx), np.asarray(keep)


def check_same(d: int, n_clients: int, rounds: int) -> dict:
    """Final global model of JAX's run_fedavg against the NumPy reference on JAX's draws."""
    import jax
    import jax.numpy as jnp

    from linear_models.distributed import Schedule, run_fedavg
    from linear_models.solvers import Data, StepSpec

    x, lr = _data(d, n_clients)
    c = 2 * n_clients
    w0 = 1e-3 * np.random.default_rng(1).standard_normal((c, d)) / np.sqrt(d)
    out = run_fedavg(StepSpec("MIM", BATCH, "sgd"), Schedule(rounds=rounds, local_steps=LOCAL_STEPS, log_every=rounds,
                                                              keep=c),
                     Data(jnp.asarray(x), None), jnp.asarray(w0), jax.random.key(0), jax.random.key(1),
                     jnp.full((n_clients,), float(x.shape[1])), jnp.asarray(lr), jnp.asarray(P_MASK))
    w_jax = np.asarray(out.global_params)
    w_np = numpy_fedavg(x, w0, lr, rounds, draws=jax_draws(n_clients, x.shape[1], d, rounds))
    rel = float(np.linalg.norm(w_jax - w_np) / np.linalg.norm(w_np))
    moved = float(np.linalg.norm(w_np - w0) / np.linalg.norm(w0))
    return {"d": d, "N": n_clients, "rounds": rounds, "relative_difference": rel, "relative_change_from_init": moved}


def flops(d: int, n_clients: int, rounds: int) -> float:
    """Floating-point operations of the training (both implementations): per local step
    Z_a = A Wᵀ, Z_b = B Wᵀ, Z_bᵀ A, Z_aᵀ B (2 B d c each) and W Wᵀ, (W Wᵀ) W (2 c² d each)."""
    c = 2 * n_clients
    return float(rounds * n_clients * LOCAL_STEPS * (8 * BATCH * d * c + 4 * c * c * d))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_point(impl: str, d: int, n_clients: int, rounds: int) -> dict:
    x, lr = _data(d, n_clients)
    c = 2 * n_clients
    w0 = 1e-3 * np.random.default_rng(1).standard_normal((c, d)) / np.sqrt(d)
    out: dict = {"impl": impl, "d": d, "N": n_clients, "c": c, "rounds": rounds}
    if impl == "numpy":
        tracemalloc.start()
        t0, c0 = time.perf_counter(), _cpu()
        numpy_fedavg(x, w0, lr, rounds)
        out["seconds"] = time.perf_counter() - t0
        out["cpu_seconds"] = _cpu() - c0
        out["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    else:
        import jax
        import jax.numpy as jnp

        from linear_models.distributed import Schedule, run_fedavg
        from linear_models.solvers import Data, StepSpec

        spec = StepSpec("MIM", BATCH, "sgd")
        sched = Schedule(rounds=rounds, local_steps=LOCAL_STEPS, log_every=rounds, keep=c)
        data = Data(jnp.asarray(x), None)
        args = (spec, sched, data, jnp.asarray(w0), jax.random.key(0), jax.random.key(1),
                jnp.full((n_clients,), float(x.shape[1])), jnp.asarray(lr), jnp.asarray(P_MASK))
        t0 = time.perf_counter()
        jax.block_until_ready(run_fedavg(*args))
        out["seconds_with_compile"] = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), _cpu()
        jax.block_until_ready(run_fedavg(*args))
        out["seconds"] = time.perf_counter() - t0
        out["cpu_seconds"] = _cpu() - c0
        out["device"] = jax.devices()[0].platform
    out["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}


def _subprocess(impl: str, d: int, n_clients: int, rounds: int, threads: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--point", impl, str(d), str(n_clients), str(rounds)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({} if threads else ONE_THREAD)}
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{platform.machine()} {model}, nproc {os.cpu_count()}, load average {load}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="only the main point and two scaling points")
    p.add_argument("--threads", action="store_true", help="let BLAS and XLA use every core (default: one thread)")
    p.add_argument("--no-check", action="store_true", help="skip the JAX-vs-NumPy equality check on shared draws")
    p.add_argument("--point", nargs=4, metavar=("IMPL", "D", "N", "ROUNDS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.point:
        impl, d, n, r = args.point
        if impl == "check":
            print(json.dumps(check_same(int(d), int(n), int(r))))
        else:
            print(json.dumps(run_point(impl, int(d), int(n), int(r))))
        return 0
    print(f"machine: {machine()}; {'all cores' if args.threads else 'one thread per implementation'}")
    if not args.no_check:
        chk = _subprocess("check", 512, 20, 3, args.threads)
        print(f"same computation: d={chk['d']} N={chk['N']} {chk['rounds']} rounds on JAX's draws: "
              f"||W_jax - W_numpy|| / ||W_numpy|| = {chk['relative_difference']:.2e} "
              f"(the model moved by {chk['relative_change_from_init']:.2e} relative to its initialisation)", flush=True)
    points = [(512, 20, ROUNDS)]
    if args.quick:
        points += [(128, 20, ROUNDS), (512, 5, ROUNDS)]
    else:
        points += [(128, 20, ROUNDS), (256, 20, ROUNDS), (1024, 20, ROUNDS), (512, 5, ROUNDS), (512, 10, ROUNDS),
                   (64, 5, ROUNDS)]
    print(f"FedAvg, linear MIM (Eq. 4), float64; E = {LOCAL_STEPS} local SGD steps per round, batch B = {BATCH}, "
          f"full participation, c = 2N")
    head = (f"{'d':>5} {'N':>3} {'c':>3} {'rounds':>6} | {'numpy s':>8} {'jax s':>7} {'jax+compile s':>13} "
            f"{'speed-up':>8} {'speed-up w/ compile':>19} | {'GFLOP':>6} {'numpy GFLOP/s':>13} {'jax GFLOP/s':>11} "
            f"{'cpu/wall np,jax':>15} | {'numpy RSS MiB':>13} {'numpy traced MiB':>16} {'jax RSS MiB':>11}")
    print(head)
    print("-" * len(head))
    for d, n, r in points:
        nres = _subprocess("numpy", d, n, r, args.threads)
        jres = _subprocess("jax", d, n, r, args.threads)
        print(f"{d:>5} {n:>3} {2 * n:>3} {r:>6} | {nres['seconds']:>8.2f} {jres['seconds']:>7.2f} "
              f"{jres['seconds_with_compile']:>13.2f} {nres['seconds'] / jres['seconds']:>8.2f} "
              f"{nres['seconds'] / jres['seconds_with_compile']:>19.2f} | {flops(d, n, r) / 1e9:>6.1f} "
              f"{flops(d, n, r) / 1e9 / nres['seconds']:>13.1f} {flops(d, n, r) / 1e9 / jres['seconds']:>11.1f} "
              f"{nres['cpu_seconds'] / nres['seconds']:>7.2f},{jres['cpu_seconds'] / jres['seconds']:>7.2f} | "
              f"{nres['max_rss_mib']:>13.0f} "
              f"{nres['tracemalloc_peak_mib']:>16.1f} {jres['max_rss_mib']:>11.0f}", flush=True)
    print("load average at the end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
