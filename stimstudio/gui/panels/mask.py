"""Texture mask page: lasso the tumor on the texture patch (freehand or polygon), edit the
corners, feather the edge, or take the mask from the data set's annotation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.errors import StimStudioError
from stimstudio.core.insertion import Mask

from ..canvas.brush import BrushTool
from ..canvas.image_view import ImageCanvas
from ..canvas.lasso import LassoTool
from ..context import AppContext
from ..errors import show_error
from ..widgets import hint, icon, side_and_center

OVERLAY_LUT = np.zeros((256, 4), np.uint8)
OVERLAY_LUT[:, 0], OVERLAY_LUT[:, 1], OVERLAY_LUT[:, 2] = 255, 96, 80
OVERLAY_LUT[:, 3] = np.arange(256)


def compose_inputs(project):
    """(texture, template, core Mask) from the project, or a sentence saying what is missing."""
    from stimstudio.core.errors import StimStudioError

    m = project
    if m.texture is None:
        return "No texture patch yet: cut one on page 1 (T)."
    if m.template is None:
        return "No shape template yet: cut one on page 1 (M)."
    if m.mask is None:
        return "No texture mask yet: lasso the tumor on page 2."
    try:
        return m.texture.image, m.template.image, m.mask.fitted(m.texture.image.shape)
    except StimStudioError as exc:
        return str(exc)


class MaskPage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        self._syncing = False

        self.canvas = ImageCanvas(histogram=False, levels=(-1.0, 1.0))
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setLookupTable(OVERLAY_LUT)
        self.overlay.setZValue(10)
        self.canvas.vb.addItem(self.overlay)
        pen = pg.mkPen("#ff6a5a", width=1.5)
        pen.setCosmetic(True)
        self.outline = pg.PlotCurveItem(pen=pen)
        self.outline.setZValue(11)
        self.canvas.vb.addItem(self.outline)
        for item in (self.overlay, self.outline):
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.editor: pg.PolyLineROI | None = None
        self.lasso = LassoTool(self.canvas, self)
        self.lasso.finished.connect(self._lasso_finished)
        self.brush = BrushTool(self.canvas, self)
        self.brush.painted.connect(self._show_painting)
        self.brush.finished.connect(self._brush_finished)

        self.placeholder = QLabel(
            "No texture patch yet. On page 1 (View), put the box over a tumor and press T."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)

        # tools
        tools = QGroupBox("Lasso")
        tl = QVBoxLayout(tools)
        self.btn_free = QPushButton(icon("lasso"), "Freehand (L)")
        self.btn_free.setToolTip("Freehand lasso: press, draw around the tumor, release (L)")
        self.btn_poly = QPushButton(icon("polygon"), "Polygon (P)")
        self.btn_poly.setToolTip(
            "Polygon lasso: click each corner; double-click or Enter closes; "
            "Backspace drops the last corner; Esc cancels (P)"
        )
        self.btn_edit = QPushButton(icon("edit"), "Corners (E)")
        self.btn_edit.setToolTip(
            "Drag the corners of the mask outline; drag the inside to move it (E)"
        )
        self.btn_add = QPushButton(icon("brush"), "Add (B)")
        self.btn_add.setToolTip("Paint pixels into the mask; each stroke is one undo step (B)")
        self.btn_erase = QPushButton(icon("erase"), "Erase (X)")
        self.btn_erase.setToolTip("Paint pixels out of the mask (X)")
        self.btn_pan = QPushButton("Pan (V)")
        self.btn_pan.setToolTip("No tool: drag to pan, wheel to zoom (V)")
        self.tool_group = QButtonGroup(self)
        grid = QGridLayout()  # two columns: the side column fits a 720 px high window
        grid.setSpacing(4)
        for i, b in enumerate(
            (
                self.btn_free,
                self.btn_poly,
                self.btn_edit,
                self.btn_pan,
                self.btn_add,
                self.btn_erase,
            )
        ):
            b.setCheckable(True)
            b.setObjectName("compact")
            self.tool_group.addButton(b)
            grid.addWidget(b, i // 2, i % 2)
        tl.addLayout(grid)
        self.brush_size = QDoubleSpinBox()
        self.brush_size.setRange(0.5, 40.0)
        self.brush_size.setSingleStep(0.5)
        self.brush_size.setValue(4.0)
        self.brush_size.setSuffix(" px")
        self.brush_size.setToolTip("Brush radius in patch pixels ([ and ] change it)")
        self.brush_size.valueChanged.connect(lambda v: setattr(self.brush, "radius", float(v)))
        bform = QFormLayout()
        bform.addRow("Brush radius", self.brush_size)
        tl.addLayout(bform)
        self.btn_free.setChecked(True)
        self.tool_group.buttonClicked.connect(self._tool_clicked)

        maskbox = QGroupBox("Mask")
        form = QFormLayout(maskbox)
        self.feather = QDoubleSpinBox()
        self.feather.setRange(0.0, 30.0)
        self.feather.setSingleStep(0.5)
        self.feather.setSuffix(" px")
        self.feather.setValue(ctx.prefs.feather)
        self.feather.setToolTip("Soft edge of the mask (Gaussian radius in patch pixels)")
        self.feather.valueChanged.connect(self._feather_changed)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("How strongly the mask is tinted on screen (display only)")
        self.opacity.valueChanged.connect(self._opacity_changed)
        form.addRow("Feather", self.feather)
        form.addRow("Opacity", self.opacity)
        self.btn_annotation = QPushButton("Mask from annotation")
        self.btn_annotation.setToolTip(
            "Use the data set's lesion outline inside this patch as the mask"
        )
        self.btn_annotation.clicked.connect(self.mask_from_annotation)
        self.btn_clear = QPushButton(icon("clear"), "Clear mask")
        self.btn_clear.setToolTip("Remove the mask (undo brings it back)")
        self.btn_clear.clicked.connect(self.clear_mask)
        form.addRow(self.btn_annotation)
        form.addRow(self.btn_clear)
        self.stats = QLabel("")
        self.stats.setObjectName("stat")
        self.stats.setWordWrap(True)
        nxt = QPushButton("Place it on the template ▸")
        nxt.setObjectName("primary")
        nxt.setToolTip("Go to page 3 (Ctrl+3)")
        nxt.clicked.connect(lambda: ctx.show_page("placement"))

        side = QVBoxLayout()
        side.addWidget(tools)
        side.addWidget(maskbox)
        side.addWidget(self.stats)
        side.addWidget(
            hint(
                "Draw around the tumor on the texture patch. Everything inside the mask is "
                "the texture that will be transplanted; the feather softens its edge."
            )
        )
        side.addStretch(1)
        side.addWidget(nxt)
        side_and_center(self, side, self.canvas, self.placeholder, side_width=276)

        for key, slot in (
            ("L", lambda: self.set_tool("freehand")),
            ("P", lambda: self.set_tool("polygon")),
            ("E", lambda: self.set_tool("edit")),
            ("B", lambda: self.set_tool("add")),
            ("X", lambda: self.set_tool("erase")),
            ("V", lambda: self.set_tool(None)),
            ("[", lambda: self.brush_size.setValue(self.brush_size.value() - 1)),
            ("]", lambda: self.brush_size.setValue(self.brush_size.value() + 1)),
            ("Return", self.lasso.finish),
            ("Enter", self.lasso.finish),
            ("Escape", self.lasso.cancel),
            ("Backspace", self.lasso.undo_point),
            ("F", self.canvas.fit),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

        self.session.changed.connect(self._on_changed)
        self.session.reset.connect(self.refresh)
        self.set_tool("freehand")
        self.refresh()

    # -- tools -------------------------------------------------------------------------------

    def _tool_buttons(self) -> dict:
        return {
            "freehand": self.btn_free,
            "polygon": self.btn_poly,
            "edit": self.btn_edit,
            "add": self.btn_add,
            "erase": self.btn_erase,
        }

    def tool(self) -> str | None:
        checked = self.tool_group.checkedButton()
        return next((k for k, b in self._tool_buttons().items() if b is checked), None)

    def set_tool(self, name: str | None) -> None:
        btn = self._tool_buttons().get(name, self.btn_pan)
        btn.setChecked(True)
        self._tool_clicked(btn)

    def _tool_clicked(self, _btn) -> None:
        name = self.tool()
        self.lasso.activate(name if name in ("freehand", "polygon") else None)
        self.brush.activate(name if name in ("add", "erase") else None)
        self._update_editor()

    # -- state -> screen ---------------------------------------------------------------------

    def _on_changed(self, key: str) -> None:
        if key in ("texture", "mask", "mask_source", "view"):
            self.refresh()

    def texture_shape(self) -> tuple[int, int] | None:
        tex = self.project.texture
        return None if tex is None else tex.image.shape

    def refresh(self) -> None:
        tex = self.project.texture
        self.canvas.setVisible(tex is not None)
        self.placeholder.setVisible(tex is None)
        opacity = float(self.project.view.get("mask_opacity", 0.45))
        self.opacity.blockSignals(True)
        self.opacity.setValue(round(opacity * 100))
        self.opacity.blockSignals(False)
        self.overlay.setOpacity(opacity)
        if tex is None:
            self.canvas.set_image(None)
            self.overlay.clear()
            self.outline.setData([], [])
            self.stats.setText("")
            self._update_editor()
            return
        shape = tex.image.shape
        reset = self.canvas.image_shape() != shape
        self.canvas.set_image(tex.image, levels=(-1.0, 1.0), reset_view=reset)
        mask = self.project.mask
        self.btn_annotation.setEnabled(tex.lesion_mask is not None)
        self.btn_clear.setEnabled(mask is not None)
        if mask is not None:
            self._syncing = True
            self.feather.setValue(float(mask.feather))
            self._syncing = False
        self._draw_mask(mask, shape)
        self._update_editor()

    def _draw_mask(self, mask, shape) -> None:
        self.brush.cancel()
        self.brush.set_base(shape, None)
        if mask is None:
            self.overlay.clear()
            self.outline.setData([], [])
            self.stats.setText("No mask yet: draw around the tumor.")
            return
        try:
            mask = mask.fitted(shape)
        except StimStudioError as exc:
            self.overlay.clear()
            self.stats.setText(str(exc))
            return
        self.brush.set_base(shape, mask.binary)
        soft = mask.soft()
        self.overlay.setImage(soft, levels=(0.0, 1.0), autoLevels=False)
        self.overlay.setRect(0, 0, shape[1], shape[0])
        poly = mask.polygon
        if poly is not None and len(poly) >= 3:
            pts = np.vstack([poly, poly[:1]])
            self.outline.setData(pts[:, 0], pts[:, 1])
        else:
            self.outline.setData([], [])
        area = int(mask.binary.sum())
        frac = 100.0 * area / mask.binary.size
        kind = {"annotation": "from the annotation", "brush": "painted"}.get(
            self.project.mask_source, "lassoed"
        )
        self.stats.setText(
            f"Mask {kind}: {area} px ({frac:.1f} % of the patch), feather {mask.feather:g} px"
        )

    def _update_editor(self) -> None:
        if self.editor is not None:
            self.canvas.vb.removeItem(self.editor)
            self.editor = None
        mask = self.project.mask
        editing = self.tool() == "edit"
        self.outline.setVisible(not editing)
        if not editing or mask is None or mask.polygon is None:
            return
        pen = pg.mkPen("#ffd24a", width=2)
        self.editor = pg.PolyLineROI(
            [tuple(p) for p in mask.polygon], closed=True, pen=pen, movable=True
        )
        self.editor.setZValue(40)
        self.editor.sigRegionChangeFinished.connect(self._editor_changed)
        self.canvas.vb.addItem(self.editor)

    # -- screen -> state (undoable) ----------------------------------------------------------

    def _lasso_finished(self, points) -> None:
        self.set_polygon(points, "freehand" if self.lasso.mode == "freehand" else "polygon")

    def set_polygon(self, points, how: str = "polygon") -> None:
        shape = self.texture_shape()
        if shape is None:
            return
        try:
            mask = Mask.from_polygon(points, shape, float(self.feather.value()))
        except StimStudioError as exc:
            show_error(self, str(exc))
            return
        verb = "Edit mask corners" if how == "edit" else f"Lasso ({how})"
        self._set_mask(mask, how, verb)

    def _set_mask(self, mask, how: str, verb: str) -> None:
        self.session.set_many({"mask": mask, "mask_source": how}, verb)

    def _show_painting(self, work: np.ndarray) -> None:
        """The stroke in progress, hard-edged (the feather applies once it is committed)."""
        self.overlay.setImage(work.astype(np.float32), levels=(0.0, 1.0), autoLevels=False)

    def _brush_finished(self, array: np.ndarray) -> None:
        """One stroke = one undo step; the mask becomes a painted array (corners are gone)."""
        verb = "Brush add" if self.brush.mode == "add" else "Brush erase"
        if not array.any():
            self.session.set("mask", None, f"{verb} (mask now empty)")
            return
        self._set_mask(Mask.from_array(array.copy(), float(self.feather.value())), "brush", verb)

    def _editor_changed(self, roi) -> None:
        pts = [roi.mapToParent(QPointF(p)) for _, p in roi.getLocalHandlePositions()]
        self.set_polygon([(p.x(), p.y()) for p in pts], "edit")

    def _feather_changed(self, value: float) -> None:
        mask = self.project.mask
        if self._syncing or mask is None or float(mask.feather) == value:
            return
        self.session.set("mask", replace(mask, feather=float(value)), "Feather", merge="feather")

    def _opacity_changed(self, v: int) -> None:
        view = dict(self.project.view)
        view["mask_opacity"] = v / 100.0
        self.overlay.setOpacity(v / 100.0)
        self.session.set("view", view, "Mask opacity")

    def mask_from_annotation(self) -> None:
        tex = self.project.texture
        if tex is None or tex.lesion_mask is None:
            show_error(self, "This texture patch holds no annotated lesion.")
            return
        mask = Mask.from_array(tex.lesion_mask, float(self.feather.value()))
        self._set_mask(mask, "annotation", "Mask from annotation")

    def clear_mask(self) -> None:
        if self.project.mask is not None:
            self.session.set("mask", None, "Clear mask")
