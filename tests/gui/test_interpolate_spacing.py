"""Issue 16: the Interpolate page shows the spacing's progress (count, time left), can cancel
it, and an export of the path reuses the spacing it computed."""

from __future__ import annotations

import json

from stimstudio.core.export import ExportSettings
from stimstudio.gui.panels.interpolate import key_text
from tests.gui.test_anchors_interpolate import _seed_anchors


def _texts(label):
    seen = []
    original = label.setText

    def record(text):
        seen.append(text)
        original(text)

    label.setText = record
    return seen


def _computed(window, page):
    pf = window.project.continuum_frames
    return pf is not None and pf["key"] == key_text(page._key)


def test_progress_and_export_reuses_the_spacing(window, qtbot, tmp_path, monkeypatch):
    _seed_anchors(window, (4, 5, 6))
    page = window.pages["interpolate"]
    seen = _texts(page.compute_label)
    window.anchors.make_continuum()
    page.frames.setValue(9)
    page.spacing.setCurrentText("perceptual")
    qtbot.waitUntil(lambda: _computed(window, page), timeout=30000)
    assert any("renders" in t and "of at most" in t for t in seen), seen
    assert not page.compute_bar.isVisible() and not page.btn_cancel_compute.isVisible()
    pf = window.project.continuum_frames
    assert {0.0, 1.0, 2.0} <= {float(x) for x in pf["positions"]}  # anchors are frames
    # the export renders the frames only: no spacing stage
    import stimstudio.core.interpolate as interp

    calls = []
    real = interp.iter_spacing
    monkeypatch.setattr(
        "stimstudio.core.export.run.iter_spacing", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    out = tmp_path / "e"
    task = page.export_frames(out, ExportSettings(preview=None), "c")
    qtbot.waitUntil(lambda: task.isFinished(), timeout=60000)
    qtbot.waitUntil(lambda: task.export_state["result"] is not None, timeout=5000)
    assert calls == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["continuum"]["positions"] == [float(x) for x in pf["positions"]]


def test_cancel_stops_the_spacing(window, qtbot, monkeypatch):
    import stimstudio.core.interpolate as interp

    # Slow each render batch down so that Cancel lands while it runs.
    real_add = interp._Samples.add

    def slow_add(self, positions):
        import time

        time.sleep(0.2)
        real_add(self, positions)

    monkeypatch.setattr(interp._Samples, "add", slow_add)
    _seed_anchors(window, (4, 5))
    page = window.pages["interpolate"]
    window.anchors.make_continuum()
    page.frames.setValue(40)
    page.spacing.setCurrentText("perceptual")
    qtbot.waitUntil(lambda: page._compute_task is not None, timeout=10000)
    qtbot.waitUntil(lambda: page.compute_bar.maximum() > 0, timeout=10000)
    page.btn_cancel_compute.click()
    qtbot.waitUntil(lambda: page._compute_task is None, timeout=10000)
    assert "cancelled" in page.compute_label.text()
    assert not page.compute_bar.isVisible()
    pf = window.project.continuum_frames
    assert pf is None or pf["key"] != key_text(page._key)
