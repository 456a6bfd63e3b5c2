"""Top-level windows and dialogs: who deletes them.

A dialog made with a parent is a Qt child of that window, but PySide leaves its ownership with
Python. If it outlives its use (a lambda connected to one of its children's signals that
captures the dialog keeps its wrapper alive for good), it has two owners: at exit PySide
deletes every object Python still owns, the window deletes its children, and one object is
deleted twice ("QObject: shared QObject was deleted directly", then a corrupted heap). So a
modal dialog runs through `exec_dialog`, which has Qt delete it once it is answered, and the
app deletes its main window (and with it every child) before the interpreter shuts down.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QDialog


def exec_dialog(dlg: QDialog, read=None):
    """Run a modal dialog and delete it afterwards. Returns whether it was accepted, or, with
    `read`, `read(dlg)` when accepted (None otherwise): read what it holds before it goes."""
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
