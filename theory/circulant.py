"""Circulant-plus-low-rank symmetric matrices and their exact leading spectrum, in O(d log d).

The exact X matrix of dissimilar-augmentation CL (``xmatrix.exact_x``, objective CL2) is
X = ½ (H M + M Hᵀ) with M = μ² I + P D Pᵀ (P = [e_0 .. e_{K-1}], D = block - μ² I, see
``moments``). For a circulant H (first column h, symbol ĥ = FFT(h)) this is

    X = Circ(s) + Q T Qᵀ,   s = α Re ĥ + β,   Q = [P, H P]  (d x 2K),   T = ½ [[0, D], [D, 0]],

with α = μ², β = 0: the circulant H_s = ½(H + Hᵀ) (symbol Re ĥ) plus a rank-≤2K term. Weighted
sums of such matrices (the FL and DecL aggregates) and X - Diag(diag) with diag constant beyond
K keep the form, with the same Q. A :class:`CirculantLowRank` stores (α, β, T) and a shared
:class:`CirculantBasis` (d, ĥ, K); nothing of size d x d is ever formed except by ``dense()``,
the small-d cross-check.

Spectrum (``leading_spectrum``). With B(λ) = Circ(s) - λ (diagonal in the Fourier basis) and
T = W Σ Wᵀ (its non-zero eigenpairs), Z = Q W, the inertia of X - λ follows from the block
matrix [[B, Z], [Zᵀ, -Σ⁻¹]] (Haynsworth):

    #{eigenvalues of X > λ} = #{k : s_k > λ} + n₋(Σ⁻¹ + Wᵀ G(λ) W) - n₋(Σ),   G(λ) = Qᵀ B(λ)⁻¹ Q,

an exact count, so each eigenvalue is found by bisection. G(λ) is 2K x 2K; its entries are
values of circulant kernels, e_mᵀ φ(Circ(s)) H^a e_n = IFFT(φ(s) ĥ^a)[m - n], so one evaluation
costs three real FFTs of length d. Far from the band [min s, max s] a multipole expansion in
powers of (s - centre)/(λ - centre), whose 2K x 2K moments are computed once per basis, makes
an evaluation O(K²) instead. An eigenvector is v ∝ B(λ)⁻¹ Z y with (Σ⁻¹ + WᵀG(λ)W) y = 0: its
entries on the first coordinates and its norm come from the same kernels, and its residual
‖X v - λ v‖ = ‖Z Σ (Σ⁻¹ + WᵀG(λ)W) y‖ / ‖B⁻¹ Z y‖ is reported for every eigenpair.

Ties. Eigenvalues within ``rtol · |λ_1|`` of the c-th one form the tied cluster of
``rv.solution_subspace``. When the cluster holds more eigenvalues than can be computed one by
one (the top of the circulant band is a near-continuum: at d = 2^20 thousands of eigenvalues lie
within 1e-9 |λ_1| of each other), the members not computed explicitly are one lumped entry of
the spectrum: its multiplicity is exact (from the counts) and its weight at coordinate k is an
UPPER BOUND on Σ_{lumped j} (e_kᵀ v_j)², from the Lorentzian inequality

    Σ_{|λ_j - m| <= h} (e_kᵀv_j)² <= 2h · Im e_kᵀ (X - m - i h)⁻¹ e_k   (minus the explicit members' share),

so the RV interval [r_low, r_high] of an ILL-POSED subspace is a valid enclosure (possibly wider
than the exact one), never a narrower one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from .errors import ParameterError, require

# multipole expansion: terms and the largest admissible ratio radius / |λ - centre|
_MULTIPOLE_TERMS = 48
_MULTIPOLE_RATIO = 0.45
# at most this many members of a tied cluster are computed one by one; the rest are lumped
EXPLICIT_TIE_CAP = 24
# up to this d the eigenvectors are kept on every coordinate (and a failure falls back to dense)
FULL_WINDOW_D = 512


class StructuredSolverError(ArithmeticError):
    """The secular solver met a case it does not handle (an eigenvalue on a pole of the circulant
    whose eigenvector the low-rank term does not see, c = d) or failed its residual check."""


def default_window(d: int, c: int, k: int) -> int:
    """Coordinates kept of each eigenvector: all of them for d <= FULL_WINDOW_D, else the first max(c, K)."""
    return d if d <= FULL_WINDOW_D else max(c, k)


def real_fourier_basis(d: int, freqs: np.ndarray) -> np.ndarray:
    """Orthonormal real Fourier vectors of the frequencies ``freqs`` (0 <= k <= d/2), as columns
    (d, m): one cosine for k = 0 and k = d/2, a cosine and a sine otherwise."""
    n_idx = np.arange(d)
    cols = []
    for k in freqs:
        if k == 0 or (d % 2 == 0 and k == d // 2):
            cols.append(np.cos(2 * np.pi * k * n_idx / d) / np.sqrt(d))
        else:
            cols.append(np.cos(2 * np.pi * k * n_idx / d) * np.sqrt(2.0 / d))
            cols.append(np.sin(2 * np.pi * k * n_idx / d) * np.sqrt(2.0 / d))
    return np.stack(cols, axis=1)


@dataclass(frozen=True, eq=False)
class CirculantBasis:
    """The shared part of every :class:`CirculantLowRank` at one (d, H, K): the symbol ĥ of H
    (``numpy.fft.rfft`` of its first column, length d//2 + 1) and K (Q = [P_K, H P_K])."""

    d: int
    h_half: np.ndarray
    k: int
    name: str = "circulant"
    col: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        require(self.h_half.shape == (self.d // 2 + 1,), "h_half", f"an rfft of length d//2+1 = {self.d // 2 + 1}",
                self.h_half.shape)
        require(1 <= self.k < self.d, "K", f"in [1, d={self.d})", self.k)

    # ---- symbol ---------------------------------------------------------------
    @cached_property
    def r_half(self) -> np.ndarray:
        """Symbol of H_s = ½(H + Hᵀ): Re ĥ on the half spectrum."""
        return np.ascontiguousarray(self.h_half.real)

    @cached_property
    def mult_half(self) -> np.ndarray:
        """Multiplicity of each half-spectrum entry in the full spectrum (k and d - k)."""
        m = np.full(self.d // 2 + 1, 2, dtype=np.int64)
        m[0] = 1
        if self.d % 2 == 0:
            m[-1] = 1
        return m

    @cached_property
    def h_col(self) -> np.ndarray:
        """First column h of H (length d)."""
        return np.asarray(self.col, dtype=float) if self.col is not None else np.fft.irfft(self.h_half, n=self.d)

    @cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.r_half)
        return self.r_half[order], np.cumsum(self.mult_half[order][::-1])[::-1]

    @cached_property
    def _ranked(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.r_half)
        return self.r_half[order], np.cumsum(self.mult_half[order])

    def symbol_rank_value(self, j: int, largest: bool = True) -> float:
        """The j-th largest (or smallest) eigenvalue of H_s, counted with multiplicity, 1 <= j <= d."""
        vals, cum = self._ranked
        jj = self.d + 1 - j if largest else j
        return float(vals[int(np.searchsorted(cum, jj))])

    # ---- a stencil (few non-zero taps): exact short convolutions instead of O(d) sums ----
    @cached_property
    def stencil(self) -> dict[int, float] | None:
        """{offset t: h[t]} of the first column when it has at most 64 non-zero taps, else None."""
        h = self.h_col
        nz = np.flatnonzero(h)
        if nz.size > 64:
            return None
        return {int(t): float(h[t]) for t in nz}

    def _conv(self, a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
        out: dict[int, float] = {}
        for i, x in a.items():
            for j, y in b.items():
                t = (i + j) % self.d
                out[t] = out.get(t, 0.0) + x * y
        return out

    def _affine_columns(self) -> tuple[dict, dict, dict, dict, dict, dict]:
        """First columns (as sparse taps) of I, H, HᵀH, H_s, H_s H and Hᵀ H_s H."""
        if "affine" not in self._cache:
            h = self.stencil
            assert h is not None
            d = self.d
            ht = {(-t) % d: v for t, v in h.items()}  # Hᵀ's first column
            hs: dict[int, float] = {}
            for t, v in h.items():
                hs[t] = hs.get(t, 0.0) + 0.5 * v
                hs[(-t) % d] = hs.get((-t) % d, 0.0) + 0.5 * v
            one = {0: 1.0}
            hsh = self._conv(hs, h)
            self._cache["affine"] = (one, h, self._conv(ht, h), hs, hsh, self._conv(ht, hsh))
        return self._cache["affine"]

    def affine_kernels(self, a0: float, a1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`kernels` of the symbol a0 + a1 Re ĥ, exactly and in O(taps²) for a stencil."""
        one, h, hth, hs, hsh, hthsh = self._affine_columns()
        delta = np.arange(-(self.reach - 1), self.reach) % self.d

        def col(a: dict, b: dict) -> np.ndarray:
            return np.array([a0 * a.get(int(t), 0.0) + a1 * b.get(int(t), 0.0) for t in delta])

        return col(one, hs), col(h, hsh), col(hth, hthsh)

    def gram_affine(self, a0: float, a1: float) -> np.ndarray:
        """Qᵀ (a0 I + a1 H_s) Q."""
        if self.stencil is not None:
            return self.gram_from_kernels(*self.affine_kernels(a0, a1))
        return self.gram(a0 + a1 * self.r_half)

    # ---- a symmetric three-tap stencil (blur): closed-form resolvent kernels --------
    @cached_property
    def tridiagonal(self) -> tuple[float, float] | None:
        """(c0, c1) when H = c0 I + c1 (S + Sᵀ) (S the cyclic shift), else None."""
        h = self.h_col
        if self.d < 3:
            return None
        rest = np.delete(h, [0, 1, self.d - 1])
        scale = max(float(np.max(np.abs(h))), 1e-300)
        if np.max(np.abs(rest), initial=0.0) > 1e-14 * scale or abs(h[1] - h[-1]) > 1e-14 * scale or h[1] == 0:
            return None
        return float(h[0]), float(h[1])

    def count_symbol_above(self, x: float) -> int:
        """#{k in [0, d) : Re ĥ_k > x}."""
        vals, tail = self._sorted
        i = int(np.searchsorted(vals, x, side="right"))
        return int(tail[i]) if i < len(vals) else 0

    # ---- kernels ----------------------------------------------------------------
    # A kernel value e_mᵀ φ(H_s) H^a e_n depends on δ = m - n only. Every use needs
    # |δ| < reach = max(K, window), so the kernels are direct trigonometric sums over the half
    # spectrum for those δ: one pass over two (reach x d/2) tables instead of full-length FFTs.
    def set_reach(self, reach: int) -> None:
        """Make kernels available for |δ| < reach (at least K); resets the tables if it grows."""
        if reach > self._cache.get("reach", 0):
            self._cache.clear()
            self._cache["reach"] = max(reach, self.k)

    @property
    def reach(self) -> int:
        if "reach" not in self._cache:
            self._cache["reach"] = self.k
        return self._cache["reach"]

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        if "tables" not in self._cache:
            delta = np.arange(self.reach)[:, None]
            theta = (2.0 * np.pi / self.d) * ((delta * np.arange(self.d // 2 + 1)[None, :]) % self.d)
            self._cache["tables"] = (np.cos(theta), np.sin(theta))
        return self._cache["tables"]

    def _kernel_sums(self, a: np.ndarray) -> np.ndarray:
        """For Hermitian symbols given by their half spectra (columns of a, complex), the
        kernel values at δ = -(reach-1) .. reach-1: shape (2 reach - 1, columns)."""
        cos_t, sin_t = self._tables()
        m = self.mult_half[:, None]
        u = cos_t @ (m * a.real)
        v = sin_t @ (m * a.imag)
        pos = (u - v) / self.d  # δ >= 0
        neg = (u + v) / self.d  # -δ
        return np.concatenate([neg[:0:-1], pos], axis=0)

    def kernels(self, phi: np.ndarray, reach: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kernels of φ(H_s), φ(H_s) H and Hᵀ φ(H_s) H for a real or complex even symbol φ
        (half spectrum), as arrays over δ = -(reach-1) .. reach-1 (index δ + reach - 1)."""
        h = self.h_half
        ws = np.stack([np.ones_like(self.r_half), h, np.abs(h) ** 2], axis=1)  # (d/2+1, 3), Hermitian symbols
        if np.iscomplexobj(phi):
            re = self._kernel_sums(phi.real[:, None] * ws)
            im = self._kernel_sums(phi.imag[:, None] * ws)
            out = re + 1j * im
        else:
            out = self._kernel_sums(phi[:, None] * ws)
        return out[:, 0], out[:, 1], out[:, 2]

    def _idx(self, rows: int, cols: int) -> np.ndarray:
        return (np.arange(rows)[:, None] - np.arange(cols)[None, :]) + self.reach - 1

    def gram_from_kernels(self, k0: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
        """Qᵀ φ(H_s) Q (2K x 2K) from the three kernels."""
        idx = self._idx(self.k, self.k)
        a, b, c = k0[idx], k1[idx], k2[idx]
        return np.block([[a, b], [b.T, c]])

    def rows_from_kernels(self, k0: np.ndarray, k1: np.ndarray, window: int) -> np.ndarray:
        """e_mᵀ φ(H_s) Q for m < window <= reach: shape (window, 2K)."""
        require(window <= self.reach, "window", f"at most the kernels' reach {self.reach}", window)
        idx = self._idx(window, self.k)
        return np.concatenate([k0[idx], k1[idx]], axis=1)

    def gram(self, phi: np.ndarray) -> np.ndarray:
        return self.gram_from_kernels(*self.kernels(phi))

    @property
    def q_gram(self) -> np.ndarray:
        """QᵀQ."""
        if "q_gram" not in self._cache:
            self._cache["q_gram"] = self.gram_affine(1.0, 0.0)
        return self._cache["q_gram"]

    # ---- multipole moments of the normalised symbol u = (Re ĥ - centre) / radius ----
    @cached_property
    def band(self) -> tuple[float, float]:
        """(centre, radius) of the symbol's range (exact for a three-tap stencil)."""
        if self.tridiagonal is not None:
            c0, c1 = self.tridiagonal
            return c0, 2.0 * abs(c1)
        lo, hi = float(self.r_half.min()), float(self.r_half.max())
        return 0.5 * (lo + hi), max(0.5 * (hi - lo), 1e-300)

    @property
    def moment_kernels(self) -> np.ndarray:
        """Kernels over δ (index δ + reach - 1) of u(H_s)^q, u^q H and Hᵀ u^q H for q < terms,
        u = (Re ĥ - centre) / radius: shape (terms, 3, 2 reach - 1). Binomial sums for a
        three-tap stencil (independent of d); one pass over the trigonometric tables otherwise."""
        if "moments" not in self._cache:
            t = _MULTIPOLE_TERMS
            if self.tridiagonal is not None:
                c0, c1 = self.tridiagonal
                sgn = 1.0 if c1 > 0 else -1.0
                pw = np.stack([sgn**p * _cos_power_kernel(p, self.d, self.reach) for p in range(t + 2)])
                rad = 2.0 * abs(c1)
                k0 = pw[:t]
                k1 = c0 * pw[:t] + rad * pw[1:t + 1]
                k2 = c0**2 * pw[:t] + 2 * c0 * rad * pw[1:t + 1] + rad**2 * pw[2:t + 2]
                ker = np.stack([k0, k1, k2], axis=1)
            else:
                centre, radius = self.band
                u = (self.r_half - centre) / radius
                pw = u[:, None] ** np.arange(t)[None, :]  # (d/2+1, terms)
                h = self.h_half
                cols = np.concatenate([pw, pw * h[:, None], pw * (np.abs(h) ** 2)[:, None]], axis=1)
                raw = self._kernel_sums(cols.astype(complex))  # (2 reach - 1, 3 terms)
                ker = np.stack([raw[:, :t].T, raw[:, t:2 * t].T, raw[:, 2 * t:].T], axis=1)
            self._cache["moments"] = ker
        return self._cache["moments"]

    # ---- products ------------------------------------------------------------------
    def apply_h(self, v: np.ndarray, transpose: bool = False) -> np.ndarray:
        """H v (or Hᵀ v) for v of shape (d,) or (d, m)."""
        f = np.fft.rfft(v, axis=0)
        h = np.conj(self.h_half) if transpose else self.h_half
        return np.fft.irfft(f * (h if v.ndim == 1 else h[:, None]), n=self.d, axis=0)

    def project_rows(self, w: np.ndarray) -> tuple[float, float, np.ndarray]:
        """(tr(W H_s Wᵀ), ‖W‖_F², W Q) for W of shape (m, d): 2m FFTs, cached for the last W seen
        (the FL and DecL checks evaluate many matrices of one basis against the same W)."""
        key = (id(w), w.shape, float(w.ravel()[0]), float(w.ravel()[-1]))
        hit = self._cache.get("projected")
        if hit is not None and hit[0] == key:
            return hit[1]
        if self.stencil is not None:  # short sums over the taps: O(m d taps), no FFT
            _, h, _, hs, _, _ = self._affine_columns()
            whw = float(sum(v * np.sum(w * np.roll(w, t, axis=1)) for t, v in hs.items()))
            whp = np.zeros((w.shape[0], self.k))
            for t, v in h.items():
                whp += v * w[:, (np.arange(self.k) + t) % self.d]
            wq = np.concatenate([w[:, : self.k], whp], axis=1)
        else:
            f = np.fft.rfft(w, axis=1)
            pw = (np.abs(f) ** 2) * self.mult_half[None, :]
            whw = float(np.sum(pw * self.r_half[None, :]) / self.d)
            wq = np.concatenate([w[:, : self.k], self.apply_h(w.T, transpose=True)[: self.k].T], axis=1)
        out = (whw, float(np.sum(w * w)), wq)
        self._cache["projected"] = (key, out)
        return out

    def q_dense(self) -> np.ndarray:
        """Q = [P, H P] as a dense d x 2K array (O(d K) memory)."""
        p = np.zeros((self.d, self.k))
        p[np.arange(self.k), np.arange(self.k)] = 1.0
        return np.concatenate([p, self.apply_h(p)], axis=1)


@dataclass(frozen=True, eq=False)
class CirculantLowRank:
    """X = Circ(α Re ĥ + β) + Q T Qᵀ (module docstring); symmetric, d x d, never formed."""

    basis: CirculantBasis
    alpha: float
    beta: float
    t: np.ndarray

    def __post_init__(self) -> None:
        k2 = 2 * self.basis.k
        require(self.t.shape == (k2, k2), "T", f"a {k2} x {k2} matrix", self.t.shape)

    @property
    def d(self) -> int:
        return self.basis.d

    @property
    def k(self) -> int:
        return self.basis.k

    def symbol_half(self) -> np.ndarray:
        return self.alpha * self.basis.r_half + self.beta

    # ---- algebra ---------------------------------------------------------------
    def scaled(self, a: float) -> "CirculantLowRank":
        return CirculantLowRank(self.basis, a * self.alpha, a * self.beta, a * self.t)

    def minus_diagonal(self, diag: np.ndarray) -> "CirculantLowRank":
        """X - Diag(diag) for diag constant beyond the first K coordinates."""
        k = self.k
        rest = diag[k:]
        c0 = float(rest[0]) if rest.size else 0.0
        require(rest.size == 0 or bool(np.all(rest == c0)), "diag", "constant beyond the first K coordinates",
                "a non-constant tail")
        t = self.t.copy()
        t[np.arange(k), np.arange(k)] -= diag[:k] - c0
        return CirculantLowRank(self.basis, self.alpha, self.beta - c0, t)

    # ---- entries and norms -------------------------------------------------------
    def entry(self, i: int, j: int) -> float:
        circ = float(np.fft.irfft(self.symbol_half(), n=self.d)[(i - j) % self.d])
        qi = self._q_row(i)
        qj = self._q_row(j)
        return circ + float(qi @ self.t @ qj)

    def _q_row(self, i: int) -> np.ndarray:
        b = self.basis
        row = np.zeros(2 * b.k)
        if i < b.k:
            row[i] = 1.0
        row[b.k:] = b.h_col[(i - np.arange(b.k)) % b.d]
        return row

    def diagonal(self) -> np.ndarray:
        b = self.basis
        q = b.q_dense()
        circ0 = float(np.sum(self.symbol_half() * b.mult_half) / self.d)
        return circ0 + np.einsum("ia,ab,ib->i", q, self.t, q)

    def trace(self) -> float:
        b = self.basis
        return float(np.sum(self.symbol_half() * b.mult_half) + np.trace(self.t @ b.q_gram))

    def frobenius_sq(self) -> float:
        b = self.basis
        s = self.symbol_half()
        circ = float(np.sum(s**2 * b.mult_half))
        cross = 2.0 * float(np.trace(self.t @ b.gram_affine(self.beta, self.alpha)))
        g0 = b.q_gram
        low = float(np.trace(self.t @ g0 @ self.t @ g0))
        return circ + cross + low

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """X v for v of shape (d,) or (d, m): O(d log d) per column."""
        b = self.basis
        s = self.symbol_half()
        f = np.fft.rfft(v, axis=0)
        out = np.fft.irfft(f * (s if v.ndim == 1 else s[:, None]), n=self.d, axis=0)
        qtv = np.concatenate([v[: b.k], b.apply_h(v, transpose=True)[: b.k]], axis=0)
        u = self.t @ qtv
        pad = np.zeros_like(v)
        pad[: b.k] = u[b.k:]
        out = out + b.apply_h(pad)
        out[: b.k] += u[: b.k]
        return out

    def gram_trace(self, w: np.ndarray) -> float:
        """tr(W X Wᵀ) for W of shape (m, d), O(m d log d) once per W for all matrices of the basis."""
        whw, ww, wq = self.basis.project_rows(w)
        return self.alpha * whw + self.beta * ww + float(np.sum((wq @ self.t) * wq))

    def dense(self) -> np.ndarray:
        """The d x d matrix (small-d cross-check only)."""
        from scipy.linalg import circulant

        b = self.basis
        c = circulant(np.fft.irfft(self.symbol_half(), n=self.d))
        q = b.q_dense()
        return c + q @ self.t @ q.T

    # ---- spectrum --------------------------------------------------------------
    @cached_property
    def _factor(self) -> tuple[np.ndarray, np.ndarray]:
        """T = W Σ Wᵀ over T's non-negligible eigenvalues."""
        vals, vecs = np.linalg.eigh(0.5 * (self.t + self.t.T))
        keep = np.abs(vals) > 1e-13 * max(float(np.max(np.abs(vals))), 1e-300)
        return vals[keep], vecs[:, keep]

    def resolvent_kernels(self, lam: complex, squared: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Kernels (over δ, index δ + reach - 1) of B⁻¹, B⁻¹H and HᵀB⁻¹H with B = Circ(s) - λ (or of
        B⁻², with ``squared``): multipole far from the band, closed form in it for a three-tap
        stencil, trigonometric sums otherwise."""
        b = self.basis
        centre, radius = b.band
        if self.alpha != 0.0 and np.isreal(lam):
            x = (float(np.real(lam)) - self.beta) / self.alpha
            dist = x - centre
            if abs(dist) * _MULTIPOLE_RATIO >= radius:
                rho = radius / dist
                q = np.arange(_MULTIPOLE_TERMS)
                # 1/(s - λ) = (1/α) 1/(r - x) = -(1/(α dist)) Σ_q ρ^q u^q ; its λ-derivative for B⁻²
                coef = -(rho**q) / (dist * self.alpha) if not squared else (q + 1) * rho**q / (dist**2 * self.alpha**2)
                ker = np.tensordot(coef, b.moment_kernels, axes=1)
                return ker[0], ker[1], ker[2]
        if b.tridiagonal is not None and self.alpha != 0.0 and not squared:
            return _tridiagonal_kernels(self, lam)
        phi = 1.0 / (self.symbol_half() - lam)
        return b.kernels(phi * phi if squared else phi)

    def _g(self, lam: float) -> np.ndarray:
        """G(λ) = Qᵀ (Circ(s) - λ)⁻¹ Q."""
        if self.alpha == 0.0:
            return self.basis.q_gram / (self.beta - lam)
        return self.basis.gram_from_kernels(*self.resolvent_kernels(lam))

    def _n_sym(self, lam: float) -> int:
        if self.alpha > 0:
            return self.basis.count_symbol_above((lam - self.beta) / self.alpha)
        if self.alpha < 0:
            x = (lam - self.beta) / self.alpha
            return self.d - self.basis.count_symbol_above(x) - int(np.sum(self.basis.mult_half[self.basis.r_half == x]))
        return self.d if self.beta > lam else 0

    @cached_property
    def _sorted_symbol(self) -> np.ndarray:
        return np.sort(self.symbol_half())

    def _pole_gap_near(self, lam: float) -> tuple[float, float] | None:
        """(p, gap) when a symbol value p lies within 1e-6 of its gap to the next distinct value
        from λ (there G(λ) is dominated by one pole and the plain count loses precision)."""
        v = self._sorted_symbol
        i = int(np.searchsorted(v, lam))
        cands = [v[j] for j in (i - 1, i) if 0 <= j < len(v)]
        if not cands:
            return None
        p = float(min(cands, key=lambda c: abs(c - lam)))
        lo = np.searchsorted(v, p, side="left")
        hi = np.searchsorted(v, p, side="right")
        others = [abs(v[j] - p) for j in (lo - 1, hi) if 0 <= j < len(v)]
        gap = float(min(others)) if others else 1.0
        if gap <= 0 or abs(lam - p) >= 1e-6 * gap:
            return None
        return p, gap

    def _inertia(self, lam: float) -> tuple[int, np.ndarray, int, bool]:
        """(#{k : s_k > λ}, eigenvalues of N(λ) ascending, the exact count above λ, whether the
        count came from the deflated form of :meth:`_deflated_count` because λ is on a pole)."""
        sig, _ = self._factor
        n_sym = self._n_sym(lam)
        n_neg_sig = int(np.sum(sig < 0))
        if sig.size == 0:
            return n_sym, np.zeros(0), n_sym, False
        near = self._pole_gap_near(lam)
        if near is not None:
            return n_sym, np.zeros(0), self._deflated_count(lam, *near), True
        ev = np.linalg.eigvalsh(self._secular(self._g(lam)))
        return n_sym, ev, n_sym + int(np.sum(ev < 0)) - n_neg_sig, False

    def _deflated_count(self, lam: float, p: float, gap: float) -> int:
        """The count with the pole p's eigenspace U moved to γ = gap/2 away from λ:
        X - λ = B_γ + [Z, U] diag(Σ, p - λ - γ) [Z, U]ᵀ with B_γ well conditioned, then Haynsworth."""
        sig, w = self._factor
        b = self.basis
        d = self.d
        s_half = self.symbol_half()
        idx = np.flatnonzero(np.abs(s_half - p) <= 4 * np.spacing(abs(p)) + 1e-300)
        u = real_fourier_basis(d, idx)  # (d, m)
        m = u.shape[1]
        qtu = np.concatenate([u[: b.k], b.apply_h(u, transpose=True)[: b.k]], axis=0)
        gamma = 0.5 * gap
        phi = np.zeros_like(s_half)
        keep = np.ones(len(s_half), dtype=bool)
        keep[idx] = False
        phi[keep] = 1.0 / (s_half[keep] - lam)
        g = b.gram(phi) + qtu @ qtu.T / gamma  # Qᵀ B_γ⁻¹ Q
        dvals = np.concatenate([sig, np.full(m, p - lam - gamma)])
        zb = np.zeros((2 * b.k + m, len(sig) + m))  # [Z, U] in the basis [Q, U] of B_γ⁻¹'s blocks
        zb[: 2 * b.k, : len(sig)] = w
        big = np.zeros((2 * b.k + m, 2 * b.k + m))
        big[: 2 * b.k, : 2 * b.k] = g
        big[: 2 * b.k, 2 * b.k:] = qtu / gamma  # Qᵀ B_γ⁻¹ U
        big[2 * b.k:, : 2 * b.k] = qtu.T / gamma
        big[2 * b.k:, 2 * b.k:] = np.eye(m) / gamma  # Uᵀ B_γ⁻¹ U
        zb[2 * b.k:, len(sig):] = np.eye(m)
        sq = np.sqrt(np.abs(dvals))
        n = np.diag(np.sign(dvals)) + (zb * sq[None, :]).T @ big @ (zb * sq[None, :])
        ev = np.linalg.eigvalsh(0.5 * (n + n.T))
        # whether _n_sym counted the pole, by its own predicate (p itself may round either way)
        r_p = float(self.basis.r_half[idx[0]])
        x = (lam - self.beta) / self.alpha if self.alpha != 0 else 0.0
        counted = (self.alpha > 0 and r_p > x) or (self.alpha < 0 and r_p < x) or (self.alpha == 0 and self.beta > lam)
        n_pos_b = self._n_sym(lam) - (int(np.sum(self.basis.mult_half[idx])) if counted else 0) + m
        return n_pos_b + int(np.sum(ev < 0)) - int(np.sum(dvals < 0))

    def count_above(self, lam: float) -> int:
        """Exact #{eigenvalues of X > λ} (module docstring)."""
        return self._inertia(lam)[2]

    def _secular(self, g: np.ndarray) -> np.ndarray:
        """N(λ) = sign(Σ) + |Σ|^½ Wᵀ G(λ) W |Σ|^½: congruent to Σ⁻¹ + Wᵀ G W (same inertia and,
        scaled by |Σ|^½, the same null vectors), without Σ⁻¹'s large entries."""
        sig, w = self._factor
        sq = np.sqrt(np.abs(sig))
        ws = w * sq[None, :]
        n = np.diag(np.sign(sig)) + ws.T @ g @ ws
        return 0.5 * (n + n.T)

    @cached_property
    def bounds(self) -> tuple[float, float]:
        """Interval containing the whole spectrum."""
        s = self.symbol_half()
        spread = float(np.max(np.abs(self._factor[0]))) * float(np.linalg.norm(self.basis.q_gram, 2)) if self._factor[0].size else 0.0
        return float(s.min()) - spread - 1e-12, float(s.max()) + spread + 1e-12

    def _circ_value(self, j: int) -> float:
        """The j-th largest eigenvalue of Circ(s)."""
        if self.alpha >= 0:
            return self.alpha * self.basis.symbol_rank_value(j, largest=True) + self.beta
        return self.alpha * self.basis.symbol_rank_value(j, largest=False) + self.beta

    def bracket(self, j: int) -> tuple[float, float]:
        """(lo, hi) with count(lo) >= j > count(hi), from interlacing with Circ(s) (a rank-r term
        with n₊ positive and n₋ negative directions moves the j-th eigenvalue between the
        (j + n₋)-th and the (j - n₊)-th of Circ(s)), checked by the exact count and widened if needed."""
        sig, _ = self._factor
        n_pos, n_neg = int(np.sum(sig > 0)), int(np.sum(sig < 0))
        lo_all, hi_all = self.bounds
        slack = 1e-12 * max(abs(lo_all), abs(hi_all))
        hi = self._circ_value(j - n_pos) + slack if j - n_pos >= 1 else hi_all
        lo = self._circ_value(j + n_neg) - slack if j + n_neg <= self.d else lo_all
        if self.count_above(lo) < j:
            lo = lo_all
        if self.count_above(hi) >= j:
            hi = hi_all
        return lo, hi

    def eigenvalue(self, j: int, lo: float | None = None, hi: float | None = None, atol: float = 0.0) -> float:
        """The j-th largest eigenvalue (j >= 1) by bisection on the exact count, to ``atol`` or
        to the resolution of floating point, from ``lo``/``hi`` or from :meth:`bracket`."""
        require(1 <= j <= self.d, "j", f"in [1, d={self.d}]", j)
        if lo is None or hi is None:
            blo, bhi = self.bracket(j)
            lo = blo if lo is None else max(lo, blo)
            hi = bhi if hi is None else min(hi, bhi)
        # invariant: count(lo) >= j > count(hi). Bisection until (lo, hi) holds this one eigenvalue
        # and no pole of the circulant; there N(λ) is continuous and non-decreasing (its derivative
        # |Σ|^½ Wᵀ Qᵀ B⁻² Q W |Σ|^½ is PSD), one of its eigenvalues crosses 0 at the root, and the
        # Illinois (regula falsi) iteration on that eigenvalue converges superlinearly.
        at_lo, at_hi = self._inertia(lo), self._inertia(hi)
        illinois = True

        def count(state: tuple) -> int:
            return state[2]

        while True:
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi or hi - lo <= atol:
                return 0.5 * (lo + hi)
            if (illinois and at_lo[0] == at_hi[0] and count(at_lo) - count(at_hi) == 1 and at_lo[1].size
                    and at_hi[1].size and not at_lo[3] and not at_hi[3]):
                nu = int(np.sum(at_hi[1] < 0))
                root = self._illinois(lo, hi, nu, atol, float(at_lo[1][nu]), float(at_hi[1][nu]))
                if root is not None:
                    return root
                illinois = False  # it met a pole: finish by bisection
            at_mid = self._inertia(mid)
            if count(at_mid) >= j:
                lo, at_lo = mid, at_mid
            else:
                hi, at_hi = mid, at_mid

    def _illinois(self, lo: float, hi: float, nu: int, atol: float, f_lo: float, f_hi: float) -> float | None:
        """Root in (lo, hi) of f(λ) = ν-th smallest eigenvalue of N(λ) (f(lo) < 0 <= f(hi)); None
        if an iterate lands on a pole (deflated count), for the caller to bisect instead."""
        side = 0
        for _ in range(200):
            if hi - lo <= max(atol, 4 * np.spacing(max(abs(lo), abs(hi)))):
                break
            x = hi - f_hi * (hi - lo) / (f_hi - f_lo) if f_hi != f_lo else 0.5 * (lo + hi)
            if not lo < x < hi:
                x = 0.5 * (lo + hi)
            state = self._inertia(x)
            if state[3] or state[1].size <= nu:
                return None
            fx = float(state[1][nu])
            if fx < 0:
                lo, f_lo = x, fx
                if side == -1:
                    f_hi *= 0.5
                side = -1
            else:
                hi, f_hi = x, fx
                if side == 1:
                    f_lo *= 0.5
                side = 1
            if fx == 0.0:
                return x
        return 0.5 * (lo + hi)

    def eigenpairs(self, lams: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        """For distinct computed eigenvalues (with multiplicity by repetition), the eigenvector
        entries on the first ``window`` coordinates, the residual norms, and for each a function
        returning the full unit eigenvector (length d)."""
        sig, w = self._factor
        b = self.basis
        rows_all, res_all, full_all = [], [], []
        i = 0
        lams = np.asarray(lams, dtype=float)
        while i < len(lams):
            j = i
            # a multiple eigenvalue: bisection returns (nearly) the same float for each copy
            while j + 1 < len(lams) and abs(lams[j + 1] - lams[i]) <= 8 * np.spacing(abs(lams[i])):
                j += 1
            mult = j - i + 1
            lam = float(np.mean(lams[i:j + 1]))
            near = self._near_pole(lam)
            if near is not None:  # the secular form loses its precision on a pole: the augmented form
                r_, res_, f_ = self._pole_eigenpairs(lam, mult, near, window)
                rows_all.extend(r_)
                res_all.extend(res_)
                full_all.extend(f_)
                i = j + 1
                continue
            phi = 1.0 / (self.symbol_half() - lam)
            k0, k1, k2 = self.resolvent_kernels(lam)
            g = b.gram_from_kernels(k0, k1, k2)
            n = self._secular(g)
            ev, evec = np.linalg.eigh(n)
            order = np.argsort(np.abs(ev))[:mult]
            y = evec[:, order]  # null vectors of N, (r, mult)
            ws = w * np.sqrt(np.abs(sig))[None, :]
            g2 = b.gram_from_kernels(*self.resolvent_kernels(lam, squared=True))
            cols = ws @ y  # coefficients on Q of Z y, (2K, mult)
            gram_v = cols.T @ g2 @ cols  # ‖B⁻¹ Q cols‖² Gram
            # orthonormalise within the eigenspace
            lv, uv = np.linalg.eigh(0.5 * (gram_v + gram_v.T))
            if not np.all(lv > 0):  # precision lost to a nearby pole: the augmented form, exact for any λ
                k_near = int(np.argmin(np.abs(self.symbol_half() - lam)))
                s_half = self.symbol_half()
                idx = np.flatnonzero(np.abs(s_half - s_half[k_near]) <= 4 * np.spacing(abs(s_half[k_near])) + 1e-300)
                r_, res_, f_ = self._pole_eigenpairs(lam, mult, idx, window)
                rows_all.extend(r_)
                res_all.extend(res_)
                full_all.extend(f_)
                i = j + 1
                continue
            cols = cols @ uv / np.sqrt(lv)
            y = y @ uv / np.sqrt(lv)
            rows = b.rows_from_kernels(k0, k1, window) @ cols  # (window, mult), B⁻¹ Q cols
            zs = ws @ (np.sign(sig)[:, None] * (n @ y))  # Q-coefficients of X v - λ v
            res = np.sqrt(np.maximum(np.einsum("am,ab,bm->m", zs, b.q_gram, zs), 0.0))
            for a in range(mult):
                rows_all.append(rows[:, a])
                res_all.append(float(res[a]))
                full_all.append(_full_vector(self, phi, cols[:, a]))
            i = j + 1
        vecs = np.stack(rows_all, axis=1) if rows_all else np.zeros((window, 0))
        return vecs, np.asarray(res_all), np.asarray(lams), full_all

    @cached_property
    def _band_edges(self) -> tuple[float, float]:
        s_half = self.symbol_half()
        return float(s_half.min()), float(s_half.max())

    def _near_pole(self, lam: float) -> np.ndarray | None:
        """Half-spectrum indices of the symbol value nearest λ when λ is within 1e-3 of its distance
        to the next distinct value (where 1/(s - λ) swamps the secular equation), else None."""
        s_half = self.symbol_half()
        lo, hi = self._band_edges
        if lam < lo - 1e-3 * (hi - lo) or lam > hi + 1e-3 * (hi - lo):
            return None  # outside the band: no pole is near (O(1) instead of O(d))
        dist = np.abs(s_half - lam)
        k0 = int(np.argmin(dist))
        p = s_half[k0]
        same = np.abs(s_half - p) <= 4 * np.spacing(abs(p)) + 1e-300
        others = dist[~same]
        if others.size == 0:
            return None
        gap = float(np.min(np.abs(s_half[~same] - p)))
        return np.flatnonzero(same) if dist[k0] < 1e-3 * gap else None

    def _pole_eigenpairs(self, lam: float, mult: int, idx: np.ndarray, window: int) -> tuple[list, list, list]:
        """Eigenpairs at λ on (or near) the pole p = s_k, k in ``idx``: with U the real
        Fourier basis of p's eigenspace and R⊥ the resolvent without it, v = U a - R⊥ Z y where
        [[sign Σ + |Σ|^½ Zᵀ R⊥ Z |Σ|^½, -|Σ|^½ ZᵀU], [-UᵀZ|Σ|^½, -(p - λ)]] [y; a] = 0."""
        sig, w = self._factor
        b = self.basis
        d = self.d
        s_half = self.symbol_half()
        p = float(s_half[idx[0]])
        u = real_fourier_basis(d, idx)  # (d, m)
        qtu = np.concatenate([u[: b.k], b.apply_h(u, transpose=True)[: b.k]], axis=0)  # (2K, m)
        phi = np.zeros_like(s_half)
        keep = np.ones(len(s_half), dtype=bool)
        keep[idx] = False
        phi[keep] = 1.0 / (s_half[keep] - lam)
        k0, k1, k2 = b.kernels(phi)
        g = b.gram_from_kernels(k0, k1, k2)
        g2 = b.gram(phi * phi)
        ws = w * np.sqrt(np.abs(sig))[None, :]
        r, m = ws.shape[1], u.shape[1]
        aug = np.zeros((r + m, r + m))
        aug[:r, :r] = np.diag(np.sign(sig)) + ws.T @ g @ ws
        aug[:r, r:] = -ws.T @ qtu
        aug[r:, :r] = aug[:r, r:].T
        aug[r:, r:] = -(p - lam) * np.eye(m)
        aug = 0.5 * (aug + aug.T)
        ev, evec = np.linalg.eigh(aug)
        z = evec[:, np.argsort(np.abs(ev))[:mult]]
        cols, a = ws @ z[:r], z[r:]
        gram_v = a.T @ a + cols.T @ g2 @ cols
        lv, uv = np.linalg.eigh(0.5 * (gram_v + gram_v.T))
        if not np.all(lv > 0):
            raise StructuredSolverError(f"eigenvalue {lam!r} on the pole {p!r}: degenerate eigenvector norm")
        cols, a = cols @ uv / np.sqrt(lv), a @ uv / np.sqrt(lv)
        rows = u[:window] @ a - b.rows_from_kernels(k0, k1, window) @ cols
        rows_out, res_out, full_out = [], [], []
        for j in range(mult):
            build = _pole_vector(self, phi, cols[:, j], u @ a[:, j])
            vec = build()
            res_out.append(float(np.linalg.norm(self.matvec(vec) - lam * vec)))
            rows_out.append(rows[:, j])
            full_out.append(build)
        return rows_out, res_out, full_out

    def lorentz_weights(self, centre: float, half_width: float, window: int) -> np.ndarray:
        """2h · Im e_kᵀ (X - centre - i h)⁻¹ e_k for k < window: an upper bound on
        Σ_{|λ_j - centre| <= h} (e_kᵀ v_j)² (module docstring)."""
        sig, w = self._factor
        b = self.basis
        z = centre + 1j * half_width
        k0, k1, k2 = self.resolvent_kernels(z)
        g = b.gram_from_kernels(k0, k1, k2)
        ws = w * np.sqrt(np.abs(sig))[None, :]
        rows = b.rows_from_kernels(k0, k1, window) @ ws  # (window, r): e_kᵀ B⁻¹ Z |Σ|^½
        n = np.diag(np.sign(sig)) + ws.T @ g @ ws
        sol = np.linalg.solve(n, rows.T)  # (r, window)
        f = k0[b.reach - 1] - np.einsum("kr,rk->k", rows, sol)
        return 2.0 * half_width * f.imag


def _resolvent_image(x: "CirculantLowRank", phi: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """R Q c: the secular solution's coefficients ``cols`` (2K,) mapped through Q = [P_K, H P_K]
    and the circulant resolvent of symbol ``phi`` (d,)."""
    b = x.basis
    pad_p = np.zeros(b.d)
    pad_p[: b.k] = cols[: b.k]
    pad_h = np.zeros(b.d)
    pad_h[: b.k] = cols[b.k:]
    qv = pad_p + b.apply_h(pad_h)
    return np.fft.irfft(np.fft.rfft(qv) * phi, n=b.d)


def _pole_vector(x: "CirculantLowRank", phi: np.ndarray, cols: np.ndarray, ua: np.ndarray) -> Callable[[], np.ndarray]:
    def build() -> np.ndarray:
        v = ua - _resolvent_image(x, phi, cols)
        return v / np.linalg.norm(v)
    return build


def _full_vector(x: CirculantLowRank, phi: np.ndarray, cols: np.ndarray) -> Callable[[], np.ndarray]:
    def build() -> np.ndarray:
        v = _resolvent_image(x, phi, cols)
        return v / np.linalg.norm(v)
    return build


@dataclass(frozen=True)
class LeadingSpectrum:
    """Output of :func:`leading_spectrum`: descending values with multiplicities, eigenvector
    entries on the first ``window`` coordinates (for a lumped entry: the square roots of the
    upper-bound weights), residual norms (NaN for lumped and sentinel entries), and notes."""

    values: np.ndarray
    mult: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    full: tuple
    lumped: tuple[int, ...]
    sentinel: int | None
    tol: float
    notes: tuple[str, ...]


def leading_spectrum(x: CirculantLowRank, c: int, rtol: float, window: int,
                     cap: int = EXPLICIT_TIE_CAP) -> LeadingSpectrum:
    """Top eigenpairs of ``x`` down to the c-th, every eigenvalue within ``rtol·|λ_1|`` of the
    c-th (explicitly up to ``cap`` of them, the rest lumped), and the next one below."""
    if not 1 <= c < x.d:
        raise StructuredSolverError(f"c = {c} must be in [1, d={x.d})")
    x.basis.set_reach(window)
    lo_all, hi_all = x.bounds
    lam1 = x.eigenvalue(1)
    scale = max(abs(lam1), 1e-300)
    tol = rtol * scale
    notes: list[str] = []
    lam_c = x.eigenvalue(c, atol=tol * 1e-4 if tol > 0 else 0.0)
    # the cluster window: the tie tolerance, and never narrower than the bisection's resolution
    tol = max(tol, 64.0 * float(np.spacing(abs(lam_c))))
    n_above = x.count_above(lam_c + tol)  # strictly above the cluster
    n_top = x.count_above(lam_c - tol)  # through the cluster
    n_win = n_top - n_above
    values: list[float] = []
    # every eigenvalue above the cluster, explicitly
    for j in range(1, n_above + 1):
        values.append(x.eigenvalue(j, lo=lam_c + tol) if j > 1 else lam1)
    n_explicit_win = n_win if n_win <= cap else 0
    for j in range(n_above + 1, n_above + n_explicit_win + 1):
        values.append(x.eigenvalue(j, lo=lam_c - tol, hi=lam_c + tol))
    lams = np.asarray(values)
    vecs, res, _, full = x.eigenpairs(lams, window) if len(lams) else (np.zeros((window, 0)), np.zeros(0), None, [])
    if len(res) and np.max(res) > 1e-8 * scale:
        raise StructuredSolverError(f"residual {float(np.max(res)):.3g} above 1e-8 |λ_1| = {1e-8 * scale:.3g}")
    vals_out = list(lams)
    mult_out = [1] * len(lams)
    cols = [vecs[:, j] for j in range(vecs.shape[1])]
    res_out = list(res)
    full_out = list(full)
    lumped: tuple[int, ...] = ()
    if n_win > n_explicit_win:
        n_l = n_win - n_explicit_win
        bound = x.lorentz_weights(lam_c, tol, window)
        # subtract the explicit eigenpairs' own share of the Lorentzian, which is exact for them
        for lam, col in zip(lams, cols):
            bound = bound - 2.0 * tol * col**2 * tol / ((lam - lam_c) ** 2 + tol**2)
        explicit_total = np.sum(np.square(np.stack(cols, axis=1)), axis=1) if cols else np.zeros(window)
        bound = np.clip(bound, 0.0, np.maximum(1.0 - explicit_total, 0.0))
        lumped = (len(vals_out),)
        vals_out.append(lam_c)
        mult_out.append(n_l)
        cols.append(np.sqrt(bound))
        res_out.append(float("nan"))
        full_out.append(None)
        notes.append(f"{n_l} eigenvalues within the tie tolerance {tol:.3g} of λ_c are lumped; their weights on the "
                     "first coordinates are upper bounds (Lorentzian), so r_high is an upper bound")
    # the next eigenvalue below the cluster (value only)
    j_next = n_top + 1
    sentinel = None
    if j_next <= x.d:
        # its exact value matters only for the eigengap of a well-posed cut (no lump)
        nxt = x.eigenvalue(j_next, hi=lam_c - tol, atol=tol if lumped else 0.0)
        sentinel = len(vals_out)
        vals_out.append(nxt)
        mult_out.append(1)
        cols.append(np.zeros(window))
        res_out.append(float("nan"))
        full_out.append(None)
    return LeadingSpectrum(np.asarray(vals_out), np.asarray(mult_out, dtype=int), np.stack(cols, axis=1),
                           np.asarray(res_out), tuple(full_out), lumped, sentinel, tol, tuple(notes))


def _cos_power_kernel(p: int, d: int, reach: int) -> np.ndarray:
    """(1/d) Σ_k cos^p(2πk/d) e^{2πikδ/d} for δ = -(reach-1) .. reach-1: Σ_{j ≡ δ mod d} C(p, (p+j)/2) / 2^p."""
    from scipy.special import comb

    out = np.zeros(2 * reach - 1)
    js = np.arange(-p, p + 1, 2)
    w = comb(p, (p + js) // 2) / 2.0**p
    for j, wj in zip(js, w):
        # every δ in range with δ ≡ j (mod d)
        base = ((j + reach - 1) % d) - (reach - 1)
        for dd in range(base, reach, d):
            if dd >= -(reach - 1):
                out[dd + reach - 1] += wj
    return out


def _tridiagonal_kernels(x: "CirculantLowRank", lam: complex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form kernels of (Circ(s) - λ)⁻¹ for s_k = A0 + 2 A1 cos θ_k (θ_k = 2πk/d):

        κ(δ) = -(1/A1) ρ/(1 - ρ²) (ρ^|δ| + ρ^(d-|δ|)) / (1 - ρ^d),   ρ + 1/ρ = 2ζ, ζ = (λ - A0)/(2 A1),

    (the discrete sum of the Fourier series of 1/(cos θ - ζ)), in the band (real ζ in (-1, 1),
    ρ = e^{iφ}) κ(δ) = cos(φ(d/2 - |δ|)) / (2 A1 sin φ sin(φ d/2)). 1 ∓ ζ is formed from
    (band edge - λ) so that λ near the edge keeps its relative precision. Then, as H = (s - β)/α,
    the kernels of B⁻¹H and HᵀB⁻¹H follow from κ and the stencil."""
    b = x.basis
    tri = b.tridiagonal
    assert tri is not None  # callers take this path only for a three-tap stencil
    c0, c1 = tri
    d = b.d
    a0 = x.alpha * c0 + x.beta
    a1 = x.alpha * c1
    delta = np.arange(-(b.reach - 1), b.reach)
    ad = np.abs(delta) % d
    ad = np.minimum(ad, d - ad) if d > 0 else ad
    one_minus = ((a0 + 2 * a1) - lam) / (2 * a1)  # 1 - ζ
    one_plus = (lam - (a0 - 2 * a1)) / (2 * a1)  # 1 + ζ
    if np.isreal(lam) and np.real(one_minus) > 0 and np.real(one_plus) > 0:
        om, op = float(np.real(one_minus)), float(np.real(one_plus))
        phi = 2.0 * np.arcsin(np.sqrt(om / 2.0)) if om < 1.0 else np.pi - 2.0 * np.arcsin(np.sqrt(op / 2.0))
        k0 = np.cos(phi * (d / 2.0 - ad)) / (2.0 * a1 * np.sin(phi) * np.sin(phi * d / 2.0))
    else:
        om_c = complex(one_minus)
        op_c = complex(one_plus)
        root = np.sqrt(-om_c) * np.sqrt(op_c)  # sqrt(ζ - 1) sqrt(ζ + 1)
        one_minus_rho = om_c + root  # 1 - ρ with ρ = ζ - root
        rho = 1.0 - one_minus_rho
        if abs(rho) > 1.0:  # the other root of ρ + 1/ρ = 2ζ
            rho = 1.0 / rho
            one_minus_rho = 1.0 - rho
        with np.errstate(all="ignore"):
            log_rho = np.log1p(-one_minus_rho)
            pref = rho / (one_minus_rho * (1.0 + rho))
        with np.errstate(all="ignore"):  # on a pole the kernels are infinite; the caller moves off it
            k0 = -(pref / a1) * (np.exp(ad * log_rho) + np.exp((d - ad) * log_rho)) / (-np.expm1(d * log_rho))
        if np.isreal(lam):
            k0 = k0.real
    is0 = (delta % d == 0).astype(float)
    is1 = ((delta % d == 1 % d).astype(float) + (delta % d == (-1) % d).astype(float))
    lb = lam - x.beta
    k1 = (is0 + lb * k0) / x.alpha
    k2 = ((a0 - lam + 2.0 * lb) * is0 + a1 * is1 + lb**2 * k0) / x.alpha**2
    return k0, k1, k2


# --------------------------------------------------------------------------- augmentations
def blur_basis(d: int, k: int) -> CirculantBasis:
    """The circulant [1/4, 1/2, 1/4] blur (``xmatrix.augmentation_matrix``, name "blur")."""
    h = np.zeros(d)
    h[0] = 0.5
    h[1 % d] += 0.25
    h[-1 % d] += 0.25
    return CirculantBasis(d, np.fft.rfft(h), k, "blur", h)


def is_circulant(h: np.ndarray, rtol: float = 1e-12) -> bool:
    """Whether the square matrix h is circulant: H[m, n] = H[(m - n) mod d, 0]."""
    d = h.shape[0]
    col = h[:, 0]
    idx = (np.arange(d)[:, None] - np.arange(d)[None, :]) % d
    return bool(np.allclose(h, col[idx], rtol=0.0, atol=rtol * max(float(np.max(np.abs(h))), 1e-300)))


def basis_from_column(col: np.ndarray, k: int, name: str = "circulant") -> CirculantBasis:
    col = np.asarray(col, dtype=float)
    return CirculantBasis(col.shape[0], np.fft.rfft(col), k, name, col)


def symbol_spectrum(basis: CirculantBasis) -> np.ndarray:
    """All d eigenvalues of H_s = ½(H + Hᵀ) from the FFT, ascending (cross-checked against eigvalsh in tests)."""
    return np.sort(np.repeat(basis.r_half, basis.mult_half))


def not_supported(what: str) -> ParameterError:
    return ParameterError("augmentation", f"supported by the structured CL2 solver ({what})", "")
