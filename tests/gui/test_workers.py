"""The one worker: a job's yields reach the UI thread in order, an exception is one error signal,
Cancel stops the job at its next yield with nothing half-written, and the UI thread keeps running
while a job works (waits on events, never a timing assertion)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QTimer

from stimstudio.core.errors import OptionError
from stimstudio.gui.workers import Worker, cancel_requested, report


@pytest.fixture
def start(qtbot):
    """start(job) -> (worker, events): every signal, in the order the UI thread got it."""
    workers = []

    def make(job):
        worker = Worker(job, "test")
        events = []
        main = threading.get_ident()

        def on(name):
            def slot(*args):
                events.append((name, *args))
                assert threading.get_ident() == main  # delivered on the UI thread

            return slot

        worker.yielded.connect(on("yielded"))
        worker.returned.connect(on("returned"))
        worker.errored.connect(on("errored"))
        worker.cancelled.connect(on("cancelled"))
        worker.finished.connect(on("finished"))
        workers.append(worker)
        worker.start()
        return worker, events

    yield make
    for w in workers:
        w.cancel()
        w.wait(30000)


def _wait_finished(qtbot, events):
    qtbot.waitUntil(lambda: bool(events) and events[-1] == ("finished",), timeout=30000)


def test_yields_reach_the_ui_thread_in_order_then_the_result(qtbot, start):
    threads = []

    def job():
        for i in range(200):
            threads.append(threading.get_ident())
            yield {"step": i}
        return "stimulus"

    worker, events = start(job)
    _wait_finished(qtbot, events)
    assert events == [
        *[("yielded", {"step": i}) for i in range(200)],
        ("returned", "stimulus"),
        ("finished",),
    ]
    assert threading.get_ident() not in threads  # the job itself ran in the worker


def test_a_plain_function_is_a_job_too_and_can_report_through_a_callback(qtbot, start):
    def job():  # a core function that takes on_progress / should_stop callbacks
        for i in range(5):
            assert not cancel_requested()
            report(i)
        return 42

    worker, events = start(job)
    _wait_finished(qtbot, events)
    assert events == [*[("yielded", i) for i in range(5)], ("returned", 42), ("finished",)]
    assert not cancel_requested() and report("outside a job") is None  # no-ops on the UI thread


@pytest.mark.parametrize(
    "exc, message, has_detail",
    [
        (OptionError("steps must be at least 1"), "steps must be at least 1", False),
        (RuntimeError("CUDA out of memory"), "RuntimeError: CUDA out of memory", True),
    ],
)
def test_an_exception_becomes_one_error_signal_with_its_message(
    qtbot, start, exc, message, has_detail
):
    def job():
        yield 1
        yield 2
        raise exc

    worker, events = start(job)
    _wait_finished(qtbot, events)
    assert [e[0] for e in events] == ["yielded", "yielded", "errored", "finished"]
    _, shown, detail = events[2]
    assert message in shown
    assert bool(detail) == has_detail and (not has_detail or "Traceback" in detail)


def test_cancel_stops_the_job_at_its_next_yield_and_nothing_is_half_written(qtbot, start, tmp_path):
    """The job writes its result to a temporary file and moves it into place only at its end;
    Cancel closes the generator at the next yield, so the `finally` removes the partial file
    and the result never appears."""
    out, partial = tmp_path / "stimulus.txt", tmp_path / "stimulus.txt.part"
    gate = threading.Event()
    ran, cleaned = [], []

    def job():
        try:
            with open(partial, "w") as f:
                for i in range(1000):
                    if i == 3:
                        gate.wait(60)  # step 3 is in flight when Cancel is pressed
                    ran.append(i)
                    f.write(f"frame {i}\n")
                    yield i
            partial.replace(out)
            return out
        finally:
            if partial.exists():
                partial.unlink()
            cleaned.append(True)

    worker, events = start(job)
    qtbot.waitUntil(lambda: ("yielded", 2) in events, timeout=30000)
    worker.cancel()
    gate.set()
    _wait_finished(qtbot, events)
    assert ran == [0, 1, 2, 3]  # the step in flight finished; none after it started
    assert events[-2:] == [("cancelled",), ("finished",)]
    assert not any(e[0] == "returned" for e in events)
    assert cleaned == [True] and not partial.exists() and not out.exists()


def test_cancel_before_the_start_runs_nothing(qtbot):
    ran = []
    worker = Worker(lambda: ran.append(1))
    got = []
    worker.cancelled.connect(lambda: got.append("cancelled"))
    worker.returned.connect(lambda r: got.append("returned"))
    worker.cancel()
    with qtbot.waitSignal(worker.finished, timeout=30000):
        worker.start()
    worker.wait()
    assert ran == [] and got == ["cancelled"]


def test_the_ui_thread_keeps_running_while_a_job_works(qtbot, start):
    """A job busy inside one long step (no yield) does not hold the UI's event loop: a timer on
    the UI thread keeps firing until the test lets the step end."""
    busy, release = threading.Event(), threading.Event()

    def job():
        busy.set()
        release.wait(120)  # one long step, as an Eq. 4 step on a slow machine
        yield "step"
        return "done"

    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    worker, events = start(job)
    qtbot.waitUntil(busy.is_set, timeout=30000)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=30000)  # the UI ran while the job worked
    assert worker.isRunning() and events == []
    release.set()
    _wait_finished(qtbot, events)
    timer.stop()
    assert events == [("yielded", "step"), ("returned", "done"), ("finished",)]
