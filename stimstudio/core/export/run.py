"""The export run: checks the folder, finds the positions, renders and writes every frame,
then the conditions, preview, contact sheet and final manifest.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from ..device import Compute
from ..errors import ExportError, OptionError
from ..experiments import FILES_DIR as TASK_FILES_DIR
from ..experiments import adjustment_task_files, check_task
from ..interpolate import Anchor, Continuum, Renderer, iter_spacing, uniform_positions
from ..jsonable import dumps_strict
from ..model import Model, sha256_file
from .conditions import _image_kind, _primary_format, conditions_csv
from .job import (
    _anchor_names,
    _angle,
    _check_anchors,
    _encode_frame,
    _exact,
    _Job,
    _job_for_path,
    _render,
    _request,
)
from .manifest import (
    _frame_files_ok,
    _journal_append,
    _new_manifest,
    _read_journal,
    _remove_export,
    _result_from_manifest,
    export_status,
    load_manifest,
)
from .privacy import LeakGuard, _source_files
from .settings import (
    CONDITIONS_NAME,
    JOURNAL_NAME,
    MANIFEST_NAME,
    PREVIEW_MAX,
    SHEET_NAME,
    DamagedManifestError,
    ExportProgress,
    ExportResult,
    ExportSettings,
    _file_name_ok,
)
from .writers import (
    _canonical,
    _sha256,
    _write,
    _write_if_changed,
    contact_sheet,
    derived_uid,
    gif_bytes,
    image_sha256,
    png_bytes,
    quantize,
    read_frame,
    write_mp4,
)


def export_sequence(
    path: Continuum | list[Anchor],
    model: Model,
    out_dir: str | os.PathLike,
    settings: ExportSettings | None = None,
    compute: Compute | None = None,
    should_stop: Callable[[], bool] | None = None,
    continuum_id: str = "continuum",
    resume: bool = False,
    overwrite: bool = False,
    source_dirs: list[str | os.PathLike | None] | None = None,
) -> Iterator[ExportProgress]:
    """Render and write a continuum (a `Path`) or stills (a list of `Anchor`s).

    A generator of `ExportProgress`; the last record has `finished=True` and its `result`
    (or `cancelled=True`). `should_stop` is checked before each frame: frames finished so far
    stay on disk, and `resume=True` later continues where it stopped. An existing export in
    `out_dir` is replaced only with `overwrite=True`. The anchors must belong to `model` (a
    latent of another model raises LatentError).

    `source_dirs` (one per anchor, optional): where to look for the files a latent's
    `source` names when they are relative (e.g. the latent file's folder); with
    `settings.data_root` they are recorded relative to that root, plus their sha256.
    """
    settings = settings or ExportSettings()
    settings.validate()
    _file_name_ok(continuum_id, "continuum id")
    job = _job_for_path(path, continuum_id, settings)
    check_task(settings.task, job.kind, job.loop, settings.conditions)  # before any rendering
    near = [Path(d) if d else None for d in source_dirs] if source_dirs else None
    if near is not None and len(near) != len(job.anchors):
        raise OptionError("source_dirs needs one entry per anchor")
    yield from _run(job, model, out_dir, compute, should_stop, resume, overwrite, source_near=near)


def export(path, model, out_dir, settings=None, compute=None, **kwargs) -> ExportResult:
    """`export_sequence` run to the end; returns its result (raises Cancelled if stopped)."""
    from ..errors import Cancelled

    last = None
    for rec in export_sequence(path, model, out_dir, settings, compute, **kwargs):
        last = rec
    if last is None or last.cancelled:
        raise Cancelled("export stopped; finished frames are kept (resume to continue)")
    return last.result


def _run(
    job: _Job,
    model: Model,
    out_dir,
    compute: Compute | None,
    should_stop,
    resume: bool,
    overwrite: bool,
    threads: int | None = None,
    source_near: list[Path | None] | None = None,
) -> Iterator[ExportProgress]:
    """One export (or a regeneration into a new folder), step by step:

    1. check the anchors, build the leak guard, the request and its sha256;
    2. the folder: fresh, resumed, already complete, or refused (`_open_folder`);
    3. a fresh export: the frame positions (cancellable; nothing is written before they are
       known), then the first manifest (`_find_positions`, `_write_first_manifest`);
    4. every frame not finished before: render, measure its step, encode, journal
       (`_write_frames`);
    5. the frame records, conditions, preview, contact sheet and the final manifest.
    """
    settings = job.settings
    compute = compute or Compute(next(model.G.parameters()).device, "fp32")
    _check_anchors(job, model)
    job.anchor_names = _anchor_names(job.anchors)
    out = Path(out_dir)
    data_root = Path(settings.data_root).resolve() if settings.data_root else None
    near = source_near or [None] * len(job.anchors)
    guard = _leak_guard(job, data_root, near)
    request = _request(job, model, compute)
    request_sha = _sha256(_canonical(request))

    manifest, journal, done = _open_folder(job, out, request_sha, resume, overwrite)
    if done is not None:
        yield ExportProgress(
            "done", job.frames, job.frames, "already complete", finished=True, result=done
        )
        return
    if manifest is None:
        positions_known = yield from _find_positions(job, model, compute, should_stop, threads)
        if not positions_known:
            return  # cancelled while finding the spacing: nothing was written
        manifest = _write_first_manifest(
            job, model, compute, request, request_sha, out, data_root, near, guard
        )

    finished = yield from _write_frames(
        job, model, compute, out, manifest, request_sha, journal, should_stop, threads
    )
    if finished is None:
        return  # cancelled: the frames written so far stay for a resume
    journal, closing, written, kept = finished

    frames, distances, cv = _frame_records(job, journal, closing)
    out_files, out_sha = yield from _write_extras(job, out, frames, guard)
    _write_final_manifest(
        manifest, job, out, frames, distances, closing, cv, out_files, out_sha, guard
    )
    result = ExportResult(
        out, out / MANIFEST_NAME, job.kind, frames, out_files, distances, cv, written, kept
    )
    yield ExportProgress("done", job.frames, job.frames, "done", finished=True, result=result)


def _leak_guard(job: _Job, data_root: Path | None, near: list[Path | None]) -> LeakGuard:
    """Every identifier of every source DICOM; the continuum id and anchor names checked."""
    guard = LeakGuard()
    for a, nr in zip(job.anchors, near):
        for f in _source_files(a.latent.source, data_root, nr):
            guard.add_dicom(f)
    guard.check(job.cid, "the continuum id")
    for n in job.anchor_names:
        guard.check(n, f"anchor name {n!r}")
    return guard


def _open_folder(
    job: _Job, out: Path, request_sha: str, resume: bool, overwrite: bool
) -> tuple[dict | None, dict[int, dict], ExportResult | None]:
    """The folder: fresh, resumed, or refused.

    Returns (manifest, journal, done): the manifest and journal of an interrupted export of
    this request being resumed (`job.positions` set from it); (None, {}, None) for a fresh
    start (a previous export there, when overwriting, removed); or `done` when the folder
    already holds this finished export and `resume` asks for it. Raises ExportError when the
    folder may not be used.
    """
    journal: dict[int, dict] = {}
    status = export_status(out)
    old = load_manifest(out) if status in ("complete", "incomplete") else None
    same = old is not None and old.get("request_sha256") == request_sha
    if status == "other" and not overwrite:
        raise ExportError(f"{out} already holds other files; choose an empty folder or overwrite")
    if status == "damaged" and not overwrite:
        try:
            load_manifest(out)
        except DamagedManifestError as exc:
            reason = str(exc)
        raise ExportError(
            f"{reason}; the export there cannot be resumed or checked: overwrite it to start again"
        )
    if old is not None and not same and not overwrite:
        raise ExportError(
            f"{out} holds another export (different anchors, path or settings); "
            "choose another folder or overwrite it"
        )
    if same and status == "complete" and not overwrite:
        if not resume:
            raise ExportError(f"{out} already holds this export; overwrite it to write it again")
        return None, journal, _result_from_manifest(out, old)
    if same and status == "incomplete" and not overwrite:
        if not resume:
            raise ExportError(
                f"{out} holds an interrupted export of this continuum; resume it or overwrite it"
            )
        job.positions = [float(p) for p in old["continuum"]["positions"]]
        journal = _read_journal(out)
        manifest = old
        manifest.pop("_path", None)
        return manifest, journal, None
    if old is not None or status in ("other", "damaged"):
        _remove_export(out)
    return None, journal, None


def _find_positions(
    job: _Job, model: Model, compute: Compute, should_stop, threads: int | None
) -> Iterator[ExportProgress]:
    """Set `job.positions` (a generator: spacing progress; returns False when cancelled).

    A continuum uses the path's cached spacing when it matches, else finds it (perceptual or
    pixel spacing), else takes uniform positions (latent spacing); stills are 0, 1, 2, ...
    """
    if job.kind == "continuum" and job.positions is None:
        p = job.path()
        found = job.spacing_result
        if found is not None and not found.matches(p, model, job.metric):
            found = None  # computed for other anchors, settings or another model
        if found is None and job.spacing != "latent":
            with _exact(compute, threads):
                for rec in iter_spacing(p, model, compute, job.metric, should_stop=should_stop):
                    if rec.cancelled:
                        yield ExportProgress(
                            "spacing",
                            rec.done,
                            rec.total,
                            "cancelled",
                            finished=True,
                            cancelled=True,
                        )
                        return False
                    if rec.finished:
                        found = rec.result
                    else:
                        yield ExportProgress(
                            "spacing",
                            rec.done,
                            rec.total,
                            f"{job.spacing} spacing: {rec.message}",
                            eta=rec.eta,
                        )
        if found is not None:
            job.positions = [float(x) for x in found.positions]
            job.spacing_distances = [float(x) for x in found.distances]
            job.known_steps = job.spacing_distances
        else:
            job.positions = [float(x) for x in uniform_positions(p)]
    elif job.kind == "stills":
        job.positions = [float(i) for i in range(job.frames)]
    return True


def _write_first_manifest(
    job, model, compute, request, request_sha, out, data_root, near, guard
) -> dict:
    """Create the folder and write the manifest of an export not yet complete."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror or exc}") from None
    manifest = _new_manifest(job, model, compute, request, request_sha, out, data_root, near, guard)
    text = dumps_strict(manifest, indent=1)
    guard.check(text, "the manifest")
    _write(out / MANIFEST_NAME, text.encode())
    (out / JOURNAL_NAME).unlink(missing_ok=True)
    return manifest


class _StepMeter:
    """Step distances between consecutive frames as they are rendered: taken from the
    spacing that placed them when known, else measured with the metric's renderer (a kept
    neighbour is rendered again only when its embedding is needed)."""

    def __init__(self, job: _Job, model: Model, compute: Compute):
        self.job, self.model, self.compute = job, model, compute
        self.renderer = Renderer(model, compute, job.metric) if job.metric else None
        self.prev: tuple[int, np.ndarray] | None = None  # the last frame measured
        self.first: np.ndarray | None = None  # frame 0's embedding, when measured

    def embed(self, i: int, img: np.ndarray | None = None) -> np.ndarray:
        if img is None:
            img = _render(
                self.model, self.job.wplus(i), self.compute, self.job.noise(self.model, i)
            )
        return self.renderer.embed(img[None])[0]

    def step(self, i: int, img: np.ndarray) -> float | None:
        """The distance from frame i-1 to frame i (0 for frame 0; None: no metric)."""
        job = self.job
        if job.known_steps is not None:
            return float(job.known_steps[i - 1]) if i > 0 else 0.0
        if self.renderer is None:
            return None
        emb = self.embed(i, img)
        if i > 0:
            prev = self.prev[1] if self.prev and self.prev[0] == i - 1 else self.embed(i - 1)
            step = float(np.linalg.norm(emb - prev))
        else:
            step = 0.0
            self.first = emb
        self.prev = (i, emb)
        return step

    def closing(self) -> float | None:
        """A loop's closing distance (last frame back to the first); None for open paths."""
        job = self.job
        if job.known_steps is not None and job.loop:
            return float(job.known_steps[-1])
        if self.renderer is not None and job.loop:
            last = self.prev[1] if self.prev and self.prev[0] == job.frames - 1 else None
            last = last if last is not None else self.embed(job.frames - 1)
            first = self.first if self.first is not None else self.embed(0)
            return float(np.linalg.norm(first - last))
        return None


def _dicom_uids(manifest: dict, settings: ExportSettings, request_sha: str) -> dict:
    uids = dict(manifest.get("dicom_uids") or {})
    if "dicom" in settings.formats and not uids.get("study_uid"):
        uids = {
            "study_uid": derived_uid(request_sha, "study"),
            "series_uid": derived_uid(request_sha, "series"),
        }
    return uids


def _keep_finished_frames(job: _Job, out: Path, journal: dict[int, dict]) -> dict[int, dict]:
    """Keep only frames whose files are all there and unchanged; rewrite the journal clean
    (a torn last line from a crash must not swallow the next record)."""
    valid = {}
    for i, rec in journal.items():
        if 0 <= i < job.frames and _frame_files_ok(out, rec):
            valid[i] = rec
    _write(
        out / JOURNAL_NAME,
        "".join(dumps_strict(valid[i]) + "\n" for i in sorted(valid)).encode(),
    )
    return valid


def _write_frames(
    job, model, compute, out, manifest, request_sha, journal, should_stop, threads
) -> Iterator[ExportProgress]:
    """Render, measure, encode and journal every frame not finished before (a generator of
    frame progress). Returns (journal, closing distance, written, kept), or None when
    cancelled."""
    settings = job.settings
    meter = _StepMeter(job, model, compute)
    if job.known_steps is None and manifest["continuum"].get("step_distances") is not None:
        job.known_steps = list(manifest["continuum"]["step_distances"])  # resuming
    native = model.resolution
    size = settings.size or native
    spacing_mm = manifest["output"]["pixel_spacing_mm"]
    out_spacing = spacing_mm * native / size if spacing_mm else None
    uids = _dicom_uids(manifest, settings, request_sha)
    kept = written = 0
    journal = _keep_finished_frames(job, out, journal)

    with _exact(compute, threads):
        for i in range(job.frames):
            if i in journal:
                kept += 1
                yield ExportProgress("frames", i + 1, job.frames, "kept", frame=i, kept=True)
                continue
            if should_stop is not None and should_stop():
                yield ExportProgress(
                    "frames", i, job.frames, "cancelled", finished=True, cancelled=True
                )
                return None
            img = _render(model, job.wplus(i), compute, job.noise(model, i))
            step = meter.step(i, img)
            files = {}
            for fmt, (rel, data) in _encode_frame(job, i, img, out_spacing, uids).items():
                files[fmt] = {"path": rel, "sha256": _write_if_changed(out / rel, data)}
            rec = {
                "index": i,
                "image_sha256": image_sha256(img),
                "files": files,
                "step_distance": step,
            }
            _journal_append(out, rec)
            journal[i] = rec
            written += 1
            yield ExportProgress("frames", i + 1, job.frames, "written", frame=i)

        closing = meter.closing()
        # A kept frame after a freshly written one has a recorded step; one whose previous
        # frame was missing when it was written also has one: nothing to recompute.
    return journal, closing, written, kept


def _frame_records(
    job: _Job, journal: dict[int, dict], closing: float | None
) -> tuple[list[dict], list[float], float | None]:
    """The manifest's frame records, the step distances (+ closing) and their CV."""
    frames = []
    cum = 0.0
    for i in range(job.frames):
        rec = journal[i]
        pos = job.positions[i]
        seg = min(int(math.floor(pos)), max(job.segments - 1, 0)) if job.kind == "continuum" else 0
        step = rec.get("step_distance")
        if step is not None:
            cum += step
        fr = {
            "index": i,
            "position": pos,
            "segment": seg if job.kind == "continuum" else None,
            "t": pos - seg if job.kind == "continuum" else None,
            "angle": _angle(job, pos),
            "step_distance": step,
            "cumulative_distance": cum if step is not None else None,
            "image_sha256": rec["image_sha256"],
            "files": rec["files"],
        }
        if job.kind == "stills":
            fr["stimulus"] = job.anchor_names[i]
        frames.append(fr)
    distances = [f["step_distance"] for f in frames[1:] if f["step_distance"] is not None]
    if closing is not None:
        distances.append(closing)
    cv = None
    if distances and np.mean(distances) > 0:
        cv = float(np.std(distances) / np.mean(distances))
    return frames, distances, cv


def _write_extras(
    job: _Job, out: Path, frames: list[dict], guard: LeakGuard
) -> Iterator[ExportProgress]:
    """Conditions file, preview and contact sheet (a generator of their progress). Returns
    (files: kind -> name, files_sha256: name -> sha256)."""
    settings = job.settings
    out_files: dict[str, str] = {}
    out_sha: dict[str, str] = {}  # file name -> sha256, checked by regenerate
    if settings.conditions:
        text = conditions_csv(job, frames)
        guard.check(text, "the conditions file")
        out_sha[CONDITIONS_NAME] = _write(out / CONDITIONS_NAME, text.encode("utf-8"))
        out_files["conditions"] = CONDITIONS_NAME
    if check_task(settings.task, job.kind, job.loop, settings.conditions):
        yield ExportProgress("task", 0, 1, "adjustment task")
        _write_task(job, out, frames, guard, out_files, out_sha)
    primary = _primary_format(settings.formats)
    if settings.preview and job.kind == "continuum":
        yield ExportProgress("preview", 0, 1, settings.preview)
        frames8 = [quantize(read_frame(out / f["files"][primary]["path"]), 8) for f in frames]
        if frames8[0].shape[0] > PREVIEW_MAX:
            frames8 = [
                cv2.resize(f, (PREVIEW_MAX, PREVIEW_MAX), interpolation=cv2.INTER_AREA)
                for f in frames8
            ]
        if not job.loop and len(frames8) > 2:
            frames8 = frames8 + frames8[-2:0:-1]  # forth and back: a smooth open-path preview
        name = f"preview.{settings.preview}"
        if settings.preview == "gif":
            out_sha[name] = _write(out / name, gif_bytes(frames8, settings.fps))
        else:
            write_mp4(out / name, frames8, settings.fps)
            out_sha[name] = sha256_file(out / name)
        out_files["preview"] = name
    if settings.contact_sheet:
        yield ExportProgress("sheet", 0, 1, "contact sheet")
        imgs = [read_frame(out / f["files"][primary]["path"]) for f in frames]
        labels = [f.get("stimulus") or str(f["index"]) for f in frames]
        sheet = contact_sheet(imgs, labels)
        out_sha[SHEET_NAME] = _write(out / SHEET_NAME, png_bytes(sheet, 8))
        out_files["contact_sheet"] = SHEET_NAME
    return out_files, out_sha


def _write_task(job: _Job, out: Path, frames: list[dict], guard: LeakGuard, out_files, out_sha):
    """The adjustment task as files (PsychoPy script, browser experiment); each file is
    listed in the manifest (kind "task:<path>") with its sha256."""
    shown = [f["files"][_image_kind(f["files"])]["path"] for f in frames]
    side = read_frame(out / shown[0]).shape[0]
    for rel, data in adjustment_task_files(job.cid, shown, side).items():
        if not rel.startswith(f"{TASK_FILES_DIR}/jspsych/"):  # vendored library code
            guard.check(data.decode("utf-8"), f"the task file {rel}")
        out_sha[rel] = _write(out / rel, data)
        out_files[f"task:{rel}"] = rel


def _write_final_manifest(
    manifest, job, out, frames, distances, closing, cv, out_files, out_sha, guard
) -> None:
    """Complete the manifest (frames, distances, files, finish time); drop the journal."""
    manifest["complete"] = True
    manifest["frames"] = frames
    manifest["distances"] = {
        "metric": job.metric,
        "steps": distances,
        "closing": closing,
        "mean": float(np.mean(distances)) if distances else None,
        "cv": cv,
    }
    manifest["files"] = out_files
    manifest["files_sha256"] = out_sha
    manifest["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = dumps_strict(manifest, indent=1)
    guard.check(text, "the manifest")
    _write(out / MANIFEST_NAME, text.encode())
    (out / JOURNAL_NAME).unlink(missing_ok=True)
