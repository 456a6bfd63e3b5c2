"""A grown model's borrowed encoders: the parent model's encoder and noise encoder, used as
they are on a generator grown from it by one or more synthesis blocks (train/grow.py).

Why: a generator grown from the 128-px model (0.4 mm) to 256 px (0.2 mm) covers the same
51.2-mm field, and its mapping network and 4-128-px blocks start as the parent's. Training a
256-px encoder costs CPU hours; until one exists, the parent's encoders serve, honestly
labelled (the model card records `encoder_resolution` and where they came from):

- `GrownEncoder` averages the image down to the encoder's resolution (2x2 area average:
  256 px at 0.2 mm -> exactly the 128-px patch at 0.4 mm the parent's encoder was trained on),
  takes the parent's w+ for the layers the parent has (the first `cfg.num_ws`) and gives each
  extra layer of the grown generator the parent's last code. The new block already takes that
  code as its first conv's style (StyleGAN2 shares a style between a block's toGray and the
  next block's first conv: core/nets/generator.py), so its other layers get it too and the
  block sees one style throughout, as it did in training wherever no style-mixing cut fell.
- `GrownNoiseEncoder` sees the image and the reconstruction averaged down the same way and
  predicts the maps it knows: the parent's layers (its finest are the parent's top-resolution
  layers, i.e. the grown generator's middle ones). The grown generator's finer layers keep
  the model's fixed maps (core.invert.encoder_noise), or are fitted by Eq. 4 with
  `optimize_noise`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .encoder import Encoder, EncoderConfig
from .noise_encoder import NoiseEncoder, NoiseEncoderConfig


def average_down(img: torch.Tensor, resolution: int) -> torch.Tensor:
    """An image larger than `resolution` area-averaged down to it (an integer factor)."""
    size = img.shape[-1]
    if size == resolution:
        return img
    if size % resolution or size < resolution:
        raise ValueError(f"a {size}-px image cannot be averaged down to {resolution} px")
    return F.avg_pool2d(img, size // resolution)


class GrownEncoder(Encoder):
    """The parent's encoder (its own `cfg`: resolution and num_ws) on a grown generator with
    `out_ws` styles. Same tensors as an `Encoder` of that config."""

    def __init__(self, cfg: EncoderConfig, out_ws: int):
        super().__init__(cfg)
        if out_ws < cfg.num_ws:
            raise ValueError(f"a grown generator has more styles than {cfg.num_ws}, not {out_ws}")
        self.out_ws = out_ws

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        w = super().forward(average_down(img, self.cfg.resolution))
        extra = self.out_ws - w.shape[1]
        if extra == 0:
            return w
        return torch.cat([w, w[:, -1:].expand(-1, extra, -1)], 1)


class GrownNoiseEncoder(NoiseEncoder):
    """The parent's noise encoder on a grown generator: the maps of the parent's layers, from
    the image and the reconstruction averaged down to its resolution."""

    def __init__(self, cfg: NoiseEncoderConfig):
        super().__init__(cfg)

    def forward(self, x: torch.Tensor, rec: torch.Tensor) -> list[torch.Tensor]:
        r = self.cfg.resolution
        return super().forward(average_down(x, r), average_down(rec, r))
