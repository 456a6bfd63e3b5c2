"""Change events without Qt: a model in core says what changed, front ends listen.

napari's evented models are the example: the application model (here `core.project.Project`)
holds the state and emits an event when a part of it is replaced; the GUI relays the events to
Qt signals and redraws, a script can listen the same way or not at all.

    emitter = EventEmitter()
    emitter.connect(print)
    emitter.emit("placement")      # print("placement")

Callbacks run in the order they were connected, on the thread that emits. One that raises
does not stop the others; the first error is raised again once all have run.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

__all__ = ["EventEmitter"]


class EventEmitter:
    """A list of callbacks that `emit(*args)` calls in order."""

    def __init__(self) -> None:
        self._callbacks: list[Callable] = []
        self._blocked = 0

    def connect(self, callback: Callable) -> Callable:
        """Call `callback(*args)` on every emit (once, however often it is connected)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable | None = None) -> None:
        """Forget `callback` (all callbacks when None); one never connected is ignored."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args) -> None:
        if self._blocked:
            return
        error: BaseException | None = None
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception as exc:  # noqa: BLE001 - the others still hear of the change
                error = error or exc
        if error is not None:
            raise error

    @contextmanager
    def blocked(self):
        """Emit nothing inside the block."""
        self._blocked += 1
        try:
            yield self
        finally:
            self._blocked -= 1

    def __len__(self) -> int:
        return len(self._callbacks)
