"""Loading the model: the weights file is read in a background worker while the window is usable.

One load at a time: a request while a load runs (Settings applied twice quickly) loads again,
with the newest settings, once that one is done. The result goes into the application context
(`model`, `compute`, `model_status` or `model_error`); `loaded` / `failed` let the window show
it, then the context's `model_changed` tells every panel.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from .context import AppContext
from .model_status import model_status
from .tasks import disconnect_all
from .workers import Worker, load_model_job


class ModelLoading(QObject):
    started = Signal()
    loaded = Signal(object, object)  # Model, Compute: in the context already
    failed = Signal(str, str)  # message, technical detail

    def __init__(self, ctx: AppContext, weights_override: str | None = None, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.weights_override = weights_override  # `stimstudio --weights` for this session
        self.loader: Worker | None = None
        self._reload_pending = False

    def weights_path(self) -> str | None:
        return self.weights_override or self.ctx.prefs.weights or None

    def load(self) -> None:
        if self.loader is not None and self.loader.isRunning():
            self._reload_pending = True  # load again with the new settings when it is done
            return
        self._reload_pending = False
        self.started.emit()
        weights, prefs = self.weights_path(), self.ctx.prefs
        device, precision = prefs.device, prefs.precision
        self.loader = Worker(lambda: load_model_job(weights, device, precision))
        self.loader.yielded.connect(lambda loaded: self.adopt(*loaded))
        self.loader.errored.connect(self.fail)
        self.loader.finished.connect(self._loader_finished)
        self.loader.start()

    def busy(self) -> bool:
        return self.loader is not None and self.loader.isRunning()

    def _loader_finished(self) -> None:
        if self.loader is not None:
            self.loader.wait()
        if self._reload_pending:
            self.load()

    def adopt(self, model, compute) -> None:
        """Make `model` the app's model: the context, the renderer, the window, the panels."""
        ctx = self.ctx
        ctx.model, ctx.compute, ctx.model_error = model, compute, None
        ctx.render_worker.set_model(model, compute)
        ctx.model_status = model_status(model.card, model.name)
        self.loaded.emit(model, compute)
        ctx.model_changed.emit(model)

    def fail(self, message: str, detail: str) -> None:
        """No model: say why (the window shows it), the panels work without one."""
        ctx = self.ctx
        ctx.model, ctx.compute, ctx.model_error = None, None, message
        ctx.model_status = None
        ctx.render_worker.set_model(None, None)
        self.failed.emit(message, detail)
        ctx.model_changed.emit(None)

    def shutdown(self) -> None:
        """Wait for a running load (the app is closing); its late signals are dropped."""
        if self.loader is not None:
            disconnect_all(self.loader, ("yielded", "errored", "finished"))
            self.loader.wait(30000)
