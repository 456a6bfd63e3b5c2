"""The Export dialog: settings round-trip, folders it refuses, and a cancelled export that the
same dialog then resumes without rewriting the finished frames."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QMessageBox

from stimstudio.core.export import ExportSettings
from stimstudio.gui.export_dialog import (
    ExportDialog,
    run_export,
    settings_from_dict,
    suggest_folder,
)


def test_dialog_gathers_settings_and_remembers_them(qtbot, tmp_path):
    last = {"formats": ["png", "dicom"], "bits": 16, "size": 256, "preview": None, "fps": 5.0}
    dlg = ExportDialog(None, frames=12, resolution=128, last=last, folder=str(tmp_path / "x"))
    qtbot.addWidget(dlg)
    s = dlg.settings()
    assert s.formats == ("png", "dicom") and s.bits == 16 and s.size == 256
    assert s.preview is None and s.fps == 5.0
    assert settings_from_dict(dlg.settings_dict()) == s
    dlg.native.setChecked(True)
    assert dlg.settings().size is None and not dlg.size.isEnabled()
    # a broken preference never breaks the dialog: defaults instead
    assert settings_from_dict({"bits": 12}) == ExportSettings()


def test_dialog_refuses_bad_values_and_foreign_folders(qtbot, tmp_path):
    dlg = ExportDialog(None, frames=4, resolution=128, folder=str(tmp_path / "new"))
    qtbot.addWidget(dlg)
    for cb in dlg.format_checks.values():
        cb.setChecked(False)
    dlg.accept()
    assert dlg.result() != ExportDialog.DialogCode.Accepted
    assert "format" in dlg.message.text()
    dlg.format_checks["png"].setChecked(True)
    dlg.cid.setText("bad name!")
    dlg.accept()
    assert "continuum name" in dlg.message.text()
    dlg.cid.setText("ok")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    dlg.folder.setText(str(tmp_path / "mine"))
    dlg.accept()
    assert "other files" in dlg.message.text() and dlg.result() != ExportDialog.DialogCode.Accepted
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"
    dlg.folder.setText(str(tmp_path / "new"))
    dlg.accept()
    assert dlg.result() == ExportDialog.DialogCode.Accepted and not dlg.resume


def test_cancelled_export_resumes_from_the_dialog(window, qtbot, tmp_path, monkeypatch):
    from stimstudio.core.interpolate import Continuum
    from tests.gui.test_anchors_interpolate import _seed_anchors

    _seed_anchors(window, (7, 8))
    anchors = list(window.project.anchors.values())[:2]
    path = Continuum(anchors, 12, False, "lerp", "latent")
    out = tmp_path / "exp"
    first = run_export(window.ctx, path, out, ExportSettings(preview=None), "c")
    # cancel as soon as the first frame is reported. The slot names `first` itself: a
    # closure over a reassigned variable cancelled the *resumed* export whenever a queued
    # progress report of the first one arrived after the reassignment (a CI flake).
    first.yielded.connect(lambda rec, t=first: rec.stage == "frames" and t.cancel())
    qtbot.waitUntil(first.isFinished, timeout=60000)
    done = sorted((out / "png").glob("*.png"))
    assert 0 < len(done) < 12
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    stamps = {p.name: p.stat().st_mtime_ns for p in done}

    dlg = ExportDialog(window, frames=12, resolution=window.model.resolution, folder=str(out))
    qtbot.addWidget(dlg)
    dlg.cid.setText("c")
    dlg.preview.setCurrentText("none")
    monkeypatch.setattr(QMessageBox, "exec", lambda box: _click(box, "Resume"))
    dlg.accept()
    assert dlg.resume and not dlg.overwrite
    task = run_export(window.ctx, path, out, dlg.settings(), "c", resume=True)
    qtbot.waitUntil(task.isFinished, timeout=60000)
    qtbot.waitUntil(lambda: task.export_state["result"] is not None, timeout=5000)
    r = task.export_state["result"]
    assert r.kept_frames == len(done) and r.written_frames == 12 - len(done)
    assert {p.name: p.stat().st_mtime_ns for p in done} == stamps
    assert json.loads((out / "manifest.json").read_text())["complete"]


def _click(box, text):
    for b in box.buttons():
        if b.text() == text:
            b.click()
            return 0
    raise AssertionError(f"no {text} button")


def test_suggested_folder_is_new_beside_the_last_export(tmp_path):
    assert suggest_folder(str(tmp_path)) == tmp_path / "continuum-001"
    (tmp_path / "continuum-001").mkdir()
    assert suggest_folder(str(tmp_path)) == tmp_path / "continuum-002"
    assert suggest_folder(str(tmp_path), "stills") == tmp_path / "stimuli-001"
