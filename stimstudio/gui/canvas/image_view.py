"""An image canvas: pan/zoom, window/level with the histogram, pixel readout, overlays.

Large films are shown from a downsampled preview (Mammogram.preview) stretched over the full
pixel grid, so coordinates everywhere are full-resolution pixels and painting stays fast.
Interactive tools (the lasso) plug into the view box and receive drags and clicks in image
coordinates.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QLabel, QVBoxLayout, QWidget

LESION_COLORS = {"malignant": "#ff5a5a", "benign": "#5ad17a"}
DEFAULT_LESION_COLOR = "#ffd24a"


class ToolViewBox(pg.ViewBox):
    """A ViewBox that lends the mouse to an active tool (left button); pans/zooms otherwise."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tool = None

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph's name
        if self.tool is not None and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            pos = self.mapSceneToView(ev.scenePos())
            if ev.isStart():
                # the drag is reported after the mouse has moved: start where it was pressed
                self.tool.drag_start(self.mapSceneToView(ev.buttonDownScenePos()))
                self.tool.drag_move(pos)
            elif ev.isFinish():
                self.tool.drag_finish(pos)
            else:
                self.tool.drag_move(pos)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802
        if self.tool is not None and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.tool.click(self.mapSceneToView(ev.scenePos()), ev.double())
            return
        super().mouseClickEvent(ev)


class ImageCanvas(QWidget):
    """One image in a zoomable view, optionally with the histogram/LUT widget beside it."""

    hovered = Signal(object)  # (x, y, value) or None

    def __init__(self, histogram: bool = True, levels=(0.0, 1.0), parent=None):
        super().__init__(parent)
        self.default_levels = levels
        # model-range images ([-1, 1]) read out in film grey levels (0..1) like the View page,
        # so one place of one film reads the same number on every page
        self.model_range = levels[0] < 0
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground("#15171a")
        self.glw.ci.layout.setContentsMargins(0, 0, 0, 0)
        self.vb = ToolViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.glw.addItem(self.vb, row=0, col=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.hist = None
        if histogram:
            self.hist = pg.HistogramLUTItem(image=self.image)
            self.hist.setMaximumWidth(110)
            # pyqtgraph's dim blue fill all but vanished on the dark theme
            self.hist.fillHistogram(True, level=0.0, color=(159, 201, 234, 150))
            self.hist.plot.setPen(pg.mkPen("#e4f1fb", width=1))
            self.hist.region.setBrush(pg.mkBrush(74, 163, 223, 40))
            self._window_handles_only()
            self.glw.addItem(self.hist, row=0, col=1)
        self.readout = QLabel(" ")
        self.readout.setObjectName("readout")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.glw, 1)
        lay.addWidget(self.readout)
        self._values: np.ndarray | None = None  # full-resolution values for the readout
        self._value_fmt = "{:.3f}"
        self._overlays: list = []
        self.glw.scene().sigMouseMoved.connect(self._on_mouse)

    # -- image -------------------------------------------------------------------------------

    def set_image(
        self,
        display: np.ndarray | None,
        full_shape: tuple[int, int] | None = None,
        values: np.ndarray | None = None,
        levels=None,
        reset_view: bool = True,
    ) -> None:
        """Show `display`, stretched over `full_shape` pixels (default: its own shape)."""
        if display is None:
            self.image.clear()
            self._values = None
            return
        h, w = full_shape or display.shape[:2]
        self.image.setImage(
            display, autoLevels=False, levels=levels or self.current_levels() or self.default_levels
        )
        self.image.setRect(QRectF(0, 0, w, h))
        self._values = values if values is not None else display
        if reset_view:
            self.vb.setRange(QRectF(0, 0, w, h), padding=0.02)

    def current_levels(self):
        lv = self.image.levels
        if lv is None:
            return None
        return float(lv[0]), float(lv[1])

    def _window_handles_only(self) -> None:
        """One set of handles: the window's two edges on the histogram, drawn as handles.
        pyqtgraph's colour-map editor beside it (large white triangles that looked like the
        window handles, and a colour map that stayed on every film) is shown as a plain grey
        bar that takes no clicks: the display mapping here is the window, nothing else."""
        grad = self.hist.gradient
        grad.loadPreset("grey")
        grad.showTicks(False)
        grad.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        grad.setToolTip("Black to white; the window sets which grey levels span it")
        for line in self.hist.region.lines:
            line.setPen(pg.mkPen("#ffd24a", width=2))
            line.setHoverPen(pg.mkPen("#fff1b8", width=4))
            line.clearMarkers()
            line.addMarker("<|>", 0.5, 16)
            line.setToolTip("Drag: this edge of the window (the middle moves both)")

    def set_levels(self, lo: float, hi: float) -> None:
        """The whole display mapping: the window, over the grey colour bar."""
        self.image.setLevels((lo, hi))
        if self.hist is not None:
            self.hist.setLevels(lo, hi)

    def image_shape(self) -> tuple[int, int] | None:
        if self._values is None:
            return None
        return self._values.shape[:2]

    def fit(self) -> None:
        shape = self.image_shape()
        if shape:
            self.vb.setRange(QRectF(0, 0, shape[1], shape[0]), padding=0.02)

    def zoom(self, factor: float) -> None:
        self.vb.scaleBy((1 / factor, 1 / factor))

    # -- overlays ----------------------------------------------------------------------------

    def add_overlay(self, item) -> None:
        self.vb.addItem(item)
        self._overlays.append(item)

    def clear_overlays(self) -> None:
        for item in self._overlays:
            self.vb.removeItem(item)
        self._overlays.clear()

    def show_lesions(self, lesions, visible: bool = True) -> None:
        """Outlines of annotated lesions: polygons, circles, or boxes, colored by pathology."""
        self.clear_overlays()
        if not visible:
            return
        for les in lesions:
            color = QColor(LESION_COLORS.get((les.pathology or "").lower(), DEFAULT_LESION_COLOR))
            pen = QPen(color)
            pen.setWidthF(2)
            pen.setCosmetic(True)
            label_at = None
            if les.polygon is not None and len(les.polygon) >= 2:
                pts = np.asarray(les.polygon, float)
                pts = np.vstack([pts, pts[:1]])
                self.add_overlay(pg.PlotCurveItem(pts[:, 0], pts[:, 1], pen=pen))
                label_at = pts[:, 0].min(), pts[:, 1].min()
            elif les.center is not None and les.radius:
                (x, y), r = les.center, les.radius
                ell = QGraphicsEllipseItem(x - r, y - r, 2 * r, 2 * r)
                ell.setPen(pen)
                self.add_overlay(ell)
                label_at = x - r, y - r
            elif les.center is not None:
                x, y = les.center
                self.add_overlay(
                    pg.ScatterPlotItem([x], [y], symbol="+", size=18, pen=pen, brush=None)
                )
                label_at = x, y
            if label_at is not None:
                words = [les.kind, les.pathology or "", les.attributes.get("shape", "")]
                text = pg.TextItem(" ".join(w for w in words if w), color=color, anchor=(0, 1))
                text.setPos(*label_at)
                self.add_overlay(text)

    # -- readout -----------------------------------------------------------------------------

    def _on_mouse(self, scene_pos) -> None:
        if self._values is None or not self.vb.sceneBoundingRect().contains(scene_pos):
            self.readout.setText(" ")
            self.hovered.emit(None)
            return
        p: QPointF = self.vb.mapSceneToView(scene_pos)
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        h, w = self._values.shape[:2]
        if 0 <= x < w and 0 <= y < h:
            v = float(self._values[y, x])
            if self.model_range:
                v = (v + 1.0) / 2.0
            self.readout.setText(f"x {x}  y {y}   grey {self._value_fmt.format(v)}")
            self.hovered.emit((x, y, v))
        else:
            self.readout.setText(f"x {x}  y {y}")
            self.hovered.emit(None)
