"""Seeded sampler of the client data sets of the non-IID model (paper Section 3.2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import require
from .model import NonIIDModelConfig, class_q_patterns
from .seeds import THEORY


@dataclass(frozen=True)
class ClientSample:
    """The sampled data set D_i of one client.

    ``x`` has shape (n, d), ``labels`` shape (n,) with 0-based class indices in [0, 2N).
    """

    client: int
    x: np.ndarray
    labels: np.ndarray


def stream_rng(cfg: NonIIDModelConfig, seed: int, name: str, *key: int, replicate: int = 0) -> np.random.Generator:
    """The generator of stream ``name`` of :data:`theory.seeds.THEORY` ("data", "views") for
    (model seed, sampling seed, ``key``, replicate).

    Root ``cfg.seed``, extra (seed, *key) (+ (replicate,) for replicate >= 1): two names, keys or
    replicates never share a stream. Replicate 0 has the key the single-draw sampler always used,
    so its draws are unchanged.
    """
    require(isinstance(replicate, (int, np.integer)) and replicate >= 0, "replicate", "an integer >= 0", replicate)
    return THEORY.rng(cfg.seed, name, seed, *key, *((int(replicate),) if replicate else ()))


def client_rng(cfg: NonIIDModelConfig, seed: int, client: int, replicate: int = 0) -> np.random.Generator:
    """Independent data stream per (model seed, sampling seed, client, replicate)."""
    return stream_rng(cfg, seed, "data", client, replicate=replicate)


def draw_client_sample(cfg: NonIIDModelConfig, client: int, seed: int, n_frequent: int | None = None,
                  n_rare: int | None = None, replicate: int = 0) -> ClientSample:
    """Draw |D_i| independent samples of client ``client`` (Assumption A.7).

    Class 2i:   x =  e_i - τ Σ_{k≠i} q_k e_k + μ ξ
    Class 2i+1: x = -e_i - τ Σ_{k≠i} q_k e_k + μ ξ
    Rare class: x = e_{a_i} + μ ξ, a_i the rare axis of the client (``cfg.rare_axes``).
    q_k ~ Bernoulli(1/2) per sample and axis (``q_mode="per-sample"``) or fixed per class
    (``"per-class"``); ξ ~ N(0, I_d). Sample counts default to the configuration's.
    """
    n = cfg.n_clients
    require(0 <= client < n, "client", f"an index in [0, N={n})", client)
    nf = cfg.n_frequent if n_frequent is None else int(n_frequent)
    nr = cfg.n_rare if n_rare is None else int(n_rare)
    require(nf >= 1, "n_frequent", "an integer >= 1", nf)
    require(nr >= 0, "n_rare", "an integer >= 0", nr)
    rng = client_rng(cfg, seed, client, replicate)
    d, i = cfg.d, client
    total = 2 * nf + nr
    x = cfg.mu * rng.standard_normal((total, d))
    others = np.array([k for k in range(n) if k != i])
    if cfg.q_mode == "per-sample":
        q = rng.integers(0, 2, size=(2 * nf, n - 1)).astype(float)
    else:
        pattern = class_q_patterns(cfg)[[2 * i, 2 * i + 1]][:, others]  # (2, N-1)
        q = np.repeat(pattern, nf, axis=0)
    x[: 2 * nf, others] -= cfg.tau * q
    x[:nf, i] += 1.0
    x[nf : 2 * nf, i] -= 1.0
    x[2 * nf :, cfg.rare_axes[i]] += 1.0
    labels = np.concatenate([
        np.full(nf, 2 * i), np.full(nf, 2 * i + 1), np.full(nr, cfg.rare_classes[i])
    ]).astype(np.int64)
    return ClientSample(client=i, x=x, labels=labels)


def draw_client_samples(cfg: NonIIDModelConfig, seed: int, n_frequent: int | None = None,
                   n_rare: int | None = None, replicate: int = 0) -> tuple[ClientSample, ...]:
    """All N client data sets, each from its own stream of ``seed`` (and replicate)."""
    return tuple(draw_client_sample(cfg, i, seed, n_frequent, n_rare, replicate) for i in range(cfg.n_clients))
