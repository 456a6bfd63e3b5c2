"""A search set's spec file (TOML or JSON, read like `stimstudio batch`'s):

out = "searchset"            # relative to the spec file
seed = 7                     # everything random (films, places, order) follows from it
films = ["mias/"]            # files, folders or glob patterns
normal_only = true           # only films without annotated lesions (mini-MIAS: NORM)
count = 10                   # films with a lesion, and as many without
paired = false               # true: the same films with and without (a within-film design)
reuse_films = false          # true: fewer films than asked are taken again, each time with a
                             # lesion at a new place (a few sample films give a 10 + 10 set)
lesions_per_film = 1
contrast = 0.5               # gain of the lesion's contrast against its surround (1 = own)
skin_mm = 5                  # no lesion within this of the skin line
keep_away_mm = 10            # ... nor within this of the film's own annotated lesions
separation_mm = 10           # between lesions in one film
pectoral = "auto"            # exclude the muscle on MLO views; "mlo": always; "none"
format = "same"              # film files: same kind as the source, or png / tiff / dicom
weights = "m.safetensors"    # optional: the model (its pixel size; renders seed lesions)

[[lesion]]                   # a compose result folder (optimized.png + mask.png)
result = "compose-out"
[[lesion]]                   # a frame or anchor image with its mask
image = "frame0007.png"
mask = "mask.png"
contrast = 0.8               # this lesion's gain (else the set's)
[[lesion]]                   # a seed rendered by the model, outlined by a disc
seed = 12
radius_mm = 5
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OptionError
from ..specfile import read_spec_document
from .filmfile import KINDS
from .insert import FEATHER_MM

TOP_KEYS = {
    "out", "seed", "films", "normal_only", "count", "paired", "reuse_films", "lesions_per_film",
    "contrast",
    "skin_mm", "keep_away_mm", "separation_mm", "pectoral", "format", "weights", "lesion",
    "pixel_size_mm", "feather_mm",
}  # fmt: skip
LESION_KEYS = {"result", "method", "image", "mask", "seed", "radius_mm", "contrast", "name"}
DEFAULTS = {
    "seed": 0, "normal_only": True, "paired": False, "reuse_films": False, "lesions_per_film": 1,
    "contrast": 1.0,
    "skin_mm": 5.0, "keep_away_mm": 10.0, "separation_mm": 10.0, "pectoral": "auto",
    "format": "same", "weights": None, "pixel_size_mm": None, "feather_mm": FEATHER_MM,
}  # fmt: skip
PECTORAL = ("auto", "mlo", "none")


@dataclass
class LesionSpec:
    kind: str  # "result" | "image" | "seed"
    name: str
    path: Path | None = None
    mask: Path | None = None
    method: str = "optimized"
    seed: int | None = None
    radius_mm: float | None = None
    contrast: float | None = None


@dataclass
class SearchSetSpec:
    out: Path
    films: list[Path]
    lesions: list[LesionSpec]
    count: int
    seed: int = 0
    normal_only: bool = True
    paired: bool = False
    reuse_films: bool = False  # fewer films than needed: take them again (new places each time)
    lesions_per_film: int = 1
    contrast: float = 1.0
    skin_mm: float = 5.0
    keep_away_mm: float = 10.0
    separation_mm: float = 10.0
    pectoral: str = "auto"
    format: str = "same"
    weights: Path | None = None
    pixel_size_mm: float | None = None  # for films whose files do not say theirs
    feather_mm: float = FEATHER_MM  # the outline's feather in the film (Gaussian sigma)
    doc: dict = field(default_factory=dict)  # the document as read (for the manifest)
    base: Path = Path(".")  # the spec file's folder: paths are relative to it


def _fail(where: str, msg: str):
    raise OptionError(f"{where}: {msg}")


def _num(doc, key, where, lo=0.0, hi=None, whole=False):
    v = doc.get(key, DEFAULTS.get(key))
    ok = isinstance(v, int) if whole else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or v < lo or (hi is not None and v > hi):
        rng = f"{lo:g}..{hi:g}" if hi is not None else f"at least {lo:g}"
        _fail(where, f"{key} must be {'a whole number' if whole else 'a number'} {rng}, got {v!r}")
    return v


def _bool(doc, key, where):
    v = doc.get(key, DEFAULTS[key])
    if not isinstance(v, bool):
        _fail(where, f"{key} must be true or false, got {v!r}")
    return v


def _films(items, base: Path, where: str) -> list[Path]:
    """Film files from names, folders and glob patterns (relative to the spec), sorted, once."""
    from ..readers import list_mammograms

    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        _fail(where, "films must be a list of files, folders or patterns")
    out: list[Path] = []
    for item in items:
        p = base / item
        if p.is_dir():
            out += list_mammograms(p)
        elif glob.has_magic(item):
            found = sorted(Path(f) for f in glob.glob(str(p)) if Path(f).is_file())
            if not found:
                _fail(where, f"no film matches {item!r}")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            _fail(where, f"film {item!r} not found")
    return sorted(dict.fromkeys(p.resolve() for p in out))


def _lesion(d, i: int, base: Path, where: str) -> LesionSpec:
    w = f"{where} lesion {i + 1}"
    if not isinstance(d, dict):
        _fail(w, "must be a table")
    bad = sorted(set(d) - LESION_KEYS)
    if bad:
        _fail(w, f"unknown key {bad[0]!r} (allowed: {', '.join(sorted(LESION_KEYS))})")
    kinds = [k for k in ("result", "image", "seed") if k in d]
    if len(kinds) != 1:
        _fail(w, "give exactly one of result (a compose folder), image (+ mask) or seed")
    gain = None if "contrast" not in d else _num(d, "contrast", w, 0.0, 4.0)
    kind = kinds[0]
    if kind == "seed":
        seed = _num(d, "seed", w, 0, whole=True)
        if "radius_mm" not in d:
            _fail(w, "a seed lesion needs radius_mm (its outline: a disc at the patch centre)")
        return LesionSpec("seed", str(d.get("name") or f"seed{seed}"), seed=seed,
                          radius_mm=float(_num(d, "radius_mm", w, 0.1)), contrast=gain)  # fmt: skip
    path = base / str(d[kind])
    if kind == "result":
        if not path.is_dir():
            _fail(w, f"compose result folder {d[kind]!r} not found")
        return LesionSpec("result", str(d.get("name") or path.name), path,
                          method=str(d.get("method", "optimized")), contrast=gain)  # fmt: skip
    if "mask" not in d:
        _fail(w, 'an image lesion needs its mask (mask = "mask.png")')
    mask = base / str(d["mask"])
    for f in (path, mask):
        if not f.is_file():
            _fail(w, f"{f.name} not found")
    return LesionSpec("image", str(d.get("name") or path.stem), path, mask, contrast=gain)


def parse_spec(doc: dict, base: Path, name: str = "spec") -> SearchSetSpec:
    """A spec document -> SearchSetSpec; every problem is one OptionError naming the key."""
    bad = sorted(set(doc) - TOP_KEYS)
    if bad:
        _fail(name, f"unknown key {bad[0]!r} (allowed: {', '.join(sorted(TOP_KEYS))})")
    for key in ("out", "films", "count", "lesion"):
        if key not in doc:
            _fail(name, f"{key} is missing")
    if not isinstance(doc["out"], str) or not doc["out"].strip():
        _fail(name, "out must be a folder name")
    lesions = doc["lesion"] if isinstance(doc["lesion"], list) else [doc["lesion"]]
    if not lesions:
        _fail(name, "give at least one [[lesion]]")
    pect = doc.get("pectoral", "auto")
    if pect not in PECTORAL:
        _fail(name, f"pectoral must be one of {', '.join(PECTORAL)}, got {pect!r}")
    fmt = doc.get("format", "same")
    if fmt not in ("same", *KINDS):
        _fail(name, f"format must be one of same, {', '.join(KINDS)}, got {fmt!r}")
    weights = doc.get("weights")
    if weights is not None and not isinstance(weights, str):
        _fail(name, "weights must be a file name")
    specs = [_lesion(d, i, base, name) for i, d in enumerate(lesions)]
    names = [les.name for les in specs]
    if len(set(names)) != len(names):
        _fail(name, "two lesions have the same name; give each a name")
    return SearchSetSpec(
        out=base / doc["out"],
        films=_films(doc["films"], base, name),
        lesions=specs,
        count=_num(doc, "count", name, 1, whole=True),
        seed=_num(doc, "seed", name, 0, whole=True),
        normal_only=_bool(doc, "normal_only", name),
        paired=_bool(doc, "paired", name),
        reuse_films=_bool(doc, "reuse_films", name),
        lesions_per_film=_num(doc, "lesions_per_film", name, 1, 20, whole=True),
        contrast=float(_num(doc, "contrast", name, 0.0, 4.0)),
        skin_mm=float(_num(doc, "skin_mm", name)),
        keep_away_mm=float(_num(doc, "keep_away_mm", name)),
        separation_mm=float(_num(doc, "separation_mm", name)),
        pectoral=pect,
        format=fmt,
        weights=None if weights is None else base / weights,
        feather_mm=float(_num(doc, "feather_mm", name, 0.0, 20.0)),
        pixel_size_mm=None
        if doc.get("pixel_size_mm") is None
        else float(_num(doc, "pixel_size_mm", name, 0.01, 5.0)),
        doc=doc,
        base=base,
    )


def load_spec(path: str | os.PathLike) -> SearchSetSpec:
    """Read a search set spec; paths inside are relative to its folder."""
    p = Path(path)
    doc = read_spec_document(p, "search set spec")
    return parse_spec(doc, p.resolve().parent, p.name)
