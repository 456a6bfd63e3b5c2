"""The full-screen runner: one image at a time, R / F then a confidence digit, each answer on
disk before the next image; timers only, nothing blocks the UI thread."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QImage, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.errors import StimStudioError
from stimstudio.core.judgements import (
    JudgementRun,
)

from ..errors import show_error
from ..widgets import qimage
from ..workers import Worker
from .common import SCREEN_MAX_SIDE


def _screen_image(path: str, fit: QSize, magnification: int = 0) -> tuple[QImage, QImage]:
    """(the image, the image as shown): read and scaled in a worker, never on the UI thread.
    QImage (unlike QPixmap) may be made outside the UI thread.

    With a magnification (the session's display record) each image pixel becomes k×k screen
    pixels, whatever the screen: real and generated images at one mm per screen pixel. An
    image larger than the screen at k× is cropped to its centre, never shrunk. Without one
    (sessions made before it was recorded) the image is fitted to the screen."""
    from stimstudio.core.readers import read_mammogram

    mammo = read_mammogram(path)
    pixels = mammo.pixels if magnification else mammo.preview(SCREEN_MAX_SIDE)
    img = qimage(pixels, model_range=False)
    if magnification:
        k = int(magnification)
        shown = img.scaled(
            img.width() * k,
            img.height() * k,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.FastTransformation,  # pixel replication: no resampling blur
        )
        return img, shown
    fitted = img.scaled(
        fit, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return img, fitted


class TaskWindow(QWidget):
    """What the full-screen tasks share (the judgement test, the adjustment task): an image,
    a message, a Close button and a line of instructions; Esc holds the timers, hides the
    stimulus and asks whether to stop; the end screen. Subclasses give `_timers`, `_ended`,
    `_STOP_QUESTION` and the states in which Esc simply closes."""

    ended = Signal(int)  # answers of this participant and session on disk
    _STOP_QUESTION = ""
    _CLOSE_ON_ESC = ("done",)

    def __init__(self, title: str, name: str, style: str, message_stretch: int, parent=None):
        super().__init__(parent)
        if parent is not None:
            self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle(title)
        self.setObjectName(name)
        self.setStyleSheet(style)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.state = "waiting"
        self.stopped = False
        self._paused_s = 0.0

        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.message = QLabel("")
        self.message.setObjectName("message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.instructions = QLabel("")
        self.instructions.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.close_button = QPushButton("Close")
        self.close_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.close_button.clicked.connect(self.close)
        self.close_button.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 12)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.message, message_stretch)
        lay.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.instructions)

    def _timers(self) -> list[QTimer]:
        raise NotImplementedError

    def ask_stop(self) -> None:
        """Esc: pause (timers held, the screen blank, the pause left out of the response
        time) and ask."""
        if self.state in self._CLOSE_ON_ESC:
            self.close()
            return
        paused_at = time.perf_counter()
        held = [(t, t.remainingTime()) for t in self._timers() if t.isActive()]
        for t, _ in held:
            t.stop()
        self.unsetCursor()
        # the stimulus must not stay on screen, unanswered and untimed, behind the question
        self.image.hide()
        answer = QMessageBox.question(
            self,
            "Stop the session?",
            self._STOP_QUESTION,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._finish(stopped=True)
            self.close()
            return
        self.image.show()
        self._paused_s += time.perf_counter() - paused_at
        self.setCursor(Qt.CursorShape.BlankCursor)
        for t, remaining in held:
            t.start(max(0, remaining))
        self.activateWindow()
        self.setFocus()

    def _finish(self, stopped: bool = False) -> None:
        if self.state == "done":
            return
        self.state = "done"
        self.stopped = stopped
        for t in self._timers():
            t.stop()
        self.run.close()
        self.unsetCursor()
        self.image.clear()
        self._ended(stopped)

    def _ended(self, stopped: bool) -> None:
        """The end screen: set the message, then `_end_screen`."""
        raise NotImplementedError

    def _save_answer(self, respond, task: str, where) -> bool:
        """Call `respond` (the answer on disk); if it cannot be saved the `task` stops here,
        says so, and this gives False."""
        try:
            respond()
        except (StimStudioError, OSError) as exc:
            self._finish(stopped=True)
            show_error(
                self,
                f"The answer could not be saved: {exc}\n\nThe {task} stops here; the "
                f"{self.run.answered} answers before it are in {where}.",
            )
            return False
        return True

    def _end_screen(self, n: int) -> None:
        self.message.show()
        self.close_button.show()
        self.instructions.setText("Press any key or Close")
        self.ended.emit(n)


class JudgementRunner(TaskWindow):
    """The test itself, full screen on black: one image at a time, centred, at the session's
    integer magnification (real and generated at one mm per screen pixel; older sessions:
    fitted).

    Keys: R (real) or F (fake), then the confidence 1..N (N = sure; with one level R/F
    alone). The response time `rt_ms` runs from image onset to the R/F key, minus any pause.
    With a display time the image gives way to a blank screen and the answer is still taken;
    an inter-trial interval shows a blank screen. Esc pauses and asks whether to stop (then
    the window closes; `ended` carries the count of saved answers).
    Images are read in a worker, the next one while the current one is answered; all timing
    is QTimer, the UI thread never waits.
    """

    _STOP_QUESTION = (
        "Stop the session? Answers so far are saved.\n\nNo: the image comes back and "
        "the time paused is left out of the response time."
    )

    def __init__(self, run: JudgementRun, results_file, parent=None):
        super().__init__(
            "Judgement test",
            "judgementRunner",
            "#judgementRunner, #judgementRunner QLabel { background: black; color: #9a9a9a; }"
            "#judgementRunner QLabel#message { color: #e0e0e0; font-size: 20pt; }"
            "#judgementRunner QPushButton { background: #202020; color: #e0e0e0;"
            " border: 1px solid #505050; padding: 8px 24px; }",
            1,
            parent,
        )
        self.run = run
        self.results_file = Path(results_file)
        self.session = run.session
        self.levels = run.session.confidence_levels
        # the session's integer magnification (core.judgements.display); 0: fitted
        self.magnification = int(run.session.display.get("magnification") or 0)
        # state: waiting | loading | image | mask | iti | done
        self._pos = {t.index: k for k, t in enumerate(self.session.trials)}
        self._images: dict[int, tuple[QImage, QImage]] = {}
        self._loading: dict[int, Worker] = {}
        self._failed: dict[int, tuple[str, str, str]] = {}  # index -> path, message, detail
        self._choice: str | None = None
        self._rt_ms: float | None = None
        self._onset = 0.0
        self._shown: int | None = None
        self.message.hide()
        font = QFont(self.instructions.font())
        font.setPointSize(13)
        self.instructions.setFont(font)

        self._mask_timer = QTimer(self)
        self._mask_timer.setSingleShot(True)
        # Qt's default coarse timers may fire up to 5 % early: a 50-ms display time would show
        # the image for 47.5 ms. A display time is a stimulus parameter; it is kept to the ms.
        self._mask_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._mask_timer.timeout.connect(self._mask)
        self._iti_timer = QTimer(self)
        self._iti_timer.setSingleShot(True)
        self._iti_timer.timeout.connect(self._next_trial)
        self._show_instructions()

    # -- flow --------------------------------------------------------------------------------

    def showEvent(self, event):  # noqa: N802
        super().showEvent(event)
        if self.state == "waiting":
            self.state = "loading"
            self.setCursor(Qt.CursorShape.BlankCursor)
            QTimer.singleShot(0, self._next_trial)  # after the window has its full size

    def _next_trial(self) -> None:
        if self.state == "done":
            return
        trial = self.run.current
        if trial is None:
            self._finish()
            return
        self.state = "loading"
        self.image.clear()
        self._request(trial.index)
        if trial.index in self._images:
            self._present(trial.index)
        elif trial.index in self._failed:
            self._cannot_show(*self._failed[trial.index])

    def _request(self, index: int) -> None:
        if index in self._images or index in self._loading or index in self._failed:
            return
        path = self.session.trials[self._pos[index]].image
        fit = self.image.size() if self.isVisible() else QSize(1024, 1024)
        k = self.magnification
        worker = Worker(lambda p=path, s=fit: _screen_image(p, s, k), parent=self)
        worker.returned.connect(lambda imgs, k=index: self._loaded(k, imgs))
        worker.errored.connect(lambda msg, detail, k=index: self._load_failed(k, msg, detail))
        worker.finished.connect(lambda k=index: self._worker_finished(k))
        self._loading[index] = worker
        worker.start()

    def _worker_finished(self, index: int) -> None:
        worker = self._loading.pop(index, None)
        if worker is not None:
            worker.wait()

    def _loaded(self, index: int, imgs) -> None:
        if self.state == "done":
            return
        self._images[index] = imgs
        trial = self.run.current
        if self.state == "loading" and trial is not None and trial.index == index:
            self._present(index)

    def _load_failed(self, index: int, message: str, detail: str) -> None:
        """Remembered; the test stops only when that image's turn comes (it may be the next
        one, read while the current one is still being answered)."""
        if self.state == "done":
            return
        self._failed[index] = (self.session.trials[self._pos[index]].image, message, detail)
        trial = self.run.current
        if self.state == "loading" and trial is not None and trial.index == index:
            self._cannot_show(*self._failed[index])

    def _cannot_show(self, path: str, message: str, detail: str) -> None:
        self._finish(stopped=True)
        show_error(
            self,
            f"{Path(path).name} cannot be shown: {message}\n\nThe test stops here; "
            f"{self.run.answered} answers are saved in {self.results_file}.",
            detail,
        )

    def _show_image(self, index: int) -> None:
        """The image at the session's magnification (k× whatever the window's size), or fitted
        to the screen: the worker's copy, or scaled again if the window got another size."""
        full, fitted = self._images[index]
        size = self.image.size()
        fit = full.size().scaled(size, Qt.AspectRatioMode.KeepAspectRatio)
        if not self.magnification and fitted.size() != fit:
            fitted = full.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        self.image.setPixmap(QPixmap.fromImage(fitted))

    def _present(self, index: int) -> None:
        self._show_image(index)
        self._shown = index
        self.state = "image"
        self._choice, self._rt_ms, self._paused_s = None, None, 0.0
        self._onset = time.perf_counter()
        if self.session.display_time_s:
            self._mask_timer.start(round(self.session.display_time_s * 1000))
        self._show_instructions()
        # read the next image while this one is answered; forget the ones already shown
        k = self._pos[index]
        for old in [i for i in self._images if self._pos[i] < k]:
            del self._images[old]
        if k + 1 < len(self.session.trials):
            self._request(self.session.trials[k + 1].index)

    def resizeEvent(self, event):  # noqa: N802
        """A window manager may make the window full screen after the first image is up."""
        super().resizeEvent(event)
        if self.state == "image" and self._shown in self._images:
            self._show_image(self._shown)

    def _mask(self) -> None:
        if self.state == "image":
            self.state = "mask"
            self.image.clear()

    def _show_instructions(self) -> None:
        n = self.levels
        done = self.run.answered
        progress = f"{min(done + 1, len(self.session.trials))} / {len(self.session.trials)}"
        if self._choice is not None and n > 1:
            said = "Real" if self._choice == "real" else "Fake"
            text = f"{said} — now your confidence: 1 (guess) … {n} (sure)"
        elif n > 1:
            text = f"R = real, F = fake, then confidence 1..{n} (1 = guess, {n} = sure)"
        else:
            text = "R = real, F = fake"
        self.instructions.setText(f"{text}   ·   Esc pauses/quits   ·   {progress}")

    # -- answers -----------------------------------------------------------------------------

    def keyPressEvent(self, event):  # noqa: N802
        if event.isAutoRepeat():
            return
        key = event.key()
        if self.state == "done":
            self.close()
            return
        if key == Qt.Key.Key_Escape:
            self.ask_stop()
            return
        if self.state not in ("image", "mask"):
            return
        if key in (Qt.Key.Key_R, Qt.Key.Key_F):
            self._choice = "real" if key == Qt.Key.Key_R else "fake"
            self._rt_ms = (time.perf_counter() - self._onset - self._paused_s) * 1000.0
            if self.levels == 1:
                self._answer(1)
            else:
                self._show_instructions()
            return
        digit = self._digit(event)
        if digit is not None and self._choice is not None and 1 <= digit <= self.levels:
            self._answer(digit)

    @staticmethod
    def _digit(event) -> int | None:
        if Qt.Key.Key_1 <= event.key() <= Qt.Key.Key_9:
            return int(event.key() - Qt.Key.Key_0)
        text = event.text()
        return int(text) if len(text) == 1 and text in "123456789" else None

    def _answer(self, confidence: int) -> None:
        """Append the answer to the results file (flushed) before anything else happens."""
        if not self._save_answer(
            lambda: self.run.respond(self._choice, confidence, self._rt_ms),
            "test",
            self.results_file,
        ):
            return
        self._mask_timer.stop()
        self._choice = None
        if self.run.finished:
            self._finish()
        elif self.session.iti_s:
            self.state = "iti"
            self.image.clear()
            self._iti_timer.start(round(self.session.iti_s * 1000))
        else:
            self._next_trial()

    def _timers(self) -> list[QTimer]:
        return [self._mask_timer, self._iti_timer]

    def _ended(self, stopped: bool) -> None:
        self.image.hide()
        n, total = self.run.answered, len(self.session.trials)
        # the participant reads this: no file path (the experimenter gets it in the main
        # window's status bar, through `ended`, and as this label's tooltip)
        if stopped:
            self.message.setText(f"Session stopped — {n} of {total} answers saved.")
        else:
            self.message.setText(f"Thank you — {n} answers saved.")
        self.message.setToolTip(str(self.results_file))
        self._end_screen(n)

    def closeEvent(self, event):  # noqa: N802
        """Closing mid-session keeps every answer given; the reading threads are waited for."""
        self._finish(stopped=self.run.current is not None)
        for worker in list(self._loading.values()):
            worker.wait()
        self._loading.clear()
        self._images.clear()
        super().closeEvent(event)
