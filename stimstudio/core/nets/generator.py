"""StyleGAN2 generator (mapping + synthesis) with per-layer styles, i.e. a W+ latent space.

The layout follows NVlabs stylegan2-ada-pytorch (skip architecture, one w per modulated conv
and one for each toRGB, which it shares with the next block's first conv), sized by
`channel_base / resolution` capped at `channel_max`. Output is one grayscale channel in
[-1, 1] (not clamped: callers clamp for display).
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

    def forward(self, x, img, ws, noise_mode: str, noise_gain: float):
        i = 0
        if self.const is not None:
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

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise_gain: float = 1.0):
        x = img = None
        w_idx = 0
        for block in self.blocks:
            x, img = block(
                x, img, ws[:, w_idx : w_idx + block.num_conv + 1], noise_mode, noise_gain
            )
            w_idx += block.num_conv
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
        self, ws: torch.Tensor, noise_mode: str = "const", noise_gain: float = 1.0
    ) -> torch.Tensor:
        return self.synthesis(ws, noise_mode=noise_mode, noise_gain=noise_gain)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const"):
        return self.synthesize(self.map(z, truncation_psi), noise_mode=noise_mode)
