"""The baseline inversion: StyleGAN2-ADA's projector (one w broadcast to all layers, from w_avg,
plus the noise maps with their regulariser), with the model's perceptual features F in place of
LPIPS. Benchmarks compare it with the encoder + Eq. 4 of `core.invert`."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .device import Compute
from .invert import (
    InversionStep,
    _device,
    as_batch,
    mask_batch,
    noise_layers,
    noise_regularizer,
    normalize_noise_,
    perceptual_for,
)
from .model import Model
from .nets import PerceptualFeatures


@dataclass
class ProjectorSettings:
    steps: int = 1000
    initial_lr: float = 0.1
    initial_noise_factor: float = 0.05
    noise_ramp_length: float = 0.75
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    regularize_noise_weight: float = 1e5
    lambda_perceptual: float = 5e-5
    w_avg_samples: int = 2000
    preview_every: int = 50
    seed: int = 0


def project(
    model: Model,
    target,
    mask=None,
    settings: ProjectorSettings | None = None,
    compute: Compute | None = None,
    perceptual: PerceptualFeatures | None = None,
    should_stop=None,
) -> Iterator[InversionStep]:
    """Optimise one w (broadcast to all layers) from w_avg, plus the noise maps with their
    regulariser: what StyleGAN2-ADA's projector does, with F in place of LPIPS. Benchmarks
    compare it with encoder + Eq. 4."""
    s = settings or ProjectorSettings()
    dev = _device(model)
    compute = compute or Compute(dev, "fp32")
    x = as_batch(target, model.resolution, dev)
    m = mask_batch(mask, model.resolution, dev)
    F = perceptual if perceptual is not None else perceptual_for(model)
    G = copy.deepcopy(model.G)
    gen = torch.Generator().manual_seed(s.seed)
    with torch.no_grad():
        z = torch.randn(s.w_avg_samples, G.z_dim, generator=gen).to(dev)
        ws = G.mapping(z)
        w_avg = ws.mean(0, keepdim=True)
        w_std = float(((ws - w_avg).square().sum() / s.w_avg_samples) ** 0.5)
    noise = []
    for layer in noise_layers(G):
        buf = torch.randn(layer.noise_const.shape, generator=gen).to(dev)
        p = torch.nn.Parameter(buf)
        layer.noise_const = p
        noise.append(p)
    G.requires_grad_(False)
    for p in noise:
        p.requires_grad_(True)
    w = w_avg.clone().requires_grad_(True)
    opt = torch.optim.Adam([w, *noise], betas=(0.9, 0.999), lr=s.initial_lr)
    with torch.no_grad(), compute.autocast():
        feat_x = [f.detach() for f in F(x if m is None else x * m)]
    for step in range(s.steps + 1):
        if should_stop is not None and should_stop():
            ws_now = w.detach().repeat(1, model.num_ws, 1)[0].cpu().numpy()
            yield InversionStep(step, s.steps, {}, ws_now, cancelled=True)
            return
        t0 = time.perf_counter()
        t = step / max(s.steps, 1)
        noise_strength = w_std * s.initial_noise_factor * max(0.0, 1 - t / s.noise_ramp_length) ** 2
        lr_ramp = min(1.0, (1 - t) / s.lr_rampdown_length)
        lr_ramp = 0.5 - 0.5 * np.cos(lr_ramp * np.pi)
        lr_ramp = lr_ramp * min(1.0, t / s.lr_rampup_length)
        for g in opt.param_groups:
            g["lr"] = s.initial_lr * lr_ramp
        w_noisy = (w + torch.randn_like(w) * noise_strength).unsqueeze(1).repeat(1, model.num_ws, 1)
        with compute.autocast():
            img = G.synthesize(w_noisy, noise_mode="const")
        img = img.float()
        pix = (x - img).square().mean() if m is None else ((x - img).square() * m).sum() / m.sum()
        with compute.autocast():
            perc = F.distance(feat_x, F(img if m is None else img * m), m).mean()
        reg = noise_regularizer(noise)
        total = pix + s.lambda_perceptual * perc + s.regularize_noise_weight * reg
        done = step == s.steps
        wplus = w.detach().unsqueeze(1).repeat(1, model.num_ws, 1)[0].cpu().numpy()  # w_k
        if not done:
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            normalize_noise_(noise)
        preview = img.detach()[0, 0].cpu().numpy() if done or step % s.preview_every == 0 else None
        yield InversionStep(
            step,
            s.steps,
            {
                "pixel": float(pix.detach()),
                "perceptual": float(perc.detach()),
                "noise_reg": float(reg.detach()),
                "total": float(total.detach()),
            },
            wplus,
            preview=preview,
            ms_per_step=(time.perf_counter() - t0) * 1000,
            done=done,
        )
