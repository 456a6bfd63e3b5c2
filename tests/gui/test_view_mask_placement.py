"""Open a film, cut patches at the model's field of view, lasso the texture, place it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF

from stimstudio.core.insertion import Placement
from stimstudio.core.project import Patch
from tests.gui.helpers import click, drag, make_minimias, set_patches


def test_open_film_outlines_roi_at_field_of_view_and_cut(window, qtbot, tmp_path):
    film = make_minimias(tmp_path / "mias")
    window.open_paths([tmp_path / "mias"])  # a folder: every mammogram in it
    view = window.pages["view"]
    qtbot.waitUntil(lambda: view.mammo is not None, timeout=20000)
    qtbot.waitUntil(lambda: str(film) in window.library.info, timeout=20000)
    assert window.library.list.count() == 1
    assert "mass · malignant" in window.library.list.item(0).text()
    # the tiny model: 32 px at the recipe's 0.4 mm; the film has 0.2 mm pixels -> 64 px box
    x, y, s = view.roi_rect()
    assert s == 64
    assert x <= 100 <= x + s and y <= 135 <= y + s  # snapped onto the annotated mass
    assert view.canvas._overlays  # the lesion outline is drawn
    view.cut("texture")
    tex = window.project.texture
    assert tex.image.shape == (32, 32)
    assert tex.image.min() >= -1 and tex.image.max() <= 1
    assert tex.lesion_mask.any()
    window.session.undo.undo()
    assert window.project.texture is None
    window.session.undo.redo()
    assert window.project.texture is not None
    view.window_combo.setCurrentIndex(1)
    view._window_preset(1)
    assert view.canvas.current_levels() == (0.45, 1.0)


def test_polygon_lasso_with_mouse_clicks_and_undo_redo(window, qtbot):
    set_patches(window, with_mask=False)
    window.show_page("mask")
    page = window.pages["mask"]
    page.set_tool("polygon")
    qtbot.wait(50)
    for x, y in [(8, 8), (24, 8), (24, 24), (8, 24)]:
        click(page.canvas, x, y)
    page.lasso._last_click = 0.0  # no accidental double-click timing
    click(page.canvas, 8, 8)  # a click on the first corner closes the polygon
    rec = window.project.mask
    assert rec is not None and window.project.mask_source == "polygon"
    assert len(rec.polygon) == 4
    np.testing.assert_allclose(rec.polygon[0], (8, 8), atol=0.6)
    assert "px" in page.stats.text()
    window.session.undo.undo()
    assert window.project.mask is None
    assert page.overlay.image is None  # the tint is gone with the mask
    window.session.undo.redo()
    assert len(window.project.mask.polygon) == 4


def test_freehand_lasso_by_dragging_then_feather_merges(window, qtbot):
    set_patches(window, with_mask=False)
    window.show_page("mask")
    page = window.pages["mask"]
    page.set_tool("freehand")
    qtbot.wait(50)
    t = np.linspace(0, 2 * np.pi, 30)
    drag(page.canvas, list(zip(16 + 7 * np.cos(t), 16 + 7 * np.sin(t))))
    rec = window.project.mask
    assert rec is not None and window.project.mask_source == "freehand"
    assert len(rec.polygon) >= 10
    n = window.session.undo.count()
    page.feather.setValue(3.0)
    page.feather.setValue(4.5)
    assert window.project.mask.feather == 4.5
    assert window.session.undo.count() == n + 1  # one undo step for the whole feather edit
    window.session.undo.undo()
    assert window.project.mask.feather == 2.0


def test_brush_adds_and_erases_one_undo_step_per_stroke(window, qtbot):
    set_patches(window)  # a square mask 10..22
    window.show_page("mask")
    page = window.pages["mask"]
    before = page.brush.base.copy()
    page.set_tool("add")
    page.brush_size.setValue(2.0)
    qtbot.wait(50)
    n = window.session.undo.count()
    drag(page.canvas, [(25, 5), (27, 5), (29, 5)])  # a stroke outside the square
    rec = window.project.mask
    assert window.project.mask_source == "brush" and rec.polygon is None
    added = rec.binary & ~before
    # painted along the stroke (row 5, x 25..29, radius 2) and nowhere else; the screen-to-image
    # mapping rounds by up to a pixel, so the core of the stroke is checked, and its area
    ys, xs = np.nonzero(added)
    assert added[4:6, 26:29].all() and ys.max() <= 8 and xs.min() >= 21
    assert 15 <= added.sum() <= 60
    assert rec.binary[before].all()  # the old mask is kept
    assert window.session.undo.count() == n + 1 and window.session.undo.undoText() == "Brush add"
    page.set_tool("erase")
    page.brush_size.setValue(3.0)
    qtbot.wait(50)
    click(page.canvas, 16, 16)  # a dab in the middle of the square
    arr = window.project.mask.binary
    assert not arr[15:18, 15:18].any() and arr[11, 11] and arr[5, 27]
    assert "painted" in page.stats.text()
    window.session.undo.undo()
    window.session.undo.undo()
    np.testing.assert_array_equal(page.brush.base, before)
    # erasing everything leaves no mask, not an empty one that would fail later
    page.brush_size.setValue(40.0)
    click(page.canvas, 16, 16)
    assert window.project.mask is None


def test_vertex_editing_moves_a_corner(window, qtbot):
    set_patches(window)
    page = window.pages["mask"]
    page.set_tool("edit")
    assert page.editor is not None
    handle = page.editor.getHandles()[0]
    page.editor.movePoint(handle, page.editor.mapToParent(QPointF(6, 6)), finish=True)
    poly = window.project.mask.polygon
    np.testing.assert_allclose(poly[0], (6, 6), atol=0.01)
    assert window.session.undo.undoText() == "Edit mask corners"


def test_placement_keys_handle_and_rotation_direction(window, qtbot):
    set_patches(window)
    # an elongated bar so the orientation is measurable
    window.pages["mask"].set_polygon([(6, 14), (22, 14), (22, 18), (6, 18)])
    window.show_page("placement")
    page = window.pages["placement"]
    n = window.session.undo.count()
    for _ in range(3):
        page.nudge(dx=1)
    assert window.project.placement.dx == 3.0
    assert window.session.undo.count() == n + 1  # key presses merge
    window.session.set("placement", Placement(dx=2.0, dy=-1.0, angle=30.0), "p")
    # the on-screen handle sits on the placed mask's centroid and along its long axis
    soft = page.contour.data
    ys, xs = np.nonzero(soft > 0.5)
    side = page.handle.size().x()
    c = page.handle.mapToParent(QPointF(side / 2, side / 2))
    assert abs(c.x() - xs.mean()) < 0.6 and abs(c.y() - ys.mean()) < 0.6
    evals, evecs = np.linalg.eigh(np.cov(np.stack([xs, ys])))
    axis = np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1])) % 180
    e = page.handle.mapToParent(QPointF(side, side / 2))
    hand = np.degrees(np.arctan2(e.y() - c.y(), e.x() - c.x())) % 180
    assert min(abs(axis - hand), 180 - abs(axis - hand)) < 5
    # a drag of the handle is one undoable "Move texture"
    page.handle.setPos(page.handle.pos() + QPointF(3, 0), finish=True)
    assert abs(window.project.placement.dx - 5.0) < 1e-6
    assert window.session.undo.undoText() == "Move texture"
    # a corner drag scales: the undo entry says so (it used to say "Move texture")
    page.handle.setSize(page.handle.size() * 1.2, finish=True)
    assert window.session.undo.undoText() == "Scale texture"
    page.handle.setAngle(page.handle.angle() + 10, finish=True)
    assert window.session.undo.undoText() == "Rotate texture"
    # a placement that pushes the texture off the template is reported, not raised
    window.session.set("placement", Placement(dx=200.0), "p")
    assert "outside" in page.problem.text()


def test_dropping_files_opens_them_and_remembers_them(window, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    film = make_minimias(tmp_path / "drop")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(film))])
    ev = QDropEvent(
        QPointF(100, 100),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(ev)
    qtbot.waitUntil(lambda: window.pages["view"].mammo is not None, timeout=20000)
    assert window.project.library == [str(film)]
    assert window.prefs.recent[0] == str(film)
    window.session.undo.undo()  # adding files is undoable too
    assert window.project.library == []


def test_dicom_windows_from_the_header_become_presets(window, qtbot, tmp_path):
    from tests.readers_helpers import phantom, write_dicom

    p = write_dicom(
        tmp_path / "a.dcm",
        phantom(),
        WindowCenter=[1500, 3000],
        WindowWidth=[3000, 500],
        WindowCenterWidthExplanation=["NORMAL", "HARDER"],
    )
    window.open_paths([p])
    view = window.pages["view"]
    qtbot.waitUntil(lambda: view.mammo is not None, timeout=20000)
    names = [view.window_combo.itemText(i) for i in range(view.window_combo.count())]
    assert "File: NORMAL (C 1500 / W 3000)" in names and "File: HARDER (C 3000 / W 500)" in names
    assert view.window_combo.currentText().startswith("File: NORMAL")  # the one applied
    before = view.mammo.pixels.copy()
    roi = view.roi_rect()
    i = names.index("File: HARDER (C 3000 / W 500)")
    view.window_combo.setCurrentIndex(i)
    view._window_preset(i)
    qtbot.waitUntil(lambda: view.mammo.info["window"].get("index") == 1, timeout=20000)
    assert not np.allclose(view.mammo.pixels, before)
    assert view.roi_rect() == roi  # the box stays where it was


def test_library_filters_by_pathology_kind_and_shape(window, qtbot, tmp_path):
    import shutil

    folder = tmp_path / "mias"
    make_minimias(folder)
    shutil.copy(folder / "mdb001.pgm", folder / "mdb002.pgm")
    shutil.copy(folder / "mdb001.pgm", folder / "mdb003.pgm")
    (folder / "Info.txt").write_text(
        "mdb001 G CIRC M 100 120 20\nmdb002 G SPIC B 90 110 15\nmdb003 G NORM\n"
    )
    window.open_paths([folder])
    lib = window.library
    qtbot.waitUntil(lambda: len(lib.info) == 3, timeout=30000)
    shapes = [lib.shape.itemText(i) for i in range(lib.shape.count())]
    assert shapes == ["any shape", "circumscribed", "spiculated"]

    def shown():
        return sorted(
            lib.list.item(i).text().split("\n")[0]
            for i in range(lib.list.count())
            if not lib.list.item(i).isHidden()
        )

    lib.shape.setCurrentText("spiculated")
    assert shown() == ["mdb002.pgm"] and lib.count.text() == "1 of 3 films"
    lib.shape.setCurrentText("any shape")
    lib.pathology.setCurrentText("malignant")
    assert shown() == ["mdb001.pgm"]
    lib.pathology.setCurrentText("no lesion")
    assert shown() == ["mdb003.pgm"]
    lib.pathology.setCurrentText("any pathology")
    lib.kind.setCurrentText("mass")
    assert shown() == ["mdb001.pgm", "mdb002.pgm"]


def test_window_level_and_box_come_back_with_the_project(make_window, qtbot, tmp_path):
    film = make_minimias(tmp_path / "mias")
    win = make_window()
    win.open_paths([film])
    win.session.set("current", str(film), "Show image")
    view = win.pages["view"]
    qtbot.waitUntil(lambda: view.mammo is not None, timeout=20000)
    view.window_combo.setCurrentIndex(1)
    view._window_preset(1)
    assert view.window_combo.currentText() == "Dense tissue"
    # a manual change on the histogram: the preset box no longer names a preset
    view.canvas.hist.setLevels(0.3, 0.7)
    assert view.window_combo.currentIndex() == -1
    assert view.window_combo.placeholderText() == "Custom"
    view.roi.setPos([20, 30])  # the user's box
    box = view.roi_rect()
    saved = win.session.save(tmp_path / "p.stimproj")
    # the same place reads one grey value on the film and on the patch cut from it
    assert view.canvas.model_range is False and win.pages["mask"].canvas.model_range is True

    again = make_window()
    assert again.open_project(saved)
    view2 = again.pages["view"]
    qtbot.waitUntil(lambda: view2.mammo is not None, timeout=20000)
    lo, hi = view2.canvas.current_levels()
    assert abs(lo - 0.3) < 1e-4 and abs(hi - 0.7) < 1e-4
    assert view2.window_combo.currentIndex() == -1
    assert view2.roi_rect() == box


def test_placement_mode_and_contrast_gain_with_the_warning(window, qtbot):
    """Issue 39: the Insert combo and Contrast box set the placement's mode and gain (one undo
    step each), the preview is the stitch in that mode, and core's brightness warning shows."""
    from tests.gui.helpers import smooth_image

    R = window.model.resolution if window.model is not None else 32
    yy, xx = np.mgrid[:R, :R]
    inside = (yy - R / 2) ** 2 + (xx - R / 2) ** 2 <= (R / 5) ** 2
    tex = np.full((R, R), -0.6, np.float32) + 0.05 * smooth_image(1, R)
    tex[inside] += 0.4
    window.session.set_many(
        {"texture": Patch(tex), "template": Patch(0.3 + 0.05 * smooth_image(2, R))}, "patches"
    )
    c = R / 2
    window.pages["mask"].set_polygon(
        [(c - 6, c - 6), (c + 6, c - 6), (c + 6, c + 6), (c - 6, c + 6)]
    )
    window.show_page("placement")
    page = window.pages["placement"]
    assert page.mode.currentData() == "paste" and not page.contrast.isEnabled()
    assert page.warning.isVisibleTo(page) and "darker" in page.warning.text()
    pasted = page.canvas.image.image.copy()
    n = window.session.undo.count()
    page.mode.setCurrentIndex(page.mode.findData("contrast"))
    pl = window.project.placement
    assert pl.mode == "contrast" and pl.contrast == 1.0
    assert window.session.undo.undoText() == "Placement mode" and page.contrast.isEnabled()
    by_contrast = page.canvas.image.image
    centre = (slice(int(c) - 3, int(c) + 3),) * 2
    assert by_contrast[centre].mean() > pasted[centre].mean() + 0.5  # bright, not dark
    page.contrast.setValue(0.5)
    page.contrast.setValue(0.6)
    assert window.project.placement.contrast == 0.6
    assert window.session.undo.count() == n + 2  # the gain's steps merge
    assert window.session.undo.undoText() == "Contrast gain"
    page.nudge(dx=1)  # moving keeps the mode and the gain
    assert window.project.placement.mode == "contrast"
    page.reset()
    assert window.project.placement.contrast == 0.6
    for _ in range(3):  # reset, nudge, gain
        window.session.undo.undo()
    assert window.project.placement.contrast == 1.0
    window.session.undo.undo()  # the mode
    assert window.project.placement.mode == "paste"
    assert page.mode.currentData() == "paste"


def test_window_level_one_set_of_handles_and_nothing_carries_over(window, qtbot, tmp_path):
    """Issue 39: the histogram's only handles are the window's edges; the colour bar beside it
    takes no clicks (it used to be a colour-map editor whose map stayed on every film)."""
    from PySide6.QtCore import Qt

    for name in ("a", "b"):
        make_minimias(tmp_path / name)
    view = window.pages["view"]
    hist = view.canvas.hist
    assert not any(t.isVisible() for t in hist.gradient.ticks)
    assert hist.gradient.acceptedMouseButtons() == Qt.MouseButton.NoButton
    assert all(line.markers for line in hist.region.lines)  # drawn as handles
    window.open_paths([tmp_path / "a" / "mdb001.pgm"])
    qtbot.waitUntil(lambda: view.mammo is not None, timeout=20000)
    view.canvas.set_levels(0.3, 0.6)  # a hand-made window on this film
    view._levels_edited()
    assert view.window_combo.currentIndex() == -1  # "Custom"
    view._window_preset(0)  # Full range: the whole mapping back
    assert view.canvas.current_levels() == (0.0, 1.0)
    assert hist.gradient.colorMap().getLookupTable(nPts=3).tolist() == [
        [0, 0, 0],
        [127, 127, 127],
        [255, 255, 255],
    ]
    view.canvas.set_levels(0.3, 0.6)
    first = view.mammo
    window.open_paths([tmp_path / "b" / "mdb001.pgm"])
    qtbot.waitUntil(lambda: window.library.list.count() == 2, timeout=20000)
    window.session.set("current", str(tmp_path / "b" / "mdb001.pgm"), "Show image")
    qtbot.waitUntil(lambda: view.mammo is not None and view.mammo is not first, timeout=20000)
    assert view.canvas.current_levels() == (0.0, 1.0)  # another film starts at full range
