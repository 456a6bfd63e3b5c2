"""Anchors and paths: seeds and inversions become anchors; the slider scrubs the path through
the coalescing render worker (many requests, few renders, the newest shown)."""

from __future__ import annotations

import json
import time

import numpy as np

from stimstudio.core.export import ExportSettings
from stimstudio.gui.panels.interpolate import key_text
from tests.gui.helpers import kept, set_patches


def _seed_anchors(window, seeds=(1, 2, 3)):
    from stimstudio.core.generate import sample

    ids = []
    for s in seeds:
        lat, img = sample(window.model, s)
        ids.append(window.add_anchor(f"Seed {s}", lat.wplus, lat.source, img))
    return ids


def test_render_worker_coalesces_requests_and_caches(window, qtbot):
    rw = window.render_worker
    base = np.zeros((window.model.num_ws, window.model.w_dim), np.float32)
    got = []
    rw.rendered.connect(lambda out: out["channel"] == "test" and got.append(out["key"]))

    def slow(i):
        def job():
            time.sleep(0.02)  # a render that takes a while, so requests pile up behind it
            return base + 0.01 * i

        return job

    before = rw.render_count
    for i in range(50):
        rw.request("test", ("t", i), slow(i))
    qtbot.waitUntil(lambda: bool(got) and got[-1] == ("t", 49), timeout=10000)
    qtbot.wait(100)
    assert rw.render_count - before <= 3  # the one in flight + the newest
    assert got == [("t", 49)]  # stale results are never shown
    # a cached frame answers at once, without rendering
    n = rw.render_count
    rw.request("test", ("t", 49), slow(49))
    assert rw.render_count == n and got[-1] == ("t", 49) and len(got) == 2


def test_anchors_from_seed_rename_undo_and_remove(window, qtbot):
    panel = window.anchors
    panel.add_seed(7)
    qtbot.waitUntil(lambda: len(window.project.anchors) == 1, timeout=10000)
    (aid, a), image = next(iter(window.project.anchors.items())), None
    image = window.project.anchor_images[aid]
    assert a.name == "Seed 7" and image.shape == (32, 32)
    assert a.latent.source["noise_mode"] == "seed" and a.latent.noise is not None  # own maps
    assert panel.list.count() == 1 and not panel.list.item(0).icon().isNull()
    panel.list.item(0).setText("calm tissue")
    assert kept(window)[0].name == "calm tissue"
    window.session.undo.undo()
    assert kept(window)[0].name == "Seed 7"
    panel.list.item(0).setSelected(True)
    panel.remove_selected()
    assert window.project.anchors == {}
    # the Generator page's noise mode decides, so the anchor is the sample that page shows
    window.pages["generator"].noise.setCurrentText("const")
    panel.add_seed(7)
    qtbot.waitUntil(lambda: len(window.project.anchors) == 1, timeout=10000)
    a = kept(window)[0]
    assert a.latent.source["noise_mode"] == "const" and a.latent.noise is None


def test_invert_patch_becomes_an_anchor(window, qtbot):
    set_patches(window, with_mask=False)
    window.prefs.steps = 3
    window.anchors.invert_patch("texture")
    qtbot.waitUntil(lambda: len(window.project.anchors) == 1, timeout=30000)
    a = kept(window)[0]
    assert a.name == "Texture (inverted)"
    assert a.latent.source["noise"] == "optimized" and a.latent.noise is not None  # its texture
    assert a.latent.wplus.shape == (window.model.num_ws, window.model.w_dim)


def test_scrubbing_the_path_renders_few_frames_and_shows_the_last(window, qtbot):
    ids = _seed_anchors(window)
    window.anchors.list.selectAll()
    window.anchors.make_continuum()
    page = window.pages["interpolate"]
    assert window.tabs.currentWidget() is page
    assert window.project.continuum_ids() == ids
    qtbot.waitUntil(lambda: not page.busy(), timeout=30000)  # frames computed for the filmstrip
    rw = window.render_worker
    page.frames.setValue(60)  # new frames: nothing cached yet
    before = rw.render_count
    for v in range(60):
        page.slider.setValue(v)
    # a wait, not a timing assertion: on a loaded 2-core machine the render can take a while
    qtbot.waitUntil(lambda: page.shown_key == (page._key, 59), timeout=180000)
    assert rw.render_count - before < 15
    assert page.frame_label.text().startswith("frame 59 of 0–59")  # from 0, as exported
    qtbot.waitUntil(lambda: not page.busy(), timeout=30000)
    pf = window.project.continuum_frames
    assert pf["key"] == key_text(page._key) and len(pf["images"]) == 60
    assert page.film.count() == 60 and len(pf["distances"]) == 59
    # after the computation every frame is cached: scrubbing renders nothing
    n = rw.render_count
    for v in range(0, 60, 7):
        page.slider.setValue(v)
    assert rw.render_count == n and page.shown_key == (page._key, 56)


def test_perceptual_spacing_loop_play_and_export(window, qtbot, tmp_path):
    _seed_anchors(window, (4, 5))
    window.anchors.make_continuum()
    page = window.pages["interpolate"]
    page.frames.setValue(8)
    page.loop.setChecked(True)
    page.spacing.setCurrentText("perceptual")
    qtbot.waitUntil(
        lambda: (
            (pf := window.project.continuum_frames) is not None and pf["key"] == key_text(page._key)
        ),
        timeout=30000,
    )
    pf = window.project.continuum_frames
    assert pf["spacing"] == "perceptual" and len(pf["distances"]) == 8  # loop: closing step too
    assert "CV" in page.compute_label.text() or "even" in page.compute_label.text()
    page.fps.setValue(60)
    page.btn_play.setChecked(True)
    qtbot.waitUntil(lambda: page.slider.value() >= 3, timeout=5000)
    page.btn_play.setChecked(False)
    out = tmp_path / "loop"
    settings = ExportSettings(formats=("png", "tiff"), bits=16, preview="gif")
    task = page.export_frames(out, settings, "loopA")
    qtbot.waitUntil(lambda: task.isFinished(), timeout=60000)
    qtbot.waitUntil(lambda: task.export_state["result"] is not None, timeout=5000)
    manifest = json.loads((out / "manifest.json").read_text())
    c = manifest["continuum"]
    assert manifest["complete"] and c["frames"] == 8 and c["spacing"] == "perceptual" and c["loop"]
    assert sorted(p.name for p in (out / "png").glob("*.png"))[0] == "loopA_0000.png"
    assert len(list((out / "png").glob("*.png"))) == 8 and len(list(out.glob("tiff/*.tif"))) == 8
    header = (out / "conditions.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "imageFile" and all(h.isidentifier() for h in header)
    assert any(out.glob("*.gif"))


def test_the_distance_plot_keeps_its_range_while_frames_compute(qtbot):
    """Issue 39: with no frames yet only the frame cursor was plotted, and the axis ran
    -400..400 with one spike; filmstrip numbers count from 0 like the exported files."""
    import numpy as np

    from stimstudio.gui.panels.continuum_frames import FrameStrip

    strip = FrameStrip(lambda i: None)
    qtbot.addWidget(strip.dist_plot)
    strip.show(None, 12)
    strip.select(12)
    (x0, x1), _ = strip.dist_plot.getViewBox().viewRange()
    assert not strip.cursor.isVisible() and (x0, x1) == (0, 1)
    rec = {
        "images": np.zeros((5, 8, 8), np.uint8),
        "distances": np.array([1.0, 1.2, 0.9, 1.1]),
        "metric": "m",
        "cv": 0.1,
    }
    strip.show(rec, 2)
    (x0, x1), (y0, y1) = strip.dist_plot.getViewBox().viewRange()
    assert (x0, x1) == (0.5, 4.5) and y0 == 0 and 1.2 < y1 < 1.5
    assert [strip.film.item(i).text() for i in range(5)] == ["0", "1", "2", "3", "4"]
