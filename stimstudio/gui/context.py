"""The application context: what the pages and side panels may use of the app, and no more.

A panel is given an `AppContext`, never the main window. It holds the app's state (the project,
core's live `Project`, with the session that keeps the undo stack over it; the preferences,
the loaded model and its compute device), the services a panel calls (background tasks, the live renderer, the
small cache of read films, keeping an anchor) and the requests a panel makes of the window (show a page, open Settings, a message in
the status bar, ...), which are signals the window answers. So a panel's whole dependency on
the app is this class, and a panel can be built around a context without a window.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from .errors import show_error
from .prefs import Preferences
from .project import ProjectSession
from .tasks import TaskRunner

FILM_CACHE = 4  # read films kept in memory (a full-field film is tens of MB)


class AppContext(QObject):
    model_changed = Signal(object)  # the Model, or None (no model, or it failed to load)
    prefs_changed = Signal()  # Settings were applied (`prefs` is a new object then)

    # requests a panel makes; the window answers them
    page_requested = Signal(str)
    settings_requested = Signal()
    model_about_requested = Signal()
    open_requested = Signal(list)  # paths: films, folders or a project
    open_dialog_requested = Signal(str)  # "files" | "folder"
    saved = Signal(str, object)  # what was written, the folder it went to
    message = Signal(str, int)  # a status-bar message and how long it stays (ms)
    autosave_requested = Signal()

    def __init__(
        self, session: ProjectSession, prefs: Preferences, render_worker, dialog_parent=None
    ):
        super().__init__(dialog_parent)
        self.session = session  # the undo stack over the project, its file, its Qt signals
        self.prefs = prefs
        self.render_worker = render_worker  # live G(w+) renders, newest request per channel
        self.dialog_parent = dialog_parent  # the parent of dialogs a panel opens
        self.tasks = TaskRunner(dialog_parent)
        self.model = None  # the loaded Model, or None
        self.compute = None  # its Compute (device, precision)
        self.model_error: str | None = None  # why there is no model
        self.model_status = None  # ModelStatus of the loaded model, from its card
        # The anchors selected in the Anchors panel (the panel sets this when it is made).
        self.selected_anchor_ids: Callable[[], list[str]] = list
        self._films: OrderedDict[str, object] = OrderedDict()

    @property
    def project(self):
        """The open design: core's live `Project` (the same object for the whole session)."""
        return self.session.project

    # -- the model -------------------------------------------------------------------------

    def require_model(self) -> bool:
        """True when a model is loaded; otherwise say why not (a dialog) and return False."""
        if self.model is not None:
            return True
        msg = self.model_error or "the model is still loading"
        show_error(
            self.dialog_parent,
            f"No model is loaded: {msg}\nChoose a weights file in Settings (Ctrl+,).",
        )
        return False

    def model_info(self) -> dict:
        """The loaded model as a project file records it (empty without a model)."""
        if self.model is None:
            return {}
        return {
            "name": self.model.name,
            "path": str(self.model.path) if self.model.path else None,
            "sha256": self.model.sha256,
            "resolution": self.model.resolution,
            "short_name": self.model.short_name,
            "spacing_mm": self.model.tag()["spacing_mm"],
        }

    # -- services --------------------------------------------------------------------------

    def run_task(
        self, fn, label: str, on_done=None, on_progress=None, on_failed=None, on_cancelled=None
    ):
        """Run the job `fn` on a Worker (a generator's yields are progress); see workers.py."""
        return self.tasks.run(fn, label, on_done, on_progress, on_failed, on_cancelled)

    def add_anchor(
        self,
        name: str,
        wplus,
        source: dict,
        image,
        model_sha256=None,
        noise=None,
        orientation="as-generated",
    ) -> str:
        """Keep a latent as a named anchor (one undo step); returns its id. `noise`: the maps
        the latent renders with (noise encoder or fitted), kept so the anchor renders as it
        was saved and continua blend them."""
        import numpy as np

        from stimstudio.core.interpolate import Anchor
        from stimstudio.core.latent import Latent

        latent = Latent(
            np.asarray(wplus, np.float32),
            dict(source or {}),
            model_sha256 or (self.model.sha256 if self.model else None),
            noise=None if noise is None else [np.asarray(n, np.float32) for n in noise],
            orientation=orientation or "as-generated",  # core.orientation: how it is shown
        )
        model = self.project
        aid = model.new_anchor_id()
        image = None if image is None else np.asarray(image, np.float32)
        changes = model.keep_anchor_changes(Anchor(name, latent), image)
        name = changes["anchors"][aid].name
        self.session.set_many(changes, f"Keep {name}")
        self.status(f"Kept anchor “{name}”", 5000)
        return aid

    def mammogram(self, path: str):
        """A read Mammogram from the small cache, or None (read it with read_mammogram_async)."""
        m = self._films.get(str(path))
        if m is not None:
            self._films.move_to_end(str(path))
        return m

    def remember_mammogram(self, path: str, mammo) -> None:
        self._films[str(path)] = mammo
        self._films.move_to_end(str(path))
        while len(self._films) > FILM_CACHE:
            self._films.popitem(last=False)

    def read_mammogram_async(self, path: str, on_done, on_failed=None) -> None:
        """on_done(Mammogram) from the cache at once, or after reading it in a task."""
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

    def save_prefs(self) -> None:
        """Write the preferences; a failure is a status message, never a stop."""
        try:
            self.prefs.save()
        except OSError as exc:
            self.status(f"Could not save preferences: {exc}", 8000)

    # -- requests of the window ------------------------------------------------------------

    def show_page(self, name: str) -> None:
        self.page_requested.emit(name)

    def open_settings(self) -> None:
        self.settings_requested.emit()

    def show_model_about(self) -> None:
        self.model_about_requested.emit()

    def open_paths(self, paths) -> None:
        self.open_requested.emit(list(paths))

    def open_files_dialog(self) -> None:
        self.open_dialog_requested.emit("files")

    def open_folder_dialog(self) -> None:
        self.open_dialog_requested.emit("folder")

    def status(self, text: str, ms: int = 5000) -> None:
        self.message.emit(text, ms)

    def show_saved(self, text: str, folder) -> None:
        """A finished export or save: said across the top, with a button to open the folder."""
        self.saved.emit(text, folder)

    def autosave(self) -> None:
        self.autosave_requested.emit()
