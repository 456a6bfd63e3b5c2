"""Helpers for GUI tests: small films on disk, patches in the project, mouse events."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.conftest import smooth_image


def make_minimias(folder: Path, size: int = 256) -> Path:
    """A small mini-MIAS-style film (mdb001.pgm + Info.txt) with one malignant mass."""
    folder.mkdir(parents=True, exist_ok=True)
    img = (smooth_image(5, size) + 1) * 0.5
    yy, xx = np.mgrid[:size, :size]
    img = np.clip(img + 0.4 * np.exp(-((xx - 100) ** 2 + (yy - 135) ** 2) / 200.0), 0, 1)
    path = folder / "mdb001.pgm"
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    # y counts from the bottom in Info.txt: row 135 of 256 is y = 120
    (folder / "Info.txt").write_text("mdb001 G CIRC M 100 120 20\n")
    return path


def kept(window) -> list:
    """The project's kept anchors (core Anchors), in order."""
    return list(window.project.anchors.values())


def set_patches(window, with_mask: bool = True) -> None:
    """Texture, template (and a square mask) at the tiny model's 32 px, as one undo step."""
    from stimstudio.core.project import Patch

    R = window.model.resolution if window.model is not None else 32
    window.session.set_many(
        {"texture": Patch(smooth_image(1, R)), "template": Patch(smooth_image(2, R))},
        "patches",
    )
    if with_mask:
        window.pages["mask"].set_polygon([(10, 10), (22, 10), (22, 22), (10, 22)])


def view_point(canvas, x: float, y: float) -> QPoint:
    """Widget coordinates (of the canvas's graphics view) of image pixel (x, y)."""
    scene = canvas.vb.mapViewToScene(QPointF(x, y))
    return canvas.glw.mapFromScene(scene)


def send_mouse(widget, kind, pos: QPoint, button=Qt.MouseButton.LeftButton, buttons=None):
    buttons = button if buttons is None else buttons
    glob = QPointF(widget.mapToGlobal(pos))
    ev = QMouseEvent(kind, QPointF(pos), glob, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag(canvas, points) -> None:
    """Press at the first image point, move through the rest, release at the last."""
    vp = canvas.glw.viewport()
    pts = [view_point(canvas, x, y) for x, y in points]
    send_mouse(vp, QEvent.Type.MouseButtonPress, pts[0])
    for p in pts[1:]:
        time.sleep(0.012)  # pyqtgraph drops mouse moves closer than 10 ms apart
        send_mouse(vp, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton)
    send_mouse(vp, QEvent.Type.MouseButtonRelease, pts[-1], buttons=Qt.MouseButton.NoButton)


def click(canvas, x, y, double: bool = False) -> None:
    vp = canvas.glw.viewport()
    p = view_point(canvas, x, y)
    send_mouse(vp, QEvent.Type.MouseButtonPress, p)
    send_mouse(vp, QEvent.Type.MouseButtonRelease, p, buttons=Qt.MouseButton.NoButton)
    if double:
        send_mouse(vp, QEvent.Type.MouseButtonDblClick, p)
        send_mouse(vp, QEvent.Type.MouseButtonRelease, p, buttons=Qt.MouseButton.NoButton)
