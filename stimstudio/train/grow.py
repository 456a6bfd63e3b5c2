"""Grow a trained generator by one synthesis block: a 256-px model at 0.2 mm from a 128-px
model at 0.4 mm (the same 51.2-mm field), without training the lower layers again.

Why: mini-MIAS is digitised at 0.2 mm and a 128-px model at 0.4 mm throws half of it away, but a
256-px generator trained from nothing would cost this CPU weeks. The synthesis network is a
skip architecture (each block adds its grey image to the upsampled image of the blocks below),
so the 4-128-px blocks and the mapping network can be copied unchanged and a new 256-px block
added on top. Its grey output is started small (`new_gain`), so the grown generator first
renders the 128-px model's images upsampled, with a faint texture from the new block on top,
and training teaches that block the detail that lies between 0.4 mm and 0.2 mm (the progressive
growing of Karras et al. 2018 fades new layers in for the same reason).
"""

from __future__ import annotations

import torch

from ..core.errors import CheckpointError
from ..core.nets import Generator


def can_grow(small: Generator, big: Generator) -> bool:
    """Whether `big` is `small` with one more block: twice the resolution, all else equal."""
    a, b = small.cfg.to_dict(), big.cfg.to_dict()
    ra, rb = a.pop("resolution"), b.pop("resolution")
    return rb == 2 * ra and a == b


@torch.no_grad()
def grow_generator(small: Generator, big: Generator, new_gain: float = 0.1) -> list[str]:
    """Copy every tensor of `small` into `big` (same names, same shapes); the new top block
    keeps its fresh weights with its grey output scaled by `new_gain`. Returns the names of
    the tensors that start fresh."""
    if not can_grow(small, big):
        raise CheckpointError(
            f"a {small.resolution}-px generator grows only into one of "
            f"{2 * small.resolution} px with the same widths and latent sizes, "
            f"not into this {big.resolution}-px configuration"
        )
    src = small.state_dict()
    dst = big.state_dict()
    fresh = []
    for name, t in dst.items():
        if name in src:
            if src[name].shape != t.shape:  # a width rule change would land here
                raise CheckpointError(f"{name}: {tuple(src[name].shape)} vs {tuple(t.shape)}")
            t.copy_(src[name])
        else:
            fresh.append(name)
    top = big.synthesis.blocks[-1]
    top.togray.weight.mul_(new_gain)
    return fresh
