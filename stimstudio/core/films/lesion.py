"""The lesion to put into a film: a model-resolution patch, its outline, its pixel size, and
where its template was cut from (when known).

A lesion is any patch the app makes whose lesion has an outline: a composed result (the compose
folder's image + `mask.png`), an anchor or continuum frame with a mask, or a seed rendered by
the model with a disc outline at its centre (`radius_mm`). What goes into the film is not the
patch's grey levels but the lesion's difference against its own local surround
(`core.insertion.lesion_difference`), inside its feathered outline: the same contrast insertion
the compose page offers, so a lesion keeps its contrast on any tissue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import MaskError, OptionError, ReaderError
from ..imageio import load_mask, load_patch
from ..insertion import lesion_difference

FEATHER_PX = 2.0  # the outline's feather at model pixels, as compose's default
RESULT_IMAGES = ("optimized", "stitch", "poisson", "encoder", "stylemix", "stylemix-opt")


@dataclass
class LesionPatch:
    """A lesion ready to insert. `image`: [R, R] in [-1, 1]; `mask`: [R, R] soft outline in
    [0, 1]; `spacing_mm`: its pixel size (the model's); `cut`: where its template was cut from
    ({file, x, y, size, spacing_mm} in film pixels) or None; `source`: provenance for the
    manifest (names and hashes, no paths of the user's machine)."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    spacing_mm: float
    cut: dict | None = None
    source: dict = field(default_factory=dict)

    @property
    def binary(self) -> np.ndarray:
        return self.mask >= 0.5

    def signal(self) -> np.ndarray:
        """The lesion's difference from its own surround, inside its feathered outline."""
        return lesion_difference(self.image, self.binary) * self.mask

    def centre(self) -> tuple[float, float]:
        """The outline's centre of mass (x, y) in patch pixels."""
        ys, xs = np.nonzero(self.binary)
        return float(xs.mean()), float(ys.mean())


def soft_outline(binary: np.ndarray, feather: float = FEATHER_PX) -> np.ndarray:
    """A binary outline feathered as compose's `Mask.soft` is (Gaussian edge, `feather` px)."""
    b = np.asarray(binary, np.float32)
    return b if feather <= 0 else np.clip(cv2.GaussianBlur(b, (0, 0), feather), 0, 1)


def edge_profile(binary: np.ndarray, sigma: float) -> np.ndarray:
    """A soft outline whose 0.5 level is exactly the binary outline's edge: each pixel's signed
    distance to the edge through a Gaussian edge profile of `sigma` px (the logistic
    1 / (1 + exp(1.702 d / sigma)), within 1 % of the Gaussian's integral). Unlike blurring the
    binary mask, a small lesion keeps its full inside and its outline at any feather."""
    b = np.asarray(binary, bool)
    if sigma <= 0:
        return b.astype(np.float32)
    d_out = cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, 5)
    d_in = cv2.distanceTransform(b.astype(np.uint8), cv2.DIST_L2, 5)
    signed = np.where(b, 0.5 - d_in, d_out - 0.5)
    return (1.0 / (1.0 + np.exp(np.clip(1.702 * signed / sigma, -60, 60)))).astype(np.float32)


def _check_mask(binary: np.ndarray, name: str) -> None:
    if not binary.any():
        raise MaskError(f"{name}: the lesion's mask is empty")
    if binary.all():
        raise MaskError(
            f"{name}: the lesion's mask covers the whole patch; there is no surround to measure "
            "its contrast against"
        )


def from_arrays(name: str, image, mask, spacing_mm: float, cut: dict | None = None) -> LesionPatch:
    """A lesion from arrays (the app's compose result: its image and its soft mask)."""
    img = np.asarray(image, np.float32)
    m = np.clip(np.asarray(mask, np.float32), 0, 1)
    if m.shape != img.shape:
        raise MaskError(f"{name}: the mask is {m.shape[::-1]} but the image is {img.shape[::-1]}")
    _check_mask(m >= 0.5, name)
    return LesionPatch(name, img, m, spacing_mm, cut, {"kind": "compose result (app)"})


def from_files(
    image,
    mask,
    resolution: int,
    spacing_mm: float,
    name: str | None = None,
    cut: dict | None = None,
) -> LesionPatch:
    """A lesion from an image file (a frame, an anchor's image) and its mask image."""
    image, mask = Path(image), Path(mask)
    img, _ = load_patch(image, resolution)
    m = load_mask(mask)
    if m.shape != img.shape:
        m = cv2.resize(m, img.shape[::-1], interpolation=cv2.INTER_AREA)
    binary = m >= 0.5
    label = name or image.stem
    _check_mask(binary, label)
    soft = m if 0 < float(np.mean((m > 0) & (m < 1))) else soft_outline(binary)
    return LesionPatch(
        label,
        img,
        soft.astype(np.float32),
        spacing_mm,
        cut,
        {"kind": "image", "image": image.name, "mask": mask.name},
    )


def from_result(
    folder, resolution: int, spacing_mm: float, method: str = "optimized", name: str | None = None
) -> LesionPatch:
    """A lesion from a compose result folder: `<method>.png`, `mask.png` and, when recorded,
    the template's cut in `metrics.json` (`template_cut`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReaderError(f"{folder}: not a compose result folder")
    if method not in RESULT_IMAGES:
        raise OptionError(f"method must be one of {', '.join(RESULT_IMAGES)}, not {method!r}")
    image, mask = folder / f"{method}.png", folder / "mask.png"
    for f in (image, mask):
        if not f.is_file():
            raise ReaderError(f"{folder.name}: no {f.name} in the compose result folder")
    cut = None
    meta = folder / "metrics.json"
    if meta.is_file():
        try:
            cut = json.loads(meta.read_text(encoding="utf-8")).get("template_cut")
        except (OSError, ValueError, AttributeError):
            cut = None
    les = from_files(image, mask, resolution, spacing_mm, name or folder.name, cut)
    les.source = {"kind": "compose result", "folder": folder.name, "method": method}
    return les


def from_seed(
    model, seed: int, radius_mm: float, spacing_mm: float, name: str | None = None
) -> LesionPatch:
    """A lesion rendered by the model from a seed, outlined by a disc of `radius_mm` at the
    patch centre (fp32, the model's fixed kernels: the same seed gives the same bytes)."""
    from ..generate import sample

    R = model.resolution
    r_px = radius_mm / spacing_mm
    if not 1 <= r_px < R / 2 - 4:
        raise OptionError(
            f"seed {seed}: radius_mm {radius_mm:g} is {r_px:.1f} px at {spacing_mm:g} mm; it must "
            f"be 1 to {R / 2 - 4:g} px so the patch keeps a surround"
        )
    _lat, img = sample(model, seed)
    yy, xx = np.mgrid[0:R, 0:R]
    c = (R - 1) / 2
    binary = (xx - c) ** 2 + (yy - c) ** 2 <= r_px**2
    return LesionPatch(
        name or f"seed{seed}",
        np.asarray(img, np.float32),
        soft_outline(binary).astype(np.float32),
        spacing_mm,
        None,
        {"kind": "seed", "seed": int(seed), "radius_mm": float(radius_mm)},
    )
