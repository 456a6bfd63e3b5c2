"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for small mammogram sets.

Applied to real and generated images alike, in both the D and the G step, so D never sees an
augmentation that G could learn to copy. Policies: brightness/contrast (film exposure varies),
translation, cutout. Deterministic given the torch RNG.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _brightness_contrast(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    b = (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5) * 0.4
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    c = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 0.6 + 0.7
    return (x - mean) * c + mean + b


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij"
    )
    gy = torch.clamp(gy.unsqueeze(0) + tx + 1, 0, h + 1)
    gx = torch.clamp(gx.unsqueeze(0) + ty + 1, 0, w + 1)
    xp = F.pad(x, [1, 1, 1, 1])
    idx = (gy * (w + 2) + gx).reshape(n, 1, -1).expand(-1, x.shape[1], -1)
    return xp.reshape(n, x.shape[1], -1).gather(2, idx).reshape(x.shape)


def _cutout(x: torch.Tensor, ratio: float = 0.25) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij"
    )
    inside = ((gy.unsqueeze(0) - oy + ch // 2).abs() < ch / 2) & (
        (gx.unsqueeze(0) - ox + cw // 2).abs() < cw / 2
    )
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {"color": _brightness_contrast, "translation": _translation, "cutout": _cutout}


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout") -> torch.Tensor:
    for name in [p for p in policy.split(",") if p]:
        x = POLICIES[name](x)
    return x
