"""Generator page (issue 9's app part): drag the seed, edit the mixing grid; the preview follows
through the render worker, which renders off the UI thread and coalesces requests (stall times
are measured by `stimstudio bench`, not asserted here: a busy machine would fail any limit)."""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QEvent, QPoint, Qt

from tests.gui.helpers import send_mouse


def test_dragging_the_seed_updates_the_preview_without_stalls(window, qtbot):
    window.show_page("generator")
    page = window.pages["generator"]
    qtbot.waitUntil(lambda: page.shown_key == page.requested_key, timeout=10000)
    assert page.preview.has_image()
    worker = window.render_worker
    requests0, renders0 = worker.request_count, worker.render_count
    render_threads = []

    def where(item):  # runs in the thread that yields: the render loop's, for a fresh render
        if item[0] == "rendered" and not item[1]["cached"]:
            render_threads.append(threading.get_ident())

    worker.worker.yielded.connect(where, Qt.ConnectionType.DirectConnection)
    box = page.seed
    y = box.height() // 2
    send_mouse(box, QEvent.Type.MouseButtonPress, QPoint(10, y))
    for x in range(14, 160, 6):
        time.sleep(0.004)
        send_mouse(
            box,
            QEvent.Type.MouseMove,
            QPoint(x, y),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
        )
        qtbot.wait(1)
    send_mouse(box, QEvent.Type.MouseButtonRelease, QPoint(160, y), buttons=Qt.MouseButton.NoButton)
    seed = window.project.generator["seed"]
    assert 2.5 < seed < 3.5 and seed != int(seed)  # 150 px x 0.02 per px: a fractional seed
    qtbot.waitUntil(lambda: page.shown_key == page.requested_key, timeout=10000)
    worker.worker.yielded.disconnect(where)
    assert page.shown_key[1] == seed  # the newest request is the one shown
    # each move is a request; the worker renders at most one per request, never on the UI thread
    requests = worker.request_count - requests0
    assert requests >= 10 and worker.render_count - renders0 <= requests
    assert render_threads and threading.main_thread().ident not in render_threads
    # the whole drag is one undo step
    window.session.undo.undo()
    assert window.project.generator["seed"] == 0.0


def test_mixing_grid_and_presets(window, qtbot):
    from stimstudio.core.generate import latent_for_seed, mixing_presets, sample

    lat, img = sample(window.model, 11)
    aid = window.add_anchor("Texture source", lat.wplus, lat.source, img)
    page = window.pages["generator"]
    page.source_combos[0].setCurrentIndex(page.source_combos[0].findData(aid))
    assert window.project.generator["sources"] == [aid]
    assert page.grid.columnCount() == 2 and page.grid.rowCount() == window.model.num_ws
    fine = mixing_presets(window.model)["fine"]
    page.set_preset("fine", 1)
    qtbot.waitUntil(lambda: page.shown_key == page.requested_key, timeout=10000)
    w = page.shown_wplus
    seed_w = latent_for_seed(window.model, 0.0).wplus
    for r in range(window.model.num_ws):
        np.testing.assert_allclose(w[r], lat.wplus[r] if r in fine else seed_w[r], atol=1e-6)
    assert page.grid.item(fine[0], 1).text() == "●"
    # click a single cell: layer 0 from source B; undo names it as the panel does
    page._cell_clicked(0, 1)
    assert page.mixing()[0] == 1
    assert window.session.undo.undoText() == "Layer 0 from Source B"
    header = page.grid.horizontalHeaderItem(1)  # short title, the whole name its tooltip
    assert header.text() == "B" and header.toolTip() == "Source B: Texture source"
    # a preset whose layers now come from two sources says so instead of going blank
    name, rows = next((n, r) for n, r in mixing_presets(window.model).items() if len(r) > 1)
    page.set_preset(name, 0)
    page._cell_clicked(rows[0], 1)
    combo = page.preset_combos[name]
    assert combo.currentIndex() == -1 and combo.placeholderText() == "mixed"
    page.keep()
    kept = list(window.project.anchors.values())[-1]
    assert kept.latent.source["method"] == "mix" and kept.name.endswith("(mix)")


def test_seed_and_truncation_read_and_move_sensibly(window, qtbot):
    page = window.pages["generator"]
    page.seed.setValue(42)
    assert page.seed.text() == "42"
    page.seed.setValue(42.37)
    assert page.seed.text() == "42.37"
    # ψ: dragging 50 px moves it by 0.1, not most of its range
    box = page.psi
    assert box.value() == 1.0
    y = box.height() // 2
    send_mouse(box, QEvent.Type.MouseButtonPress, QPoint(10, y))
    for x in range(14, 61, 6):
        send_mouse(
            box,
            QEvent.Type.MouseMove,
            QPoint(x - 60, y),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
        )
    send_mouse(box, QEvent.Type.MouseButtonRelease, QPoint(-50, y), buttons=Qt.MouseButton.NoButton)
    psi = window.project.generator["psi"]
    assert 0.85 <= psi < 1.0, psi


def test_a_kept_sample_renders_later_as_it_was_shown_in_every_noise_mode(window, qtbot):
    """The anchor keeps the maps its sample was shown with: each seed its own by default, and
    a random draw's or none's maps too (before, a random-noise sample kept as an anchor came
    back with the model's fixed maps: another image)."""
    from stimstudio.core.generate import noise_for_seed
    from stimstudio.core.invert import synthesize

    window.show_page("generator")
    page = window.pages["generator"]
    assert page.noise.currentText() == "seed"  # a new project's default
    page.seed.setValue(4)
    qtbot.waitUntil(lambda: page.shown_key == page.requested_key, timeout=10000)
    page.keep()
    kept = list(window.project.anchors.values())[-1].latent
    for x, y in zip(kept.noise, noise_for_seed(window.model, 4)):
        np.testing.assert_array_equal(x, y)
    for mode in ("random", "none", "const"):
        page.noise.setCurrentText(mode)
        qtbot.waitUntil(lambda: page.shown_key == page.requested_key, timeout=10000)
        page.keep()
        kept = list(window.project.anchors.values())[-1].latent
        assert kept.source["noise_mode"] == mode
        assert (kept.noise is None) == (mode == "const")
        turned = kept.orientation  # and in the orientation it was shown in
        again = synthesize(window.model, kept.wplus, noise=kept.noise, orientation=turned)
        again = again[0]
        np.testing.assert_array_equal(again, page.shown_image)
    window.session.undo.undo()  # the noise mode is part of the generator's undoable state
    assert window.project.generator["noise_mode"] == "const"


def test_mixing_the_fine_layers_brings_the_sources_noise_maps(window, qtbot):
    from stimstudio.core.generate import mixing_presets, noise_for_seed, noise_styles, sample

    lat, img = sample(window.model, 11)
    aid = window.add_anchor("Texture source", lat.wplus, lat.source, img, noise=lat.noise)
    page = window.pages["generator"]
    page.source_combos[0].setCurrentIndex(page.source_combos[0].findData(aid))
    page.set_preset("fine", 1)
    qtbot.waitUntil(lambda: page.shown_key == page.requested_key, timeout=10000)
    fine = mixing_presets(window.model)["fine"]
    seed_maps = noise_for_seed(window.model, 0.0)
    for k, i in enumerate(noise_styles(window.model)):
        np.testing.assert_array_equal(
            page.shown_noise[k], (lat.noise if i in fine else seed_maps)[k]
        )


def test_typing_a_truncation_takes_the_whole_number(window, qtbot):
    """Issue 39: typing "0.5" quickly gave ψ = 0.00 (the first keystroke's value went to the
    project, whose echo rewrote the box while the user was still typing)."""
    page = window.pages["generator"]
    window.show_page("generator")
    for box, typed, want in ((page.psi, "0.5", 0.5), (page.seed, "12.5", 12.5)):
        box.setFocus()
        box.lineEdit().selectAll()
        qtbot.keyClicks(box.lineEdit(), typed)
        qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)
        assert box.value() == want
    g = window.project.generator
    assert g["psi"] == 0.5 and g["seed"] == 12.5
