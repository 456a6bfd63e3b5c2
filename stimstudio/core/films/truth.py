"""A search set's truth file and PsychoPy conditions file.

`truth.csv`: one row per written film and lesion, columns `TRUTH_COLUMNS` exactly. `film` is
the written file's name; `present` 1 or 0; `x`, `y` the outline's centre of mass in the written
film's pixels (x to the right, y down, from the top-left pixel's centre); `radius_px` /
`radius_mm` the radius of the disc with the outline's area; `contrast` the lesion's measured
contrast in the written film (mean inside the outline minus the mean of a ring around it, on
the [-1, 1] display scale; `core.insertion.lesion_contrast`); `mask_file` a PNG of the outline
at the film's size (255 inside), relative to the set's folder; `source_film` the film it was
made from (its name, or empty where that name holds an identifier). Films without a lesion have
one row with present 0 and the lesion fields empty.

`conditions.csv` (PsychoPy): one row per film, `imageFile` its 8-bit display copy (PsychoPy
shows 8-bit images; DICOM it cannot open), `filmFile` the film itself, then the truth columns
of its first lesion and `nLesions`.
"""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np

from ..errors import ExportError

TRUTH_COLUMNS = (
    "film", "lesion", "present", "x", "y", "radius_px", "radius_mm", "contrast", "mask_file",
    "source_film",
)  # fmt: skip
CONDITION_COLUMNS = ("imageFile", "filmFile", "nLesions") + TRUTH_COLUMNS[1:]


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return format(v, ".6g")
    return str(v)


def truth_rows(film: dict) -> list[dict]:
    """The truth rows of one film record (`searchset` writes the records)."""
    base = {"film": film["file"], "source_film": film.get("source_film") or ""}
    if not film["lesions"]:
        return [dict(base, present=0)]
    return [
        dict(
            base,
            lesion=les["lesion"],
            present=1,
            x=round(les["x"], 2),
            y=round(les["y"], 2),
            radius_px=round(les["radius_px"], 2),
            radius_mm=round(les["radius_mm"], 3),
            contrast=round(les["contrast"], 4),
            mask_file=les["mask_file"],
        )
        for les in film["lesions"]
    ]


def _csv(cols, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in cols])
    return buf.getvalue()


def truth_csv(films: list[dict]) -> str:
    return _csv(TRUTH_COLUMNS, [r for f in films for r in truth_rows(f)])


def conditions_csv(films: list[dict]) -> str:
    rows = []
    for f in films:
        first = truth_rows(f)[0]
        rows.append(
            dict(first, imageFile=f["display"], filmFile=f["file"], nLesions=len(f["lesions"]))
        )
    return _csv(CONDITION_COLUMNS, rows)


def mask_png(outline: np.ndarray) -> bytes:
    """A lesion outline as an 8-bit PNG at the film's size (255 inside, 0 outside)."""
    ok, buf = cv2.imencode(".png", outline.astype(np.uint8) * 255)
    if not ok:
        raise ExportError("could not encode a mask PNG")
    return buf.tobytes()


def display_png(pixels01: np.ndarray) -> bytes:
    """The film's display values as an 8-bit PNG (the conditions file's `imageFile`)."""
    from ..export.writers import png_bytes
    from .filmfile import FILM_LABEL

    return png_bytes(pixels01, 8, FILM_LABEL)
