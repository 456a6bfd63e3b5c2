"""The `Mammogram` record every reader returns, and its lesions."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Lesion:
    """One annotated abnormality: a polygon (x, y pixel columns/rows) or a circle."""

    kind: str  # "mass", "calcification", "distortion", "asymmetry", ...
    polygon: np.ndarray | None = None  # [K, 2] float (x, y)
    center: tuple[float, float] | None = None  # (x, y)
    radius: float | None = None
    pathology: str | None = None  # "benign" | "malignant" | ...
    attributes: dict = field(default_factory=dict)  # shape, margins, assessment, subtlety...

    def bbox(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) in pixels, or None when the lesion has no location."""
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
        if self.polygon is not None and len(self.polygon) >= 3:
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

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape[:2]
