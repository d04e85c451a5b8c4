"""Backbones, SSL methods and the MAR alignment term (empirical/models.py, methods.py, mmd.py)."""

import math

import pytest
import torch
import torch.nn.functional as F

from empirical.methods import (
    MAE,
    MAR,
    AugmentConfig,
    SimSiam,
    augment,
    mae_adamw,
    num_masked,
    random_masking,
    simsiam_loss,
    simsiam_sgd,
)
from empirical.mmd import a_mmd, amd_bandwidth, gamma_schedule
from empirical.models import (
    ViTConfig,
    ViTEncoder,
    patch_size_for,
    patchify,
    resnet18_cifar,
    unpatchify,
    vit_tiny_for,
)
from theory.errors import ParameterError

SIZES = [(8, 1), (28, 1), (32, 3)]  # (image size, channels): digits, MNIST, CIFAR


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(b: int, c: int, s: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, c, s, s, generator=gen(seed))


def tiny_vit(s: int, c: int) -> ViTEncoder:
    return ViTEncoder(vit_tiny_for(s, c, width=32, depth=1, heads=2))


# --------------------------------------------------------------------------- backbones


@pytest.mark.parametrize(("s", "c"), SIZES)
def test_vit_shapes(s: int, c: int) -> None:
    cfg = vit_tiny_for(s, c)
    vit = ViTEncoder(cfg)
    x = images(3, c, s)
    assert vit(x).shape == (3, cfg.num_patches, cfg.width)
    keep = torch.tensor([[0, 2], [1, 3], [3, 0]])
    assert vit(x, keep).shape == (3, 2, cfg.width)
    assert vit.features(x).shape == (3, cfg.width)
    # Positions are added before the gather and attention is permutation-equivariant, so
    # permuting keep_idx permutes the output tokens.
    out = vit(x, keep)
    assert torch.allclose(vit(x, keep.flip(1)), out.flip(1), atol=1e-5)


@pytest.mark.parametrize(("s", "c"), SIZES)
def test_resnet_shapes(s: int, c: int) -> None:
    net = resnet18_cifar(c, width=8)
    x = images(3, c, s)
    assert net.feature_dim == 64
    assert net(x).shape == (3, 64)
    assert net.feature_map(x).shape == (3, 64, math.ceil(s / 8), math.ceil(s / 8))


def test_parameter_counts() -> None:
    # Reference: the CIFAR ResNet-18 with a 10-class head is widely quoted at 11,173,962
    # parameters; without the head (512·10 + 10) that is 11,168,832.
    assert sum(p.numel() for p in resnet18_cifar(3).parameters()) == 11_173_962 - 5130
    # Paper-size ViT at 32x32 (width 192, depth 12; sin-cos positions are not parameters):
    # 12 blocks · (4·192² + 4·192 + 2·(192·768) + 768 + 192 + 4·192) + patch 3·16·192 + 192 + norm 384.
    per_block = 4 * 192**2 + 4 * 192 + 2 * 192 * 768 + 768 + 192 + 4 * 192
    expected = 12 * per_block + 3 * 16 * 192 + 192 + 2 * 192
    assert sum(p.numel() for p in ViTEncoder(vit_tiny_for(32, 3, "paper")).parameters()) == expected


def test_patch_sizes_and_config_validation() -> None:
    assert {s: patch_size_for(s) for s in (8, 28, 32, 84)} == {8: 2, 28: 4, 32: 4, 84: 12}
    with pytest.raises(ParameterError, match="patch_size"):
        ViTConfig(image_size=32, patch_size=5)
    with pytest.raises(ParameterError, match="heads"):
        ViTConfig(image_size=32, patch_size=4, width=64, heads=3)


def test_patchify_order_and_round_trip() -> None:
    x = images(2, 3, 8)
    t = patchify(x, 4)  # (2, 4, 48)
    assert t.shape == (2, 4, 48)
    # Patch 1 is the top-right block, laid out (row, col, channel).
    assert torch.equal(t[:, 1].reshape(2, 4, 4, 3), x[:, :, :4, 4:].permute(0, 2, 3, 1))
    assert torch.equal(unpatchify(t, 4, 3), x)


# --------------------------------------------------------------------------- MAE


def test_masking_counts_and_independence() -> None:
    b, n, ratio = 16, 49, 0.75
    keep, mask = random_masking(b, n, ratio, gen(0), torch.device("cpu"))
    n_mask = round(ratio * n)
    assert num_masked(n, ratio) == n_mask == 37
    assert keep.shape == (b, n - n_mask)
    assert torch.equal(mask.sum(1), torch.full((b,), float(n_mask)))
    assert all(len(set(row.tolist())) == n - n_mask for row in keep)
    assert torch.all(mask.gather(1, keep) == 0)
    assert len({tuple(row.tolist()) for row in mask}) == b  # every sample its own mask
    keep2, _ = random_masking(b, n, ratio, gen(0), torch.device("cpu"))
    assert torch.equal(keep, keep2)


def test_mae_loss_only_on_masked_patches() -> None:
    mae = MAE(tiny_vit(8, 1))
    out = mae.forward_masked(images(4, 1, 8), gen(1))
    pred = out.pred.detach().requires_grad_(True)
    MAE.reconstruction_loss(out._replace(pred=pred)).backward()
    visible = out.mask == 0
    assert torch.all(pred.grad[visible] == 0)
    assert torch.all(pred.grad[~visible].abs().sum(-1) > 0)


def test_mae_cnn_zeroes_masked_pixels() -> None:
    net = resnet18_cifar(1, width=4)
    mae = MAE(net, image_size=8)
    seen = {}
    net.stem.register_forward_pre_hook(lambda _m, args: seen.setdefault("x", args[0].detach()))
    x = images(4, 1, 8) + 5.0  # no zero pixels of its own
    out = mae.forward_masked(x, gen(2))
    pixel_mask = unpatchify(out.mask[..., None].expand(-1, -1, 4), 2, 1)  # (4, 1, 8, 8)
    assert torch.equal(seen["x"] == 0, pixel_mask == 1)
    assert out.pred.shape == out.target.shape == (4, 16, 4)


@pytest.mark.parametrize("backbone", ["vit", "cnn"])
def test_mae_loss_decreases(backbone: str) -> None:
    torch.manual_seed(0)  # initialisation only; masks come from the explicit generator
    net = tiny_vit(8, 1) if backbone == "vit" else resnet18_cifar(1, width=8)
    mae = MAE(net, image_size=8)
    x = images(8, 1, 8, seed=3)
    opt = torch.optim.Adam(mae.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss, metrics = mae.loss(x, gen(4))  # the same masks every step: a fixed objective
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(metrics["loss"])
    assert losses[-1] < 0.7 * losses[0], losses


# --------------------------------------------------------------------------- SimSiam


def test_augment_geometry() -> None:
    x = images(3, 1, 8)
    still = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter_p=0.0, noise_p=0.0)
    assert torch.allclose(augment(x, gen(0), AugmentConfig(flip_p=0.0, **still)), x, atol=1e-5)
    assert torch.allclose(augment(x, gen(0), AugmentConfig(flip_p=1.0, **still)), x.flip(-1), atol=1e-5)
    v1, v2 = augment(images(3, 3, 32), gen(5)), augment(images(3, 3, 32), gen(5))
    assert v1.shape == (3, 3, 32, 32) and torch.equal(v1, v2)  # reproducible from the generator
    g = gen(5)
    assert not torch.allclose(augment(x, g), augment(x, g))  # successive views differ


def test_simsiam_stop_gradient() -> None:
    p1, p2 = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6, requires_grad=True)
    z1, z2 = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6, requires_grad=True)
    loss = simsiam_loss(p1, p2, z1, z2)
    loss.backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad is not None and p1.grad.abs().sum() > 0
    assert -1.0 <= float(simsiam_loss(p1, p2, p2, p1).detach()) <= -1.0 + 1e-6  # perfect agreement


@pytest.mark.parametrize("backbone", ["vit", "cnn"])
def test_simsiam_module(backbone: str) -> None:
    net = tiny_vit(8, 1) if backbone == "vit" else resnet18_cifar(1, width=4)
    model = SimSiam(net, proj_dim=32, pred_dim=8)
    x = images(6, 1, 8)
    loss, metrics = model.loss(x, gen(6))
    assert -1.0 <= metrics["loss"] <= 1.0
    p1, p2, z1, z2 = model.forward_views(x, gen(6))
    full = simsiam_loss(p1, p2, z1, z2)
    assert torch.allclose(full.detach(), loss.detach())
    # Stop-gradient in the module: z1 receives gradient only as the predictor's input
    # (through p1 against the detached z2), never as the target of p2.
    (g_full,) = torch.autograd.grad(full, z1, retain_graph=True)
    predictor_path = -0.5 * (F.normalize(p1, dim=-1) * F.normalize(z2.detach(), dim=-1)).sum(-1).mean()
    (g_pred,) = torch.autograd.grad(predictor_path, z1, retain_graph=True)
    assert torch.allclose(g_full, g_pred, atol=1e-7)
    target_path = -0.5 * (F.normalize(p2, dim=-1) * F.normalize(z1, dim=-1)).sum(-1).mean()
    (g_target,) = torch.autograd.grad(target_path, z1)
    assert g_target.abs().max() > 1e-4  # the path the stop-gradient cuts is not trivially zero
    assert model.features(x).shape == (6, net.feature_dim)
    assert model.representation(x, gen(0)).shape == (6, net.feature_dim)


def test_optimisers() -> None:
    mae = MAE(tiny_vit(8, 1))
    opt = mae_adamw(mae, batch_size=128)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.5e-4 * 128 / 256)
    assert opt.param_groups[0]["betas"] == (0.9, 0.95)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    assert all(p.ndim >= 2 for p in opt.param_groups[0]["params"])
    sgd = simsiam_sgd(mae.parameters(), batch_size=512)
    assert sgd.param_groups[0]["lr"] == pytest.approx(0.1)
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["weight_decay"] == 5e-4
    with pytest.raises(ParameterError, match="batch_size"):
        simsiam_sgd(mae.parameters(), batch_size=0)


# --------------------------------------------------------------------------- A-MMD


def reference_a_mmd(z: torch.Tensor, zb: torch.Tensor, sigma: float, squared: bool) -> float:
    """Eq. 6 by explicit loops in float64 (each within sum over a != b)."""

    def k(a: torch.Tensor, b: torch.Tensor) -> float:
        dist = float(((a - b) ** 2).sum()) if squared else float(((a - b) ** 2).sum().sqrt())
        return math.exp(-dist / (2 * sigma**2))

    b, bb = len(z), len(zb)
    wz = sum(k(z[i], z[j]) for i in range(b) for j in range(b) if i != j) / (b * (b - 1))
    wb = sum(k(zb[i], zb[j]) for i in range(bb) for j in range(bb) if i != j) / (bb * (bb - 1))
    cross = sum(k(z[i], zb[j]) for i in range(b) for j in range(bb)) / (b * bb)
    return wz + wb - 2 * cross


@pytest.mark.parametrize("squared", [True, False])
def test_a_mmd_matches_loops(squared: bool) -> None:
    z = torch.randn(5, 3, generator=gen(0), dtype=torch.float64)
    zb = torch.randn(7, 3, generator=gen(1), dtype=torch.float64) + 0.3  # B != B'
    pool = torch.cat([z, zb])
    dists = [float((pool[i] - pool[j]).norm()) for i in range(12) for j in range(12) if i != j]
    sigma = sum(dists) / len(dists)
    assert float(amd_bandwidth(z, zb)) == pytest.approx(sigma, rel=1e-10)
    got = float(a_mmd(z, zb, squared=squared))
    assert got == pytest.approx(reference_a_mmd(z, zb, sigma, squared), rel=1e-9, abs=1e-12)


def test_a_mmd_null_mean_is_zero() -> None:
    # Under H0 the statistic is a degenerate U-statistic: with the centred kernel k~ its terms are
    # uncorrelated, so Var = [2/(B(B-1)) + 2/(B(B-1)) + 4/B²] E k~² ≈ 8 E k~² / B², and
    # E k~² <= Var k <= 1/4 for a kernel in [0, 1]: sd <= sqrt(2)/B per draw. The mean of R
    # independent draws then has sd <= sqrt(2)/(B sqrt(R)); we allow 4 of those.
    b, d, r = 32, 8, 200
    g = gen(7)
    draws = torch.stack([a_mmd(torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)) for _ in range(r)])
    sd_bound = math.sqrt(2) / b
    assert float(draws.std()) < sd_bound
    tol = 4 * sd_bound / math.sqrt(r)
    assert abs(float(draws.mean())) < tol
    # Power check: the biased V-statistic (diagonals kept) is off by ~2(1 - E k)/B and fails.
    g = gen(7)
    biased = []
    for _ in range(r):
        z, zb = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
        sigma = amd_bandwidth(z, zb)

        def k(u: torch.Tensor, v: torch.Tensor, s: torch.Tensor = sigma) -> torch.Tensor:
            return torch.exp(-torch.cdist(u, v) ** 2 / (2 * s**2))

        biased.append(float(k(z, z).mean() + k(zb, zb).mean() - 2 * k(z, zb).mean()))
    assert sum(biased) / r > tol


def test_a_mmd_equal_inputs() -> None:
    # z == z_bar exactly: within terms equal the cross term's off-diagonal part, leaving
    # value = 2/B · (mean off-diagonal kernel - 1), in [-2/B, 0).
    b = 16
    z = torch.randn(b, 5, generator=gen(8))
    value = float(a_mmd(z, z.clone()))
    sigma = amd_bandwidth(z, z)
    kern = torch.exp(-torch.cdist(z, z) ** 2 / (2 * sigma**2))
    off_mean = float(kern[~torch.eye(b, dtype=torch.bool)].mean())
    assert value == pytest.approx(2 / b * (off_mean - 1), abs=1e-5)
    assert -2 / b <= value < 0


def test_a_mmd_shift_symmetry_and_gradient() -> None:
    z = torch.randn(32, 4, generator=gen(9))
    zb = torch.randn(32, 4, generator=gen(10)) + torch.tensor([2.0, 0.0, 0.0, 0.0])
    value = a_mmd(z, zb)
    assert float(value) > 2 * math.sqrt(2) / 32  # twice the null sd bound (see the null test)
    assert float(a_mmd(zb, z)) == pytest.approx(float(value), rel=1e-6)
    zg = z.clone().requires_grad_(True)
    a_mmd(zg, zb).backward()
    stepped = (zg - 0.5 * zg.grad).detach()
    assert float(a_mmd(stepped, zb)) < float(value)


def test_bandwidth_is_detached() -> None:
    z = torch.randn(8, 3, generator=gen(11), requires_grad=True)
    zb = torch.randn(6, 3, generator=gen(12))
    sigma = amd_bandwidth(z, zb)
    assert not sigma.requires_grad
    (g_auto,) = torch.autograd.grad(a_mmd(z, zb), z)
    (g_fixed,) = torch.autograd.grad(a_mmd(z, zb, sigma=float(sigma)), z)
    assert torch.allclose(g_auto, g_fixed, atol=1e-7)
    assert float(amd_bandwidth(z, zb, sample="local")) != float(sigma)
    with pytest.raises(ParameterError, match="z_bar"):
        a_mmd(z, torch.randn(1, 3))


# --------------------------------------------------------------------------- schedule


def test_gamma_schedule() -> None:
    assert gamma_schedule(0, 20) == pytest.approx(1e-1)
    assert gamma_schedule(20, 20) == pytest.approx(1e-3)
    assert gamma_schedule(10, 20) == pytest.approx((1e-1 + 1e-3) / 2)
    values = [gamma_schedule(w, 20) for w in range(25)]
    assert all(a > b for a, b in zip(values[:20], values[1:21], strict=True))
    assert values[20:] == [pytest.approx(1e-3)] * 5  # clamped past Omega
    for bad in ({"Omega": 0}, {"gamma_min": 0.2}, {"gamma_min": -1e-3}):
        with pytest.raises(ParameterError):
            gamma_schedule(**{"omega": 1, "Omega": 10, **bad})


# --------------------------------------------------------------------------- MAR


@pytest.mark.parametrize("representation", ["pooled", "projector"])
def test_mar_reduces_to_mae(representation: str) -> None:
    torch.manual_seed(0)
    mae = MAE(tiny_vit(8, 1))
    mar = MAR(mae, representation=representation, proj_dim=16)
    x = images(6, 1, 8)
    ref, _ = mae.loss(x, gen(13))
    z_bar = torch.randn(5, 32 if representation == "pooled" else 16)
    assert torch.equal(mar.loss(x, gen(13), z_bar, 0.0)[0], ref)
    assert torch.equal(mar.loss(x, gen(13), None, 0.1)[0], ref)
    loss, metrics = mar.loss(x, gen(13), z_bar, 0.1)
    assert metrics["loss"] == pytest.approx(metrics["recon"] + 0.1 * metrics["a_mmd"], rel=1e-6)
    assert metrics["recon"] == pytest.approx(float(ref.detach()))
    z = mar.local_representation(x, gen(13))
    assert z.shape == (6, z_bar.shape[1])
    # The alignment term trains the encoder: its gradient alone reaches the patch embedding.
    mar.zero_grad()
    (loss - ref).backward()
    assert mae.backbone.patch_embed.weight.grad.abs().sum() > 0
