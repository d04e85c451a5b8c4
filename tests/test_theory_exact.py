"""Exact analysis of the model: moments, X matrices, RV identities, minimisers, Monte Carlo twins."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory import graphs
from theory.errors import ParameterError
from theory.mae import mask_moments, reconstruction_optimum
from theory.model import ModelConfig, paper_config
from theory.moments import MU, PI_F, PI_R, TAU, second_moment, second_moment_sympy
from theory.rv import rv_of_rows, sensitivity, solution_subspace, minimiser_w
from theory.sampler import sample_client
from theory.structured import BlockScalar, as_dense, weighted_sum
from theory.xmatrix import empirical_x, exact_x, mim_mask_expected, pair_loss


@st.composite
def small_configs(draw) -> ModelConfig:
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
    # n = 200k samples; each entry of x xᵀ has variance at most max E[x_k^2 x_l^2] ~ (τ² + 1)² ≈ 30
    # here (d = 24, τ ≈ 1.9), so the standard error is below sqrt(30 / 2e5) ≈ 0.012; allow 5 sigma.
    cfg = paper_config(24, n_clients=3, c=6, q_mode=q_mode)
    scale = 10000
    x = sample_client(cfg, 1, seed=3, n_frequent=cfg.n_frequent * scale, n_rare=cfg.n_rare * scale).x
    mc = x.T @ x / len(x)
    np.testing.assert_allclose(mc, second_moment(cfg, 1).dense(), atol=0.06)


# --------------------------------------------------------------------------- X matrices
@pytest.mark.parametrize("objective", ["MIM", "CL1", "CL2"])
def test_exact_x_matches_monte_carlo(objective):
    # one view pair per sample, n = 240k: entry standard errors are below 0.02 for these
    # second moments (bounded by (τ² + 2)² / n per entry); 5 sigma -> 0.1
    cfg = paper_config(20, n_clients=3, c=6)
    scale = 10000
    x = sample_client(cfg, 0, seed=4, n_frequent=cfg.n_frequent * scale, n_rare=cfg.n_rare * scale).x
    est = empirical_x(cfg, x, objective, np.random.default_rng(5))
    np.testing.assert_allclose(est, as_dense(exact_x(cfg, 0, objective)), atol=0.1)


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


@given(small_configs())
def test_mask_expectation_matches_exact_on_population(cfg):
    # on the exact second moment the mask-expected empirical formula is the exact X
    m = second_moment(cfg, 0).dense()
    m_half = np.linalg.cholesky(m + 1e-12 * np.eye(cfg.d))
    x = m_half.T * np.sqrt(cfg.d)  # rows with xᵀx / n = M
    np.testing.assert_allclose(mim_mask_expected(cfg, x), as_dense(exact_x(cfg, 0, "MIM")), atol=1e-9)


# --------------------------------------------------------------------------- RV and minimisers
@given(small_configs(), st.sampled_from(["MIM", "CL1", "CL2"]))
def test_rv_sums_to_rank_and_lies_in_unit_interval(cfg, objective):
    sub = solution_subspace(exact_x(cfg, 0, objective), cfg.c, "minimiser")
    lo, hi = sub.rv_bounds()
    assert np.all(lo >= -1e-12) and np.all(hi <= 1 + 1e-12) and np.all(lo <= hi + 1e-15)
    if sub.well_posed:
        assert lo.sum() == pytest.approx(sub.rank, abs=1e-9)
    else:
        assert lo.sum() <= sub.rank + 1e-9 <= hi.sum() + 2e-9


@given(small_configs(), st.sampled_from(["MIM", "CL1"]))
def test_minimiser_beats_perturbations_and_rv_matches_rows(cfg, objective):
    x = exact_x(cfg, 0, objective)
    sub = solution_subspace(x, cfg.c, "minimiser")
    if not sub.well_posed:
        return
    w = minimiser_w(x, cfg.c)
    best = pair_loss(x, w)
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert pair_loss(x, w + 1e-3 * rng.standard_normal(w.shape)) >= best - 1e-12
    np.testing.assert_allclose(rv_of_rows(w), sub.rv_bounds()[0], atol=1e-9)
    # loss identity: L(W) = ½‖X - WᵀW‖² - ½‖X‖²
    xd = as_dense(x)
    g = w.T @ w
    assert best == pytest.approx(0.5 * np.sum((xd - g) ** 2) - 0.5 * np.sum(xd**2), abs=1e-9)


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
    x = sample_client(cfg, 0, seed=1, n_frequent=cfg.n_frequent * 20000, n_rare=cfg.n_rare * 20000).x
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
