"""The `Mammogram` record every reader returns, and its lesions."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Lesion:
    """One annotated abnormality: a polygon (x, y pixel columns/rows), a circle, or a mask.

    `mask` (bool, cropped to the lesion's bounding box, its top-left pixel at `mask_origin`
    (x, y)) is the truth where a data set gives masks (CBIS-DDSM); `polygon` is then its outline
    for drawing.
    """

    kind: str  # "mass", "calcification", "distortion", "asymmetry", ...
    polygon: np.ndarray | None = None  # [K, 2] float (x, y)
    center: tuple[float, float] | None = None  # (x, y)
    radius: float | None = None
    pathology: str | None = None  # "benign" | "malignant" | ...
    attributes: dict = field(default_factory=dict)  # shape, margins, assessment, subtlety...
    mask: np.ndarray | None = None  # [h, w] bool, cropped to the bounding box
    mask_origin: tuple[int, int] | None = None  # (x, y) of mask[0, 0] in the image

    def bbox(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) in pixels, or None when the lesion has no location."""
        if self.mask is not None and self.mask_origin is not None and self.mask.any():
            ys, xs = np.nonzero(self.mask)
            ox, oy = self.mask_origin
            return ox + int(xs.min()), oy + int(ys.min()), ox + int(xs.max()), oy + int(ys.max())
        if self.polygon is not None and len(self.polygon):
            x0, y0 = self.polygon.min(axis=0)
            x1, y1 = self.polygon.max(axis=0)
            return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))
        if self.center is not None and self.radius is not None:
            x, y, r = *self.center, self.radius
            return int(x - r), int(y - r), int(np.ceil(x + r)), int(np.ceil(y + r))
        return None

    def to_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Binary uint8 mask {0, 1} of this lesion in an image of `shape` (rows, cols)."""
        mask = np.zeros(shape, np.uint8)
        if self.mask is not None and self.mask_origin is not None:
            ox, oy = self.mask_origin
            h, w = self.mask.shape
            y0, x0 = max(oy, 0), max(ox, 0)
            y1, x1 = min(oy + h, shape[0]), min(ox + w, shape[1])
            if y1 > y0 and x1 > x0:
                mask[y0:y1, x0:x1] = self.mask[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        elif self.polygon is not None and len(self.polygon) >= 3:
            pts = np.round(self.polygon).astype(np.int32).reshape(-1, 1, 2)
            cv2.fillPoly(mask, [pts], 1)
        elif self.center is not None and self.radius is not None:
            cx, cy = (int(round(v)) for v in self.center)
            cv2.circle(mask, (cx, cy), int(round(self.radius)), 1, thickness=-1)
        return mask


@dataclass
class Mammogram:
    """A mammogram as readers deliver it.

    `pixels` is float32 in [0, 1] in the MONOCHROME2 sense (dense tissue bright), ready to
    display; `raw` keeps the stored values; `spacing_mm` is (row, col) pixel spacing.
    `notes` are sentences for the user about what the reader did or doubts (an RGB file
    converted, one frame of several picked, a FOR PROCESSING image, a mask resampled).
    `info["bits"]` is the number of significant bits of the source's grey levels.
    """

    pixels: np.ndarray
    raw: np.ndarray | None = None
    spacing_mm: tuple[float, float] | None = None
    laterality: str | None = None  # "L" | "R"
    view: str | None = None  # "CC" | "MLO" | ...
    lesions: list[Lesion] = field(default_factory=list)
    source: str = ""  # path or data-set relative id
    format: str = ""  # reader name
    info: dict = field(default_factory=dict)  # what the reader saw (bits, window, ...)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape[:2]

    def preview(self, max_side: int = 2048) -> np.ndarray:
        """A downsampled pyramid level of `pixels` (longest side <= max_side) for display.

        Computed once per size and kept, so a view of a 7000x4000 film repaints from a small
        array.
        """
        cache = self.__dict__.setdefault("_previews", {})
        if max_side not in cache:
            h, w = self.pixels.shape[:2]
            f = max_side / max(h, w)
            if f >= 1:
                cache[max_side] = self.pixels
            else:
                size = (max(1, round(w * f)), max(1, round(h * f)))
                cache[max_side] = cv2.resize(self.pixels, size, interpolation=cv2.INTER_AREA)
        return cache[max_side]
