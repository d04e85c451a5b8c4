"""Self-supervised methods trained by the distributed engine: MAE, SimSiam and MAR (paper Eq. 5).

Every method is an ``nn.Module`` with

- ``loss(batch, generator) -> (loss, metrics)``: a scalar tensor to minimise and a dict of
  floats for logging; ``batch`` is a float image tensor ``(B, C, H, W)`` (already
  normalised) or a sequence whose first item is one (labels are ignored);
- ``prepare(batch, generator) -> prepared`` and ``loss_prepared(prepared) -> (loss, metric
  tensors)``: the same loss split into its randomness and its maths. ``prepare`` makes every
  draw (masks, augmented views) outside autograd and returns a tuple of tensors;
  ``loss_prepared`` is a deterministic function of the parameters and those tensors, with
  0-d tensor metrics (no host synchronisation), so it can run under ``torch.func``
  transforms (:mod:`empirical.batched` vmaps it over clients). ``loss`` is exactly
  ``loss_prepared(prepare(batch, generator))`` with the metrics read as floats, so the two
  paths make the same draws by construction;
- ``representation(batch, generator) -> (B, d)``: the embedding used for MAR alignment;
- ``features(x) -> (B, d)``: the deterministic full-image feature used for evaluation.

Randomness (masks, augmentations) comes only from the explicit ``torch.Generator``. Draws are
made on the generator's device and moved to the batch's device, so a CPU generator gives the
same masks and views on CPU and CUDA.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from theory.errors import require

from .mmd import BandwidthSample, a_mmd
from .models import (
    ResNetCIFAR,
    TransformerBlock,
    ViTEncoder,
    init_transformer_,
    patch_size_for,
    patchify,
    sincos_pos_embed_2d,
)

__all__ = [
    "SSLMethod",
    "Prepared",
    "floats",
    "mar_metrics",
    "MAE",
    "MaskedOutput",
    "SimSiam",
    "MAR",
    "AugmentConfig",
    "augment",
    "random_masking",
    "num_masked",
    "negative_cosine",
    "simsiam_loss",
    "simsiam_sgd",
    "mae_adamw",
]

Batch = Tensor | Sequence[Tensor]
Backbone = ViTEncoder | ResNetCIFAR


def _images(batch: Batch) -> Float[Tensor, "b c h w"]:
    x = batch if isinstance(batch, Tensor) else batch[0]
    require(
        isinstance(x, Tensor) and x.ndim == 4 and x.is_floating_point(),
        "batch",
        "a float (B, C, H, W) tensor or a sequence starting with one",
        type(x).__name__ if not isinstance(x, Tensor) else (tuple(x.shape), x.dtype),
    )
    return x


def _check_generator(generator: object) -> torch.Generator:
    require(isinstance(generator, torch.Generator), "generator", "a torch.Generator", type(generator).__name__)
    assert isinstance(generator, torch.Generator)
    return generator


def _uniform(shape: tuple[int, ...], generator: torch.Generator, like: Tensor) -> Tensor:
    """U[0, 1) draws on the generator's device, moved to ``like``'s device and dtype."""
    u = torch.rand(shape, generator=generator, device=generator.device)
    return u.to(device=like.device, dtype=like.dtype)


Prepared = tuple[Tensor, ...]
"""What :meth:`SSLMethod.prepare` returns: the batch's random draws (and whatever images the
loss needs), every item a tensor whose first axis is the batch."""


def floats(metrics: dict[str, Tensor]) -> dict[str, float]:
    """0-d metric tensors as Python floats (one host read each)."""
    return {k: float(v.detach()) for k, v in metrics.items()}


class SSLMethod(nn.Module):
    """Interface shared by the methods (see the module docstring)."""

    def prepare(self, batch: Batch, generator: torch.Generator) -> Prepared:
        raise NotImplementedError

    def loss_prepared(self, prepared: Prepared) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def loss(self, batch: Batch, generator: torch.Generator) -> tuple[Tensor, dict[str, float]]:
        loss, metrics = self.loss_prepared(self.prepare(batch, generator))
        return loss, floats(metrics)

    def representation(self, batch: Batch, generator: torch.Generator) -> Float[Tensor, "b d"]:
        raise NotImplementedError

    def features(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b d"]:
        raise NotImplementedError


# --------------------------------------------------------------------------- MAE


def num_masked(num_patches: int, mask_ratio: float) -> int:
    """Masked patches per sample, ``round(mask_ratio · L)`` (Python rounding); at least one
    patch must stay visible and at least one be masked."""
    require(0.0 < mask_ratio < 1.0, "mask_ratio", "in (0, 1)", mask_ratio)
    n = int(round(mask_ratio * num_patches))
    require(
        1 <= n <= num_patches - 1,
        "mask_ratio",
        f"such that round(mask_ratio * {num_patches}) is between 1 and {num_patches - 1}",
        mask_ratio,
    )
    return n


def random_masking(
    batch_size: int, num_patches: int, mask_ratio: float, generator: torch.Generator, device: torch.device
) -> tuple[Int[Tensor, "b k"], Float[Tensor, "b l"]]:
    """Independent uniform random masks per sample (MAE's per-sample shuffling).

    Returns ``keep_idx`` (B, L - n_mask) indices of the visible patches and ``mask`` (B, L)
    with 1 on masked patches, ``n_mask = num_masked(L, mask_ratio)``.
    """
    n_keep = num_patches - num_masked(num_patches, mask_ratio)
    noise = torch.rand((batch_size, num_patches), generator=generator, device=generator.device)  # (B, L)
    keep_idx = noise.argsort(dim=1)[:, :n_keep]  # (B, K): the n_keep smallest noises are kept
    mask = torch.ones_like(noise).scatter(1, keep_idx, 0.0)  # (B, L)
    return keep_idx.to(device), mask.to(device)


def _interp_matrix(src: tuple[int, int], dst: tuple[int, int], like: Tensor) -> Float[Tensor, "n l"]:
    """Bilinear resize from ``src`` to ``dst`` as a (h·w, gh·gw) matrix.

    A matmul instead of ``F.interpolate`` keeps the backward pass deterministic on CUDA
    (bilinear upsampling's CUDA backward is not).
    """
    n = src[0] * src[1]
    eye = torch.eye(n, device=like.device, dtype=like.dtype).reshape(n, 1, *src)  # (n, 1, h, w)
    up = F.interpolate(eye, size=dst, mode="bilinear", align_corners=False)  # (n, 1, gh, gw)
    return up.reshape(n, dst[0] * dst[1])  # (n, L)


class MaskedOutput(NamedTuple):
    """One masked forward pass: prediction and target per patch, mask, pooled visible encoding."""

    pred: Float[Tensor, "b l pd"]
    target: Float[Tensor, "b l pd"]
    mask: Float[Tensor, "b l"]
    pooled: Float[Tensor, "b d"]


class MAE(SSLMethod):
    """Masked autoencoder (He et al. 2022) on a ViT or a CIFAR ResNet backbone.

    ViT: the encoder sees only the visible patches; a light transformer decoder (mask tokens,
    fixed sin-cos decoder position embedding, ``decoder_depth`` blocks) predicts every patch.
    The loss is the mean squared error on masked patches only, against per-patch normalised
    pixels when ``norm_pix_loss`` (each patch's mean and unbiased variance, eps 1e-6, as MAE).

    CNN (the paper's "MAE + CNN"): a ResNet cannot drop tokens, so masked patches of the input
    (patch size ``mask_patch_size``, default :func:`patch_size_for`) are set to zero, the mean
    of normalised inputs (SimMIM-style, Xie et al. 2022), and the last feature map is resized
    bilinearly to the patch grid and decoded by 1x1 conv -> + sin-cos position -> GELU -> 3x3
    conv -> GELU -> 1x1 conv into the patch pixels; same target and loss as the ViT.
    Deviations: the paper does not say how its MAE + CNN masks or decodes; this is our choice.

    ``representation`` / :attr:`MaskedOutput.pooled`: mean of the encoder's visible tokens
    (ViT) or global average pool of the masked input's feature map (CNN), the z_i = f_e(x_1)
    of Eq. 5.
    """

    def __init__(
        self,
        backbone: Backbone,
        *,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = True,
        decoder_width: int | None = None,
        decoder_depth: int = 2,
        decoder_heads: int | None = None,
        image_size: int | None = None,
        mask_patch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.norm_pix_loss = norm_pix_loss
        if isinstance(backbone, ViTEncoder):
            cfg = backbone.cfg
            require(
                image_size in (None, cfg.image_size), "image_size", f"None or {cfg.image_size} (the ViT's)", image_size
            )
            require(
                mask_patch_size in (None, cfg.patch_size),
                "mask_patch_size",
                f"None or {cfg.patch_size} (the ViT's patch size)",
                mask_patch_size,
            )
            self.image_size, self.patch_size, self.in_chans = cfg.image_size, cfg.patch_size, cfg.in_chans
        elif isinstance(backbone, ResNetCIFAR):
            require(image_size is not None, "image_size", "given for a CNN backbone", image_size)
            assert image_size is not None
            p = mask_patch_size if mask_patch_size is not None else patch_size_for(image_size)
            require(image_size % p == 0, "mask_patch_size", f"a divisor of image_size={image_size}", p)
            self.image_size, self.patch_size, self.in_chans = image_size, p, backbone.in_chans
        else:
            require(False, "backbone", "a ViTEncoder or a ResNetCIFAR", type(backbone).__name__)
        self.grid = self.image_size // self.patch_size
        self.num_patches = self.grid**2
        num_masked(self.num_patches, mask_ratio)  # validates the ratio for this patch grid
        self.mask_ratio = mask_ratio
        patch_dim = self.patch_size**2 * self.in_chans

        if isinstance(backbone, ViTEncoder):
            dw = decoder_width if decoder_width is not None else backbone.cfg.width
            dh = decoder_heads if decoder_heads is not None else backbone.cfg.heads
            require(dw % 4 == 0 and dw % dh == 0, "decoder_width", f"a multiple of 4 and of decoder_heads={dh}", dw)
            self.decoder_embed = nn.Linear(backbone.cfg.width, dw)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, dw))  # (1, 1, Dd)
            self.register_buffer(
                "decoder_pos", sincos_pos_embed_2d(dw, self.grid)[None], persistent=False
            )  # (1, L, Dd)
            self.decoder_blocks = nn.ModuleList(TransformerBlock(dw, dh) for _ in range(decoder_depth))
            self.decoder_norm = nn.LayerNorm(dw, eps=1e-6)
            self.decoder_pred = nn.Linear(dw, patch_dim)
            for module in (self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred):
                init_transformer_(module)
            nn.init.normal_(self.mask_token, std=0.02)
        else:
            dw = decoder_width if decoder_width is not None else 128
            require(dw % 4 == 0, "decoder_width", "a multiple of 4", dw)
            self.decoder_in = nn.Conv2d(backbone.feature_dim, dw, 1)
            pos = sincos_pos_embed_2d(dw, self.grid)  # (L, Dd)
            pos = pos.T.reshape(1, dw, self.grid, self.grid)  # (1, Dd, g, g)
            self.register_buffer("decoder_pos", pos, persistent=False)
            self.decoder_out = nn.Sequential(
                nn.GELU(), nn.Conv2d(dw, dw, 3, padding=1), nn.GELU(), nn.Conv2d(dw, patch_dim, 1)
            )

    @property
    def is_vit(self) -> bool:
        return isinstance(self.backbone, ViTEncoder)

    def target(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b l pd"]:
        """Per-patch pixels, normalised per patch when ``norm_pix_loss``."""
        t = patchify(x, self.patch_size)  # (B, L, p*p*C)
        if self.norm_pix_loss:
            mean = t.mean(dim=-1, keepdim=True)
            var = t.var(dim=-1, keepdim=True)
            t = (t - mean) / (var + 1e-6).sqrt()
        return t

    def prepare(self, batch: Batch, generator: torch.Generator) -> Prepared:
        """``(x, keep_idx, mask)``: the images and their masks (:func:`random_masking`),
        consuming exactly one (B, L) uniform draw from ``generator``."""
        x = _images(batch)
        generator = _check_generator(generator)
        require(
            tuple(x.shape[1:]) == (self.in_chans, self.image_size, self.image_size),
            "batch",
            f"images of shape (B, {self.in_chans}, {self.image_size}, {self.image_size})",
            tuple(x.shape),
        )
        keep_idx, mask = random_masking(x.shape[0], self.num_patches, self.mask_ratio, generator, x.device)
        return x, keep_idx, mask

    def _encode(
        self, x: Float[Tensor, "b c h w"], keep_idx: Int[Tensor, "b k"], mask: Float[Tensor, "b l"]
    ) -> tuple[Tensor, Float[Tensor, "b d"]]:
        """Encode the visible part. Returns (encoder output, pooled); the encoder output is the
        visible tokens (B, K, D) for a ViT and the feature map (B, F, h, w) for a CNN."""
        b = x.shape[0]
        if isinstance(self.backbone, ViTEncoder):
            tokens = self.backbone(x, keep_idx)  # (B, K, D)
            return tokens, tokens.mean(dim=1)
        p, g = self.patch_size, self.grid
        pixel_mask = mask.to(x.dtype).reshape(b, 1, g, g)  # (B, 1, g, g)
        pixel_mask = pixel_mask.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)  # (B, 1, H, W)
        fmap = self.backbone.feature_map(x * (1.0 - pixel_mask))  # (B, F, h, w)
        return fmap, fmap.mean(dim=(2, 3))

    def _decode(self, enc: Tensor, keep_idx: Int[Tensor, "b k"]) -> Float[Tensor, "b l pd"]:
        b, n = enc.shape[0], self.num_patches
        if isinstance(self.backbone, ViTEncoder):
            y = self.decoder_embed(enc)  # (B, K, Dd)
            dw = y.shape[-1]
            index = keep_idx.unsqueeze(-1).expand(-1, -1, dw)  # (B, K, Dd)
            full = self.mask_token.to(y.dtype).expand(b, n, dw).scatter(1, index, y)  # (B, L, Dd)
            full = full + self.decoder_pos
            for block in self.decoder_blocks:
                full = block(full)
            return self.decoder_pred(self.decoder_norm(full))  # (B, L, p*p*C)
        g = self.grid
        y = self.decoder_in(enc)  # (B, Dd, h, w)
        dw, h, w = y.shape[1:]
        resize = _interp_matrix((h, w), (g, g), y)  # (h*w, L)
        y = (y.flatten(2) @ resize).reshape(b, dw, g, g)  # (B, Dd, g, g)
        y = self.decoder_out(y + self.decoder_pos)  # (B, p*p*C, g, g)
        return y.flatten(2).transpose(1, 2)  # (B, L, p*p*C)

    def forward_masked(self, batch: Batch, generator: torch.Generator) -> MaskedOutput:
        """One masked pass; consumes exactly one (B, L) uniform draw from ``generator``."""
        return self.forward_prepared(self.prepare(batch, generator))

    def forward_prepared(self, prepared: Prepared) -> MaskedOutput:
        """The masked pass of :meth:`forward_masked` on drawn masks ``(x, keep_idx, mask)``."""
        x, keep_idx, mask = prepared
        enc, pooled = self._encode(x, keep_idx, mask)
        return MaskedOutput(pred=self._decode(enc, keep_idx), target=self.target(x), mask=mask, pooled=pooled)

    @staticmethod
    def reconstruction_loss(out: MaskedOutput) -> Float[Tensor, ""]:
        """Mean over masked patches of the per-patch mean squared error."""
        err = (out.pred - out.target).pow(2).mean(dim=-1)  # (B, L)
        return (err * out.mask).sum() / out.mask.sum()

    def loss_prepared(self, prepared: Prepared) -> tuple[Tensor, dict[str, Tensor]]:
        recon = self.reconstruction_loss(self.forward_prepared(prepared))
        value = recon.detach()
        return recon, {"loss": value, "recon": value}

    def representation(self, batch: Batch, generator: torch.Generator) -> Float[Tensor, "b d"]:
        """Pooled encoding of the visible part (no decoder pass); same draws as :meth:`loss`."""
        return self.representation_prepared(self.prepare(batch, generator))

    def representation_prepared(self, prepared: Prepared) -> Float[Tensor, "b d"]:
        """:meth:`representation` on drawn masks ``(x, keep_idx, mask)``."""
        return self._encode(*prepared)[1]

    def features(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b d"]:
        return self.backbone.features(x)


# --------------------------------------------------------------------------- SimSiam


@dataclass(frozen=True)
class AugmentConfig:
    """SimSiam view distribution, on standardised images (per-channel mean 0, std 1).

    ``crop_scale``/``crop_ratio``: area fraction and log-uniform aspect ratio of the random
    resized crop; ``flip_p``: horizontal flip probability; with probability ``jitter_p`` the
    contrast is scaled by U[1 ± contrast] around the image mean and the brightness shifted by
    U[± brightness] image standard deviations, and (3-channel images) the saturation scaled by
    U[1 ± saturation] around the per-pixel channel mean and the hue rotated by U[± hue] of a
    full turn about the grey axis; then with probability ``grayscale_p`` (3-channel images) the
    view is replaced by its channel mean; with probability ``noise_p`` N(0, noise_std²) noise is
    added. Defaults: SimSiam's ImageNet recipe (Chen & He 2021: crop scale 0.2-1, flip, colour
    jitter 0.4/0.4/0.4/0.1 with p 0.8, grayscale p 0.2); its Gaussian blur is replaced by the
    noise term. On 1-channel images (MNIST, digits) saturation, hue and grayscale are identities
    (there is no colour), so the MNIST view is crop + flip + brightness/contrast + noise.
    Deviation: the colour operations act on standardised images (per-channel mean 0, std 1),
    not on [0, 1] pixels, and hue is a rotation of the RGB vector about the grey axis rather
    than an HSV shift.
    """

    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    noise_p: float = 0.5
    noise_std: float = 0.1
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_p: float = 0.2

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        require(0 < lo <= hi <= 1, "crop_scale", "0 < lo <= hi <= 1", self.crop_scale)
        require(0 < self.crop_ratio[0] <= self.crop_ratio[1], "crop_ratio", "0 < lo <= hi", self.crop_ratio)
        require(0 <= self.saturation < 1, "saturation", "in [0, 1)", self.saturation)
        require(0 <= self.hue <= 0.5, "hue", "in [0, 0.5]", self.hue)
        for name in ("flip_p", "jitter_p", "noise_p", "grayscale_p"):
            require(0 <= getattr(self, name) <= 1, name, "in [0, 1]", getattr(self, name))
        require(0 <= self.contrast < 1, "contrast", "in [0, 1)", self.contrast)
        for name in ("brightness", "noise_std"):
            require(getattr(self, name) >= 0, name, ">= 0", getattr(self, name))


def augment(
    x: Float[Tensor, "b c h w"], generator: torch.Generator, cfg: AugmentConfig = AugmentConfig()
) -> Float[Tensor, "b c h w"]:
    """One random view per image, as batched tensor ops (any channel count and image size).

    The crop is an affine resampling (``affine_grid`` + bilinear ``grid_sample``) of a window
    of area ``s·HW`` inside the image, back to the full size; the flip negates its x scale.
    Consumes a fixed number of draws per call (12 uniforms per image and one Gaussian per
    pixel) whatever the probabilities and channel count, so streams stay aligned across
    configurations.
    """
    generator = _check_generator(generator)
    b = x.shape[0]
    u = _uniform((b, 12), generator, x)  # (B, 12)
    noise = torch.randn(tuple(x.shape), generator=generator, device=generator.device).to(x.device, x.dtype)
    (s_lo, s_hi), (r_lo, r_hi) = cfg.crop_scale, cfg.crop_ratio
    area = s_lo + (s_hi - s_lo) * u[:, 0]
    ratio = torch.exp(math.log(r_lo) + (math.log(r_hi) - math.log(r_lo)) * u[:, 1])
    sx = (area * ratio).sqrt().clamp(max=1.0)  # crop width / image width
    sy = (area / ratio).sqrt().clamp(max=1.0)
    tx = (1.0 - sx) * (2.0 * u[:, 2] - 1.0)  # crop centre in [-1, 1] coordinates
    ty = (1.0 - sy) * (2.0 * u[:, 3] - 1.0)
    flip = torch.where(u[:, 4] < cfg.flip_p, -1.0, 1.0).to(x.dtype)
    zero = torch.zeros_like(sx)
    theta = torch.stack([sx * flip, zero, tx, zero, sy, ty], dim=1).reshape(b, 2, 3)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    mean = v.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    std = v.std(dim=(1, 2, 3), keepdim=True) if v[0].numel() > 1 else torch.ones_like(mean)
    c = (1.0 + cfg.contrast * (2.0 * u[:, 5] - 1.0)).reshape(b, 1, 1, 1)  # (B, 1, 1, 1)
    shift = (cfg.brightness * (2.0 * u[:, 6] - 1.0)).reshape(b, 1, 1, 1)  # (B, 1, 1, 1)
    jittered = (v - mean) * c + mean + shift * std
    if v.shape[1] == 3:
        grey = jittered.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        sat = (1.0 + cfg.saturation * (2.0 * u[:, 9] - 1.0)).reshape(b, 1, 1, 1)
        jittered = grey + sat * (jittered - grey)
        jittered = _hue_rotate(jittered, 2.0 * math.pi * cfg.hue * (2.0 * u[:, 10] - 1.0))
    v = torch.where((u[:, 7] < cfg.jitter_p).reshape(b, 1, 1, 1), jittered, v)
    if v.shape[1] == 3:
        to_grey = (u[:, 11] < cfg.grayscale_p).reshape(b, 1, 1, 1)
        v = torch.where(to_grey, v.mean(dim=1, keepdim=True).expand_as(v), v)
    add_noise = (u[:, 8] < cfg.noise_p).reshape(b, 1, 1, 1)  # (B, 1, 1, 1)
    return torch.where(add_noise, v + cfg.noise_std * noise, v)


def _hue_rotate(v: Float[Tensor, "b 3 h w"], angle: Float[Tensor, " b"]) -> Float[Tensor, "b 3 h w"]:
    """Rotate each pixel's RGB vector by ``angle`` (radians, per image) about the grey axis
    (1, 1, 1)/√3 (Rodrigues' formula); grey pixels are unchanged."""
    k = v.new_full((3,), 1.0 / math.sqrt(3.0))
    cos, sin = angle.cos().reshape(-1, 1, 1, 1), angle.sin().reshape(-1, 1, 1, 1)
    dot = (v * k.reshape(1, 3, 1, 1)).sum(dim=1, keepdim=True)  # (B, 1, H, W)
    cross = torch.stack(  # k x v, k = (a, a, a)
        [k[1] * v[:, 2] - k[2] * v[:, 1], k[2] * v[:, 0] - k[0] * v[:, 2], k[0] * v[:, 1] - k[1] * v[:, 0]], dim=1
    )  # (B, 3, H, W)
    return v * cos + cross * sin + k.reshape(1, 3, 1, 1) * dot * (1.0 - cos)


def negative_cosine(p: Float[Tensor, "b d"], z: Float[Tensor, "b d"]) -> Float[Tensor, ""]:
    """``D(p, z) = -mean cos(p, stopgrad(z))`` (SimSiam's D with the stop-gradient on z)."""
    return -(F.normalize(p, dim=-1) * F.normalize(z.detach(), dim=-1)).sum(dim=-1).mean()


def simsiam_loss(
    p1: Float[Tensor, "b d"], p2: Float[Tensor, "b d"], z1: Float[Tensor, "b d"], z2: Float[Tensor, "b d"]
) -> Float[Tensor, ""]:
    """Symmetric SimSiam loss ``½ D(p1, z2) + ½ D(p2, z1)``; in [-1, 1], no gradient into z."""
    return 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))


class SimSiam(SSLMethod):
    """SimSiam (Chen & He 2021): backbone -> 3-layer BN projector -> 2-layer bottleneck predictor.

    Projector: (Linear-BN-ReLU) x 2, Linear-BN without affine (``proj_dim``); predictor:
    Linear-BN-ReLU (``pred_dim``) then Linear back to ``proj_dim``. The paper's defaults are
    2048 / 512; smaller ones suit small backbones. A ViT backbone is read through its
    mean-pooled tokens. ``representation``: backbone feature of one augmented view.
    """

    def __init__(
        self,
        backbone: Backbone,
        *,
        proj_dim: int = 2048,
        pred_dim: int = 512,
        augment_cfg: AugmentConfig = AugmentConfig(),
    ) -> None:
        super().__init__()
        require(proj_dim > 0 and pred_dim > 0, "proj_dim", "positive (and pred_dim too)", (proj_dim, pred_dim))
        self.backbone = backbone
        self.augment_cfg = augment_cfg
        f = backbone.feature_dim
        self.projector = nn.Sequential(
            nn.Linear(f, proj_dim, bias=False),
            nn.BatchNorm1d(proj_dim),
            nn.ReLU(),
            nn.Linear(proj_dim, proj_dim, bias=False),
            nn.BatchNorm1d(proj_dim),
            nn.ReLU(),
            nn.Linear(proj_dim, proj_dim, bias=False),
            nn.BatchNorm1d(proj_dim, affine=False),
        )
        self.predictor = nn.Sequential(
            nn.Linear(proj_dim, pred_dim, bias=False),
            nn.BatchNorm1d(pred_dim),
            nn.ReLU(),
            nn.Linear(pred_dim, proj_dim),
        )

    def prepare(self, batch: Batch, generator: torch.Generator) -> Prepared:
        """``(v1, v2)``: two views of the batch, drawn in that order from ``generator``."""
        x = _images(batch)
        generator = _check_generator(generator)
        with torch.no_grad():  # the views do not depend on the parameters
            return augment(x, generator, self.augment_cfg), augment(x, generator, self.augment_cfg)

    def forward_views(
        self, batch: Batch, generator: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(p1, p2, z1, z2)`` for two views drawn in that order from ``generator``."""
        return self.forward_prepared(self.prepare(batch, generator))

    def forward_prepared(self, prepared: Prepared) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(p1, p2, z1, z2)`` of drawn views ``(v1, v2)``."""
        v1, v2 = prepared
        z1 = self.projector(self.backbone.features(v1))  # (B, proj_dim)
        z2 = self.projector(self.backbone.features(v2))
        return self.predictor(z1), self.predictor(z2), z1, z2

    def loss_prepared(self, prepared: Prepared) -> tuple[Tensor, dict[str, Tensor]]:
        p1, p2, z1, z2 = self.forward_prepared(prepared)
        loss = simsiam_loss(p1, p2, z1, z2)
        # Collapse monitor: per-dimension std of the normalised z, ~1/sqrt(proj_dim) if healthy, 0 if collapsed.
        z_std = F.normalize(z1.detach(), dim=-1).std(dim=0).mean()
        return loss, {"loss": loss.detach(), "z_std": z_std}

    def representation(self, batch: Batch, generator: torch.Generator) -> Float[Tensor, "b d"]:
        return self.backbone.features(augment(_images(batch), _check_generator(generator), self.augment_cfg))

    def features(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b d"]:
        return self.backbone.features(x)


# --------------------------------------------------------------------------- MAR


class MAR(SSLMethod):
    """FedMAR / DecMAR objective (paper Eq. 5): ``‖f_d(f_e(x_1)) - x_2‖² + γ · A-MMD(z_i, z̄)``.

    Wraps an :class:`MAE` (the reconstruction term) and aligns the local representation z_i
    of the *same* masked pass with the global representations ``z_global`` = z̄ using
    :func:`empirical.mmd.a_mmd` (Eq. 6; γ from :func:`empirical.mmd.gamma_schedule`, Eq. 7).
    ``z_global`` is detached: it is a target supplied by the server (FL) or neighbours (DecL).

    ``representation`` selects z_i explicitly: ``"pooled"`` (default) is the MAE's pooled
    visible encoding; ``"projector"`` passes it through a small head Linear-GELU-Linear to
    ``proj_dim``, trained only by the A-MMD term. ``squared`` and ``bandwidth_sample`` are
    passed to ``a_mmd``. Deviations: Eq. 5 writes z_i = f_e(x_1) without saying how a token
    sequence becomes one vector; mean pooling is our choice.
    """

    def __init__(
        self,
        mae: MAE,
        *,
        representation: Literal["pooled", "projector"] = "pooled",
        proj_dim: int = 128,
        squared: bool = True,
        bandwidth_sample: BandwidthSample = "union",
    ) -> None:
        super().__init__()
        require(representation in ("pooled", "projector"), "representation", "'pooled' or 'projector'", representation)
        self.mae = mae
        self.representation_kind = representation
        self.squared = squared
        self.bandwidth_sample = bandwidth_sample
        self.projector: nn.Module | None = None
        if representation == "projector":
            require(proj_dim > 0, "proj_dim", "> 0", proj_dim)
            f = mae.backbone.feature_dim
            self.projector = nn.Sequential(nn.Linear(f, f), nn.GELU(), nn.Linear(f, proj_dim))

    def _z(self, pooled: Float[Tensor, "b d"]) -> Float[Tensor, "b e"]:
        return pooled if self.projector is None else self.projector(pooled)

    def prepare(self, batch: Batch, generator: torch.Generator) -> Prepared:
        """The MAE's masks, :meth:`MAE.prepare`."""
        return self.mae.prepare(batch, generator)

    def local_representation(self, batch: Batch, generator: torch.Generator) -> Float[Tensor, "b e"]:
        """The z_i that :meth:`loss` aligns, for a fresh mask (encoder only, same draws as
        :meth:`loss`). Carries gradients unless called under ``torch.no_grad()``; detach it
        before sharing with the server or neighbours."""
        return self.representation_prepared(self.prepare(batch, generator))

    def representation_prepared(self, prepared: Prepared) -> Float[Tensor, "b e"]:
        """:meth:`local_representation` on drawn masks (a reference model given the same
        ``prepared`` as the loss sees the same masked batch)."""
        return self._z(self.mae.representation_prepared(prepared))

    def representation(self, batch: Batch, generator: torch.Generator) -> Float[Tensor, "b e"]:
        return self.local_representation(batch, generator)

    def loss(
        self,
        batch: Batch,
        generator: torch.Generator,
        z_global: Float[Tensor, "bb e"] | None = None,
        gamma: float = 0.0,
    ) -> tuple[Tensor, dict[str, float]]:
        """Eq. 5 on one batch; plain MAE (same value, same draws) when ``z_global`` is None or γ = 0."""
        require(gamma >= 0, "gamma", ">= 0", gamma)
        prepared = self.prepare(batch, generator)
        aligned = z_global is not None and gamma != 0
        loss, metrics = self.loss_prepared(prepared, z_global if aligned else None, gamma)
        return loss, mar_metrics(metrics, float(gamma))

    def loss_prepared(
        self, prepared: Prepared, z_global: Float[Tensor, "bb e"] | None = None, gamma: float | Tensor = 0.0
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 5 on drawn masks: ``recon + γ · A-MMD`` when ``z_global`` is given (γ a float or
        a 0-d tensor, used as is, even 0), else ``recon``. Metrics: ``recon``, ``loss`` and,
        when aligned, ``a_mmd`` (tensors; :func:`mar_metrics` adds γ in :meth:`loss`'s order)."""
        out = self.mae.forward_prepared(prepared)
        recon = MAE.reconstruction_loss(out)
        if z_global is None:
            return recon, {"recon": recon.detach(), "loss": recon.detach()}
        align = a_mmd(
            self._z(out.pooled), z_global.detach(), squared=self.squared, bandwidth_sample=self.bandwidth_sample
        )
        loss = recon + gamma * align
        return loss, {"recon": recon.detach(), "loss": loss.detach(), "a_mmd": align.detach()}

    def features(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b d"]:
        return self.mae.features(x)


def mar_metrics(metrics: Mapping[str, Tensor | float], gamma: float) -> dict[str, float]:
    """:meth:`MAR.loss_prepared`'s metrics as floats with the applied γ, in the order
    ``recon, gamma, loss[, a_mmd]``."""
    out = {"recon": float(metrics["recon"]), "gamma": float(gamma), "loss": float(metrics["loss"])}
    if "a_mmd" in metrics:
        out["a_mmd"] = float(metrics["a_mmd"])
    return out


# --------------------------------------------------------------------------- optimisers


def _scaled_lr(base_lr: float, batch_size: int) -> float:
    require(isinstance(batch_size, int) and batch_size > 0, "batch_size", "a positive integer", batch_size)
    require(base_lr > 0, "base_lr", "> 0", base_lr)
    return base_lr * batch_size / 256


def simsiam_sgd(
    params: Iterable[nn.Parameter] | Iterable[dict] | nn.Module,
    batch_size: int,
    base_lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
) -> torch.optim.SGD:
    """SimSiam's SGD: ``lr = base_lr · batch_size / 256`` (the learning-rate schedule, cosine
    in the paper, is the engine's)."""
    lr = _scaled_lr(base_lr, batch_size)
    if isinstance(params, nn.Module):
        params = params.parameters()
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def mae_adamw(
    params: Iterable[nn.Parameter] | Iterable[dict] | nn.Module,
    batch_size: int,
    base_lr: float = 1.5e-4,
    betas: tuple[float, float] = (0.9, 0.95),
    weight_decay: float = 0.05,
) -> torch.optim.AdamW:
    """MAE's AdamW: ``lr = base_lr · batch_size / 256``, betas (0.9, 0.95), weight decay 0.05.

    Given a module, biases, norm weights (all 1-D parameters), position embeddings and mask
    tokens are put in a group without weight decay, as in MAE.
    """
    lr = _scaled_lr(base_lr, batch_size)
    if isinstance(params, nn.Module):
        decay, no_decay = [], []
        for name, p in params.named_parameters():
            if not p.requires_grad:
                continue
            skip = p.ndim <= 1 or name.endswith(("pos_embed", "mask_token"))
            (no_decay if skip else decay).append(p)
        params = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)
