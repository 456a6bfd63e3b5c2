"""The export folder's state: manifest, frame journal, resume and removal."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ... import __version__
from ..errors import ExportError
from ..jsonable import dumps_strict
from ..latent import Latent
from ..model import sha256_file
from .job import _device_info, _model_spacing, noise_sha256
from .privacy import sanitize_source
from .settings import (
    DEFAULT_SPACING_MM,
    EXPORT_FORMAT,
    JOURNAL_NAME,
    MANIFEST_NAME,
    SYNTHETIC_LABEL,
    UID_RULE,
    DamagedManifestError,
    ExportResult,
)
from .writers import _ensure_dir, derived_uid, image_sha256

# ------------------------------------------------------------------------------ folder state


def load_manifest(path: str | os.PathLike) -> dict:
    """Read an export manifest (a file, or the folder holding manifest.json)."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST_NAME
    if not p.is_file():
        raise ExportError(f"manifest not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot read {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DamagedManifestError(f"{p} is a damaged manifest (not UTF-8 text)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if p.name != MANIFEST_NAME:
            raise ExportError(f"{p} is not a StimStudio export manifest (not JSON)") from None
        raise DamagedManifestError(
            f"{p} is a damaged manifest (JSON breaks at line {exc.lineno} column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        if p.name == MANIFEST_NAME and isinstance(doc, dict) and "request_sha256" in doc:
            raise DamagedManifestError(f"{p} is a damaged manifest (no 'format')")
        raise ExportError(f"{p} is not a StimStudio export manifest")
    for key in ("request", "request_sha256", "model", "anchors", "output", "compute"):
        if key not in doc:
            raise DamagedManifestError(f"{p} is a damaged manifest (no {key!r})")
    if not all(isinstance(doc[k], dict) for k in ("request", "model", "output", "compute")):
        raise DamagedManifestError(f"{p} is a damaged manifest (a section is not an object)")
    doc["_path"] = str(p)
    return doc


def _read_journal(out: Path) -> dict[int, dict]:
    """Finished frames recorded in the journal; a torn last line is ignored."""
    j = out / JOURNAL_NAME
    done: dict[int, dict] = {}
    if not j.is_file():
        return done
    for line in j.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
            done[int(rec["index"])] = rec
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return done


def _journal_append(out: Path, rec: dict) -> None:
    with open(out / JOURNAL_NAME, "a", encoding="utf-8") as f:
        f.write(dumps_strict(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _listed_files(doc: dict, journal: dict[int, dict]) -> list[str]:
    files = [rel for rec in journal.values() for rel in rec.get("files", {}).values()]
    for fr in doc.get("frames", []):
        files += [f["path"] for f in fr.get("files", {}).values()]
    files += [v for v in (doc.get("files") or {}).values() if isinstance(v, str)]
    files += [a["file"] for a in doc.get("anchors", []) if isinstance(a.get("file"), str)]
    return files


def _remove_export(out: Path) -> None:
    """Delete the files a previous export in `out` lists (and nothing else), and the folders
    of theirs that this leaves empty (png/, anchors/, ...)."""
    doc = None
    try:
        doc = load_manifest(out)
    except ExportError:
        doc = {}
    base = out.resolve()
    emptied = set()
    for rel in set(_listed_files(doc, _read_journal(out))):
        p = (out / rel).resolve()
        if base in p.parents and p.is_file():
            p.unlink()
            emptied.update(d for d in p.parents if base in d.parents)
    for d in sorted(emptied, key=lambda d: len(d.parts), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    for name in (MANIFEST_NAME, JOURNAL_NAME):
        if (out / name).is_file():
            (out / name).unlink()


def remove_incomplete_export(out_dir: str | os.PathLike) -> None:
    """Throw away an interrupted export (the app's "discard" after a cancel)."""
    out = Path(out_dir)
    try:
        doc = load_manifest(out)
    except ExportError:
        return
    if not doc.get("complete"):
        _remove_export(out)


def export_status(out_dir: str | os.PathLike) -> str:
    """ "missing" | "empty" | "complete" | "incomplete" | "damaged" (a manifest.json that
    cannot be read) | "other" (files but no export)."""
    out = Path(out_dir)
    if not out.exists():
        return "missing"
    if not out.is_dir():
        return "other"
    if not any(out.iterdir()):
        return "empty"
    try:
        doc = load_manifest(out)
    except DamagedManifestError:
        return "damaged"
    except ExportError:
        return "other"
    return "complete" if doc.get("complete") else "incomplete"


def _frame_files_ok(out: Path, rec: dict) -> bool:
    try:
        for f in rec["files"].values():
            p = out / f["path"]
            if not p.is_file() or sha256_file(p) != f["sha256"]:
                return False
        return bool(rec["files"]) and isinstance(rec.get("image_sha256"), str)
    except (KeyError, TypeError, AttributeError):
        return False


def _result_from_manifest(out: Path, doc: dict) -> ExportResult:
    d = doc.get("distances") or {}
    return ExportResult(
        out,
        out / MANIFEST_NAME,
        doc["request"]["kind"],
        doc.get("frames", []),
        doc.get("files", {}),
        d.get("steps") or [],
        d.get("cv"),
        0,
        len(doc.get("frames", [])),
        already_complete=True,
    )


def _new_manifest(job, model, compute, request, request_sha, out, data_root, near, guard):
    settings = job.settings
    spacing = settings.pixel_spacing_mm
    spacing_src = "user"
    if spacing is None:
        spacing = _model_spacing(model)
        spacing_src = "model card"
    if spacing is None:
        spacing, spacing_src = DEFAULT_SPACING_MM, "default (the model card records none)"
    anchors = []
    for name, a, nr in zip(job.anchor_names, job.anchors, near):
        entry = {
            "name": name,
            "model_sha256": a.latent.model_sha256,
            "source": sanitize_source(a.latent.source, data_root, nr, guard),
            "shape": list(a.latent.wplus.shape),
            "wplus_sha256": image_sha256(a.latent.wplus),
        }
        noise = a.latent.noise
        if noise is not None:  # maps of 128x128 numbers: always a file, never inline JSON
            entry["noise_sha256"] = noise_sha256(noise)
        if a.latent.orientation != "as-generated":  # core.orientation; absent: as generated
            entry["orientation"] = a.latent.orientation
        if settings.latents == "files" or noise is not None:
            rel = f"anchors/{name}.latent.npz"
            turned = a.latent.orientation
            Latent(
                a.latent.wplus, entry["source"], a.latent.model_sha256, noise, orientation=turned
            ).save(_ensure_dir(out / rel))
            entry["file"] = rel
            entry["sha256"] = sha256_file(out / rel)
        else:
            entry["wplus"] = [[float(x) for x in row] for row in a.latent.wplus]
        anchors.append(entry)
    seeds = [a["source"].get("seed") if isinstance(a["source"], dict) else None for a in anchors]
    doc = {
        "format": EXPORT_FORMAT,
        "version": 1,
        "complete": False,
        "synthetic": SYNTHETIC_LABEL,
        "software": {"name": "stimstudio", "version": __version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "request": request,
        "request_sha256": request_sha,
        "model": {
            "name": model.name,
            "file": str(Path(model.path).resolve()) if model.path else None,
            "sha256": model.sha256,
            "short_name": model.short_name,  # what --weights accepts
            "resolution": model.resolution,
            "spacing_mm": model.tag()["spacing_mm"],
            "num_ws": model.num_ws,
            "w_dim": model.w_dim,
            "kimg": (model.card or {}).get("kimg"),
        },
        "compute": _device_info(compute),
        "continuum": {
            "id": job.cid,
            "kind": job.kind,
            "frames": job.frames,
            "loop": job.loop,
            "method": job.method,
            "spacing": job.spacing,
            "metric": job.metric,
            "segments": job.segments if job.kind == "continuum" else None,
            "positions": job.positions,
            # measured when the spacing was found (None: measured frame by frame)
            "step_distances": job.spacing_distances,
        },
        "anchors": anchors,
        "seeds": seeds,
        "sources": "file references are paths relative to the data-set root (or bare names) "
        "plus sha256; no header field of any source image is copied",
        "output": {
            **settings.output_dict(),
            "native_size": model.resolution,
            "output_size": settings.size or model.resolution,
            "tiff_bits": 16,
            "dicom_bits": 16,
            "pixel_spacing_mm": spacing,
            "pixel_spacing_source": spacing_src,
            "output_pixel_spacing_mm": spacing
            * model.resolution
            / (settings.size or model.resolution),
        },
    }
    if "dicom" in settings.formats:
        doc["dicom_uids"] = job.dicom_uids or {
            "study_uid": derived_uid(request_sha, "study"),
            "series_uid": derived_uid(request_sha, "series"),
            "rule": UID_RULE,
        }
    return doc
