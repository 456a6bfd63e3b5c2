"""What a user designed, as core records, and its file (`.stimproj`), without Qt.

The app, the CLI (`stimstudio export --project`) and batch specs read the same file through
`load_project` / `save_project`, so a design made in the app exports headless. The app adds
only its undo stack on top (gui/project.py keeps the same data as a dict of plain values and
converts at its boundary with `Project.from_state` / `Project.to_state`).

    project.stimproj  (a zip)
      project.json    format, app version, model, and the state with arrays as references
      arrays.npz      every array of the state

The state's design keys become records: `texture` / `template` → `Patch`, `mask` → `Mask`,
`placement` → `Placement`, `anchors` → `Anchor`s (each a `Latent`), `path` → the continuum,
a `Continuum` through those anchors. What only the app looks at (library, view, generator
settings, the last compose result, computed path frames) stays plain data and comes back
unchanged. Every file the app has written since format v1 reads; a damaged or foreign file is
one `ProjectFileError` naming what is wrong, and a save is atomic (never half a file).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from .atomic import atomic_write_bytes
from .defaults import CONTINUUM, EXPORT, PLACEMENT, PLACEMENT_MODES, SEED
from .errors import ProjectFileError, StimStudioError

if TYPE_CHECKING:
    from .compose import Mask, Placement
    from .interpolate import Anchor, Continuum

FORMAT = "stimstudio-project-v1"
SUFFIX = ".stimproj"

DEFAULT_FEATHER = 2.0


def _records():
    """The core record classes. Their modules import torch and OpenCV, which the app's window
    does not load at start (tests/gui/test_window.py), so they are imported on first use."""
    from .compose import Mask, Placement
    from .interpolate import Anchor, Continuum
    from .latent import Latent

    return Mask, Placement, Anchor, Continuum, Latent


# The app's new-project settings of the continuum: core.defaults, as at every entry point
# (perceptual spacing: even steps, issues 16 and 40), and the playback speed.
DEFAULT_PATH = {
    "frames": CONTINUUM.frames,
    "loop": CONTINUUM.loop,
    "method": CONTINUUM.method,
    "spacing": CONTINUUM.spacing,
    "fps": EXPORT.fps,
}
DEFAULT_GENERATOR = {
    "seed": 0.0,
    "psi": SEED.truncation,
    "cutoff": SEED.cutoff,
    "noise_mode": SEED.noise,  # each seed its own noise maps (core.generate); older: const
    "orientation": SEED.orientation,  # core.orientation; projects before it: as generated
    "sources": [],  # anchor ids beside the seed
    "mixing": None,  # per layer: index of the source (0 = seed)
}
DEFAULT_VIEW = {"mask_opacity": 0.45}


def default_state() -> dict:
    """A new project as the app's plain state (the keys gui/project.py keeps on its stack)."""
    return {
        "library": [],  # file paths in the library panel
        "current": None,  # the file shown in the View page
        "texture": None,  # Patch as {"image", "resolution", "source", "lesion_mask"?}
        "template": None,
        "mask": None,  # {"polygon" | "array", "feather", "source"} on the texture patch
        # where the texture goes, and how (older projects: no mode or contrast, i.e. paste)
        "placement": {
            "dx": 0.0,
            "dy": 0.0,
            "scale": 1.0,
            "angle": 0.0,
            "mode": PLACEMENT.mode,
            "contrast": PLACEMENT.contrast,
        },
        "result": None,  # the last compose run: images/metrics/latents per method
        "anchors": [],  # {"id", "name", "wplus", "source", "model_sha256", "image"}
        "path": {"anchors": [], **DEFAULT_PATH},  # anchor ids in path order + settings
        "path_frames": None,  # computed frames of the path (positions, thumbnails)
        "generator": dict(DEFAULT_GENERATOR),
        "view": dict(DEFAULT_VIEW),
    }


def complete_state(state: dict) -> dict:
    """`state` over the new-project defaults: missing keys (and missing settings inside a
    record such as `path`) take the default, unknown keys are dropped."""
    full = default_state()
    for k, v in state.items():
        if k in full:
            if isinstance(full[k], dict) and isinstance(v, dict):
                full[k].update(v)
            else:
                full[k] = v
    if isinstance(state.get("generator"), dict) and "orientation" not in state["generator"]:
        full["generator"]["orientation"] = "as-generated"  # projects before it look as they did
    return full


# -- records -----------------------------------------------------------------------------------


@dataclass
class Patch:
    """A square cut from a film, resampled to the model's resolution, values in [-1, 1].

    `source` says where it was cut (file, x, y, size, spacing_mm); `lesion_mask` is the data
    set's annotation inside the square, when it had one (uint8, same shape as `image`).
    """

    image: np.ndarray
    source: dict = field(default_factory=dict)
    lesion_mask: np.ndarray | None = None

    @property
    def resolution(self) -> int:
        return int(self.image.shape[0])


@dataclass
class Project:
    """One design: patches, texture mask, placement, kept anchors and the continuum.

    `anchors` maps the app's anchor ids to core `Anchor`s in the user's order; `continuum` is
    a core `Continuum` whose anchors are those same objects (an anchor in the continuum that is
    not kept yet gets an id when saved). `anchor_images` are the anchors' thumbnails.
    """

    texture: Patch | None = None
    template: Patch | None = None
    mask: Mask | None = None
    mask_source: str = "polygon"  # how the mask was made: freehand, polygon, brush, annotation
    placement: Placement | None = None  # None: the neutral placement
    anchors: dict[str, Anchor] = field(default_factory=dict)
    anchor_images: dict[str, np.ndarray] = field(default_factory=dict)
    continuum: Continuum | None = None  # None: no anchors yet, the app's new-project settings
    fps: float = DEFAULT_PATH["fps"]  # the app's playback speed of the continuum
    # What only the app looks at, kept as plain data.
    library: list[str] = field(default_factory=list)
    current: str | None = None
    generator: dict = field(default_factory=lambda: dict(DEFAULT_GENERATOR))
    view: dict = field(default_factory=lambda: dict(DEFAULT_VIEW))
    result: dict | None = None
    path_frames: dict | None = None
    # Saved beside the state: the model the design was made with, and where the file was
    # saved before it became a recovery copy.
    model: dict = field(default_factory=dict)
    original_path: str | None = None

    def __post_init__(self):
        _, Placement, _, Continuum, _ = _records()
        if self.placement is None:
            self.placement = Placement()
        if self.continuum is None:
            d = DEFAULT_PATH
            self.continuum = Continuum([], d["frames"], d["loop"], d["method"], d["spacing"])

    # -- the app's plain state <-> records ---------------------------------------------------

    @classmethod
    def from_state(cls, state: dict, model: dict | None = None) -> Project:
        """The app's state dict (gui/project.py) as records; missing keys take the defaults.

        Raises ProjectFileError naming the key whose value is not what the app writes."""
        full = complete_state(state)
        texture = _patch(full["texture"], "texture")
        anchors, images = _anchors(full["anchors"])
        continuum = continuum_from_record(full["path"], anchors)
        try:
            fps = float(full["path"].get("fps", DEFAULT_PATH["fps"]))
        except (TypeError, ValueError) as exc:
            raise ProjectFileError(f"the path's fps is damaged: {exc}") from None
        mrec = full["mask"]
        return cls(
            texture=texture,
            template=_patch(full["template"], "template"),
            mask=None if mrec is None else mask_from_record(mrec, texture),
            mask_source=str(_record(mrec, "mask").get("source") or "polygon")
            if mrec
            else "polygon",
            placement=placement_from_record(_record(full["placement"], "placement")),
            anchors=anchors,
            anchor_images=images,
            continuum=continuum,
            fps=fps,
            library=[str(x) for x in _list(full["library"], "library")],
            current=None if full["current"] is None else str(full["current"]),
            generator=_record(full["generator"], "generator"),
            view=_record(full["view"], "view"),
            result=None if full["result"] is None else _record(full["result"], "result"),
            path_frames=(
                None if full["path_frames"] is None else _record(full["path_frames"], "path_frames")
            ),
            model=dict(model or {}),
        )

    def to_state(self) -> dict:
        """The records as the app's plain state (the inverse of `from_state`)."""
        ids = self._continuum_ids()
        return {
            "library": list(self.library),
            "current": self.current,
            "texture": patch_record(self.texture),
            "template": patch_record(self.template),
            "mask": None if self.mask is None else mask_record(self.mask, self.mask_source),
            "placement": placement_record(self.placement),
            "result": self.result,
            "anchors": [
                anchor_record(aid, a, self.anchor_images.get(aid))
                for aid, a in self.anchors.items()
            ],
            "path": {
                "anchors": ids,
                "frames": int(self.continuum.frames),
                "loop": bool(self.continuum.loop),
                "method": self.continuum.method,
                "spacing": self.continuum.spacing,
                "fps": int(self.fps) if float(self.fps).is_integer() else float(self.fps),
            },
            "path_frames": self.path_frames,
            "generator": dict(self.generator),
            "view": dict(self.view),
        }

    def _continuum_ids(self) -> list[str]:
        """The ids of the continuum's anchors; one that is not kept yet is kept now."""
        by_object = {id(a): aid for aid, a in self.anchors.items()}
        ids = []
        for a in self.continuum.anchors:
            if id(a) not in by_object:
                aid = new_anchor_id(self.anchors)
                self.anchors[aid] = a
                by_object[id(a)] = aid
            ids.append(by_object[id(a)])
        return ids

    # -- what export needs -------------------------------------------------------------------

    def continuum_for_export(self) -> Continuum:
        """The continuum, checked (>= 2 anchors, frames, method, spacing, one latent shape)."""
        try:
            self.continuum.validate()
        except StimStudioError as exc:
            raise ProjectFileError(f"the project's continuum cannot be exported: {exc}") from None
        return self.continuum


def new_anchor_id(anchors) -> str:
    """The first free id `a<n>` among the given ids (n counts from the number kept + 1)."""
    used = set(anchors)
    i = len(used) + 1
    while f"a{i}" in used:
        i += 1
    return f"a{i}"


# -- one record at a time (panels build core records from the state with these) ---------------

_PLACEMENT_KEYS = ("dx", "dy", "scale", "angle", "contrast")  # numbers; and "mode", a word


def placement_from_record(d: dict) -> Placement:
    """The state's placement dict as a core `Placement` (missing keys: the neutral value, so a
    project saved before placement modes existed places by paste, as it did)."""
    Placement = _records()[1]
    neutral = Placement()
    mode = d.get("mode", neutral.mode)
    if mode not in PLACEMENT_MODES:
        raise ProjectFileError(
            f"the placement is damaged: mode {mode!r} is not one of {', '.join(PLACEMENT_MODES)}"
        )
    try:
        nums = {k: float(d.get(k, getattr(neutral, k))) for k in _PLACEMENT_KEYS}
    except (TypeError, ValueError) as exc:
        raise ProjectFileError(f"the placement is damaged: {exc}") from None
    return Placement(**nums, mode=str(mode))


def placement_record(p: Placement) -> dict:
    """A core `Placement` as the state's plain dict (the inverse of `placement_from_record`)."""
    return {**{k: float(getattr(p, k)) for k in _PLACEMENT_KEYS}, "mode": str(p.mode)}


def continuum_from_record(path: dict, anchors: dict[str, Anchor]) -> Continuum:
    """The state's path record ({anchors: ids, frames, loop, method, spacing}) as a core
    `Continuum` through the kept `anchors` (id -> Anchor); ids no longer kept are skipped.
    Not validated: a continuum being designed may have fewer than 2 anchors."""
    Continuum = _records()[3]
    p = _record(path, "path")
    ids = _list(p.get("anchors"), "path anchors")
    try:
        return Continuum(
            [anchors[i] for i in ids if i in anchors],
            frames=int(p["frames"]),
            loop=bool(p["loop"]),
            method=str(p["method"]),
            spacing=str(p["spacing"]),
        )
    except KeyError as exc:
        raise ProjectFileError(f"the path has no {exc} setting") from None
    except (TypeError, ValueError) as exc:
        raise ProjectFileError(f"the path settings are damaged: {exc}") from None


def mask_from_record(
    rec: dict, texture: Patch | np.ndarray | tuple | None, strict: bool = False
) -> Mask:
    """The state's mask record as a core `Mask` on the texture patch.

    A lasso keeps its polygon; its pixels are filled on the texture's grid. A polygon that no
    longer fits the texture (a patch cut again at another size) raises MaskError when
    `strict` (the mask page checking a new lasso); otherwise it gives an empty mask with the
    polygon kept, so the file still opens and compose says the mask is empty.
    """
    Mask = _records()[0]
    rec = _record(rec, "mask")
    try:
        feather = float(rec.get("feather", DEFAULT_FEATHER))
    except (TypeError, ValueError):
        raise ProjectFileError(
            f"the mask's feather is not a number: {rec.get('feather')!r}"
        ) from None
    if isinstance(texture, Patch):
        shape = texture.image.shape
    elif isinstance(texture, np.ndarray):
        shape = texture.shape
    else:
        shape = tuple(texture) if texture is not None else None
    if rec.get("polygon") is not None:
        try:
            pts = np.asarray(rec["polygon"], np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise ProjectFileError("the mask polygon is not a list of (x, y) points") from None
        if shape is None:  # no texture: the grid the polygon spans
            shape = (
                int(np.ceil(pts[:, 1].max(initial=0))) + 1,
                int(np.ceil(pts[:, 0].max(initial=0))) + 1,
            )
        try:
            return Mask.from_polygon(pts, shape, feather)
        except StimStudioError:
            if strict:
                raise
            return Mask(np.zeros(shape, bool), feather, pts)
    arr = rec.get("array")
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        raise ProjectFileError("the mask has neither a polygon nor a 2-D array")
    return Mask.from_array(arr, feather)


def mask_record(mask: Mask, source: str = "polygon") -> dict:
    """A core `Mask` as the state's record (polygon when lassoed, else the pixels)."""
    if mask.polygon is not None:
        return {
            "polygon": np.asarray(mask.polygon, np.float64).reshape(-1, 2),
            "array": None,
            "feather": float(mask.feather),
            "source": source,
        }
    return {"polygon": None, "array": mask.binary, "feather": float(mask.feather), "source": source}


def anchor_from_record(rec: dict) -> Anchor:
    """A kept anchor of the state as a core `Anchor` (name + `Latent` with provenance)."""
    _, _, Anchor, _, Latent = _records()
    rec = _record(rec, "anchor")
    name = rec.get("name", rec.get("id", "?"))
    kw = {}
    if rec.get("noise") is not None:  # inversions with optimised noise maps
        kw["noise"] = list(rec["noise"])
    kw["orientation"] = rec.get("orientation") or "as-generated"  # older projects: as generated
    try:
        lat = Latent(rec["wplus"], dict(rec.get("source") or {}), rec.get("model_sha256"), **kw)
    except KeyError:
        raise ProjectFileError(f"anchor {name!r} has no latent (wplus)") from None
    except (StimStudioError, TypeError, ValueError) as exc:
        raise ProjectFileError(f"anchor {name!r}: {exc}") from None
    return Anchor(str(name), lat)


def anchor_record(anchor_id: str, anchor: Anchor, image: np.ndarray | None = None) -> dict:
    lat = anchor.latent
    rec = {
        "id": anchor_id,
        "name": anchor.name,
        "wplus": lat.wplus,
        "source": dict(lat.source),
        "model_sha256": lat.model_sha256,
        "image": image,
    }
    if getattr(lat, "noise", None) is not None:
        rec["noise"] = list(lat.noise)
    if getattr(lat, "orientation", "as-generated") != "as-generated":
        rec["orientation"] = lat.orientation
    return rec


def patch_from_record(rec: dict | None, which: str = "patch") -> Patch | None:
    """The state's texture/template record as a `Patch` (None stays None)."""
    return _patch(rec, which)


def _patch(rec, which: str) -> Patch | None:
    if rec is None:
        return None
    rec = _record(rec, which)
    img = rec.get("image")
    if not isinstance(img, np.ndarray) or img.ndim != 2 or img.shape[0] != img.shape[1]:
        raise ProjectFileError(f"the {which} patch has no square image")
    lesion = rec.get("lesion_mask")
    return Patch(img, dict(rec.get("source") or {}), lesion)


def patch_record(p: Patch | None) -> dict | None:
    """A `Patch` as the state's texture/template record (None stays None)."""
    if p is None:
        return None
    rec = {"image": p.image, "resolution": p.resolution, "source": dict(p.source)}
    if p.lesion_mask is not None:
        rec["lesion_mask"] = p.lesion_mask
    return rec


def _anchors(items) -> tuple[dict[str, Anchor], dict[str, np.ndarray]]:
    anchors, images = {}, {}
    for k, rec in enumerate(_list(items, "anchors")):
        rec = _record(rec, f"anchor #{k + 1}")
        aid = str(rec.get("id") or new_anchor_id(anchors))
        if aid in anchors:
            raise ProjectFileError(f"anchor id {aid!r} is used twice")
        anchors[aid] = anchor_from_record(rec)
        if rec.get("image") is not None:
            images[aid] = rec["image"]
    return anchors, images


def _record(v, what: str) -> dict:
    if not isinstance(v, dict):
        raise ProjectFileError(f"the {what} is not a record (got {type(v).__name__})")
    return v


def _list(v, what: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ProjectFileError(f"the {what} is not a list (got {type(v).__name__})")
    return v


# -- the file ----------------------------------------------------------------------------------


def _encode(obj, arrays: dict):
    if isinstance(obj, np.ndarray):
        name = f"a{len(arrays):04d}"
        arrays[name] = obj
        return {"__array__": name}
    if isinstance(obj, dict):
        return {str(k): _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a project")


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def state_bytes(state: dict, model: dict | None = None, original: str | None = None) -> bytes:
    """The `.stimproj` bytes of the app's plain state (the one writer of the format)."""
    arrays: dict[str, np.ndarray] = {}
    doc = {
        "format": FORMAT,
        "app_version": __version__,
        "saved": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": dict(model or {}),
        "original_path": str(original) if original else None,
        "state": _encode(state, arrays),
    }
    abuf = io.BytesIO()
    np.savez_compressed(abuf, **arrays)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("project.json", json.dumps(doc, indent=1))
        z.writestr("arrays.npz", abuf.getvalue())
    return out.getvalue()


def write_state(path, state: dict, model: dict | None = None, original=None) -> Path:
    """Write the app's plain state as a `.stimproj` atomically (never half a file)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ProjectFileError(f"folder does not exist: {path.parent}")
    data = state_bytes(state, model, str(original) if original else None)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ProjectFileError(f"could not write {path.name}: {exc.strerror or exc}") from exc
    return path


def read_state(path) -> tuple[dict, dict]:
    """(state, meta) of a `.stimproj`: the app's plain state and format/app_version/saved/
    model/original_path. A damaged or foreign file is one ProjectFileError."""
    path = Path(path)
    if not path.is_file():
        raise ProjectFileError(f"project file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            for part in ("project.json", "arrays.npz"):
                if part not in names:
                    raise ProjectFileError(
                        f"{path.name} is not a readable StimStudio project: it holds no {part}"
                    )
            doc = json.loads(z.read("project.json"))
            with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except ProjectFileError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise ProjectFileError(f"{path.name} is not a readable StimStudio project: {exc}") from None
    if not isinstance(doc, dict):
        raise ProjectFileError(f"{path.name} is not a StimStudio project")
    if doc.get("format") != FORMAT:
        raise ProjectFileError(
            f"{path.name} has an unknown project format {doc.get('format')!r} "
            f"(this StimStudio reads {FORMAT})"
        )
    try:
        state = _decode(doc.get("state", {}), arrays)
    except KeyError as exc:
        raise ProjectFileError(f"{path.name} refers to a missing array {exc}") from None
    if not isinstance(state, dict):
        raise ProjectFileError(f"{path.name}: the project state is not a record")
    meta = {k: v for k, v in doc.items() if k != "state"}
    return state, meta


def load_project(path) -> Project:
    """Read a `.stimproj` (any file the app has written) as a `Project`.

    A damaged or foreign file raises one ProjectFileError that names the file and the fault."""
    state, meta = read_state(path)
    try:
        project = Project.from_state(state, model=meta.get("model") or {})
    except ProjectFileError as exc:
        raise ProjectFileError(f"{Path(path).name}: {exc}") from None
    project.original_path = meta.get("original_path")
    return project


def save_project(project: Project, path) -> Path:
    """Write `project` to `path` (`.stimproj` added when missing), atomically."""
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    return write_state(path, project.to_state(), project.model, project.original_path)
