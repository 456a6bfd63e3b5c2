"""Patch data sets cut from mammograms: breast-tissue and lesion-centred patches.

Split by patient (mini-MIAS: films 2k-1 and 2k are one patient) so nothing of a held-out
patient is seen in training. Patches are stored as uint8 in one `.npz` per split with a
`manifest.json` beside them (recipe, films per split, counts) so every number computed on
them can state its recipe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import DatasetError, ReaderError
from ..core.films.breast import breast_mask  # noqa: F401 - moved to core; re-exported here
from ..core.jsonable import dumps_strict
from ..core.mammogram import Mammogram
from ..core.model import atomic_write_bytes
from ..core.readers import list_mammograms, read_mammogram
from ..core.readers.cbis_ddsm import CASE_RE as CBIS_CASE_RE
from ..core.readers.ddsm import split_name as ddsm_split_name


@dataclass
class PatchRecipe:
    resolution: int = 128
    spacing_mm: float = 0.4
    tissue_per_image: int = 32
    lesion_per_lesion: int = 16
    lesion_fraction: float | None = None  # lesion diameter / patch; None = keep spacing
    min_breast_fraction: float = 0.95
    # every pixel of a patch comes from the film (see film_area): a window reaching into the
    # padding or past the image edge shows a straight black bar (12 % of mini-MIAS training
    # patches did), which a generator learns to draw and an evaluation counts as real
    within_film: bool = True
    heldout_fraction: float = 0.2
    seed: int = 0


def film_area(pixels: np.ndarray, share: float = 0.95, margin: int = 2) -> np.ndarray:
    """1 on the film, 0 on padding: whole rows and columns at the image's darkest value.

    mini-MIAS pads every digitised film to 1024 x 1024 with black columns (with a stray
    brighter pixel here and there, not always at the image's edge), and the breast reaches the
    film's edge at the chest wall, so the padding's straight edge is not anatomy. A row or
    column counts as padding when `share` of it is at the minimum; lines through the breast
    never are. Rescaling blends the padding's neighbours, so `margin` lines beside it go too.
    """
    dark = pixels <= pixels.min()
    pad_rows = dark.mean(axis=1) >= share
    pad_cols = dark.mean(axis=0) >= share
    grow = np.ones(2 * margin + 1, bool)
    pad_rows = np.convolve(pad_rows, grow, mode="same") > 0
    pad_cols = np.convolve(pad_cols, grow, mode="same") > 0
    return np.outer(~pad_rows, ~pad_cols).astype(np.float32)


INBREAST_RE = re.compile(r"^\d+_([0-9a-f]+)_MG_", re.IGNORECASE)
NO_IDENTITY = "none (one file, one patient)"


def patient_id(path: Path, mammo: Mammogram | None = None) -> tuple[str, str]:
    """(patient, rule): who a film belongs to, so that no patient is on both sides of the split.

    Data sets name their patients in different places: mini-MIAS pairs films 2k-1 and 2k
    (left and right breast); CBIS-DDSM case folders carry P_NNNNN; DDSM view files start with
    the case (A_1234_1.LEFT_CC); INbreast file names carry a patient hash; other DICOM files
    have PatientID. Only a file with none of these counts as its own patient.
    """
    m = re.fullmatch(r"mdb(\d{3})", path.stem.lower())
    if m:
        return f"mias-patient-{(int(m.group(1)) + 1) // 2:03d}", "mini-MIAS film pairs"
    for part in reversed(path.parts[:-1]):
        c = CBIS_CASE_RE.match(part)
        if c:
            return f"cbis-{c.group(3).upper()}", "CBIS-DDSM patient (case folder)"
    d = ddsm_split_name(path)
    if d:
        return f"ddsm-{d[0].rsplit('_', 1)[0].upper()}", "DDSM case (file name)"
    i = INBREAST_RE.match(path.name)
    if i:
        return f"inbreast-{i.group(1).lower()}", "INbreast patient (file name)"
    pid = str(((mammo.info if mammo else None) or {}).get("patient_id") or "").strip()
    if pid:
        return f"dicom-{pid}", "DICOM PatientID"
    return f"file-{path.stem}", NO_IDENTITY


def _rescaled(mammo: Mammogram, spacing_mm: float) -> tuple[np.ndarray, float]:
    src = mammo.spacing_mm[0] if mammo.spacing_mm else spacing_mm
    f = src / spacing_mm
    if abs(f - 1) < 1e-6:
        return mammo.pixels.astype(np.float32), 1.0
    h, w = mammo.pixels.shape
    size = (max(1, round(w * f)), max(1, round(h * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(mammo.pixels.astype(np.float32), size, interpolation=interp), f


def _warp(img, cx, cy, angle, scale, flip, res):
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), float(angle), float(scale))
    m[:, 2] += (res / 2 - cx, res / 2 - cy)
    out = cv2.warpAffine(
        img, m, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out[:, ::-1] if flip else out


def cut_patches(
    mammo: Mammogram, recipe: PatchRecipe, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, int, np.ndarray | None]]:
    """Yield (patch float [0,1], kind 0 tissue / 1 lesion, lesion mask or None)."""
    img, f = _rescaled(mammo, recipe.spacing_mm)
    bmask = breast_mask(img).astype(np.float32)
    res = recipe.resolution
    half = res // 2
    ys, xs = np.nonzero(bmask)
    if len(xs) == 0:
        return
    film = film_area(img)

    def fits(cx, cy, angle, scale, flip, breast_share):
        """Enough breast in the window, and (within_film) no pixel from beyond the film."""
        if recipe.within_film and _warp(film, cx, cy, angle, scale, flip, res).min() < 0.999:
            return False
        return _warp(bmask, cx, cy, angle, scale, flip, res).mean() >= breast_share

    got, tries = 0, 0
    while got < recipe.tissue_per_image and tries < recipe.tissue_per_image * 30:
        tries += 1
        i = rng.integers(len(xs))
        cx, cy = xs[i], ys[i]
        angle = float(rng.choice([0, 90, 180, 270]))
        flip = bool(rng.integers(2))
        if not fits(cx, cy, angle, 1.0, flip, recipe.min_breast_fraction):
            continue
        got += 1
        yield _warp(img, cx, cy, angle, 1.0, flip, res), 0, None
    for lesion in mammo.lesions:
        if lesion.center is None or lesion.radius is None:
            continue
        lcx, lcy = lesion.center[0] * f, lesion.center[1] * f
        r = max(lesion.radius * f, 2.0)
        for _ in range(recipe.lesion_per_lesion):
            scale = 1.0
            if recipe.lesion_fraction:
                scale = np.clip(recipe.lesion_fraction * res / (2 * r), 0.25, 4.0)
            scale *= float(rng.uniform(0.9, 1.1))
            angle = float(rng.uniform(0, 360))
            flip = bool(rng.integers(2))
            shift = rng.uniform(-0.15, 0.15, size=2) * res / scale
            cx, cy = lcx + shift[0], lcy + shift[1]
            if not fits(cx, cy, angle, scale, flip, 0.8):
                continue
            lm = np.zeros(img.shape, np.float32)
            cv2.circle(lm, (int(round(lcx)), int(round(lcy))), int(round(r)), 1.0, -1)
            lmask = _warp(lm, cx, cy, angle, scale, flip, res) > 0.5
            yield _warp(img, cx, cy, angle, scale, flip, res), 1, lmask
    _ = half


def build_dataset(
    source: str | Path,
    out_dir: str | Path,
    recipe: PatchRecipe | None = None,
    progress=None,
) -> dict:
    """Cut patches from every readable image under `source`; write train/held-out npz files."""
    recipe = recipe or PatchRecipe()
    files = list_mammograms(source)
    if not files:
        raise DatasetError(f"no readable images found under {source}")
    # Read every film first: the patient of a DICOM file is in its header.
    rng = np.random.default_rng(recipe.seed)
    films_read = []  # (patient, name, cuts)
    rules: dict[str, int] = {}
    skipped = []
    for i, path in enumerate(files):
        try:
            mammo = read_mammogram(path)
        except ReaderError as exc:
            skipped.append(f"{path.name}: {exc}")
        else:
            pid, rule = patient_id(path, mammo)
            rules[rule] = rules.get(rule, 0) + 1
            films_read.append((pid, path.name, list(cut_patches(mammo, recipe, rng))))
        if progress:
            progress(i + 1, len(files))
    if not films_read:
        raise DatasetError(
            f"none of the {len(files)} images under {source} could be read "
            f"(first: {skipped[0] if skipped else '?'})"
        )
    patients = sorted({f[0] for f in films_read})
    if len(patients) < 2:
        raise DatasetError(
            f"{source} holds images of only {len(patients)} patient; a held-out split needs 2+"
        )
    n_held = max(1, round(len(patients) * recipe.heldout_fraction))
    heldout = set(patients[-n_held:])  # the last patients: a stable, documented split
    out = {s: {"patches": [], "kind": [], "film": [], "masks": []} for s in ("train", "heldout")}
    films = {"train": [], "heldout": []}
    for pid, name, cuts in films_read:
        split = "heldout" if pid in heldout else "train"
        films[split].append(name)
        for patch, kind, lmask in cuts:
            d = out[split]
            d["patches"].append(np.round(np.clip(patch, 0, 1) * 255).astype(np.uint8))
            d["kind"].append(kind)
            d["film"].append(len(films[split]) - 1)
            d["masks"].append(np.zeros((recipe.resolution,) * 2, bool) if lmask is None else lmask)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, d in out.items():
        if not d["patches"]:
            raise DatasetError(f"no {split} patches could be cut from {source}")
        arrays = {
            "patches": np.stack(d["patches"]),
            "kind": np.asarray(d["kind"], np.uint8),
            "film": np.asarray(d["film"], np.int32),
            "masks": np.packbits(np.stack(d["masks"]), axis=-1),
        }
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(out_dir / f"{split}.npz", buf.getvalue())
        counts[split] = {
            "patches": len(d["patches"]),
            "tissue": int((arrays["kind"] == 0).sum()),
            "lesion": int((arrays["kind"] == 1).sum()),
            "films": len(films[split]),
        }
    manifest = {
        "source": str(Path(source).name),
        "recipe": asdict(recipe),
        "split": "by patient; held-out = last patients in sorted order",
        "patients": {
            "train": len(patients) - n_held,
            "heldout": n_held,
            "identified_by": rules,
        },
        "films": films,
        "counts": counts,
        "skipped": skipped,
    }
    alone = rules.get(NO_IDENTITY, 0)
    if alone:
        manifest["note"] = (
            f"{alone} of {len(films_read)} images carry no patient identity (no known data-set "
            "naming, no DICOM PatientID) and count as one patient each: if a patient has "
            "several of them, they can fall on both sides of the split"
        )
    atomic_write_bytes(out_dir / "manifest.json", dumps_strict(manifest, indent=2).encode())
    return manifest


@dataclass
class PatchSet:
    patches: np.ndarray  # uint8 [N, R, R]
    kind: np.ndarray
    film: np.ndarray
    masks: np.ndarray  # bool [N, R, R]

    def __len__(self) -> int:
        return len(self.patches)

    def as_float(self, idx=None) -> np.ndarray:
        """[-1, 1] float32 [N, 1, R, R], the generator's range."""
        p = self.patches if idx is None else self.patches[idx]
        return (p.astype(np.float32) / 127.5 - 1.0)[:, None]


def load_patches(path: str | Path) -> PatchSet:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"patch file not found: {path} (build it with `stimstudio dataset build`)"
        )
    try:
        z = np.load(path)
        patches = z["patches"]
        res = patches.shape[-1]
        masks = np.unpackbits(z["masks"], axis=-1)[..., :res].astype(bool)
        ps = PatchSet(patches, z["kind"], z["film"], masks)
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{path.name} is not a StimStudio patch file: {exc}") from exc
    if len(ps) < 8:
        raise DatasetError(f"{path.name} holds only {len(ps)} patches; training needs at least 8")
    return ps
