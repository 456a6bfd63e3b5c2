"""Residual StyleGAN2 discriminator with minibatch standard deviation.

`features=True` also returns the activations after each block; with no local VGG16 weights
these serve as the perceptual space F (trained on mammograms, so in-domain).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .layers import SQRT2, EqualConv2d, EqualLinear, block_resolutions, channels_for


@dataclass(frozen=True)
class DiscriminatorConfig:
    resolution: int = 128
    channel_base: int = 4096
    channel_max: int = 256
    img_channels: int = 1
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


class DBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3, activation=True)
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, activation=True, down=True)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(x)
        x = self.conv1(self.conv0(x))
        return (x + y) / SQRT2


class MinibatchStd(nn.Module):
    """Appends the across-batch std of features so D can see a lack of variety."""

    def __init__(self, group_size: int, num_channels: int):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [n/g, f]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or DiscriminatorConfig(**kwargs)
        self.cfg = cfg
        res_list = block_resolutions(cfg.resolution)[::-1]  # 128, 64, ..., 4

        def ch(r):
            return channels_for(r, cfg.channel_base, cfg.channel_max)

        self.from_gray = EqualConv2d(cfg.img_channels, ch(res_list[0]), 1, activation=True)
        self.blocks = nn.ModuleList(DBlock(ch(r), ch(r // 2)) for r in res_list[:-1])
        c4 = ch(4)
        self.mbstd = MinibatchStd(cfg.mbstd_group_size, cfg.mbstd_num_channels)
        self.conv = EqualConv2d(c4 + cfg.mbstd_num_channels, c4, 3, activation=True)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, 1)

    def forward(self, img: torch.Tensor, features: bool = False):
        x = self.from_gray(img)
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        x = self.conv(self.mbstd(x))
        x = self.out(self.fc(x.flatten(1)))
        return (x, feats) if features else x

    def features(self, img: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        """Block activations without the minibatch layer (per-image, batch-independent)."""
        x = self.from_gray(img)
        feats = []
        for i, block in enumerate(self.blocks):
            if upto is not None and i >= upto:
                break
            x = block(x)
            feats.append(x)
        return feats
