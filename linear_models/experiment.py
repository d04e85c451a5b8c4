"""One training run of a linear model, from a typed configuration to a JSON-ready result.

:class:`LinearRunConfig` holds the typed defaults; :meth:`LinearRunConfig.resolve` fills every
``None`` with the concrete value it stands for (the paper's scalings of
``theory.model.paper_config``) and blanks the fields that do not apply, so that equal
runs have equal resolved configurations and equal cache keys (:func:`config_key`).
:func:`run` trains and evaluates; it never reads or writes files.

Units. ``lr`` is in units of 1/λ_ref and ``init_scale`` in units of √λ_ref, where λ_ref is
the largest eigenvalue over clients of the population matrix that sets the curvature:
X_i of the objective (pair methods, ``theory.xmatrix.exact_x``) or Σ_aa,i = E[a aᵀ]
(MAE, ``theory.mae.mask_moments``). This keeps one step size stable across d.

Seeds. One run seed feeds named streams: the data (``theory.sampler.draw_client_samples``
with that seed), the graph (``theory.graphs.parse_graph`` with that seed), and the JAX keys
``fold_in(key(seed), LINEAR.number(name))`` of the :data:`LINEAR` registry
(:class:`theory.seeds.Streams`): "init" (0, initialisation), "steps" (1, batches and views),
"client-sampling" (2, FedAvg's participants).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from theory import graphs
from theory.aggregate import aggregate, fl_weights
from theory.errors import ParameterError, require
from theory.frameworks import as_algorithm
from theory.io import jsonable
from theory.mae import mask_moments, reconstruction_optimum
from theory.model import DEFAULT_MASK_RATIO, NonIIDModelConfig, paper_config
from theory.moments import second_moment
from theory.rv import DEFAULT_RTOL, sensitivity_from_bounds, solution_subspace
from theory.sampler import draw_client_samples
from theory.seeds import Streams
from theory.structured import BlockScalar, as_dense, weighted_sum
from theory.xmatrix import augmentation_matrix, exact_x, mim_mask_expected

from . import _jax
from . import metrics as mx
from .distributed import FRAMEWORKS, GOSSIP_VARIANTS, RunOutput, Schedule, compress, run_fedavg, run_gossip, run_local
from .objectives import METHODS, init_params, representation_rows
from .optim import OPTIMIZERS
from .solvers import DECAYS, Data, StepSpec, subspace_rows

SCHEMA_VERSION = 1
MAX_LOG_POINTS = 50  # logging points of the global model (and its consensus distance)
MAX_CLIENT_LOG_POINTS = 10  # of them, the ones where every client's RV is recorded too

# Training budgets per objective, measured at d = 512, N = 20 (c = 40) so that SGD reaches
# the optimum of the sample (Gram error to the augmentation-averaged optimum below ~5%):
# MIM's minimiser has rank 1 and a large gap, so a small init and 150 steps suffice; CL's
# class directions have eigenvalues about 1/N of the largest, so growth from a small init
# takes ~N times longer: CL starts from rows of norm √λ_ref and runs 300 steps. MAE's
# product W_d W_e needs a small init to start near the saddle it escapes along the data.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "MIM": {"rounds": 150, "batch": 32, "lr": 0.2, "init_scale": 1e-3},
    "CL1": {"rounds": 300, "batch": 16, "lr": 0.3, "init_scale": 1.0},
    "CL2": {"rounds": 300, "batch": 16, "lr": 0.3, "init_scale": 1.0},
    "MAE": {"rounds": 300, "batch": 32, "lr": 0.1, "init_scale": 1e-3},
}
LINEAR = Streams("linear_models", {"init": 0, "steps": 1, "client-sampling": 2})
"""The run's JAX streams; only the numbers are used (folded into ``jax.random.key(seed)``)."""


def stream_key(root: jax.Array, name: str) -> jax.Array:
    """The JAX key of stream ``name`` of :data:`LINEAR` under the run's root key."""
    return jax.random.fold_in(root, LINEAR.number(name))


@dataclass(frozen=True)
class LinearRunConfig:
    """Typed defaults of one run; ``None`` means "derived" (see :meth:`resolve`)."""

    method: str = "MIM"  # MIM, CL1, CL2 (pair form) or MAE (Eq. 3)
    framework: str = "gossip"  # local, fedavg or gossip (or decl, fl: theory.frameworks maps them)
    d: int = 512
    n_clients: Optional[int] = None  # None: ceil(4 d^(1/20)) (theory.model.default_n_clients)
    c: Optional[int] = None  # None: 2N
    p: Optional[float] = DEFAULT_MASK_RATIO  # mask ratio (MIM, MAE only)
    n_frequent: Optional[int] = None  # samples per frequent class; None: d
    n_rare: Optional[int] = None  # samples of the rare class; None: ceil(sqrt(d))
    q_mode: str = "per-sample"
    rare_axis: str = "class-index"
    augmentation: str = "blur"  # H of CL2
    tau: Optional[float] = None  # class offset τ; None: d^(1/5)
    mu: Optional[float] = None  # noise scale μ; None: d^(-1/5)
    graph: Optional[str] = "ring"  # gossip only: a theory.graphs.parse_graph spec
    mixing: Optional[str] = "uniform"  # gossip only: uniform, data-size or metropolis
    variant: Optional[str] = "atc"  # gossip only: atc or dpsgd
    participation: Optional[float] = 1.0  # fedavg only: fraction of clients per round
    seed: int = 0
    rounds: Optional[int] = None  # communication rounds (local: rounds of local steps); None: METHOD_DEFAULTS
    local_steps: int = 1  # SGD steps per round
    batch: Optional[int] = None  # samples per minibatch; None: METHOD_DEFAULTS
    optimizer: str = "sgd"
    lr: Optional[float] = None  # units of 1/λ_ref; None: METHOD_DEFAULTS
    decay: str = "cosine"  # step-size schedule: constant, or cosine down to 1% over the run
    init_scale: Optional[float] = None  # initial row norm, units of √λ_ref; None: METHOD_DEFAULTS
    rank_rtol: float = mx.DEFAULT_RANK_RTOL
    log_every: Optional[int] = None  # None: the smallest divisor of rounds giving <= 50 logs
    data_optimum: bool = True  # also solve the augmentation-averaged objective of the sample

    # ---- validation and resolution ------------------------------------------
    def resolve(self) -> "LinearRunConfig":
        """A copy with every derived field concrete and the inapplicable ones set to None.

        Raises :class:`theory.errors.ParameterError` naming the parameter and its range.
        """
        require(self.method in METHODS, "method", f"one of {METHODS}", self.method)
        defaults = METHOD_DEFAULTS[self.method]
        if any(getattr(self, k) is None for k in defaults):
            return replace(self, **{k: v if getattr(self, k) is None else getattr(self, k)
                                    for k, v in defaults.items()}).resolve()
        if self.framework not in FRAMEWORKS:  # the paper's name (decl, fl): its algorithm (theory.frameworks)
            return replace(self, framework=as_algorithm(self.framework)).resolve()
        require(isinstance(self.d, int) and self.d >= 8, "d", "an integer >= 8", self.d)
        require(int(self.rounds) >= 1, "rounds", "an integer >= 1", self.rounds)  # type: ignore[arg-type]
        require(self.local_steps >= 1, "local_steps", "an integer >= 1", self.local_steps)
        require(int(self.batch) >= 1, "batch", "an integer >= 1", self.batch)  # type: ignore[arg-type]
        require(self.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}", self.optimizer)
        init = float(self.init_scale)  # type: ignore[arg-type]
        require(init > 0 and math.isfinite(init), "init_scale", "a finite number > 0 (units of √λ_ref)", self.init_scale)
        require(0 < self.rank_rtol < 1, "rank_rtol", "in (0, 1)", self.rank_rtol)
        require(self.seed >= 0, "seed", "an integer >= 0", self.seed)
        lr = float(self.lr)  # type: ignore[arg-type]
        require(self.decay in DECAYS, "decay", f"one of {DECAYS}", self.decay)
        require(lr > 0 and math.isfinite(lr), "lr", "a finite number > 0 (units of 1/λ_ref)", self.lr)
        uses_mask = self.method in ("MIM", "MAE")
        p = float(DEFAULT_MASK_RATIO if self.p is None else self.p)
        require(0 < p < 1, "p", "in the open interval (0, 1)", self.p)
        cfg = paper_config(self.d, n_clients=self.n_clients, c=self.c, p=p, tau=self.tau, mu=self.mu,
                           n_frequent=self.n_frequent, n_rare=self.n_rare, rare_axis=self.rare_axis,  # type: ignore[arg-type]
                           q_mode=self.q_mode, augmentation=self.augmentation)  # type: ignore[arg-type]
        rounds = int(self.rounds)  # type: ignore[arg-type]
        log_every = self.log_every
        if log_every is None:
            log_every = next(k for k in range(1, rounds + 1) if rounds % k == 0 and rounds // k <= MAX_LOG_POINTS)
        require(1 <= log_every <= rounds and rounds % log_every == 0, "log_every",
                f"a divisor of rounds={rounds}", log_every)
        gossip, fedavg = self.framework == "gossip", self.framework == "fedavg"
        if gossip:
            require(self.graph is not None, "graph", f"one of {graphs.GRAPH_SPECS}", self.graph)
            require(self.mixing in graphs.MIXING_RULES, "mixing", f"one of {graphs.MIXING_RULES}", self.mixing)
            require(self.variant in GOSSIP_VARIANTS, "variant", f"one of {GOSSIP_VARIANTS}", self.variant)
            graphs.parse_graph(str(self.graph), cfg.n_clients, self.seed)  # validates the spec for this N
        if fedavg:
            part = 1.0 if self.participation is None else float(self.participation)
            require(0 < part <= 1, "participation", "a fraction in (0, 1]", self.participation)
        return replace(
            self, d=cfg.d, n_clients=cfg.n_clients, c=cfg.c, p=p if uses_mask else None,
            n_frequent=cfg.n_frequent, n_rare=cfg.n_rare, lr=lr, log_every=log_every, init_scale=init,
            tau=cfg.tau, mu=cfg.mu,
            augmentation=self.augmentation if self.method == "CL2" else "blur",
            graph=self.graph if gossip else None, mixing=self.mixing if gossip else None,
            variant=self.variant if gossip else None,
            participation=(1.0 if self.participation is None else float(self.participation)) if fedavg else None,
        )

    def model_config(self) -> NonIIDModelConfig:
        """The ``theory`` model configuration of a resolved run."""
        return paper_config(self.d, n_clients=self.n_clients, c=self.c, tau=self.tau, mu=self.mu,
                            p=DEFAULT_MASK_RATIO if self.p is None else self.p,
                            n_frequent=self.n_frequent, n_rare=self.n_rare, rare_axis=self.rare_axis,  # type: ignore[arg-type]
                            q_mode=self.q_mode, augmentation=self.augmentation)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        return {f.name: f.type for f in fields(cls)}


def config_key(resolved: LinearRunConfig) -> str:
    """Cache key: SHA-256 (16 hex digits) of the resolved configuration and the schema version."""
    text = json.dumps({"schema": SCHEMA_VERSION, **resolved.to_dict()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- inputs
@functools.lru_cache(maxsize=2)
def _sample(cfg: NonIIDModelConfig, seed: int) -> np.ndarray:
    """All client data as one (N, n, d) array (every client has n samples)."""
    return np.stack([cd.x for cd in draw_client_samples(cfg, seed)])


@functools.lru_cache(maxsize=2)
def _sparse_h(cfg: NonIIDModelConfig) -> sps.csr_matrix:
    return sps.csr_matrix(augmentation_matrix(cfg))


def client_data(cfg: NonIIDModelConfig, seed: int, method: str) -> Data:
    """Sampled data in JAX; for CL2 also H x (precomputed with a sparse H)."""
    x = _sample(cfg, seed)  # (N, n, d)
    hx = None
    if method == "CL2":
        h = _sparse_h(cfg)
        hx = jnp.asarray(np.stack([(h @ xi.T).T for xi in x]))  # (N, n, d)
    return Data(jnp.asarray(x), hx)


@functools.lru_cache(maxsize=8)
def population_xs(cfg: NonIIDModelConfig, method: str) -> tuple:
    """Exact per-client matrices: X_i (pair methods) or the second moments M_i (MAE)."""
    if method == "MAE":
        return tuple(second_moment(cfg, i) for i in range(cfg.n_clients))
    return tuple(exact_x(cfg, i, method) for i in range(cfg.n_clients))


def _start(d: int) -> np.ndarray:
    """A fixed Lanczos start vector: ARPACK's default is random, which would make results
    differ in the last digits between reruns."""
    return np.random.default_rng(0).standard_normal(d)


def _lambda_max(x: Any) -> float:
    if isinstance(x, BlockScalar):
        return float(max(np.max(np.linalg.eigvalsh(x.block)), x.bulk))
    a = np.asarray(x)
    return float(spla.eigsh(a, k=1, which="LA", v0=_start(a.shape[0]), return_eigenvectors=False)[0])


@functools.lru_cache(maxsize=8)
def lambda_ref(cfg: NonIIDModelConfig, method: str) -> float:
    """λ_ref of the module docstring."""
    if method == "MAE":
        return max(_lambda_max(mask_moments(cfg, m)[0]) for m in population_xs(cfg, "MAE"))
    if method == "CL2":  # X = ½(H M + M Hᵀ) as an operator: H is sparse, M block ⊕ scalar
        h = _sparse_h(cfg)
        best = 0.0
        for i in range(cfg.n_clients):
            m = second_moment(cfg, i)
            op = spla.LinearOperator((cfg.d, cfg.d), matvec=lambda v, m=m: 0.5 * (h @ _bs_mv(m, v) + _bs_mv(m, h.T @ v)),
                                     dtype=float)
            best = max(best, float(spla.eigsh(op, k=1, which="LA", v0=_start(cfg.d), return_eigenvectors=False)[0]))
        return best
    return max(_lambda_max(x) for x in population_xs(cfg, method))


def _bs_mv(m: BlockScalar, v: np.ndarray) -> np.ndarray:
    v = np.ravel(v)
    out = m.bulk * v
    out[: m.k] = m.block @ v[: m.k]
    return out


@functools.lru_cache(maxsize=8)
def data_xs(cfg: NonIIDModelConfig, seed: int, method: str) -> tuple:
    """Augmentation-averaged matrices of the sample: what training with fresh views sees.

    MIM: ``theory.xmatrix.mim_mask_expected``; CL1: Σ̂ = xᵀx/n (the noise cross terms have
    mean zero); CL2: ½(H Σ̂ + Σ̂ Hᵀ); MAE: Σ̂ itself (as a d x d block for ``theory.mae``).
    """
    x = _sample(cfg, seed)
    out = []
    for xi in x:
        if method == "MIM":
            out.append(mim_mask_expected(cfg, xi))
            continue
        s = xi.T @ xi / xi.shape[0]
        if method == "CL2":
            hs = _sparse_h(cfg) @ s
            s = 0.5 * (hs + hs.T)
        out.append(BlockScalar(s, 0.0, cfg.d) if method == "MAE" else s)
    return tuple(out)


def topology_of(run: LinearRunConfig, cfg: NonIIDModelConfig) -> graphs.Topology | None:
    return graphs.parse_graph(str(run.graph), cfg.n_clients, run.seed) if run.framework == "gossip" else None


def target_weights(run: LinearRunConfig, cfg: NonIIDModelConfig, top: graphs.Topology | None,
                   mixing: np.ndarray | None) -> dict[str, np.ndarray]:
    """Weights of the exact targets: FL 1/N (sizes), gossip π (stationary) and ω (Eq. 1)."""
    sizes = np.full(cfg.n_clients, float(cfg.samples_per_client))
    if run.framework == "fedavg":
        return {"fl": fl_weights(cfg.n_clients, sizes)}
    if run.framework == "gossip":
        assert top is not None and mixing is not None
        return {"pi": graphs.stationary_weights(mixing), "omega": graphs.decl_objective_weights(top)}
    return {f"client:{i}": np.eye(cfg.n_clients)[i] for i in range(cfg.n_clients)}


# --------------------------------------------------------------------------- targets
def _aggregate(mats: tuple, weights: np.ndarray) -> Any:
    return mats[0] if len(mats) == 1 else (weighted_sum(list(mats), weights.tolist()) if
                                           isinstance(mats[0], BlockScalar) else aggregate(list(mats), weights.tolist()))


def _target(cfg: NonIIDModelConfig, method: str, x: Any, rtol: float = DEFAULT_RTOL) -> dict[str, Any]:
    """Subspace, rows and RV bounds of the exact optimum for the (aggregated) matrix ``x``.

    Pair methods: ``theory.rv.solution_subspace(x, c, "minimiser", rtol)``. MAE: ``x`` is a
    second moment and the optimum is ``theory.mae.reconstruction_optimum``.
    """
    keep = mx.kept_coordinates(cfg)
    if method == "MAE":
        opt = reconstruction_optimum(cfg, x)
        rows = np.zeros((opt.encoder_rows.shape[0], cfg.d))
        rows[:, : opt.encoder_rows.shape[1]] = opt.encoder_rows
        sub = opt.subspace
        if sub.well_posed:
            lo = hi = mx.rv(rows, keep, 1e-10) if rows.shape[0] else np.zeros(keep)
        else:
            lo, hi = np.zeros(keep), np.ones(keep)
        return {"subspace": sub, "rows": rows, "fixed_rows": rows if sub.well_posed else rows[:0],
                "rv_low": lo, "rv_high": hi, "gram_comparable": False}
    sub = solution_subspace(x, cfg.c, "minimiser", rtol)
    rows = subspace_rows(sub)
    lo, hi = sub.rv_bounds(range(keep))
    return {"subspace": sub, "rows": rows, "fixed_rows": rows, "rv_low": lo, "rv_high": hi, "gram_comparable": True}


_POP_TARGETS: dict[tuple, dict[str, Any]] = {}


def _population_target(cfg: NonIIDModelConfig, method: str, weights: np.ndarray) -> dict[str, Any]:
    """:func:`_target` of the exact aggregate Σ_j w_j X_j, memoised (it does not depend on the
    seed; for CL2 at large d it is a dense d x d eigenproblem)."""
    key = (cfg, method, np.asarray(weights, dtype=float).round(15).tobytes())
    if key not in _POP_TARGETS:
        if len(_POP_TARGETS) >= 64:
            _POP_TARGETS.clear()
        _POP_TARGETS[key] = _target(cfg, method, _aggregate(population_xs(cfg, method), weights))
    return _POP_TARGETS[key]


def _s_bounds(target: dict[str, Any], sets: dict[str, list[int]]) -> dict[str, Any]:
    return {name: sensitivity_from_bounds(ks, target["rv_low"][ks], target["rv_high"][ks]).to_dict()
            for name, ks in sets.items()}


def _compare(rows: np.ndarray, target: dict[str, Any], sets: dict[str, list[int]], rtol: float) -> dict[str, Any]:
    sub = target["subspace"]
    well = bool(sub.well_posed)
    return {
        "well_posed": well,
        "diagnostic": sub.diagnostic(),
        "rank": int(target["rows"].shape[0]),
        "s": _s_bounds(target, sets),
        "rv_low": target["rv_low"],
        "rv_high": target["rv_high"],
        "fixed_residual": mx.fixed_residual(rows, target["fixed_rows"], rtol),
        "subspace_distance": mx.subspace_distance(rows, target["rows"], rtol) if well else None,
        "gram_error": mx.gram_error(rows, target["rows"]) if (well and target["gram_comparable"]) else None,
    }


def sampling_error(x_hat: np.ndarray, x: Any) -> float:
    """ε = ‖X̂ - X‖_2 (Lanczos on the symmetric difference).

    By Weyl's inequality no eigenvalue moves by more than ε between X and the sample's X̂,
    so an eigengap at the cut below 2ε is not resolved by this sample (``gap_resolved``).
    """
    diff = np.asarray(x_hat, dtype=float) - as_dense(x)
    diff = 0.5 * (diff + diff.T)
    return float(abs(spla.eigsh(diff, k=1, which="LM", v0=_start(diff.shape[0]), return_eigenvectors=False)[0]))


# --------------------------------------------------------------------------- run
def train(run: LinearRunConfig, cfg: NonIIDModelConfig, data: Data, top: graphs.Topology | None,
          mixing: np.ndarray | None) -> RunOutput:
    """The jitted training of a resolved run."""
    lam = lambda_ref(cfg, run.method)
    root = jax.random.key(run.seed)
    params0 = init_params(run.method, stream_key(root, "init"), cfg.c, cfg.d,
                          float(run.init_scale or 0.0) * math.sqrt(lam))
    spec = StepSpec(run.method, run.batch, run.optimizer, run.decay, run.rounds * run.local_steps)
    n = cfg.n_clients
    n_sampled = None
    if run.framework == "fedavg" and run.participation is not None and run.participation < 1:
        n_sampled = max(1, int(round(run.participation * n)))
    sched = Schedule(run.rounds, run.local_steps, int(run.log_every or 1), n_sampled, mx.kept_coordinates(cfg),
                     run.variant or "atc")
    lr = jnp.asarray(float(run.lr or 0.0) / lam)
    p = jnp.asarray(cfg.p)
    key = stream_key(root, "steps")
    if run.framework == "local":
        return run_local(spec, sched, data, params0, key, lr, p)
    if run.framework == "fedavg":
        sizes = jnp.full((n,), float(cfg.samples_per_client))
        return run_fedavg(spec, sched, data, params0, key, stream_key(root, "client-sampling"), sizes, lr, p)
    return run_gossip(spec, sched, data, params0, key, jnp.asarray(mixing), lr, p)


def run(config: LinearRunConfig) -> dict[str, Any]:
    """Train and evaluate one configuration; returns the JSON-ready result (see ``sweep``)."""
    rc = config.resolve()
    cfg = rc.model_config()
    top = topology_of(rc, cfg)
    mixing = graphs.mixing_matrix(top, str(rc.mixing)) if top is not None else None
    data = client_data(cfg, rc.seed, rc.method)
    out = jax.block_until_ready(train(rc, cfg, data, top, mixing))
    if rc.data_optimum:
        data_xs(cfg, rc.seed, rc.method)  # large matrix products: before BLAS is limited to one thread
    with _one_blas_thread():
        return _evaluate(rc, cfg, top, mixing, out)


def _one_blas_thread() -> Any:
    """The evaluation makes hundreds of small LAPACK calls (SVDs of c x (c + keep) snapshots,
    QRs, one partial eigh); on a busy 2-core machine a multi-threaded BLAS spends most of
    that time waiting (measured 5-15x slower), so it runs single-threaded when
    ``threadpoolctl`` is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _evaluate(rc: LinearRunConfig, cfg: NonIIDModelConfig, top: graphs.Topology | None, mixing: np.ndarray | None,
              out: RunOutput) -> dict[str, Any]:
    keep = mx.kept_coordinates(cfg)
    rtol = rc.rank_rtol
    sets = mx.coordinate_sets(cfg)
    hist = jax.tree.map(np.asarray, out.history)
    ids = np.asarray(hist.client_ids)
    local = rc.framework == "local"

    def client_sets(i: int) -> dict[str, list[int]]:
        return mx.coordinate_sets(cfg, client=i)

    # ---- per logging point ----------------------------------------------------
    log_rounds = [(j + 1) * int(rc.log_every or 1) for j in range(ids.shape[0])]
    g_s: dict[str, list[float]] = {k: [] for k in sets}
    g_rank: list[int] = []
    c_s: list[list[dict[str, float]]] = []
    n_logs = ids.shape[0]
    client_points = sorted({n_logs - 1 - (k * n_logs) // MAX_CLIENT_LOG_POINTS for k in range(MAX_CLIENT_LOG_POINTS)}
                           & set(range(n_logs)))
    for j in range(n_logs):
        gsnap = np.asarray(hist.global_snap[j])
        r = mx.rv(gsnap, keep, rtol)
        for k, v in mx.sensitivities(r, sets).items():
            g_s[k].append(v)
        g_rank.append(mx.numerical_rank(gsnap, rtol))
    for j in client_points:
        c_s.append([mx.sensitivities(mx.rv(np.asarray(hist.client_snaps[j, m]), keep, rtol), client_sets(int(ids[j, m])))
                    for m in range(ids.shape[1])])
    history = {
        "round": log_rounds,
        "loss": np.asarray(hist.loss),
        "consensus": np.asarray(hist.consensus),
        "client_ids": ids,
        "client_points": [log_rounds[j] for j in client_points],
        "global_s": None if local else g_s,
        "global_rank": None if local else g_rank,
        "client_s": {k: [[cs[k] for cs in row] for row in c_s] for k in c_s[0][0]},
    }

    # ---- final models against the exact targets ---------------------------------
    client_rows = np.asarray(_rows_all(rc.method, out.client_params))
    global_rows = np.asarray(_rows_all(rc.method, jax.tree.map(lambda leaf: leaf[None], out.global_params)))[0]
    weights = target_weights(rc, cfg, top, mixing)
    pop = population_xs(cfg, rc.method)
    dat = data_xs(cfg, rc.seed, rc.method) if rc.data_optimum else None
    final_ids = ids[-1]

    snaps = np.asarray(_compress_all(client_rows, keep))  # (M, c, keep + c)

    def model_summary(snap: np.ndarray, sets_: dict[str, list[int]]) -> dict[str, Any]:
        r = mx.rv(snap, keep, rtol)
        return {"rv": r, "s": mx.sensitivities(r, sets_), "rank": mx.numerical_rank(snap, rtol),
                "singular_values": mx.singular_values(snap)}

    result_final: dict[str, Any] = {
        "global": None if local else model_summary(np.asarray(_compress_all(global_rows[None], keep))[0], sets),
        "clients": [{"client": int(i), **model_summary(snaps[m], client_sets(int(i)))}
                    for m, i in enumerate(final_ids)],
    }
    exact: dict[str, Any] = {}
    sampled: dict[str, Any] | None = {} if dat is not None else None
    for label, w in weights.items():
        if local:
            i = int(label.split(":")[1])
            m = int(np.flatnonzero(final_ids == i)[0])
            rows, sets_i = client_rows[m], client_sets(i)
            x_pop, x_dat = pop[i], None if dat is None else dat[i]
        else:
            rows, sets_i = global_rows, sets
            x_pop, x_dat = _aggregate(pop, w), None if dat is None else _aggregate(dat, w)
        exact[label] = {"weights": w, **_compare(rows, _population_target(cfg, rc.method, w), sets_i, rtol)}
        if sampled is not None and x_dat is not None and label != "omega":
            sampled[label] = _compare(rows, _target(cfg, rc.method, x_dat), sets_i, rtol)
            if rc.method != "MAE":
                eps = sampling_error(x_dat, x_pop)
                exact[label]["sampling_error"] = eps
                exact[label]["gap_resolved"] = bool(exact[label]["diagnostic"]["eigengap"] > 2 * eps)
    matches = None
    if rc.framework == "gossip":
        matches = _closer(exact["pi"], exact["omega"], weights)
        if rc.method != "MAE":
            t_pi = _population_target(cfg, rc.method, weights["pi"])
            t_om = _population_target(cfg, rc.method, weights["omega"])
            both = t_pi["subspace"].well_posed and t_om["subspace"].well_posed
            matches["target_gram_gap"] = mx.gram_error(t_om["rows"], t_pi["rows"]) if both else None

    res = {
        "schema": SCHEMA_VERSION,
        "key": config_key(rc),
        "config": rc.to_dict(),
        "model": cfg.to_dict(),
        "device": _jax.device_info(),
        "lambda_ref": lambda_ref(cfg, rc.method),
        "coordinate_sets": sets,
        "graph": None if top is None else {
            "name": top.name, "sizes": top.sizes, "mean_connectivity": top.mean_connectivity,
            "is_regular": top.is_regular, "mixing": mixing},
        "history": history,
        "final": result_final,
        "exact": exact,
        "data_optimum": sampled,
        "gossip_fixed_point": matches,
    }
    return jsonable(res)


@functools.partial(jax.jit, static_argnames="method")
def _rows_all(method: str, params: Any) -> jax.Array:
    return jax.vmap(lambda q: representation_rows(method, q))(params)


@functools.partial(jax.jit, static_argnames="keep")
def _compress_all(rows: jax.Array, keep: int) -> jax.Array:
    return jax.vmap(lambda r: compress(r, keep))(rows)


def _closer(pi: dict[str, Any], omega: dict[str, Any], weights: dict[str, np.ndarray]) -> dict[str, Any]:
    """Which exact target the DecL model is closer to (π: gossip stationary, ω: Eq. 1)."""
    same = bool(np.allclose(weights["pi"], weights["omega"], atol=1e-12))
    metric = "gram_error" if pi["gram_error"] is not None and omega["gram_error"] is not None else "fixed_residual"
    dp, do = pi[metric], omega[metric]
    return {"metric": metric, "pi": dp, "omega": do, "weights_equal": same,
            "closer": "equal" if same else ("pi" if dp < do else "omega")}


__all__ = ["LinearRunConfig", "config_key", "run", "train", "client_data", "lambda_ref", "population_xs", "data_xs",
           "target_weights", "topology_of", "ParameterError"]
