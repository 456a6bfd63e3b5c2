"""StyleGAN2 generator (mapping + synthesis) with per-layer styles, i.e. a W+ latent space.

The layout follows NVlabs stylegan2-ada-pytorch (skip architecture, one w per modulated conv
and one for each toRGB, which it shares with the next block's first conv), sized by
`channel_base / resolution` capped at `channel_max`. Output is one grayscale channel in
[-1, 1] (not clamped: callers clamp for display).

Crops (training on crops, `stimstudio train gan --crop`): mammographic parenchyma is close to
a stationary texture and the synthesis network is fully convolutional, so it can learn from
crops (a quarter of the area at half the size) and still render whole patches. Its only input
that does not extend in space is the learned 4x4 constant; for a crop it is read as one period
of a periodic field (Jetchev et al.'s spatial GANs use a spatial input the same way) and each
sample takes a window of that field at a random offset, with noise maps of the crop's size. A
render without a crop takes the constant whole, exactly as before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import (
    EqualLinear,
    ModulatedConv,
    ToGray,
    block_resolutions,
    channels_for,
    upsample2x,
)


@dataclass(frozen=True)
class GeneratorConfig:
    resolution: int = 128
    z_dim: int = 256
    w_dim: int = 256
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 4096
    channel_max: int = 256
    img_channels: int = 1
    fused_modconv: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z -> w through an MLP, with a running average of w for truncation."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_multiplier: float):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualLinear(a, b, lr_multiplier=lr_multiplier, activation=True)
            for a, b in zip(dims[:-1], dims[1:])
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        for layer in self.layers:
            x = layer(x)
        return x


def tiled_window(const: torch.Tensor, size: int, offsets: torch.Tensor) -> torch.Tensor:
    """Windows of `size` x `size` from `const` [C, H, W] tiled periodically, one per row of
    `offsets` [N, 2] (top, left; taken modulo H, W) -> [N, C, size, size]."""
    h, w = const.shape[1:]
    steps = torch.arange(size, device=const.device)
    rows = (offsets[:, :1].to(const.device) + steps) % h  # [N, size]
    cols = (offsets[:, 1:].to(const.device) + steps) % w
    out = const[:, rows[:, :, None], cols[:, None, :]]  # [C, N, size, size]
    return out.permute(1, 0, 2, 3)


class SynthesisBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, img_ch: int, fused):
        super().__init__()
        self.resolution = resolution
        if in_ch == 0:
            self.const = nn.Parameter(torch.randn(out_ch, resolution, resolution))
            self.conv0 = None
        else:
            self.const = None
            self.conv0 = ModulatedConv(in_ch, out_ch, w_dim, resolution, up=True, fused=fused)
        self.conv1 = ModulatedConv(out_ch, out_ch, w_dim, resolution, fused=fused)
        self.togray = ToGray(out_ch, w_dim, img_ch, fused=fused)
        self.num_conv = 1 if in_ch == 0 else 2

    def forward(self, x, img, ws, noise_mode: str, noise_gain: float, window=None):
        i = 0
        if self.const is not None and window is not None:
            x = tiled_window(self.const.to(ws.dtype), *window)
        elif self.const is not None:
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, noise_gain)
            i = 1
        x = self.conv1(x, ws[:, i], noise_mode, noise_gain)
        y = self.togray(x, ws[:, i + 1])
        img = y if img is None else upsample2x(img) + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.resolutions = block_resolutions(cfg.resolution)
        blocks = []
        self.num_ws = 0
        prev = 0
        for res in self.resolutions:
            ch = channels_for(res, cfg.channel_base, cfg.channel_max)
            block = SynthesisBlock(prev, ch, cfg.w_dim, res, cfg.img_channels, cfg.fused_modconv)
            blocks.append(block)
            self.num_ws += block.num_conv
            prev = ch
        self.num_ws += 1  # the last toRGB
        self.blocks = nn.ModuleList(blocks)

    def layer_resolutions(self) -> list[int]:
        """Resolution that each of the num_ws styles acts on (used for style-mixing presets)."""
        out = []
        for block in self.blocks:
            out += [block.resolution] * block.num_conv
        return out + [self.resolutions[-1]]

    def crop_window(self, crop: int) -> int:
        """Side of the constant's window that renders a `crop`-px output; ValueError when the
        crop is not a power of two between a constant's pixel and the whole output."""
        res = self.resolutions[-1]
        first = self.resolutions[0]
        ok = crop > 0 and crop & (crop - 1) == 0 and crop <= res and crop * first >= res
        if not ok:
            raise ValueError(
                f"a crop must be a power of two from {res // first} to {res} px, not {crop}"
            )
        return crop * first // res

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        noise_gain: float = 1.0,
        crop: int | None = None,
        offsets: torch.Tensor | None = None,
    ):
        x = img = None
        window = None
        if crop:
            if noise_mode == "const":
                raise ValueError("a crop has no constant noise maps: use noise_mode random/none")
            size = self.crop_window(crop)
            if offsets is None:  # a random window of the periodic constant per sample
                offsets = torch.randint(0, self.resolutions[0], (ws.shape[0], 2))
            window = (size, offsets)
        w_idx = 0
        for block in self.blocks:
            x, img = block(
                x, img, ws[:, w_idx : w_idx + block.num_conv + 1], noise_mode, noise_gain, window
            )
            w_idx += block.num_conv
            window = None  # only the first block reads the constant
        return img


class Generator(nn.Module):
    """z -> w -> W+ (num_ws copies, or any w+ given directly) -> grayscale image in [-1, 1]."""

    def __init__(self, cfg: GeneratorConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or GeneratorConfig(**kwargs)
        self.cfg = cfg
        self.z_dim, self.w_dim, self.resolution = cfg.z_dim, cfg.w_dim, cfg.resolution
        self.mapping = MappingNetwork(
            cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.mapping_lr_multiplier
        )
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    def map(
        self, z: torch.Tensor, truncation_psi: float = 1.0, truncation_cutoff: int | None = None
    ) -> torch.Tensor:
        """z [N, z_dim] -> w+ [N, num_ws, w_dim], truncated toward w_avg on the first layers."""
        w = self.mapping(z).unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1.0:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            w_avg = self.w_avg.to(w.dtype)
            w[:, :cutoff] = w_avg.lerp(w[:, :cutoff], truncation_psi)
        return w

    def synthesize(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        noise_gain: float = 1.0,
        crop: int | None = None,
        offsets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """W+ -> image; `crop` (px) renders a crop from windows of the tiled constant at
        `offsets` [N, 2] (default: random), with the same weights (training on crops)."""
        return self.synthesis(
            ws, noise_mode=noise_mode, noise_gain=noise_gain, crop=crop, offsets=offsets
        )

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const"):
        return self.synthesize(self.map(z, truncation_psi), noise_mode=noise_mode)
