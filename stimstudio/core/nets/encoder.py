"""The paper's encoder: one initial conv, 8 residual blocks, BatchNorm everywhere, one dense.

It maps an image to W+ ([num_ws, w_dim]) as an offset from the generator's w_avg, which
starts training at the middle of the latent space instead of at zero. Downsampling happens
in the blocks so the dense layer sees a 4x4 map whatever the resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class EncoderConfig:
    resolution: int = 128
    num_ws: int = 12
    w_dim: int = 256
    base_channels: int = 32
    max_channels: int = 128
    num_blocks: int = 8
    img_channels: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


class ResBlock(nn.Module):
    """conv-BN-lrelu-conv-BN plus a (1x1 conv + BN) shortcut; stride 2 when downsampling."""

    def __init__(self, in_ch: int, out_ch: int, down: bool):
        super().__init__()
        stride = 2 if down else 1
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.LeakyReLU(0.2),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        if down or in_ch != out_ch:
            self.skip = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False), nn.BatchNorm2d(out_ch)
            )
        else:
            self.skip = nn.Identity()
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.act(self.body(x) + self.skip(x))


class Encoder(nn.Module):
    def __init__(self, cfg: EncoderConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or EncoderConfig(**kwargs)
        self.cfg = cfg
        num_down = int(np.log2(cfg.resolution)) - 2  # down to 4x4
        if num_down > cfg.num_blocks:
            raise ValueError("too few residual blocks to reach 4x4 at this resolution")
        # Spread the downsampling blocks evenly over the blocks.
        down_at = set(np.linspace(0, cfg.num_blocks - 1, num_down).round().astype(int).tolist())
        self.initial = nn.Sequential(
            nn.Conv2d(cfg.img_channels, cfg.base_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cfg.base_channels),
            nn.LeakyReLU(0.2),
        )
        blocks, ch = [], cfg.base_channels
        for i in range(cfg.num_blocks):
            down = i in down_at
            out = min(ch * 2, cfg.max_channels) if down else ch
            blocks.append(ResBlock(ch, out, down))
            ch = out
        self.blocks = nn.Sequential(*blocks)
        self.dense = nn.Linear(ch * 16, cfg.num_ws * cfg.w_dim)
        nn.init.zeros_(self.dense.bias)
        nn.init.normal_(self.dense.weight, std=0.01 / np.sqrt(ch * 16))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.initial(img))
        x = self.dense(x.flatten(1)).reshape(-1, self.cfg.num_ws, self.cfg.w_dim)
        return x + self.w_avg.to(x.dtype)
