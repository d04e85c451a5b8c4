"""The structured exact level: circulant + low-rank CL2 matrices against the dense solver."""

from __future__ import annotations

import numpy as np
import pytest

from theory import analysis, graphs
from theory.analysis import Analysis
from theory.augmentation import parse_augmentation
from theory.circulant import CirculantLowRank, blur_basis, leading_spectrum, symbol_spectrum
from theory.errors import ParameterError
from theory.model import paper_config
from theory.rv import solution_subspace, spectrum, structured_spectrum
from theory.structured import (
    as_dense,
    diagonal,
    entry,
    frobenius_sq,
    half_sq_distance_to_gram,
    left_multiply,
    minus_diagonal,
    spectral_norm,
    trace,
    weighted_sum,
)
from theory.xmatrix import exact_x


@pytest.fixture(autouse=True)
def _structured_at_every_d(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests compare the structured solver with the dense one, so Analysis must use it
    below its dense crossover too."""
    monkeypatch.setattr(analysis, "DENSE_CROSSOVER_D", 0)


def _analysis(d: int, aug: str = "blur", topology: str = "abar", n: int = 6) -> Analysis:
    cfg = paper_config(d, n_clients=n, augmentation=aug)
    top = {"abar": graphs.with_mean_connectivity(n, float(max(2, (n + 2) // 2)), seed=0),
           "path": graphs.path(n), "star": graphs.star(n)}[topology]
    return Analysis(cfg, top)


def _compare(x, c: int, rtol: float = 1e-9, coords=None) -> tuple:
    sub = solution_subspace(x, c, "minimiser", rtol)
    dense = solution_subspace(as_dense(x), c, "minimiser", rtol)
    cs = list(range(max(c, x.k))) if coords is None else coords
    return sub, dense, cs


# --------------------------------------------------------------------------- FFT spectrum
@pytest.mark.parametrize("aug", ["blur", "stencil:0.1,0.6,0.3", "stencil:-0.2,0.1,0.5,0.4,0.05"])
@pytest.mark.parametrize("d", [7, 64, 300])
def test_circulant_fft_spectrum_equals_dense_eigvalsh(aug, d):
    a = parse_augmentation(aug)
    basis = a.basis(d, 3)
    h = a.dense(d)
    np.testing.assert_allclose(symbol_spectrum(basis), np.linalg.eigvalsh(0.5 * (h + h.T)), atol=1e-13)


def test_blur_column_matches_the_dense_blur():
    d = 16
    h = parse_augmentation("blur").dense(d)
    assert h[3, 3] == 0.5 and h[3, 4] == 0.25 and h[3, 2] == 0.25 and h[0, d - 1] == 0.25
    np.testing.assert_allclose(blur_basis(d, 2).h_col, h[:, 0])


# --------------------------------------------------------------------------- algebra
@pytest.fixture(scope="module")
def dense_circulant_file(tmp_path_factory) -> str:
    """A circulant H with a dense first column (no short stencil): the FFT paths."""
    col = np.random.default_rng(3).standard_normal(96) / 10
    col[0] += 0.5
    idx = (np.arange(96)[:, None] - np.arange(96)[None, :]) % 96
    path = tmp_path_factory.mktemp("h") / "dense_circulant.npy"
    np.save(path, col[idx])
    return f"matrix:{path}"


@pytest.mark.parametrize("aug", ["blur", "stencil:0.1,0.6,0.3", "dense-file"])
def test_structured_algebra_equals_dense(aug, dense_circulant_file):
    aug = dense_circulant_file if aug == "dense-file" else aug
    cfg = paper_config(96, augmentation=aug)
    xs = [exact_x(cfg, i, "CL2") for i in range(cfg.n_clients)]
    assert all(isinstance(x, CirculantLowRank) for x in xs)
    w = np.linspace(1, 2, cfg.n_clients)
    w /= w.sum()
    agg = weighted_sum(xs, w)
    dense = sum(wi * as_dense(x) for wi, x in zip(w, xs))
    np.testing.assert_allclose(as_dense(agg), dense, atol=1e-12)
    np.testing.assert_allclose(diagonal(agg), np.diag(dense), atol=1e-12)
    assert trace(agg) == pytest.approx(np.trace(dense), abs=1e-10)
    assert frobenius_sq(agg) == pytest.approx(np.sum(dense**2), rel=1e-12)
    assert entry(agg, 3, 5) == pytest.approx(dense[3, 5], abs=1e-13)
    v = np.random.default_rng(0).standard_normal((3, cfg.d))
    np.testing.assert_allclose(left_multiply(v, agg), v @ dense, atol=1e-11)
    assert half_sq_distance_to_gram(agg, v) == pytest.approx(0.5 * np.sum((dense - v.T @ v) ** 2), rel=1e-12)
    diag = np.zeros(cfg.d)
    diag[: cfg.n_clients] = 7.0
    diag[0] = 2.0
    np.testing.assert_allclose(as_dense(minus_diagonal(agg, diag)), dense - np.diag(diag), atol=1e-12)
    assert spectral_norm(minus_diagonal(agg, diag)) == pytest.approx(
        np.max(np.abs(np.linalg.eigvalsh(dense - np.diag(diag)))), rel=1e-12)


# --------------------------------------------------------------------------- solver vs dense
@pytest.mark.parametrize("d,aug,topology", [
    (256, "blur", "abar"), (512, "blur", "path"), (1024, "blur", "abar"), (2048, "blur", "path"),
    (512, "stencil:0.1,0.6,0.3", "star"), (768, "stencil:0.05,0.2,0.5,0.2,0.05", "abar"),
])
def test_structured_cl2_equals_dense_in_r_s_eigengap(d, aug, topology):
    an = _analysis(d, aug, topology)
    cfg = an.cfg
    cells = [("local", 0), ("local", 3), ("fl", 0), ("decl", 0)] if d <= 1024 else [("decl", 0)]
    for fw, client in cells:
        x = an.matrix("exact", "CL2", fw, client=client)
        assert isinstance(x, CirculantLowRank)
        sub = an.subspace("exact", "CL2", fw, client=client)
        dense = solution_subspace(as_dense(x), cfg.c, "minimiser", an.rtol)
        assert sub.well_posed == dense.well_posed
        for cs in ("[c]", "[N]", "rare"):
            coords = an.coords(cs)
            lo, hi = sub.rv_bounds(coords)
            dlo, dhi = dense.rv_bounds(coords)
            np.testing.assert_allclose(lo, dlo, atol=1e-10)
            np.testing.assert_allclose(hi, dhi, atol=1e-10)
            s = an.sensitivity("exact", "CL2", fw, cs, client=client)
            dl, dh = dense.rv_bounds(coords)
            assert s.low == pytest.approx(max(0.0, float(np.max(dl) - np.min(dh))), abs=1e-10)
        assert sub.eigengap == pytest.approx(dense.eigengap, rel=1e-6, abs=1e-12)
        assert sub.lambda_c == pytest.approx(dense.lambda_c, rel=1e-12)
        res = sub.spec.residuals
        assert np.all(res[np.isfinite(res)] <= 1e-10 * abs(sub.spec.values[0]))


def test_structured_full_eigenvectors_are_eigenvectors():
    an = _analysis(200)
    x = an.matrix("exact", "CL2", "fl")
    sub = an.subspace("exact", "CL2", "fl")
    from theory.rv import minimiser_basis
    v, lam = minimiser_basis(sub)
    xv = left_multiply(v.T, x).T
    assert np.max(np.linalg.norm(xv - v * lam[None, :], axis=0)) <= 1e-10 * abs(lam[0])
    np.testing.assert_allclose(v.T @ v, np.eye(len(lam)), atol=1e-10)


def test_lumped_tie_weights_bound_the_dense_ones():
    """Force a large tied cluster (rtol 1e-4) at d = 512: the lumped entry's multiplicity is the
    dense cluster's size, r_low equals the dense one and r_high is an upper bound on it."""
    an = _analysis(512)
    x = an.matrix("exact", "CL2", "fl")
    c = an.cfg.c
    spec = structured_spectrum(x, c, rtol=1e-4, window=max(c, x.k))
    assert spec.lumped, "the tie must be large enough to be lumped"
    sub = solution_subspace(spec, c, "minimiser", 1e-4)
    dense = solution_subspace(as_dense(x), c, "minimiser", 1e-4)
    full = solution_subspace(spectrum(as_dense(x)), c, "minimiser", 1e-4)
    assert not sub.well_posed and not full.well_posed
    assert sub.tie_dim == full.tie_dim
    coords = list(range(c))
    lo, hi = sub.rv_bounds(coords)
    flo, fhi = full.rv_bounds(coords)
    np.testing.assert_allclose(lo, flo, atol=1e-10)
    assert np.all(hi >= fhi - 1e-10)
    assert np.max(hi - fhi) < 0.5  # informative, not the trivial bound 1
    del dense


def test_identity_and_scale_are_block_scalar_and_user_circulant_file(tmp_path):
    cfg = paper_config(64, augmentation="scale:0.5")
    x = exact_x(cfg, 0, "CL2")
    assert not isinstance(x, (CirculantLowRank, np.ndarray))
    h = parse_augmentation("stencil:0.2,0.5,0.3").dense(64)
    path = tmp_path / "h.npy"
    np.save(path, h)
    a = parse_augmentation(f"matrix:{path}")
    assert a.kind == "circulant"
    rng = np.random.default_rng(1)
    g = rng.standard_normal((64, 64))
    path2 = tmp_path / "g.npy"
    np.save(path2, g)
    b = parse_augmentation(f"matrix:{path2}")
    assert b.kind == "dense" and "not circulant" in (b.note or "")
    cfg2 = paper_config(64, augmentation=f"matrix:{path2}")
    assert isinstance(exact_x(cfg2, 0, "CL2"), np.ndarray)
    with pytest.raises(ParameterError, match="augmentation"):
        paper_config(64, augmentation="stencil:1,2")


def test_leading_spectrum_counts_are_exact():
    """count_above agrees with the dense spectrum at every probe, including inside the band."""
    an = _analysis(128)
    x = an.matrix("exact", "CL2", "decl")
    ev = np.linalg.eigvalsh(as_dense(x))
    probes = np.concatenate([ev[-20:] + 1e-9, ev[-20:] - 1e-9, np.linspace(ev[0] - 1, ev[-1] + 1, 15)])
    for p in probes:
        assert x.count_above(float(p)) == int(np.sum(ev > p))
    for p in (0.0, float(x.symbol_half()[5]), float(x.symbol_half().max())):  # exactly on poles of the circulant
        assert x.count_above(p) == int(np.sum(ev > p + 1e-12))
    ls = leading_spectrum(x, an.cfg.c, 1e-9, 128)
    np.testing.assert_allclose(ls.values[: an.cfg.c + 1], ev[::-1][: an.cfg.c + 1], atol=1e-12)


def test_augmented_pole_form_gives_the_dense_eigenvectors():
    """The form used when an eigenvalue sits on a pole of the circulant (met at d = 2^20 in the
    Thm 4.6 margin) is exact for any eigenvalue: with the nearest pole taken out of the resolvent it
    must return the dense eigenvector, with a tiny residual."""
    an = _analysis(256)
    x = an.matrix("exact", "CL2", "fl")
    x.basis.set_reach(256)
    ev, vecs = np.linalg.eigh(as_dense(x))
    s_half = x.symbol_half()
    for j in (len(ev) - an.cfg.c, len(ev) - an.cfg.c - 1, len(ev) // 2):
        k = int(np.argmin(np.abs(s_half - ev[j])))
        idx = np.flatnonzero(np.abs(s_half - s_half[k]) <= 1e-15)
        rows, res, full = x._pole_eigenpairs(float(ev[j]), 1, idx, 256)
        v = full[0]()
        assert res[0] <= 1e-9
        assert abs(v @ vecs[:, j]) == pytest.approx(1.0, abs=1e-9)
        np.testing.assert_allclose(np.abs(rows[0]), np.abs(v[:256]), atol=1e-10)
