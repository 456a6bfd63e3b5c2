"""Small synthetic films for the film tests: mini-MIAS-like PGMs (0.2 mm) with an Info.txt."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = 256  # 51 mm at 0.2 mm


def film(seed: int, size: int = SIZE, breast: bool = True) -> np.ndarray:
    """A breast-like uint8 film: a half disc of smooth texture at the left, dark outside."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(size=(size, size)).astype(np.float32), (0, 0), 3)
    noise /= noise.std() + 1e-6
    yy, xx = np.mgrid[0:size, 0:size]
    inside = (xx / (0.8 * size)) ** 2 + ((yy - size / 2) / (0.47 * size)) ** 2 <= 1
    img = np.full((size, size), 8.0, np.float32)
    if breast:
        img[inside] = 120 + 18 * noise[inside]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def write_films(folder: Path, n: int, abnormal: tuple[int, ...] = (), blank: int | None = None):
    """mdb001.pgm .. mdbNNN.pgm and Info.txt (NORM, or a CIRC mass for `abnormal` numbers);
    `blank`: that film has no breast at all."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["mini-MIAS-like test films"]
    for i in range(1, n + 1):
        ref = f"mdb{i:03d}"
        cv2.imwrite(str(folder / f"{ref}.pgm"), film(i, breast=i != blank))
        if i in abnormal:
            rows.append(f"{ref} F CIRC B 80 {SIZE - 1 - 128} 12")
        else:
            rows.append(f"{ref} F NORM")
    (folder / "Info.txt").write_text("\n".join(rows) + "\n")
    return folder


def write_lesion(folder: Path, size: int = 32, radius: float = 6.0, name: str = "mass"):
    """A lesion patch (a bright textured disc on tissue) and its mask, `size` px square."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    disc = (xx - c) ** 2 + (yy - c) ** 2 <= radius**2
    img = 100 + 10 * rng.normal(size=(size, size))
    img[disc] += 90
    cv2.imwrite(str(folder / f"{name}.png"), np.clip(img, 0, 255).astype(np.uint8))
    cv2.imwrite(str(folder / f"{name}_mask.png"), disc.astype(np.uint8) * 255)
    return folder / f"{name}.png", folder / f"{name}_mask.png"


def spec_text(out="set", count=10, extra="", lesion=None) -> str:
    lesion = lesion or '[[lesion]]\nimage = "les/mass.png"\nmask = "les/mass_mask.png"\n'
    return (
        f'out = "{out}"\nseed = 5\nfilms = ["films/"]\ncount = {count}\nskin_mm = 2\n'
        f'separation_mm = 2\nfeather_mm = 0.8\nweights = "tiny.safetensors"\n{extra}\n{lesion}'
    )
