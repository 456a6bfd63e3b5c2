"""mini-MIAS: 1024x1024 8-bit PGM films at 200 um, with `Info.txt` annotations.

Info.txt quirks: a free-text header before the rows; rows `REFNUM BG CLASS SEVERITY X Y
RADIUS` where NORM rows have no severity, widely distributed calcifications have no
coordinates, a film can have several rows, and y counts from the **bottom** of the image.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import ReaderError
from ..mammogram import Lesion, Mammogram
from ._util import read_text
from .plain import load_array

SPACING_MM = 0.2
CLASS_NAMES = {
    "CALC": "calcification",
    "CIRC": "mass",
    "SPIC": "mass",
    "MISC": "mass",
    "ARCH": "distortion",
    "ASYM": "asymmetry",
}
SHAPES = {"CIRC": "circumscribed", "SPIC": "spiculated", "MISC": "ill-defined"}
_ROW = re.compile(r"^(mdb\d{3})\s+([FGD])\s+([A-Z]{4})(?:\s+([BM]))?(?:\s+(\d+)\s+(\d+)\s+(\d+))?")


def parse_info(path: Path) -> dict[str, list[dict]]:
    """{ 'mdb001': [{'background', 'class', 'severity', 'x', 'y', 'radius'}, ...] }."""
    return parse_info_text(read_text(Path(path), "Info.txt annotation file"))


def parse_info_text(text: str) -> dict[str, list[dict]]:
    """Rows of an Info.txt text; lines that are not annotation rows (the header) are skipped."""
    rows: dict[str, list[dict]] = {}
    for line in text.splitlines():
        m = _ROW.match(line.strip())
        if not m:
            continue
        ref, bg, cls, sev, x, y, r = m.groups()
        rows.setdefault(ref, []).append(
            {
                "background": bg,
                "class": cls,
                "severity": sev,
                "x": int(x) if x else None,
                "y": int(y) if y else None,
                "radius": int(r) if r else None,
            }
        )
    return rows


def find_info(pgm: Path) -> Path | None:
    for name in ("Info.txt", "info.txt", "INFO.TXT"):
        cand = pgm.parent / name
        if cand.is_file():
            return cand
    return None


def read_pgm(path: Path) -> np.ndarray:
    arr, notes = load_array(path)
    if notes:
        raise ReaderError(f"{Path(path).name}: expected a grayscale PGM ({notes[0]})")
    return arr


def read_minimias(path: str | Path, info: dict[str, list[dict]] | None = None) -> Mammogram:
    path = Path(path)
    raw = read_pgm(path)
    maxval = 65535.0 if raw.dtype == np.uint16 else 255.0
    ref = path.stem.lower()
    if info is None:
        info_path = find_info(path)
        info = parse_info(info_path) if info_path else {}
    h, w = raw.shape
    lesions = []
    notes = []
    background = None
    if not info:
        notes.append("no Info.txt beside the image: no annotations")
    for row in info.get(ref, []):
        background = row["background"]
        if row["class"] == "NORM":
            continue
        center = None
        if row["x"] is not None:
            center = (float(row["x"]), float(h - 1 - row["y"]))  # y counts from the bottom
            if not (0 <= center[0] < w and 0 <= center[1] < h):
                notes.append(
                    f"Info.txt: {row['class']} centre ({row['x']}, {row['y']}) is outside the image"
                )
        else:
            notes.append(
                f"Info.txt gives no position for the {row['class']} abnormality (widely "
                "distributed): it has no outline"
            )
        lesions.append(
            Lesion(
                kind=CLASS_NAMES.get(row["class"], row["class"].lower()),
                center=center,
                radius=float(row["radius"]) if row["radius"] is not None else None,
                pathology={"B": "benign", "M": "malignant"}.get(row["severity"] or ""),
                attributes={"mias_class": row["class"], "shape": SHAPES.get(row["class"])},
            )
        )
    num = int(re.sub(r"\D", "", ref) or 0)
    return Mammogram(
        pixels=_unit(raw, maxval),
        raw=raw,
        spacing_mm=(SPACING_MM, SPACING_MM),
        laterality=("L" if num % 2 == 0 else "R") if num else None,
        view="MLO",
        lesions=lesions,
        source=str(path),
        format="mini-MIAS",
        info={
            "bits": 8 * raw.itemsize,
            "background_tissue": background,
            "ref": ref,
            "rows": h,
            "columns": w,
        },
        notes=notes,
    )


def is_minimias(path: Path) -> bool:
    return bool(re.fullmatch(r"mdb\d{3}", path.stem.lower())) and path.suffix.lower() == ".pgm"


def _unit(raw: np.ndarray, maxval: float) -> np.ndarray:
    """float32 in [0, 1], scaled in place: one float copy, not two (reader memory budget)."""
    px = raw.astype(np.float32)
    px *= np.float32(1.0 / maxval)
    return px
