"""Small widgets and display helpers shared by the panels.

Display conversion only: model-range images go through core's `to_unit_range` and become 8-bit
pixmaps for the screen. No image processing happens here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .prefs import resources_dir


def display_uint8(img: np.ndarray, model_range: bool = True) -> np.ndarray:
    """An image for the screen: [-1, 1] (model) or [0, 1] (film) -> uint8."""
    from stimstudio.core.imageio import to_unit_range

    a = to_unit_range(img) if model_range else np.clip(np.asarray(img, np.float32), 0, 1)
    return np.ascontiguousarray(np.round(a * 255).astype(np.uint8))


def qimage(img: np.ndarray, model_range: bool = True) -> QImage:
    a = img if img.dtype == np.uint8 else display_uint8(img, model_range)
    a = np.ascontiguousarray(a)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8).copy()


def pixmap(img: np.ndarray, size: int | None = None, model_range: bool = True) -> QPixmap:
    pm = QPixmap.fromImage(qimage(img, model_range))
    if size:
        pm = pm.scaled(
            size,
            size,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    return pm


def image_icon(img: np.ndarray, size: int = 64, model_range: bool = True) -> QIcon:
    pm = pixmap(img, size, model_range)
    ic = QIcon(pm)
    ic.addPixmap(pm, QIcon.Mode.Selected)  # no selection tint over image thumbnails
    return ic


def icon(name: str) -> QIcon:
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def hint(text: str) -> QLabel:
    """A muted explanatory line under a control group."""
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setObjectName("hint")
    return lab


class FormScroll(QScrollArea):
    """The boxes of a tall dialog in a frameless vertical scroll area: on a small screen the
    dialog scrolls instead of growing past the screen's edge, on a large one it shows them
    whole (its size hint is the content's, not QScrollArea's small default)."""

    def __init__(self, *boxes: QWidget, parent=None):
        super().__init__(parent)
        content = QWidget()
        lay = QVBoxLayout(content)
        lay.setContentsMargins(0, 0, 0, 0)
        for box in boxes:
            lay.addWidget(box)
        lay.addStretch(1)
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def _bar(self) -> int:
        return self.verticalScrollBar().sizeHint().width()

    def sizeHint(self):  # noqa: N802
        return self.widget().sizeHint() + QSize(self._bar(), 0)

    def minimumSizeHint(self):  # noqa: N802
        return QSize(self.widget().minimumSizeHint().width() + self._bar(), 120)


class ImageTile(QFrame):
    """Title, an image that scales with the tile (keeping its aspect), and a caption."""

    clicked = Signal()

    def __init__(self, title: str = "", min_size: int = 96, parent=None):
        super().__init__(parent)
        self.setObjectName("tile")
        self._pm: QPixmap | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        self.title = QLabel(title)
        self.title.setObjectName("tileTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(min_size, min_size)
        self.image.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image.setObjectName("tileImage")
        self.caption = QLabel("")
        self.caption.setObjectName("tileCaption")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.caption)
        self.clear()

    def clear(self, text: str = "—") -> None:
        self._pm = None
        self.image_array = None
        self.image.setPixmap(QPixmap())
        self.image.setText(text)

    def set_image(self, img: np.ndarray | None, model_range: bool = True) -> None:
        if img is None:
            self.clear()
            return
        self._pm = QPixmap.fromImage(qimage(img, model_range))
        self.image_array = img if model_range else None  # what a zoom view shows
        # a wrapped (message) label sizes by height-for-width, which for a pixmap is its
        # current size: the tile would keep growing and squeeze what is below it
        self.image.setWordWrap(False)
        self.image.setText("")
        self._rescale()

    def has_image(self) -> bool:
        return self._pm is not None

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pm is None:
            return
        side = max(16, min(self.image.width(), self.image.height()))
        mode = (
            Qt.TransformationMode.FastTransformation
            if side >= 2 * self._pm.width()
            else Qt.TransformationMode.SmoothTransformation
        )
        self.image.setPixmap(self._pm.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode))

    def mouseReleaseEvent(self, event):  # noqa: N802
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()


class DragSpinBox(QDoubleSpinBox):
    """A spin box whose value can also be dragged: press and move the mouse left/right.

    Dragging changes the value continuously (`drag_per_pixel` per pixel; Shift = 10x finer),
    which is how a seed is scrubbed through fractional values.
    """

    def __init__(self, drag_per_pixel: float = 0.02, parent=None, trim_zeros: bool = True):
        super().__init__(parent)
        self.drag_per_pixel = drag_per_pixel
        self.trim_zeros = trim_zeros
        self._press: QPoint | None = None
        self._start = 0.0
        self._dragged = False
        self.setCursor(Qt.CursorShape.SizeHorCursor)
        # a typed value counts when it is whole (Enter, Tab, arrows): one per keystroke went to
        # the project, whose echo rewrote the box mid-typing ("0.5" became 0.00)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802
        """Whole numbers without decimals ('42', not '42.00'); in-between values as needed."""
        text = f"{value:.{self.decimals()}f}"
        if self.trim_zeros and "." in text:
            text = text.rstrip("0").rstrip(".")
        return text

    def mousePressEvent(self, event):  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
            self._start = self.value()
            self._dragged = False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):  # noqa: N802
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            dx = event.position().toPoint().x() - self._press.x()
            if abs(dx) > 2 or self._dragged:
                self._dragged = True
                fine = 0.1 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
                self.setValue(self._start + dx * self.drag_per_pixel * fine)
                return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):  # noqa: N802
        self._press = None
        super().mouseReleaseEvent(event)


def placeholder(text: str) -> QWidget:
    lab = QLabel(text)
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lab.setWordWrap(True)
    lab.setObjectName("placeholder")
    return lab


def file_label(path: str | Path) -> str:
    return Path(path).name


ICON_SIZE = QSize(20, 20)


def scroll_column(column: QWidget, width: int) -> QWidget:
    """A page's side column of controls at a fixed width, scrolling up and down when the window
    is too low for all of it (so no page sets the window's minimum height)."""
    from PySide6.QtWidgets import QFrame, QScrollArea

    column.setFixedWidth(width)
    area = QScrollArea()
    area.setObjectName("sideColumn")
    area.setWidget(column)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setFixedWidth(width + 12)  # room for the scroll bar when it shows
    area.setMinimumHeight(120)
    return area


def side_and_center(owner: QWidget, side, *center: QWidget, side_width: int = 260) -> None:
    """The pages' layout: a fixed-width side column of controls, stretching views beside it."""
    from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout

    column = QWidget()
    column.setLayout(side)
    column = scroll_column(column, side_width)
    views = QVBoxLayout()
    for w in center:
        views.addWidget(w, 1)
    lay = QHBoxLayout(owner)
    lay.addWidget(column)
    lay.addLayout(views, 1)


def decade_log_axis(orientation: str = "left"):
    """A log axis labelled at decades only, unless the view spans too little for two decades.

    pyqtgraph labels every 2x..9x tick of a log axis, and on a short plot those labels run
    into each other; the grid lines stay.
    """
    import pyqtgraph as pg

    class DecadeLogAxis(pg.AxisItem):
        def logTickStrings(self, values, scale, spacing):
            strings = super().logTickStrings(values, scale, spacing)
            lo, hi = self.range if self.range else (0.0, 0.0)
            few = abs(hi - lo) < 1.5  # under ~1.5 decades: keep 2x and 5x too
            out = []
            for v, s in zip(values, strings):
                mant = round(10 ** (v - np.floor(v + 1e-9)), 6)
                out.append(s if mant == 1 or (few and mant in (2, 5)) else "")
            return out

    return DecadeLogAxis(orientation)
