"""Sliced Wasserstein distance per Laplacian-pyramid level (the progressive-GAN recipe), as
ratios to a real-vs-real floor measured with the same recipe and set sizes.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...core.errors import DatasetError, OptionError
from .data import blur_uint8, noise_like
from .settings import EvalSettings


def laplacian_pyramid(images: np.ndarray, min_res: int = 16) -> list[np.ndarray]:
    """Laplacian levels from fine to coarse; the last is the Gaussian level at min_res.

    cv2.pyrDown/pyrUp use the 5x5 binomial kernel with mirrored borders, as the reference.
    """
    cur = np.asarray(images, np.float32)
    if cur.shape[-1] < min_res:
        raise OptionError(f"images of {cur.shape[-1]} px are smaller than the {min_res} px level")
    levels = []
    while cur.shape[-1] // 2 >= min_res:
        h, w = cur.shape[-2:]
        down = np.stack([cv2.pyrDown(im) for im in cur])
        up = np.stack([cv2.pyrUp(d, dstsize=(w, h)) for d in down])
        levels.append(cur - up)
        cur = down
    levels.append(cur)
    return levels


def sample_descriptors(
    level: np.ndarray, per_image: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """per_image random size x size neighbourhoods of every image -> [N * per_image, size^2]."""
    n, h, w = level.shape
    half = size // 2
    ys = rng.integers(half, h - half, size=n * per_image)
    xs = rng.integers(half, w - half, size=n * per_image)
    off = np.arange(-half, half + 1)
    img = np.repeat(np.arange(n), per_image)[:, None, None]
    d = level[img, ys[:, None, None] + off[None, :, None], xs[:, None, None] + off[None, None, :]]
    return d.reshape(len(d), -1)


def normalise_descriptors(d: np.ndarray) -> np.ndarray:
    """Per-set normalisation (the reference's finalize_descriptors, one channel)."""
    d = d.astype(np.float32)
    d = d - d.mean()
    s = d.std()
    return d / s if s > 0 else d


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, dirs: list[np.ndarray]) -> float:
    """Mean over projection sets of the mean |sorted proj(a) - sorted proj(b)|."""
    if a.shape != b.shape:
        raise ValueError(
            f"SWD needs the same number of descriptors on both sides, got {a.shape} vs {b.shape}"
        )
    out = []
    for d in dirs:
        pa = np.sort(a @ d, axis=0)
        pb = np.sort(b @ d, axis=0)
        out.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(out))


def _directions(dim: int, repeats: int, per: int, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for _ in range(repeats):
        d = rng.standard_normal((dim, per))
        d /= np.sqrt((d * d).sum(0, keepdims=True))
        out.append(d.astype(np.float32))
    return out


class SWDReference:
    """Descriptors of one reference set (held-out real) and fixed projection directions,
    so that every comparison against it shares descriptors and directions."""

    def __init__(self, ref: np.ndarray, s: EvalSettings, seed: int = 0):
        self.s, self.n = s, len(ref)
        self.seed = seed
        rng = np.random.default_rng([seed, 1])
        self.levels = laplacian_pyramid(ref, s.swd_min_res)
        self.desc = [
            normalise_descriptors(sample_descriptors(lv, s.swd_per_image, s.swd_nhood, rng))
            for lv in self.levels
        ]
        dim = s.swd_nhood * s.swd_nhood
        self.dirs = [
            _directions(dim, s.swd_repeats, s.swd_dirs, np.random.default_rng([seed, 2, i]))
            for i in range(len(self.levels))
        ]
        self.resolutions = [lv.shape[-1] for lv in self.levels]

    def distance(self, images: np.ndarray, seed: int = 3) -> list[float]:
        """SWD x 10^3 per level (fine -> coarse) of `images` against the reference."""
        if len(images) != self.n:
            raise ValueError(f"SWD compares equal numbers of images; got {len(images)} vs {self.n}")
        rng = np.random.default_rng([self.seed, seed])
        out = []
        for lv, ref_desc, dirs in zip(
            laplacian_pyramid(images, self.s.swd_min_res), self.desc, self.dirs
        ):
            d = normalise_descriptors(
                sample_descriptors(lv, self.s.swd_per_image, self.s.swd_nhood, rng)
            )
            out.append(1e3 * sliced_wasserstein(d, ref_desc, dirs))
        return out


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) < n:
        raise DatasetError(f"a set of {len(x)} images cannot give {n} per side")
    return x[np.sort(rng.choice(len(x), n, replace=False))]


def _ratios(d: list[float], floor: list[float]) -> dict:
    r = [a / b if b > 0 else float("inf") for a, b in zip(d, floor)]
    return {"swd": d, "ratios": r, "mean_ratio": float(np.mean(r)), "worst_ratio": float(max(r))}


def swd_report(
    train: np.ndarray,
    heldout: np.ndarray,
    fakes: dict[str, np.ndarray],
    s: EvalSettings,
    sanity: bool = False,
) -> dict:
    """SWD of each named fake set vs held-out real, per level and as ratios to the floor.

    Every set is cut to the same n images (the smallest of swd_n and all set sizes).
    `sanity` adds the known fakes: white Gaussian noise and real training patches blurred
    with sigma = blur_sigma px.
    """
    n = min([s.swd_n, len(train), len(heldout), *(len(f) for f in fakes.values())])
    rng = np.random.default_rng([s.seed, 10])
    held = _subsample(heldout, n, rng)
    tr = _subsample(train, n, rng)
    ref = SWDReference(held, s, seed=s.seed)
    floor = ref.distance(tr, seed=100)
    out = {
        "recipe": {
            "images_per_side": n,
            "levels_px": ref.resolutions,
            "descriptors_per_image_and_level": s.swd_per_image,
            "neighbourhood": s.swd_nhood,
            "projections": f"{s.swd_repeats}x{s.swd_dirs}",
            "scale": "x1e3",
            "reference": "held-out real",
            "floor": "train real vs held-out real",
        },
        "floor": floor,
    }
    for i, (name, f) in enumerate(fakes.items()):
        out[name] = _ratios(ref.distance(_subsample(f, n, rng), seed=200 + i), floor)
    if sanity:
        known = {
            "gaussian_noise": noise_like(tr, np.random.default_rng([s.seed, 11])),
            f"blur_sigma{s.blur_sigma:g}": blur_uint8(tr, s.blur_sigma),
        }
        out["sanity"] = {
            name: _ratios(ref.distance(f, seed=300 + i), floor)
            for i, (name, f) in enumerate(known.items())
        }
    return out
