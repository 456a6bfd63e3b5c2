"""The noise encoder: an image's fine texture as the generator's per-layer noise maps.

Why: StyleGAN2 draws fine texture (film grain, 1-3 px strands) from its noise inputs, not from
W+; the encoder maps to W+ only, so its reconstructions keep the layout and lose the detail
(held-out detail fidelity ~0.02), and Eq. 4 with fixed noise can recover little of it. The
StyleGAN2 projector fits the noise maps by optimisation; this small fully convolutional net
predicts them in one pass, from the image and the encoder's reconstruction G(E(x)) (so it sees
what W+ already explains). It covers the layers from `min_resolution` up; below that the maps
carry layout rather than texture and stay the generator's fixed ones.

Every map comes out at zero mean and unit variance (per image and map), the statistics the
generator was trained with, so a predicted map is as valid an input as a random one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class NoiseEncoderConfig:
    resolution: int = 128
    min_resolution: int = 32  # the coarsest noise layers predicted (finer ones all are)
    maps_per_resolution: int = 2  # the generator's noise layers per resolution (conv0, conv1)
    channels: int = 32
    img_channels: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def resolutions(self) -> list[int]:
        """Predicted resolutions, finest first (the order of the levels)."""
        n = int(np.log2(self.resolution // self.min_resolution)) + 1
        return [self.resolution >> i for i in range(n)]


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2)]


class NoiseEncoder(nn.Module):
    """(x, G(E(x))) -> noise maps [N, 1, r, r], coarsest first (the generator's layer order)."""

    def __init__(self, cfg: NoiseEncoderConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or NoiseEncoderConfig(**kwargs)
        r = cfg.min_resolution
        if r < 4 or r > cfg.resolution or r & (r - 1) or cfg.resolution & (cfg.resolution - 1):
            raise ValueError(
                f"the coarsest predicted noise layer ({r} px) must be a power of two between 4 "
                f"and the model's resolution ({cfg.resolution} px)"
            )
        self.cfg = cfg
        ch, inp = cfg.channels, 3 * cfg.img_channels  # image, reconstruction, their residual
        levels = [nn.Sequential(*_conv(inp, ch), *_conv(ch, ch), *_conv(ch, ch))]
        for _ in cfg.resolutions[1:]:
            levels.append(nn.Sequential(*_conv(ch, ch, 2), *_conv(ch, ch)))
        self.levels = nn.ModuleList(levels)
        self.heads = nn.ModuleList(
            nn.Conv2d(ch, cfg.maps_per_resolution, 3, 1, 1) for _ in cfg.resolutions
        )

    def forward(self, x: torch.Tensor, rec: torch.Tensor) -> list[torch.Tensor]:
        h = torch.cat([x, rec, x - rec], 1)
        per_level = []
        for level, head in zip(self.levels, self.heads):
            h = level(h)
            o = head(h).float()
            o = o - o.mean((2, 3), keepdim=True)
            per_level.append(o * o.square().mean((2, 3), keepdim=True).add(1e-12).rsqrt())
        maps = []
        for o in reversed(per_level):  # coarsest first
            maps += [o[:, i : i + 1] for i in range(o.shape[1])]
        return maps
