"""Brush on an ImageCanvas: paint pixels into the mask (add) or out of it (erase).

A stroke (press, drag, release) or a single click is one edit: the tool paints into a working
copy of the mask, shows it live through `painted`, and emits `finished` once with the new
boolean array, so each stroke is one undo step. Discs are joined along the drag so a fast
stroke leaves no gaps.
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Signal
from PySide6.QtWidgets import QGraphicsEllipseItem


class BrushTool(QObject):
    painted = Signal(object)  # the working bool array, during a stroke
    finished = Signal(object)  # the bool array after the stroke

    def __init__(self, canvas, parent=None):
        super().__init__(parent)
        self.canvas = canvas
        self.mode: str | None = None  # "add" | "erase" | None
        self.radius = 4.0  # image pixels
        self.base: np.ndarray | None = None  # the mask before the stroke (set by the page)
        self._work: np.ndarray | None = None
        self._last: tuple[float, float] | None = None
        pen = pg.mkPen("#ffd24a", width=1.5)
        pen.setCosmetic(True)
        self.ring = QGraphicsEllipseItem()
        self.ring.setPen(pen)
        self.ring.setZValue(32)
        self.ring.setVisible(False)
        canvas.vb.addItem(self.ring)

    def activate(self, mode: str | None) -> None:
        self.cancel()
        self.mode = mode
        if mode:
            self.canvas.vb.tool = self

    def set_base(self, shape: tuple[int, int] | None, mask: np.ndarray | None) -> None:
        """The mask that a stroke starts from (None or empty: nothing painted yet)."""
        if shape is None:
            self.base = None
        elif mask is None:
            self.base = np.zeros(shape, bool)
        else:
            self.base = np.asarray(mask, bool).copy()

    @property
    def drawing(self) -> bool:
        return self._work is not None

    def _dab(self, pos: QPointF) -> None:
        x, y = pos.x(), pos.y()
        value = 1 if self.mode == "add" else 0
        r = max(1, int(round(self.radius)))
        canvas = self._work.view(np.uint8)
        # pixel (i, j) covers [j, j+1) x [i, i+1): its centre is at (j + .5, i + .5)
        p1 = (int(round(x - 0.5)), int(round(y - 0.5)))
        p0 = p1 if self._last is None else self._last
        cv2.line(canvas, p0, p1, value, thickness=2 * r, lineType=cv2.LINE_8)
        cv2.circle(canvas, p1, r, value, thickness=-1, lineType=cv2.LINE_8)
        self._last = p1
        self.ring.setRect(
            QRectF(x - self.radius, y - self.radius, 2 * self.radius, 2 * self.radius)
        )
        self.ring.setVisible(True)
        self.painted.emit(self._work)

    # -- events from the view box ------------------------------------------------------------

    def drag_start(self, pos: QPointF) -> None:
        if self.mode is None or self.base is None:
            return
        self._work = self.base.copy()
        self._last = None
        self._dab(pos)

    def drag_move(self, pos: QPointF) -> None:
        if self._work is not None:
            self._dab(pos)

    def drag_finish(self, pos: QPointF) -> None:
        if self._work is None:
            return
        self._dab(pos)
        self._commit()

    def click(self, pos: QPointF, double: bool) -> None:
        if self.mode is None or self.base is None or double:
            return
        self._work = self.base.copy()
        self._last = None
        self._dab(pos)
        self._commit()

    def _commit(self) -> None:
        work, self._work, self._last = self._work, None, None
        self.ring.setVisible(False)
        if not np.array_equal(work, self.base):
            self.finished.emit(work)

    def cancel(self) -> None:
        self._work, self._last = None, None
        self.ring.setVisible(False)
