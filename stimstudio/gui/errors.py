"""Errors become a dialog with the message, never a traceback on the user's screen.

User errors (`StimStudioError`) show their one sentence. Anything else is a bug: the dialog
says so in one line, and the traceback goes to stderr and to `stimstudio.log` in the config
folder, where a bug report can pick it up.
"""

from __future__ import annotations

import sys
import time
import traceback

from PySide6.QtWidgets import QMessageBox

from stimstudio.core.errors import StimStudioError

from .prefs import config_dir

TITLE = "StimStudio"


def log_detail(detail: str) -> str | None:
    """Append a traceback to the log; returns the log's path (None if it cannot be written)."""
    if not detail:
        return None
    print(detail, file=sys.stderr)
    try:
        path = config_dir() / "stimstudio.log"
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{detail}\n")
        return str(path)
    except OSError:
        return None


def show_error(parent, message: str, detail: str = "", title: str = TITLE) -> None:
    log = log_detail(detail)
    if log:
        message = f"{message}\n\nTechnical details were written to {log}."
    QMessageBox.warning(parent, title, message)


def show_exception(parent, exc: BaseException, title: str = TITLE) -> None:
    if isinstance(exc, StimStudioError):
        show_error(parent, str(exc), title=title)
    else:
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        show_error(
            parent,
            f"Something went wrong inside StimStudio: {type(exc).__name__}: {exc}",
            detail,
            title,
        )


def install_excepthook(get_parent) -> None:
    """Exceptions escaping a slot on the UI thread become a dialog; the app keeps running."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        try:
            exc.__traceback__ = tb
            show_exception(get_parent(), exc)
        except Exception:  # noqa: BLE001 - never let the hook itself crash the app
            previous(exc_type, exc, tb)

    sys.excepthook = hook
