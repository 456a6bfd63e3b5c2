"""PNG / TIFF / JPEG / PGM files without any annotation: grey levels as stored.

8- and 16-bit grey images are taken as they are (12-bit data in 16-bit files is scaled by 4095);
RGB, palette and grey+alpha images are converted to grey with a note. The size is checked from
the header before any pixel is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ReaderError
from ..mammogram import Mammogram
from ._util import check_size


def load_array(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """The grey pixel array of an image file, and notes about conversions."""
    path = Path(path)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                check_size(path.name, h, w, getattr(im, "n_frames", 1))
                if getattr(im, "n_frames", 1) > 1:
                    notes.append(f"file holds {im.n_frames} images; showing the first")
                im.load()
                mode = im.mode
                if mode in ("RGB", "RGBA", "P", "LA", "CMYK", "YCbCr", "PA", "RGBX"):
                    if mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr"):
                        rgb = np.asarray(im.convert("RGB"))
                        if not (
                            np.array_equal(rgb[..., 0], rgb[..., 1])
                            and np.array_equal(rgb[..., 1], rgb[..., 2])
                        ):
                            notes.append(f"colour image ({mode}) converted to grey (luminance)")
                    else:
                        notes.append(f"{mode} image converted to grey")
                    im = im.convert("L")
                elif mode == "1":
                    im = im.convert("L")
                elif mode == "I;16B":
                    im = im.convert("I;16")
                arr = np.asarray(im)
    except ReaderError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ReaderError(f"{path.name}: not a readable image ({_why(exc)})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ReaderError(
            f"{path.name}: image is larger than any mammogram; refusing to open it ({exc})"
        ) from exc
    if arr.ndim == 3 and arr.shape[2] in (1, 2):
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.size == 0:
        raise ReaderError(f"{path.name}: expected a 2-D grayscale image, got shape {arr.shape}")
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr, notes


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]


def significant_bits(arr: np.ndarray) -> int:
    if arr.dtype == np.uint8 or arr.dtype == np.bool_:
        return 8
    if arr.dtype.kind in "ui":
        top = int(arr.max()) if arr.size else 0
        for b in (8, 10, 12, 14, 16):
            if top < (1 << b):
                return b
        return 8 * arr.itemsize
    return 32


def to_unit(arr: np.ndarray) -> tuple[np.ndarray, dict]:
    """[0, 1] float32 display pixels of a stored array, and how they were scaled."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0), {"kind": "full range", "high": 255}
    if arr.dtype == np.bool_:
        return arr.astype(np.float32), {"kind": "binary"}
    if arr.dtype.kind in "ui":
        bits = significant_bits(arr)
        hi = float((1 << bits) - 1) if bits < 16 or arr.itemsize == 2 else float(arr.max())
        lo = float(min(arr.min(), 0))
        px = (arr.astype(np.float32) - np.float32(lo)) / np.float32(max(hi - lo, 1.0))
        return np.clip(px, 0, 1), {"kind": "full range", "low": lo, "high": hi}
    a = arr.astype(np.float32)
    finite = np.isfinite(a)
    lo = float(a[finite].min()) if finite.any() else 0.0
    hi = float(a[finite].max()) if finite.any() else 1.0
    px = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return np.nan_to_num(np.clip(px, 0, 1)).astype(np.float32), {
        "kind": "min-max",
        "low": lo,
        "high": hi,
    }


def read_plain(path: str | Path) -> Mammogram:
    path = Path(path)
    arr, notes = load_array(path)
    pixels, window = to_unit(arr)
    fmt = path.suffix.lower().lstrip(".") or "image"
    try:
        with Image.open(path) as im:  # the header again: which format the content is
            real = (im.format or "").lower()
    except (OSError, ValueError):
        real = ""
    same = {"jpeg": {"jpg", "jpeg"}, "tiff": {"tif", "tiff"}, "ppm": {"pgm", "ppm", "pnm"}}
    if real and fmt not in same.get(real, {real}):
        notes.append(f"the file is a {real.upper()} image despite its .{fmt} name")
        fmt = real
    return Mammogram(
        pixels=pixels,
        raw=arr,
        source=str(path),
        format=fmt,
        info={
            "bits": significant_bits(arr),
            "dtype": str(arr.dtype),
            "rows": arr.shape[0],
            "columns": arr.shape[1],
            "window": window,
        },
        notes=notes,
    )
