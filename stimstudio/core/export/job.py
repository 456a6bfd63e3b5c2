"""One export job: what to render (anchors, path, positions), how a frame is rendered
(batch 1, deterministic kernels) and encoded into its files.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

import numpy as np
import torch

from ..device import Compute
from ..errors import LatentError, OptionError
from ..interpolate import Anchor, Continuum, SpacingResult, latent_at, noise_at
from ..model import Model
from ..orientation import AS_GENERATED, orient
from .settings import DISPLAY, EXTENSIONS, ExportSettings, safe_name
from .writers import _to01, dicom_bytes, image_sha256, png_bytes, resize, tiff_bytes


def _model_spacing(model: Model) -> float | None:
    def find(d):
        if isinstance(d, dict):
            for k, v in d.items():
                if k in ("spacing_mm", "pixel_spacing_mm") and isinstance(v, (int, float)):
                    return float(v)
                r = find(v)
                if r is not None:
                    return r
        return None

    return find({k: v for k, v in (model.card or {}).items() if k != "w_avg"})


def _device_info(compute: Compute) -> dict:
    dev = compute.device
    info = {
        "type": dev.type,
        "describe": compute.describe(),
        "precision": compute.precision,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_threads": torch.get_num_threads(),
        "render_batch": 1,
        "noise_mode": "const",
    }
    if dev.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


class _exact:
    """Deterministic kernels while rendering: no cuDNN autotuning; no TF32 on the fp32 path."""

    def __init__(self, compute: Compute, threads: int | None = None):
        self.compute, self.threads = compute, threads

    def __enter__(self):
        b = torch.backends
        self.saved = (
            b.cudnn.benchmark,
            b.cudnn.deterministic,
            b.cudnn.allow_tf32,
            b.cuda.matmul.allow_tf32,
            torch.get_num_threads(),
        )
        b.cudnn.benchmark = False
        b.cudnn.deterministic = True
        if self.compute.precision == "fp32":
            b.cudnn.allow_tf32 = False
            b.cuda.matmul.allow_tf32 = False
        if self.threads and self.compute.device.type == "cpu":
            torch.set_num_threads(int(self.threads))
        return self

    def __exit__(self, *exc):
        b = torch.backends
        (
            b.cudnn.benchmark,
            b.cudnn.deterministic,
            b.cudnn.allow_tf32,
            b.cuda.matmul.allow_tf32,
            threads,
        ) = self.saved
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return False


def _render(model: Model, wplus: np.ndarray, compute: Compute, noise=None) -> np.ndarray:
    """One frame, batch 1: the only way frames are made (export and regenerate alike).
    `noise`: the frame's noise maps (`_Job.noise`), None for the model's fixed ones."""
    from ..invert import synthesize

    return synthesize(model, wplus[None], compute, noise_mode="const", noise=noise)[0]


# ------------------------------------------------------------------------------ the job


@dataclass
class _Job:
    """Everything an export needs; built from arguments or from a manifest."""

    kind: str  # "continuum" | "stills"
    cid: str
    anchors: list[Anchor]
    frames: int
    loop: bool
    method: str
    spacing: str
    metric: str | None  # None for stills
    settings: ExportSettings
    positions: list[float] | None = None  # given when regenerating or resuming
    anchor_names: list[str] = field(default_factory=list)
    dicom_uids: dict | None = None  # a manifest's, when regenerating (else derived)
    spacing_result: SpacingResult | None = None  # the Path's cached spacing, if any
    # Step distances measured when the spacing was found (recorded in the manifest, so resume
    # and regenerate use them rather than measuring again):
    spacing_distances: list[float] | None = None
    known_steps: list[float] | None = None  # steps not to measure again (frames-1 [+ closing])

    @property
    def segments(self) -> int:
        return len(self.anchors) if self.loop else len(self.anchors) - 1

    def path(self) -> Continuum:
        return Continuum(self.anchors, self.frames, self.loop, self.method, self.spacing)

    def wplus(self, i: int) -> np.ndarray:
        if self.kind == "stills":
            return self.anchors[i].latent.wplus
        return latent_at(self.path(), self.positions[i])

    def orientation(self, i: int) -> str:
        """Frame i's orientation: a still's own, a continuum's one (its first anchor's)."""
        return self.anchors[i if self.kind == "stills" else 0].latent.orientation

    def noise(self, model: Model, i: int) -> list[np.ndarray] | None:
        """Frame i's noise maps: an anchor's own, or the path's blend (`noise_at`)."""
        if self.kind == "stills":
            return self.anchors[i].latent.noise
        return noise_at(self.path(), self.positions[i], model)


def _job_for_path(path, cid: str, settings: ExportSettings) -> _Job:
    if isinstance(path, Continuum):
        path.validate()
        metric = settings.metric or ("pixel" if path.spacing == "pixel" else "perceptual")
        return _Job(
            "continuum",
            cid,
            list(path.anchors),
            path.frames,
            path.loop,
            path.method,
            path.spacing,
            metric,
            settings,
            spacing_result=path.spacing_result,
        )
    anchors = list(path)
    if not anchors or not all(isinstance(a, Anchor) for a in anchors):
        raise OptionError("export needs a Path (continuum) or a list of Anchors (stills)")
    shapes = {a.latent.wplus.shape for a in anchors}
    if len(shapes) != 1:
        raise OptionError(f"the stills have different latent shapes: {sorted(shapes)}")
    return _Job("stills", cid, anchors, len(anchors), False, "none", "none", None, settings)


def needs_display_copy(settings: ExportSettings) -> bool:
    """True when no chosen format is an 8-bit PNG: the frames then get 8-bit display copies.

    PsychoPy's ImageStim converts images with Pillow to RGBA, which clips 16-bit values (a
    frame holding 2361..47518 shows white); the conditions file's `imageFile` must point at
    8-bit images, and the 16-bit files get their own columns.
    """
    return not ("png" in settings.formats and settings.bits == 8)


def _frame_files(job: _Job, i: int) -> dict[str, str]:
    """Relative paths (forward slashes) of frame i in each format (+ "display" when needed)."""
    if job.kind == "stills":
        stem = job.anchor_names[i]
    else:
        width = max(4, len(str(job.frames - 1)))
        stem = f"{job.cid}_{i:0{width}d}"
    files = {fmt: f"{fmt}/{stem}{EXTENSIONS[fmt]}" for fmt in job.settings.formats}
    if needs_display_copy(job.settings):
        files[DISPLAY] = f"{DISPLAY}/{stem}.png"
    return files


def _anchor_names(anchors: list[Anchor]) -> list[str]:
    names, seen = [], set()
    for k, a in enumerate(anchors):
        base = safe_name(a.name, f"anchor{k}")
        name, n = base, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        names.append(name)
    return names


def noise_sha256(noise) -> str:
    """The fingerprint of an anchor's noise maps (all layers, in order, float32)."""
    return image_sha256(np.concatenate([np.asarray(n, np.float32).ravel() for n in noise]))


def _anchor_request(name: str, a: Anchor) -> dict:
    """An anchor's part of the request: its w+, and its noise maps where it carries them
    (anchors without maps keep the entries, and so the request hashes, they had before)."""
    entry = {"name": name, "wplus_sha256": image_sha256(a.latent.wplus)}
    if a.latent.noise is not None:
        entry["noise_sha256"] = noise_sha256(a.latent.noise)
    if a.latent.orientation != AS_GENERATED:  # requests as generated hash as before
        entry["orientation"] = a.latent.orientation
    return entry


def _request(job: _Job, model: Model, compute: Compute) -> dict:
    """The part of the manifest that decides the pixels; resuming requires it unchanged."""
    return {
        "kind": job.kind,
        "continuum": job.cid,
        "frames": job.frames,
        "loop": job.loop,
        "method": job.method,
        "spacing": job.spacing,
        "metric": job.metric,
        "model_sha256": model.sha256,
        "resolution": model.resolution,
        "anchors": [_anchor_request(n, a) for n, a in zip(job.anchor_names, job.anchors)],
        "output": job.settings.output_dict(),
        "device_type": compute.device.type,
        "precision": compute.precision,
    }


def _angle(job: _Job, pos: float) -> float | None:
    return 360.0 * pos / job.segments if job.kind == "continuum" and job.loop else None


def _encode_frame(
    job: _Job, i: int, img: np.ndarray, out_spacing: float | None, uids: dict
) -> dict[str, tuple[str, bytes]]:
    """Frame i's files: kind -> (relative path, bytes). The same request and generator
    output always give the same bytes (export, resume and regenerate share this)."""
    settings = job.settings
    img = orient(img, job.orientation(i))  # the generator's image (its sha256) as shown
    img01 = _to01(resize(img, settings.size, settings.interpolation))
    out = {}
    for fmt, rel in _frame_files(job, i).items():
        if fmt == DISPLAY:
            data = png_bytes(img01, 8)
        elif fmt == "png":
            data = png_bytes(img01, settings.bits)
        elif fmt == "tiff":
            data = tiff_bytes(img01)
        else:
            data = dicom_bytes(
                img01,
                pixel_spacing_mm=out_spacing,
                study_uid=uids["study_uid"],
                series_uid=uids["series_uid"],
                instance_number=i + 1,
                series_description=f"SYNTHETIC {job.kind} {job.cid}",
                comments=f"{job.kind} {job.cid}, frame {i} of {job.frames}",
            )
        out[fmt] = (rel, data)
    return out


def _check_anchors(job: _Job, model: Model) -> None:
    for a in job.anchors:
        try:
            a.latent.check_model(model)
        except LatentError as exc:
            raise LatentError(f"anchor {a.name!r}: {exc}") from None
