"""The linear map H of dissimilar-augmentation CL (Assumption A.9), parsed from its name.

Names (``NonIIDModelConfig.augmentation``, ``--augmentation``):

==========================  ======================================================  ==========
name                        H                                                       kind
==========================  ======================================================  ==========
``blur`` (default)          circulant [1/4, 1/2, 1/4]: (Hx)_m = x_{m-1}/4 + x_m/2     circulant
                            + x_{m+1}/4 (indices mod d)
``identity``                I                                                       scalar
``scale:h``                 h I, h > 0                                              scalar
``stencil:a_-r,...,a_r``    circulant (Hx)_m = Σ_o a_o x_{m+o}, an odd number of     circulant
                            taps centred on o = 0 (``blur`` = ``stencil:.25,.5,.25``)
``matrix:PATH.npy``         a user d x d matrix; circulant ones use the structured   circulant
                            solver, others the dense path (small d only, with a      or dense
                            note in the report)
==========================  ======================================================  ==========

The exact CL2 matrix is block ⊕ scalar for a scalar H, circulant + low rank for a circulant
H (``theory.circulant``) and dense otherwise (``xmatrix.dissimilar_x``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .circulant import CirculantBasis, basis_from_column, is_circulant
from .errors import ParameterError, require

ALLOWED = "'blur', 'identity', 'scale:<h>' (h > 0), 'stencil:a_-r,...,a_r' (odd count) or 'matrix:<path.npy>'"


@dataclass(frozen=True)
class Augmentation:
    name: str
    kind: str  # "scalar", "circulant" or "dense"
    scale: float = 1.0
    taps: tuple[float, ...] = ()
    path: str = ""

    # ---- the map ---------------------------------------------------------------
    def column(self, d: int) -> np.ndarray:
        """First column h of a circulant H (H[m, n] = h[(m - n) mod d])."""
        require(self.kind == "circulant", "augmentation", "circulant for a first column", self.name)
        if self.path:
            return self._matrix(d)[:, 0].copy()
        r = len(self.taps) // 2
        require(len(self.taps) <= d, "augmentation", f"a stencil of at most d={d} taps", len(self.taps))
        h = np.zeros(d)
        for j, a in enumerate(self.taps):
            h[(-(j - r)) % d] += a  # H[m, m+o] = a_o  =>  h[-o mod d] = a_o
        return h

    def _matrix(self, d: int) -> np.ndarray:
        h = _load_matrix(self.path)
        require(h.shape == (d, d), "augmentation", f"a {d} x {d} matrix in {self.path}", h.shape)
        return h

    def check_dimension(self, d: int) -> None:
        """A user matrix must be d x d (a clear error naming the file otherwise)."""
        if self.path:
            self._matrix(d)

    def dense(self, d: int) -> np.ndarray:
        """H as a d x d array (small d only)."""
        if self.kind == "scalar":
            return self.scale * np.eye(d)
        if self.path:
            return self._matrix(d).copy()
        col = self.column(d)
        idx = (np.arange(d)[:, None] - np.arange(d)[None, :]) % d
        return col[idx]

    def apply_rows(self, x: np.ndarray) -> np.ndarray:
        """x Hᵀ for a batch x of shape (n, d)."""
        d = x.shape[1]
        if self.kind == "scalar":
            return self.scale * x
        if self.kind == "dense":
            return x @ self._matrix(d).T
        if self.taps and not self.path:
            r = len(self.taps) // 2
            out = np.zeros_like(x)
            for j, a in enumerate(self.taps):
                out += a * np.roll(x, -(j - r), axis=1)  # (Hx)_m = Σ_o a_o x_{m+o}
            return out
        h = np.fft.rfft(self.column(d))
        return np.fft.irfft(np.fft.rfft(x, axis=1) * h[None, :], n=d, axis=1)

    def trace(self, d: float) -> float:
        if self.kind == "scalar":
            return self.scale * float(d)
        if self.path:
            return float(np.trace(self._matrix(int(d))))
        r = len(self.taps) // 2
        return float(self.taps[r]) * float(d)

    def basis(self, d: int, k: int) -> CirculantBasis:
        """The shared circulant basis of the CL2 matrices at (d, K) (cached)."""
        return _basis(self, d, k)

    @property
    def note(self) -> str | None:
        if self.kind == "dense":
            return (f"H = {self.name} is not circulant: the exact CL2 matrices are dense d x d "
                    "(O(d^3) eigen-decompositions; small d only)")
        return None


@lru_cache(maxsize=32)
def _basis(aug: Augmentation, d: int, k: int) -> CirculantBasis:
    return basis_from_column(aug.column(d), k, aug.name)


@lru_cache(maxsize=4)
def _load_matrix(path: str) -> np.ndarray:
    try:
        h = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ParameterError("augmentation", f"a readable .npy file for 'matrix:' ({exc})", path) from None
    require(h.ndim == 2 and h.shape[0] == h.shape[1], "augmentation", "a square matrix in the .npy file", h.shape)
    require(bool(np.isfinite(h).all()), "augmentation", "a matrix of finite numbers", path)
    return np.asarray(h, dtype=float)


@lru_cache(maxsize=64)
def parse_augmentation(name: str) -> Augmentation:
    """The :class:`Augmentation` of a name (module docstring); a clear error otherwise."""
    if name == "blur":
        return Augmentation(name, "circulant", taps=(0.25, 0.5, 0.25))
    if name == "identity":
        return Augmentation(name, "scalar", scale=1.0)
    if name.startswith("scale:"):
        try:
            h = float(name.split(":", 1)[1])
        except ValueError:
            h = float("nan")
        require(h > 0, "augmentation", ALLOWED, name)
        return Augmentation(name, "scalar", scale=h)
    if name.startswith("stencil:"):
        try:
            taps = tuple(float(v) for v in name.split(":", 1)[1].split(","))
        except ValueError:
            taps = ()
        require(len(taps) % 2 == 1 and all(np.isfinite(taps)), "augmentation", ALLOWED, name)
        return Augmentation(name, "circulant", taps=taps)
    if name.startswith("matrix:"):
        path = name.split(":", 1)[1]
        matrix = _load_matrix(path)
        return Augmentation(name, "circulant" if is_circulant(matrix) else "dense", path=path)
    raise ParameterError("augmentation", ALLOWED, name)
