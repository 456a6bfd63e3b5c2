"""Make a search set: films with and without an inserted lesion, truth, conditions, manifest.

`run_searchset(spec)` is a generator: it yields a progress record per film and returns the
result. Everything that can be wrong with the input (the spec, a film, a lesion, a placement
that does not fit) is found while planning, before the set's folder is made, so a refused
spec leaves nothing behind. Every file is written atomically (temporary name, then rename).

Resume: a folder holding `.searchset` (written first, with the request's hash) or a finished
manifest of the same request is continued; every film is computed again (cheap: no generator
runs per film) and a file already there with exactly the bytes it should have is kept, not
rewritten. The manifest comes last: a set without one is unfinished.

Reproduction: the manifest holds the spec, the seed, the sha256 of every input (films, lesion
files, model) and of every written file; `regenerate_searchset` makes the set again in a new
folder and compares byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ... import __version__
from ..errors import ExportError
from ..export.job import _model_spacing
from ..export.privacy import LeakGuard
from ..export.settings import DEFAULT_SPACING_MM
from ..export.writers import _canonical, _write, _write_if_changed
from ..model import sha256_file
from . import lesion as lesion_mod
from .breast import film_spacing
from .filmfile import SUFFIX, film_bytes, film_kind
from .insert import place
from .plan import Plan, make_plan, open_film
from .stored import to_stored
from .truth import conditions_csv, display_png, mask_png, truth_csv

FORMAT = "stimstudio-searchset/1"
MANIFEST = "manifest.json"
MARKER = ".searchset"


@dataclass
class Progress:
    done: int
    total: int
    film: str


@dataclass
class SearchSetResult:
    out: Path
    films: list[dict]
    written: int
    kept: int
    notes: list[str] = field(default_factory=list)
    manifest: Path | None = None


def load_lesions(spec, model) -> tuple[list, float, list[str]]:
    """The spec's lesions as `LesionPatch`es at the model's resolution and pixel size."""
    notes = []
    spacing = _model_spacing(model)
    if spacing is None:
        spacing = DEFAULT_SPACING_MM
        notes.append(f"the model card records no pixel size; lesions taken at {spacing:g} mm")
    R = model.resolution
    out = []
    for ls in spec.lesions:
        if ls.kind == "seed":
            out.append(lesion_mod.from_seed(model, ls.seed, ls.radius_mm, spacing, ls.name))
        elif ls.kind == "result":
            out.append(lesion_mod.from_result(ls.path, R, spacing, ls.method, ls.name))
        else:
            out.append(lesion_mod.from_files(ls.path, ls.mask, R, spacing, ls.name))
    return out, spacing, notes


def _inputs(spec, plan: Plan) -> dict:
    """Every input file as {name: sha256}: the films used and the lesions' files."""
    films = sorted({spec.films[f.source] for f in plan.films})
    files = {"films": {p.name: sha256_file(p) for p in films}, "lesions": {}}
    for ls in spec.lesions:
        if ls.kind == "result":
            for f in sorted(ls.path.glob("*.png")) + sorted(ls.path.glob("metrics.json")):
                files["lesions"][f"{ls.path.name}/{f.name}"] = sha256_file(f)
        elif ls.kind == "image":
            for f in (ls.path, ls.mask):
                files["lesions"][f.name] = sha256_file(f)
    return files


def _source_name(path: Path, guard: LeakGuard) -> str:
    """The source film's name, or "" where it holds an identifier of the film's header."""
    guard.add_dicom(path)
    return "" if guard.find(path.name) else path.name


def _check_folder(out: Path, key: str, force: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    marker, manifest = out / MARKER, out / MANIFEST
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == key:
        return  # this request, unfinished or finished: resume
    if force:
        return
    if manifest.is_file() or marker.is_file():
        raise ExportError(
            f"{out} holds a search set made from another spec; pass --force to replace it"
        )
    if any(out.iterdir()):
        raise ExportError(f"{out} exists and is not empty; choose another out or pass --force")


def run_searchset(
    spec, model, force: bool = False, out: Path | None = None, spec_folder: str | None = None
):
    """Make the set (module doc); yields `Progress`, returns `SearchSetResult`. `spec_folder`:
    the spec's folder as the manifest records it (regeneration keeps the original's)."""
    lesions, spacing, notes = load_lesions(spec, model)
    plan = make_plan(spec, lesions)
    notes += plan.notes
    inputs = _inputs(spec, plan)
    request = {
        "spec": spec.doc,
        "inputs": inputs,
        "model": {"name": model.name, "sha256": model.sha256},
        "lesion_pixel_size_mm": spacing,
        "software": __version__,
    }
    key = hashlib.sha256(_canonical(request)).hexdigest()
    out = Path(out or spec.out)
    _check_folder(out, key, force)
    out.mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    (out / "display").mkdir(exist_ok=True)
    _write_if_changed(out / MARKER, key.encode())
    files: dict[str, str] = {}
    written = kept = 0

    def put(rel: str, data: bytes) -> None:
        nonlocal written, kept
        p = out / rel
        digest = hashlib.sha256(data).hexdigest()
        same = p.is_file() and p.stat().st_size == len(data) and sha256_file(p) == digest
        if not same:
            _write(p, data)
        kept += same
        written += not same
        files[rel] = digest

    guard = LeakGuard()
    records = []
    width = max(3, len(str(len(plan.films))))
    for i, pf in enumerate(plan.films):
        mammo = open_film(spec, pf.source)
        kind = film_kind(mammo) if spec.format == "same" else spec.format
        stem = f"film{pf.number:0{width}d}"
        name = stem + SUFFIX[kind]
        pixels = mammo.pixels
        changed = np.zeros(pixels.shape, bool)
        rec = {"file": name, "display": f"display/{stem}.png", "lesions": []}
        rec["source_film"] = _source_name(spec.films[pf.source], guard)
        for j, pl in enumerate(pf.placements):
            les = lesions[pl.lesion]
            gain = spec.lesions[pl.lesion].contrast
            gain = spec.contrast if gain is None else gain
            placed = place(pixels, film_spacing(mammo), les, (pl.x, pl.y), gain, spec.feather_mm)
            pixels = placed.pixels
            x0, y0, x1, y1 = placed.window
            changed[y0:y1, x0:x1] |= placed.changed
            mask_rel = f"masks/{stem}_{j + 1}.png"
            put(mask_rel, mask_png(placed.outline))
            for n in placed.notes:
                if n not in notes:
                    notes.append(n)
            rec["lesions"].append(
                {
                    "lesion": les.name,
                    "x": placed.centre[0],
                    "y": placed.centre[1],
                    "radius_px": placed.radius_px,
                    "radius_mm": placed.radius_mm,
                    "contrast": placed.contrast,
                    "gain": gain,
                    "seam": placed.seam,
                    "edge": placed.edge,
                    "kept": placed.kept,
                    "mask_file": mask_rel,
                }
            )
        raw = to_stored(mammo, pixels, changed)
        put(name, film_bytes(mammo, raw, kind, key, pf.number))
        put(rec["display"], display_png(pixels))
        records.append(rec)
        yield Progress(i + 1, len(plan.films), name)
    put("truth.csv", truth_csv(records).encode())
    put("conditions.csv", conditions_csv(records).encode())
    manifest = {
        "format": FORMAT,
        "request_sha256": key,
        "seed": spec.seed,
        "spec_folder": spec_folder or os.path.relpath(spec.base, out.resolve()),
        **request,
        "films": records,
        "notes": notes,
        "files": dict(sorted(files.items())),
    }
    from ..jsonable import dumps_strict

    _write_if_changed(out / MANIFEST, dumps_strict(manifest, indent=2).encode())
    return SearchSetResult(out, records, written, kept, notes, out / MANIFEST)


def is_searchset_manifest(path) -> bool:
    """Whether `path` (a file or its folder) is a search set's manifest."""
    p = Path(path)
    p = p / MANIFEST if p.is_dir() else p
    try:
        return json.loads(p.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False
