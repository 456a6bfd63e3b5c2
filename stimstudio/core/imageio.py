"""Image files in and out of the model's world: patches in [-1, 1], PNG/TIFF written atomically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import ExportError, ReaderError
from .model import atomic_write_bytes
from .readers import read_mammogram


def to_model_range(pixels01: np.ndarray) -> np.ndarray:
    return (np.asarray(pixels01, np.float32) * 2.0 - 1.0).astype(np.float32)


def to_unit_range(img: np.ndarray) -> np.ndarray:
    return np.clip((np.asarray(img, np.float32) + 1.0) / 2.0, 0.0, 1.0)


def fit_square(pixels: np.ndarray, resolution: int) -> tuple[np.ndarray, str | None]:
    """Centre square crop + area resize to the model resolution; says what it did."""
    h, w = pixels.shape
    if (h, w) == (resolution, resolution):
        return pixels.astype(np.float32), None
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = pixels[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    interp = cv2.INTER_AREA if side > resolution else cv2.INTER_CUBIC
    out = cv2.resize(crop, (resolution, resolution), interpolation=interp)
    return out, f"centre {side}x{side} square of the {w}x{h} image resized to {resolution}px"


def load_patch(path: str | Path, resolution: int) -> tuple[np.ndarray, str | None]:
    """Any readable image -> [-1, 1] float32 patch at model resolution (+ note if fitted)."""
    mammo = read_mammogram(path)
    px, note = fit_square(mammo.pixels, resolution)
    return to_model_range(px), note


def load_mask(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask image -> float [0, 1]; any non-zero pixel of an 8-bit mask counts as inside."""
    path = Path(path)
    if not path.is_file():
        raise ReaderError(f"mask file not found: {path}")
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ReaderError(f"{path.name}: not a readable mask image")
    if arr.ndim == 3:
        arr = arr[..., 0]
    m = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max if arr.dtype.kind == "u" else 1)
    if shape is not None and m.shape != tuple(shape):
        raise ReaderError(f"mask {path.name} is {m.shape[::-1]}, the image is {tuple(shape)[::-1]}")
    return m


def encode_image(img01: np.ndarray, suffix: str, bits: int = 8) -> bytes:
    if bits not in (8, 16):
        raise ExportError(f"bit depth must be 8 or 16, got {bits}")
    a = np.clip(np.asarray(img01, np.float64), 0, 1)
    arr = np.round(a * 255).astype(np.uint8) if bits == 8 else np.round(a * 65535).astype(np.uint16)
    ext = suffix.lower()
    if ext not in (".png", ".tif", ".tiff"):
        raise ExportError(f"unsupported image format {suffix!r}; use .png or .tiff")
    ok, buf = cv2.imencode(ext, arr)
    if not ok:
        raise ExportError(f"could not encode a {bits}-bit {ext} image")
    return buf.tobytes()


def save_image(path: str | Path, img: np.ndarray, bits: int = 8, model_range: bool = True) -> Path:
    """Write a [-1, 1] (or [0, 1] with model_range=False) image atomically."""
    path = Path(path)
    img01 = to_unit_range(img) if model_range else np.clip(img, 0, 1)
    if not path.parent.exists():
        raise ExportError(f"output folder does not exist: {path.parent}")
    atomic_write_bytes(path, encode_image(img01, path.suffix, bits))
    return path


def side_by_side(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Images in [-1, 1] of equal height in a row with white gaps (Fig. 4-style sheets)."""
    h = images[0].shape[0]
    parts = []
    for i, im in enumerate(images):
        if i:
            parts.append(np.ones((h, gap), np.float32))
        parts.append(np.asarray(im, np.float32))
    return np.concatenate(parts, axis=1)
