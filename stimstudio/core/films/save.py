"""One film with its inserted lesion, written as a file (`stimstudio insert`, the Film view)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from ..errors import OptionError
from ..model import atomic_write_bytes
from .filmfile import film_bytes, film_kind
from .stored import to_stored

KINDS_BY_SUFFIX = {".dcm": "dicom", ".pgm": "pgm", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}


def save_film(mammo, placed, path, key: str = "") -> Path:
    """Write `mammo` with `placed` (an `insert.Placed`) to `path`, in the kind its suffix
    names; a DICOM film only as DICOM and the other way round (DICOM in, DICOM out). `key`
    makes the DICOM UIDs (default: from the film's and the lesion's place)."""
    path = Path(path)
    kind = KINDS_BY_SUFFIX.get(path.suffix.lower())
    if kind is None:
        raise OptionError(f"a film is written as {', '.join(KINDS_BY_SUFFIX)}, not {path.name!r}")
    if (kind == "dicom") != (film_kind(mammo) == "dicom"):
        raise OptionError(
            f"{Path(mammo.source).name} is written as the same kind of file "
            f"({'.dcm' if film_kind(mammo) == 'dicom' else '.pgm, .png or .tiff'})"
        )
    x0, y0, x1, y1 = placed.window
    changed = np.zeros(mammo.shape, bool)
    changed[y0:y1, x0:x1] = placed.changed
    raw = to_stored(mammo, placed.pixels, changed)
    key = key or hashlib.sha256(f"{Path(mammo.source).name}|{placed.window}".encode()).hexdigest()
    atomic_write_bytes(path, film_bytes(mammo, raw, kind, key, 1))
    return path


def outline_polygons(outline: np.ndarray) -> list[np.ndarray]:
    """The outline's edges as closed (x, y) polygons in film pixels, for drawing."""
    cs, _ = cv2.findContours(outline.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return [np.vstack([c[:, 0, :], c[:1, 0, :]]).astype(float) for c in cs]
