"""`stimstudio` with no verb: the desktop app.

    stimstudio [FILES or FOLDERS ...] [--project P.stimproj] [--weights W.safetensors]
    stimstudio --screenshot OUT.png [--project P] [--page NAME] [FILES ...]

`--screenshot` renders the main window offscreen once the model, the files and the project are
loaded, writes the PNG and exits (the docs' screenshots, checks without a display).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from stimstudio.core.compute_choices import DEVICE_CHOICES, PRECISION_CHOICES

from .pages import PAGE_ALIASES, PAGES

DEFAULT_SIZE = "1440x900"  # of screenshots; the app opens where it was left, inside the screen


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="stimstudio",
        description="StimStudio: realistic, controllable mammogram stimuli. Without a command "
        "this opens the app; `stimstudio --help-cli` lists the command-line verbs.",
    )
    p.add_argument("files", nargs="*", help="images, folders or a .stimproj project to open")
    p.add_argument("--project", help="a .stimproj project to open")
    p.add_argument(
        "--weights",
        "--weights-gui",
        dest="weights",
        help="model for this session: a .safetensors file or a model name in weights/ "
        "(e.g. minimias-128)",
    )
    p.add_argument("--device", choices=DEVICE_CHOICES)
    p.add_argument("--precision", choices=PRECISION_CHOICES)
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window to a PNG and exit")
    p.add_argument(
        "--page",
        choices=[*PAGES, *PAGE_ALIASES],
        help="the page to show (default: view); 'generate' is the old name of 'compose'",
    )
    p.add_argument(
        "--size",
        help="window size WxH (default: as it was left, inside the screen; "
        f"screenshots {DEFAULT_SIZE})",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="screenshot: seconds to wait for loading"
    )
    p.add_argument(
        "--no-restore", action="store_true", help="do not offer to restore after a crash"
    )
    return p.parse_args(argv)


def _style(app) -> None:
    from .prefs import resources_dir

    qss = resources_dir() / "style.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text())


def make_app():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(["stimstudio"])
    app.setApplicationName("StimStudio")
    app.setOrganizationName("StimStudio")
    app.setStyle("Fusion")
    _style(app)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    collect_garbage_on_ui_thread(app)
    return app


def collect_garbage_on_ui_thread(app) -> None:
    """Python's cycle collector runs in whichever thread happens to allocate past its threshold:
    a worker (an Eq. 4 run, the loader's warm-up importing sympy) could then free the widgets'
    Python wrappers off the UI thread, and Qt crashes (seen once as a segfault in the test
    suite). So automatic collection is off while the app lives and pyqtgraph's GarbageCollector
    collects on a UI-thread timer instead. Idempotent: a second call only turns collection off
    again (the GUI tests turn it back on between tests)."""
    import gc

    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = getattr(app, "_ui_thread_gc", None)
    if collector is None:
        app._ui_thread_gc = GarbageCollector(interval=1.0)
    else:
        gc.disable()
        if not collector.timer.isActive():
            collector.timer.start(1000)


def wait_until_idle(win, timeout: float, settle: float = 0.3) -> bool:
    """Process events until the window's workers are idle (True) or the timeout passes."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    t_end = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < t_end:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if win.is_idle():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:
                return True
        else:
            idle_since = None
        time.sleep(0.01)
    return False


def take_screenshot(win, out: str | Path, timeout: float = 120.0, page: str | None = None) -> bool:
    """Wait for loading, show `page`, grab the window into a PNG. Returns whether it was idle."""
    idle = wait_until_idle(win, timeout)
    if page:
        win.show_page(page)
        idle = wait_until_idle(win, timeout) and idle
    pm = win.grab()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not pm.save(str(out), "PNG"):
        raise OSError(f"could not write {out}")
    return idle


def run_app(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    files = list(args.files)
    project = args.project
    for f in list(files):
        if f.endswith(".stimproj") and project is None:
            project = f
            files.remove(f)
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from .display import display_problem

    problem = display_problem()
    if problem:  # never Qt's abort: say what to do instead
        print(f"stimstudio: error: {problem}", file=sys.stderr)
        return 2
    try:
        w, h = (int(v) for v in (args.size or DEFAULT_SIZE).lower().split("x"))
    except ValueError:
        print(f"stimstudio: error: --size must be WxH, got {args.size!r}", file=sys.stderr)
        return 2

    app = make_app()
    from .errors import install_excepthook
    from .main_window import MainWindow
    from .windows import delete_now

    win = MainWindow(
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        recovery=not args.screenshot,
    )
    if args.screenshot:  # rendered offscreen at exactly this size
        win.window_place.enabled = False
        win.resize(w, h)
    elif args.size:  # this size, but inside the screen
        from PySide6.QtCore import QSize

        win.window_place.default, win.window_place.restore = QSize(w, h), False
    win.show()
    if args.screenshot:
        win.force_close = True
        win.start(project=project, files=files, offer_restore=False)
        try:
            idle = take_screenshot(win, args.screenshot, args.timeout, args.page)
        except OSError as exc:
            print(f"stimstudio: error: {exc}", file=sys.stderr)
            win.close()
            return 2
        if not idle:
            print(
                "stimstudio: warning: still loading when the screenshot was taken", file=sys.stderr
            )
        print(args.screenshot)
        win.close()
        delete_now(win)
        return 0

    install_excepthook(lambda: win)
    from PySide6.QtCore import QTimer

    QTimer.singleShot(
        0, lambda: win.start(project=project, files=files, offer_restore=not args.no_restore)
    )
    code = app.exec()
    delete_now(win)  # every window and dialog goes with it, before the interpreter shuts down
    return code
