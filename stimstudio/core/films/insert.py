"""Put a lesion into a film: resampled to the film's pixel size, added by contrast in display
values, measured for a seam against the film's own texture.

The film's display values (`Mammogram.pixels`, [0, 1], dense = bright) are taken to the
model's [-1, 1] and the lesion's difference against its own surround, times the gain, is added
there with `core.insertion.add_density` (the compose page's contrast insertion, with its smooth
shoulder at the ends of the range). Only a window around the lesion changes; everything else
keeps its display value, and `stored.to_stored` keeps its stored value too.

The seam measure is compose's `seam_strength`: gradient energy along the outline, relative to
the film's own there (1 = no seam). `edge_ratio` compares the outline with the ring just outside
it in one image, so it can be taken on a film's own annotated lesions as well (a natural lesion
has no "film without it").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import OptionError
from ..insertion import add_density, contrast_or_nan
from ..metrics import boundary_band, gradient_energy, seam_strength
from .lesion import FEATHER_PX, LesionPatch, edge_profile

# The feather of the lesion's outline in the film (Gaussian sigma, mm). Compose's 2 px (0.8 mm
# at 0.4 mm) left a composed mass in a film with an edge twice as busy as natural masses'
# (`edge_ratio` 2.45 against 1.30); 1.6 mm gave 1.48, 2.4 mm 1.24 (docs/FILMS.md).
FEATHER_MM = 2.0
# where the feathered outline counts as 0 (Gaussian edge: ~2.3 sigma out)
EDGE_SUPPORT = 0.01


@dataclass
class Placed:
    """A lesion in a film. `pixels`: the film's new display values ([0, 1], full film);
    `window`: (x0, y0, x1, y1) of the changed region; `outline`: bool, full film, the lesion's
    outline in film pixels; `centre` (x, y) and `radius_px` (the disc of the outline's area) in
    film pixels; `scale`: film pixels per lesion pixel; `notes`: what was done that a user
    should know (a resampling); `changed`: bool over the window, the pixels whose display value
    the lesion changed (the others keep their stored values exactly)."""

    pixels: np.ndarray
    window: tuple[int, int, int, int]
    changed: np.ndarray
    outline: np.ndarray
    centre: tuple[float, float]
    radius_px: float
    radius_mm: float
    contrast: float
    seam: float
    edge: float
    kept: float
    scale: float
    notes: list[str] = field(default_factory=list)


def refeathered(lesion: LesionPatch, feather_mm: float | None) -> LesionPatch:
    """The lesion with its outline feathered by `feather_mm` (None: as it came); the outline
    itself (where the soft mask is 0.5) stays where it was."""
    if feather_mm is None:
        return lesion
    if not np.isfinite(feather_mm) or not 0 <= feather_mm <= 20:
        raise OptionError(f"the feather must be 0..20 mm, got {feather_mm!r}")
    soft = edge_profile(lesion.binary, feather_mm / lesion.spacing_mm)
    return LesionPatch(
        lesion.name, lesion.image, soft, lesion.spacing_mm, lesion.cut, lesion.source
    )


def resampled(lesion: LesionPatch, film_mm: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(signal, soft outline, scale) at the film's pixel size (cubic for the signal, linear for
    the outline; area when shrinking)."""
    scale = lesion.spacing_mm / film_mm
    sig, soft = lesion.signal(), lesion.mask
    if abs(scale - 1) < 1e-6:
        return sig, soft, 1.0
    R = sig.shape[0]
    n = max(3, int(round(R * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    sig = cv2.resize(sig, (n, n), interpolation=interp)
    soft = np.clip(cv2.resize(soft, (n, n), interpolation=cv2.INTER_LINEAR), 0, 1)
    return sig.astype(np.float32), soft.astype(np.float32), n / R


def edge_ratio(img: np.ndarray, outline: np.ndarray, width: int = 2) -> float:
    """Gradient energy along the outline over that in a ring just outside it (the next
    2 * width + 1 .. 4 * width + 2 px): about 1 when the edge is no busier than the tissue."""
    band = boundary_band(outline, width)
    k = np.ones((4 * width + 3, 4 * width + 3), np.uint8)
    grown = cv2.dilate(outline.astype(np.uint8), k).astype(bool)
    ring = cv2.dilate(grown.astype(np.uint8), k).astype(bool) & ~grown
    e = gradient_energy(img)
    if not band.any() or not ring.any():
        return float("nan")
    return float(e[band].mean() / max(e[ring].mean(), 1e-12))


def place(
    film01: np.ndarray,
    film_mm: float,
    lesion: LesionPatch,
    centre: tuple[float, float],
    gain: float = 1.0,
    feather_mm: float | None = FEATHER_MM,
) -> Placed:
    """Insert `lesion` with its outline's centre at `centre` (x, y film pixels), its outline
    feathered by `feather_mm` (None: the lesion's own soft mask, e.g. compose's)."""
    if not np.isfinite(gain) or not 0 <= gain <= 4:
        raise OptionError(f"the contrast gain must be in 0..4, got {gain!r}")
    lesion = refeathered(lesion, feather_mm)
    sig, soft, scale = resampled(lesion, film_mm)
    notes = []
    if scale != 1.0:
        notes.append(
            f"{lesion.name}: resampled from {lesion.spacing_mm:g} mm to the film's {film_mm:g} mm "
            f"pixels ({scale:.3g}x)"
        )
    h, w = film01.shape
    n = sig.shape[0]
    cx, cy = lesion.centre()
    cx, cy = (cx + 0.5) * scale - 0.5, (cy + 0.5) * scale - 0.5  # patch px -> resampled px
    x0 = int(round(centre[0] - cx))
    y0 = int(round(centre[1] - cy))
    x1, y1 = x0 + n, y0 + n
    # The patch may hang over the film's edge where its feathered outline does not: the
    # difference is 0 there (a lesion near the edge of a small film or crop)
    X0, Y0, X1, Y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    inside = np.zeros_like(soft, bool)
    if X1 > X0 and Y1 > Y0:
        inside[Y0 - y0 : Y1 - y0, X0 - x0 : X1 - x0] = True
    if (soft[~inside] > EDGE_SUPPORT).any():
        raise OptionError(
            f"{lesion.name} at ({centre[0]:.0f}, {centre[1]:.0f}) reaches past the film's edge "
            f"({w}x{h} px); place it further inside"
        )
    crop = (slice(Y0 - y0, Y1 - y0), slice(X0 - x0, X1 - x0))
    sig, soft = sig[crop], soft[crop]
    x0, y0, x1, y1 = X0, Y0, X1, Y1
    before = np.asarray(film01[y0:y1, x0:x1], np.float32) * 2 - 1
    asked = np.float32(gain) * sig
    after, got = add_density(before, asked)
    out = np.array(film01, np.float32, copy=True)
    out[y0:y1, x0:x1] = (after + 1) / 2
    binary = soft >= 0.5
    outline = np.zeros((h, w), bool)
    outline[y0:y1, x0:x1] = binary
    want = float(asked[binary].mean())
    kept = 1.0 if abs(want) < 1e-6 else float(got[binary].mean() / want)
    ys, xs = np.nonzero(binary)
    r_px = float(np.sqrt(binary.sum() / np.pi))
    return Placed(
        pixels=out,
        window=(x0, y0, x1, y1),
        changed=got != 0,
        outline=outline,
        centre=(float(x0 + xs.mean()), float(y0 + ys.mean())),
        radius_px=r_px,
        radius_mm=r_px * film_mm,
        contrast=contrast_or_nan(after, binary),
        seam=seam_strength(after, before, binary),
        edge=edge_ratio(after, binary),
        kept=kept,
        scale=scale,
        notes=notes,
    )


def footprint(
    lesion: LesionPatch, film_mm: float, feather_mm: float | None = FEATHER_MM
) -> tuple[float, float, float, float]:
    """(radius of the outline, and the reach of its feathered outline left/up and right/down of
    the outline's centre), in film pixels: what a placement must keep inside the tissue and the
    film. The rest of the patch may hang over the film's edge (`place`)."""
    scale = lesion.spacing_mm / film_mm
    R = lesion.image.shape[0]
    n = max(3, int(round(R * scale)))
    s = n / R
    ys, xs = np.nonzero(lesion.binary)
    cx, cy = lesion.centre()
    d = np.sqrt(((xs - cx) ** 2 + (ys - cy) ** 2).max()) + 1
    feather = FEATHER_PX * lesion.spacing_mm if feather_mm is None else feather_mm
    reach = float(d * s)
    return reach, reach + 3 * feather / film_mm + 1, reach + 3 * feather / film_mm + 1, float(n)
