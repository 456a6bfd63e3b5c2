"""What the user made, in one place: the project state, its undo stack, and autosave.

Every change a user makes goes through `Project.set` / `Project.set_many`, which push a
`QUndoCommand` on the one `QUndoStack`; widgets listen to `changed(key)` and redraw. The state is
plain data (dicts, lists, numbers, strings, numpy arrays), the app's view of
`stimstudio.core.project.Project`: saving converts it to core records (`Project.from_state`)
and writes them with core's `save_project`; opening reads with `load_project` and converts
back (`to_state`). So there is one `.stimproj` format, and the CLI exports what was designed
here (`stimstudio export --project`).

A recovery copy of the open project is autosaved beside the preferences; a lock file with the
process id tells the next start whether the last session ended without closing properly.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from stimstudio.core.errors import ProjectFileError
from stimstudio.core.project import FORMAT, SUFFIX, complete_state, default_state

from .prefs import config_dir

__all__ = ["FORMAT", "SUFFIX", "Project", "ProjectFileError", "Recovery", "read_project"]

MERGE_SECONDS = 1.5


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

    def set_baseline(self, changes: dict) -> None:
        """Changes that belong to the project's starting point, not to the user's edits (the
        first start's sample films): no undo step, and a clean project stays clean."""
        unknown = set(changes) - set(self.state)
        if unknown:
            raise KeyError(f"unknown project keys: {sorted(unknown)}")
        self._apply(changes)

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
        from stimstudio.core.project import new_anchor_id

        return new_anchor_id(a["id"] for a in self.state["anchors"])

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
        self.undo.clear()
        self.state = complete_state(state)
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


# -- the file, through core.project ----------------------------------------------------------


def write_project(path: Path, state: dict, model_info: dict, original: Path | None = None):
    """Save the app's state as core records with core's `save_project` (atomic)."""
    from stimstudio.core.project import Project as CoreProject
    from stimstudio.core.project import save_project

    project = CoreProject.from_state(state, model=model_info)
    project.original_path = str(original) if original else None
    path = Path(path)
    if not path.parent.is_dir():
        raise ProjectFileError(f"folder does not exist: {path.parent}")
    return save_project(project, path)


def read_project(path: str | Path) -> tuple[dict, dict]:
    """(state, meta) of a .stimproj through core's `load_project`; a damaged file is one
    clear error. meta holds the model the project was made with and its original path."""
    from stimstudio.core.project import load_project

    project = load_project(path)
    meta = {"format": FORMAT, "model": project.model, "original_path": project.original_path}
    return project.to_state(), meta


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
        from stimstudio.core.atomic import atomic_write_bytes

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
