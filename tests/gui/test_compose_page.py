"""Compose page: a short run finishes with every method and its metrics; Cancel stops within a step;
the optimisation runs off the UI thread (how long the UI stalls is measured by `stimstudio
bench`, section responsiveness, not asserted here: a busy machine would fail any limit)."""

from __future__ import annotations

import threading

import stimstudio.core.compose as core_compose
from tests.gui.helpers import set_patches


def test_short_run_finishes_with_all_methods_and_metrics(window, qtbot, monkeypatch):
    set_patches(window)
    window.show_page("compose")
    page = window.pages["compose"]
    page.steps.setValue(4)
    seen = []
    # every step of the optimisation is computed in the worker thread, none on the UI thread
    threads = []
    real_steps = core_compose.compose_steps

    def spy(*args, **kwargs):
        steps = real_steps(*args, **kwargs)
        while True:
            try:
                rec = next(steps)
            except StopIteration as end:
                return end.value
            threads.append(threading.get_ident())
            yield rec

    monkeypatch.setattr(core_compose, "compose_steps", spy)
    with qtbot.waitSignal(
        window.session.changed, timeout=60000, check_params_cb=lambda k: k == "result"
    ):
        page.run()
        page.worker.yielded.connect(seen.append)
    qtbot.waitUntil(lambda: page.worker is None, timeout=10000)
    res = window.project.result
    for m in ("stitch", "poisson", "encoder", "optimized", "stylemix"):
        assert m in res["images"] and res["images"][m].shape == (32, 32)
        assert set(res["metrics"][m]) >= {"psnr_in_mask", "ssim_in_mask", "seam_strength"}
        assert m in page.result_tiles and page.result_tiles[m].has_image()
    assert set(res["latents"]) >= {"encoder", "optimized", "stylemix"}
    assert not page.keep_buttons["stitch"].isEnabled()
    assert [s.step for s in seen] == list(range(5))
    assert page.progress.value() == 100
    assert "done" in page.status.text()
    # the encoder term's curve only where lambda4 > 0 (Compose's defaults have none: issue 37)
    lam4 = page.ctx.prefs.lambda_encoder
    assert set(page.curves) >= {"pixel", "total"} | ({"encoder"} if lam4 > 0 else set())
    assert page.last_outcome == "done"
    assert threads and threading.main_thread().ident not in threads
    # keep the optimised result as an anchor; undo removes it again
    page.keep("optimized")
    anchors = window.project.anchors.values()
    assert [a.name for a in anchors] == ["Optimized (Eq. 4)"]
    window.session.undo.undo()
    assert window.project.anchors == {}


def test_cancel_stops_within_one_step(window, qtbot):
    set_patches(window)
    page = window.pages["compose"]
    page.steps.setValue(5000)
    steps = []
    page.run()
    page.worker.yielded.connect(lambda rec: steps.append(rec.step))
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=30000)
    at_cancel = steps[-1]
    with qtbot.waitSignal(page.worker.cancelled, timeout=60000):
        page.cancel()
    stopped = page.cancelled_step
    # the worker stops the job at its next yield: at most the step in flight finishes
    assert stopped <= at_cancel + 2
    qtbot.waitUntil(lambda: page.worker is None, timeout=10000)
    assert page.last_outcome == "cancelled"
    assert window.project.result is None  # nothing partial is kept
    assert page.btn_run.isEnabled()


def test_generate_without_mask_explains_instead_of_crashing(window, errors):
    set_patches(window, with_mask=False)
    window.pages["compose"].run()
    assert errors and "mask" in errors[0][1]
    assert window.pages["compose"].worker is None


def test_loss_axis_labels_decades_only_unless_the_range_is_short(qtbot):
    import math

    from stimstudio.gui.widgets import decade_log_axis

    axis = decade_log_axis("left")
    axis.setLogMode(False, True)
    ticks = [math.log10(v) for v in (0.001, 0.002, 0.005, 0.009, 0.01)]
    axis.setRange(math.log10(3e-4), math.log10(0.02))  # 1.8 decades: decades only
    assert axis.tickStrings(ticks, 1.0, 1.0) == ["0.001", "", "", "", "0.01"]
    axis.setRange(math.log10(1.5e-3), math.log10(0.012))  # 0.9 decades: 2x and 5x as well
    assert axis.tickStrings(ticks, 1.0, 1.0) == ["0.001", "0.002", "0.005", "", "0.01"]


def test_the_settings_line_names_a_grown_models_averaged_down_features(tiny_model):
    from stimstudio.core.invert import perceptual_for
    from stimstudio.gui.panels.compose import perceptual_name
    from stimstudio.train.grow import grow_model

    grown = grow_model(tiny_model)
    assert perceptual_name("", grown) == perceptual_for(grown).name
    assert perceptual_name("", grown).endswith("-avg32px")
    assert perceptual_name("", tiny_model) == perceptual_for(tiny_model).name
    assert perceptual_name("/x/vgg16.pth", grown) == "vgg16-conv4_3"
