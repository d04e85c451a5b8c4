"""The alignment term of the MAR loss: A-MMD (paper Eq. 6), its bandwidth, and the γ schedule (Eq. 7).

Symbols: ``z`` = z_i, the B local representations of client i; ``z_bar`` = z̄, the B'
global representations; σ = ``sigma``; γ_t^(i) = :func:`gamma_schedule`; ω_t^(i) = ``omega``;
Ω = ``Omega``.
"""

import math
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from theory.errors import require

__all__ = ["amd_bandwidth", "a_mmd", "gamma_schedule", "BandwidthSample"]

BandwidthSample = Literal["union", "local", "global"]


def _sq_dists(a: Float[Tensor, "n d"], b: Float[Tensor, "m d"]) -> Float[Tensor, "n m"]:
    """Pairwise squared Euclidean distances ``‖a_i - b_j‖²`` via the Gram expansion.

    Both samples are first centred on their joint mean (detached; distances are translation
    invariant, so neither values nor gradients change) to limit cancellation in float32 when
    embeddings share a large common offset, as mean-pooled tokens do.
    """
    centre = torch.cat([a, b]).mean(dim=0, keepdim=True).detach()  # (1, d)
    a, b = a - centre, b - centre
    d2 = a.pow(2).sum(-1, keepdim=True) + b.pow(2).sum(-1)[None, :] - 2.0 * a @ b.T  # (n, m)
    return d2.clamp_min(0.0)


def _check_sample(name: str, x: Tensor) -> None:
    require(x.ndim == 2, name, "a (batch, dim) matrix", tuple(x.shape))
    require(x.shape[0] >= 2, name, "at least 2 rows (the U-statistic excludes the diagonal)", tuple(x.shape))


def _full_precision(x: Tensor) -> Tensor:
    """Half-precision embeddings are upcast: the kernel differences are too fine for them."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def amd_bandwidth(
    z: Float[Tensor, "b d"],
    z_bar: Float[Tensor, "bb d"] | None = None,
    *,
    sample: BandwidthSample = "union",
) -> Float[Tensor, ""]:
    """Kernel bandwidth σ of Eq. 6: the mean off-diagonal pairwise Euclidean distance.

    ``sample`` chooses the embeddings it is computed on: ``"union"`` (default) pools ``z`` and
    ``z_bar`` (just ``z`` when ``z_bar`` is None), ``"local"`` uses ``z``, ``"global"`` uses
    ``z_bar``. The result is detached: no gradient flows through σ.

    Deviations: the paper says only "the mean pairwise distance of the embeddings". We take the
    union by default because it is symmetric in (z, z̄) and, being a symmetric function of the
    pooled sample, keeps A-MMD exactly unbiased (zero mean) when z and z̄ share a distribution:
    by exchangeability, within and cross pairs then have the same joint law with σ. A σ below
    1e-12 (all points equal) is raised to 1e-12 so the kernel stays finite (it is then 1 on
    equal pairs, and A-MMD is 0).
    """
    require(sample in ("union", "local", "global"), "sample", "'union', 'local' or 'global'", sample)
    _check_sample("z", z)
    if z_bar is not None:
        _check_sample("z_bar", z_bar)
    if sample == "global":
        require(z_bar is not None, "z_bar", "given when sample='global'", z_bar)
        pool = z_bar
    elif sample == "local" or z_bar is None:
        pool = z
    else:
        pool = torch.cat([z, z_bar])  # (b + bb, d)
    assert pool is not None
    with torch.no_grad(), torch.autocast(pool.device.type, enabled=False):
        pool = _full_precision(pool.detach())
        n = pool.shape[0]
        dist = _sq_dists(pool, pool).sqrt()  # (n, n)
        off = ~torch.eye(n, dtype=torch.bool, device=pool.device)  # (n, n)
        sigma = dist[off].mean()
    return sigma.clamp_min(1e-12)


def a_mmd(
    z: Float[Tensor, "b d"],
    z_bar: Float[Tensor, "bb d"],
    sigma: float | Tensor | None = None,
    *,
    squared: bool = True,
    bandwidth_sample: BandwidthSample = "union",
) -> Float[Tensor, ""]:
    """Unbiased A-MMD between local ``z`` and global ``z_bar`` (paper Eq. 6).

    ``1/(B(B-1)) Σ_{a≠b} k(z_a, z_b) + 1/(B'(B'-1)) Σ_{a≠b} k(z̄_a, z̄_b) - 2/(B B') Σ_{a,b} k(z_a, z̄_b)``

    with ``k(u, v) = exp(-‖u - v‖² / (2σ²))``. Every term is an unbiased estimate of a kernel
    mean (z and z̄ are independent samples, so the cross term keeps all B·B' pairs), so the
    value is an unbiased estimate of MMD²: zero in expectation when the two distributions agree,
    and it can be slightly negative. ``sigma=None`` uses :func:`amd_bandwidth` on
    ``bandwidth_sample`` (detached); gradients flow into both ``z`` and ``z_bar`` (detach the
    global side yourself if it is a fixed target, as :class:`empirical.methods.MAR` does).

    Deviations: (1) Eq. 6 prints ``exp(-‖u - v‖ / (2σ²))`` with an unsquared norm, while the
    paper's MMD background uses the squared norm of the Gaussian kernel; ``squared=True``
    (default) is the Gaussian kernel, ``squared=False`` the printed form (non-smooth where two
    points coincide; its gradient there is set to zero). (2) Eq. 6 normalises both
    within-sample sums by 1/(B(B-1)) and the cross sum by 2/B², assuming B' = B; here each
    sum uses its own size, which reduces to Eq. 6 when B' = B.

    Computed outside autocast, with float16/bfloat16 inputs upcast to float32.
    """
    _check_sample("z", z)
    _check_sample("z_bar", z_bar)
    require(z.shape[1] == z_bar.shape[1], "z_bar", f"the same embedding dimension as z ({z.shape[1]})", z_bar.shape[1])
    with torch.autocast(z.device.type, enabled=False):
        return _a_mmd(_full_precision(z), _full_precision(z_bar), sigma, squared, bandwidth_sample)


def _a_mmd(
    z: Tensor, z_bar: Tensor, sigma: float | Tensor | None, squared: bool, bandwidth_sample: BandwidthSample
) -> Tensor:
    if sigma is None:
        sigma_t = amd_bandwidth(z, z_bar, sample=bandwidth_sample)
    else:
        sigma_t = torch.as_tensor(sigma, dtype=z.dtype, device=z.device).detach()
        require(sigma_t.numel() == 1 and bool(sigma_t > 0), "sigma", "a positive scalar", sigma)
    inv = 1.0 / (2.0 * sigma_t**2)

    def kernel(a: Tensor, b: Tensor) -> Tensor:
        d2 = _sq_dists(a, b)  # (n, m)
        dist = d2 if squared else d2.clamp_min(1e-12).sqrt()
        return torch.exp(-dist * inv)

    b, bb = z.shape[0], z_bar.shape[0]
    off_b = ~torch.eye(b, dtype=torch.bool, device=z.device)  # (B, B)
    off_bb = ~torch.eye(bb, dtype=torch.bool, device=z.device)  # (B', B')
    within_z = kernel(z, z)[off_b].sum() / (b * (b - 1))
    within_bar = kernel(z_bar, z_bar)[off_bb].sum() / (bb * (bb - 1))
    cross = kernel(z, z_bar).sum() / (b * bb)
    return within_z + within_bar - 2.0 * cross


def gamma_schedule(omega: int, Omega: int, gamma_max: float = 1e-1, gamma_min: float = 1e-3) -> float:
    """Cosine weight of the A-MMD term (paper Eq. 7).

    ``γ = γ_min + (γ_max - γ_min) · ½ (1 + cos(π ω / Ω))``, with ω = ``omega`` the number of
    times the client has been selected so far and Ω = ``Omega`` the schedule length; the
    paper's best schedule is 1e-1 -> 1e-3 (Table 8). ω > Ω is clamped to Ω, so the weight
    stays at γ_min instead of rising again along the cosine (Eq. 7 does not define ω > Ω;
    a client can be selected more than Ω times).
    """
    require(Omega > 0, "Omega", "> 0", Omega)
    require(omega >= 0, "omega", ">= 0", omega)
    require(0 <= gamma_min <= gamma_max, "gamma_min", f"in [0, gamma_max={gamma_max}]", gamma_min)
    frac = min(float(omega), float(Omega)) / float(Omega)
    return gamma_min + (gamma_max - gamma_min) * 0.5 * (1.0 + math.cos(math.pi * frac))
