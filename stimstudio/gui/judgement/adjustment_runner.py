"""The adjustment task, full screen: a target frame, a mask, then a response frame the
participant moves through the loop; each answer on disk before the next trial. Timers only:
the UI thread never waits."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap

from stimstudio.core.errors import StimStudioError
from stimstudio.core.experiments import noise_mask
from stimstudio.core.judgements import AdjustmentRun

from ..errors import show_error
from ..workers import Worker
from .runner import TaskWindow


@dataclass(frozen=True)
class AdjustmentOptions:
    """How the task runs (the trial plan and results live in the AdjustmentRun)."""

    target_s: float = 0.5
    mask: str = "noise"  # "noise" | "blank"
    mask_s: float = 0.5
    iti_s: float = 0.5
    confidence_levels: int = 0  # 0: not asked
    mouse_x: bool = False  # the horizontal mouse position also chooses the frame
    image_px: int = 0  # side on screen in pixels; 0: the frames' own size


def _read_frames(paths) -> list[QImage]:
    """The loop's frames as QImages (in a worker: QImage may be made off the UI thread)."""
    out = []
    for p in paths:
        img = QImage(str(p))
        if img.isNull():
            raise StimStudioError(f"{p} cannot be read as an image")
        out.append(img)
    return out


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class AdjustmentRunner(TaskWindow):
    """Full screen on mid-gray. Space starts; each trial shows the target for `target_s`,
    the mask for `mask_s`, then the response frame (from the trial's start frame): Left/Right
    or the mouse wheel step one frame through the loop (with `mouse_x`, the pointer's
    horizontal position chooses it too); Space confirms, then a digit 1..N when confidence is
    asked. Esc pauses and asks whether to stop. `ended` carries the answers on disk."""

    _STOP_QUESTION = (
        "Stop the session? Answers so far are saved, and the session can be continued "
        "later with the same participant and session number."
    )
    _CLOSE_ON_ESC = ("done", "waiting", "loading")

    def __init__(self, run: AdjustmentRun, frames, options: AdjustmentOptions, parent=None):
        super().__init__(
            "Adjustment task",
            "adjustmentRunner",
            "#adjustmentRunner, #adjustmentRunner QLabel { background: #808080; color: #202020; }"
            "#adjustmentRunner QLabel#message { font-size: 18pt; }"
            "#adjustmentRunner QPushButton { background: #707070; color: #000;"
            " border: 1px solid #505050; padding: 8px 24px; }",
            0,
            parent,
        )
        self.setMouseTracking(True)
        self.run = run
        self.paths = [Path(p) for p in frames]
        if len(self.paths) != run.n_frames:
            raise StimStudioError(f"{len(self.paths)} frame files for a {run.n_frames}-frame loop")
        self.options = options
        # state: waiting | loading | ready | target | mask | response | confidence | iti | done
        self.frames: list[QPixmap] = []
        self.frame = 0  # the response frame now on screen
        self._onset_iso = ""
        self._t0 = 0.0
        self._rt_ms: float | None = None
        self._loader: Worker | None = None
        self.image.setMouseTracking(True)
        self.message.setText("Loading the frames…")

        self._timer = QTimer(self)  # one phase at a time: target -> mask -> response, iti
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._phase_over)

    # -- flow --------------------------------------------------------------------------------

    def showEvent(self, event):  # noqa: N802
        super().showEvent(event)
        if self.state == "waiting":
            self.state = "loading"
            self._loader = Worker(lambda: _read_frames(self.paths), parent=self)
            self._loader.returned.connect(self._loaded)
            self._loader.errored.connect(self._load_failed)
            self._loader.start()

    def _loaded(self, images: list[QImage]) -> None:
        if self.state == "done":
            return
        px = self.options.image_px
        if px:  # one size for every frame, scaled once here
            images = [
                i.scaled(
                    px,
                    px,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
                for i in images
            ]
        self.frames = [QPixmap.fromImage(i) for i in images]
        side = max(1, images[0].width())
        mask = noise_mask(side)
        self._mask_image = QImage(mask.data, side, side, side, QImage.Format.Format_Grayscale8)
        self._mask = QPixmap.fromImage(self._mask_image.copy())
        if self.run.finished:
            self._finish()
            return
        self.state = "ready"
        done = self.run.answered
        again = f" ({done} of {len(self.run.plan)} trials were done before)" if done else ""
        self.message.setText(f"Press Space to start{again}.")
        self.instructions.setText(self._keys_text())
        self.setCursor(Qt.CursorShape.BlankCursor)

    def _load_failed(self, message: str, detail: str) -> None:
        self._finish(stopped=True)
        show_error(self, f"The frames cannot be shown: {message}", detail)

    def _keys_text(self) -> str:
        move = "Left/Right or the mouse wheel" + (" or the mouse" if self.options.mouse_x else "")
        return f"{move}: change the image  ·  Space: confirm  ·  Esc: pause/quit"

    def _show(self, pix: QPixmap | None) -> None:
        if pix is None:
            self.image.clear()
            return
        size = self.image.size()
        if pix.width() > size.width() or pix.height() > size.height():
            pix = pix.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        self.image.setPixmap(pix)

    def _next_trial(self) -> None:
        trial = self.run.current
        if trial is None:
            self._finish()
            return
        self.message.hide()
        self.state = "target"
        self._onset_iso = _now_iso()
        self._paused_s = 0.0
        self._show(self.frames[trial.target_frame])
        self.instructions.setText(f"{self.run.answered + 1} / {len(self.run.plan)}")
        self._timer.start(round(self.options.target_s * 1000))

    def _phase_over(self) -> None:
        if self.state == "target" and self.options.mask_s > 0:
            self.state = "mask"
            self._show(self._mask if self.options.mask == "noise" else None)
            self._timer.start(round(self.options.mask_s * 1000))
        elif self.state in ("target", "mask"):
            self.state = "response"
            self.frame = self.run.current.start_frame
            self._show(self.frames[self.frame])
            self.instructions.setText(self._keys_text())
            self._t0 = time.perf_counter()
        elif self.state == "iti":
            self._next_trial()

    def _move(self, step: int) -> None:
        self.set_frame(self.frame + step)

    def set_frame(self, frame: int) -> None:
        if self.state != "response":
            return
        self.frame = frame % self.run.n_frames
        self._show(self.frames[self.frame])

    # -- input -------------------------------------------------------------------------------

    def keyPressEvent(self, event):  # noqa: N802
        key = event.key()
        if self.state == "done":
            if not event.isAutoRepeat():
                self.close()
            return
        if key == Qt.Key.Key_Escape and not event.isAutoRepeat():
            self.ask_stop()
            return
        if self.state == "ready" and key == Qt.Key.Key_Space:
            self._next_trial()
        elif self.state == "response":
            if key == Qt.Key.Key_Left:  # held down: steps on (auto-repeat)
                self._move(-1)
            elif key == Qt.Key.Key_Right:
                self._move(1)
            elif key == Qt.Key.Key_Space and not event.isAutoRepeat():
                self._rt_ms = (time.perf_counter() - self._t0 - self._paused_s) * 1000.0
                if self.options.confidence_levels > 0:
                    self.state = "confidence"
                    n = self.options.confidence_levels
                    self.instructions.setText(f"How sure are you?  1 = guessing … {n} = sure")
                else:
                    self._answer(None)
        elif self.state == "confidence":
            digit = self._digit(event)
            if digit is not None and 1 <= digit <= self.options.confidence_levels:
                self._answer(digit)

    @staticmethod
    def _digit(event) -> int | None:
        if Qt.Key.Key_1 <= event.key() <= Qt.Key.Key_9:
            return int(event.key() - Qt.Key.Key_0)
        return None

    def wheelEvent(self, event):  # noqa: N802
        dy = event.angleDelta().y()
        if self.state == "response" and dy:
            self._move(1 if dy > 0 else -1)

    def mouseMoveEvent(self, event):  # noqa: N802
        if self.options.mouse_x and self.state == "response" and self.width() > 0:
            x = event.position().x() / self.width()
            self.set_frame(min(int(x * self.run.n_frames), self.run.n_frames - 1))
        super().mouseMoveEvent(event)

    def _answer(self, confidence: int | None) -> None:
        """The answer goes to the results file (flushed) before anything else happens."""
        if not self._save_answer(
            lambda: self.run.respond(self.frame, self._rt_ms, confidence, self._onset_iso),
            "task",
            self.run.results,
        ):
            return
        if self.run.finished:
            self._finish()
        elif self.options.iti_s > 0:
            self.state = "iti"
            self._show(None)
            self._timer.start(round(self.options.iti_s * 1000))
        else:
            self._next_trial()

    def _timers(self) -> list[QTimer]:
        return [self._timer]

    def _ended(self, stopped: bool) -> None:
        n, total = self.run.answered, len(self.run.plan)
        if stopped:
            self.message.setText(
                f"Session stopped — {n} of {total} answers saved to {self.run.results}"
            )
        else:
            self.message.setText(f"Thank you — {n} answers saved to {self.run.results}")
        self._end_screen(n)

    def closeEvent(self, event):  # noqa: N802
        """Closing mid-session keeps every answer given."""
        self._finish(stopped=not self.run.finished)
        if self._loader is not None:
            self._loader.wait()
        super().closeEvent(event)
