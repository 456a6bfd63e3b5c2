"""PNG / TIFF / JPEG / PGM files without any annotation: grey levels as stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ReaderError
from ..mammogram import Mammogram


def read_plain(path: str | Path) -> Mammogram:
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("RGB", "RGBA", "P", "LA"):
                im = im.convert("L")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ReaderError(f"{path.name}: not a readable image ({exc})") from exc
    if arr.ndim != 2 or arr.size == 0:
        raise ReaderError(f"{path.name}: expected a 2-D grayscale image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        pixels = arr.astype(np.float32) / 255.0
    elif arr.dtype in (np.uint16, np.int32, np.int16) or mode.startswith("I"):
        a = arr.astype(np.float32)
        hi = 65535.0 if a.max() > 4095 else (4095.0 if a.max() > 255 else 255.0)
        pixels = np.clip(a / hi, 0, 1)
    elif arr.dtype == np.bool_:
        pixels = arr.astype(np.float32)
    else:
        a = arr.astype(np.float32)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        pixels = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return Mammogram(
        pixels=pixels.astype(np.float32),
        raw=arr,
        source=str(path),
        format=path.suffix.lower().lstrip(".") or "image",
        info={"mode": mode, "bits": 8 * arr.itemsize},
    )
