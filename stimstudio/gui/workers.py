"""Background workers (QThread): everything slow runs here, never on the UI thread.

Workers get plain data (numpy arrays, dataclasses, the loaded model) and send plain data back
through signals. Long jobs check a cancel flag between steps. The render worker serves slider
scrubbing: per channel it keeps only the newest request, drops stale ones, and keeps a small LRU
cache of rendered frames.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QThread, Signal

from stimstudio.core.errors import StimStudioError


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(message for the dialog, technical detail). User errors have no detail."""
    if isinstance(exc, StimStudioError):
        return str(exc), ""
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"Something went wrong inside StimStudio: {type(exc).__name__}: {exc}", detail


class ModelLoader(QThread):
    """load_model + pick_compute off the UI thread (importing torch is slow too)."""

    loaded = Signal(object, object)  # Model, Compute
    failed = Signal(str, str)

    def __init__(self, weights: str | None, device: str, precision: str, parent=None):
        super().__init__(parent)
        self.weights, self.device, self.precision = weights or None, device, precision

    def run(self) -> None:
        try:
            from stimstudio.core.device import pick_compute
            from stimstudio.core.model import load_model

            compute = pick_compute(self.device, self.precision)
            model = load_model(self.weights, compute.device)
            self.loaded.emit(model, compute)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            self.failed.emit(*describe_error(exc))
            return
        warm_up()


def warm_up() -> None:
    """Import what the first run needs now, not in the middle of it.

    The first torch optimiser imports torch._dynamo (seconds, and it holds the interpreter in
    long stretches); core's modules pull in scipy and scikit-image. Done once, in the loader
    thread, right after the model is there.
    """
    import torch

    import stimstudio.core.compose  # noqa: F401
    import stimstudio.core.generate  # noqa: F401
    import stimstudio.core.interpolate  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)


class TaskWorker(QThread):
    """Runs `fn(task)` in a thread; `fn` may call task.report(x) and poll task.cancelled()."""

    done = Signal(object)
    progress = Signal(object)
    failed = Signal(str, str)

    def __init__(self, fn: Callable, label: str = "", parent=None):
        super().__init__(parent)
        self.fn = fn
        self.label = label
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def cancelled(self) -> bool:
        return self._stop.is_set()

    def report(self, item) -> None:
        self.progress.emit(item)

    def run(self) -> None:
        try:
            out = self.fn(self)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(*describe_error(exc))
            return
        self.done.emit(out)


class ComposeWorker(QThread):
    """core.compose in a thread: inversion steps stream out, the Composite comes last.

    The cancel flag is the `should_stop` of the inversion, checked before every step.
    """

    step = Signal(object)  # {"step", "total", "losses", "ms", "preview"}
    completed = Signal(object)  # the Composite
    cancelled_at = Signal(int)  # the step at which it stopped
    failed = Signal(str, str)

    def __init__(
        self,
        model,
        compute,
        texture,
        template,
        mask,
        placement,
        settings,
        vgg16=None,
        stylemix_optimize: bool = False,
    ):
        super().__init__()
        self.args = (model, texture, template, mask, placement, settings, compute, vgg16)
        self.stylemix_optimize = stylemix_optimize
        self._stop = threading.Event()
        self.started_at = 0.0

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        from stimstudio.core.compose import Composite, compose

        model, texture, template, mask, placement, settings, compute, vgg16 = self.args
        self.started_at = time.perf_counter()
        try:
            for rec in compose(
                model,
                texture,
                template,
                mask,
                placement,
                settings,
                compute,
                vgg16,
                should_stop=self._stop.is_set,
                stylemix_optimize=self.stylemix_optimize,
            ):
                if isinstance(rec, Composite):
                    self.completed.emit(rec)
                    return
                if rec.cancelled:
                    self.cancelled_at.emit(rec.step)
                    return
                self.step.emit(
                    {
                        "step": rec.step,
                        "total": rec.total_steps,
                        "losses": rec.losses,
                        "ms": rec.ms_per_step,
                        "preview": rec.preview,
                    }
                )
            if self._stop.is_set():
                self.cancelled_at.emit(-1)
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(*describe_error(exc))


class RenderWorker(QThread):
    """G(w+) for live scrubbing: newest request per channel wins, stale ones are dropped.

    `request(channel, key, job)` — `job` is a w+ array or a callable returning one (run in the
    worker, so truncation / mixing never touch the UI thread). A result is emitted only while
    its key is still the newest request of its channel; every result goes into an LRU cache,
    and a cached key answers at once without rendering.
    """

    rendered = Signal(object)  # {"channel", "key", "image", "wplus", "ms", "cached"}
    failed = Signal(str, str, str)  # channel, message, detail

    def __init__(self, cache_size: int = 96, parent=None):
        super().__init__(parent)
        self._cv = threading.Condition()
        self._pending: OrderedDict[str, tuple] = OrderedDict()
        self._latest: dict[str, object] = {}
        self._cache: OrderedDict[object, tuple] = OrderedDict()
        self.cache_size = cache_size
        self._model = None
        self._compute = None
        self._stop = False
        self.render_count = 0
        self.request_count = 0
        self.dropped_count = 0

    def set_model(self, model, compute) -> None:
        with self._cv:
            self._model, self._compute = model, compute
            self._cache.clear()
            self._pending.clear()

    @property
    def has_model(self) -> bool:
        return self._model is not None

    def request(self, channel: str, key, job, noise_mode: str = "const") -> None:
        self.request_count += 1
        with self._cv:
            self._latest[channel] = key
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                if channel in self._pending:
                    self._pending.pop(channel)
                    self.dropped_count += 1
            else:
                if channel in self._pending:
                    self.dropped_count += 1
                    self._pending.pop(channel)
                self._pending[channel] = (key, job, noise_mode)
                self._cv.notify()
        if hit is not None:
            image, wplus = hit
            self.rendered.emit(
                {
                    "channel": channel,
                    "key": key,
                    "image": image,
                    "wplus": wplus,
                    "ms": 0.0,
                    "cached": True,
                }
            )

    def prefill(self, key, image, wplus) -> None:
        """Put an already rendered frame in the cache (frames a path computation made)."""
        with self._cv:
            self._cache[key] = (image, wplus)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def idle(self) -> bool:
        with self._cv:
            return not self._pending and not getattr(self, "_busy", False)

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self.wait(5000)

    def run(self) -> None:
        synthesize = None  # imported at the first render: torch must not slow the launch
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                channel, (key, job, noise_mode) = self._pending.popitem(last=False)
                model, compute = self._model, self._compute
                self._busy = True
            try:
                if model is None:
                    continue
                t0 = time.perf_counter()
                try:
                    if synthesize is None:
                        from stimstudio.core.invert import synthesize
                    wplus = job() if callable(job) else job
                    image = synthesize(model, wplus, compute, noise_mode)[0]
                except Exception as exc:  # noqa: BLE001
                    self.failed.emit(channel, *describe_error(exc))
                    continue
                ms = (time.perf_counter() - t0) * 1000
                with self._cv:
                    if model is not self._model:
                        continue  # the model changed while rendering: drop it
                    self._cache[key] = (image, wplus)
                    self._cache.move_to_end(key)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
                    self.render_count += 1
                    newest = self._latest.get(channel) == key
                if newest:
                    self.rendered.emit(
                        {
                            "channel": channel,
                            "key": key,
                            "image": image,
                            "wplus": wplus,
                            "ms": ms,
                            "cached": False,
                        }
                    )
                else:
                    self.dropped_count += 1
            finally:
                with self._cv:
                    self._busy = False
