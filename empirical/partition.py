"""Client partitions (IID, Dirichlet label skew, feature skew) and their label statistics.

Pure functions of their arguments: no I/O, no global random state. Every partition is drawn
from stream ``"partition"`` of the ``data_seed`` (see :mod:`empirical.seeds`), so changing the
model seed never changes which client holds which sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int

from empirical.seeds import numpy_rng, stream_seed
from theory.errors import require

__all__ = [
    "TRANSFORM_KINDS",
    "ClientTransform",
    "Partition",
    "PartitionStats",
    "apply_client_transform",
    "dirichlet_partition",
    "feature_skew_partition",
    "iid_partition",
    "partition_stats",
]

# Sub-keys of stream "partition", so that the index split and the feature-skew transforms do
# not share random numbers.
_KEY_SPLIT = 0
_KEY_TRANSFORMS = 1


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    ok = ok and int(value) >= lo and (hi is None or int(value) <= hi)  # type: ignore[arg-type]
    allowed = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    require(ok, name, allowed, value)
    return int(value)  # type: ignore[arg-type]


def _check_labels(labels: object) -> np.ndarray:
    y = np.asarray(labels)
    require(y.ndim == 1 and y.size >= 1, "labels", "a non-empty 1-d array", f"shape {y.shape}")
    require(np.issubdtype(y.dtype, np.integer), "labels", "an integer array", str(y.dtype))
    require(int(y.min()) >= 0, "labels", "non-negative class indices", int(y.min()))
    return y.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# Partition
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClientTransform:
    """One fixed augmentation applied to every image of one client (feature skew).

    Attributes:
        kind: one of :data:`TRANSFORM_KINDS`.
        magnitude: rotation angle in degrees (``"rotation"``), additive shift (``"brightness"``),
            contrast factor around each image's mean (``"contrast"``), Gaussian blur standard
            deviation in pixels (``"blur"``), noise standard deviation (``"noise"``); ignored by
            ``"identity"``.
        seed: seed of the client's fixed noise pattern (``"noise"`` only).
    """

    kind: str
    magnitude: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.kind in TRANSFORM_KINDS, "kind", f"one of {TRANSFORM_KINDS}", self.kind)
        require(math.isfinite(self.magnitude), "magnitude", "finite", self.magnitude)
        if self.kind == "contrast":
            require(self.magnitude >= 0.0, "magnitude", "a contrast factor >= 0", self.magnitude)
        if self.kind in ("blur", "noise"):
            require(self.magnitude >= 0.0, "magnitude", f"a {self.kind} standard deviation >= 0", self.magnitude)
        _check_int("seed", self.seed, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "magnitude": float(self.magnitude), "seed": int(self.seed)}


TRANSFORM_KINDS = ("identity", "rotation", "brightness", "contrast", "blur", "noise")

# Range of the magnitude drawn for each kind at strength 1 (uniform on [lo, hi]). For
# "rotation" and "brightness" the sign is drawn too.
_MAGNITUDE_RANGES: dict[str, tuple[float, float]] = {
    "identity": (0.0, 0.0),
    "rotation": (10.0, 45.0),
    "brightness": (0.1, 0.3),
    "contrast": (0.5, 1.5),
    "blur": (0.5, 1.5),
    "noise": (0.05, 0.2),
}


@dataclass(frozen=True, eq=False)
class Partition:
    """Which samples each client holds.

    Attributes:
        indices: one sorted int64 array of sample indices per client; clients are disjoint.
        kind: ``"iid"``, ``"dirichlet"`` or ``"feature-skew"``.
        params: the arguments that produced the split (JSON-friendly).
        transforms: for ``"feature-skew"``, one :class:`ClientTransform` per client; else empty.
    """

    indices: tuple[np.ndarray, ...]
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    transforms: tuple[ClientTransform, ...] = ()

    def __post_init__(self) -> None:
        require(len(self.indices) >= 1, "indices", "one array per client (at least one client)", len(self.indices))
        arrays = []
        for i, idx in enumerate(self.indices):
            a = np.asarray(idx)
            is_int_vector = a.ndim == 1 and (a.size == 0 or np.issubdtype(a.dtype, np.integer))
            require(is_int_vector, f"indices[{i}]", "a 1-d integer array", f"{a.dtype} {a.shape}")
            a = np.sort(a.astype(np.int64))
            a.flags.writeable = False
            arrays.append(a)
        everything = np.concatenate(arrays)
        require(
            everything.size == 0 or int(everything.min()) >= 0,
            "indices",
            "non-negative",
            int(everything.min()) if everything.size else None,
        )
        require(np.unique(everything).size == everything.size, "indices", "disjoint across clients", "a repeated index")
        if self.transforms:
            require(len(self.transforms) == len(arrays), "transforms", f"one per client ({len(arrays)})", len(self.transforms))
        object.__setattr__(self, "indices", tuple(arrays))
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "transforms", tuple(self.transforms))

    @property
    def n_clients(self) -> int:
        return len(self.indices)

    @property
    def sizes(self) -> Int[np.ndarray, " n_clients"]:
        return np.array([a.size for a in self.indices], dtype=np.int64)

    def to_dict(self, include_indices: bool = False) -> dict[str, Any]:
        """JSON-friendly summary; the index lists only with ``include_indices``."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "params": dict(self.params),
            "n_clients": self.n_clients,
            "sizes": self.sizes.tolist(),
        }
        if self.transforms:
            out["transforms"] = [t.to_dict() for t in self.transforms]
        if include_indices:
            out["indices"] = [a.tolist() for a in self.indices]
        return out


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def iid_partition(n: int, n_clients: int, seed: int) -> Partition:
    """A uniformly random split of ``range(n)`` into ``n_clients`` parts whose sizes differ by
    at most one."""
    n = _check_int("n", n, 1)
    n_clients = _check_int("n_clients", n_clients, 1, n)
    perm = numpy_rng(seed, "partition", _KEY_SPLIT).permutation(n)
    return Partition(tuple(np.array_split(perm, n_clients)), "iid", {"n": n, "n_clients": n_clients, "seed": int(seed)})


def _floor_split(weights: np.ndarray, total: int) -> np.ndarray:
    """Counts summing to ``total``: differences of ``floor(cumsum(weights) * total)``, the
    rounding of the reference implementations of Hsu et al. (2019)."""
    cuts = np.floor(np.cumsum(weights) / weights.sum() * total).astype(np.int64)
    cuts[-1] = total
    return np.diff(cuts, prepend=0)


def _capped_split(weights: np.ndarray, total: int, room: np.ndarray) -> np.ndarray:
    """Like :func:`_floor_split` but no client gets more than ``room``; what does not fit is
    re-split over the clients with room left, in proportion to their weights (uniformly when
    all of those weights are zero). Requires ``room.sum() >= total``."""
    counts = np.zeros_like(room)
    left = total
    while left > 0:
        open_ = room - counts > 0
        w = np.where(open_, weights, 0.0)
        if not w.sum() > 0:
            w = open_.astype(np.float64)
        give = np.minimum(_floor_split(w, left), room - counts)
        if give.sum() == 0:  # rounding put everything on full clients: move one sample
            give[np.argmax(w)] = 1
        counts += give
        left -= int(give.sum())
    return counts


def dirichlet_partition(
    labels: Int[np.ndarray, " n"],
    n_clients: int,
    alpha: float,
    seed: int,
    min_size: int = 10,
    max_retries: int = 100,
    balance: bool = False,
) -> Partition:
    """Dirichlet label skew of Hsu, Qi, Brown (2019), the label non-IID setting of the paper.

    For every class k, proportions ``p_k ~ Dir(alpha * 1_N)`` over the ``N = n_clients``
    clients are drawn and the (shuffled) samples of class k are cut in those proportions. The
    whole draw is repeated until every client holds at least ``min_size`` samples, at most
    ``max_retries`` times. Small ``alpha`` gives each client few classes; very large ``alpha``
    (the paper's 1e5) gives every client the global label distribution, i.e. approximately IID.

    Args:
        labels: ``(n,)`` non-negative integer class labels.
        n_clients: N, in ``[1, n]``.
        alpha: Dirichlet concentration, > 0.
        seed: the ``data_seed``; the draw uses its stream ``"partition"``.
        min_size: smallest client size accepted, in ``[0, n // n_clients]``.
        max_retries: number of draws before giving up, >= 1.
        balance: cap every client at ``ceil(n / N)`` samples.

    Deviations:
        ``balance`` is implemented here, not in the paper. With it, each class is cut as above
        but a client that reached ``ceil(n / N)`` samples gets no more; its share of that class
        is re-split over the clients with room left, in proportion to their Dirichlet weights.
        Every client then holds at most ``ceil(n / N)`` samples (so at least
        ``n - (N - 1) * ceil(n / N)``), and label skew is kept as far as the cap allows. (The
        widely copied trick of zeroing the proportions of full clients only approximates
        such a cap.)

    Raises:
        ValueError: when no draw satisfies ``min_size``; the message says what to change.
    """
    y = _check_labels(labels)
    n = y.size
    n_clients = _check_int("n_clients", n_clients, 1, n)
    ok_alpha = isinstance(alpha, (int, float, np.floating)) and not isinstance(alpha, bool) and math.isfinite(alpha) and alpha > 0
    require(ok_alpha, "alpha", "a finite number > 0", alpha)
    min_size = _check_int("min_size", min_size, 0, n // n_clients)
    max_retries = _check_int("max_retries", max_retries, 1)
    rng = numpy_rng(seed, "partition", _KEY_SPLIT)
    classes = [np.flatnonzero(y == k) for k in range(int(y.max()) + 1)]
    cap = np.full(n_clients, math.ceil(n / n_clients), dtype=np.int64)
    for attempt in range(1, max_retries + 1):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        filled = np.zeros(n_clients, dtype=np.int64)
        for members in classes:
            if members.size == 0:
                continue
            members = rng.permutation(members)
            p = rng.dirichlet(np.full(n_clients, float(alpha)))
            if not (np.all(np.isfinite(p)) and p.sum() > 0):  # defensive: underflow at tiny alpha
                p = np.eye(n_clients)[rng.integers(n_clients)]
            counts = _capped_split(p, members.size, cap - filled) if balance else _floor_split(p, members.size)
            filled += counts
            for i, chunk in enumerate(np.split(members, np.cumsum(counts)[:-1])):
                parts[i].append(chunk)
        if filled.min() >= min_size:
            params = {
                "n": n,
                "n_clients": n_clients,
                "alpha": float(alpha),
                "seed": int(seed),
                "min_size": min_size,
                "balance": bool(balance),
                "attempts": attempt,
            }
            return Partition(tuple(np.concatenate(p) for p in parts), "dirichlet", params)
    raise ValueError(
        f"dirichlet_partition: no draw in max_retries={max_retries} gave all n_clients={n_clients} clients "
        f"at least min_size={min_size} samples with alpha={alpha} (n={n}). Lower min_size, raise alpha, "
        f"use fewer clients, set balance=True, or raise max_retries."
    )


def feature_skew_partition(
    n: int,
    n_clients: int,
    seed: int,
    kinds: Sequence[str] = ("rotation", "brightness", "contrast", "blur", "noise"),
    strength: float = 1.0,
) -> Partition:
    """Feature skew: an IID split plus one fixed augmentation per client, the paper's feature
    non-IID setting.

    The indices are exactly :func:`iid_partition` ``(n, n_clients, seed)``. Client ``i`` gets
    the kind ``kinds[perm[i % len(kinds)]]`` for a random permutation ``perm``, so the kinds
    are used equally often, and a magnitude drawn uniformly from a fixed range per kind
    (rotation 10-45 degrees, brightness shift 0.1-0.3, contrast factor 0.5-1.5, blur
    sigma 0.5-1.5 pixels, noise std 0.05-0.2), with a random sign for rotation and
    brightness. ``strength`` scales the departure from the identity (contrast: from 1).

    Deviations:
        The paper does not list its augmentations; these kinds and ranges are ours.
    """
    partition = iid_partition(n, n_clients, seed)
    kinds = tuple(kinds)
    require(len(kinds) >= 1 and all(k in TRANSFORM_KINDS for k in kinds), "kinds", f"a non-empty subset of {TRANSFORM_KINDS}", kinds)
    require(math.isfinite(strength) and strength >= 0.0, "strength", "a finite number >= 0", strength)
    rng = numpy_rng(seed, "partition", _KEY_TRANSFORMS)
    order = rng.permutation(len(kinds))
    transforms = []
    for i in range(n_clients):
        kind = kinds[order[i % len(kinds)]]
        lo, hi = _MAGNITUDE_RANGES[kind]
        magnitude = float(rng.uniform(lo, hi))
        if kind in ("rotation", "brightness") and rng.random() < 0.5:
            magnitude = -magnitude
        magnitude = 1.0 + strength * (magnitude - 1.0) if kind == "contrast" else strength * magnitude
        transforms.append(ClientTransform(kind, magnitude, stream_seed(seed, "partition", _KEY_TRANSFORMS, i)))
    params = {**partition.params, "kinds": list(kinds), "strength": float(strength)}
    return Partition(partition.indices, "feature-skew", params, tuple(transforms))


# --------------------------------------------------------------------------------------------
# Transforms (pure torch)
# --------------------------------------------------------------------------------------------


def _gaussian_blur(x: Float[torch.Tensor, "b c h w"], sigma: float) -> Float[torch.Tensor, "b c h w"]:
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    b, c, h, w = x.shape
    y = x.reshape(b * c, 1, h, w)  # (B, C, H, W) -> (B*C, 1, H, W): one channel per conv
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))  # along W
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))  # along H
    return y.reshape(b, c, h, w)  # (B*C, 1, H, W) -> (B, C, H, W)


def _rotate(x: Float[torch.Tensor, "b c h w"], degrees: float) -> Float[torch.Tensor, "b c h w"]:
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    matrix = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(matrix.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def apply_client_transform(spec: ClientTransform, batch: Float[torch.Tensor, "b c h w"]) -> Float[torch.Tensor, "b c h w"]:
    """Apply a client's fixed augmentation to a float batch ``(B, C, H, W)`` with values in [0, 1].

    A pure function: the same ``spec`` and ``batch`` give the same output, on any device. The
    result is clamped to [0, 1]. ``"noise"`` adds one fixed pattern ``magnitude * ε``,
    ``ε ~ N(0, I)`` of shape ``(C, H, W)`` drawn from ``spec.seed`` (a per-client sensor
    noise), not fresh noise per call. Rotation is about the image centre, counter-clockwise
    for a positive angle (as ``torch.rot90`` with ``k=1``), with zero fill.
    """
    require(batch.ndim == 4, "batch", "a 4-d tensor (B, C, H, W)", f"shape {tuple(batch.shape)}")
    require(batch.is_floating_point(), "batch", "a floating-point tensor with values in [0, 1]", str(batch.dtype))
    kind, m = spec.kind, float(spec.magnitude)
    if kind == "identity":
        return batch.clone()
    if kind == "rotation":
        out = _rotate(batch, m)
    elif kind == "brightness":
        out = batch + m
    elif kind == "contrast":
        mean = batch.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        out = (batch - mean) * m + mean
    elif kind == "blur":
        out = _gaussian_blur(batch, m) if m > 0 else batch.clone()
    else:  # noise
        generator = torch.Generator(device="cpu").manual_seed(spec.seed)
        pattern = torch.randn(tuple(batch.shape[1:]), generator=generator, dtype=torch.float32)  # (C, H, W)
        out = batch + m * pattern.to(device=batch.device, dtype=batch.dtype)
    return out.clamp(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PartitionStats:
    """Label statistics of a partition against the global label distribution ``q``.

    Attributes:
        counts: ``(N, K)`` samples of class k held by client i.
        sizes: ``(N,)`` client sizes.
        tv: ``(N,)`` total variation ``½ Σ_k |p_i,k - q_k|``.
        kl: ``(N,)`` ``KL(p_i ‖ q)`` in nats (finite: ``q_k > 0`` wherever ``p_i,k > 0``).
        js: ``(N,)`` Jensen-Shannon divergence in nats, in ``[0, ln 2]``.
        Quantity skew: :attr:`size_ratio` (largest / smallest client) and :attr:`size_cv`.
        Divergences of empty clients are NaN; the means are over non-empty clients.
    """

    counts: np.ndarray
    sizes: np.ndarray
    tv: np.ndarray
    kl: np.ndarray
    js: np.ndarray

    @property
    def mean_tv(self) -> float:
        return _nanmean(self.tv)

    @property
    def mean_kl(self) -> float:
        return _nanmean(self.kl)

    @property
    def mean_js(self) -> float:
        return _nanmean(self.js)

    @property
    def size_ratio(self) -> float:
        """Quantity skew: largest over smallest client size (inf with an empty client)."""
        lo = int(self.sizes.min()) if self.sizes.size else 0
        return float(self.sizes.max()) / lo if lo > 0 else float("inf")

    @property
    def size_cv(self) -> float:
        """Quantity skew: coefficient of variation of the client sizes (0 = equal sizes)."""
        m = float(self.sizes.mean()) if self.sizes.size else 0.0
        return float(self.sizes.std()) / m if m > 0 else float("nan")

    @property
    def mean_divergence(self) -> float:
        """The headline skew measure: mean Jensen-Shannon divergence over clients."""
        return self.mean_js

    def to_dict(self) -> dict[str, Any]:
        def clean(a: np.ndarray) -> list[float | None]:
            return [None if not math.isfinite(v) else float(v) for v in a.tolist()]

        return {
            "n_clients": int(self.counts.shape[0]),
            "n_classes": int(self.counts.shape[1]),
            "counts": self.counts.tolist(),
            "sizes": self.sizes.tolist(),
            "tv": clean(self.tv),
            "kl": clean(self.kl),
            "js": clean(self.js),
            "mean_tv": self.mean_tv,
            "mean_kl": self.mean_kl,
            "mean_js": self.mean_js,
            "mean_divergence": self.mean_divergence,
            "size_ratio": self.size_ratio,
            "size_cv": self.size_cv,
        }


def _nanmean(a: np.ndarray) -> float:
    finite = a[np.isfinite(a)]
    return float(finite.mean()) if finite.size else float("nan")


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ_k p_k log(p_k / q_k) per row, with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return terms.sum(axis=-1)


def partition_stats(partition: Partition, labels: Int[np.ndarray, " n"], n_classes: int) -> PartitionStats:
    """Per-client label counts and divergences to the label distribution of the whole of ``labels``."""
    y = _check_labels(labels)
    n_classes = _check_int("n_classes", n_classes, 1)
    require(int(y.max()) < n_classes, "labels", f"in [0, n_classes={n_classes})", int(y.max()))
    largest = max((int(a.max()) for a in partition.indices if a.size), default=-1)
    require(largest < y.size, "partition", f"indices in [0, len(labels)={y.size})", largest)
    counts = np.stack([np.bincount(y[a], minlength=n_classes) for a in partition.indices]).astype(np.int64)  # (N, K)
    sizes = counts.sum(axis=1)
    q = np.bincount(y, minlength=n_classes) / y.size  # (K,)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / sizes[:, None]  # (N, K); NaN rows for empty clients
    m = 0.5 * (p + q)
    tv = 0.5 * np.abs(p - q).sum(axis=1)
    kl = _kl_rows(p, q)
    js = 0.5 * _kl_rows(p, m) + 0.5 * _kl_rows(np.broadcast_to(q, p.shape), m)
    empty = sizes == 0
    tv[empty], kl[empty], js[empty] = np.nan, np.nan, np.nan
    return PartitionStats(counts, sizes, tv, kl, js)
