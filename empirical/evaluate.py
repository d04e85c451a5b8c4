"""Evaluation of learned representations: kNN monitor, linear probes, fine-tuning, RV measure.

Every accuracy here is measured on a held-out split that training never saw, once, at the
end: a probe or a fine-tuning run reports the accuracy after its LAST epoch, never the best
over epochs (choosing the best on the test split would tune on it). The only selection (the
ridge penalty) uses a validation part of the *training* features.

The class-mean representability measure (:func:`class_mean_representability`) carries the
linear theory's RV and sensitivity (paper Definition 4.1, Theorem 4.4) to deep features. It
does not separate: a rank-1 feature map scores 1. :func:`class_direction_retention` is the
bridge used by the replicated grid: it scores collapsed features low (see its docstring).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from theory.errors import require

__all__ = [
    "extract_features",
    "knn_accuracy",
    "ridge_probe",
    "logistic_probe",
    "finetune",
    "RVMeasure",
    "class_mean_representability",
    "ClassDirectionRetention",
    "class_direction_retention",
    "RIDGE_GRID",
    "CDR_TIE_TOL",
]

RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
"""Ridge penalties λ, relative to the mean eigenvalue of the standardised feature Gram matrix."""


@torch.no_grad()
def extract_features(
    features: Callable[[Tensor], Tensor], images: Float[Tensor, "n c h w"], batch_size: int
) -> Float[Tensor, "n d"]:
    """``features`` applied to ``images`` in batches, under ``no_grad``."""
    parts = [features(images[i : i + batch_size]) for i in range(0, images.shape[0], batch_size)]
    return torch.cat(parts).float()


@torch.no_grad()
def knn_accuracy(
    train_f: Float[Tensor, "n d"],
    train_y: Int[Tensor, " n"],
    test_f: Float[Tensor, "m d"],
    test_y: Int[Tensor, " m"],
    n_classes: int,
    k: int = 20,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> float:
    """Weighted cosine kNN (the monitor of Wu et al. 2018, used by SimSiam/MoCo): the k most
    cosine-similar training features vote for their class with weight exp(s / temperature)."""
    require(k >= 1, "k", ">= 1", k)
    k = min(k, train_f.shape[0])
    bank = F.normalize(train_f, dim=1)  # (n, d)
    correct = 0
    for i in range(0, test_f.shape[0], chunk):
        q = F.normalize(test_f[i : i + chunk], dim=1)  # (b, d)
        sim, idx = (q @ bank.T).topk(k, dim=1)  # (b, k)
        votes = torch.zeros(q.shape[0], n_classes, dtype=sim.dtype, device=sim.device)  # (b, K)
        votes.scatter_add_(1, train_y[idx], (sim / temperature).exp())
        correct += int((votes.argmax(dim=1) == test_y[i : i + chunk]).sum())
    return correct / test_f.shape[0]


def _standardise(train: Tensor, *others: Tensor) -> list[Tensor]:
    mean = train.mean(dim=0, keepdim=True)
    std = train.std(dim=0, keepdim=True).clamp_min(1e-8)
    return [(t - mean) / std for t in (train, *others)]


class _Ridge:
    """Ridge regression of one-hot labels on centred features, all penalties from one
    eigendecomposition: W(λ) = V diag(1/(e + λ·mean(e))) Vᵀ Xᵀ(Y - ȳ)/n, bias unpenalised."""

    def __init__(self, x: Tensor, y1h: Tensor) -> None:
        self.mx, self.my = x.mean(0, keepdim=True), y1h.mean(0, keepdim=True)  # (1, d), (1, K)
        xc = x - self.mx
        evals, self.evecs = torch.linalg.eigh(xc.T @ xc / x.shape[0])  # (d,), (d, d)
        self.evals = evals.clamp_min(0.0)
        self.proj = self.evecs.T @ (xc.T @ (y1h - self.my) / x.shape[0])  # (d, K)

    def predict(self, x: Tensor, lam: float) -> Tensor:
        scale = lam * float(self.evals.mean().clamp_min(1e-12))
        w = self.evecs @ (self.proj / (self.evals + scale)[:, None])  # (d, K)
        return ((x - self.mx) @ w + self.my).argmax(1)


def ridge_probe(
    train_f: Float[Tensor, "n d"],
    train_y: Int[Tensor, " n"],
    test_f: Float[Tensor, "m d"],
    test_y: Int[Tensor, " m"],
    n_classes: int,
    seed: int,
    val_fraction: float = 0.2,
) -> dict[str, float]:
    """Closed-form ridge regression onto one-hot labels (float64), argmax prediction.

    λ is chosen from :data:`RIDGE_GRID` on a random ``val_fraction`` of the training features
    (``numpy`` generator seeded by ``seed``; ties keep the smaller λ), then the probe is refitted
    on all training features. Returns the held-out accuracy, the chosen λ and its validation
    accuracy.
    """
    xtr, xte = _standardise(train_f.double(), test_f.double())
    ytr = F.one_hot(train_y, n_classes).double()
    n = xtr.shape[0]
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n)).to(xtr.device)
    n_val = max(1, int(round(val_fraction * n)))
    val, fit = perm[:n_val], perm[n_val:]
    ridge = _Ridge(xtr[fit], ytr[fit])
    best_lam, best_acc = RIDGE_GRID[0], -1.0
    for lam in RIDGE_GRID:
        acc = float((ridge.predict(xtr[val], lam) == train_y[val]).double().mean())
        if acc > best_acc:
            best_lam, best_acc = lam, acc
    pred = _Ridge(xtr, ytr).predict(xte, best_lam)
    return {"acc": float((pred == test_y).double().mean()), "lambda": best_lam, "val_acc": best_acc}


def logistic_probe(
    train_f: Float[Tensor, "n d"],
    train_y: Int[Tensor, " n"],
    test_f: Float[Tensor, "m d"],
    test_y: Int[Tensor, " m"],
    n_classes: int,
    epochs: int = 100,
    l2: float = 1e-4,
) -> dict[str, float]:
    """Multinomial logistic regression on standardised features, full-batch L-BFGS for
    ``epochs`` iterations from zero weights (deterministic, no seed needed); accuracy after
    the last iteration."""
    xtr, xte = _standardise(train_f.float(), test_f.float())
    w = torch.zeros(xtr.shape[1], n_classes, device=xtr.device, requires_grad=True)
    b = torch.zeros(n_classes, device=xtr.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=epochs, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xtr @ w + b, train_y) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        acc = float(((xte @ w + b).argmax(1) == test_y).float().mean())
    return {"acc": acc}


def finetune(
    backbone: nn.Module,
    train_x: Float[Tensor, "n c h w"],
    train_y: Int[Tensor, " n"],
    test_x: Float[Tensor, "m c h w"],
    test_y: Int[Tensor, " m"],
    n_classes: int,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    generator_for_epoch: Callable[[int], torch.Generator],
) -> dict[str, float]:
    """Full fine-tuning of a copy of ``backbone`` (``features(x)``, ``feature_dim``) with a
    linear head, AdamW, cosine schedule over epochs, no augmentation; batch order from
    ``generator_for_epoch(epoch)``. Reports the test accuracy after the LAST epoch."""
    model = copy.deepcopy(backbone)
    head = nn.Linear(int(model.feature_dim), n_classes).to(train_x.device)  # type: ignore[arg-type]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    n = train_x.shape[0]
    steps = max(1, n // batch_size)
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
        model.train()
        perm = torch.randperm(n, generator=generator_for_epoch(epoch)).to(train_x.device)
        for s in range(steps):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            loss = F.cross_entropy(head(model.features(train_x[idx])), train_y[idx])  # type: ignore[operator]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([head(model.features(test_x[i : i + 512])) for i in range(0, test_x.shape[0], 512)])  # type: ignore[operator]
    return {"acc": float((logits.argmax(1) == test_y).float().mean()), "epochs": epochs}


def _per_class_summary(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """``mean``, ``min``, ``max``, ``spread = max - min`` and ``r`` of per-class values (all NaN when
    there are none): the fields shared by :class:`RVMeasure` and :class:`ClassDirectionRetention`."""
    arr = np.asarray(values, dtype=np.float64) if len(values) else np.full(1, np.nan)
    return {"mean": float(arr.mean()), "min": float(arr.min()), "max": float(arr.max()),
            "spread": float(arr.max() - arr.min()), "r": tuple(float(v) for v in arr)}


@dataclass(frozen=True)
class _PerClassMeasure:
    """Per-class values ``r`` and their ``mean``, ``min``, ``max``, ``spread = max - min``."""

    mean: float
    min: float
    max: float
    spread: float
    r: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["r"] = list(self.r)
        return out


@dataclass(frozen=True)
class RVMeasure(_PerClassMeasure):
    """Class-mean representability of a feature matrix.

    r_k = ‖P u_k‖² / ‖u_k‖², u_k = (mean feature of class k) - (mean feature), P the orthogonal
    projector onto the top-c eigenvectors of the feature covariance, c = number of classes
    (capped at the feature dimension). ``mean``, ``min``, ``max``, ``spread = max - min`` (the
    sensitivity s of Theorem 4.4, read on class-mean directions instead of basis vectors).
    ``tied``: the c-th and (c+1)-th covariance eigenvalues coincide (relative gap < 1e-9), so
    the top-c subspace, hence r, is not well defined; reported, not resolved.
    """

    c: int
    eigengap: float
    tied: bool


def class_mean_representability(
    features: Float[Tensor, "n d"], labels: Int[Tensor, " n"], n_classes: int
) -> RVMeasure:
    """The RV-style measure of :class:`RVMeasure` (float64). Classes absent from ``labels``, or
    whose mean is the global mean, are skipped (all NaN if no class is left); c stays the
    number of classes."""
    x = features.double()
    x = x - x.mean(dim=0, keepdim=True)  # (n, d)
    n, d = x.shape
    require(n >= 2, "features", "at least 2 rows", n)
    cov = x.T @ x / n  # (d, d)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(0), evecs.flip(1)
    c = min(n_classes, d)
    top = evecs[:, :c]  # (d, c)
    gap = float(evals[c - 1] - evals[c]) if c < d else float("inf")
    scale = float(evals[0].abs().clamp_min(1e-300))
    tied = c < d and gap <= 1e-9 * scale
    r = []
    for k in range(n_classes):
        members = labels == k
        if not bool(members.any()):
            continue
        u = x[members].mean(dim=0)  # (d,)  centred class mean
        norm2 = float(u.pow(2).sum())
        if norm2 <= 0.0:
            continue
        r.append(float((top.T @ u).pow(2).sum()) / norm2)
    # no r at all (every class mean is the global mean): NaN fields
    return RVMeasure(**_per_class_summary(r), c=c, eigengap=gap / scale if math.isfinite(gap) else float("inf"),
                     tied=bool(tied))


CDR_TIE_TOL = 1e-3
"""Two retention values closer than this are reported as tied (a ranking between them is not read)."""


@dataclass(frozen=True)
class ClassDirectionRetention(_PerClassMeasure):
    """Held-out class-direction retention of a feature map: the deep analogue of the paper's
    representability vector r_k = ‖Π_R e_k‖² (Definition 4.1).

    r_k = the held-out R² of the least-squares (ridge-stabilised) prediction of the class-k
    indicator from the features, clipped to [0, 1]: the share of class direction k that survives
    the encoder. ``mean``, ``min``, ``spread = max - min`` (the sensitivity of Theorem 4.4 read on
    class directions); ``rank``: numerical rank of the training features; ``ties``: pairs of
    classes whose r_k differ by less than :data:`CDR_TIE_TOL` (their order is not read).
    """

    rank: int
    ties: int


def class_direction_retention(
    train_features: Float[Tensor, "n d"],
    train_labels: Int[Tensor, " n"],
    test_features: Float[Tensor, "m d"],
    test_labels: Int[Tensor, " m"],
    n_classes: int,
    ridge: float = 1e-6,
) -> ClassDirectionRetention:
    """r_k for every class k (float64), fitted on the training features, scored on the test ones.

    Fit: centre with the training mean; W = (XᵀX + ridge · tr(XᵀX)/d · I)⁻¹ Xᵀ(Y - Ȳ), Y the
    one-hot labels. Score: r_k = max(0, 1 - ‖Y_k - Ŷ_k‖² / ‖Y_k - Ȳ_k‖²) on the test split
    (Ȳ_k its class-k share). Separation: for features of rank q, Σ_k π_k(1 - π_k) r_k ≤ q · max_k
    π_k in sample, so with balanced classes mean_k r_k ≤ q / (c - 1): a rank-1 map of 10 classes
    scores at most about 0.11, while features that carry every class direction linearly score
    near 1. Classes absent from the test split are skipped.
    """
    require(
        train_features.ndim == 2 and test_features.ndim == 2,
        "features",
        "2-d (n, d) tensors",
        (tuple(train_features.shape), tuple(test_features.shape)),
    )
    require(
        train_features.shape[1] == test_features.shape[1],
        "features",
        "the same width for train and test",
        (train_features.shape[1], test_features.shape[1]),
    )
    require(train_features.shape[0] >= 2, "train_features", "at least 2 rows", train_features.shape[0])
    require(ridge > 0 and math.isfinite(ridge), "ridge", "a finite number > 0", ridge)
    x = train_features.double().cpu()
    t = test_features.double().cpu()
    mu = x.mean(dim=0, keepdim=True)
    x, t = x - mu, t - mu
    y = F.one_hot(train_labels.long().cpu(), n_classes).double()  # (n, c)
    yt = F.one_hot(test_labels.long().cpu(), n_classes).double()  # (m, c)
    ybar = y.mean(dim=0, keepdim=True)
    gram = x.T @ x  # (d, d)
    d = gram.shape[0]
    scale = float(torch.trace(gram)) / d
    rank = int(torch.linalg.matrix_rank(gram, rtol=1e-10)) if scale > 0 else 0
    reg = gram + (ridge * scale if scale > 0 else 1.0) * torch.eye(d, dtype=gram.dtype)
    w = torch.linalg.solve(reg, x.T @ (y - ybar))  # (d, c)
    pred = t @ w + ybar  # (m, c)
    resid = (yt - pred).pow(2).sum(dim=0)  # (c,)
    total = (yt - yt.mean(dim=0, keepdim=True)).pow(2).sum(dim=0)  # (c,)
    present = total > 0
    r = torch.clamp(1.0 - resid[present] / total[present], 0.0, 1.0)
    srt = np.sort(r.numpy())
    ties = int(np.sum(np.diff(srt) < CDR_TIE_TOL)) if srt.size > 1 else 0
    return ClassDirectionRetention(**_per_class_summary(r.numpy()), rank=rank, ties=ties)
