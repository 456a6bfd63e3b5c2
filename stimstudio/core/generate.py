"""Samples by seed (integer or fractional), truncation, and per-layer style mixing in W+.

StyleGAN's early layers set coarse structure (shape, layout), the late ones fine texture.
Presets for mixing are derived from the resolution each style acts on, never from fixed
indices, so they fit any model.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .device import Compute
from .errors import LatentError, OptionError
from .latent import Latent
from .model import Model


def z_for_seed(seed: int, z_dim: int) -> torch.Tensor:
    """The z of an integer seed: numpy's RandomState, as the StyleGAN tools do."""
    return torch.from_numpy(np.random.RandomState(int(seed)).randn(1, z_dim).astype(np.float32))


@torch.no_grad()
def w_for_seed(model: Model, seed: float) -> torch.Tensor:
    """w [w_dim] for a seed; a fractional seed blends neighbouring seeds' w smoothly."""
    if not math.isfinite(seed):
        raise OptionError(f"a seed must be a finite number, got {seed}")
    dev = next(model.G.parameters()).device
    lo = math.floor(seed)
    frac = seed - lo
    w_lo = model.G.mapping(z_for_seed(lo, model.G.z_dim).to(dev))[0]
    if frac == 0:
        return w_lo
    w_hi = model.G.mapping(z_for_seed(lo + 1, model.G.z_dim).to(dev))[0]
    return w_lo.lerp(w_hi, frac)


def truncate(
    model: Model, wplus: np.ndarray, psi: float = 1.0, cutoff: int | None = None
) -> np.ndarray:
    """Pull the first `cutoff` layers toward w_avg: psi = 1 is the identity, 0 gives w_avg."""
    if not (isinstance(psi, (int, float)) and math.isfinite(psi)):
        raise OptionError(f"truncation psi must be a number, got {psi!r}")
    cutoff = model.num_ws if cutoff is None else int(cutoff)
    if not 0 <= cutoff <= model.num_ws:
        raise OptionError(f"truncation cutoff must be in 0..{model.num_ws}, got {cutoff}")
    w = np.array(wplus, np.float32, copy=True)
    if psi != 1:  # exactly the identity at psi = 1, no rounding
        w_avg = model.G.w_avg.detach().cpu().numpy()
        w[:cutoff] = w_avg + (w[:cutoff] - w_avg) * psi
    return w


def latent_for_seed(
    model: Model, seed: float, psi: float = 1.0, cutoff: int | None = None
) -> Latent:
    w = w_for_seed(model, seed).cpu().numpy()
    wplus = truncate(model, np.repeat(w[None], model.num_ws, 0), psi, cutoff)
    src = {"method": "seed", "seed": seed, "truncation_psi": psi, "truncation_cutoff": cutoff}
    return Latent(wplus, src, model.sha256)


def sample(
    model: Model,
    seed: float,
    psi: float = 1.0,
    cutoff: int | None = None,
    compute: Compute | None = None,
    noise_mode: str = "const",
):
    from .invert import synthesize

    lat = latent_for_seed(model, seed, psi, cutoff)
    return lat, synthesize(model, lat.wplus, compute, noise_mode)[0]


# -- style mixing ----------------------------------------------------------------------------


def layer_resolutions(model: Model) -> list[int]:
    return model.G.synthesis.layer_resolutions()


def mixing_presets(model: Model) -> dict[str, list[int]]:
    """coarse / middle / fine layer indices from each style's resolution.

    The resolution levels 4, 8, ..., R are split in thirds (coarse: layout and shape; fine:
    texture). At 128 px that gives 4-8 / 16-32 / 64-128, StyleGAN's own split of the lower
    levels. Together the presets cover every layer exactly once.
    """
    res = layer_resolutions(model)
    levels = sorted(set(res))
    third = max(1, len(levels) // 3)
    coarse_levels, fine_levels = set(levels[:third]), set(levels[-third:])
    return {
        "coarse": [i for i, r in enumerate(res) if r in coarse_levels],
        "middle": [i for i, r in enumerate(res) if r not in coarse_levels | fine_levels],
        "fine": [i for i, r in enumerate(res) if r in fine_levels],
    }


def style_mix(latents: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Per-layer blend: weights [num_ws, n_sources], each row summing to 1.

    One-hot rows choose a source per layer; fractional rows blend.
    """
    ws = np.stack([np.asarray(w, np.float32) for w in latents])  # [S, L, D]
    shapes = {w.shape for w in ws}
    if len(shapes) != 1:
        raise LatentError("all latents in a mix must come from the same model")
    weights = np.asarray(weights, np.float32)
    if weights.shape != (ws.shape[1], ws.shape[0]):
        raise OptionError(
            f"mixing weights must be [{ws.shape[1]} layers x {ws.shape[0]} sources], "
            f"got {weights.shape}"
        )
    if not np.allclose(weights.sum(1), 1, atol=1e-5) or weights.min() < 0:
        raise OptionError("each layer's mixing weights must be >= 0 and sum to 1")
    return np.einsum("ls,sld->ld", weights, ws).astype(np.float32)


def weights_from_layers(num_ws: int, layers_from_b: list[int]) -> np.ndarray:
    """Two sources: the listed layers from B, the rest from A."""
    bad = [i for i in layers_from_b if not 0 <= i < num_ws]
    if bad:
        raise OptionError(f"layer {bad[0]} is outside this model's layers 0..{num_ws - 1}")
    w = np.zeros((num_ws, 2), np.float32)
    w[:, 0] = 1
    for i in layers_from_b:
        w[i] = (0, 1)
    return w
