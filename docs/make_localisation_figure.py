"""The localisation figure of docs/LOCALISATION.md (issue 41 part 3).

    python docs/make_localisation_figure.py

Simulates a 20 + 20 search set (one lesion of radius 12 px on each abnormal film) read by two
observers on a 1..5 rating scale, writes its truth.csv and marks.csv to a temporary folder,
scores them with `stimstudio judge analyze MARKS --truth TRUTH` and copies the FROC/AFROC
figure to docs/localisation-froc-afroc.png. Observer "good" finds 85 % of the lesions and rates
them ~N(3.5, 1), observer "weak" finds 55 %, ~N(2, 1); both make Poisson(0.6) false marks per
film rated ~N(1.5, 1). Seeded: the same numbers every time.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent
READERS = {"good": (0.85, 3.5), "weak": (0.55, 2.0)}  # P(lesion marked), its mean rating


def simulate(folder: Path, n: int = 20, seed: int = 4) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    truth = ["film,lesion,present,x,y,radius_px,radius_mm,contrast,mask_file,source_film"]
    films, lesions = [], {}
    for i in range(2 * n):
        film = f"film{i + 1:03d}.png"
        films.append(film)
        if i % 2:
            x, y = rng.integers(100, 400, size=2)
            lesions[film] = (x, y)
            truth.append(f"{film},mass,1,{x},{y},12,1.2,0.05,,normal{i + 1}")
        else:
            truth.append(f"{film},,0,,,,,,,normal{i + 1}")
    marks = ["reader,film,x,y,rating"]

    def rate(mean: float) -> int:
        return int(np.clip(np.rint(rng.normal(mean, 1.0)), 1, 5))

    for reader, (p_find, mean) in READERS.items():
        for film in films:
            if film in lesions and rng.random() < p_find:
                x, y = lesions[film] + rng.normal(0, 4, size=2)
                marks.append(f"{reader},{film},{x:.1f},{y:.1f},{rate(mean)}")
            for _ in range(rng.poisson(0.6)):
                x, y = rng.integers(0, 500, size=2)
                marks.append(f"{reader},{film},{x},{y},{rate(1.5)}")
    (folder / "truth.csv").write_text("\n".join(truth) + "\n")
    (folder / "marks.csv").write_text("\n".join(marks) + "\n")
    return folder / "truth.csv", folder / "marks.csv"


def main() -> Path:
    from stimstudio.cli.main import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        truth, marks = simulate(Path(tmp))
        figure = Path(tmp) / "froc.png"
        code = cli(["judge", "analyze", str(marks), "--truth", str(truth), "--figure", str(figure)])
        if code:
            raise SystemExit(code)
        out = DOCS / "localisation-froc-afroc.png"
        shutil.copyfile(figure, out)
    return out


if __name__ == "__main__":
    print(main())
