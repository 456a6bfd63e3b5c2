"""The main window: library on the left, the workflow pages in the middle, anchors on the right.

The window owns the services every panel uses (`ctx`): the project (state + undo stack), the
loaded model and compute device, the render worker, background tasks, error dialogs and the
status bar. The model loads in a background worker; until it is there (or when there is no
weights file yet) images can still be opened and viewed.
"""

from __future__ import annotations

import html
import os
import time
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from .errors import show_error, show_exception
from .folders import remember, start_path
from .model_status import model_status
from .prefs import Preferences, sample_files, sample_title
from .project import SUFFIX, Project, Recovery
from .widgets import icon
from .workers import RenderQueue, Worker, load_model_job

PAGES = ("view", "mask", "placement", "compose", "interpolate", "generator")
# Old page names still accepted (`--page generate`): the page was called Generate before it took
# the CLI's word for the same job, `compose`.
PAGE_ALIASES = {"generate": "compose"}
PAGE_TITLES = {
    "view": "1 · View",
    "mask": "2 · Texture mask",
    "placement": "3 · Placement",
    "compose": "4 · Compose",
    "interpolate": "5 · Interpolate",
    "generator": "Generator",
}
PAGE_TIPS = {
    "view": "Look at a film, set window/level, cut the texture and the shape template (Ctrl+1)",
    "mask": "Lasso the tumor texture on the texture patch (Ctrl+2)",
    "placement": "Drag, scale and rotate the texture on the template (Ctrl+3)",
    "compose": "Render the stimulus: encoder + masked optimisation, four methods (Ctrl+4)",
    "interpolate": "Paths between anchors: scrub, play, measure the steps (Ctrl+5)",
    "generator": "Random samples by seed, truncation and per-layer style mixing (Ctrl+6)",
}
MAMMO_CACHE = 4


def initial_size() -> tuple[int, int]:
    """1440x900, or the screen's free area when that is smaller (a 1280x720 laptop)."""
    from PySide6.QtGui import QGuiApplication

    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return 1440, 900
    free = screen.availableGeometry()
    return min(1440, free.width()), min(900, free.height())


def memory_text(compute=None) -> str:
    rss = None
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError, IndexError):
        try:
            import resource

            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except (ImportError, OSError):
            rss = None
    parts = [f"RAM {rss / 2**30:.2f} GB"] if rss else []
    if compute is not None and compute.device.type == "cuda":
        import torch

        parts.append(f"GPU {torch.cuda.memory_allocated(compute.device) / 2**30:.2f} GB")
    return "Memory: " + (" · ".join(parts) if parts else "n/a")


def disconnect_all(obj, signals) -> None:
    """Drop every connection of these signals (a closing window must not get late calls)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "failed to disconnect": none there
        for name in signals:
            try:
                getattr(obj, name).disconnect()
            except (RuntimeError, TypeError):
                pass


class Notice(QFrame):
    """A banner across the top of the window for something the user should act on."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("notice")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.button = QPushButton()
        self.close_button = QPushButton("✕")
        self.close_button.setObjectName("flat")
        self.close_button.setFixedWidth(28)
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 6, 6)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.button)
        lay.addWidget(self.close_button)
        self._slot = None
        self.hide()

    def show_message(self, text: str, button: str | None = None, slot=None) -> None:
        self.text.setText(text)
        if self._slot is not None:
            self.button.clicked.disconnect(self._slot)
            self._slot = None
        self.button.setVisible(bool(button))
        if button:
            self.button.setText(button)
            self._slot = slot
            self.button.clicked.connect(slot)
        self.show()


class MainWindow(QMainWindow):
    model_changed = Signal(object)  # Model or None
    prefs_changed = Signal()

    def __init__(
        self,
        weights: str | None = None,
        device: str | None = None,
        precision: str | None = None,
        recovery: bool = True,
    ):
        super().__init__()
        self.setWindowTitle("StimStudio")
        self.resize(*initial_size())
        self.setAcceptDrops(True)
        self.prefs = Preferences.load()
        self.weights_override = weights
        if device:
            self.prefs.device = device
        if precision:
            self.prefs.precision = precision
        self.project = Project(self)
        self.model = None
        self.compute = None
        self.model_error: str | None = None
        self.model_status = None  # ModelStatus of the loaded model
        self.loader: Worker | None = None
        self.tasks: set[Worker] = set()
        self._mammos: OrderedDict[str, object] = OrderedDict()
        self.recovery = Recovery() if recovery else None
        self.force_close = False  # screenshots and tests close without asking
        self._closing = False
        self.render_worker = RenderQueue(parent=self)
        self.render_worker.start()

        self._build_ui()
        self.project.dirty_changed.connect(self._update_title)
        self.project.reset.connect(self._update_title)
        self._update_title()

        self._mem_timer = QTimer(self)
        self._mem_timer.timeout.connect(self._update_memory)
        self._mem_timer.start(2000)
        self._autosave_task = None
        self._autosave_again = False
        self._autosave_timer = QTimer(self)
        self._autosave_timer.timeout.connect(self.autosave)
        if self.recovery is not None:
            self._autosave_timer.start(max(5, self.prefs.autosave_seconds) * 1000)

    # -- building ----------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.notice = Notice()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.pages: dict[str, QWidget] = {}
        for name in PAGES:
            page = self._make_page(name)
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
        self._build_actions()
        self._build_status()

    def _make_page(self, name: str) -> QWidget:
        import importlib

        classes = {
            "view": ("view", "ViewPage"),
            "mask": ("mask", "MaskPage"),
            "placement": ("placement", "PlacementPage"),
            "compose": ("compose", "ComposePage"),
            "interpolate": ("interpolate", "InterpolatePage"),
            "generator": ("generator", "GeneratorPage"),
        }
        if name in classes:
            module, cls = classes[name]
            mod = importlib.import_module(f".panels.{module}", __package__)
            return getattr(mod, cls)(self)
        from .widgets import placeholder

        return placeholder(PAGE_TIPS[name])

    def _build_docks(self) -> None:
        from .panels.library import LibraryPanel

        self.library = LibraryPanel(self)
        self.library_dock = self._dock(
            "Library", self.library, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.library_dock.setMinimumWidth(250)
        from .panels.anchors import AnchorsPanel

        self.anchors = AnchorsPanel(self)
        self.anchors_dock = self._dock(
            "Anchors", self.anchors, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.anchors_dock.setMinimumWidth(230)

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

    def _action(self, text, slot, shortcut=None, tip=None, icon_name=None) -> QAction:
        act = QAction(text, self)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        if icon_name:
            act.setIcon(icon(icon_name))
        tip = tip or text.replace("…", "").replace("&", "")
        if shortcut:
            seq = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
            tip = f"{tip} ({seq})"
        act.setToolTip(tip)
        act.setStatusTip(tip)
        act.triggered.connect(slot)
        return act

    def _build_actions(self) -> None:
        mb = self.menuBar()
        self.act_open = self._action(
            "&Open images…", self.open_files_dialog, "Ctrl+O", "Open image files", "open"
        )
        self.act_open_folder = self._action(
            "Open &folder…",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            "Open every mammogram in a folder (mini-MIAS, CBIS-DDSM, INbreast, …)",
            "folder",
        )
        self.act_open_project = self._action(
            "Open &project…", self.open_project_dialog, "Ctrl+Shift+P", icon_name="project"
        )
        self.act_save = self._action("&Save project", self.save_project, "Ctrl+S", icon_name="save")
        self.act_save_as = self._action("Save project &as…", self.save_project_as, "Ctrl+Shift+S")
        self.act_new = self._action("&New project", self.new_project, "Ctrl+N")
        self.act_quit = self._action("&Quit", self.close, "Ctrl+Q")
        self.recent_menu = None

        file_menu = mb.addMenu("&File")
        file_menu.addAction(self.act_new)
        file_menu.addAction(self.act_open)
        file_menu.addAction(self.act_open_folder)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction(self.act_open_project)
        file_menu.addAction(self.act_save)
        file_menu.addAction(self.act_save_as)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)

        self.act_undo = self.project.undo.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_undo.setIcon(icon("undo"))
        self.act_redo = self.project.undo.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Y")])
        self.act_redo.setIcon(icon("redo"))
        self.act_settings = self._action(
            "&Settings…", self.open_settings, "Ctrl+,", icon_name="settings"
        )
        edit = mb.addMenu("&Edit")
        edit.addAction(self.act_undo)
        edit.addAction(self.act_redo)
        edit.addSeparator()
        edit.addAction(self.act_settings)

        self.view_menu = mb.addMenu("&View")
        for i, name in enumerate(PAGES):
            act = self._action(
                PAGE_TITLES[name], lambda _=False, n=name: self.show_page(n), f"Ctrl+{i + 1}"
            )
            self.view_menu.addAction(act)
        self.view_menu.addSeparator()
        for dock in self.findChildren(QDockWidget):
            self.view_menu.addAction(dock.toggleViewAction())

        tools = mb.addMenu("&Tools")
        tools.addAction(
            self._action(
                "&Judgement test…",
                self.open_judgement_test,
                tip="Real/fake judgement test: a participant rates real and generated images "
                "full screen; every answer is saved at once",
            )
        )
        tools.addAction(
            self._action(
                "&Analyze judgements…",
                self.open_judgement_analysis,
                tip="ROC, AUC (bootstrap CI), d', c and test-retest agreement from results CSVs",
            )
        )

        help_menu = mb.addMenu("&Help")
        samples = help_menu.addMenu("&Samples")
        for path in sample_files():
            samples.addAction(
                self._action(sample_title(path), lambda _=False, p=path: self.open_paths([p]))
            )
        samples.addSeparator()
        samples.addAction(self._action("Open all samples", lambda: self.open_paths(sample_files())))
        help_menu.addAction(self._action("&Keyboard shortcuts", self.show_shortcuts, "F1"))
        help_menu.addAction(
            self._action(
                "About the &model…",
                self.show_model_about,
                tip="What the loaded model was trained on and how it measures against its "
                "quality targets",
            )
        )
        help_menu.addAction(self._action("&About StimStudio", self.show_about))

        tb = QToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for act in (self.act_open, self.act_open_folder, self.act_save):
            tb.addAction(act)
        tb.addSeparator()
        tb.addAction(self.act_undo)
        tb.addAction(self.act_redo)
        tb.addSeparator()
        tb.addAction(self.act_settings)
        self.addToolBar(tb)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.task_label = QLabel("")
        self.task_label.setMaximumWidth(280)  # a long task name never widens the window
        self.task_bar = QProgressBar()
        self.task_bar.setMaximumWidth(140)
        self.task_bar.setTextVisible(False)
        self.task_bar.setRange(0, 0)
        self.task_bar.hide()
        self.device_label = QLabel("Device: …")
        self.device_label.setToolTip("Where the model computes; change it in Settings (Ctrl+,)")
        self.model_label = QPushButton("Model: loading…")
        self.model_label.setObjectName("statusButton")
        self.model_label.setToolTip("The generator + encoder in use. Click for its status.")
        self.model_label.clicked.connect(self.show_model_about)
        self.memory_label = QLabel(memory_text())
        for w in (self.task_label, self.task_bar, self.model_label, self.device_label):
            sb.addPermanentWidget(w)
        sb.addPermanentWidget(self.memory_label)

    # -- model -------------------------------------------------------------------------------

    def weights_path(self) -> str | None:
        return self.weights_override or self.prefs.weights or None

    def load_model(self) -> None:
        if self.loader is not None and self.loader.isRunning():
            self._reload_pending = True  # load again with the new settings when it is done
            return
        self._reload_pending = False
        self.model_label.setText("Model: loading…")
        self.device_label.setText("Device: …")
        weights, device, precision = self.weights_path(), self.prefs.device, self.prefs.precision
        self.loader = Worker(lambda: load_model_job(weights, device, precision))
        self.loader.yielded.connect(lambda loaded: self._model_loaded(*loaded))
        self.loader.errored.connect(self._model_failed)
        self.loader.finished.connect(self._loader_finished)
        self.loader.start()

    def _loader_finished(self) -> None:
        if self.loader is not None:
            self.loader.wait()
        if getattr(self, "_reload_pending", False):
            self.load_model()

    def _model_loaded(self, model, compute) -> None:
        self.model, self.compute, self.model_error = model, compute, None
        self.render_worker.set_model(model, compute)
        self.model_status = model_status(model.card, model.name)
        self.model_label.setText(f"Model: {model.name} · {self.model_status.short}")
        self.model_label.setToolTip(
            f"{self.model_status.summary}\n\n{model.resolution} px. Click for the model's "
            "evaluation (Help ▸ About the model)."
        )
        self.model_label.setProperty("warning", not self.model_status.ready)
        self.model_label.style().polish(self.model_label)
        self.device_label.setText(f"Device: {compute.describe()}")
        self.notice.hide()
        self.statusBar().showMessage(f"Model {model.name} loaded", 5000)
        self.model_changed.emit(model)

    def _model_failed(self, message: str, detail: str) -> None:
        self.model, self.compute, self.model_error = None, None, message
        self.model_status = None
        self.render_worker.set_model(None, None)
        self.model_label.setText("No model — choose one in Settings…")
        self.model_label.setProperty("warning", True)
        self.model_label.style().polish(self.model_label)
        self.device_label.setText(f"Device: {self.prefs.device}")
        if detail:
            show_error(self, message, detail)
        self.notice.show_message(
            f"<b>No model loaded.</b> {message}<br>Pick a weights file (.safetensors) in "
            "Settings. You can still open and view images, cut patches and draw masks.",
            "Open Settings…",
            self.open_settings,
        )
        self.model_changed.emit(None)

    def model_info(self) -> dict:
        if self.model is None:
            return {}
        return {
            "name": self.model.name,
            "path": str(self.model.path) if self.model.path else None,
            "sha256": self.model.sha256,
            "resolution": self.model.resolution,
        }

    def require_model(self) -> bool:
        if self.model is not None:
            return True
        msg = self.model_error or "the model is still loading"
        show_error(self, f"No model is loaded: {msg}\nChoose a weights file in Settings (Ctrl+,).")
        return False

    # -- anchors -----------------------------------------------------------------------------

    def add_anchor(self, name: str, wplus, source: dict, image, model_sha256=None) -> str:
        """Keep a latent as a named anchor (one undo step); returns its id."""
        import numpy as np

        aid = self.project.new_anchor_id()
        rec = {
            "id": aid,
            "name": self.project.unique_anchor_name(name),
            "wplus": np.asarray(wplus, np.float32),
            "source": dict(source or {}),
            "model_sha256": model_sha256 or (self.model.sha256 if self.model else None),
            "image": None if image is None else np.asarray(image, np.float32),
        }
        self.project.set("anchors", [*self.project.get("anchors"), rec], f"Keep {rec['name']}")
        self.statusBar().showMessage(f"Kept anchor “{rec['name']}”", 5000)
        return aid

    # -- tasks -------------------------------------------------------------------------------

    def run_task(
        self, fn, label: str, on_done=None, on_progress=None, on_failed=None, on_cancelled=None
    ):
        """Run the job `fn` on a `Worker` (see workers.py); errors become a dialog unless
        on_failed. on_progress gets each yield, on_done the result, on_cancelled a cancel."""
        task = Worker(fn, label)
        if on_done:
            task.returned.connect(on_done)
        if on_progress:
            task.yielded.connect(on_progress)
        if on_cancelled:
            task.cancelled.connect(on_cancelled)
        task.errored.connect(on_failed or (lambda msg, detail: show_error(self, msg, detail)))
        task.finished.connect(lambda: self._task_finished(task))
        self.tasks.add(task)
        self._update_tasks()
        task.start()
        return task

    def _task_finished(self, task) -> None:
        task.wait()  # `finished` comes just before the thread ends: never drop a running QThread
        self.tasks.discard(task)
        if self._closing:
            return  # a late signal, already queued when the window closed
        self._update_tasks()

    def _update_tasks(self) -> None:
        busy = [t.label for t in self.tasks if t.label]
        self.task_bar.setVisible(bool(busy))
        text = busy[0] + (f" (+{len(busy) - 1})" if len(busy) > 1 else "") if busy else ""
        self.task_label.setText(text)

    def is_idle(self) -> bool:
        loading = self.loader is not None and self.loader.isRunning()
        pages_busy = any(getattr(p, "busy", lambda: False)() for p in self.pages.values())
        return not loading and not self.tasks and self.render_worker.idle() and not pages_busy

    # -- files -------------------------------------------------------------------------------

    def mammogram(self, path: str):
        """A read Mammogram from the small cache, or None (read it with read_mammogram_async)."""
        m = self._mammos.get(str(path))
        if m is not None:
            self._mammos.move_to_end(str(path))
        return m

    def remember_mammogram(self, path: str, mammo) -> None:
        self._mammos[str(path)] = mammo
        self._mammos.move_to_end(str(path))
        while len(self._mammos) > MAMMO_CACHE:
            self._mammos.popitem(last=False)

    def read_mammogram_async(self, path: str, on_done, on_failed=None) -> None:
        cached = self.mammogram(path)
        if cached is not None:
            on_done(cached)
            return

        def job():
            from stimstudio.core.readers import read_mammogram

            m = read_mammogram(path)
            m.preview(2048)  # build the display level off the UI thread
            return m

        def done(m):
            self.remember_mammogram(path, m)
            on_done(m)

        self.run_task(job, f"Reading {Path(path).name}…", done, on_failed=on_failed)

    read_mammogram_async_with_error = read_mammogram_async

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
            self._save_prefs()

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

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.prefs.recent:
            self.recent_menu.addAction(
                self._action(p, lambda _=False, path=p: self.open_paths([path]))
            )
        if not self.prefs.recent:
            act = self.recent_menu.addAction("(none yet)")
            act.setEnabled(False)

    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)

    # -- projects ----------------------------------------------------------------------------

    def _update_title(self, *_) -> None:
        name = self.project.path.name if self.project.path else "untitled"
        star = " •" if self.project.dirty else ""
        self.setWindowTitle(f"{name}{star} — StimStudio")

    def confirm_discard(self) -> bool:
        if not self.project.dirty:
            return True
        answer = QMessageBox.question(
            self,
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
            self.project.replace_state({}, None)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", start_path("project"), f"StimStudio project (*{SUFFIX})"
        )
        if path:
            remember("project", path)
            self.open_project(path)

    def open_project(self, path) -> bool:
        if not self.confirm_discard():
            return False
        try:
            meta = self.project.load(path)
        except Exception as exc:  # noqa: BLE001
            show_exception(self, exc)
            return False
        self._check_project_model(meta)
        self.prefs.add_recent(str(path))
        self._save_prefs()
        self.statusBar().showMessage(f"Opened {Path(path).name}", 5000)
        return True

    def _check_project_model(self, meta: dict) -> None:
        sha = (meta.get("model") or {}).get("sha256")
        if sha and self.model is not None and self.model.sha256 and sha != self.model.sha256:
            name = (meta.get("model") or {}).get("name", "another model")
            self.notice.show_message(
                f"This project was made with model <b>{name}</b>; the loaded model is "
                f"{self.model.name}. Anchors and results belong to their model: load it in "
                "Settings to render them again."
            )

    def save_project(self) -> bool:
        if self.project.path is None:
            return self.save_project_as()
        return self._save_to(self.project.path)

    def save_project_as(self) -> bool:
        start = (
            str(self.project.path)
            if self.project.path
            else start_path("project", "stimuli" + SUFFIX)
        )
        path, _ = QFileDialog.getSaveFileName(
            self, "Save project", start, f"StimStudio project (*{SUFFIX})"
        )
        if path:
            remember("project", path)
        return bool(path) and self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            saved = self.project.save(path, self.model_info())
        except Exception as exc:  # noqa: BLE001
            show_exception(self, exc)
            return False
        self.prefs.add_recent(str(saved))
        self._save_prefs()
        self.statusBar().showMessage(f"Saved {saved.name}", 5000)
        return True

    def autosave(self) -> None:
        """Write the recovery copy when there is something unsaved (every minute, each run).

        The state is snapshotted here (values are replaced, never changed in place, so a
        shallow copy is a consistent snapshot) and compressed and written in a worker: a
        project with many anchors takes tens of ms to pack, which the UI must not wait for.
        One write at a time; a request during a write runs once it is done."""
        if self.recovery is None or not self.project.dirty or self._closing:
            return
        if self._autosave_task is not None:
            self._autosave_again = True
            return
        recovery, snapshot = self.recovery, self.project.snapshot()
        info = self.model_info()

        def job():
            recovery.write_state(*snapshot, info)

        def done(_):
            self._autosave_task = None
            if not self.project.dirty and self.recovery is not None:
                self.recovery.discard()  # saved meanwhile: no stale recovery copy
            if self._autosave_again:
                self._autosave_again = False
                self.autosave()

        def failed(message: str, _detail: str) -> None:
            self._autosave_task = None
            self.statusBar().showMessage(f"Autosave failed: {message}", 8000)

        self._autosave_task = self.run_task(job, "", done, on_failed=failed)

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
            self,
            "Restore unsaved work?",
            "StimStudio did not close properly last time. A recovery copy of the open project "
            f"was saved at {stamp}.\n\nRestore it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        )
        restored = False
        if answer == QMessageBox.StandardButton.Yes:
            try:
                from .project import read_project

                state, meta = read_project(pending)
                original = meta.get("original_path")
                self.project.replace_state(state, Path(original) if original else None)
                self.project._view_dirty = True  # restored work is unsaved until saved
                self.project.dirty_changed.emit(True)
                restored = True
                self.statusBar().showMessage("Restored the recovery copy", 8000)
            except Exception as exc:  # noqa: BLE001
                show_exception(self, exc)
        if not restored:
            self.recovery.discard()
        self.recovery.claim()
        return restored

    # -- settings and help -------------------------------------------------------------------

    def _save_prefs(self) -> None:
        try:
            self.prefs.save()
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save preferences: {exc}", 8000)

    def open_settings(self) -> None:
        from .panels.settings import SettingsDialog

        dlg = SettingsDialog(self.prefs, self)
        if self.weights_override and not self.prefs.weights:
            dlg.weights.edit.setText(self.weights_override)
        if dlg.exec() != SettingsDialog.DialogCode.Accepted:
            return
        self.apply_prefs(dlg.result_prefs())

    def apply_prefs(self, new: Preferences) -> None:
        old = self.prefs
        reload = (
            new.weights != (old.weights or self.weights_override or "")
            or new.device != old.device
            or new.precision != old.precision
        )
        if new.weights != (old.weights or ""):
            self.weights_override = None
        self.prefs = new
        self._save_prefs()
        self.prefs_changed.emit()
        if reload:
            self.load_model()

    def open_judgement_test(self) -> None:
        from .judgement import open_judgement_test

        open_judgement_test(self)

    def open_judgement_analysis(self) -> None:
        from .judgement import open_judgement_analysis

        open_judgement_analysis(self)

    def show_shortcuts(self) -> None:
        rows = [
            ("Ctrl+O / Ctrl+Shift+O", "open images / a folder"),
            ("Ctrl+S", "save the project"),
            ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
            ("Ctrl+1 … Ctrl+6", "go to a page"),
            ("F", "fit the image to the view"),
            ("T / M", "View: cut the ROI as texture / as template"),
            ("L / P", "Mask: freehand lasso / polygon lasso"),
            ("Enter / Esc", "Mask: close / cancel a polygon"),
            ("E / B / X / V", "Mask: edit corners / brush add / brush erase / pan"),
            ("[ / ]", "Mask: smaller / larger brush"),
            ("Arrows, + / −, [ / ]", "Placement: move, scale, rotate (Shift: 5x)"),
            ("Ctrl+Enter / Esc", "Compose: run / cancel"),
            ("Space, ← / →", "Interpolate: play/pause, previous/next frame"),
            ("K", "keep the shown image as an anchor"),
        ]
        html = "<table cellpadding=4>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows
        )
        QMessageBox.information(self, "Keyboard shortcuts", html + "</table>")

    def show_about(self) -> None:
        from stimstudio import __version__

        QMessageBox.about(
            self,
            "About StimStudio",
            f"<b>StimStudio {__version__}</b><br>Realistic, controllable mammogram stimuli "
            "for vision science.<br>Method: Ren, Yu &amp; Whitney (2021); in-domain GAN "
            "inversion (Zhu et al. 2020); StyleGAN2 (Karras et al.).<br>Sample images: "
            "mini-MIAS (Suckling et al. 1994), research use only.",
        )

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

        ModelAboutDialog(self).exec()

    # -- navigation and lifecycle ------------------------------------------------------------

    def show_page(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.pages[PAGE_ALIASES.get(name, name)])

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
        if self.prefs.samples_offered or self.project.get("library") or not sample_files():
            return
        self.prefs.samples_offered = True
        self._save_prefs()
        self.open_paths(sample_files())
        self.statusBar().showMessage(
            "Opened the sample images — Help ▸ Samples has them any time", 10000
        )

    def _update_memory(self) -> None:
        self.memory_label.setText(memory_text(self.compute))

    def shutdown(self) -> None:
        """Stop workers (waiting for them) so the process can exit cleanly."""
        self._closing = True
        for p in self.pages.values():
            stop = getattr(p, "shutdown", None)
            if stop:
                stop()
        for t in list(self.tasks):
            t.cancel()
            disconnect_all(t, ("returned", "yielded", "errored", "cancelled", "finished"))
            t.wait(10000)
        self.tasks.clear()
        disconnect_all(self.render_worker, ("rendered", "failed"))
        if self.loader is not None:
            disconnect_all(self.loader, ("yielded", "errored", "finished"))
            self.loader.wait(30000)
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
