"""Eq. 4 for many targets at once: each w optimised on its own, in one batch.

Why: measuring what inversion outputs (the realism card, docs/INVERSION.md) takes hundreds of
inversions per setting, and batch export inverts many templates; a batch of N costs far less
than N single runs on a CPU. The terms are per image and Adam's updates are per element, so
each result is the one a lone inversion with the same settings would give, up to float
rounding (a test checks this).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .device import Compute
from .inversion_settings import InversionSettings
from .invert import (
    Eq4,
    _device,
    as_batch,
    encode,
    encoder_noise,
    noise_layers,
    normalize_noise_,
    own_noise_in_band,
    perceptual_for,
    with_noise,
)
from .model import Model


@dataclass
class BatchInversion:
    wplus: np.ndarray  # [N, num_ws, w_dim]
    images: np.ndarray  # [N, R, R] float32 in [-1, 1], rendered with `noise`
    noise: list[np.ndarray] | None  # one [N, r, r] array per noise layer, or None (fixed maps)
    encoder_wplus: np.ndarray  # [N, num_ws, w_dim]: E(x) (the start, before any realism pull)
    losses: dict[str, np.ndarray]  # each term of the last step, [N]


def invert_batch(
    model: Model,
    targets: np.ndarray,
    masks: np.ndarray | None = None,
    settings: InversionSettings | None = None,
    compute: Compute | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BatchInversion:
    """Invert `targets` [N, R, R] in [-1, 1] (optionally with `masks` [N, R, R] in [0, 1])."""
    s = settings or InversionSettings()
    s.validate()
    dev = _device(model)
    compute = compute or Compute(dev, "fp32")
    x = as_batch(np.asarray(targets, np.float32)[:, None], model.resolution, dev)
    m = None if masks is None else torch.as_tensor(np.asarray(masks, np.float32))[:, None].to(dev)
    F = perceptual_for(model, kind=s.perceptual)
    torch.manual_seed(s.seed)
    w_enc = encode(model, x, compute)
    objective = Eq4(model, x, m, s, F, compute)
    var = objective.variable(w_enc).requires_grad_(True)
    w0 = objective.to_w(var).detach()
    start = encoder_noise(model, x, w0, compute) if s.encoder_noise else None
    if start is not None and objective.band is not None:
        start = own_noise_in_band(model.G, start, objective.band)
    G, fitted = model.G, []
    if s.optimize_noise:
        n = len(x)
        own = [layer.noise_const.float().expand(n, -1, -1) for layer in noise_layers(G)]
        G, fitted = with_noise(G, start or own, trainable=True)
    elif start is not None:
        G = with_noise(G, start)[0]
    opt = torch.optim.Adam([var, *fitted], lr=s.lr * objective.lr_scale)
    for step in range(s.steps + 1):
        w = objective.to_w(var)
        with compute.autocast():
            img = G.synthesize(w, noise_mode="const").float()
        losses = objective.losses(img, w, fitted)
        if step == s.steps:
            break
        opt.zero_grad(set_to_none=True)
        losses["total"].sum().backward()
        opt.step()
        objective.constrain_(var)
        if fitted:
            normalize_noise_(fitted)
        if progress:
            progress(step + 1, s.steps)
    maps = fitted or start
    return BatchInversion(
        wplus=w.detach().cpu().numpy(),
        images=img.detach()[:, 0].cpu().numpy(),
        noise=None
        if maps is None
        else [
            t.detach()[:, 0].cpu().numpy() if t.ndim == 4 else t.detach().cpu().numpy()
            for t in maps
        ],
        encoder_wplus=w_enc.cpu().numpy(),
        losses={k: v.detach().cpu().numpy() for k, v in losses.items()},
    )
