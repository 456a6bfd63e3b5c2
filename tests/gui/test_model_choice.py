"""Settings ▸ Model (issue 38 item 2): the models in weights/ with resolution, pixel size and
card summary, "Other file…", the choice kept in the preferences, and a latent of another model
refused with one message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stimstudio.core import model_catalog
from stimstudio.core.model import Model
from stimstudio.core.nets import GeneratorConfig

TINY64 = GeneratorConfig(
    resolution=64, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32
)


@pytest.fixture
def weights_dir(tmp_path, tiny_model, monkeypatch):
    """weights/ with the tiny model as the shipped default and a 64-px model beside it."""
    d = tmp_path / "weights"
    tiny_model.save(d / "stimstudio-minimias-128.safetensors", dtype=torch.float32, spacing_mm=0.4)
    Model.create(TINY64, seed=1).save(
        d / "stimstudio-tiny-64.safetensors", dtype=torch.float32, spacing_mm=0.2, kimg=5
    )
    monkeypatch.setattr(model_catalog, "WEIGHTS_DIR", d)
    return d


def test_the_shipped_model_is_listed_and_stays_the_default(qtbot):
    from stimstudio.gui.app import make_app
    from stimstudio.gui.panels.settings import SettingsDialog
    from stimstudio.gui.prefs import Preferences

    make_app()
    dlg = SettingsDialog(Preferences())
    qtbot.addWidget(dlg)
    choice = dlg.weights
    items = [choice.combo.itemText(i) for i in range(choice.combo.count())]
    assert items[-1] == "Other file…"
    assert any(t.startswith("minimias-128 · 128 px at 0.4 mm (51.2 mm)") for t in items), items
    assert "(default)" in choice.combo.currentText() and not choice.file.isVisibleTo(dlg)
    assert "128 px · 0.4 mm per pixel · 51.2 mm field of view" in choice.summary.text()
    assert dlg.result_prefs().weights == ""  # the default: a newer shipped model is picked up
    assert dlg.tabs.tabText(0) == "Model"


def test_a_chosen_model_is_remembered_and_loaded(make_window, qtbot, weights_dir, tmp_path):
    from stimstudio.gui.panels.settings import SettingsDialog
    from stimstudio.gui.prefs import Preferences

    win = make_window(weights=None)  # the (tiny) default model
    assert win.model.resolution == 32
    dlg = SettingsDialog(win.prefs, win)
    qtbot.addWidget(dlg)
    names = [dlg.weights.combo.itemData(i) for i in range(dlg.weights.combo.count())]
    assert [e.name if e else None for e in names] == ["minimias-128", "tiny-64", None]
    dlg.weights.combo.setCurrentIndex(1)
    assert "64 px · 0.2 mm per pixel · 12.8 mm field of view · 5 kimg" in dlg.weights.summary.text()
    with qtbot.waitSignal(win.model_changed, timeout=60000):
        win.apply_prefs(dlg.result_prefs())
    assert win.model.resolution == 64 and win.model.short_name == "tiny-64"
    assert Preferences.load().weights == "tiny-64"
    assert win.ctx.model_info()["spacing_mm"] == 0.2
    qtbot.waitUntil(lambda: not win.loader.isRunning(), timeout=60000)
    # the dialog opens on the remembered model; "Other file…" takes any path
    again = SettingsDialog(win.prefs, win)
    qtbot.addWidget(again)
    assert again.weights.combo.currentText().startswith("tiny-64")
    again.weights.combo.setCurrentIndex(again.weights.combo.count() - 1)
    again.weights.edit.setText(str(tmp_path / "missing.safetensors"))
    assert again.weights.file.isVisibleTo(again)
    assert "cannot be read" in again.weights.summary.text()
    assert again.result_prefs().weights == str(tmp_path / "missing.safetensors")
    # a path set from outside (the --weights of this session) selects its model in the list
    again.weights.select(str(weights_dir / "stimstudio-tiny-64.safetensors"))
    assert again.result_prefs().weights == "tiny-64"


def test_a_latent_of_another_model_is_refused_with_one_message(window, qtbot, tmp_path, errors):
    from stimstudio.core.latent import Latent

    other = Model.create(TINY64, seed=1)
    other.save(tmp_path / "stimstudio-tiny-64.safetensors", dtype=torch.float32)
    f = Latent.of(other, np.zeros((other.num_ws, other.w_dim), np.float32)).save(
        tmp_path / "big.latent.npz"
    )
    same_shape = Latent(np.zeros((window.model.num_ws, window.model.w_dim)), {}, "a" * 64)
    g = same_shape.save(tmp_path / "alien.latent.npz")
    for path, fragment in ((f, "tiny-64 (64 px"), (g, "aaaaaaaa")):
        before = len(errors)
        window.anchors.load_files([str(path)])
        qtbot.waitUntil(lambda b=before: len(errors) > b, timeout=30000)
        title, text = errors[-1]
        assert path.name in text and fragment in text and "another model" in text, text
    assert not window.project.anchors


def test_a_project_of_another_model_says_which_model_made_it(window, qtbot, tmp_path):
    path = tmp_path / "p.stimproj"
    info = {"name": "stimstudio-big-256", "short_name": "big-256", "sha256": "b" * 64,
            "resolution": 256, "spacing_mm": 0.2}  # fmt: skip
    window.session.save(path, info)
    assert window.files.open_project(path)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=5000)
    text = window.notice.text.text()
    assert "big-256</b> (256 px)" in text and f"({window.model.resolution} px)" in text
    assert "Settings ▸ Model" in text
