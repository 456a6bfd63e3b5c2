"""`stimstudio export | regenerate | batch`: stimulus files, reproducibility, many continua."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from ..core.defaults import CONTINUUM, EXPORT, SEED
from ..core.errors import ExportError
from ..core.noise_modes import NOISE_MODES
from .common import (
    DefaultsShown,
    UserError,
    add_common,
    add_continuum_options,
    add_model_options,
    add_orientation_option,
    emit,
    load_model_for,
    tqdm_bar,
)


def register(sub) -> None:
    e = sub.add_parser(
        "export",
        help="render a continuum (or stills) to PNG/TIFF/DICOM + PsychoPy conditions + manifest",
        description="Anchors are latent files (.latent.npz) or seed:N, or the continuum a user "
        "designed in the app: --project P.stimproj (its anchors, frames, loop, interpolation "
        "and frame spacing; --frames/--loop/--method/--frame-spacing given here replace the "
        "project's). "
        "The folder gets manifest.json, conditions.csv, one folder per format, a preview and "
        "a contact sheet. Every anchor is a frame. Perceptual frame spacing (the default) renders "
        "each frame about three times to make the steps even within each segment; "
        "--frame-spacing latent renders it once (the paper's plain lerp, steps uneven to the eye).",
        formatter_class=DefaultsShown,
    )
    e.add_argument("anchors", nargs="*", help="anchor latents (.latent.npz) or seed:N, in order")
    e.add_argument(
        "--project",
        metavar="P.stimproj",
        help="export the continuum (or with --stills, the anchors) of a project saved by the app",
    )
    e.add_argument("--out", required=True, help="export folder (new or empty; required)")
    e.add_argument("--id", default=None, help="continuum id (default: the folder's name)")
    e.add_argument("--stills", action="store_true", help="one image per anchor, no continuum")
    e.add_argument(
        "--frames",
        type=int,
        default=None,
        help=f"frames of the continuum (default: {CONTINUUM.frames})",
    )
    e.add_argument(
        "--loop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"close the continuum back to the first anchor (default: {'yes' if CONTINUUM.loop else 'no'})",
    )
    add_continuum_options(e, method=None, spacing=None, shown=(CONTINUUM.method, CONTINUUM.spacing))
    e.add_argument(
        "--metric",
        default=None,
        choices=["perceptual", "pixel"],
        help="step distances reported in (default: pixel for pixel spacing, else perceptual)",
    )
    e.add_argument(
        "--format",
        action="append",
        dest="formats",
        help="png | tiff | dicom (repeatable or comma-separated; default png)",
    )
    e.add_argument(
        "--bits",
        type=int,
        default=EXPORT.bits,
        choices=[8, 16],
        help="PNG bit depth (16-bit files get 8-bit display copies for PsychoPy)",
    )
    e.add_argument("--size", default="native", help="output size in pixels, or native")
    e.add_argument(
        "--resize-filter",
        "--interpolation",  # the older name, kept as an alias
        dest="interpolation",
        default=EXPORT.resize_filter,
        choices=["nearest", "linear", "cubic", "area", "lanczos"],
        help="resampling filter when --size differs from the model (--interpolation is an alias)",
    )
    e.add_argument(
        "--preview",
        default=EXPORT.preview or "none",
        choices=["gif", "mp4", "none"],
        help="preview",
    )
    e.add_argument("--fps", type=float, default=EXPORT.fps, help="preview frame rate")
    e.add_argument("--no-contact-sheet", action="store_true", help="no contact_sheet.png")
    e.add_argument("--no-conditions", action="store_true", help="no PsychoPy conditions.csv")
    e.add_argument(
        "--task",
        default="auto",
        choices=["auto", "adjustment", "none"],
        help="the adjustment task as files (PsychoPy script adjustment_task.py and browser "
        "experiment adjustment_task.html): auto = for a loop (default), adjustment = required "
        "(an open continuum is refused), none",
    )
    e.add_argument(
        "--latents",
        default=EXPORT.latents,
        choices=["inline", "files"],
        help="anchors' latents in the manifest, or as files beside it",
    )
    e.add_argument(
        "--pixel-size",
        "--pixel-spacing",  # the older name, kept as an alias
        dest="pixel_spacing",
        metavar="MM",
        type=float,
        default=None,
        help="mm per pixel at native size (default: the model card's, else 0.4; "
        "--pixel-spacing is an alias)",
    )
    e.add_argument(
        "--data-root", help="sources are recorded relative to this folder (default: by name)"
    )
    e.add_argument(
        "--truncation", type=float, default=SEED.truncation, help="psi for seed:N anchors"
    )
    e.add_argument(
        "--cutoff",
        type=int,
        default=SEED.cutoff,
        help="truncate only the first N layers (default: all layers)",
    )
    e.add_argument(
        "--noise",
        choices=NOISE_MODES,
        default=SEED.noise,
        help="noise maps of seed:N anchors: each seed its own (seed, default), the model's "
        "fixed ones shared by every seed (const, how seeds rendered before), fresh random, "
        "or none",
    )
    add_orientation_option(e)
    e.add_argument("--resume", action="store_true", help="continue an interrupted export")
    e.add_argument("--force", action="store_true", help="replace an existing export there")
    add_model_options(e)
    add_common(e)
    e.set_defaults(func=cmd_export)

    r = sub.add_parser(
        "regenerate",
        help="check an export: every file on disk against its sha256, every frame rendered "
        "and encoded again against the manifest",
        description="Exit 0 only when every listed file is there unchanged and every frame "
        "renders bit-identically and encodes to the same bytes; otherwise each missing or "
        "changed file and each differing frame is named and the exit status is 2.",
    )
    r.add_argument("manifest", help="manifest.json (or its folder)")
    r.add_argument("--out", help="also write the regenerated export to this (new) folder")
    r.add_argument("--weights", help="model file or name (default: the one the manifest names)")
    r.add_argument("--device", default=None, help="default: the manifest's device type")
    r.add_argument("--precision", default=None, help="default: the manifest's precision")
    r.add_argument(
        "--allow-other-model",
        action="store_true",
        help="render with a model other than the manifest's (frames will not match)",
    )
    r.add_argument("--force", action="store_true", help="replace an existing export in --out")
    add_common(r)
    r.set_defaults(func=cmd_regenerate)

    b = sub.add_parser(
        "batch",
        help="many continua from a TOML/JSON spec; resumable; whole continua per torchrun rank",
    )
    b.add_argument("spec", help="batch spec (.toml or .json)")
    b.add_argument("--weights", help="model file or name (overrides the spec)")
    b.add_argument("--device", default=None, help="auto | cuda | mps | cpu (overrides the spec)")
    b.add_argument("--precision", default=None, help="overrides the spec")
    b.add_argument("--force", action="store_true", help="replace continua whose settings changed")
    add_common(b)
    b.set_defaults(func=cmd_batch)


# ------------------------------------------------------------------------------ helpers


def _formats(values) -> tuple[str, ...]:
    out = []
    for v in values or ["png"]:
        out += [x.strip().lower() for x in v.split(",") if x.strip()]
    return tuple(out)


def _size(text: str) -> int | None:
    if text in (None, "", "native"):
        return None
    try:
        return int(text)
    except ValueError:
        raise UserError(f"--size must be a number of pixels or 'native', got {text!r}") from None


def _default_id(name: str) -> str:
    from ..core.export import safe_name

    return safe_name(name, "continuum")


def _anchors(refs, model, psi, cutoff, noise="seed", orientation="as-generated"):
    from ..core.generate import latent_for_seed
    from ..core.interpolate import Anchor
    from ..core.latent import load_latent

    anchors, near = [], []
    for ref in refs:
        if ref.startswith("seed:"):
            try:
                seed = float(ref[5:])
            except ValueError:
                raise UserError(f"bad anchor {ref!r}: use seed:N or a .latent.npz file") from None
            seed = int(seed) if seed.is_integer() else seed
            lat = latent_for_seed(model, seed, psi, cutoff, noise, orientation)
            anchors.append(Anchor(f"seed{seed}", lat))
            near.append(None)
        else:
            lat = load_latent(ref)
            lat.check_model(model)
            anchors.append(Anchor(Path(ref).name.split(".")[0] or "anchor", lat))
            near.append(Path(ref).resolve().parent)
    return anchors, near


def _summary(res) -> dict:
    return {
        "out": str(res.out_dir),
        "manifest": str(res.manifest),
        "kind": res.kind,
        "frames": len(res.frames),
        "written_frames": res.written_frames,
        "kept_frames": res.kept_frames,
        "files": res.files,
        "step_distances": res.distances,
        "cv": res.cv,
    }


def _with_flags(exc):
    """Name the CLI flags in the core's "resume it / overwrite it" messages."""
    msg = str(exc)
    if "resume it" in msg:
        msg += " (--resume, or --force to start again)"
    elif "overwrite" in msg:
        msg += " (--force)"
    return type(exc)(msg)


def _interrupted_hint(where: Path, again: str) -> None:
    print(
        f"stimstudio: finished frames are kept in {where}; {again} to continue",
        file=sys.stderr,
    )


# ------------------------------------------------------------------------------ verbs


_CONTINUUM_DEFAULTS = dataclasses.asdict(CONTINUUM)  # frames, loop, method, spacing


def _project_target(args, project, model):
    """(anchors or continuum, frames) of --project; flags given on the line replace the
    project's continuum settings. Every anchor must fit the loaded model."""
    from ..core.errors import LatentError

    name = Path(args.project).name
    if args.stills:
        what = list(project.anchors.values())
        if not what:
            raise UserError(f"{name} holds no anchors to export")
    else:
        for k in _CONTINUUM_DEFAULTS:
            if getattr(args, k) is not None:
                setattr(project.continuum, k, getattr(args, k))
        what = project.continuum_for_export()
    for a in what if args.stills else what.anchors:
        try:
            a.latent.check_model(model)
        except LatentError as exc:
            raise LatentError(f"{name}, anchor {a.name!r}: {exc}") from None
    return what, len(what) if args.stills else what.frames


def cmd_export(args) -> int:
    from ..core.export import ExportSettings, export_sequence
    from ..core.interpolate import Continuum

    if not args.anchors and not args.project:
        raise UserError("give the anchors (latent files or seed:N) or --project P.stimproj")
    out = Path(args.out)
    cid = args.id or out.name
    settings = ExportSettings(
        formats=_formats(args.formats),
        bits=args.bits,
        size=_size(args.size),
        interpolation=args.interpolation,
        preview=None if args.preview == "none" else args.preview,
        fps=args.fps,
        contact_sheet=not args.no_contact_sheet,
        conditions=not args.no_conditions,
        latents=args.latents,
        metric=args.metric,
        pixel_spacing_mm=args.pixel_spacing,
        data_root=args.data_root,
        task=args.task,
    )
    settings.validate()
    if not args.id:
        cid = _default_id(cid)
    project = None
    if args.project:
        from ..core.project import load_project

        if args.anchors:
            raise UserError("give anchors or --project, not both")
        given = (args.truncation, args.cutoff, args.noise, args.orientation)
        if given != (SEED.truncation, SEED.cutoff, SEED.noise, SEED.orientation):
            raise UserError(
                "--truncation, --cutoff, --noise and --orientation apply to seed:N anchors, "
                "not a project's"
            )
        project = load_project(args.project)  # a damaged file is refused before the model loads
    model, compute = load_model_for(args)
    if project is not None:
        what, n = _project_target(args, project, model)
        near = None
    else:
        anchors, near = _anchors(
            args.anchors, model, args.truncation, args.cutoff, args.noise, args.orientation
        )
        if args.stills:
            what, n = anchors, len(anchors)
        else:
            opts = {
                k: d if getattr(args, k) is None else getattr(args, k)
                for k, d in _CONTINUUM_DEFAULTS.items()
            }
            what = Continuum(anchors, **opts)
            what.validate()
            n = what.frames
    bar = None
    spacing_bar = None
    res = None
    try:
        for rec in export_sequence(
            what,
            model,
            out,
            settings,
            compute,
            continuum_id=cid,
            resume=args.resume,
            overwrite=args.force,
            source_dirs=near,
        ):
            if rec.stage == "spacing" and not rec.finished:
                if spacing_bar is None:  # renders to find even steps (an upper bound)
                    spacing_bar = tqdm_bar(args, total=rec.total, desc="spacing", unit="render")
                spacing_bar.update(rec.done - spacing_bar.n)
            if rec.stage == "frames" and not rec.finished:
                if spacing_bar is not None:
                    spacing_bar.update(spacing_bar.total - spacing_bar.n)
                    spacing_bar.close()
                if bar is None:
                    bar = tqdm_bar(args, total=n, desc=cid, unit="frame")
                bar.update(1)
            if rec.finished:
                res = rec.result
    except KeyboardInterrupt:
        for b in (spacing_bar, bar):
            if b is not None:
                b.close()
        if not (out / "manifest.json").exists():
            print(
                "stimstudio: stopped while finding the spacing; nothing was written",
                file=sys.stderr,
            )
        else:
            _interrupted_hint(out, "run the same command with --resume")
        raise
    except ExportError as exc:
        raise _with_flags(exc) from None
    for b in (spacing_bar, bar):
        if b is not None:
            b.close()
    if res is None:  # stopped while finding the spacing: nothing was written
        from ..core.errors import Cancelled

        raise Cancelled("export stopped before any frame was written")
    d = res.distances
    text = f"{len(res.frames)} frames -> {out} ({', '.join(settings.formats)})"
    if res.kept_frames:
        text += f"; {res.kept_frames} kept from before, {res.written_frames} written"
    if d:
        mean = sum(d) / len(d)
        text += f"; step distance mean {mean:.4g}, min {min(d):.4g}, max {max(d):.4g}"
        if res.cv is not None:
            text += f", CV {res.cv:.3f}"
    text += f"\nmanifest: {res.manifest}"
    if "task:adjustment_task.py" in res.files:
        text += (
            "\nadjustment task: adjustment_task.py (PsychoPy), adjustment_task.html (browser); "
            "analyse its results with `stimstudio judge adjustment`"
        )
    emit(args, _summary(res), text)
    return 0


def _regenerate_searchset(args) -> int:
    """`regenerate` on a search set's manifest (core.films.regen): made again, byte for byte."""
    from ..core.device import pick_compute
    from ..core.errors import ExportError
    from ..core.films.regen import regenerate_searchset
    from ..core.model import load_model

    compute = pick_compute(args.device or "cpu", args.precision or "fp32")

    def model_for(weights):
        return load_model(args.weights or weights, device=compute.device)

    gen = regenerate_searchset(args.manifest, model_for, args.out, args.force)
    while True:
        try:
            next(gen)
        except StopIteration as end:
            res = end.value
            break
    result = {"files": res.files, "identical": res.identical, "ok": res.ok,
              "problems": res.problems(), "out": str(res.out) if res.out else None}  # fmt: skip
    text = f"{res.identical} of {res.files} files of the search set made again byte for byte"
    emit(args, result, "\n".join([text, *res.problems()]))
    if not res.ok:
        raise ExportError(f"the search set does not match its manifest ({res.problems()[0]})")
    return 0


def cmd_regenerate(args) -> int:
    from ..core.films.searchset import is_searchset_manifest

    if is_searchset_manifest(args.manifest):
        return _regenerate_searchset(args)
    import torch

    from ..core.device import pick_compute
    from ..core.errors import CheckpointError, ExportError
    from ..core.export import iter_regenerate, listed_files, load_manifest, manifest_model_path
    from ..core.model import load_model

    doc = load_manifest(args.manifest)
    made_on = doc["compute"].get("type", "cpu")
    device = args.device
    if device is None:
        device = made_on if made_on != "cuda" or torch.cuda.is_available() else "cpu"
        if made_on == "mps" and not (
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ):
            device = "cpu"
    compute = pick_compute(device, args.precision or doc["compute"].get("precision", "fp32"))
    from ..core.model_catalog import resolve_weights

    weights = resolve_weights(args.weights) if args.weights else manifest_model_path(doc)
    if weights is None or not weights.is_file():
        raise CheckpointError(
            f"the model file this export was made with ({weights}) is not there; "
            "pass it with --weights"
        )
    model = load_model(weights, device=compute.device)
    n = int(doc["continuum"]["frames"])
    bar = tqdm_bar(args, total=n, desc="regenerate", unit="frame")
    res = None
    try:
        for rec in iter_regenerate(
            doc, model, args.out, compute, args.allow_other_model, overwrite=args.force
        ):
            if rec.stage == "frames" and not rec.finished:
                bar.update(1)
            if rec.finished:
                res = rec.result
    finally:
        bar.close()
    problems = res.problems()
    result = {
        "manifest": str(res.manifest),
        "frames": res.frames,
        "identical": res.identical,
        "differing": res.differing,
        "missing_files": res.missing_files,
        "changed_files": res.changed_files,
        "unverified_files": res.unverified_files,
        "bytes_differ": res.bytes_differ,
        "manifest_differs": res.manifest_differs,
        "model_differs": res.model_differs,
        "ok": res.ok,
        "problems": problems,
        "notes": res.notes,
        "out": str(res.out_dir) if res.out_dir else None,
        "device": compute.describe(),
    }
    n_files = sum(1 for _ in listed_files(doc))
    if res.ok:
        text = (
            f"all {res.frames} frames are bit-identical to the manifest and all {n_files} "
            f"files on disk match their sha256 ({compute.describe()})"
        )
    else:
        text = f"{res.identical} of {res.frames} frames are bit-identical to the manifest"
    if res.out_dir:
        text += f"; written to {res.out_dir}"
    text = "\n".join([text, *problems, *res.notes])
    emit(args, result, text)
    other_model_only = args.allow_other_model and not (
        res.missing_files or res.changed_files or (res.bytes_differ and not res.differing)
    )
    if not res.ok and not other_model_only:
        raise ExportError(
            f"the export does not match its manifest ({'; '.join(problems) or 'see above'})"
        )
    return 0


def _rank() -> tuple[int, int, int]:
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise UserError("RANK / WORLD_SIZE / LOCAL_RANK must be whole numbers") from None
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"RANK {rank} does not fit WORLD_SIZE {world}")
    return rank, world, local


def cmd_batch(args) -> int:
    import torch

    from ..core.batch import BatchResult, iter_batch, load_batch_spec
    from ..core.device import pick_compute
    from ..core.model import load_model

    spec = load_batch_spec(args.spec)
    rank, world, local = _rank()
    device = args.device or spec.device
    if world > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        torch.cuda.set_device(local)
    compute = pick_compute(device, args.precision or spec.precision)
    model = load_model(args.weights or spec.weights, device=compute.device)
    mine = spec.for_rank(rank, world)
    total = sum(c.frames for c in mine)
    bar = tqdm_bar(args, total=total, desc=f"rank {rank}" if world > 1 else "batch", unit="frame")
    res: BatchResult | None = None
    try:
        for rec in iter_batch(spec, model, compute, rank, world, overwrite=args.force):
            if isinstance(rec, BatchResult):
                res = rec
            elif rec.export.stage == "frames" and not rec.export.finished:
                bar.set_postfix_str(rec.continuum, refresh=False)
                bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        _interrupted_hint(spec.out, "run the same batch again")
        raise
    except ExportError as exc:
        raise _with_flags(exc) from None
    bar.close()
    result = {
        "out": str(res.out),
        "rank": rank,
        "world_size": world,
        "continua": [c.id for c in mine],
        "exported": res.exported,
        "skipped": res.skipped,
        "frames_written": res.frames_written,
        "frames_kept": res.frames_kept,
        "complete": res.complete,
        "conditions": str(res.conditions) if res.conditions else None,
        "device": compute.describe(),
    }
    text = (
        f"{len(res.exported)} continua exported, {len(res.skipped)} already complete "
        f"({res.frames_written} frames written, {res.frames_kept} kept) -> {res.out}"
    )
    if res.conditions:
        text += f"\nconditions: {res.conditions}"
    elif world > 1:
        text += "\nother ranks still running; the last one writes conditions.csv"
    emit(args, result, text)
    return 0
