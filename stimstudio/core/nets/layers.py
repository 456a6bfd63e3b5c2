"""Building blocks shared by the generator, discriminator and encoder.

Every weight is stored at unit variance and scaled at run time (equalized learning rate,
Karras et al. 2018). The training issue measured why this matters here: a discriminator with
plain `nn.Conv2d` layers diverged to losses of 1e12 within 1k steps at lr 0.002; with
equalized layers it trained stably.

Resampling is bilinear (up) and 2x2 average (down) rather than StyleGAN2's FIR `upfirdn2d`:
both are anti-aliased enough at these sizes and cost far less on CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU scaled by sqrt(2) so activations keep unit variance (StyleGAN2)."""
    return F.leaky_relu(x, 0.2) * SQRT2


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate and an optional lr multiplier."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
        activation: bool = False,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        x = F.linear(x, w, b)
        return lrelu(x) if self.activation else x


class EqualConv2d(nn.Module):
    """Conv with equalized learning rate; optional 2x down-sampling after the conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: bool = False,
        down: bool = False,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2
        self.activation = activation
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype)
        x = F.conv2d(x, w, b, padding=self.padding)
        if self.down:
            x = downsample2x(x)
        return lrelu(x) if self.activation else x


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    fused: bool = False,
    padding: int = 1,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution in either of its two equivalent forms.

    non-fused: scale the input by the style, run one ordinary conv for the whole batch, then
    scale the output by the demodulation coefficients (cheap on CPU for batches).
    fused: build one weight per sample and run a grouped conv (the reference form).
    Both give the same numbers (tested); DESIGN.md has the CPU timings.
    """
    batch, in_ch, _, _ = x.shape
    out_ch, _, kh, kw = weight.shape
    weight = weight.to(x.dtype)
    styles = styles.to(x.dtype)
    dcoefs = None
    if demodulate:
        wsq = weight.square().sum(dim=[2, 3])  # [O, I]
        dcoefs = (styles.square() @ wsq.t() + 1e-8).rsqrt()  # [N, O]
    if not fused:
        x = x * styles.reshape(batch, in_ch, 1, 1)
        x = F.conv2d(x, weight, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.reshape(batch, out_ch, 1, 1)
        return x
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_ch, 1, 1)
    if dcoefs is not None:
        w = w * dcoefs.reshape(batch, out_ch, 1, 1, 1)
    x = x.reshape(1, batch * in_ch, *x.shape[2:])
    x = F.conv2d(x, w.reshape(batch * out_ch, in_ch, kh, kw), padding=padding, groups=batch)
    return x.reshape(batch, out_ch, *x.shape[2:])


class ModulatedConv(nn.Module):
    """Style-modulated 3x3 conv + noise + bias + activation: one synthesis layer (one w)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        kernel_size: int = 3,
        use_noise: bool = True,
        fused: bool = False,
    ):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.up = up
        self.resolution = resolution
        self.fused = fused
        self.use_noise = use_noise
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", noise_gain: float = 1.0
    ) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        if self.up:
            x = upsample2x(x)
        x = modulated_conv2d(x, self.weight, styles, demodulate=True, fused=self.fused)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            elif noise_mode == "const":
                noise = self.noise_const.to(x.dtype)
            else:
                raise ValueError(f"unknown noise mode {noise_mode!r}")
            x = x + noise * (self.noise_strength.to(x.dtype) * noise_gain)
        return lrelu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1))


class ToGray(nn.Module):
    """1x1 modulated conv (no demodulation) to the single grayscale channel."""

    def __init__(self, in_channels: int, w_dim: int, out_channels: int = 1, fused: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.fused = fused

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=self.fused, padding=0)
        return x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)


def channels_for(resolution: int, channel_base: int, channel_max: int) -> int:
    """StyleGAN's width rule: channel_base / resolution, capped at channel_max."""
    return int(min(channel_base // resolution, channel_max))


def block_resolutions(resolution: int) -> list[int]:
    log2 = int(np.log2(resolution))
    if 2**log2 != resolution or not 32 <= resolution <= 1024:
        raise ValueError(f"resolution must be a power of two in 32..1024, got {resolution}")
    return [2**i for i in range(2, log2 + 1)]
