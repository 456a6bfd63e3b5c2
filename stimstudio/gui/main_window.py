"""The main window: library on the left, the workflow pages in the middle, anchors on the right.

The window lays the app out and answers what the pages and panels ask of it through their
application context (`context.AppContext`: show a page, open Settings, a status message, ...).
Its jobs live in modules of their own: the pages (`pages`), the menus (`menus`), the status bar
and the notice banner (`status`), loading the model (`model_loading`), the project on disk with
autosave and recovery (`project_files`), background tasks (`tasks`). The model loads in a
background worker; until it is there (or when there is no weights file yet) images can still be
opened and viewed.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .context import AppContext
from .errors import show_error
from .folders import remember, start_path
from .menus import build_menus
from .model_loading import ModelLoading
from .pages import PAGE_TIPS, PAGE_TITLES, PAGES, make_page, page_name
from .panels.anchors import AnchorsPanel
from .panels.library import LibraryPanel
from .prefs import Preferences, sample_files
from .project import SUFFIX, ProjectSession, Recovery
from .project_files import ProjectFiles
from .status import Notice, StatusWidgets
from .tasks import disconnect_all
from .windows import exec_dialog, keep_on_screen
from .workers import RenderQueue


class MainWindow(QMainWindow):
    def __init__(
        self,
        weights: str | None = None,
        device: str | None = None,
        precision: str | None = None,
        recovery: bool = True,
    ):
        super().__init__()
        self.setWindowTitle("StimStudio")
        # 1440x900 at first, no larger than the screen's free area; then where it was left
        keep_on_screen(self, "main", default=(1440, 900))
        self.setAcceptDrops(True)
        prefs = Preferences.load()
        if device:
            prefs.device = device
        if precision:
            prefs.precision = precision
        render_worker = RenderQueue(parent=self)
        render_worker.start()
        self.ctx = AppContext(ProjectSession(self), prefs, render_worker, dialog_parent=self)
        self.recovery = Recovery() if recovery else None
        self.force_close = False  # screenshots and tests close without asking
        self.model_loading = ModelLoading(self.ctx, weights, self)

        self._build_ui()
        self.files = ProjectFiles(self.ctx, self.recovery, self.notice, self)
        self._connect()
        self._update_title()

        self._mem_timer = QTimer(self)
        self._mem_timer.timeout.connect(lambda: self.status_widgets.show_memory(self.compute))
        self._mem_timer.start(2000)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave)
        if self.recovery is not None:
            self._autosave_timer.start(max(5, self.prefs.autosave_seconds) * 1000)

    # -- the app's state, read through the context (the window keeps no copy) ----------------

    project = property(lambda self: self.ctx.project)
    session = property(lambda self: self.ctx.session)
    prefs = property(lambda self: self.ctx.prefs)
    model = property(lambda self: self.ctx.model)
    compute = property(lambda self: self.ctx.compute)
    model_error = property(lambda self: self.ctx.model_error)
    model_status = property(lambda self: self.ctx.model_status)
    model_changed = property(lambda self: self.ctx.model_changed)
    prefs_changed = property(lambda self: self.ctx.prefs_changed)
    render_worker = property(lambda self: self.ctx.render_worker)
    loader = property(lambda self: self.model_loading.loader)

    def add_anchor(
        self, name: str, wplus, source: dict, image, model_sha256=None, noise=None
    ) -> str:
        """Keep a latent (and the noise maps it renders with) as a named anchor (one undo
        step); returns its id."""
        return self.ctx.add_anchor(name, wplus, source, image, model_sha256, noise)

    # -- building ----------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.notice = Notice()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.pages: dict[str, QWidget] = {}
        for name in PAGES:
            page = make_page(name, self.ctx)
            self.pages[name] = page
            i = self.tabs.addTab(page, PAGE_TITLES[name])
            self.tabs.setTabToolTip(i, PAGE_TIPS[name])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.notice)
        lay.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._build_docks()
        build_menus(self)
        self.status_widgets = StatusWidgets(self.statusBar(), self.show_model_about)
        self.model_label = self.status_widgets.model_label
        self.device_label = self.status_widgets.device_label
        self.memory_label = self.status_widgets.memory_label

    def _build_docks(self) -> None:
        self.library = LibraryPanel(self.ctx)
        self.library_dock = self._dock(
            "Library", self.library, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.library_dock.setMinimumWidth(200)
        self.anchors = AnchorsPanel(self.ctx)
        self.anchors_dock = self._dock(
            "Anchors", self.anchors, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.anchors_dock.setMinimumWidth(200)

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        """Answer the context's requests; show the model, tasks and title as they change."""
        ctx = self.ctx
        ctx.page_requested.connect(self.show_page)
        ctx.settings_requested.connect(self.open_settings)
        ctx.model_about_requested.connect(self.show_model_about)
        ctx.open_requested.connect(self.open_paths)
        ctx.open_dialog_requested.connect(
            lambda kind: self.open_folder_dialog() if kind == "folder" else self.open_files_dialog()
        )
        ctx.saved.connect(self.show_saved)
        ctx.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        ctx.autosave_requested.connect(self.autosave)
        ctx.tasks.changed.connect(lambda: self.status_widgets.show_tasks(ctx.tasks.labels()))
        self.model_loading.started.connect(self.status_widgets.show_loading)
        self.model_loading.loaded.connect(self._model_loaded)
        self.model_loading.failed.connect(self._model_failed)
        self.session.dirty_changed.connect(self._update_title)
        self.session.reset.connect(self._update_title)

    # -- model -------------------------------------------------------------------------------

    def load_model(self) -> None:
        self.model_loading.load()

    def _model_loaded(self, model, compute) -> None:
        self.status_widgets.show_model(model, self.model_status, compute)
        self.notice.hide()
        self.statusBar().showMessage(f"Model {model.name} loaded", 5000)

    def _model_failed(self, message: str, detail: str) -> None:
        self.status_widgets.show_no_model(self.prefs.device)
        if detail:
            show_error(self, message, detail)
        self.notice.show_message(
            f"<b>No model loaded.</b> {message}<br>Pick a weights file (.safetensors) in "
            "Settings. You can still open and view images, cut patches and draw masks.",
            "Open Settings…",
            self.open_settings,
        )

    def is_idle(self) -> bool:
        pages_busy = any(getattr(p, "busy", lambda: False)() for p in self.pages.values())
        return (
            not self.model_loading.busy()
            and not self.ctx.tasks.busy()
            and self.render_worker.idle()
            and not pages_busy
        )

    # -- files -------------------------------------------------------------------------------

    def open_paths(self, paths) -> None:
        paths = [Path(p) for p in paths]
        projects = [p for p in paths if p.suffix == SUFFIX]
        if projects:
            self.open_project(projects[0])
            paths = [p for p in paths if p.suffix != SUFFIX]
        if paths and self.library is not None:
            self.library.add_paths(paths)
            for p in paths:
                self.prefs.add_recent(str(p))
            self.ctx.save_prefs()

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open images",
            start_path("images"),
            "Mammograms (*.dcm *.dicom *.pgm *.png *.tif *.tiff *.jpg *.jpeg *.LJPEG);;"
            "All files (*)",
        )
        if files:
            remember("images", files[0])
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder of mammograms", start_path("images")
        )
        if folder:
            remember("images", folder)
            self.open_paths([folder])

    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)

    # -- projects (project_files.ProjectFiles does the work) ---------------------------------

    def _update_title(self, *_) -> None:
        name = self.session.path.name if self.session.path else "untitled"
        star = " •" if self.session.dirty else ""
        self.setWindowTitle(f"{name}{star} — StimStudio")

    def confirm_discard(self) -> bool:
        return self.files.confirm_discard()

    def new_project(self) -> None:
        self.files.new_project()

    def open_project_dialog(self) -> None:
        self.files.open_project_dialog()

    def open_project(self, path) -> bool:
        return self.files.open_project(path)

    def save_project(self) -> bool:
        return self.files.save_project()

    def save_project_as(self) -> bool:
        return self.files.save_project_as()

    def autosave(self) -> None:
        self.files.autosave()

    def autosave_pending(self) -> bool:
        return self.files.autosave_pending()

    def offer_restore(self) -> bool:
        return self.files.offer_restore()

    # -- settings and help -------------------------------------------------------------------

    def open_settings(self) -> None:
        from .panels.settings import SettingsDialog

        override = self.model_loading.weights_override
        dlg = SettingsDialog(self.prefs, self)
        if override and not self.prefs.weights:
            dlg.weights.select(override)
        new = exec_dialog(dlg, lambda d: d.result_prefs())
        if new is not None:
            self.apply_prefs(new)

    def apply_prefs(self, new: Preferences) -> None:
        old, loading = self.prefs, self.model_loading
        reload = (
            new.weights != (old.weights or loading.weights_override or "")
            or new.device != old.device
            or new.precision != old.precision
        )
        if new.weights != (old.weights or ""):
            loading.weights_override = None
        self.ctx.prefs = new
        self.ctx.save_prefs()
        self.prefs_changed.emit()
        if reload:
            self.load_model()

    def open_judgement_test(self) -> None:
        from .judgement import open_judgement_test

        open_judgement_test(self)

    def open_judgement_analysis(self) -> None:
        from .judgement import open_judgement_analysis

        open_judgement_analysis(self)

    def show_saved(self, text: str, folder) -> None:
        """A finished export or save: say so across the top, with a button to open the folder."""
        folder = Path(folder)
        self.statusBar().showMessage(text, 10000)
        self.notice.show_message(
            f"<b>Done.</b> {html.escape(text)}", "Open folder", lambda: self.open_folder(folder)
        )

    def open_folder(self, folder) -> bool:
        """Show a folder in the system's file manager."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        ok = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        if not ok:
            self.statusBar().showMessage(f"Could not open {folder}: open it by hand", 8000)
        return ok

    def show_model_about(self) -> None:
        """Help ▸ About the model: the card's evaluation against its targets, or why none."""
        from .panels.settings import ModelAboutDialog

        exec_dialog(ModelAboutDialog(self.ctx))

    # -- navigation and lifecycle ------------------------------------------------------------

    def show_page(self, name: str) -> None:
        """Show a page by name (an old name, such as "generate", is accepted too)."""
        self.tabs.setCurrentWidget(self.pages[page_name(name)])

    def start(
        self,
        project: str | None = None,
        files=(),
        offer_restore: bool = True,
        first_run_samples: bool = True,
    ) -> None:
        """What happens right after the window is shown."""
        self.load_model()
        restored = self.offer_restore() if offer_restore else False
        if self.recovery is not None and not offer_restore:
            self.recovery.claim()
        if project and not restored:
            self.open_project(project)
        if files:
            self.open_paths(files)
        if first_run_samples and not (project or files or restored):
            self.open_samples_first_run()

    def open_samples_first_run(self) -> None:
        """The very first start opens the shipped samples, so there is something to try."""
        if self.prefs.samples_offered or self.project.library or not sample_files():
            return
        self.prefs.samples_offered = True
        self.ctx.save_prefs()
        # the starting point of a new project, not an edit: no "•", no "Undo Add 3 images"
        self.library.add_paths(sample_files(), baseline=True)
        self.statusBar().showMessage(
            "Opened the sample images — Help ▸ Samples has them any time", 10000
        )

    def shutdown(self) -> None:
        """Stop workers (waiting for them) so the process can exit cleanly."""
        self.files.closing = True
        for p in self.pages.values():
            stop = getattr(p, "shutdown", None)
            if stop:
                stop()
        self.ctx.tasks.shutdown()
        disconnect_all(self.render_worker, ("rendered", "failed"))
        self.model_loading.shutdown()
        self.render_worker.stop()
        self._autosave_timer.stop()
        self._mem_timer.stop()

    def closeEvent(self, event):  # noqa: N802
        if not self.force_close and not self.confirm_discard():
            event.ignore()
            return
        self.shutdown()
        if self.recovery is not None:
            self.recovery.release()
        event.accept()
