"""Noise maps along a continuum: each frame blends its two anchors' maps like w+ (an anchor
without maps brings the model's fixed ones), rescaled to the blend of their standard
deviations, so a midpoint is as grainy as its ends."""

from __future__ import annotations

import numpy as np

from ..errors import OptionError
from ..invert import fixed_noise
from ..model import Model
from .continuum import Continuum, _segment_of


def _anchor_noise(continuum: Continuum, model: Model) -> list[list[np.ndarray]]:
    """Each anchor's maps (the model's fixed ones for an anchor without), checked once."""
    fixed = fixed_noise(model.G)
    for anchor in continuum.anchors:
        maps = anchor.latent.noise
        if maps is not None and [m.shape for m in maps] != [f.shape for f in fixed]:
            raise OptionError(
                f"anchor {anchor.name!r} carries noise maps of another model "
                f"({len(maps)} maps, this model has {len(fixed)} noise layers of "
                f"{', '.join(str(f.shape[0]) for f in fixed)} px)"
            )
    return [a.latent.noise or fixed for a in continuum.anchors]


def _noise_between(maps: list[list[np.ndarray]], continuum: Continuum, s: float):
    seg, t = _segment_of(continuum, s)
    a, b = maps[seg], maps[(seg + 1) % len(maps)]
    if t == 0:
        return [np.array(n, np.float32) for n in a]
    if t == 1:
        return [np.array(n, np.float32) for n in b]
    out = []
    for na, nb in zip(a, b):
        m = (1 - t) * na + t * nb
        mean = (1 - t) * na.mean() + t * nb.mean()
        std = (1 - t) * na.std() + t * nb.std()
        m = (m - m.mean()) * (std / max(float(m.std()), 1e-12)) + mean
        out.append(m.astype(np.float32))
    return out


def noise_at(continuum: Continuum, s: float, model: Model) -> list[np.ndarray] | None:
    """The noise maps of the frame at position s, or None when no anchor carries maps (the
    frame renders with the model's fixed ones). See the module docstring."""
    if not continuum.has_noise:
        return None
    return _noise_between(_anchor_noise(continuum, model), continuum, s)


def noise_batch(continuum: Continuum, positions, model: Model) -> list[np.ndarray] | None:
    """`noise_at` for several positions: one [N, r, r] array per noise layer (or None)."""
    if not continuum.has_noise:
        return None
    maps = _anchor_noise(continuum, model)
    per_frame = [_noise_between(maps, continuum, s) for s in positions]
    return [np.stack(layer) for layer in zip(*per_frame)]
