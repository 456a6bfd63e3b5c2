"""Where a lesion may go in a film: the breast, less its skin line, the pectoral muscle and the
film's own annotated lesions.

`breast_mask` lives here (moved from train.dataset, which re-exports it) because inserting a
lesion into a film needs it in core, and core may not import train.

The pectoral detector is deliberately simple: on a mediolateral-oblique (MLO) view the pectoral
muscle is the bright triangle in the top corner at the chest wall. The chest wall is the side
the breast's centre of mass lies towards (the breast is widest there). In the top half of the
breast on that side, the smoothed film is thresholded (Otsu between the muscle and the tissue
below it); each row's run of bright pixels from the chest-wall edge gives the muscle's width
there, and a straight line fitted to those widths (rows far off the first fit dropped) is the
muscle's edge; it must narrow downwards. A result that does
not start at the top rows, or that covers more than 40 % of the breast, is not a muscle and is
dropped (no exclusion, and a note says so). CC views have no pectoral exclusion.
"""

from __future__ import annotations

import cv2
import numpy as np

PECTORAL_MAX_SHARE = 0.4  # a "muscle" larger than this share of the breast is not one


def breast_mask(pixels: np.ndarray) -> np.ndarray:
    """The breast as the largest bright connected region, holes filled; labels excluded."""
    img8 = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    blur = cv2.GaussianBlur(img8, (0, 0), 3)
    thr, _ = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    thr = max(min(thr * 0.5, 60), 8)  # fatty tissue is darker than Otsu's split
    binary = (blur > thr).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return np.zeros_like(binary, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = (labels == largest).astype(np.uint8)
    # Fill holes: flood the background from the border.
    inv = 1 - mask
    n2, lab2 = cv2.connectedComponents(inv)
    border = set(np.unique(np.concatenate([lab2[0], lab2[-1], lab2[:, 0], lab2[:, -1]])))
    holes = ~np.isin(lab2, list(border)) & (inv == 1)
    return (mask == 1) | holes


def chest_wall_side(breast: np.ndarray) -> str:
    """'left' or 'right': the image side the breast's centre of mass lies towards."""
    xs = np.nonzero(breast)[1]
    return "left" if xs.mean() < breast.shape[1] / 2 else "right"


def pectoral_mask(pixels: np.ndarray, breast: np.ndarray, spacing_mm: float) -> np.ndarray:
    """The pectoral muscle of an MLO film (bool), empty where none is found (module doc)."""
    h, w = breast.shape
    out = np.zeros_like(breast, dtype=bool)
    if not breast.any():
        return out
    flip = chest_wall_side(breast) == "right"
    px = np.asarray(pixels, np.float32)
    b = breast
    if flip:  # work as if the chest wall were on the left
        px, b = px[:, ::-1], b[:, ::-1]
    rows = np.nonzero(b.any(axis=1))[0]
    top, bottom = int(rows[0]), int(rows[-1])
    half = top + (bottom - top) // 2
    sigma = max(1.0, 2.0 / spacing_mm)  # 2 mm: tissue texture smoothed away, the edge kept
    # normalised by the breast's own blurred mask, so the dark outside does not pull the edge down
    bf = b.astype(np.float32)
    smooth = cv2.GaussianBlur(px * bf, (0, 0), sigma) / np.maximum(
        cv2.GaussianBlur(bf, (0, 0), sigma), 1e-3
    )
    band = max(3, (half - top) // 8)
    near = np.arange(w)[None, :] < w // 2
    muscle_vals = smooth[top : top + band][b[top : top + band] & near]
    tissue_vals = smooth[half:bottom][b[half:bottom] & near]  # the lower half: no muscle
    if muscle_vals.size < 50 or tissue_vals.size < 50:
        return out
    m, t = float(np.median(muscle_vals)), float(np.percentile(tissue_vals, 30))
    if m < t + 0.02:  # the top corner is no brighter than the tissue below: no muscle seen
        return out
    thr = (m + t) / 2
    bright = smooth >= thr
    widths = np.zeros(h, np.int64)
    for y in range(top, half):
        inside = np.nonzero(b[y])[0]
        if inside.size == 0:
            continue
        x0 = int(inside[0])
        run = bright[y, x0:]
        stop = np.nonzero(~run)[0]
        widths[y] = stop[0] if stop.size else run.size
        widths[y] += x0
    # the first rows decide whether a triangle starts at the top
    start = widths[top : top + max(3, (half - top) // 10)]
    if np.median(start) <= 0:
        return out
    # the muscle's edge is close to a straight line: fit one to the rows' widths, twice, the
    # second time without the rows the first fit misses by much (dense tissue touching it)
    ys = np.arange(top, half)
    ok = widths[top:half] > 0
    for _ in range(2):
        if ok.sum() < 5:
            return out
        slope, icpt = np.polyfit(ys[ok], widths[top:half][ok], 1)
        resid = np.abs(widths[top:half] - (slope * ys + icpt))
        ok &= resid <= max(2.0 * np.median(resid[ok]), 2.0)
    if slope >= 0:  # not narrowing downwards: not a triangle
        return out
    widths = np.clip(slope * np.arange(h) + icpt, 0, None)
    xx = np.arange(w)[None, :]
    out = (xx < widths[:, None]) & b
    if out.sum() > PECTORAL_MAX_SHARE * b.sum():
        return np.zeros_like(breast, dtype=bool)
    return out[:, ::-1] if flip else out


def annotated_mask(mammo, shape: tuple[int, int]) -> np.ndarray:
    """The film's own annotated lesions (bool), where the reader gives them a place."""
    out = np.zeros(shape, bool)
    for les in mammo.lesions:
        out |= les.to_mask(shape).astype(bool)
    return out


def allowed_tissue(
    mammo, skin_mm: float, keep_away_mm: float, pectoral: str = "auto"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(breast, allowed, notes): the breast mask, and the tissue a lesion may cover: the breast
    less a skin-line band `skin_mm` wide, the pectoral muscle (`pectoral`: "auto" = on MLO
    views, "mlo" = always look, "none"), and pixels within `keep_away_mm` of the film's own
    annotated lesions. `notes` say what was found."""
    from ..errors import ReaderError

    name = _name(mammo)
    breast = breast_mask(mammo.pixels)
    if not breast.any():
        raise ReaderError(
            f"{name}: no breast found (its breast segmentation is empty); a lesion cannot be "
            "placed in it"
        )
    spacing = film_spacing(mammo)
    notes = []
    inside = cv2.distanceTransform(breast.astype(np.uint8), cv2.DIST_L2, 5)
    allowed = inside > skin_mm / spacing
    look = pectoral == "mlo" or (pectoral == "auto" and (mammo.view or "").upper() == "MLO")
    if look:
        muscle = pectoral_mask(mammo.pixels, breast, spacing)
        if muscle.any():
            allowed &= ~muscle
            notes.append(
                f"pectoral muscle excluded ({muscle.sum() / breast.sum():.0%} of the breast)"
            )
        else:
            notes.append("MLO view, but no pectoral muscle found: none excluded")
    own = annotated_mask(mammo, breast.shape)
    if own.any():
        away = cv2.distanceTransform((~own).astype(np.uint8), cv2.DIST_L2, 5)
        allowed &= away > keep_away_mm / spacing
        notes.append(f"kept {keep_away_mm:g} mm from the film's {len(mammo.lesions)} annotation(s)")
    return breast, allowed, notes


def film_spacing(mammo) -> float:
    """The film's pixel size in mm (row spacing; films with square pixels are the rule)."""
    from ..errors import ReaderError

    if not mammo.spacing_mm:
        raise ReaderError(
            f"{_name(mammo)}: the file does not say its pixel size; give it (a search set spec's pixel_size_mm)"
        )
    return float(mammo.spacing_mm[0])


def _name(mammo) -> str:
    from pathlib import Path

    return Path(mammo.source).name if mammo.source else "the film"
