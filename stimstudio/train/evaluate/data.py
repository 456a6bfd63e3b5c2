"""The evaluation's images: held-out and training patches, generated, blurred and noise sets,
all as 8-bit like the real patches.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from ...core.device import Compute
from ...core.errors import DatasetError
from ...core.model import Model
from ..dataset import PatchSet, load_patches


def load_eval_data(data_dir: str | Path) -> tuple[PatchSet, PatchSet, dict]:
    """train.npz + heldout.npz + manifest.json of `stimstudio dataset build`."""
    d = Path(data_dir)
    if d.is_file():
        d = d.parent
    if not d.is_dir():
        raise DatasetError(f"data folder not found: {d}")
    for name in ("train.npz", "heldout.npz"):
        if not (d / name).is_file():
            raise DatasetError(
                f"{d} has no {name}; evaluation needs the folder written by "
                "`stimstudio dataset build` (train.npz, heldout.npz, manifest.json)"
            )
    manifest = {}
    if (d / "manifest.json").is_file():
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{d / 'manifest.json'} is not valid JSON: {exc}") from exc
    train, held = load_patches(d / "train.npz"), load_patches(d / "heldout.npz")
    if train.patches.shape[1:] != held.patches.shape[1:]:
        raise DatasetError("train.npz and heldout.npz hold patches of different sizes")
    return train, held, manifest


def _select(ps: PatchSet, kinds: str) -> np.ndarray:
    if kinds == "all":
        return np.arange(len(ps))
    idx = np.flatnonzero(ps.kind == (1 if kinds == "lesion" else 0))
    if len(idx) < 8:
        raise DatasetError(f"the data set holds only {len(idx)} {kinds} patches")
    return idx


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats -> uint8 exactly as the patch files store real patches."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


@torch.no_grad()
def generate_uint8(
    model: Model,
    n: int,
    seed: int,
    compute: Compute | None = None,
    psi: float = 1.0,
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """n samples of the generator (random z, random noise inputs, seeded) as uint8 [n, R, R]."""
    dev = next(model.G.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    out = np.empty((n, model.resolution, model.resolution), np.uint8)
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed) + 1)  # the noise inputs
        for i in range(0, n, batch):
            k = min(batch, n - i)
            z = torch.randn(k, model.G.z_dim, generator=gen).to(dev)
            with compute.autocast() if compute else contextlib.nullcontext():
                img = model.G.synthesize(model.G.map(z, psi), noise_mode="random")
            out[i : i + k] = to_uint8(img.float()[:, 0].cpu().numpy())
            if progress:
                progress(i + k)
    finally:
        torch.random.set_rng_state(torch_state)
    return out


def blur_uint8(images: np.ndarray, sigma: float) -> np.ndarray:
    out = np.empty_like(images)
    for i, im in enumerate(images):
        b = cv2.GaussianBlur(im.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        out[i] = np.clip(np.rint(b), 0, 255).astype(np.uint8)
    return out


def noise_like(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise images with the mean and standard deviation of `images`."""
    x = images.astype(np.float64)
    noise = rng.normal(x.mean(), x.std(), size=images.shape)
    return np.clip(np.rint(noise), 0, 255).astype(np.uint8)
