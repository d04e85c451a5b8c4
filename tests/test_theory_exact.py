"""Exact analysis of the model: moments, X matrices, RV identities, minimisers, Monte Carlo twins."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from theory import graphs
from theory.errors import ParameterError
from theory.mae import mask_moments, reconstruction_optimum
from theory.model import NonIIDModelConfig, paper_config
from theory.moments import MU, PI_F, PI_R, TAU, second_moment, second_moment_sympy
from theory.rv import minimiser_w, rv_of_rows, sensitivity, solution_subspace
from theory.sampler import draw_client_sample
from theory.structured import BlockScalar, as_dense, weighted_sum
from theory.xmatrix import empirical_x, exact_x, mim_mask_expected, pair_loss, sample_views


@st.composite
def small_configs(draw) -> NonIIDModelConfig:
    n = draw(st.integers(2, 5))
    d = draw(st.integers(2 * n + 2, 40))
    c = draw(st.integers(1, min(d, 2 * n + 2)))
    p = draw(st.floats(0.05, 0.95))
    q_mode = draw(st.sampled_from(["per-sample", "per-class"]))
    rare_axis = draw(st.sampled_from(["class-index", "owner"]))
    aug = draw(st.sampled_from(["blur", "identity", "scale:0.5"]))
    return paper_config(d, n_clients=n, c=c, p=p, q_mode=q_mode, rare_axis=rare_axis, augmentation=aug,
                        seed=draw(st.integers(0, 5)))


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("kwargs,name", [
    ({"c": 600}, "c"), ({"p": 1.0}, "p"), ({"p": 0.0}, "p"), ({"n_clients": 1}, "N"),
    ({"tau": -1.0}, "tau"), ({"rare_classes": (0, 2, 4, 6, 8, 10)}, "rare_classes[0]"),
])
def test_config_errors_name_the_parameter(kwargs, name):
    with pytest.raises(ParameterError) as err:
        paper_config(512, **kwargs)
    assert err.value.name == name


def test_paper_scalings_at_512():
    cfg = paper_config(512)
    assert (cfg.n_clients, cfg.c) == (6, 12)
    assert cfg.tau == pytest.approx(512 ** 0.2) and cfg.mu == pytest.approx(512 ** -0.2)
    assert cfg.samples_per_client == 2 * 512 + 23


# --------------------------------------------------------------------------- moments
def test_sympy_moment_equals_numeric():
    cfg = paper_config(32, n_clients=4, c=8)
    for i in range(4):
        sym = second_moment_sympy(4, i, cfg.rare_axes[i], support=cfg.support_size)
        num = sym.subs({TAU: cfg.tau, MU: cfg.mu, PI_F: cfg.frequent_weight, PI_R: cfg.rare_weight})
        np.testing.assert_allclose(np.array(num, dtype=float), second_moment(cfg, i).block, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("q_mode", ["per-sample", "per-class"])
def test_moment_matches_monte_carlo(q_mode):
    # Tolerance per entry: K_SIGMA standard errors of the Monte Carlo mean of x_k x_l, from the
    # samples' own second moments of x_k x_l (entries with larger fourth moments get wider bounds).
    cfg = paper_config(24, n_clients=3, c=6, q_mode=q_mode)
    scale = 10000
    x = draw_client_sample(cfg, 1, seed=3, n_frequent=cfg.n_frequent * scale, n_rare=cfg.n_rare * scale).x
    mc, se = _pair_mean_and_se(x, x)
    exact = second_moment(cfg, 1).dense()
    tol = K_SIGMA * se
    worst = np.max(np.abs(mc - exact) / tol)
    assert worst <= 1.0, f"Monte Carlo second moment {worst:.2f} tolerances ({K_SIGMA:g} SE) off the exact one"
    _assert_power_against_factor_two(exact, tol)


# --------------------------------------------------------------------------- X matrices
# Monte Carlo tolerances: K_SIGMA standard errors of each entry's estimator, the standard errors
# computed from the samples themselves. With K_SIGMA = 6 the two-sided Gaussian tail is 2e-9 per
# entry, so a few thousand entries per test keep a false alarm below 1e-5 (the draws are seeded).
K_SIGMA = 6.0


def _pair_mean_and_se(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over samples j of Z_j = ½(b_j a_jᵀ + a_j b_jᵀ) and the standard error of each entry.

    Σ_j Z_j,kl² = ¼ Σ_j (b_k² a_l² + 2 a_k b_k a_l b_l + a_k² b_l²), so no (n, d, d) array is built.
    """
    n = a.shape[0]
    mean = 0.5 * (b.T @ a + a.T @ b) / n
    sq = 0.25 * ((b * b).T @ (a * a) + 2.0 * (a * b).T @ (a * b) + (a * a).T @ (b * b)) / n
    var = np.clip(sq - mean**2, 0.0, None) * n / (n - 1)
    return mean, np.sqrt(var / n)


def _assert_power_against_factor_two(exact: np.ndarray, tol: np.ndarray) -> None:
    """The test can see a factor-2 error: some non-zero entry exceeds twice its tolerance."""
    assert np.any(np.abs(exact) > 2.0 * tol), "Monte Carlo too noisy to detect a factor-2 error"


@pytest.mark.parametrize("objective", ["MIM", "CL1", "CL2"])
def test_exact_x_matches_monte_carlo(objective):
    # one view pair per sample, n = 450k samples; the tolerance of each entry is K_SIGMA standard
    # errors of its own estimator (the sample variance of the per-sample ½(b aᵀ + a bᵀ) entries)
    cfg = paper_config(20, n_clients=3, c=6)
    scale = 10000
    x = draw_client_sample(cfg, 0, seed=4, n_frequent=cfg.n_frequent * scale, n_rare=cfg.n_rare * scale).x
    a, b = sample_views(cfg, x, objective, np.random.default_rng(5))
    est, se = _pair_mean_and_se(a, b)
    exact = as_dense(exact_x(cfg, 0, objective))
    tol = K_SIGMA * se + 1e-12
    # every non-zero entry is resolved: a factor-2 error in any of them exceeds its tolerance
    nonzero = np.abs(exact) > 1e-9
    assert np.all(tol[nonzero] < 0.5 * np.abs(exact[nonzero])), (tol[nonzero] / np.abs(exact[nonzero])).max()
    worst = float(np.max(np.abs(est - exact) / tol))
    assert worst <= 1.0, f"exact X is {worst:.1f} tolerances ({K_SIGMA:g} standard errors) off the Monte Carlo"
    # empirical_x draws the same views from the same stream and averages them the same way
    np.testing.assert_allclose(empirical_x(cfg, x, objective, np.random.default_rng(5)), est, rtol=1e-12, atol=1e-13)


def test_mim_x_is_hollow_and_has_one_positive_eigenvalue():
    cfg = paper_config(512)
    x = exact_x(cfg, 0, "MIM")
    xd = as_dense(x)
    assert np.all(np.diag(xd) == 0.0)
    vals = np.linalg.eigvalsh(x.block)
    assert int(np.sum(vals > 1e-9)) == 1  # per-sample q: (J - I) on [N]∖{i}
    # pinned: the positive eigenvalue is p(1-p)·2π_f(τ²/4)(N-2)
    lam = cfg.p * (1 - cfg.p) * 2 * cfg.frequent_weight * cfg.tau**2 / 4 * (cfg.n_clients - 2)
    assert vals.max() == pytest.approx(lam, rel=1e-12)


def _population_root(cfg: NonIIDModelConfig) -> np.ndarray:
    """d rows x_j with (1/d) Σ_j x_j x_jᵀ = M_0: the population as a sample (symmetric square root)."""
    vals, vecs = np.linalg.eigh(second_moment(cfg, 0).dense())
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T * np.sqrt(cfg.d)


@settings(max_examples=30)
@given(small_configs())
def test_mask_expectation_matches_exact_on_population(cfg):
    # masks drawn here from the definition of Eq. 4 (a = x ⊙ m, b = x ⊙ (1 - m), P(m_k = 0) = p),
    # R times for one fixed sample whose second moment is the population M_0; the average of the
    # R empirical X's estimates E_m[X̂], with the standard error of each entry from its R values
    x = _population_root(cfg)
    np.testing.assert_allclose(x.T @ x / cfg.d, second_moment(cfg, 0).dense(), atol=1e-10)
    reps = 1000
    rng = np.random.default_rng([cfg.seed, cfg.d, cfg.n_clients])
    keep = (rng.random((reps,) + x.shape) >= cfg.p).astype(float)
    a, b = x * keep, x * (1.0 - keep)
    ba = np.matmul(b.transpose(0, 2, 1), a) / cfg.d
    xs = 0.5 * (ba + ba.transpose(0, 2, 1))  # (R, d, d)
    mc, se = xs.mean(axis=0), xs.std(axis=0, ddof=1) / np.sqrt(reps)
    tol = K_SIGMA * se + 1e-12
    exact = as_dense(exact_x(cfg, 0, "MIM"))
    formula = mim_mask_expected(cfg, x)
    worst = float(np.max(np.abs(mc - formula) / tol))
    assert worst <= 1.0, f"mim_mask_expected is {worst:.1f} tolerances off the sampled masks"
    worst = float(np.max(np.abs(mc - exact) / tol))
    assert worst <= 1.0, f"exact X^M is {worst:.1f} tolerances off the sampled masks"
    if np.any(np.abs(exact) > 1e-9):  # X^M = 0 e.g. for N = 2 with per-sample q
        _assert_power_against_factor_two(exact, tol)


# --------------------------------------------------------------------------- RV and minimisers
_RTOL = 1e-9  # the tie tolerance of theory.rv (DEFAULT_RTOL), relative to max |λ|


def _dense_minimiser_parts(xd: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Written here from the definition, on a plain dense eigh: the global minimisers of
    L(W) = -tr(W X Wᵀ) + ½‖WᵀW‖² are the W with WᵀW = Σ λ_j v_j v_jᵀ over the top min(c, #λ > 0)
    eigenpairs. Returns (λ above the cut's tie cluster, their vectors, λ of the cluster, its
    vectors, dimensions taken from the cluster); the cluster is empty when the choice is unique."""
    vals, vecs = np.linalg.eigh(xd)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    tol = _RTOL * np.max(np.abs(vals))
    target = min(c, int(np.sum(vals > tol)))
    if target == 0:
        return vals[:0], vecs[:, :0], vals[:0], vecs[:, :0], 0
    lam_c = vals[target - 1]
    above = vals > lam_c + tol
    cluster = np.abs(vals - lam_c) <= tol
    n_above = int(above.sum())
    if n_above + int(cluster.sum()) == target:  # the whole cluster is taken: unique
        return vals[:target], vecs[:, :target], vals[:0], vecs[:, :0], 0
    return vals[above], vecs[:, above], vals[cluster], vecs[:, cluster], target - n_above


@given(small_configs(), st.sampled_from(["MIM", "CL1", "CL2"]))
def test_rv_sums_to_rank_and_lies_in_unit_interval(cfg, objective):
    x = exact_x(cfg, 0, objective)
    sub = solution_subspace(x, cfg.c, "minimiser")
    lo, hi = sub.rv_bounds()
    assert np.all(lo >= -1e-12) and np.all(hi <= 1 + 1e-12) and np.all(lo <= hi + 1e-15)
    if sub.well_posed:
        assert lo.sum() == pytest.approx(sub.rank, abs=1e-9)
    else:
        assert lo.sum() <= sub.rank + 1e-9 <= hi.sum() + 2e-9
    # ... and they are the RV of the right subspace: against a plain dense eigh written above
    _, v_fix, _, v_tie, n_tie = _dense_minimiser_parts(as_dense(x), cfg.c)
    assert sub.well_posed == (n_tie == 0) and sub.n_from_tie == n_tie
    ref_lo = np.sum(v_fix**2, axis=1)
    ref_hi = ref_lo + np.sum(v_tie**2, axis=1)
    np.testing.assert_allclose(lo, ref_lo, atol=1e-7)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-7)
    if objective == "MIM" and cfg.q_mode == "per-sample":
        # known answer: X^M = a (J - I) on the other class axes [N]∖{0} (a > 0), whose one positive
        # eigenvector is uniform there: r = 1/(N-1) on [N]∖{0} and 0 elsewhere (r = 0 if N = 2: X^M = 0)
        n = cfg.n_clients
        expected = np.zeros(cfg.d)
        if n > 2:
            expected[1:n] = 1.0 / (n - 1)
        np.testing.assert_allclose(lo, expected, atol=1e-12)
        assert sub.well_posed and sub.rank == (1 if n > 2 else 0)


# a tie at the cut: CL1 on client 0 with N = 4, rare axes outside [N]; the class block on
# [N]∖{0} is 2π_f (τ²/4)(J + I) + μ² I, whose eigenvalue 2π_f τ²/4 + μ² has multiplicity 2, and
# c = 3 takes one of the two
_TIED = paper_config(20, n_clients=4, c=3, rare_classes=(6, 6, 6, 0))


@given(small_configs(), st.sampled_from(["MIM", "CL1"]))
@example(_TIED, "CL1")
def test_minimiser_beats_perturbations_and_rv_matches_rows(cfg, objective):
    x = exact_x(cfg, 0, objective)
    xd = as_dense(x)
    sub = solution_subspace(x, cfg.c, "minimiser")
    lam_fix, v_fix, lam_tie, v_tie, n_tie = _dense_minimiser_parts(xd, cfg.c)
    best = -0.5 * (np.sum(lam_fix**2) + n_tie * (lam_tie[0] ** 2 if n_tie else 0.0))  # -½ Σ selected λ²
    if sub.well_posed:
        w = minimiser_w(x, cfg.c)
        assert pair_loss(x, w) == pytest.approx(best, abs=1e-9)
        rng = np.random.default_rng(0)
        for _ in range(5):
            assert pair_loss(x, w + 1e-3 * rng.standard_normal(w.shape)) >= pair_loss(x, w) - 1e-12
        np.testing.assert_allclose(rv_of_rows(w), sub.rv_bounds()[0], atol=1e-9)
        # loss identity: L(W) = ½‖X - WᵀW‖² - ½‖X‖²
        g = w.T @ w
        assert pair_loss(x, w) == pytest.approx(0.5 * np.sum((xd - g) ** 2) - 0.5 * np.sum(xd**2), abs=1e-9)
        return
    # tie: the minimiser is not unique. Build minimisers here (the eigenpairs above the cluster
    # plus n_tie orthonormal directions of the tied eigenspace T) and check that the reported
    # interval [lo_k, hi_k] is exactly the range of r_k over them: hi_k with the direction of
    # Π_T e_k taken, lo_k with it avoided (possible because n_tie < dim T)
    assert 0 < n_tie < v_tie.shape[1] and sub.n_from_tie == n_tie and sub.tie_dim == v_tie.shape[1]
    lo, hi = sub.rv_bounds()
    rows_fix = np.sqrt(lam_fix)[:, None] * v_fix.T
    lam = lam_tie[0]
    k = int(np.argmax(np.sum(v_tie**2, axis=1)))  # the coordinate the tie moves most
    u = v_tie.T[:, k] / np.linalg.norm(v_tie[k])  # Π_T e_k in the basis of T
    basis, _ = np.linalg.qr(np.column_stack([u, np.random.default_rng(1).standard_normal((len(u), len(u) - 1))]))
    for cols, end in ((basis[:, :n_tie], "high"), (basis[:, 1 : n_tie + 1], "low")):
        w = np.vstack([rows_fix, np.sqrt(lam) * (v_tie @ cols).T])
        assert pair_loss(xd, w) == pytest.approx(best, abs=1e-9)  # a global minimiser
        r = rv_of_rows(w)
        assert np.all(r >= lo - 1e-9) and np.all(r <= hi + 1e-9)
        assert r[k] == pytest.approx(hi[k] if end == "high" else lo[k], abs=1e-9)
    assert hi[k] - lo[k] > 1e-6  # the interval is not a point


def test_tie_is_reported_not_resolved():
    x = BlockScalar(np.diag([3.0, 2.0, 1.0]), 1.0, 10)  # λ = 1 has multiplicity 8
    sub = solution_subspace(x, 3, "top-c")
    assert not sub.well_posed and sub.tie_dim == 8 and sub.n_from_tie == 1
    s = sensitivity(sub, [0, 1, 2, 3])
    assert not s.well_posed and s.value is None
    assert s.low == pytest.approx(0.0) and s.high == pytest.approx(1.0)
    assert solution_subspace(x, 2, "top-c").well_posed


def test_decl_equals_fl_on_regular_graphs_and_not_on_a_path():
    cfg = paper_config(64, n_clients=5, c=10)
    xs = [exact_x(cfg, i, "CL1") for i in range(5)]
    fl = weighted_sum(xs, [0.2] * 5)
    ring = weighted_sum(xs, graphs.decl_objective_weights(graphs.ring(5)).tolist())
    path = weighted_sum(xs, graphs.decl_objective_weights(graphs.path(5)).tolist())
    np.testing.assert_allclose(as_dense(ring), as_dense(fl), atol=1e-13)
    assert np.max(np.abs(as_dense(path) - as_dense(fl))) > 1e-3


# --------------------------------------------------------------------------- Eq. 3
def test_reconstruction_optimum_matches_monte_carlo_loss():
    # the optimal loss is an average of n = 720k per-sample losses with standard deviation
    # about 3.4 (measured), so its standard error is about 0.004; allow 5 sigma
    cfg = paper_config(16, n_clients=3, c=4)
    m = second_moment(cfg, 0)
    opt = reconstruction_optimum(cfg, m)
    saa, sba, _ = mask_moments(cfg, m)
    s_aa, s_ba = saa.dense(), sba.dense()
    fitted = s_ba @ np.linalg.inv(s_aa) @ s_ba.T
    vals, vecs = np.linalg.eigh(fitted)
    u = vecs[:, ::-1][:, : cfg.c]
    a = u @ u.T @ s_ba @ np.linalg.inv(s_aa)
    x = draw_client_sample(cfg, 0, seed=1, n_frequent=cfg.n_frequent * 20000, n_rare=cfg.n_rare * 20000).x
    keep = np.random.default_rng(0).random(x.shape) >= cfg.p
    loss = np.sum((x * keep @ a.T - x * (1 - keep)) ** 2, axis=1)
    assert loss.mean() == pytest.approx(opt.min_loss, abs=5 * loss.std() / np.sqrt(len(loss)))


def test_eq3_and_eq4_disagree_pinned():
    # counterexample pinned at d = 512: Eq. 4 (alignment) learns a rank-1 subspace with r = 1/(N-1)
    # on the other clients' axes, Eq. 3 (reconstruction) the whole block [N]∖{i} with r = 1
    cfg = paper_config(512)
    m = second_moment(cfg, 0)
    r3 = reconstruction_optimum(cfg, m).rv(list(range(cfg.n_clients)))
    r4 = solution_subspace(exact_x(cfg, 0, "MIM"), cfg.c).rv(list(range(cfg.n_clients)))
    np.testing.assert_allclose(r3, [0, 1, 1, 1, 1, 1], atol=1e-10)
    np.testing.assert_allclose(r4, [0, 0.2, 0.2, 0.2, 0.2, 0.2], atol=1e-12)


def test_sympy_moment_offdiagonal_is_tau_squared_over_four_times_two_pi_f():
    m = second_moment_sympy(3, 0, rare_axis=2)
    assert sp.simplify(m[1, 2] - PI_F * TAU**2 / 2) == 0
    assert sp.simplify(m[1, 1] - (PI_F * TAU**2 + MU**2)) == 0


def test_spectral_norm_of_dense_matrices_matches_the_full_spectrum() -> None:
    from theory.structured import spectral_norm

    rng = np.random.default_rng(5)
    for d in (40, 300):
        a = rng.standard_normal((d, d))
        a = a + a.T
        a[0, 0] -= 3 * np.sqrt(d) * 2  # the largest |eigenvalue| is negative
        ref = float(np.max(np.abs(np.linalg.eigvalsh(a))))
        assert spectral_norm(a) == pytest.approx(ref, rel=1e-11)
