"""GUI test fixtures: an isolated config folder and a main window with the tiny model."""

from __future__ import annotations

import gc

import pytest

pytest.importorskip("pytestqt")

LOAD_TIMEOUT_MS = 300_000


@pytest.fixture(autouse=True)
def _patient_waits(qtbot, monkeypatch):
    """waitUntil returns as soon as its condition holds; its timeout only decides how long a
    failing test waits. On a machine whose cores other work holds, a worker can take many
    times its idle time, so every wait gets 6x its written limit (never a timing assertion)."""
    original = qtbot.waitUntil

    def wait_until(callback, *, timeout=5000):
        return original(callback, timeout=timeout * 6)

    monkeypatch.setattr(qtbot, "waitUntil", wait_until)


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    """The app turns Python's automatic cycle collection off (gui.app.collect_garbage_on_ui_thread:
    collecting on a worker thread can crash Qt). After each GUI test, with its workers stopped,
    collect here on the main thread and turn collection back on for the tests that follow."""
    import gc

    gc.collect()
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    gc.enable()


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """Preferences, autosave and the log go to a temporary folder, never the user's."""
    monkeypatch.setenv("STIMSTUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("STIMSTUDIO_WEIGHTS", raising=False)


@pytest.fixture
def make_window(qtbot, tiny_weights):
    """make_window(weights=..., wait_model=True, recovery=False) -> a shown MainWindow."""
    from stimstudio.gui.app import make_app

    make_app()
    created = []

    def make(
        weights=tiny_weights,
        wait_model=True,
        recovery=False,
        offer_restore=False,
        first_run_samples=False,
    ):
        from stimstudio.gui.main_window import MainWindow

        win = MainWindow(weights=weights, recovery=recovery)
        win.force_close = True
        created.append(win)
        win.show()
        if wait_model:
            # generous: on a 2-core machine shared with a training run, importing torch and
            # warming it up has taken minutes (these are waits, not timing assertions)
            with qtbot.waitSignal(win.model_changed, timeout=LOAD_TIMEOUT_MS):
                win.start(offer_restore=offer_restore, first_run_samples=first_run_samples)
            # the loader then warms up torch (first-run imports) before it ends
            qtbot.waitUntil(lambda: not win.loader.isRunning(), timeout=LOAD_TIMEOUT_MS)
        else:
            win.start(offer_restore=offer_restore, first_run_samples=first_run_samples)
        return win

    yield make
    # Tear down deterministically: stop the workers, delete the widgets, and collect the
    # garbage now, while no worker thread is running (PySide + pyqtgraph objects collected
    # later, during another test's threads, can crash the interpreter).
    from PySide6.QtCore import QCoreApplication, QEvent

    for win in created:
        win.close()
        win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    created.clear()
    gc.collect()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def errors(monkeypatch):
    """Every error dialog's (title, message), instead of showing a modal box."""
    from PySide6.QtWidgets import QMessageBox

    seen = []

    def fake(parent, title, text, *args, **kwargs):
        seen.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(fake))
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(fake))
    return seen
