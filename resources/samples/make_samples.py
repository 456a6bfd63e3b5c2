"""Re-make the sample films in this folder from the mini-MIAS database.

    python resources/samples/make_samples.py /path/to/mini-mias   # mdbNNN.pgm + Info.txt there

Each sample is a square crop of a mini-MIAS film (200 µm per pixel), written as `mdbNNN.pgm`
beside an `Info.txt` in the database's own format, so the mini-MIAS reader gives each crop its
0.2 mm pixel spacing and its lesion annotation (centre and radius, moved into the crop; y counts
from the bottom, as in the original). mini-MIAS is for research use only: keep these few small
crops, never more of the database, in the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SIZE = 384  # px at 0.2 mm = 76.8 mm: room around one 51.2 mm model patch
# film, centre of the crop (x, y from the top; mostly breast, the lesion well inside), what
SAMPLES = (
    ("mdb028", (378, 710), "circumscribed malignant mass (a texture)"),
    ("mdb181", (580, 600), "spiculated malignant mass (a texture)"),
    ("mdb003", (648, 640), "normal dense tissue, no lesion (a shape template)"),
)
HEADER = """\
# StimStudio sample films: {size} x {size} px crops of mini-MIAS films, 200 micron pixel edge.
# Rows as in the mini-MIAS Info.txt: REFNUM BG CLASS SEVERITY X Y RADIUS, with X and Y (from
# the bottom of the crop) moved into the crop. Lines starting with # are not annotation rows.
# Source: J. Suckling et al. (1994), The Mammographic Image Analysis Society Digital
# Mammogram Database, Exerpta Medica, International Congress Series 1069, pp. 375-378.
# Research use only (mini-MIAS Licence.txt).
"""


def crop_box(center: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of a SIZE crop around `center`, kept inside the film."""
    h, w = shape
    x0 = min(max(center[0] - SIZE // 2, 0), w - SIZE)
    y0 = min(max(center[1] - SIZE // 2, 0), h - SIZE)
    return x0, y0


def info_rows(ref: str, text: str, x0: int, y0: int, film_h: int) -> list[str]:
    """The film's Info.txt rows, coordinates moved into the crop."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] != ref:
            continue
        if len(parts) >= 7:
            x, y_bottom, r = int(parts[4]), int(parts[5]), int(parts[6])
            y_top = film_h - 1 - y_bottom
            parts[4] = str(x - x0)
            parts[5] = str(SIZE - 1 - (y_top - y0))
            parts[6] = str(r)
        rows.append(" ".join(parts))
    return rows


def main(source: str, out: str | None = None) -> int:
    from PIL import Image

    src = Path(source)
    dst = Path(out) if out else Path(__file__).resolve().parent
    info = (src / "Info.txt").read_text(errors="replace")
    lines = [HEADER.format(size=SIZE).rstrip("\n")]
    for ref, center, what in SAMPLES:
        film = np.asarray(Image.open(src / f"{ref}.pgm"))
        x0, y0 = crop_box(center, film.shape)
        crop = np.ascontiguousarray(film[y0 : y0 + SIZE, x0 : x0 + SIZE])
        Image.fromarray(crop).save(dst / f"{ref}.pgm")
        rows = info_rows(ref, info, x0, y0, film.shape[0])
        if not rows:
            raise SystemExit(f"{ref}: no row in Info.txt")
        lines.append(f"# {ref}: crop at x {x0}, y {y0} (from the top) of the film; {what}")
        lines.extend(rows)
        print(dst / f"{ref}.pgm", *rows, sep="\n  ")
    (dst / "Info.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
