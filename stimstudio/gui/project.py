"""The open project in the app: core's live model, its undo stack, its file and autosave.

The design itself is `stimstudio.core.project.Project` (`ProjectSession.project`, the app's `AppContext.project`), Qt-free: its
fields are core records (patches, Mask, Placement, Anchors, Continuum) and plain app data.
Every change a user makes goes through `ProjectSession.set` / `set_many`, which push a
`QUndoCommand` that replaces fields with `Project.update` (undo puts the old values back); the
project's events (`changed(field)`, `reset()`) come out here as Qt signals, which panels listen to
and redraw. Saving and opening are core's `save_project` / `load_project`, so there is one
`.stimproj` format and the CLI exports what was designed here (`stimstudio export --project`).

A recovery copy of the open project is autosaved beside the preferences; a lock file with the
process id tells the next start whether the last session ended without closing properly.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from stimstudio.core.errors import ProjectFileError
from stimstudio.core.project import EDITABLE, FORMAT, SUFFIX, Project, load_project, save_project

from .prefs import config_dir

__all__ = ["FORMAT", "SUFFIX", "ProjectFileError", "ProjectSession", "Recovery", "read_project"]

MERGE_SECONDS = 1.5


# Fields whose changes are view settings or caches: saved, but not on the undo stack.
NOT_UNDOABLE = {"view", "continuum_frames", "current"}


class SetFields(QUndoCommand):
    """Replace one or more fields of the project; consecutive edits with the same merge tag
    merge into one undo step."""

    _ids: dict[str, int] = {}

    def __init__(self, project: Project, changes: dict, text: str, merge: str | None = None):
        super().__init__(text)
        self.project = project
        self.new = changes
        self.old = {k: getattr(project, k) for k in changes}
        self.merge = merge
        self.stamp = time.monotonic()
        self._id = SetFields._ids.setdefault(merge, len(SetFields._ids) + 1) if merge else -1

    def id(self) -> int:  # noqa: A003 - Qt's name
        return self._id

    def mergeWith(self, other) -> bool:  # noqa: N802 - Qt's name
        if (
            not isinstance(other, SetFields)
            or other.merge != self.merge
            or set(other.new) != set(self.new)
            or other.stamp - self.stamp > MERGE_SECONDS
        ):
            return False
        self.new = other.new
        self.stamp = other.stamp
        return True

    def redo(self) -> None:
        self.project.update(self.new)

    def undo(self) -> None:
        self.project.update(self.old)


class ProjectSession(QObject):
    """The open project: core's live model + the undo stack over it + where it is saved."""

    changed = Signal(str)  # a field of the project
    reset = Signal()  # a whole new design (new / open / restore)
    dirty_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.undo = QUndoStack(self)
        self.project = Project()
        self.project.events.changed.connect(self.changed.emit)
        self.project.events.reset.connect(self.reset.emit)
        self.path: Path | None = None
        self._view_dirty = False
        self.undo.cleanChanged.connect(self._clean_changed)

    # -- edits -------------------------------------------------------------------------------

    def set(self, name: str, value, text: str, merge: str | None = None) -> None:
        self.set_many({name: value}, text, merge)

    def set_many(self, changes: dict, text: str, merge: str | None = None) -> None:
        """Replace fields of the project as one undo step called `text` (view settings and
        caches, NOT_UNDOABLE, change at once without one)."""
        self._check(changes)
        undoable = {k: v for k, v in changes.items() if k not in NOT_UNDOABLE}
        quiet = {k: v for k, v in changes.items() if k in NOT_UNDOABLE}
        if quiet:
            self.project.update(quiet)
            self._view_dirty = True
            self.dirty_changed.emit(self.dirty)
        if undoable:
            self.undo.push(SetFields(self.project, undoable, text, merge))

    def set_baseline(self, changes: dict) -> None:
        """Changes that belong to the project's starting point, not to the user's edits (the
        first start's sample films): no undo step, and a clean project stays clean."""
        self._check(changes)
        self.project.update(changes)

    def _check(self, changes: dict) -> None:
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise KeyError(f"unknown project fields: {sorted(unknown)}")

    def _clean_changed(self, clean: bool) -> None:
        self.dirty_changed.emit(not clean or self._view_dirty)

    @property
    def dirty(self) -> bool:
        return not self.undo.isClean() or self._view_dirty

    def mark_clean(self) -> None:
        self._view_dirty = False
        self.undo.setClean()
        self.dirty_changed.emit(False)

    def mark_unsaved(self) -> None:
        """Unsaved work that is no undo step (a restored recovery copy)."""
        self._view_dirty = True
        self.dirty_changed.emit(True)

    def snapshot(self) -> tuple[Project, Path | None]:
        """(a copy of the project, path) as they are now, for a writer on another thread."""
        return self.project.copy(), self.path

    # -- whole-project operations ------------------------------------------------------------

    def replace_project(self, project: Project, path: Path | None) -> None:
        """Open / new / restore: another design and an empty undo stack."""
        self.undo.clear()
        self.path = Path(path) if path else None
        self._view_dirty = False
        self.project.adopt(project)
        self.undo.setClean()
        self.dirty_changed.emit(False)

    def save(self, path: str | Path, model_info: dict | None = None, remember: bool = True):
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        write_project(path, self.project.copy(), model_info or {}, original=self.path)
        if remember:
            self.path = path
            self.mark_clean()
        return path

    def load(self, path: str | Path) -> dict:
        project, meta = read_project(path)
        self.replace_project(project, Path(path))
        return meta


# -- the file, through core.project ----------------------------------------------------------


def write_project(path: Path, project: Project, model_info: dict, original: Path | None = None):
    """Save a copy of the project with core's `save_project` (atomic)."""
    project.model = dict(model_info)
    project.original_path = str(original) if original else None
    path = Path(path)
    if not path.parent.is_dir():
        raise ProjectFileError(f"folder does not exist: {path.parent}")
    return save_project(project, path)


def read_project(path: str | Path) -> tuple[Project, dict]:
    """(project, meta) of a .stimproj through core's `load_project`; a damaged file is one
    clear error. meta holds the model the project was made with and its original path."""
    project = load_project(path)
    meta = {"format": FORMAT, "model": project.model, "original_path": project.original_path}
    return project, meta


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

    def write(self, project: Project, original: Path | None, model_info: dict | None) -> None:
        """Write a snapshot (from `ProjectSession.snapshot()`); safe on a worker thread."""
        write_project(self.autosave_path, project, model_info or {}, original=original)

    def discard(self) -> None:
        self.autosave_path.unlink(missing_ok=True)

    def release(self) -> None:
        self.discard()
        self.lock_path.unlink(missing_ok=True)
