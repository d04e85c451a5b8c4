"""Representability vector (Definition 4.1), sensitivity (Theorem 4.4) and their well-posedness.

r_k = ‖Π_R e_k‖², R the row space of W: the diagonal of the orthogonal projector onto R.
For the exact analysis R is not given by a trained W but selected from the spectrum of
an X matrix by a rule:

* ``"minimiser"``: the row space of a global minimiser of the pair-form objective
  L(W) = -tr(W X Wᵀ) + ½‖WᵀW‖² = ½‖X - WᵀW‖² - ½‖X‖². Its minimisers are exactly the
  W with WᵀW = Σ_{j≤c, λ_j>0} λ_j v_j v_jᵀ (best PSD rank-≤c approximation), so R is the
  span of the eigenvectors of the top min(c, #positive) eigenvalues: rank < c when X has
  fewer than c positive eigenvalues.
* ``"top-c"``: the span of the top-c eigenvectors whatever their sign (the paper's
  reading of Eckart-Young-Mirsky, step eym-top-c).

When eigenvalues tie across the cut (|λ_cut - λ_next| <= rtol·max|λ|) the subspace is not
unique. Then r_k is only known to lie in [‖Π_F e_k‖², ‖Π_F e_k‖² + ‖Π_T e_k‖²], F the
eigenvectors strictly above the tied cluster T; a sensitivity built on such coordinates
is ILL-POSED and reported as an interval, never as a number picked by an eigensolver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Sequence

import numpy as np
import scipy.linalg as sla

from .circulant import FULL_WINDOW_D, CirculantLowRank, StructuredSolverError, default_window, leading_spectrum
from .errors import ParameterError, require
from .structured import BlockScalar, SymMatrix

Rule = Literal["minimiser", "top-c"]
DEFAULT_RTOL = 1e-9


@dataclass(frozen=True)
class Spectrum:
    """Eigen-decomposition, eigenvalues in descending order.

    ``values[j]`` has multiplicity ``mult[j]``; ``vectors[:, j]`` is its eigenvector on the
    first ``vectors.shape[0]`` coordinates, except for the bulk entry (``bulk_index``) of a
    :class:`BlockScalar`, whose eigenspace is span(e_K, ..., e_{d-1}). ``complete`` is False
    when only the leading part of a dense spectrum was computed.

    A structured circulant-plus-low-rank spectrum (``theory.circulant``) sets ``window``: its
    eigenvectors are dense over all d coordinates, ``vectors`` holds their entries on the first
    ``window`` coordinates only (asking for another raises), ``full[j]()`` builds eigenvector j,
    ``residuals[j]`` is ‖X v_j - λ_j v_j‖, and the entries ``lumped`` stand for several tied
    eigenvalues whose squared entries (``vectors[:, j]**2``) are upper bounds.
    """

    values: np.ndarray
    mult: np.ndarray
    vectors: np.ndarray
    d: int
    bulk_index: int | None
    complete: bool
    window: int | None = None
    residuals: np.ndarray | None = None
    full: tuple | None = None
    lumped: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    count_above: Callable[[float], int] | None = None

    @property
    def k(self) -> int:
        return self.vectors.shape[0]


def structured_spectrum(x: CirculantLowRank, c: int, rtol: float = DEFAULT_RTOL, window: int | None = None) -> Spectrum:
    """Leading spectrum of a circulant-plus-low-rank X for embedding width c (``theory.circulant``):
    every eigenpair down to the c-th, its tied cluster and the next eigenvalue, in O(d log d)."""
    w = default_window(x.d, c, x.k) if window is None else window
    try:
        ls = leading_spectrum(x, c, rtol, w)
    except StructuredSolverError as exc:
        if x.d <= FULL_WINDOW_D:  # small d: the dense eigen-decomposition, with a note
            full = spectrum(x.dense(), top=None)
            return Spectrum(full.values, full.mult, full.vectors, full.d, None, True,
                            notes=(f"structured solver declined ({exc}); dense eigh used at d = {x.d}",))
        raise ParameterError("X", "a circulant-plus-low-rank matrix the structured solver handles", str(exc)) from None
    return Spectrum(ls.values, ls.mult, ls.vectors, x.d, None, False, window=w, residuals=ls.residuals,
                    full=ls.full, lumped=ls.lumped, notes=ls.notes, count_above=x.count_above)


def spectrum(x: SymMatrix, top: int | None = None) -> Spectrum:
    """Spectrum of a symmetric matrix; ``top`` limits a dense one to its largest eigenvalues.
    A circulant-plus-low-rank X needs :func:`structured_spectrum` (it depends on c)."""
    require(not isinstance(x, CirculantLowRank), "X", "given to structured_spectrum (circulant + low rank)", type(x).__name__)
    if isinstance(x, BlockScalar):
        vals, vecs = np.linalg.eigh(0.5 * (x.block + x.block.T))
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
        mult = np.ones(len(vals), dtype=int)
        bulk_index = None
        if x.d > x.k:
            pos = int(np.searchsorted(-vals, -x.bulk, side="right"))
            vals = np.insert(vals, pos, x.bulk)
            mult = np.insert(mult, pos, x.d - x.k)
            vecs = np.insert(vecs, pos, 0.0, axis=1)
            bulk_index = pos
        return Spectrum(vals, mult, vecs, x.d, bulk_index, True)
    a = np.asarray(x, dtype=float)
    d = a.shape[0]
    require(a.shape == (d, d), "X", "a square matrix", a.shape)
    require(bool(np.isfinite(a).all()), "X", "a matrix of finite numbers", "non-finite entries")
    a = 0.5 * (a + a.T)  # a fresh array: LAPACK may overwrite it
    if top is None or top >= d:
        vals, vecs = np.linalg.eigh(a)
        complete = True
    else:
        vals, vecs = sla.eigh(a, subset_by_index=[d - top, d - 1], overwrite_a=True, check_finite=False)
        complete = False
    order = np.argsort(vals)[::-1]
    return Spectrum(vals[order], np.ones(len(vals), dtype=int), vecs[:, order], d, None, complete)


@dataclass(frozen=True)
class Subspace:
    """A solution subspace selected from a spectrum, with its well-posedness diagnostic.

    ``fixed``: indices (into the spectrum) strictly inside; ``tied``: the cluster crossing
    the cut, of total dimension ``tie_dim``, from which ``n_from_tie`` dimensions are taken.
    """

    spec: Spectrum
    c: int
    rule: str
    rank: int
    fixed: tuple[int, ...]
    tied: tuple[int, ...]
    tie_dim: int
    n_from_tie: int
    lambda_c: float
    lambda_next: float
    tol: float
    n_positive: int

    @property
    def well_posed(self) -> bool:
        return self.n_from_tie == 0

    @property
    def eigengap(self) -> float:
        return self.lambda_c - self.lambda_next

    def diagnostic(self) -> dict[str, object]:
        # from the leading part of a dense spectrum the count is only a lower bound when every
        # computed eigenvalue is positive (``Analysis.n_positive`` counts them all); a structured
        # spectrum counts them exactly (``count_above``)
        truncated = (self.spec.count_above is None and not self.spec.complete
                     and bool(np.all(self.spec.values > self.tol)))
        return {
            "rule": self.rule,
            "c": self.c,
            "rank": self.rank,
            "n_positive_eigenvalues": None if truncated else self.n_positive,
            "n_positive_at_least": self.n_positive,
            "lambda_c": self.lambda_c,
            "lambda_c+1": self.lambda_next,
            "eigengap": self.eigengap,
            "tie_tolerance": self.tol,
            "well_posed": self.well_posed,
            "tied_dimension": self.tie_dim,
            "dimensions_taken_from_tie": self.n_from_tie,
        }

    def _sq_proj(self, idx: Sequence[int], coords: np.ndarray) -> np.ndarray:
        """Σ over eigen-entries ``idx`` of ‖Π e_k‖² for each coordinate k."""
        s = self.spec
        out = np.zeros(len(coords))
        inner = coords < s.k
        for j in idx:
            if j == s.bulk_index:
                out[~inner] += 1.0
            else:
                out[inner] += s.vectors[coords[inner], j] ** 2
        return out

    def rv_bounds(self, coords: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends of r_k over all subspaces the rule admits."""
        if coords is None and self.spec.window is not None:
            coords = range(self.spec.window)
        k = np.arange(self.spec.d) if coords is None else np.asarray(list(coords), dtype=int)
        require(bool(np.all((k >= 0) & (k < self.spec.d))), "coordinates", f"indices in [0, d={self.spec.d})", k.tolist())
        if self.spec.window is not None:
            require(bool(np.all(k < self.spec.window)), "coordinates",
                    f"indices below {self.spec.window} (the window this structured spectrum was computed on)", k.tolist())
        lo = self._sq_proj(self.fixed, k)
        if self.well_posed:
            return lo, lo.copy()
        return lo, lo + self._sq_proj(self.tied, k)

    def rv(self, coords: Iterable[int] | None = None) -> np.ndarray:
        """r over ``coords``; NaN where the subspace does not determine r_k."""
        lo, hi = self.rv_bounds(coords)
        out = lo.copy()
        out[hi - lo > 1e-12] = np.nan
        return out


def solution_subspace(x: SymMatrix | Spectrum, c: int, rule: Rule = "minimiser",
                      rtol: float = DEFAULT_RTOL) -> Subspace:
    """Select the subspace of ``rule`` (see module docstring) for embedding width ``c``."""
    require(rule in ("minimiser", "top-c"), "rule", "'minimiser' or 'top-c'", rule)
    if isinstance(x, CirculantLowRank):
        spec = structured_spectrum(x, c, rtol)
    else:
        spec = x if isinstance(x, Spectrum) else spectrum(x, top=None if isinstance(x, BlockScalar) else c + 16)
    require(1 <= c <= spec.d, "c", f"an integer in [1, d={spec.d}]", c)
    vals, mult = spec.values, spec.mult
    scale = float(np.max(np.abs(vals))) if len(vals) else 0.0
    tol = rtol * max(scale, 1e-300)
    cum = np.cumsum(mult)
    positive = vals > tol
    # the exact count for a structured spectrum; among the computed eigenvalues otherwise
    n_pos = int(spec.count_above(tol)) if spec.count_above is not None else int(np.sum(mult[positive]))
    target = c if rule == "top-c" else min(c, n_pos)
    if spec.window is not None and target != c:
        raise ParameterError("X", "a circulant-plus-low-rank matrix with at least c positive eigenvalues for the "
                             "'minimiser' rule (the structured solver computes the cut at c)", f"{n_pos} < c = {c}")
    if target == 0:
        return Subspace(spec, c, rule, 0, (), (), 0, 0, float(vals[0]), float(vals[0]), tol, n_pos)
    j_cut = int(np.searchsorted(cum, target))  # entry holding the target-th dimension
    lam_c = float(vals[j_cut])
    # the value just after the target-th dimension
    if cum[j_cut] > target:
        lam_next = lam_c
    elif j_cut + 1 < len(vals):
        lam_next = float(vals[j_cut + 1])
    else:
        lam_next = -np.inf
    cluster = [j for j in range(len(vals)) if abs(vals[j] - lam_c) <= tol]
    if not spec.complete and cluster and cluster[-1] == len(vals) - 1:
        full = spectrum(x if not isinstance(x, Spectrum) else _raise_incomplete(), top=None)
        return solution_subspace(full, c, rule, rtol)
    before = int(cum[cluster[0] - 1]) if cluster[0] > 0 else 0
    cluster_dim = int(np.sum(mult[cluster]))
    if rule == "minimiser" and lam_c <= tol:
        cluster, cluster_dim = [], 0
    fixed = tuple(range(cluster[0])) if cluster else tuple(range(j_cut + 1))
    n_from = target - before if cluster else 0
    if cluster and n_from == cluster_dim:  # the whole cluster fits: no ambiguity
        fixed, cluster, cluster_dim, n_from = tuple(range(cluster[-1] + 1)), [], 0, 0
    return Subspace(spec, c, rule, target, fixed, tuple(cluster), cluster_dim, n_from, lam_c, lam_next, tol, n_pos)


def count_positive(x: SymMatrix, tol: float = 0.0) -> int:
    """The number of eigenvalues of a symmetric X above ``tol``, all of them counted.

    A dense X is counted by Sylvester's law of inertia: X - tol I = L D Lᵀ (scipy ``ldl``), and
    the positive eigenvalues of the block-diagonal (1x1 / 2x2, hence tridiagonal) D are as many
    as those of X - tol I. O(d³/3), without eigenvectors."""
    if isinstance(x, BlockScalar):
        s = spectrum(x)
        return int(np.sum(s.mult[s.values > tol]))
    if isinstance(x, CirculantLowRank):
        return int(x.count_above(tol))  # exact (Sylvester / secular count), O(d) per call
    a = np.asarray(x, dtype=float)
    a = 0.5 * (a + a.T) - tol * np.eye(a.shape[0])
    _, dmat, _ = sla.ldl(a, lower=True, overwrite_a=True, check_finite=False)
    ev = sla.eigvalsh_tridiagonal(np.diag(dmat).copy(), np.diag(dmat, -1).copy())
    return int(np.sum(ev > 0))


class IncompleteSpectrumError(ValueError):
    """The leading part of a dense spectrum that was computed ends inside the cluster at the cut."""


def _raise_incomplete() -> SymMatrix:
    raise IncompleteSpectrumError("an incomplete Spectrum cannot be extended; pass the matrix instead")


# --------------------------------------------------------------------------- sensitivity
@dataclass(frozen=True)
class Sensitivity:
    """s = max_k r_k - min_k r_k over ``coords``; an interval when ill-posed."""

    coords: tuple[int, ...]
    well_posed: bool
    value: float | None
    low: float
    high: float
    r_low: tuple[float, ...]
    r_high: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "s": self.value,
            "well_posed": self.well_posed,
            "s_interval": [self.low, self.high],
            "r_min": min(self.r_low) if self.r_low else None,
            "r_max": max(self.r_high) if self.r_high else None,
        }


def sensitivity_from_bounds(coords: Sequence[int], lo: np.ndarray, hi: np.ndarray) -> Sensitivity:
    require(len(coords) >= 1, "coordinates", "a non-empty set", list(coords))
    ambiguous = bool(np.any(hi - lo > 1e-12))
    if not ambiguous:
        s = float(np.max(lo) - np.min(lo))
        return Sensitivity(tuple(coords), True, s, s, s, tuple(lo.tolist()), tuple(hi.tolist()))
    high = float(np.max(hi) - np.min(lo))
    low = float(max(0.0, np.max(lo) - np.min(hi)))
    return Sensitivity(tuple(coords), False, None, low, high, tuple(lo.tolist()), tuple(hi.tolist()))


def sensitivity(sub: Subspace, coords: Sequence[int]) -> Sensitivity:
    lo, hi = sub.rv_bounds(coords)
    return sensitivity_from_bounds(coords, lo, hi)


def rv_of_rows(w: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """r for the row space of a concrete W (c x d): diagonal of its projector."""
    require(w.ndim == 2, "W", "a 2-D array (c, d)", w.shape)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    rank = int(np.sum(s > rtol * (s[0] if len(s) else 0.0)))
    v = vt[:rank]
    return np.sum(v**2, axis=0)


def subspace_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Spectral norm of the difference of the projectors onto the row spaces of a and b."""
    pa = _projector(a)
    pb = _projector(b)
    return float(np.linalg.norm(pa - pb, 2))


def _projector(w: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    rank = int(np.sum(s > rtol * (s[0] if len(s) else 0.0)))
    v = vt[:rank]
    return v.T @ v


def minimiser_basis(sub: Subspace) -> tuple[np.ndarray, np.ndarray]:
    """(V, λ): orthonormal eigenvectors (d x rank) and eigenvalues spanning a well-posed subspace."""
    require(sub.well_posed, "subspace", "well posed (no tie at the cut)", sub.diagnostic())
    s = sub.spec
    if s.window is not None:
        require(not any(j in s.lumped for j in sub.fixed), "subspace", "without lumped tied eigenvalues", s.lumped)
        if not sub.fixed:
            return np.zeros((s.d, 0)), np.zeros(0)
        assert s.full is not None  # a windowed (structured) spectrum always carries its eigenvector builders
        return np.stack([s.full[j]() for j in sub.fixed], axis=1), np.asarray([s.values[j] for j in sub.fixed])
    cols, lams = [], []
    for j in sub.fixed:
        if j == s.bulk_index:
            for k in range(s.k, s.d):
                v = np.zeros(s.d)
                v[k] = 1.0
                cols.append(v)
                lams.append(s.values[j])
        else:
            v = np.zeros(s.d)
            v[: s.k] = s.vectors[:, j]
            cols.append(v)
            lams.append(s.values[j])
    if not cols:
        return np.zeros((s.d, 0)), np.zeros(0)
    return np.stack(cols, axis=1), np.asarray(lams)


def minimiser_gram(x: SymMatrix, c: int) -> np.ndarray:
    """WᵀW of a global minimiser: Σ_{j≤c, λ_j>0} λ_j v_j v_jᵀ, dense (d x d).

    Raises when the minimiser is not unique (then no single WᵀW exists).
    """
    sub = solution_subspace(x, c, "minimiser")
    require(sub.well_posed, "X", "a matrix whose minimiser is unique (eigengap > 0 at the cut)", sub.diagnostic())
    s = sub.spec
    d = s.d
    g = np.zeros((d, d))
    for j in sub.fixed:
        if j == s.bulk_index:
            idx = np.arange(s.k, d)
            g[idx, idx] += s.values[j]
        else:
            v = np.zeros(d)
            v[: s.k] = s.vectors[:, j]
            g += s.values[j] * np.outer(v, v)
    return g


def minimiser_w(x: SymMatrix, c: int) -> np.ndarray:
    """A global minimiser W (c x d) of the pair-form objective: rows sqrt(λ_j) v_j, zero rows beyond its rank."""
    sub = solution_subspace(x, c, "minimiser")
    require(sub.well_posed, "X", "a matrix whose minimiser is unique (eigengap > 0 at the cut)", sub.diagnostic())
    s = sub.spec
    w = np.zeros((c, s.d))
    if s.window is not None:
        v, lam = minimiser_basis(sub)
        w[: len(lam)] = np.sqrt(np.maximum(lam, 0.0))[:, None] * v.T
        return w
    row = 0
    for j in sub.fixed:
        if j == s.bulk_index:
            for k in range(s.k, s.d):
                w[row, k] = np.sqrt(s.values[j])
                row += 1
        else:
            w[row, : s.k] = np.sqrt(s.values[j]) * s.vectors[:, j]
            row += 1
    return w
