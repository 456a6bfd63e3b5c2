"""Where a template is cut from a film, recorded so that its lesion can go back there.

A compose template is a square of a film resized to the model's resolution: the app's View page
cuts the square the user drew (`cut_patch` below, recorded in the project's
`template.source`), the CLI takes the film's centre square or the square `--template-at X,Y,SIZE`.
`template_cut` is that square as {file, x, y, size, spacing_mm} in film pixels; a compose result
writes it into its `metrics.json`, and `stimstudio insert --at original` reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import OptionError
from ..imageio import fit_square, to_model_range
from ..readers import read_mammogram

if TYPE_CHECKING:
    from ..project_records import Patch


def parse_at(text: str) -> tuple[int, int, int]:
    """'X,Y,SIZE' (film pixels: the square's top-left corner and side)."""
    try:
        x, y, size = (int(round(float(v))) for v in text.split(","))
    except ValueError:
        raise OptionError(
            f"--template-at must be 'X,Y,SIZE' in film pixels, got {text!r}"
        ) from None
    return x, y, size


def template_patch(path, resolution: int, at: tuple[int, int, int] | None = None):
    """(patch [-1, 1] at `resolution`, note or None, template_cut) of a film or image file:
    the square `at` (x, y, size), or the centre square when None."""
    mammo = read_mammogram(path)
    h, w = mammo.shape
    if at is None:
        side = min(h, w)
        x, y = (w - side) // 2, (h - side) // 2
        px, note = fit_square(mammo.pixels, resolution)
    else:
        x, y, side = at
        if side < 8 or x < 0 or y < 0 or x + side > w or y + side > h:
            raise OptionError(
                f"--template-at {x},{y},{side} is not a square inside {Path(path).name} "
                f"({w}x{h} px)"
            )
        px, _ = fit_square(mammo.pixels[y : y + side, x : x + side], resolution)
        note = (
            f"the {side}x{side} square at ({x}, {y}) of {Path(path).name} resized to {resolution}px"
        )
    cut = {
        "file": Path(path).name,
        "x": int(x),
        "y": int(y),
        "size": int(side),
        "spacing_mm": list(mammo.spacing_mm) if mammo.spacing_mm else None,
    }
    return to_model_range(px), note, cut


def original_place(lesion, mammo) -> tuple[float, float]:
    """Where the lesion's outline centre was in the film its template was cut from (x, y film
    pixels), from the lesion's recorded `cut`; an OptionError when none is recorded or it was
    cut from another film."""
    cut = lesion.cut
    if not cut:
        raise OptionError(
            f"{lesion.name}: where its template was cut from is not recorded; give a place "
            "(compose with --template-at, or cut the template in the app, records it)"
        )
    if Path(str(cut.get("file", ""))).name != Path(mammo.source).name:
        raise OptionError(
            f"{lesion.name}'s template was cut from {Path(str(cut.get('file'))).name}, not from "
            f"{Path(mammo.source).name}"
        )
    R = lesion.image.shape[0]
    f = float(cut["size"]) / R
    cx, cy = lesion.centre()
    return float(cut["x"]) + (cx + 0.5) * f - 0.5, float(cut["y"]) + (cy + 0.5) * f - 0.5


def breast_centre(allowed) -> tuple[float, float]:
    """The allowed pixel deepest inside the allowed tissue (a first place to show a lesion)."""
    import cv2

    depth = cv2.distanceTransform(np.asarray(allowed, np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return float(x), float(y)


def cut_patch(mammo, x: int, y: int, size: int, resolution: int) -> Patch:
    """The square at (x, y, size) of a film (the app's View page: the square the user drew) as
    a model-range patch, with its lesion mask and where it was cut (`template_cut` reads it)."""
    from ..project_records import Patch

    h, w = mammo.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(w, x + size), min(h, y + size)
    region = mammo.pixels[y0:y1, x0:x1]
    px, _ = fit_square(region, resolution)
    source = {
        "file": mammo.source or "",
        "x": int(x0),
        "y": int(y0),
        "size": int(min(x1 - x0, y1 - y0)),
        "spacing_mm": list(mammo.spacing_mm) if mammo.spacing_mm else None,
    }
    masks = []
    for les in mammo.lesions:
        m = les.to_mask(mammo.shape)[y0:y1, x0:x1]
        if m.any():
            masks.append(fit_square(m.astype(np.float32), resolution)[0])
    lesion = (np.max(masks, axis=0) >= 0.5).astype(np.uint8) if masks else None
    return Patch(to_model_range(px), source, lesion)
