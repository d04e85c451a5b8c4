"""Exact population second moments M_i = E_{x~D_i}[x xᵀ] of every client.

Derivation (model of Section 3.2, 0-based indices, q_k ~ Bernoulli(1/2) independent
per sample and axis): for a frequent class with sign s = ±1 and u = s e_i - τ Σ_{k≠i} q_k e_k,

    E[u uᵀ] = e_i e_iᵀ - s τ/2 Σ_{k≠i} (e_i e_kᵀ + e_k e_iᵀ) + τ² Σ_{k,l≠i} E[q_k q_l] e_k e_lᵀ,
    E[q_k q_l] = 1/4 + δ_kl / 4.

The two frequent classes have equal weight π_f, so the ±s cross terms cancel, and

    M_i = 2π_f [ e_i e_iᵀ + (τ²/4)(J + I) on [N]∖{i} ] + π_r e_{a_i} e_{a_i}ᵀ + μ² I_d,

J the all-ones matrix and a_i the rare axis. In the "per-class" reading each class is
a fixed vector u_c, and the frequent part is π_f (u_{2i} u_{2i}ᵀ + u_{2i+1} u_{2i+1}ᵀ).
Note the off-diagonal τ²/4 block: M_i is not diagonal (the paper's Eqs. 18 and 44 are).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .errors import require
from .model import NonIIDModelConfig, class_q_patterns
from .structured import BlockScalar


def _frequent_block(cfg: NonIIDModelConfig, i: int) -> np.ndarray:
    k = cfg.support_size
    n = cfg.n_clients
    pf = cfg.frequent_weight
    out = np.zeros((k, k))
    others = [j for j in range(n) if j != i]
    if cfg.q_mode == "per-sample":
        out[i, i] += 2 * pf
        sub = (cfg.tau**2 / 4.0) * (np.ones((n - 1, n - 1)) + np.eye(n - 1))
        out[np.ix_(others, others)] += 2 * pf * sub
    else:
        q = class_q_patterns(cfg)
        for cls, sign in ((2 * i, 1.0), (2 * i + 1, -1.0)):
            u = np.zeros(k)
            u[i] = sign
            u[others] = -cfg.tau * q[cls, others]
            out += pf * np.outer(u, u)
    return out


def second_moment(cfg: NonIIDModelConfig, i: int) -> BlockScalar:
    """Exact M_i = E[x xᵀ] of client ``i`` as block ⊕ μ² I."""
    require(0 <= i < cfg.n_clients, "client", f"an index in [0, N={cfg.n_clients})", i)
    block = _frequent_block(cfg, i)
    a = cfg.rare_axes[i]
    block[a, a] += cfg.rare_weight
    block += cfg.mu**2 * np.eye(cfg.support_size)
    return BlockScalar(block, cfg.mu**2, cfg.d)


def second_moments(cfg: NonIIDModelConfig) -> tuple[BlockScalar, ...]:
    return tuple(second_moment(cfg, i) for i in range(cfg.n_clients))


# --------------------------------------------------------------------------- sympy
TAU, MU, PI_F, PI_R = sp.symbols("tau mu pi_f pi_r", positive=True)


def second_moment_sympy(n_clients: int, i: int, rare_axis: int, support: int | None = None) -> sp.Matrix:
    """The K x K block of M_i (per-sample q) as a sympy matrix in τ, μ, π_f, π_r.

    Derived symbolically from E[q_k] = 1/2, E[q_k q_l] = 1/4 + δ_kl/4 and the class
    mixture; the bulk coordinates K..d-1 carry μ² on the diagonal.
    """
    n = n_clients
    k = max(n, rare_axis + 1) if support is None else support
    require(0 <= i < n, "client", f"an index in [0, N={n})", i)
    q = sp.symbols(f"q0:{n}")
    m = sp.zeros(k, k)
    for sign in (1, -1):
        u = sp.zeros(k, 1)
        u[i] = sign
        for j in range(n):
            if j != i:
                u[j] = -TAU * q[j]
        outer = (u * u.T).expand()
        # take the expectation over independent Bernoulli(1/2) q's: q_j^2 -> 1/2, q_j -> 1/2
        for a in range(k):
            for b in range(k):
                e = sp.expand(outer[a, b])
                for j in range(n):
                    e = e.subs(q[j] ** 2, sp.Rational(1, 2))
                for j in range(n):
                    e = e.subs(q[j], sp.Rational(1, 2))
                m[a, b] += PI_F * e
    m[rare_axis, rare_axis] += PI_R
    return m + MU**2 * sp.eye(k)
