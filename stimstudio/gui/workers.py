"""One worker for every long job: everything slow runs off the UI thread, never on it.

A job is a function with no arguments, called in the worker's thread. When it returns a
generator (the usual case), the generator is the job: each value it yields is progress (a step,
a preview), the value it returns is the result — the pattern of napari's `thread_worker`:

    def job():
        for rec in compose_steps(...):   # a core generator
            yield rec                    # -> worker.yielded, in order, on the UI thread
        ...
        return result                    # -> worker.returned

    worker = Worker(job, "Composing…")
    worker.yielded.connect(show_step)
    worker.returned.connect(show_result)
    worker.start()

`cancel()` stops the job at its next yield: the generator is closed there (GeneratorExit is raised
at that yield, so its `with` and `finally` blocks run) and `cancelled` is emitted instead of
`returned`; nothing after that yield runs, so no half-made result reaches the UI. A core function
that takes `should_stop` / `on_progress` callbacks is given `cancel_requested` / `report` from
this module, which read and feed the worker running the job. Any exception becomes one
`errored(message, detail)`. QThread's `finished` always comes last.

Why not superqt's `thread_worker`: it runs jobs on the global QThreadPool (as many threads as
cores, so the live renderer plus one job fill a 2-core machine and every other job waits), it
reports a RuntimeError raised inside a job (most torch errors) as a warning rather than an
error, and on quit it leaves the generator to the garbage collector instead of closing it.

`RenderQueue` runs the live renderer as such a job: per channel it keeps only the newest
request, drops stale ones, and keeps a small LRU cache of rendered frames.
"""

from __future__ import annotations

import inspect
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal

from stimstudio.core.errors import StimStudioError

_running = threading.local()  # .worker: the Worker whose job runs in this thread


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(message for the dialog, technical detail). User errors have no detail."""
    if isinstance(exc, StimStudioError):
        return str(exc), ""
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"Something went wrong inside StimStudio: {type(exc).__name__}: {exc}", detail


def cancel_requested() -> bool:
    """Inside a job: whether its worker was asked to stop (pass as a core `should_stop`)."""
    worker = getattr(_running, "worker", None)
    return worker is not None and worker.cancel_requested()


def report(value) -> None:
    """Inside a job: send `value` out as if the job had yielded it (a core `on_progress`)."""
    worker = getattr(_running, "worker", None)
    if worker is not None:
        worker.yielded.emit(value)


class Worker(QThread):
    """Runs one job (see the module docstring) in its own thread and reports through signals.

    Signals reach the UI thread in the order they were sent: every `yielded`, then exactly one
    of `returned` / `errored` / `cancelled`, then `finished`.
    """

    yielded = Signal(object)  # progress: each value the job yields
    returned = Signal(object)  # the job's result, when it ran to its end
    errored = Signal(str, str)  # message for the user, technical detail
    cancelled = Signal()  # stopped at a yield after cancel(): no result

    def __init__(self, job: Callable[[], object], label: str = "", parent=None):
        super().__init__(parent)
        self.job = job
        self.label = label  # shown in the status bar while it runs ("" = a quiet job)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop at the job's next yield (thread-safe; a no-op once it has ended)."""
        self._cancel.set()

    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        _running.worker = self
        try:
            stopped, result = self._drive()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message
            self.errored.emit(*describe_error(exc))
        else:
            if stopped:
                self.cancelled.emit()
            else:
                self.returned.emit(result)
        finally:
            _running.worker = None

    def _drive(self) -> tuple[bool, object]:
        """(stopped, result): call the job, step its generator until it returns or is cancelled."""
        if self._cancel.is_set():
            return True, None
        steps = self.job()
        if not inspect.isgenerator(steps):
            return False, steps  # a plain function: its return value is the result
        try:
            while True:
                value = next(steps)
                self.yielded.emit(value)
                if self._cancel.is_set():
                    steps.close()
                    return True, None
        except StopIteration as end:
            return False, end.value


def load_model_job(weights: str | None, device: str, precision: str):
    """The model-loading job: yields (Model, Compute) as soon as it is loaded, then warms up.

    load_model + pick_compute run off the UI thread (importing torch is slow too); the window
    takes the model from the yield, so the warm-up does not delay it.
    """
    from stimstudio.core.device import pick_compute
    from stimstudio.core.model import load_model

    compute = pick_compute(device, precision)
    model = load_model(weights or None, compute.device)
    yield model, compute
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - a warm-up only saves time: the first run reports it
        traceback.print_exc()


def warm_up() -> None:
    """Import what the first run needs now, not in the middle of it.

    The first torch optimiser imports torch._dynamo (seconds, and it holds the interpreter in
    long stretches); core's modules pull in scipy and scikit-image. Done once, in the loader
    thread, right after the model is there.
    """
    import torch

    import stimstudio.core.compose  # noqa: F401
    import stimstudio.core.generate  # noqa: F401
    import stimstudio.core.interpolate.frames  # noqa: F401 - the package loads it on first use
    import stimstudio.core.interpolate.spacing  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)


class RenderQueue(QObject):
    """G(w+) for live scrubbing: newest request per channel wins, stale ones are dropped.

    `request(channel, key, job)` — `job` is a w+ array or a callable returning one (run in the
    worker, so truncation / mixing never touch the UI thread). A result is emitted only while
    its key is still the newest request of its channel; every result goes into an LRU cache,
    and a cached key answers at once without rendering. The rendering loop is one long job on
    a `Worker` (`start()` / `stop()`); its yields become `rendered` / `failed` on the UI thread.
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
        self._busy = False
        self.render_count = 0
        self.request_count = 0
        self.dropped_count = 0
        self.worker: Worker | None = None

    def start(self) -> None:
        self.worker = Worker(self._serve, "", self)
        self.worker.yielded.connect(self._deliver)
        self.worker.errored.connect(lambda msg, detail: self.failed.emit("", msg, detail))
        self.worker.start()

    def set_model(self, model, compute) -> None:
        with self._cv:
            self._model, self._compute = model, compute
            self._cache.clear()
            self._pending.clear()

    @property
    def has_model(self) -> bool:
        return self._model is not None

    def request(self, channel: str, key, job) -> None:
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
                self._pending[channel] = (key, job)
                self._cv.notify()
        if hit is not None:
            image, wplus, noise = hit
            self.rendered.emit(
                {
                    "channel": channel,
                    "key": key,
                    "image": image,
                    "wplus": wplus,
                    "noise": noise,
                    "ms": 0.0,
                    "cached": True,
                }
            )

    def prefill(self, key, image, wplus, noise=None) -> None:
        """Put an already rendered frame in the cache (frames a continuum computation made)."""
        with self._cv:
            self._cache[key] = (image, wplus, noise)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def idle(self) -> bool:
        with self._cv:
            return not self._pending and not self._busy

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(5000)

    def _deliver(self, item: tuple) -> None:
        """On the UI thread: one yield of the rendering loop."""
        if item[0] == "rendered":
            self.rendered.emit(item[1])
        else:
            self.failed.emit(*item[1:])

    def _serve(self):
        """The rendering loop (in the worker): waits for requests, yields each newest result."""
        synthesize = None  # imported at the first render: torch must not slow the launch
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                channel, (key, job) = self._pending.popitem(last=False)
                model, compute = self._model, self._compute
                self._busy = True
            try:
                if model is None:
                    continue
                t0 = time.perf_counter()
                try:
                    if synthesize is None:
                        from stimstudio.core.invert import synthesize
                    # a job gives w+, or (w+, noise maps[, orientation]) for a frame that
                    # carries maps or is shown turned (core.orientation)
                    wplus = job() if callable(job) else job
                    noise = turned = None
                    if isinstance(wplus, tuple):
                        wplus, noise, *rest = wplus
                        turned = rest[0] if rest else None
                    image = synthesize(model, wplus, compute, noise=noise, orientation=turned)[0]
                except Exception as exc:  # noqa: BLE001
                    yield ("failed", channel, *describe_error(exc))
                    continue
                ms = (time.perf_counter() - t0) * 1000
                with self._cv:
                    if model is not self._model:
                        continue  # the model changed while rendering: drop it
                    self._cache[key] = (image, wplus, noise)
                    self._cache.move_to_end(key)
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
                    self.render_count += 1
                    newest = self._latest.get(channel) == key
                if newest:
                    out = {"channel": channel, "key": key, "image": image, "wplus": wplus}
                    out["noise"] = noise
                    yield ("rendered", {**out, "ms": ms, "cached": False})
                else:
                    self.dropped_count += 1
            finally:
                with self._cv:
                    self._busy = False
