"""The project on disk: new, open, save, save as, the autosave copy and restoring it after a crash.

The project itself (core's live model and the undo stack) is `project.ProjectSession`; this is what the File menu and
the window's lifecycle do with it: ask before unsaved work is dropped, say what was written,
keep the recent-files list, write the recovery copy in the background, and offer it back when
the app did not close properly last time.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from stimstudio.core.project import Project

from .context import AppContext
from .errors import show_exception
from .folders import remember, start_path
from .project import SUFFIX, Recovery, read_project
from .status import Notice


class ProjectFiles(QObject):
    def __init__(self, ctx: AppContext, recovery: Recovery | None, notice: Notice, parent: QWidget):
        super().__init__(parent)
        self.ctx = ctx
        self.session = ctx.session  # the open project, its undo stack and where it is saved
        self.recovery = recovery  # None: no autosave (screenshots, tests)
        self.notice = notice
        self.parent_widget = parent
        self.closing = False  # the window is closing: no more autosaves
        self._autosave_task = None
        self._autosave_again = False

    def confirm_discard(self) -> bool:
        if not self.session.dirty:
            return True
        answer = QMessageBox.question(
            self.parent_widget,
            "Unsaved changes",
            "The project has unsaved changes. Save them first?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project()
        return answer == QMessageBox.StandardButton.Discard

    def new_project(self) -> None:
        if self.confirm_discard():
            self.session.replace_project(Project(), None)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.parent_widget,
            "Open project",
            start_path("project"),
            f"StimStudio project (*{SUFFIX})",
        )
        if path:
            remember("project", path)
            self.open_project(path)

    def open_project(self, path) -> bool:
        if not self.confirm_discard():
            return False
        try:
            meta = self.session.load(path)
        except Exception as exc:  # noqa: BLE001
            show_exception(self.parent_widget, exc)
            return False
        self._check_project_model(meta)
        self.ctx.prefs.add_recent(str(path))
        self.ctx.save_prefs()
        self.ctx.status(f"Opened {Path(path).name}", 5000)
        return True

    def _check_project_model(self, meta: dict) -> None:
        made = meta.get("model") or {}
        sha = made.get("sha256")
        model = self.ctx.model
        if sha and model is not None and model.sha256 and sha != model.sha256:
            name = made.get("short_name") or made.get("name", "another model")
            res = f" ({made['resolution']} px)" if made.get("resolution") else ""
            self.notice.show_message(
                f"This project was made with model <b>{name}</b>{res}; the loaded model is "
                f"{model.short_name} ({model.resolution} px). Anchors and results belong to "
                "their model: choose it in Settings ▸ Model to render them again."
            )

    def save_project(self) -> bool:
        if self.session.path is None:
            return self.save_project_as()
        return self._save_to(self.session.path)

    def save_project_as(self) -> bool:
        start = (
            str(self.session.path)
            if self.session.path
            else start_path("project", "stimuli" + SUFFIX)
        )
        path, _ = QFileDialog.getSaveFileName(
            self.parent_widget, "Save project", start, f"StimStudio project (*{SUFFIX})"
        )
        if path:
            remember("project", path)
        return bool(path) and self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            saved = self.session.save(path, self.ctx.model_info())
        except Exception as exc:  # noqa: BLE001
            show_exception(self.parent_widget, exc)
            return False
        self.ctx.prefs.add_recent(str(saved))
        self.ctx.save_prefs()
        self.ctx.status(f"Saved {saved.name}", 5000)
        return True

    def autosave(self) -> None:
        """Write the recovery copy when there is something unsaved (every minute, each run).

        The model is snapshotted here (fields are replaced, never changed in place, so a
        shallow copy is a consistent snapshot) and compressed and written in a worker: a
        project with many anchors takes tens of ms to pack, which the UI must not wait for.
        One write at a time; a request during a write runs once it is done."""
        if self.recovery is None or not self.session.dirty or self.closing:
            return
        if self._autosave_task is not None:
            self._autosave_again = True
            return
        recovery, snapshot = self.recovery, self.session.snapshot()
        info = self.ctx.model_info()

        def job():
            recovery.write(*snapshot, info)

        def done(_):
            self._autosave_task = None
            if not self.session.dirty and self.recovery is not None:
                self.recovery.discard()  # saved meanwhile: no stale recovery copy
            if self._autosave_again:
                self._autosave_again = False
                self.autosave()

        def failed(message: str, _detail: str) -> None:
            self._autosave_task = None
            self.ctx.status(f"Autosave failed: {message}", 8000)

        self._autosave_task = self.ctx.run_task(job, "", done, on_failed=failed)

    def autosave_pending(self) -> bool:
        return self._autosave_task is not None

    def offer_restore(self) -> bool:
        """After a crash: offer the recovery copy of the last session."""
        if self.recovery is None:
            return False
        pending = self.recovery.pending()
        if pending is None:
            self.recovery.claim()
            return False
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(pending.stat().st_mtime))
        answer = QMessageBox.question(
            self.parent_widget,
            "Restore unsaved work?",
            "StimStudio did not close properly last time. A recovery copy of the open project "
            f"was saved at {stamp}.\n\nRestore it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        restored = False
        if answer == QMessageBox.StandardButton.Yes:
            try:
                project, meta = read_project(pending)
                original = meta.get("original_path")
                self.session.replace_project(project, Path(original) if original else None)
                self.session.mark_unsaved()  # restored work is unsaved until saved
                restored = True
                self.ctx.status("Restored the recovery copy", 8000)
            except Exception as exc:  # noqa: BLE001
                show_exception(self.parent_widget, exc)
        if not restored:
            self.recovery.discard()
        self.recovery.claim()
        return restored
