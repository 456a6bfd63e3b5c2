"""What the user made, in one place: the project state, its undo stack, and the `.stimproj` file.

Every change a user makes goes through `Project.set` / `Project.set_many`, which push a
`QUndoCommand` on the one `QUndoStack`; widgets listen to `changed(key)` and redraw. The state is
plain data (dicts, lists, numbers, strings, numpy arrays), so it saves as JSON + arrays:

    project.stimproj  (a zip)
      project.json    format, app version, model, and the state with arrays as references
      arrays.npz      every array of the state

The file is written to a temporary name and renamed (never half a file). A recovery copy of the
open project is autosaved beside the preferences; a lock file with the process id tells the next
start whether the last session ended without closing properly.
"""

from __future__ import annotations

import copy
import io
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from stimstudio.core.errors import StimStudioError

from .prefs import config_dir

FORMAT = "stimstudio-project-v1"
SUFFIX = ".stimproj"
MERGE_SECONDS = 1.5


class ProjectFileError(StimStudioError):
    """A project file that is missing, damaged, or of an unknown format."""


def default_state() -> dict:
    return {
        # file paths in the library panel
        "library": [],
        # the file shown in the View page
        "current": None,
        # working patches at model resolution in [-1, 1]: {"image", "source", "resolution"}
        "texture": None,
        "template": None,
        # the texture mask on the texture patch: {"polygon": [[x, y], ...] | "array", "feather"}
        "mask": None,
        "placement": {"dx": 0.0, "dy": 0.0, "scale": 1.0, "angle": 0.0},
        # the last generate run: images/metrics/latents per method, loss history
        "result": None,
        # named latents: {"id", "name", "wplus", "source", "model_sha256", "thumb"}
        "anchors": [],
        "path": {
            "anchors": [],  # anchor ids in path order
            "frames": 30,
            "loop": False,
            "method": "lerp",
            "spacing": "perceptual",  # even steps by default (issue 16: fast enough now)
            "fps": 12,
        },
        # computed frames of the path (positions, distances, thumbnails); not undoable
        "path_frames": None,
        "generator": {
            "seed": 0.0,
            "psi": 1.0,
            "cutoff": None,
            "noise_mode": "const",
            "sources": [],  # anchor ids beside the seed
            "mixing": None,  # per layer: index of the source (0 = seed)
        },
        "view": {"mask_opacity": 0.45},
    }


# Keys whose changes are view settings or caches: saved, but not on the undo stack.
NOT_UNDOABLE = {"view", "path_frames", "current"}


class SetValues(QUndoCommand):
    """Replace one or more state values; consecutive edits with the same merge tag merge."""

    _ids: dict[str, int] = {}

    def __init__(self, project: Project, changes: dict, text: str, merge: str | None = None):
        super().__init__(text)
        self.project = project
        self.new = changes
        self.old = {k: project.state[k] for k in changes}
        self.merge = merge
        self.stamp = time.monotonic()
        self._id = SetValues._ids.setdefault(merge, len(SetValues._ids) + 1) if merge else -1

    def id(self) -> int:  # noqa: A003 - Qt's name
        return self._id

    def mergeWith(self, other) -> bool:  # noqa: N802 - Qt's name
        if (
            not isinstance(other, SetValues)
            or other.merge != self.merge
            or set(other.new) != set(self.new)
            or other.stamp - self.stamp > MERGE_SECONDS
        ):
            return False
        self.new = other.new
        self.stamp = other.stamp
        return True

    def redo(self) -> None:
        self.project._apply(self.new)

    def undo(self) -> None:
        self.project._apply(self.old)


class Project(QObject):
    """The open project: state + undo stack + where it is saved."""

    changed = Signal(str)  # a state key
    reset = Signal()  # a whole new state (new / open / restore)
    dirty_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.undo = QUndoStack(self)
        self.state = default_state()
        self.path: Path | None = None
        self._view_dirty = False
        self.undo.cleanChanged.connect(self._clean_changed)

    # -- state -------------------------------------------------------------------------------

    def get(self, key: str):
        return self.state[key]

    def set(self, key: str, value, text: str, merge: str | None = None) -> None:
        self.set_many({key: value}, text, merge)

    def set_many(self, changes: dict, text: str, merge: str | None = None) -> None:
        unknown = set(changes) - set(self.state)
        if unknown:
            raise KeyError(f"unknown project keys: {sorted(unknown)}")
        undoable = {k: v for k, v in changes.items() if k not in NOT_UNDOABLE}
        quiet = {k: v for k, v in changes.items() if k in NOT_UNDOABLE}
        if quiet:
            self._apply(quiet)
            self._view_dirty = True
            self.dirty_changed.emit(self.dirty)
        if undoable:
            self.undo.push(SetValues(self, undoable, text, merge))

    def _apply(self, changes: dict) -> None:
        for k, v in changes.items():
            self.state[k] = v
        for k in changes:
            self.changed.emit(k)

    def _clean_changed(self, clean: bool) -> None:
        self.dirty_changed.emit(not clean or self._view_dirty)

    @property
    def dirty(self) -> bool:
        return not self.undo.isClean() or self._view_dirty

    def mark_clean(self) -> None:
        self._view_dirty = False
        self.undo.setClean()
        self.dirty_changed.emit(False)

    def snapshot(self) -> tuple[dict, Path | None]:
        """(state, path) as they are now; values are replaced on change, never mutated."""
        return copy.copy(self.state), self.path

    def anchor(self, anchor_id: str) -> dict | None:
        return next((a for a in self.state["anchors"] if a["id"] == anchor_id), None)

    def new_anchor_id(self) -> str:
        used = {a["id"] for a in self.state["anchors"]}
        i = len(used) + 1
        while f"a{i}" in used:
            i += 1
        return f"a{i}"

    def unique_anchor_name(self, base: str) -> str:
        names = {a["name"] for a in self.state["anchors"]}
        if base not in names:
            return base
        i = 2
        while f"{base} ({i})" in names:
            i += 1
        return f"{base} ({i})"

    # -- whole-project operations ------------------------------------------------------------

    def replace_state(self, state: dict, path: Path | None) -> None:
        """Open / new / restore: a fresh state and an empty undo stack."""
        full = default_state()
        for k, v in state.items():
            if k in full:
                if isinstance(full[k], dict) and isinstance(v, dict):
                    full[k].update(v)
                else:
                    full[k] = v
        self.undo.clear()
        self.state = full
        self.path = Path(path) if path else None
        self._view_dirty = False
        self.undo.setClean()
        self.reset.emit()
        self.dirty_changed.emit(False)

    def save(self, path: str | Path, model_info: dict | None = None, remember: bool = True):
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        write_project(path, self.state, model_info or {}, original=self.path)
        if remember:
            self.path = path
            self.mark_clean()
        return path

    def load(self, path: str | Path) -> dict:
        state, meta = read_project(path)
        self.replace_state(state, Path(path))
        return meta


# -- file format -----------------------------------------------------------------------------


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


def project_bytes(state: dict, model_info: dict, original: Path | None = None) -> bytes:
    from stimstudio import __version__ as version

    arrays: dict[str, np.ndarray] = {}
    doc = {
        "format": FORMAT,
        "app_version": version,
        "saved": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": model_info,
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


def write_project(path: Path, state: dict, model_info: dict, original: Path | None = None):
    from stimstudio.core.model import atomic_write_bytes

    path = Path(path)
    if not path.parent.is_dir():
        raise ProjectFileError(f"folder does not exist: {path.parent}")
    try:
        atomic_write_bytes(path, project_bytes(state, model_info, original))
    except OSError as exc:
        raise ProjectFileError(f"could not write {path.name}: {exc.strerror or exc}") from exc


def read_project(path: str | Path) -> tuple[dict, dict]:
    """(state, meta) from a .stimproj file; a damaged file is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise ProjectFileError(f"project file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            doc = json.loads(z.read("project.json"))
            with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ProjectFileError(f"{path.name} is not a readable StimStudio project: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ProjectFileError(
            f"{path.name} has an unknown project format {doc.get('format')!r}"
            if isinstance(doc, dict)
            else f"{path.name} is not a StimStudio project"
        )
    try:
        state = _decode(doc.get("state", {}), arrays)
    except KeyError as exc:
        raise ProjectFileError(f"{path.name} refers to a missing array {exc}") from exc
    meta = {k: v for k, v in doc.items() if k != "state"}
    return state, meta


# -- autosave and crash recovery -------------------------------------------------------------


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class Recovery:
    """The autosaved recovery copy and the lock that says a session is running."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder else config_dir() / "recovery"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.autosave_path = self.folder / f"autosave{SUFFIX}"
        self.lock_path = self.folder / "session.lock"

    def pending(self) -> Path | None:
        """The recovery copy of a session that ended without closing properly, if any."""
        if not self.autosave_path.is_file():
            return None
        try:
            pid = int(json.loads(self.lock_path.read_text()).get("pid", 0))
        except (OSError, ValueError, AttributeError):
            pid = 0
        if pid and pid != os.getpid() and _alive(pid):
            return None  # another StimStudio is running and owns this copy
        return self.autosave_path

    def claim(self) -> None:
        from stimstudio.core.model import atomic_write_bytes

        info = {"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        atomic_write_bytes(self.lock_path, json.dumps(info).encode())

    def write_state(self, state: dict, original: Path | None, model_info: dict | None) -> None:
        """Write a snapshot (from `Project.snapshot()`); safe to call from a worker thread."""
        write_project(self.autosave_path, state, model_info or {}, original=original)

    def discard(self) -> None:
        self.autosave_path.unlink(missing_ok=True)

    def release(self) -> None:
        self.discard()
        self.lock_path.unlink(missing_ok=True)
