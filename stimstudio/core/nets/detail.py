"""The detail stage (issue 38, second arm): a small refiner that takes an image at half the
output's resolution (the 128-px model's output at 0.4 mm) to the full one (256 px at 0.2 mm),
and the generator that chains the two (`DetailStageGenerator`).

Why a refiner with noise: the 0.4-mm image fixes everything coarser than 0.8 mm; what lies
between 0.4 and 0.2 mm (grain, 1-2 px strands, calcification-sized specks) is not a function of
it. A deterministic upsampler trained to regress the real 0.2-mm patch would give the average
of the possible details, i.e. exactly the haze the 256-px model is meant to remove. So the
refiner draws per-pixel noise at the output resolution (a map per layer with a learned
strength, as the StyleGAN2 synthesis layers do: `noise_const` buffers, so that `noise_mode`,
latents' noise maps and Eq. 4's noise fitting treat them like the generator's own), and is
trained adversarially (train/detail.py), with a consistency term: its output averaged 2x2 must
give back its input.

Layout (every size a field of `DetailConfig`, as in NVlabs stylegan2-ada-pytorch's networks):

    lr [N,1,h,h] --conv x low_layers (low_channels, at h: context)----> nearest 2x --+
    lr --bilinear (or learned) 2x--> up [N,1,2h,2h] --------------------------------concat
       --conv+noise x high_layers (high_channels, at 2h)--> 1x1 --> residual * gain
    out = up + residual

Fully convolutional: it refines a crop as well as a whole patch (training on 128-px crops at
0.2 mm from 64-px crops at 0.4 mm).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .generator import Generator, GeneratorConfig

UPSAMPLES = ("bilinear", "learned")
DETAIL_KIND = "detail-stage"


@dataclass(frozen=True)
class DetailConfig:
    resolution: int = 256  # output size in px; the input is half of it
    img_channels: int = 1
    low_channels: int = 32  # features at the input's resolution (context for the detail)
    low_layers: int = 2
    high_channels: int = 16  # features at the output's resolution
    high_layers: int = 3  # each with injected per-pixel noise
    upsample: str = "bilinear"  # bilinear | learned (a 4x4 transposed conv started bilinear)
    noise: bool = True
    residual_gain: float = 0.1  # the residual's initial scale (output starts near `up`)
    lrelu_slope: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        r = self.resolution
        if r < 8 or r & (r - 1):
            raise ValueError(f"a detail stage's resolution must be a power of two >= 8, not {r}")
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLES)}, not {self.upsample}")
        if min(self.low_channels, self.high_channels, self.low_layers, self.high_layers) < 1:
            raise ValueError("a detail stage needs at least one layer of one channel per level")


class NoiseInjection(nn.Module):
    """x + strength * noise: one map per layer (`noise_const` [R, R], or [N, 1, R, R] when a
    caller sets per-image maps), fresh draws ("random") or none; the same modes as the
    generator's layers (core/nets/layers.ModulatedConv)."""

    def __init__(self, resolution: int):
        super().__init__()
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, noise_mode: str = "const", gain: float = 1.0):
        if noise_mode == "none":
            return x
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        elif noise_mode == "const":
            noise = self.noise_const.to(x.dtype)
            if noise.shape[-2:] != x.shape[-2:]:
                raise ValueError("a crop has no constant noise maps: use noise_mode random/none")
        else:
            raise ValueError(f"unknown noise mode {noise_mode!r}")
        return x + noise * (self.noise_strength.to(x.dtype) * gain)


def _bilinear_kernel() -> torch.Tensor:
    k = torch.tensor([0.25, 0.75, 0.75, 0.25])
    return (k[:, None] * k[None, :])[None, None]


class DetailRefiner(nn.Module):
    """[N, C, h, h] in [-1, 1] -> [N, C, 2h, 2h]: the input upsampled plus a learned residual."""

    def __init__(self, cfg: DetailConfig | None = None, **kwargs):
        super().__init__()
        cfg = cfg or DetailConfig(**kwargs)
        cfg.validate()
        self.cfg = cfg
        c, lo, hi = cfg.img_channels, cfg.low_channels, cfg.high_channels
        self.low = nn.ModuleList(
            nn.Conv2d(c if i == 0 else lo, lo, 3, padding=1) for i in range(cfg.low_layers)
        )
        self.high = nn.ModuleList(
            nn.Conv2d(lo + c if i == 0 else hi, hi, 3, padding=1) for i in range(cfg.high_layers)
        )
        self.noises = nn.ModuleList(
            NoiseInjection(cfg.resolution) if cfg.noise else nn.Identity()
            for _ in range(cfg.high_layers)
        )
        self.to_gray = nn.Conv2d(hi, c, 1)
        self.up = None
        if cfg.upsample == "learned":
            self.up = nn.ConvTranspose2d(c, c, 4, stride=2, padding=1, bias=False, groups=c)
            with torch.no_grad():
                self.up.weight.copy_(_bilinear_kernel().expand(c, 1, 4, 4))
        with torch.no_grad():
            self.to_gray.weight.mul_(cfg.residual_gain)
            self.to_gray.bias.zero_()

    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        if self.up is None:
            return F.interpolate(lr, scale_factor=2, mode="bilinear", align_corners=False)
        return self.up(F.pad(lr, (1, 1, 1, 1), mode="replicate"))[..., 2:-2, 2:-2]

    def forward(self, lr: torch.Tensor, noise_mode: str = "const", noise_gain: float = 1.0):
        s = self.cfg.lrelu_slope
        up = self.upsample(lr)
        f = lr
        for conv in self.low:
            f = F.leaky_relu(conv(f), s) * math.sqrt(2)
        h = torch.cat([F.interpolate(f, scale_factor=2, mode="nearest"), up], 1)
        for conv, noise in zip(self.high, self.noises):
            h = conv(h)
            if isinstance(noise, NoiseInjection):
                h = noise(h, noise_mode, noise_gain)
            h = F.leaky_relu(h, s) * math.sqrt(2)
        return up + self.to_gray(h)


@dataclass(frozen=True)
class DetailStageConfig:
    """What a detail-stage model's card records as its generator (`kind` marks it)."""

    base: GeneratorConfig
    refiner: DetailConfig

    @property
    def resolution(self) -> int:
        return self.refiner.resolution

    def to_dict(self) -> dict:
        return {
            "kind": DETAIL_KIND,
            "resolution": self.resolution,
            "base": self.base.to_dict(),
            "refiner": self.refiner.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> DetailStageConfig:
        return cls(GeneratorConfig(**d["base"]), DetailConfig(**d["refiner"]))


class _LayerView:
    """`G.synthesis` as core.generate reads it (the styles' resolutions): the base's."""

    def __init__(self, G: DetailStageGenerator):
        self._G = G

    @property
    def blocks(self):
        return self._G.base.synthesis.blocks

    def layer_resolutions(self) -> list[int]:
        return self._G.base.synthesis.layer_resolutions()


class DetailStageGenerator(nn.Module):
    """The base generator (e.g. 128 px) followed by a refiner to twice its resolution, with
    the interface of `Generator`: mapping, map, synthesize(w+), num_ws (the base's: the
    refiner takes no style), noise layers (the base's, then the refiner's at full size)."""

    def __init__(self, base: Generator, refiner: DetailRefiner):
        super().__init__()
        if refiner.cfg.resolution != 2 * base.resolution:
            raise ValueError(
                f"a {refiner.cfg.resolution}-px refiner takes {refiner.cfg.resolution // 2}-px "
                f"images, not the {base.resolution}-px base generator's"
            )
        self.base, self.refiner = base, refiner
        self.cfg = DetailStageConfig(base.cfg, refiner.cfg)
        self.z_dim, self.w_dim = base.z_dim, base.w_dim
        self.resolution = refiner.cfg.resolution
        self.num_ws = base.num_ws
        self.synthesis = _LayerView(self)
        self.base_source: dict = {}  # the base model's file (core/detail_model.base_source)

    @property
    def mapping(self):
        return self.base.mapping

    @property
    def w_avg(self) -> torch.Tensor:
        return self.base.w_avg

    def map(self, z, truncation_psi: float = 1.0, truncation_cutoff: int | None = None):
        return self.base.map(z, truncation_psi, truncation_cutoff)

    def noise_styles(self) -> list[int]:
        """The W+ index each noise map's layer goes with (core.generate.noise_styles): the
        base's layers their own; the refiner's the last style (the finest)."""
        out, w_idx = [], 0
        for block in self.base.synthesis.blocks:
            convs = [block.conv1] if block.conv0 is None else [block.conv0, block.conv1]
            out += [w_idx + k for k, conv in enumerate(convs) if hasattr(conv, "noise_const")]
            w_idx += block.num_conv
        n_ref = sum(1 for m in self.refiner.modules() if hasattr(m, "noise_const"))
        return out + [self.num_ws - 1] * n_ref

    def synthesize(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        noise_gain: float = 1.0,
        crop: int | None = None,
        offsets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """W+ -> the base's image -> refined; a `crop` (px of the output) renders the base's
        crop of half that size and refines it."""
        half = crop // 2 if crop else None
        img = self.base.synthesize(ws, noise_mode, noise_gain, crop=half, offsets=offsets)
        return self.refiner(img, noise_mode, noise_gain)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const"):
        return self.synthesize(self.map(z, truncation_psi), noise_mode=noise_mode)
