"""Results one can inspect: zoomable tiles, a legend that leaves the curves free, anchors named
by what they were made from, a status line that says whether Compose can run."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QPoint, Qt

from tests.gui.helpers import set_patches


def _run(window, qtbot, steps: int = 2):
    page = window.pages["compose"]
    page.steps.setValue(steps)
    with qtbot.waitSignal(
        window.session.changed, timeout=60000, check_params_cb=lambda k: k == "result"
    ):
        page.run()
    qtbot.waitUntil(lambda: page.worker is None, timeout=10000)
    return page


def test_status_says_what_is_missing_then_ready(window):
    page = window.pages["compose"]
    assert page.status.text().startswith("Not ready")
    set_patches(window)
    assert page.status.text() == "Ready: press Compose (Ctrl+Enter)"


def test_result_tiles_zoom_and_the_legend_is_outside_the_plot(window, qtbot):
    set_patches(window)
    for which, film in (("texture", "/data/mdb181.pgm"), ("template", "/data/mdb003.pgm")):
        patch = replace(getattr(window.project, which), source={"file": film})
        window.session.set(which, patch, "source")
    page = _run(window, qtbot)
    window.show_page("compose")
    # the loss legend is a label above the plot, not an item over the curves
    assert page.plot.plotItem.legend is None
    for name in ("pixel", "perceptual", "encoder", "total"):
        assert name in page.legend.text()
    # clicking a result tile opens it larger; ← / → flip through the methods
    tile = page.result_tiles["optimized"]
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    dlg = page.zoom_dialog
    qtbot.waitExposed(dlg)
    assert dlg.title.text().startswith("Optimized (Eq. 4)")
    assert "PSNR" in dlg.caption.text()
    assert dlg.canvas.image_shape() == (32, 32)
    dlg.zoom_to(4)
    assert abs(dlg.magnification() - 4) < 0.2
    dlg.show_item(dlg.index + 1)
    assert dlg.title.text().startswith("Style mix")
    assert abs(dlg.magnification() - 4) < 0.2  # same size: the zoom is kept to compare
    dlg.close()
    # the input tile zooms too
    assert page.zoom_tile(page.tile_input).title.text().startswith("Input")
    page.zoom_dialog.close()
    # anchors say which texture went on which template, and by which method
    page.keep("optimized")
    page.keep("optimized")
    names = [a.name for a in window.project.anchors.values()]
    assert names == ["mdb181 on mdb003 · Eq. 4", "mdb181 on mdb003 · Eq. 4 (2)"]
