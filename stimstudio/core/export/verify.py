"""Regenerate and verify an export: files against their sha256, every frame rendered and
encoded again and compared bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..device import Compute
from ..errors import CheckpointError, ExportError
from ..interpolate import Anchor
from ..latent import Latent, load_latent
from ..model import Model, sha256_file
from ..orientation import ORIENTATIONS
from .job import (
    _check_anchors,
    _encode_frame,
    _exact,
    _frame_files,
    _Job,
    _render,
    noise_sha256,
)
from .manifest import load_manifest
from .run import _run
from .settings import DamagedManifestError, ExportProgress, ExportSettings, ModelMismatchError
from .writers import _sha256, image_sha256


@dataclass
class RegenerateResult:
    """What `regenerate` found. `ok` only when every check passed."""

    manifest: Path
    frames: int
    identical: int  # frames whose fresh render matches the recorded generator output
    differing: list[int]  # frames whose fresh render does not
    model_differs: bool
    notes: list[str]
    out_dir: Path | None = None
    # The export folder's own files (relative paths), checked against the manifest's sha256:
    missing_files: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    unverified_files: list[str] = field(default_factory=list)  # no sha256 recorded (older)
    # Files whose freshly encoded bytes (or, with out_dir, the regenerated files) differ from
    # the bytes the manifest records:
    bytes_differ: list[str] = field(default_factory=list)
    # With out_dir: manifest keys whose regenerated value differs (times, model path and
    # compute environment are not compared; environment changes are notes).
    manifest_differs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.differing
            and not self.model_differs
            and self.identical == self.frames
            and not self.missing_files
            and not self.changed_files
            and not self.bytes_differ
            and not self.manifest_differs
        )

    def problems(self) -> list[str]:
        """One line per failed check, naming frames and files (empty when `ok`)."""
        out = []

        def names(xs, n=8):
            more = f" and {len(xs) - n} more" if len(xs) > n else ""
            return ", ".join(map(str, xs[:n])) + more

        if self.differing:
            out.append(
                f"{len(self.differing)} of {self.frames} frames render differently from the "
                f"manifest: frame {names(self.differing)}"
            )
        if self.missing_files:
            out.append(f"missing from the export folder: {names(self.missing_files)}")
        if self.changed_files:
            out.append(f"changed since the export (sha256): {names(self.changed_files)}")
        if self.bytes_differ:
            out.append(
                f"encoded again, these files' bytes differ from the manifest's record: "
                f"{names(self.bytes_differ)}"
            )
        if self.manifest_differs:
            out.append(f"the regenerated manifest differs in: {names(self.manifest_differs)}")
        return out


# Manifest keys a regenerated manifest may change: when, where the model file was, and the
# software environment (reported in notes when it differs).
_VOLATILE = {"created", "finished", "_path", "compute"}


def _inside(base: Path, rel: str) -> Path:
    if not isinstance(rel, str):
        raise ExportError(f"a damaged manifest: a file name is {rel!r}")
    p = (base / rel).resolve()
    if base.resolve() not in p.parents:
        raise ExportError(f"a damaged manifest: the file {rel!r} is outside its folder")
    return p


def listed_files(doc: dict) -> list[tuple[str, str | None]]:
    """Every file a finished manifest lists, with its recorded sha256 (None: not recorded)."""
    out: dict[str, str | None] = {}
    for fr in doc.get("frames") or []:
        for f in (fr.get("files") or {}).values():
            out[f["path"]] = f.get("sha256")
    recorded = doc.get("files_sha256") or {}
    for name in (doc.get("files") or {}).values():
        if isinstance(name, str):
            out[name] = recorded.get(name)
    for a in doc.get("anchors") or []:
        if isinstance(a.get("file"), str):
            out[a["file"]] = a.get("sha256")
    return list(out.items())


def verify_files(doc: dict, base: str | os.PathLike | None = None):
    """Check every file a manifest lists against its recorded sha256.

    Returns (missing, changed, unverified) lists of relative paths; `base` defaults to the
    manifest's folder.
    """
    base = Path(base) if base is not None else Path(doc["_path"]).parent
    missing, changed, unverified = [], [], []
    try:
        items = listed_files(doc)
    except (KeyError, TypeError, AttributeError):
        raise DamagedManifestError(
            f"{doc.get('_path', 'the manifest')} is a damaged manifest (file records)"
        ) from None
    for rel, sha in items:
        p = _inside(base, rel)
        if not p.is_file():
            missing.append(rel)
        elif sha is None:
            unverified.append(rel)
        elif sha256_file(p) != sha:
            changed.append(rel)
    return missing, changed, unverified


def manifest_differences(old: dict, new: dict) -> list[str]:
    """Dotted keys where two manifests differ (times, model path and compute excluded)."""
    diffs = []

    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                key = f"{prefix}{k}"
                if key in _VOLATILE or key == "model.file":
                    continue
                walk(a.get(k, _ABSENT), b.get(k, _ABSENT), key + ".")
        elif {id(a), id(b)} == {id(_ABSENT), id(None)}:
            pass  # a key an older manifest did not have, empty in the new one
        elif a != b:
            diffs.append(prefix.rstrip("."))

    walk(old, new, "")
    return diffs


_ABSENT = object()


def _environment_notes(old: dict, new: dict) -> list[str]:
    a, b = old.get("compute") or {}, new.get("compute") or {}
    return [
        f"{k} was {a.get(k)}, now {b.get(k)}"
        for k in sorted(set(a) | set(b))
        if k != "describe" and a.get(k) != b.get(k)
    ]


def _manifest_anchors(doc: dict, base: Path) -> list[Anchor]:
    anchors = []
    for k, a in enumerate(doc["anchors"]):
        name = a.get("name") or f"anchor{k}"
        noise = None
        if "wplus" in a:
            if a.get("noise_sha256"):
                raise ExportError(f"anchor {name!r} records noise maps but no file that holds them")
            try:
                w = np.asarray(a["wplus"], np.float32)
            except (TypeError, ValueError):
                raise ExportError(f"anchor {name!r} in the manifest has a damaged latent") from None
        elif "file" in a:
            f = base / a["file"]
            if not f.is_file():
                raise ExportError(f"anchor file {a['file']} of the manifest is missing")
            if a.get("sha256") and sha256_file(f) != a["sha256"]:
                raise ExportError(f"anchor file {a['file']} changed since the export (sha256)")
            lat = load_latent(f)
            w, noise = lat.wplus, lat.noise
            recorded = a.get("noise_sha256")
            if (noise is None) != (recorded is None) or (
                noise is not None and noise_sha256(noise) != recorded
            ):
                raise ExportError(f"anchor {name!r} does not match its recorded noise maps")
        else:
            raise ExportError(f"anchor {name!r} in the manifest has neither a latent nor a file")
        if a.get("wplus_sha256") and image_sha256(w) != a["wplus_sha256"]:
            raise ExportError(f"anchor {name!r} does not match its recorded sha256")
        src = a.get("source") if isinstance(a.get("source"), dict) else {}
        turned = a.get("orientation", "as-generated")  # manifests before it: as generated
        if turned not in ORIENTATIONS:
            raise ExportError(f"anchor {name!r} records an unknown orientation {turned!r}")
        lat = Latent(w, src, a.get("model_sha256"), noise, orientation=turned)
        anchors.append(Anchor(name, lat))
    return anchors


def _recorded_steps(doc: dict) -> list[float] | None:
    """The step distances a finished manifest records (frames-1 [+ closing]), or None."""
    c = doc["continuum"]
    if c.get("step_distances") is not None:
        return [float(x) for x in c["step_distances"]]
    if c.get("kind") != "continuum" or not c.get("metric"):
        return None
    steps = [f.get("step_distance") for f in doc["frames"][1:]]
    closing = (doc.get("distances") or {}).get("closing")
    if any(x is None for x in steps) or (c.get("loop") and closing is None):
        return None
    return [float(x) for x in steps] + ([float(closing)] if c.get("loop") else [])


def settings_from_manifest(doc: dict) -> ExportSettings:
    """The settings as requested (request.output): `output` holds resolved values (e.g. the
    pixel spacing taken from the model card), which would change the request's sha256."""
    o = dict((doc.get("request") or {}).get("output") or doc["output"])
    keys = {f for f in ExportSettings.__dataclass_fields__ if f != "data_root"}
    o = {k: o[k] for k in keys if k in o}
    if "formats" in o:
        o["formats"] = tuple(o["formats"])  # a JSON list
    s = ExportSettings(**o)
    s.validate()
    return s


def manifest_model_path(doc: dict) -> Path | None:
    """Where the manifest says its model file was (relative paths: to the manifest)."""
    f = (doc.get("model") or {}).get("file")
    if not f:
        return None
    p = Path(f)
    if not p.is_absolute():
        p = Path(doc["_path"]).parent / p
    return p


def check_model_for(doc: dict, model: Model) -> str | None:
    """None when `model` is the manifest's model; else one sentence saying how it differs."""
    want = (doc.get("model") or {}).get("sha256")
    if model.sha256 == want:  # (both None: an unsaved model, nothing to compare)
        return None
    have = model.sha256 or "an unsaved model"
    name = model.path.name if model.path else "the given model"
    return (
        f"the model file differs from the one this export was made with: {name} has sha256 "
        f"{have[:12]}…, the manifest records {str(want)[:12]}… "
        f"({doc['model'].get('name')}); frames made with it will not match"
    )


def iter_regenerate(
    manifest: str | os.PathLike | dict,
    model: Model,
    out_dir: str | os.PathLike | None = None,
    compute: Compute | None = None,
    allow_other_model: bool = False,
    should_stop: Callable[[], bool] | None = None,
    overwrite: bool = False,
) -> Iterator[ExportProgress]:
    """Check an export: its files on disk, and every frame rendered and encoded again.

    Every file the manifest lists is checked against its sha256 (missing and changed files
    are named). Every frame is rendered again and compared bit for bit with the recorded
    generator output, and encoded again and compared byte for byte with the recorded files.
    With `out_dir`, a full export is written there instead of encoding in memory; its files
    and manifest are compared with the original. A model other than the manifest's raises
    ModelMismatchError unless `allow_other_model`. The last record's `result` is a
    `RegenerateResult`.
    """
    doc = (
        manifest
        if isinstance(manifest, dict) and "request" in manifest
        else load_manifest(manifest)
    )
    if not doc.get("complete"):
        raise ExportError("this export is incomplete (interrupted); resume it before regenerating")
    mpath = Path(doc["_path"])
    notes = []
    differs = check_model_for(doc, model)
    if differs and not allow_other_model:
        raise ModelMismatchError(differs)
    if differs:
        notes.append(differs)
    dev_type = doc["compute"].get("type")
    precision = doc["compute"].get("precision", "fp32")
    if compute is None:
        compute = Compute(next(model.G.parameters()).device, precision)
    if compute.device.type != dev_type:
        notes.append(
            f"made on {dev_type}, rendered on {compute.device.type}: bits may differ across "
            "device types"
        )
    if compute.precision != precision:
        notes.append(f"made at {precision}, rendered at {compute.precision}")
    threads = doc["compute"].get("cpu_threads")
    try:
        c = doc["continuum"]
        job = _Job(
            c["kind"],
            c["id"],
            _manifest_anchors(doc, mpath.parent),
            int(c["frames"]),
            bool(c["loop"]),
            c["method"],
            c["spacing"],
            c["metric"],
            settings_from_manifest(doc),
            positions=[float(p) for p in c["positions"]],
            dicom_uids=doc.get("dicom_uids"),
            spacing_distances=c.get("step_distances"),
        )
        job.known_steps = _recorded_steps(doc)
        want = {int(f["index"]): f["image_sha256"] for f in doc["frames"]}
        recorded = {
            int(f["index"]): {k: v["sha256"] for k, v in f["files"].items()} for f in doc["frames"]
        }
        names = [a["name"] for a in doc["anchors"]]
        missing, changed, unverified = verify_files(doc, mpath.parent)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ExportError(f"{mpath} is a damaged manifest ({exc!r})") from None
    if len(job.positions) != job.frames or len(want) != job.frames:
        raise ExportError(f"{mpath} is a damaged manifest (frame count)")
    job.anchor_names = names
    if unverified:
        notes.append(
            f"{len(unverified)} file(s) listed without a recorded sha256 (an older manifest): "
            + ", ".join(unverified)
        )
    uids = doc.get("dicom_uids") or {}
    old_uids = "dicom" in job.settings.formats and not uids.get("rule")
    if old_uids:
        notes.append(
            "this export's DICOM instance UIDs were random (made before UIDs were derived from "
            "the request): its DICOM files cannot be made byte-identical and are not compared"
        )
    if differs and allow_other_model:
        for a in job.anchors:  # the user accepted another model: do not refuse the latents
            a.latent.model_sha256 = model.sha256

    def result(identical, differing, bytes_differ, out=None, manifest_differs=()):
        return RegenerateResult(
            mpath,
            job.frames,
            identical,
            differing,
            bool(differs),
            notes,
            out,
            missing,
            changed,
            unverified,
            bytes_differ,
            list(manifest_differs),
        )

    def compare_bytes(i: int, files: dict[str, str]) -> list[str]:
        rels = _frame_files(job, i)
        return [
            rels[k]
            for k, sha in files.items()
            if not (old_uids and k == "dicom") and recorded.get(i, {}).get(k) != sha
        ]

    identical, differing, bytes_differ = 0, [], []
    if out_dir is not None:
        if Path(out_dir).resolve() == mpath.parent.resolve():
            raise ExportError("regenerate into a new folder, not the export being checked")
        for rec in _run(job, model, out_dir, compute, should_stop, False, overwrite, threads):
            if rec.finished and not rec.cancelled:
                for f in rec.result.frames:
                    i = f["index"]
                    if want.get(i) == f["image_sha256"]:
                        identical += 1
                    else:
                        differing.append(i)
                    bytes_differ += compare_bytes(
                        i, {k: v["sha256"] for k, v in f["files"].items()}
                    )
                new = load_manifest(out_dir)
                old_extra = doc.get("files_sha256") or {}
                bytes_differ += [
                    n
                    for n, sha in (new.get("files_sha256") or {}).items()
                    if n in old_extra and old_extra[n] != sha
                ]
                skip = {"dicom_uids"} if old_uids else set()
                # an export made before the task files (issue 42): their new entries are not
                # differences of what it made
                no_task = not any(str(k).startswith("task:") for k in doc.get("files") or {})
                mdiff = [
                    k
                    for k in manifest_differences(doc, new)
                    if k.split(".")[0] not in skip
                    and not (
                        no_task and k.startswith(("files.task:", "files_sha256.adjustment_task"))
                    )
                    and not (old_uids and k.startswith("frames.") or k == "frames")
                    and not (k == "files_sha256" and not old_extra)
                ]
                notes.extend(_environment_notes(doc, new))
                res = result(identical, differing, bytes_differ, Path(out_dir), mdiff)
                yield ExportProgress(
                    "done", job.frames, job.frames, "done", finished=True, result=res
                )
                return
            yield rec
        return
    _check_anchors(job, model)
    spacing_mm = doc["output"].get("pixel_spacing_mm")
    size = job.settings.size or model.resolution
    out_spacing = spacing_mm * model.resolution / size if spacing_mm else None
    with _exact(compute, threads):
        for i in range(job.frames):
            if should_stop is not None and should_stop():
                yield ExportProgress(
                    "frames", i, job.frames, "cancelled", finished=True, cancelled=True
                )
                return
            img = _render(model, job.wplus(i), compute, job.noise(model, i))
            if want.get(i) == image_sha256(img):
                identical += 1
            else:
                differing.append(i)
            encoded = _encode_frame(job, i, img, out_spacing, uids)
            bytes_differ += compare_bytes(i, {k: _sha256(d) for k, (_r, d) in encoded.items()})
            yield ExportProgress("frames", i + 1, job.frames, "checked", frame=i)
    res = result(identical, differing, bytes_differ)
    yield ExportProgress("done", job.frames, job.frames, "done", finished=True, result=res)


def regenerate(manifest, model: Model | None = None, weights=None, device=None, **kwargs):
    """Regenerate and verify an export; loads the manifest's own model file unless given one.

    Raises ModelMismatchError when the model is not the one the export was made with (unless
    `allow_other_model=True`); returns a `RegenerateResult` (`.ok` when every frame matches).
    """
    from ..model import load_model

    doc = (
        manifest
        if isinstance(manifest, dict) and "request" in manifest
        else load_manifest(manifest)
    )
    if model is None:
        path = Path(weights) if weights else manifest_model_path(doc)
        if path is None or not path.is_file():
            raise CheckpointError(
                f"the export's model file {path} is not there; pass the weights file it was "
                "made with"
            )
        if device is None:
            device = (
                "cuda"
                if doc["compute"].get("type") == "cuda" and torch.cuda.is_available()
                else "cpu"
            )
        model = load_model(path, device=device)
    last = None
    for rec in iter_regenerate(doc, model, **kwargs):
        last = rec
    if last is None or last.cancelled:
        from ..errors import Cancelled

        raise Cancelled("regeneration stopped")
    return last.result
