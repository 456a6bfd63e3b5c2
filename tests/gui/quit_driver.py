"""Drive the whole app as a user would, in a process of its own: start it (`run_app`), open one
window or dialog, cancel or close it (or leave it open), quit, and exit with the app's code.

    python tests/gui/quit_driver.py ACTION[,ACTION...] WEIGHTS WORKDIR

Used by test_quit.py: a crash at exit (two owners deleting one Qt object) only shows when the
interpreter itself shuts down, so it cannot be seen inside the pytest process. Prints
`opened: <class>` for every dialog or window it met, so the test knows the action happened.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox  # noqa: E402

from stimstudio.gui.app import make_app, run_app  # noqa: E402

STEP_MS = 100
LIMIT_S = 240.0


def _images(folder: Path, seed: int, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = (rng.random((48, 48)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    return folder


def _action(win, text: str):
    """The menu action whose text (without & and …) starts with `text`."""
    from PySide6.QtGui import QAction

    for act in win.findChildren(QAction):
        if act.text().replace("&", "").replace("…", "").startswith(text):
            return act
    raise LookupError(text)


class Driver:
    def __init__(self, actions: str, workdir: Path):
        self.actions = actions.split(",")
        self.action = ""
        self.workdir = workdir
        self.win = None
        self.seen: list[str] = []
        self.phase = "wait"
        self.t0 = time.monotonic()
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(STEP_MS)

    def note(self, obj) -> None:
        name = type(obj).__name__
        if name not in self.seen:
            self.seen.append(name)
            print(f"opened: {name}", flush=True)

    # -- the loop ----------------------------------------------------------------------------

    def tick(self) -> None:
        from stimstudio.gui.main_window import MainWindow

        if time.monotonic() - self.t0 > LIMIT_S:
            print("driver: timed out", file=sys.stderr, flush=True)
            os._exit(3)
        if self.win is None:
            wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
            if not wins:
                return
            self.win = wins[0]
            self.win.force_close = True  # quitting never waits on "save changes?"
        modal = QApplication.activeModalWidget()
        if modal is not None:
            self.note(modal)
            self.answer(modal)
            return
        if self.phase == "wait" and self.win.is_idle() and self.win.model is not None:
            self.phase = "act"
            # the action may open a modal dialog (exec): let this tick return first
            QTimer.singleShot(0, self.act)
        elif self.phase == "done" and self.actions:
            self.phase = "act"
            QTimer.singleShot(0, self.act)
        elif self.phase == "done":
            self.phase = "quit"
            QTimer.singleShot(300, self.win.close)

    def act(self) -> None:
        self.action = self.actions.pop(0)
        a, win = self.action, self.win
        if a == "judgement-setup":
            _action(win, "Judgement test").trigger()
        elif a in ("judgement-runner", "judgement-runner-left-open"):
            _action(win, "Judgement test").trigger()
            return  # answer() fills the setup; the runner's steps go on in runner_step()
        elif a in ("analysis", "adjustment-analysis"):
            text = "Analyze judgements" if a == "analysis" else "Analyze adjustment"
            _action(win, text).trigger()
            for w in QApplication.topLevelWidgets():
                if type(w).__name__.endswith("AnalysisDialog"):
                    self.note(w)  # left open at quit: a tool window beside the app
        elif a == "adjustment-setup":
            _action(win, "Adjustment task").trigger()
        elif a == "settings":
            _action(win, "Settings").trigger()
        elif a == "model-about":
            _action(win, "About the model").trigger()
        elif a == "about":
            _action(win, "About StimStudio").trigger()
        elif a == "shortcuts":
            _action(win, "Keyboard shortcuts").trigger()
        elif a == "open-images":
            _action(win, "Open images").trigger()
        elif a == "open-folder":
            _action(win, "Open folder").trigger()
        elif a == "open-project":
            _action(win, "Open project").trigger()
        elif a == "save-as":
            _action(win, "Save project as").trigger()
        elif a == "export":
            win.anchors.add_seed(1)
            QTimer.singleShot(STEP_MS, self.export_step)
            return
        elif a == "zoom":
            r = win.model.resolution
            rng = np.random.default_rng(0)
            win.pages["compose"].tile_input.image_array = rng.uniform(-1, 1, (r, r))
            self.note(win.pages["compose"].zoom_tile(win.pages["compose"].tile_input))
        else:
            raise SystemExit(f"unknown action {a}")
        self.phase = "done"

    def answer(self, modal) -> None:
        """Cancel every modal dialog, except the judgement setup of a runner action."""
        name = type(modal).__name__
        if name == "JudgementSetupDialog" and self.action.startswith("judgement-runner"):
            modal.real.edit.setText(str(_images(self.workdir / "real", 1)))
            modal.generated.edit.setText(str(_images(self.workdir / "generated", 2)))
            modal.participant.setText("P01")
            modal.output.edit.setText(str(self.workdir / "out"))
            QTimer.singleShot(0, modal.start)
            QTimer.singleShot(STEP_MS, self.runner_step)
            return
        if isinstance(modal, QMessageBox) and modal.windowTitle() == "Stop the session?":
            modal.button(QMessageBox.StandardButton.Yes).click()
            return
        if isinstance(modal, QDialog):
            modal.reject()
        else:
            modal.close()

    def export_step(self) -> None:
        """Export the seed's anchor once it is there (it renders in a worker)."""
        if not self.win.project.anchors:
            QTimer.singleShot(STEP_MS, self.export_step)
            return
        self.win.anchors.export_selected()
        self.phase = "done"

    def runner_step(self) -> None:
        """The runner: wait for the first image, then stop by Esc (or leave it open)."""
        runners = [
            w for w in QApplication.topLevelWidgets() if type(w).__name__ == "JudgementRunner"
        ]
        if not runners or runners[0].state != "image":
            QTimer.singleShot(STEP_MS, self.runner_step)
            return
        runner = runners[0]
        self.note(runner)
        if self.action == "judgement-runner":
            QTimer.singleShot(0, runner.ask_stop)  # Esc; answer() says Yes
            QTimer.singleShot(STEP_MS * 3, runner.close)
        self.phase = "done"


def main() -> int:
    action, weights, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    make_app()
    driver = Driver(action, workdir)  # noqa: F841 - its timer drives the app
    return run_app(["--no-restore", "--weights", weights])


if __name__ == "__main__":
    sys.exit(main())
