"""Top-level windows and dialogs: who deletes them, and where they open.

A dialog made with a parent is a Qt child of that window, but PySide leaves its ownership with
Python. If it outlives its use (a lambda connected to one of its children's signals that
captures the dialog keeps its wrapper alive for good), it has two owners: at exit PySide
deletes every object Python still owns, the window deletes its children, and one object is
deleted twice ("QObject: shared QObject was deleted directly", then a corrupted heap). So a
modal dialog runs through `exec_dialog`, which has Qt delete it once it is answered, and the
app deletes its main window (and with it every child) before the interpreter shuts down.

Every window opens inside the free area of its screen (a 1280x720 laptop, less its task bar)
and comes back where the user left it: `keep_on_screen` places it when it is first shown and
remembers its place and size (QSettings, in the config folder) each time it is hidden.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QMargins,
    QObject,
    QRect,
    QSettings,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QWidget

# A window manager's frame, until the real one is known: borders and a title bar.
FRAME = QMargins(4, 32, 4, 4)
REFIT_MS = 300  # after the first show: time for the window manager to map and frame it


def exec_dialog(dlg: QDialog, read=None):
    """Run a modal dialog and delete it afterwards. Returns whether it was accepted, or, with
    `read`, `read(dlg)` when accepted (None otherwise): read what it holds before it goes."""
    if getattr(dlg, "window_place", None) is None:
        keep_on_screen(dlg)
    try:
        accepted = dlg.exec() == QDialog.DialogCode.Accepted
        if read is None:
            return accepted
        return read(dlg) if accepted else None
    finally:
        dlg.deleteLater()


def delete_now(widget) -> None:
    """Delete a top-level widget and all its children at once (at exit, while the interpreter
    is whole), so nothing is left for PySide's own clean-up to delete a second time."""
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


# -- where windows open ------------------------------------------------------------------


def available_geometry(widget: QWidget | None = None) -> QRect:
    """The free area (no task bar) of the screen a widget is on, or of the primary screen."""
    screen = None
    if widget is not None:
        parent = widget.parentWidget()
        screen = (parent.window() if parent is not None else widget).screen()
    screen = screen or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 720)


def window_settings() -> QSettings:
    from .prefs import config_dir

    return QSettings(str(config_dir() / "windows.ini"), QSettings.Format.IniFormat)


def frame_margins(window: QWidget) -> QMargins:
    """The window manager's frame around a top-level window (an estimate until it is shown)."""
    inner, outer = window.geometry(), window.frameGeometry()
    if window.isVisible() and outer != inner:
        return QMargins(
            inner.left() - outer.left(),
            inner.top() - outer.top(),
            outer.right() - inner.right(),
            outer.bottom() - inner.bottom(),
        )
    return FRAME


def fit_rect(rect: QRect, free: QRect) -> QRect:
    """`rect` made no larger than `free` and moved inside it."""
    w, h = min(rect.width(), free.width()), min(rect.height(), free.height())
    x = min(max(rect.x(), free.left()), free.left() + free.width() - w)
    y = min(max(rect.y(), free.top()), free.top() + free.height() - h)
    return QRect(x, y, w, h)


class WindowPlace(QObject):
    """Opens its window inside the screen (where it was left, or centred over its parent at
    `default` size, no larger than the screen) and remembers its place each time it hides.
    A child of the window, so Qt deletes it with the window."""

    def __init__(self, window: QWidget, key: str, default: QSize | None = None):
        super().__init__(window)
        self.key = key
        self.default = default
        self.enabled = True  # off: the window is sized by hand (screenshots)
        self.restore = True  # off: open at `default`, not where it was left
        self._placed = False
        window.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802
        try:
            self._filter(obj, event)
        except Exception:  # noqa: BLE001 - an exception raised here would reach Qt's C++
            import traceback

            traceback.print_exc()
        return False

    def _filter(self, obj, event) -> None:
        kind = event.type()
        if kind == QEvent.Type.Show and not self._placed and self.enabled:
            self._placed = True
            self.place(obj)
            # the window manager may put the window elsewhere than asked, with a frame of
            # another size than the estimate (openbox on a 1280x720 screen: 16 px below the
            # edge); once it is mapped, fit it again with the real frame
            QTimer.singleShot(REFIT_MS, self, self._refit)
        elif kind == QEvent.Type.Hide and self._placed and self.enabled:
            self.save(obj)

    def free_area(self, window: QWidget) -> QRect:
        return available_geometry(window).marginsRemoved(frame_margins(window))

    def place(self, window: QWidget) -> None:
        free = self.free_area(window)
        settings = window_settings()
        saved = settings.value(f"{self.key}/geometry") if self.restore else None
        maximized = self.restore and settings.value(f"{self.key}/maximized", False, type=bool)
        if isinstance(saved, QRect) and saved.isValid():
            rect = saved
        else:
            # its natural size (a dialog may name a field `size`: call QWidget's own)
            size = self.default or QWidget.sizeHint(window).expandedTo(QWidget.size(window))
            parent = window.parentWidget()
            centre = (parent.window().geometry() if parent is not None else free).center()
            rect = QRect(0, 0, size.width(), size.height())
            rect.moveCenter(centre)
        window.setGeometry(fit_rect(rect, free))
        self._placed_size = window.size()
        if maximized:
            window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)

    def _refit(self) -> None:
        window = self.parent()
        if not isinstance(window, QWidget) or not window.isVisible():
            return
        if window.windowState() & (
            Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen
        ):
            return
        if window.size() != getattr(self, "_placed_size", window.size()):
            return  # resized since it was placed (by the user or the program): leave it
        free = self.free_area(window)
        inner = window.geometry()
        fitted = fit_rect(inner, free)
        if fitted != inner:
            window.setGeometry(fitted)

    def save(self, window: QWidget) -> None:
        if window.windowState() & Qt.WindowState.WindowFullScreen:
            return
        settings = window_settings()
        maximized = bool(window.windowState() & Qt.WindowState.WindowMaximized)
        rect = window.normalGeometry() if maximized else window.geometry()
        if rect.isValid():
            settings.setValue(f"{self.key}/geometry", rect)
        settings.setValue(f"{self.key}/maximized", maximized)


def keep_on_screen(window: QWidget, key: str | None = None, default=None) -> WindowPlace:
    """Place `window` inside the screen when first shown and remember where it was left.
    `key` names it in the settings (default: its class name); `default` is a (w, h) size."""
    size = QSize(*default) if isinstance(default, tuple) else default
    place = WindowPlace(window, key or type(window).__name__, size)
    window.window_place = place
    return place
