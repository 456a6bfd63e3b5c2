"""Freehand and polygon lasso on an ImageCanvas.

Freehand: press, drag around the tumor, release. Polygon: click each corner; double-click, click the
first corner again or press Enter to close, Esc to cancel, Backspace to drop the last corner. The finished outline is
emitted as a list of (x, y) image coordinates.
"""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QApplication

MAX_VERTICES = 48  # a freehand stroke is thinned to this many editable corners
MIN_STEP = 0.75  # pixels between recorded freehand points


class _Corners(pg.ScatterPlotItem):
    """The polygon's corner dots; clicks on them belong to the lasso, not to the dots."""

    def mouseClickEvent(self, ev):  # noqa: N802 - pyqtgraph's name
        ev.ignore()


class LassoTool(QObject):
    finished = Signal(object)  # list[(x, y)]
    mode_changed = Signal(str)

    def __init__(self, canvas, parent=None):
        super().__init__(parent)
        self.canvas = canvas
        self.mode: str | None = None  # "freehand" | "polygon" | None
        self.points: list[tuple[float, float]] = []
        self._last_click = 0.0
        pen = pg.mkPen("#ffd24a", width=2, style=Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.curve = pg.PlotCurveItem(pen=pen)
        self.curve.setZValue(30)
        self.dots = _Corners(size=7, brush=pg.mkBrush("#ffd24a"), pen=None)
        self.dots.setZValue(31)
        for item in (self.curve, self.dots):
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # clicks go to the tool
            canvas.vb.addItem(item)

    def activate(self, mode: str | None) -> None:
        self.cancel()
        self.mode = mode
        self.canvas.vb.tool = self if mode else None
        self.mode_changed.emit(mode or "")

    @property
    def drawing(self) -> bool:
        return bool(self.points)

    # -- events from the view box ------------------------------------------------------------

    def drag_start(self, pos: QPointF) -> None:
        if self.mode == "freehand":
            self.points = [(pos.x(), pos.y())]
            self._redraw()

    def drag_move(self, pos: QPointF) -> None:
        if self.mode == "freehand" and self.points:
            x, y = self.points[-1]
            if math.hypot(pos.x() - x, pos.y() - y) >= MIN_STEP:
                self.points.append((pos.x(), pos.y()))
                self._redraw()

    def drag_finish(self, pos: QPointF) -> None:
        if self.mode == "freehand" and self.points:
            self.points.append((pos.x(), pos.y()))
            self.finish()

    def click(self, pos: QPointF, double: bool) -> None:
        if self.mode != "polygon":
            return
        now = time.monotonic()
        quick = now - self._last_click < QApplication.doubleClickInterval() / 1000
        self._last_click = now
        if (
            double
            or (quick and self._near(pos, -1))
            or (len(self.points) >= 3 and self._near(pos, 0))
        ):
            self.finish()  # double-click, or a click on the first corner, closes the polygon
            return
        self.points.append((pos.x(), pos.y()))
        self._redraw()

    def _near(self, pos: QPointF, index: int, screen_px: float = 8.0) -> bool:
        if not self.points:
            return False
        px, _ = self.canvas.vb.viewPixelSize()
        x, y = self.points[index]
        return math.hypot(pos.x() - x, pos.y() - y) <= screen_px * px

    # -- keyboard ----------------------------------------------------------------------------

    def undo_point(self) -> None:
        if self.points:
            self.points.pop()
            self._redraw()

    def finish(self) -> None:
        pts = self.points
        self.points = []
        self._redraw()
        if len(pts) >= 3:
            if len(pts) > MAX_VERTICES:
                step = len(pts) / MAX_VERTICES
                pts = [pts[int(i * step)] for i in range(MAX_VERTICES)]
            self.finished.emit(pts)

    def cancel(self) -> None:
        self.points = []
        self._redraw()

    def _redraw(self) -> None:
        if not self.points:
            self.curve.setData([], [])
            self.dots.setData([], [])
            return
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        if self.mode == "polygon" and len(self.points) > 2:
            xs, ys = xs + xs[:1], ys + ys[:1]
        self.curve.setData(xs, ys)
        if self.mode == "polygon":
            self.dots.setData([p[0] for p in self.points], [p[1] for p in self.points])
        else:
            self.dots.setData([], [])
