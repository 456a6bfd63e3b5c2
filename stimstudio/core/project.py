"""What a user designed, as core records, live and in its file (`.stimproj`), without Qt.

`Project` is the one model of a design. The app edits it live: every edit replaces whole
fields (`Project.update`, never a change in place) and each replaced field is one
`events.changed(name)` event; opening another design is one `events.reset()` (napari's evented
models are the example, core.events). The app's undo stack sits over `update` (it keeps the old
values it returns); its panels listen to the events. The CLI (`stimstudio export --project`)
and batch specs read the same file through `load_project` / `save_project`, so a design made
in the app exports headless.

In the file (core.project_file) the records are plain values: `texture` / `template` are
`Patch` records, `mask` a `Mask`, `placement` a `Placement`, `anchors` `Anchor`s (each a
`Latent`), `path` the continuum, a `Continuum` through those anchors (`Project.from_state` /
`Project.to_state` convert). What only the app looks at (library, view, generator settings,
the last compose result, computed continuum frames) stays plain data and comes back
unchanged. Every file the app has written since format v1 reads; a damaged or foreign file is
one `ProjectFileError` naming what is wrong, and a save is atomic (never half a file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .defaults import CONTINUUM, EXPORT, PLACEMENT, SEED
from .errors import ProjectFileError, StimStudioError
from .events import EventEmitter
from .project_file import FORMAT, SUFFIX, read_state, state_bytes, write_state  # noqa: F401
from .project_records import (  # noqa: F401 - named here as before
    DEFAULT_FEATHER,
    Patch,
    _anchors,
    _list,
    _patch,
    _record,
    _records,
    anchor_from_record,
    anchor_record,
    continuum_from_record,
    mask_from_record,
    mask_record,
    new_anchor_id,
    patch_from_record,
    patch_record,
    placement_from_record,
    placement_record,
)

if TYPE_CHECKING:
    from .insertion import Mask, Placement
    from .interpolate import Anchor, Continuum


# (perceptual spacing: even steps, issues 16 and 40), and the playback speed.
DEFAULT_CONTINUUM = {
    "frames": CONTINUUM.frames,
    "loop": CONTINUUM.loop,
    "method": CONTINUUM.method,
    "spacing": CONTINUUM.spacing,
    "fps": EXPORT.fps,
}
DEFAULT_PATH = DEFAULT_CONTINUUM  # the old name (issue 40: a continuum is a continuum)
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


# Keys of the file's state that were renamed, old -> new. The format stays v1 (a renamed key
# is read like a missing one is filled in: complete_state), so files written before the rename
# open; the app writes only the new name. path_frames: issue 40, a continuum is a continuum.
RENAMED_KEYS = {"path_frames": "continuum_frames"}


def default_state() -> dict:
    """A new project as the file's plain state (the keys of `.stimproj`)."""
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
        "path": {"anchors": [], **DEFAULT_CONTINUUM},  # anchor ids in continuum order + settings
        "continuum_frames": None,  # computed frames of the continuum (positions, thumbnails)
        "generator": dict(DEFAULT_GENERATOR),
        "view": dict(DEFAULT_VIEW),
    }


def complete_state(state: dict) -> dict:
    """`state` over the new-project defaults: missing keys (and missing settings inside a
    record such as `path`) take the default, a key under its old name (RENAMED_KEYS) is read
    as the new one, unknown keys are dropped."""
    full = default_state()
    for k, v in state.items():
        new = RENAMED_KEYS.get(k, k)
        if new != k and new in state:
            continue  # a file with both names: the new one counts
        k = new
        if k in full:
            if isinstance(full[k], dict) and isinstance(v, dict):
                full[k].update(v)
            else:
                full[k] = v
    if isinstance(state.get("generator"), dict) and "orientation" not in state["generator"]:
        full["generator"]["orientation"] = "as-generated"  # projects before it look as they did
    return full


@dataclass
class Project:
    """One design: patches, texture mask, placement, kept anchors and the continuum.

    `anchors` maps the app's anchor ids to core `Anchor`s in the user's order; `continuum` is
    a core `Continuum` whose anchors are those same objects (an anchor in the continuum that is
    not kept yet gets an id when saved). `anchor_images` are the anchors' thumbnails.

    Live, the app's one model of the open design: edits replace fields through `update`
    (EDITABLE), each an `events.changed(name)`; nothing is changed in place, so old values
    stay valid for undo and `copy()` is a consistent snapshot for a writer on another thread.
    """

    texture: Patch | None = None
    template: Patch | None = None
    mask: Mask | None = None
    mask_source: str = "polygon"  # how the mask was made: freehand, polygon, brush, annotation
    placement: Placement | None = None  # None: the neutral placement
    anchors: dict[str, Anchor] = field(default_factory=dict)
    anchor_images: dict[str, np.ndarray] = field(default_factory=dict)
    continuum: Continuum | None = None  # None: no anchors yet, the app's new-project settings
    fps: float = DEFAULT_CONTINUUM["fps"]  # the app's playback speed of the continuum
    # What only the app looks at, kept as plain data.
    library: list[str] = field(default_factory=list)
    current: str | None = None
    generator: dict = field(default_factory=lambda: dict(DEFAULT_GENERATOR))
    view: dict = field(default_factory=lambda: dict(DEFAULT_VIEW))
    result: dict | None = None
    continuum_frames: dict | None = None
    # Saved beside the state: the model the design was made with, and where the file was
    # saved before it became a recovery copy.
    model: dict = field(default_factory=dict)
    original_path: str | None = None
    # Who listens: `changed(name)` after `update` replaced a field, `reset()` after `adopt`.
    events: ProjectEvents = field(
        default_factory=lambda: ProjectEvents(), init=False, repr=False, compare=False
    )

    def __post_init__(self):
        _, Placement, _, Continuum, _ = _records()
        if self.placement is None:
            self.placement = Placement()
        if self.continuum is None:
            d = DEFAULT_CONTINUUM
            self.continuum = Continuum([], d["frames"], d["loop"], d["method"], d["spacing"])

    # -- the file's plain state <-> records --------------------------------------------------

    @classmethod
    def from_state(cls, state: dict, model: dict | None = None) -> Project:
        """The file's plain state as records; missing keys take the defaults.

        Raises ProjectFileError naming the key whose value is not what the app writes."""
        full = complete_state(state)
        texture = _patch(full["texture"], "texture")
        anchors, images = _anchors(full["anchors"])
        continuum = continuum_from_record(full["path"], anchors)
        try:
            fps = float(full["path"].get("fps", DEFAULT_CONTINUUM["fps"]))
        except (TypeError, ValueError) as exc:
            raise ProjectFileError(f"the continuum's fps is damaged: {exc}") from None
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
            continuum_frames=(
                None
                if full["continuum_frames"] is None
                else _record(full["continuum_frames"], "continuum_frames")
            ),
            model=dict(model or {}),
        )

    def to_state(self) -> dict:
        """The records as the file's plain state (the inverse of `from_state`)."""
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
            "continuum_frames": self.continuum_frames,
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

    # -- the live model ----------------------------------------------------------------------

    def update(self, changes: dict) -> dict:
        """Replace the named fields (EDITABLE) with new values; one `changed(name)` event each.
        Returns the old values, so `update(old)` undoes it. Values are never changed in place:
        a list or record that changes is a new one."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise KeyError(f"not an editable field of a project: {sorted(unknown)}")
        old = {k: getattr(self, k) for k in changes}
        for k, v in changes.items():
            setattr(self, k, v)
        for k in changes:
            self.events.changed.emit(k)
        return old

    def adopt(self, other: Project) -> None:
        """Take every field of `other` (a new or opened design); one `reset()` event."""
        for f in fields(self):
            if f.name != "events":
                setattr(self, f.name, getattr(other, f.name))
        self.events.reset.emit()

    def copy(self) -> Project:
        """A snapshot later edits leave alone (they replace fields; this holds the old ones)."""
        return replace(
            self,
            anchors=dict(self.anchors),
            anchor_images=dict(self.anchor_images),
            library=list(self.library),
            generator=dict(self.generator),
            view=dict(self.view),
            model=dict(self.model),
        )

    def anchor(self, anchor_id: str) -> Anchor | None:
        return self.anchors.get(anchor_id)

    def anchor_id(self, anchor: Anchor) -> str | None:
        """The id under which `anchor` (this very record) is kept."""
        return next((aid for aid, a in self.anchors.items() if a is anchor), None)

    def continuum_ids(self) -> list[str]:
        """The ids of the continuum's anchors, in its order (one not kept is left out)."""
        ids = (self.anchor_id(a) for a in self.continuum.anchors)
        return [i for i in ids if i is not None]

    def new_anchor_id(self) -> str:
        return new_anchor_id(self.anchors)

    def unique_anchor_name(self, base: str) -> str:
        """`base`, or `base (2)`, `base (3)`… when a kept anchor has that name."""
        names = {a.name for a in self.anchors.values()}
        i, name = 2, base
        while name in names:
            name, i = f"{base} ({i})", i + 1
        return name

    # Edits as field changes (for `update`, or an undo command that applies them).

    def keep_anchor_changes(self, anchor: Anchor, image: np.ndarray | None = None) -> dict:
        """Keep `anchor` (under a new id, its name made unique) with its thumbnail."""
        Anchor = _records()[2]
        aid = self.new_anchor_id()
        kept = Anchor(self.unique_anchor_name(anchor.name), anchor.latent)
        images = dict(self.anchor_images)
        if image is not None:
            images[aid] = image
        return {"anchors": {**self.anchors, aid: kept}, "anchor_images": images}

    def rename_anchor_changes(self, anchor_id: str, name: str) -> dict:
        """The kept anchor under a new name, in the continuum too."""
        Anchor = _records()[2]
        old = self.anchors[anchor_id]
        new = Anchor(name, old.latent)
        anchors = {aid: new if aid == anchor_id else a for aid, a in self.anchors.items()}
        through = [new if a is old else a for a in self.continuum.anchors]
        return {"anchors": anchors, "continuum": replace(self.continuum, anchors=through)}

    def remove_anchors_changes(self, ids) -> dict:
        """Forget the kept anchors `ids` (and take them out of the continuum)."""
        ids = set(ids)
        gone = {id(self.anchors[i]) for i in ids if i in self.anchors}
        through = [a for a in self.continuum.anchors if id(a) not in gone]
        return {
            "anchors": {aid: a for aid, a in self.anchors.items() if aid not in ids},
            "anchor_images": {k: v for k, v in self.anchor_images.items() if k not in ids},
            "continuum": replace(self.continuum, anchors=through),
        }

    def continuum_changes(self, ids=None, **settings) -> dict:
        """The continuum through the kept anchors `ids` (None: as it is) with other settings
        (frames, loop, method, spacing)."""
        if ids is not None:
            settings["anchors"] = [self.anchors[i] for i in ids if i in self.anchors]
        return {"continuum": replace(self.continuum, **settings)}

    # -- what export needs -------------------------------------------------------------------

    def continuum_for_export(self) -> Continuum:
        """The continuum, checked (>= 2 anchors, frames, method, spacing, one latent shape)."""
        try:
            self.continuum.validate()
        except StimStudioError as exc:
            raise ProjectFileError(f"the project's continuum cannot be exported: {exc}") from None
        return self.continuum


class ProjectEvents:
    """A project's events: `changed(name)` (one field replaced) and `reset()` (all of them)."""

    def __init__(self) -> None:
        self.changed = EventEmitter()
        self.reset = EventEmitter()


# The fields the app edits live (Project.update); `model` and `original_path` belong to the
# file (the app sets them when it saves).
EDITABLE = (
    "texture",
    "template",
    "mask",
    "mask_source",
    "placement",
    "anchors",
    "anchor_images",
    "continuum",
    "fps",
    "library",
    "current",
    "generator",
    "view",
    "result",
    "continuum_frames",
)


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
