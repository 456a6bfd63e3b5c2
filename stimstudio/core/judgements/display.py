"""How a judgement test shows its images: the same millimetres per screen pixel for real and
generated images, at an integer magnification it states (issue 38 item 3).

A generated patch at 0.4 mm shown beside a real crop at 0.2 mm, both fitted to the screen,
differs in sharpness by a factor of two whatever the model does; images of the same spacing
at different magnifications differ the same way. So a session records each set's pixel
spacing, refuses two sets whose spacings differ, and shows every image at one integer
magnification (1×, 2×, 3×…; default the largest at which the largest image fits the screen).

Where a set's spacing comes from: the files themselves (DICOM PixelSpacing, a PNG/TIFF
resolution other than a screen default), else a StimStudio `manifest.json` in the folder or
up to two folders above it (an export's `output.pixel_spacing_mm`, a data set's recipe), else
what the experimenter states.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .sessions import JudgementError

SPACING_TOLERANCE = 0.02  # relative: 0.2 vs 0.204 mm is one spacing
SCREEN_DPI_DEFAULTS = (72.0, 96.0)  # what image tools write when nobody knows the spacing
MAX_MAGNIFICATION = 32


@dataclass
class ImageSet:
    """What the first images of one set say about their display: sizes and spacing."""

    sizes: Counter = field(default_factory=Counter)  # (w, h) -> count
    spacings: Counter = field(default_factory=Counter)  # mm (rounded to 1e-4) -> count
    spacing_from: str = ""  # "DICOM PixelSpacing", "PNG resolution", "manifest.json", "stated"

    @property
    def spacing_mm(self) -> float | None:
        return self.spacings.most_common(1)[0][0] if self.spacings else None

    @property
    def largest(self) -> tuple[int, int] | None:
        if not self.sizes:
            return None
        return max(s[0] for s in self.sizes), max(s[1] for s in self.sizes)


def _file_info(path: Path) -> tuple[tuple[int, int] | None, float | None, str]:
    """(size, spacing in mm, where the spacing came from) of one image, from its header."""
    if path.suffix.lower() in (".dcm", ".dicom"):
        try:
            import pydicom

            ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
            size = (int(ds.Columns), int(ds.Rows)) if "Rows" in ds else None
            for key in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
                if key in ds and ds[key].value:
                    return size, float(ds[key].value[0]), f"DICOM {key}"
            return size, None, ""
        except Exception:  # noqa: BLE001 - unreadable headers are simply not counted
            return None, None, ""
    try:
        from PIL import Image

        with Image.open(path) as im:
            size = im.size
            dpi = im.info.get("dpi")
    except Exception:  # noqa: BLE001
        return None, None, ""
    try:
        d = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        d = 0.0
    if d > 0 and not any(abs(d - s) < 0.5 for s in SCREEN_DPI_DEFAULTS):
        return size, 25.4 / d, f"{path.suffix.lstrip('.').upper()} resolution"
    return size, None, ""


def manifest_spacing_mm(folder: str | os.PathLike, levels: int = 2) -> float | None:
    """The pixel spacing a StimStudio manifest.json in `folder` (or a parent) records."""
    folder = Path(folder).resolve()
    for f in [folder, *folder.parents][: levels + 1]:
        m = f / "manifest.json"
        if not m.is_file():
            continue
        try:
            doc = json.loads(m.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        for section in (doc.get("output"), doc.get("recipe"), doc):
            if not isinstance(section, dict):
                continue
            for key in ("pixel_spacing_mm", "spacing_mm"):
                v = section.get(key)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                    return float(v)
    return None


def image_set(
    paths: Sequence[str | os.PathLike],
    folder: str | os.PathLike | None = None,
    stated_mm: float | None = None,
    limit: int = 24,
) -> ImageSet:
    """Sizes and spacing of up to `limit` images; a stated spacing overrides what is found."""
    out = ImageSet()
    for p in list(paths)[:limit]:
        size, sp, how = _file_info(Path(p))
        if size:
            out.sizes[size] += 1
        if sp and stated_mm is None:
            out.spacings[round(sp, 4)] += 1
            out.spacing_from = out.spacing_from or how
    if stated_mm is not None:
        out.spacings = Counter({round(float(stated_mm), 4): 1})
        out.spacing_from = "stated"
    elif not out.spacings and folder is not None:
        sp = manifest_spacing_mm(folder)
        if sp:
            out.spacings[round(sp, 4)] += 1
            out.spacing_from = "manifest.json"
    return out


def same_spacing(a: float, b: float) -> bool:
    return abs(a - b) <= SPACING_TOLERANCE * max(a, b)


def spacing_problem(real: ImageSet, generated: ImageSet) -> str:
    """One sentence when the two sets differ in pixel spacing (or one set mixes spacings);
    "" when they agree or a spacing is not known (`spacing_unknown` says that)."""
    for name, s in (("real", real), ("generated", generated)):
        if len(s.spacings) > 1 and not all(same_spacing(a, s.spacing_mm) for a in s.spacings):
            listed = ", ".join(f"{v:g}" for v in sorted(s.spacings))
            return f"the {name} images mix pixel spacings ({listed} mm); use one spacing"
    r, g = real.spacing_mm, generated.spacing_mm
    if r is None or g is None or same_spacing(r, g):
        return ""
    finer = "real" if r < g else "generated"
    return (
        f"the real images are at {r:g} mm per pixel, the generated at {g:g} mm: at one "
        f"magnification the {finer} ones show finer detail, so participants can tell them "
        "apart by sharpness alone; use images of one pixel spacing (a model of that spacing, "
        "or real crops resampled to the model's)"
    )


def spacing_unknown(real: ImageSet, generated: ImageSet) -> str:
    missing = [n for n, s in (("real", real), ("generated", generated)) if s.spacing_mm is None]
    if not missing:
        return ""
    return (
        f"the pixel spacing of the {' and '.join(missing)} images is not recorded in the files "
        "or a manifest.json: state it, or the test cannot check that both are shown at the "
        "same millimetres per screen pixel"
    )


def largest_magnification(image_px: tuple[int, int], screen_px: tuple[int, int]) -> int:
    """The largest integer k with the image k× in both directions inside the screen (≥ 1)."""
    (w, h), (sw, sh) = image_px, screen_px
    if w <= 0 or h <= 0:
        return 1
    return max(1, min(MAX_MAGNIFICATION, math.floor(min(sw / w, sh / h))))


def plan_display(
    real: ImageSet,
    generated: ImageSet,
    screen_px: tuple[int, int] | None,
    magnification: int | None = None,
) -> dict:
    """The session's `display` record; refuses sets of different spacing (JudgementError).

    `magnification` None: the largest integer at which the largest image of both sets fits
    `screen_px`. The record: magnification, how it was chosen, the screen, the largest image,
    each set's spacing and where it came from, and mm per screen pixel.
    """
    problem = spacing_problem(real, generated)
    if problem:
        raise JudgementError(problem)
    if magnification is not None:
        if isinstance(magnification, bool) or not isinstance(magnification, int):
            raise JudgementError(f"magnification must be a whole number, not {magnification!r}")
        if not 1 <= magnification <= MAX_MAGNIFICATION:
            raise JudgementError(
                f"magnification must lie in 1..{MAX_MAGNIFICATION}, not {magnification}"
            )
    sizes = [s for s in (real.largest, generated.largest) if s]
    largest = (max(s[0] for s in sizes), max(s[1] for s in sizes)) if sizes else None
    if magnification is None:
        chosen = "largest that fits the screen"
        magnification = largest_magnification(largest, screen_px) if largest and screen_px else 1
    else:
        chosen = "stated"
    fits = None
    if largest and screen_px:
        w, h = largest
        fits = w * magnification <= screen_px[0] and h * magnification <= screen_px[1]
    spacing = real.spacing_mm or generated.spacing_mm
    return {
        "magnification": magnification,
        "magnification_chosen": chosen,
        "screen_px": list(screen_px) if screen_px else None,
        "largest_image_px": list(largest) if largest else None,
        "fits_screen": fits,
        "pixel_spacing_mm": {"real": real.spacing_mm, "generated": generated.spacing_mm},
        "spacing_from": {"real": real.spacing_from, "generated": generated.spacing_from},
        "mm_per_screen_pixel": round(spacing / magnification, 6) if spacing else None,
    }


def describe_display(display: dict) -> str:
    """'shown at 3× (0.133 mm per screen pixel)' for setups, results and notes."""
    if not display or not display.get("magnification"):
        return "fitted to the screen (no magnification recorded)"
    k = display["magnification"]
    mm = display.get("mm_per_screen_pixel")
    where = f", {mm:.3g} mm per screen pixel" if mm else ", pixel spacing unknown"
    fits = "" if display.get("fits_screen") is not False else "; larger than the screen: cropped"
    return f"shown at {k}× ({display.get('magnification_chosen', 'stated')}{where}){fits}"
