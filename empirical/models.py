"""Backbones for the deep experiments: a small ViT encoder and a CIFAR-stem ResNet-18.

Both expose ``features(x) -> (B, feature_dim)`` (what linear probes and SimSiam use) and a
``feature_dim`` attribute. The ViT also returns per-token outputs for a subset of patches
(``forward(x, keep_idx)``, the MAE encoder); the ResNet also returns its last feature map
(``feature_map(x)``, the MAE + CNN encoder). Presets: :func:`vit_tiny_for` picks the patch
size for an image size and a ``"smoke"`` (CPU) or ``"paper"`` (Tiny-ViT-like) width/depth.

Patch order everywhere is row-major over the (grid, grid) patch grid: patch ``i * grid + j``
covers rows ``i*p:(i+1)*p`` and columns ``j*p:(j+1)*p`` (:func:`patchify`).
"""

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from theory.errors import require

__all__ = [
    "ViTConfig",
    "ViTEncoder",
    "ResNetCIFAR",
    "resnet18_cifar",
    "patch_size_for",
    "vit_tiny_for",
    "VIT_SIZES",
    "patchify",
    "unpatchify",
    "sincos_pos_embed_2d",
    "TransformerBlock",
]


# --------------------------------------------------------------------------- ViT


@dataclass(frozen=True)
class ViTConfig:
    """Shape of a :class:`ViTEncoder`.

    ``pos_embed``: ``"sincos"`` (fixed 2-D sin-cos, as in MAE) or ``"learned"``.
    """

    image_size: int
    patch_size: int
    in_chans: int = 3
    width: int = 192
    depth: int = 12
    heads: int = 3
    mlp_ratio: float = 4.0
    pos_embed: Literal["sincos", "learned"] = "sincos"

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "in_chans", "width", "depth", "heads"):
            value = getattr(self, name)
            require(isinstance(value, int) and value > 0, name, "a positive integer", value)
        require(
            self.image_size % self.patch_size == 0,
            "patch_size",
            f"a divisor of image_size={self.image_size}",
            self.patch_size,
        )
        require(self.width % self.heads == 0, "heads", f"a divisor of width={self.width}", self.heads)
        require(self.mlp_ratio > 0, "mlp_ratio", "> 0", self.mlp_ratio)
        require(self.pos_embed in ("sincos", "learned"), "pos_embed", "'sincos' or 'learned'", self.pos_embed)
        if self.pos_embed == "sincos":
            require(self.width % 4 == 0, "width", "a multiple of 4 for sin-cos position embeddings", self.width)

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def patch_dim(self) -> int:
        """Pixels per patch, ``patch_size² · in_chans`` (the MAE reconstruction target size)."""
        return self.patch_size**2 * self.in_chans


def patchify(x: Float[Tensor, "b c h w"], patch_size: int) -> Float[Tensor, "b l pd"]:
    """Cut images into non-overlapping patches; ``pd = p·p·c`` ordered (row, col, channel)."""
    b, c, h, w = x.shape
    p = patch_size
    require(h % p == 0 and w % p == 0, "patch_size", f"a divisor of the image size {h}x{w}", p)
    gh, gw = h // p, w // p
    x = x.reshape(b, c, gh, p, gw, p)  # (B, C, gh, p, gw, p)
    x = torch.einsum("bchpwq->bhwpqc", x)  # (B, gh, gw, p, p, C)
    return x.reshape(b, gh * gw, p * p * c)  # (B, L, p*p*C)


def unpatchify(t: Float[Tensor, "b l pd"], patch_size: int, in_chans: int) -> Float[Tensor, "b c h w"]:
    """Inverse of :func:`patchify` for a square patch grid."""
    b, n, _ = t.shape
    p, c = patch_size, in_chans
    g = math.isqrt(n)
    require(g * g == n, "t", "a square number of patches", n)
    t = t.reshape(b, g, g, p, p, c)  # (B, gh, gw, p, p, C)
    t = torch.einsum("bhwpqc->bchpwq", t)  # (B, C, gh, p, gw, p)
    return t.reshape(b, c, g * p, g * p)  # (B, C, H, W)


def sincos_pos_embed_2d(width: int, grid_size: int) -> Float[Tensor, "l d"]:
    """Fixed 2-D sin-cos position embedding (MAE's ``get_2d_sincos_pos_embed``), row-major.

    Half of the channels encode the patch row, half the column; each half is
    ``[sin(pos·ω_k), cos(pos·ω_k)]`` with ``ω_k = 10000^(-k/(width/4))``.
    """
    require(width % 4 == 0, "width", "a multiple of 4", width)
    quarter = width // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (D/4,)
    pos = torch.arange(grid_size, dtype=torch.float64)
    rows, cols = torch.meshgrid(pos, pos, indexing="ij")  # (g, g) each
    parts = []
    for coord in (rows.reshape(-1), cols.reshape(-1)):  # (L,) each
        angle = coord[:, None] * omega[None, :]  # (L, D/4)
        parts += [torch.sin(angle), torch.cos(angle)]
    return torch.cat(parts, dim=1).float()  # (L, D)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Float[Tensor, "b n d"]) -> Float[Tensor, "b n d"]:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads)  # (B, N, 3, h, d/h)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, h, N, d/h)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d/h)
        y = y.transpose(1, 2).reshape(b, n, d)  # (B, N, D)
        return self.proj(y)


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + Attn(LN(x))`` then ``x + MLP(LN(x))`` (GELU MLP)."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(round(width * mlp_ratio))
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = _Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: Float[Tensor, "b n d"]) -> Float[Tensor, "b n d"]:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def init_transformer_(module: nn.Module) -> None:
    """MAE's initialisation: xavier-uniform linears with zero bias, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ViTEncoder(nn.Module):
    """Patch embedding, position embedding, ``depth`` pre-norm blocks, final LayerNorm.

    No class token: the image representation is the mean of the output tokens.
    """

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature_dim = cfg.width
        self.patch_embed = nn.Conv2d(cfg.in_chans, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        pos = sincos_pos_embed_2d(cfg.width, cfg.grid_size)[None] if cfg.pos_embed == "sincos" else None
        if pos is not None:
            # A function of the config, so kept out of the state dict (nothing to average in FL).
            self.register_buffer("pos_embed", pos, persistent=False)  # (1, L, D)
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches, cfg.width))  # (1, L, D)
        self.blocks = nn.ModuleList(TransformerBlock(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        init_transformer_(self)
        w = self.patch_embed.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))  # as a linear map on flattened patches
        nn.init.zeros_(self.patch_embed.bias)
        if isinstance(self.pos_embed, nn.Parameter):
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    @property
    def num_patches(self) -> int:
        return self.cfg.num_patches

    def forward(
        self, x: Float[Tensor, "b c h w"], keep_idx: Int[Tensor, "b k"] | None = None
    ) -> Float[Tensor, "b k d"]:
        """Output tokens of the patches ``keep_idx`` (all ``L`` patches when ``None``)."""
        cfg = self.cfg
        require(
            tuple(x.shape[1:]) == (cfg.in_chans, cfg.image_size, cfg.image_size),
            "x",
            f"a batch of shape (B, {cfg.in_chans}, {cfg.image_size}, {cfg.image_size})",
            tuple(x.shape),
        )
        t = self.patch_embed(x)  # (B, D, g, g)
        t = t.flatten(2).transpose(1, 2)  # (B, L, D)
        t = t + self.pos_embed
        if keep_idx is not None:
            index = keep_idx.unsqueeze(-1).expand(-1, -1, t.shape[-1])  # (B, K, D)
            t = torch.gather(t, 1, index)  # (B, K, D)
        for block in self.blocks:
            t = block(t)
        return self.norm(t)

    def features(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b d"]:
        """Mean-pooled tokens of the full image."""
        return self(x).mean(dim=1)


VIT_SIZES: dict[str, dict[str, int]] = {
    # CPU-sized; enough to see a learning curve in minutes.
    "smoke": {"width": 64, "depth": 4, "heads": 4},
    # Tiny-ViT-like (DeiT-Ti widths): the "small ViT" of the paper's Table 1.
    "paper": {"width": 192, "depth": 12, "heads": 3},
}


def patch_size_for(image_size: int) -> int:
    """Smallest patch size ``p >= 2`` dividing ``image_size`` with a patch grid of at most 8x8.

    8 -> 2 (4x4 grid), 28 -> 4 (7x7), 32 -> 4 (8x8), 64 -> 8, 84 -> 12 (7x7), 96 -> 12.
    Chosen for small images: at most 64 tokens keeps CPU runs cheap, and ≥ 2 pixels per side
    keeps patch-normalised targets meaningful.
    """
    require(isinstance(image_size, int) and image_size >= 2, "image_size", "an integer >= 2", image_size)
    for p in range(2, image_size + 1):
        if image_size % p == 0 and image_size // p <= 8:
            return p
    raise AssertionError("unreachable: p = image_size always qualifies")


def vit_tiny_for(
    image_size: int, in_chans: int = 3, size: Literal["smoke", "paper"] = "smoke", **overrides: object
) -> ViTConfig:
    """A :class:`ViTConfig` for ``image_size`` with the patch size of :func:`patch_size_for`.

    ``size``: a key of :data:`VIT_SIZES`; ``overrides`` replace any field afterwards.
    """
    require(size in VIT_SIZES, "size", f"one of {sorted(VIT_SIZES)}", size)
    cfg = ViTConfig(image_size=image_size, patch_size=patch_size_for(image_size), in_chans=in_chans, **VIT_SIZES[size])
    return replace(cfg, **overrides) if overrides else cfg


# --------------------------------------------------------------------------- ResNet


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b c2 h2 w2"]:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNetCIFAR(nn.Module):
    """ResNet with the CIFAR stem (3x3 conv, stride 1, no max-pool) and no classifier.

    Stages of widths ``w, 2w, 4w, 8w`` with strides ``1, 2, 2, 2`` (total stride 8);
    ``forward`` returns the global average pool of the last stage, ``feature_dim = 8w``.
    """

    def __init__(self, in_chans: int = 3, width: int = 64, layers: tuple[int, ...] = (2, 2, 2, 2)) -> None:
        super().__init__()
        require(isinstance(in_chans, int) and in_chans > 0, "in_chans", "a positive integer", in_chans)
        require(isinstance(width, int) and width > 0, "width", "a positive integer", width)
        require(len(layers) == 4 and all(n >= 1 for n in layers), "layers", "four positive block counts", layers)
        self.in_chans = in_chans
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        cin = width
        for stage, n_blocks in enumerate(layers):
            cout = width * 2**stage
            for i in range(n_blocks):
                blocks.append(_BasicBlock(cin, cout, stride=(2 if stage > 0 and i == 0 else 1)))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def feature_map(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b f hh ww"]:
        """Last-stage feature map, spatial size ``ceil(h / 8)``."""
        return self.blocks(self.stem(x))

    def forward(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b f"]:
        return self.feature_map(x).mean(dim=(2, 3))

    def features(self, x: Float[Tensor, "b c h w"]) -> Float[Tensor, "b f"]:
        return self(x)


def resnet18_cifar(in_chans: int = 3, width: int = 64) -> ResNetCIFAR:
    """ResNet-18 (two basic blocks per stage) with the CIFAR stem; ``width=64`` is the standard one."""
    return ResNetCIFAR(in_chans=in_chans, width=width, layers=(2, 2, 2, 2))
