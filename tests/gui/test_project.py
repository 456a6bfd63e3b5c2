"""Projects: save/open round trip, atomic files, autosave and the restore offer after a crash;
Settings; errors become a dialog with the message."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from stimstudio.core.errors import ReaderError
from stimstudio.core.insertion import Placement
from tests.gui.helpers import set_patches


def _fill(window):
    from stimstudio.core.generate import sample

    set_patches(window)
    pl = Placement(dx=2.0, dy=-1.0, scale=1.1, angle=15.0, mode="contrast", contrast=0.7)
    window.session.set("placement", pl, "p")
    ids = []
    for s in (1, 2):
        lat, img = sample(window.model, s)
        ids.append(window.add_anchor(f"Seed {s}", lat.wplus, lat.source, img))
    changes = window.project.continuum_changes(ids, frames=9, loop=True)
    window.session.set_many(changes, "path")
    return ids


def test_save_and_open_round_trip(window, make_window, qtbot, tmp_path, monkeypatch):
    ids = _fill(window)
    target = tmp_path / "study"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    assert window.save_project()  # no path yet: asks where, adds the suffix
    saved = tmp_path / "study.stimproj"
    assert saved.is_file() and not window.session.dirty
    assert "study.stimproj" in window.windowTitle()
    assert not list(tmp_path.glob("*.part"))  # written atomically
    with zipfile.ZipFile(saved) as z:
        assert set(z.namelist()) == {"project.json", "arrays.npz"}

    other = make_window()
    assert other.open_project(saved)
    a, b = window.project, other.project
    np.testing.assert_array_equal(a.texture.image, b.texture.image)
    np.testing.assert_array_equal(a.mask.polygon, b.mask.polygon)
    assert b.placement == a.placement
    assert [x.name for x in b.anchors.values()] == ["Seed 1", "Seed 2"]
    np.testing.assert_array_equal(a.anchors[ids[1]].latent.wplus, b.anchors[ids[1]].latent.wplus)
    assert b.continuum_ids() == ids and b.continuum.loop is True
    assert other.session.path == saved and not other.session.undo.canUndo()
    # the pages show what was opened
    assert other.anchors.list.count() == 2
    assert other.pages["mask"].overlay.image is not None
    assert other.pages["interpolate"].continuum_list.count() == 2


def test_damaged_project_is_a_message_not_a_traceback(window, errors, tmp_path):
    bad = tmp_path / "broken.stimproj"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert not window.open_project(bad)
    assert errors and "not a readable StimStudio project" in errors[0][1]
    assert window.session.path is None


def test_unreadable_image_shows_the_readers_message(window, errors, qtbot, tmp_path):
    bad = tmp_path / "scan.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    window.open_paths([bad])
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert "scan.png" in errors[0][1] and "Traceback" not in errors[0][1]
    qtbot.waitUntil(lambda: str(bad) in window.library.info, timeout=10000)
    assert "cannot be read" in window.library.list.item(0).text()


def test_uncaught_user_error_in_a_slot_becomes_a_dialog(window, errors, monkeypatch):
    from stimstudio.gui.errors import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_excepthook(lambda: window)
    try:
        raise ReaderError("mdb999.pgm is empty (0 bytes)")
    except ReaderError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert errors[-1][1] == "mdb999.pgm is empty (0 bytes)"
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert "went wrong inside StimStudio" in errors[-1][1] and "stimstudio.log" in errors[-1][1]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_autosave_and_restore_after_a_crash(make_window, qtbot, monkeypatch, answer):
    import json

    win = make_window(recovery=True)
    _fill(win)
    win.autosave()  # written in a worker
    win.autosave()  # a second request while it writes runs after it, not beside it
    rec = win.recovery
    qtbot.waitUntil(lambda: not win.autosave_pending(), timeout=10000)
    assert rec.autosave_path.is_file()
    # a crash: the process is gone, its lock and recovery copy stay behind
    rec.lock_path.write_text(json.dumps({"pid": _dead_pid()}))
    win.recovery = None  # this window no longer owns them (as if it had died)

    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Yes if answer == "yes" else QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    again = make_window(recovery=True, offer_restore=True)
    assert asked and "did not close properly" in asked[0]
    if answer == "yes":
        assert [a.name for a in again.project.anchors.values()] == ["Seed 1", "Seed 2"]
        assert again.session.dirty  # restored work is unsaved until saved
    else:
        assert again.project.anchors == {}
        assert not again.recovery.autosave_path.exists()
    # a clean exit leaves no recovery copy and no lock
    again.close()
    assert not again.recovery.autosave_path.exists() and not again.recovery.lock_path.exists()


def test_settings_are_saved_and_a_new_weights_file_reloads_the_model(
    window, qtbot, tiny_weights, tmp_path
):
    import shutil

    from stimstudio.gui.panels.settings import SettingsDialog
    from stimstudio.gui.prefs import Preferences, config_dir

    copy = tmp_path / "copy.safetensors"
    shutil.copy(tiny_weights, copy)
    shutil.copy(tiny_weights.replace(".safetensors", ".json"), tmp_path / "copy.json")
    dlg = SettingsDialog(window.prefs, window)
    dlg.steps.setValue(42)
    dlg.lambda4.setValue(1.5)
    dlg.precision.setCurrentText("bf16")
    dlg.weights.edit.setText(str(copy))
    with qtbot.waitSignal(window.model_changed, timeout=30000):
        window.apply_prefs(dlg.result_prefs())
    assert window.model.path == copy
    assert window.compute.precision == "bf16"
    saved = Preferences.load()
    assert (saved.steps, saved.lambda_encoder, saved.weights) == (42, 1.5, str(copy))
    assert (config_dir() / "preferences.json").is_file()
    assert window.pages["compose"].steps.value() == 42
    qtbot.waitUntil(lambda: not window.loader.isRunning(), timeout=30000)


def test_first_run_opens_the_samples_once(make_window, qtbot):
    from stimstudio.gui.prefs import Preferences, sample_files

    assert sample_files(), "the shipped samples are missing from resources/samples"
    win = make_window(first_run_samples=True)
    qtbot.waitUntil(lambda: len(win.project.library) == len(sample_files()), timeout=20000)
    assert Preferences.load().samples_offered
    # the samples are where a new project starts: nothing to save, nothing to undo (issue 39)
    assert not win.session.dirty and "•" not in win.windowTitle()
    assert win.session.undo.count() == 0 and win.project.current
    second = make_window(first_run_samples=True)  # the next start: the user's own empty library
    qtbot.wait(200)
    assert second.project.library == []
