"""A larger look at small images: a window with pan/zoom over a set of images (the Compose
page's results, its input and live preview), flipping between them with ← / →.

Display only: the images come in as they are shown in the tiles (model range [-1, 1]).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from .canvas.image_view import ImageCanvas
from .windows import keep_on_screen


class ZoomDialog(QDialog):
    """items: [(title, image [-1, 1], caption)]; opens on `index`. Wheel zooms, drag pans."""

    def __init__(self, items, index: int = 0, parent=None, model_range: bool = True):
        super().__init__(parent)
        self.setWindowTitle("Zoom")
        self.items = [(t, np.asarray(img, np.float32), c) for t, img, c in items]
        self.index = -1
        levels = (-1.0, 1.0) if model_range else (0.0, 1.0)
        self.canvas = ImageCanvas(histogram=False, levels=levels)
        self.canvas.vb.setMenuEnabled(False)
        self.title = QLabel()
        self.title.setObjectName("pageTitle")
        self.caption = QLabel()
        self.caption.setObjectName("stat")
        self.caption.setWordWrap(True)
        self.btn_prev = QPushButton("◀")
        self.btn_prev.setToolTip("Previous image (←)")
        self.btn_prev.clicked.connect(self.show_previous)
        self.btn_next = QPushButton("▶")
        self.btn_next.setToolTip("Next image (→)")
        self.btn_next.clicked.connect(self.show_next)
        fit = QPushButton("Fit")
        fit.setToolTip("Fit the image to the window (F)")
        fit.clicked.connect(self.canvas.fit)
        one = QPushButton("1:1")
        one.setToolTip("One image pixel per screen pixel (1)")
        one.clicked.connect(self.zoom_one)
        four = QPushButton("4×")
        four.setToolTip("Four screen pixels per image pixel (4)")
        four.clicked.connect(self.zoom_four)
        top = QHBoxLayout()
        top.addWidget(self.btn_prev)
        top.addWidget(self.title, 1)
        for b in (fit, one, four, self.btn_next):
            top.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.caption)
        lay.addWidget(QLabel("Wheel: zoom · drag: pan · ← / →: other images · Esc: close"))
        for key, slot in (
            ("Left", self.show_previous),
            ("Right", self.show_next),
            ("F", self.canvas.fit),
            ("1", self.zoom_one),
            ("4", self.zoom_four),
        ):
            QShortcut(QKeySequence(key), self).activated.connect(slot)
        keep_on_screen(self, default=(640, 700))
        self.show_item(index)

    def show_item(self, index: int) -> None:
        if not self.items:
            return
        index = max(0, min(len(self.items) - 1, index))
        same_shape = (
            0 <= self.index < len(self.items)
            and self.items[self.index][1].shape == self.items[index][1].shape
        )
        self.index = index
        title, img, caption = self.items[index]
        # keep the zoom and the place when flipping between images of one size: compare them
        self.canvas.set_image(img, reset_view=not same_shape)
        self.title.setText(f"{title}  ({index + 1} / {len(self.items)})")
        self.caption.setText(caption or "")
        self.caption.setVisible(bool(caption))
        self.btn_prev.setEnabled(index > 0)
        self.btn_next.setEnabled(index < len(self.items) - 1)

    # Bound methods, not lambdas: a lambda that captures the dialog, connected to one of its
    # children, would keep it alive after Qt deleted it (see windows.py).
    def show_previous(self) -> None:
        self.show_item(self.index - 1)

    def show_next(self) -> None:
        self.show_item(self.index + 1)

    def zoom_one(self) -> None:
        self.zoom_to(1)

    def zoom_four(self) -> None:
        self.zoom_to(4)

    def zoom_to(self, screen_px_per_image_px: float) -> None:
        """Show the image at this magnification, centred where the view is now."""
        vb = self.canvas.vb
        w = max(1.0, vb.width()) / screen_px_per_image_px
        h = max(1.0, vb.height()) / screen_px_per_image_px
        (x0, x1), (y0, y1) = vb.viewRange()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        vb.setRange(xRange=(cx - w / 2, cx + w / 2), yRange=(cy - h / 2, cy + h / 2), padding=0)

    def magnification(self) -> float:
        """Screen pixels per image pixel now (for tests and the title)."""
        (x0, x1), _ = self.canvas.vb.viewRange()
        return float(self.canvas.vb.width()) / max(1e-9, x1 - x0)

    def keyPressEvent(self, event):  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)
