"""Background tasks: start one, keep track of what runs (the status bar shows it), stop them all.

Every long job a page or panel starts goes through `TaskRunner.run`, so the window knows when
the app is idle (screenshots, tests) and can stop every thread before it closes.
"""

from __future__ import annotations

import warnings

from PySide6.QtCore import QObject, Signal

from .errors import show_error
from .workers import Worker


def disconnect_all(obj, signals) -> None:
    """Drop every connection of these signals (a closing window must not get late calls)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "failed to disconnect": none there
        for name in signals:
            try:
                getattr(obj, name).disconnect()
            except (RuntimeError, TypeError):
                pass


class TaskRunner(QObject):
    """The running background tasks; `changed` when one starts or ends."""

    changed = Signal()

    def __init__(self, dialog_parent=None):
        super().__init__(dialog_parent)
        self.dialog_parent = dialog_parent  # errors without an on_failed show a dialog here
        self.tasks: set[Worker] = set()
        self._closing = False

    def run(
        self, fn, label: str, on_done=None, on_progress=None, on_failed=None, on_cancelled=None
    ):
        """Run the job `fn` on a `Worker` (see workers.py); errors become a dialog unless
        on_failed. on_progress gets each yield, on_done the result, on_cancelled a cancel."""
        task = Worker(fn, label)
        if on_done:
            task.returned.connect(self._unless_closing(on_done))
        if on_progress:
            task.yielded.connect(self._unless_closing(on_progress))
        if on_cancelled:
            task.cancelled.connect(self._unless_closing(on_cancelled))
        task.errored.connect(
            self._unless_closing(
                on_failed or (lambda msg, detail: show_error(self.dialog_parent, msg, detail))
            )
        )
        task.finished.connect(lambda: self._finished(task))
        self.tasks.add(task)
        self.changed.emit()
        task.start()
        return task

    def _unless_closing(self, slot):
        """`slot`, dropped once the app is closing: a signal the task sent just before it was
        stopped may still be queued, and its page's widgets may be gone by then."""

        def call(*args):
            if not self._closing:
                slot(*args)

        return call

    def _finished(self, task) -> None:
        task.wait()  # `finished` comes just before the thread ends: never drop a running QThread
        self.tasks.discard(task)
        if self._closing:
            return  # a late signal, already queued when the window closed
        self.changed.emit()

    def labels(self) -> list[str]:
        """What the running tasks say they do (quiet tasks, such as autosave, say nothing)."""
        return [t.label for t in self.tasks if t.label]

    def busy(self) -> bool:
        return bool(self.tasks)

    def shutdown(self) -> None:
        """Cancel every task and wait for its thread (the app is closing)."""
        self._closing = True
        for t in list(self.tasks):
            t.cancel()
            disconnect_all(t, ("returned", "yielded", "errored", "cancelled", "finished"))
            t.wait(10000)
        self.tasks.clear()
