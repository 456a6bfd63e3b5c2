"""The judgement test in the app: set up a session, run it full screen, analyse the results.

Every number (trial order, ratings, ROC, AUC, d', c, Sokal-Michener agreement) comes from
`stimstudio.core.judgements`; this module only asks, shows, times and stores through it. Each
answer is on disk before the next image appears (`JudgementRun.respond`), so a crash or a
stopped session loses nothing, and a participant can continue an interrupted session.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import secrets
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QImage, QPixmap, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.errors import StimStudioError
from stimstudio.core.judgements import (
    Analysis,
    JudgementError,
    JudgementRun,
    Session,
    Summary,
    analyze,
    build_session,
    list_images,
    load_session,
    read_results,
    read_results_lenient,
    save_session,
    write_psychopy_conditions,
    write_roc_figure,
)

from .errors import show_error
from .panels.settings import FileField
from .widgets import hint, qimage
from .workers import TaskWorker

DEFAULT_LEVELS = inspect.signature(build_session).parameters["confidence_levels"].default
MAX_KEY_LEVELS = 9  # one digit key per confidence level
SCREEN_MAX_SIDE = 4096  # images are read at most this large; the screen is smaller anyway
CORRECTIONS = ("loglinear", "extreme", "none")
ROC_COLORS = ("#4aa3df", "#ff8c42", "#7bd389", "#e05d9b", "#c9b6ff", "#ffd24a", "#46c7c7")

# What the experimenter entered last, kept while the app runs: the next participant needs
# the same folders and timing, but a new id and a new order.
_last: dict = {}


def _file_stem(text: str) -> str:
    """A participant id made safe for a file name (the id itself is stored unchanged)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "participant"


def _num(v: float, fmt: str = ".3f") -> str:
    if v is None:
        return "—"
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return format(v, fmt)


# ------------------------------------------------------------------------------------ setup


class FolderField(FileField):
    """A line edit + Browse… that picks a folder."""

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", self.edit.text())
        if folder:
            self.edit.setText(folder)


class ResultsField(FileField):
    """The results CSV: answers are appended to it, so choosing an existing file is fine."""

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Results file (answers are appended)",
            self.edit.text() or self.edit.placeholderText(),
            self.filt,
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.edit.setText(path)


class JudgementSetupDialog(QDialog):
    """Folders, participant and timing of one judgement session.

    "Start test" builds (or, after a crash, reloads) the session, saves its trial list as
    `session-<participant>-s<N>.json` in the output folder and opens the results file; the
    ready `JudgementRun` is then in `self.run`. Nothing is started when an input is wrong:
    the core's message is shown and the dialog stays open.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Judgement test")
        self.setMinimumWidth(560)
        self.run: JudgementRun | None = None
        self.results_file: Path | None = None

        images = QGroupBox("Images")
        f1 = QFormLayout(images)
        self.real = FolderField(_last.get("real", ""), "folder of real mammograms", "")
        self.real.setToolTip("Real images (searched recursively; PNG, TIFF, JPEG, PGM, DICOM)")
        self.generated = FolderField(_last.get("generated", ""), "folder of generated images", "")
        self.generated.setToolTip("Generated images (searched recursively)")
        self.per_class = QSpinBox()
        self.per_class.setRange(0, 100000)
        self.per_class.setSpecialValueText("all")
        self.per_class.setValue(_last.get("per_class", 0))
        self.per_class.setToolTip(
            "Images of each kind in the session; all = as many as the smaller folder holds. "
            "The session is always balanced: as many real as generated trials."
        )
        self.counts = hint("")
        f1.addRow("Real images", self.real)
        f1.addRow("Generated images", self.generated)
        f1.addRow("Images of each kind", self.per_class)
        f1.addRow(self.counts)

        who = QGroupBox("Participant")
        f2 = QFormLayout(who)
        self.participant = QLineEdit()
        self.participant.setPlaceholderText("e.g. P01")
        self.participant.setToolTip("Stored with every answer; one line, no outer spaces")
        self.session_number = QSpinBox()
        self.session_number.setRange(1, 99)
        self.session_number.setValue(_last.get("session", 1))
        self.session_number.setToolTip(
            "1 for the test, 2 for the retest (same folders, a new order): the analysis "
            "reports the Sokal-Michener agreement over the images both sessions showed"
        )
        f2.addRow("Participant id", self.participant)
        f2.addRow("Session number", self.session_number)

        timing = QGroupBox("Answers and timing")
        f3 = QFormLayout(timing)
        self.levels = QSpinBox()
        self.levels.setRange(1, MAX_KEY_LEVELS)
        self.levels.setValue(_last.get("levels", DEFAULT_LEVELS))
        self.levels.setToolTip(
            f"Confidence 1..N after each real/fake answer (one key each, at most "
            f"{MAX_KEY_LEVELS}); 1 = no confidence rating"
        )
        self.display_time = QDoubleSpinBox()
        self.display_time.setRange(0, 3600)
        self.display_time.setDecimals(2)
        self.display_time.setSingleStep(0.25)
        self.display_time.setSuffix(" s")
        self.display_time.setSpecialValueText("until the answer")
        self.display_time.setValue(_last.get("display_time", 0.0))
        self.display_time.setToolTip(
            "How long each image shows; then a blank screen, and the answer is still taken"
        )
        self.iti = QDoubleSpinBox()
        self.iti.setRange(0, 3600)
        self.iti.setDecimals(2)
        self.iti.setSingleStep(0.25)
        self.iti.setSuffix(" s")
        self.iti.setSpecialValueText("none")
        self.iti.setValue(_last.get("iti", 0.0))
        self.iti.setToolTip("Blank screen between an answer and the next image")
        seed_row = QHBoxLayout()
        self.seed = QLineEdit(str(secrets.randbits(32)))
        self.seed.setValidator(QRegularExpressionValidator(r"\d{1,18}"))
        self.seed.setToolTip(
            "Shuffle seed: drawn at random, recorded in the session file; "
            "the same seed and folders give the same order"
        )
        new_seed = QPushButton("New")
        new_seed.setToolTip("Draw another random seed")
        new_seed.clicked.connect(lambda: self.seed.setText(str(secrets.randbits(32))))
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(new_seed)
        f3.addRow("Confidence levels", self.levels)
        f3.addRow("Display time", self.display_time)
        f3.addRow("Inter-trial interval", self.iti)
        f3.addRow("Seed", seed_row)

        files = QGroupBox("Files")
        f4 = QFormLayout(files)
        self.output = FolderField(_last.get("output", ""), "where session and results go", "")
        self.output.setToolTip("The session file (trial order, seed) and by default the results")
        self.results = ResultsField("", "", "Results (*.csv)")
        self.results.setToolTip(
            "Answers are appended, one row each, flushed at once; an existing file is never "
            "overwritten, and an interrupted session of the same participant continues"
        )
        f4.addRow("Output folder", self.output)
        f4.addRow("Results file", self.results)

        self.message = hint("")
        self.start_button = QPushButton("Start test")
        self.start_button.setObjectName("primary")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Open the full-screen test for this participant")
        self.start_button.clicked.connect(self.start)
        self.export_button = QPushButton("Export PsychoPy conditions…")
        self.export_button.setToolTip(
            "Write this session's trial list as a PsychoPy conditions CSV ($imageFile) "
            "and its session file beside it"
        )
        self.export_button.clicked.connect(self.export_conditions)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.start_button)

        lay = QVBoxLayout(self)
        for box in (images, who, timing, files):
            lay.addWidget(box)
        lay.addWidget(self.message)
        lay.addLayout(buttons)

        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(300)
        self._count_timer.timeout.connect(self._update_counts)
        for field in (self.real, self.generated):
            field.edit.textChanged.connect(self._count_timer.start)
        self.per_class.valueChanged.connect(self._count_timer.start)
        for w in (self.participant.textChanged, self.output.edit.textChanged):
            w.connect(self._update_results_placeholder)
        self._update_counts()
        self._update_results_placeholder()

    # -- inputs ------------------------------------------------------------------------------

    def _update_counts(self) -> None:
        parts = []
        n = []
        for name, field in (("real", self.real), ("generated", self.generated)):
            if not field.text():
                parts.append(f"{name}: no folder yet")
                continue
            try:
                k = len(list_images(field.text()))
            except JudgementError:
                parts.append(f"{name}: not a folder")
                continue
            n.append(k)
            parts.append(f"{name}: {k} images")
        text = " · ".join(parts)
        if len(n) == 2 and min(n) > 0:
            per = self.per_class.value() or min(n)
            text += f" → {per} of each, {2 * per} trials"
        self.counts.setText(text)

    def _update_results_placeholder(self) -> None:
        pid = self.participant.text().strip()
        name = f"results-{_file_stem(pid)}.csv" if pid else "results-<participant>.csv"
        out = self.output.text()
        self.results.edit.setPlaceholderText(str(Path(out) / name) if out else name)

    def folders(self) -> tuple[Path, Path]:
        out = []
        for name, field in (("real", self.real), ("generated", self.generated)):
            if not field.text():
                raise JudgementError(f"choose the folder of {name} images")
            folder = Path(field.text())
            if not folder.is_dir():
                raise JudgementError(f"{folder} (the {name} images) is not a folder")
            out.append(folder)
        return out[0], out[1]

    def participant_id(self) -> str:
        pid = self.participant.text()
        if not pid.strip():
            raise JudgementError("enter the participant id")
        if pid != pid.strip():
            raise JudgementError(f"participant id {pid!r} must not start or end with spaces")
        return pid

    def output_folder(self) -> Path:
        if not self.output.text():
            raise JudgementError("choose an output folder for the session and its results")
        folder = Path(self.output.text())
        if folder.exists() and not folder.is_dir():
            raise JudgementError(f"{folder} exists and is not a folder")
        return folder

    def results_path(self, pid: str) -> Path:
        if self.results.text():
            return Path(self.results.text())
        return self.output_folder() / f"results-{_file_stem(pid)}.csv"

    def session_path(self, pid: str) -> Path:
        n = self.session_number.value()
        return self.output_folder() / f"session-{_file_stem(pid)}-s{n}.json"

    def build(self) -> Session:
        """A new balanced, shuffled session from the folders (the core checks the rest)."""
        real, generated = self.folders()
        real_imgs, gen_imgs = list_images(real), list_images(generated)
        if not real_imgs:
            raise JudgementError(f"{real} holds no images (the real images)")
        if not gen_imgs:
            raise JudgementError(f"{generated} holds no images (the generated images)")
        seed = self.seed.text().strip()
        if not seed.isdigit():
            raise JudgementError("the seed must be a whole number (0 or more)")
        return build_session(
            real_imgs,
            gen_imgs,
            seed=int(seed),
            per_class=self.per_class.value() or None,
            confidence_levels=self.levels.value(),
            display_time_s=self.display_time.value() or None,
            iti_s=self.iti.value() or None,
        )

    def _remember(self) -> None:
        _last.update(
            real=self.real.text(),
            generated=self.generated.text(),
            per_class=self.per_class.value(),
            session=self.session_number.value(),
            levels=self.levels.value(),
            display_time=self.display_time.value(),
            iti=self.iti.value(),
            output=self.output.text(),
        )

    # -- actions -----------------------------------------------------------------------------

    def start(self) -> None:
        try:
            run = self._prepare_run()
        except StimStudioError as exc:
            show_error(self, str(exc))
            return
        if run is None:
            return
        self.run = run
        self._remember()
        self.accept()

    def _prepare_run(self) -> JudgementRun | None:
        pid = self.participant_id()
        n = self.session_number.value()
        real, generated = self.folders()
        out = self.output_folder()
        results = self.results_path(pid)
        session_file = self.session_path(pid)
        answered = 0
        if results.is_file() and results.stat().st_size > 0:
            answered = sum(
                r.participant == pid and r.session == n for r in read_results_lenient(results)
            )
        if answered:
            # The same participant and session number already answered here: continue that
            # session, with its own trial order, or stop; never mix two orders in one session.
            if not session_file.is_file():
                raise JudgementError(
                    f"{results} already holds {answered} answers of participant {pid}, "
                    f"session {n}, but their trial list {session_file} is missing; "
                    "choose another session number or results file"
                )
            session = load_session(session_file)
            total = len(session.trials)
            if answered >= total:
                raise JudgementError(
                    f"participant {pid} has already finished session {n} ({results}); "
                    "choose another session number"
                )
            ask = QMessageBox.question(
                self,
                "Continue the session?",
                f"{results.name} already holds {answered} of {total} answers of participant "
                f"{pid}, session {n} (the session was interrupted).\n\nContinue where it "
                "stopped, with the same trial order?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            )
            if ask != QMessageBox.StandardButton.Yes:
                return None
        else:
            if session_file.is_file():
                ask = QMessageBox.question(
                    self,
                    "Replace the trial list?",
                    f"{session_file.name} already holds a trial list of participant {pid}, "
                    f"session {n}, but {results.name} has none of its answers.\n\n"
                    "Replace it with a new order?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                )
                if ask != QMessageBox.StandardButton.Yes:
                    return None
            session = self.build()
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise JudgementError(f"cannot create {out}: {exc.strerror or exc}") from None
            save_session(session, session_file)
        try:
            root = Path(os.path.commonpath([real.resolve(), generated.resolve()]))
        except ValueError:  # two drives: keep absolute image paths
            root = None
        self.results_file = results
        return JudgementRun(session, results, pid, n, image_root=root)

    def export_conditions(self) -> None:
        """The session as PsychoPy conditions; with the seed shown, Start gives this order."""
        try:
            session = self.build()
        except StimStudioError as exc:
            show_error(self, str(exc))
            return
        start = Path(self.output.text() or self.real.text() or ".") / "conditions.csv"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export PsychoPy conditions", str(start), "PsychoPy conditions (*.csv)"
        )
        if not path:
            return
        path = Path(path)
        if path.suffix.lower() != ".csv":
            path = path.with_name(path.name + ".csv")
        try:
            write_psychopy_conditions(session, path)
            json_path = save_session(session, path.with_suffix(".session.json"))
        except StimStudioError as exc:
            show_error(self, str(exc))
            return
        self._remember()
        self.message.setText(
            f"Wrote {path.name} ({len(session.trials)} trials, seed {session.seed}) and "
            f"{json_path.name} in {path.parent}"
        )


# ----------------------------------------------------------------------------------- runner


def _screen_image(path: str, fit: QSize) -> tuple[QImage, QImage]:
    """(the image, the image fitted to `fit`): read and scaled in a worker, never on the UI
    thread. QImage (unlike QPixmap) may be made outside the UI thread."""
    from stimstudio.core.readers import read_mammogram

    pixels = read_mammogram(path).preview(SCREEN_MAX_SIDE)
    img = qimage(pixels, model_range=False)
    fitted = img.scaled(
        fit, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return img, fitted


class JudgementRunner(QWidget):
    """The test itself, full screen on black: one image at a time, centred and fitted.

    Keys: R (real) or F (fake), then the confidence 1..N (N = sure; with one level R/F
    alone). The response time `rt_ms` runs from image onset to the R/F key, minus any pause.
    With a display time the image gives way to a blank screen and the answer is still taken;
    an inter-trial interval shows a blank screen. Esc pauses and asks whether to stop (then
    the window closes; `ended` carries the count of saved answers).
    Images are read in a worker, the next one while the current one is answered; all timing
    is QTimer, the UI thread never waits.
    """

    ended = Signal(int)  # answers of this participant and session on disk

    def __init__(self, run: JudgementRun, results_file, parent=None):
        super().__init__(parent)
        if parent is not None:
            self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle("Judgement test")
        self.setObjectName("judgementRunner")
        self.setStyleSheet(
            "#judgementRunner, #judgementRunner QLabel { background: black; color: #9a9a9a; }"
            "#judgementRunner QLabel#message { color: #e0e0e0; font-size: 20pt; }"
            "#judgementRunner QPushButton { background: #202020; color: #e0e0e0;"
            " border: 1px solid #505050; padding: 8px 24px; }"
        )
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.run = run
        self.results_file = Path(results_file)
        self.session = run.session
        self.levels = run.session.confidence_levels
        self.state = "waiting"  # waiting | loading | image | mask | iti | done
        self.stopped = False
        self._pos = {t.index: k for k, t in enumerate(self.session.trials)}
        self._images: dict[int, tuple[QImage, QImage]] = {}
        self._loading: dict[int, TaskWorker] = {}
        self._failed: dict[int, tuple[str, str, str]] = {}  # index -> path, message, detail
        self._choice: str | None = None
        self._rt_ms: float | None = None
        self._onset = 0.0
        self._paused_s = 0.0
        self._shown: int | None = None

        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.message = QLabel("")
        self.message.setObjectName("message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.hide()
        self.instructions = QLabel("")
        self.instructions.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = QFont(self.instructions.font())
        font.setPointSize(13)
        self.instructions.setFont(font)
        self.close_button = QPushButton("Close")
        self.close_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.close_button.clicked.connect(self.close)
        self.close_button.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 12)
        lay.addWidget(self.image, 1)
        lay.addWidget(self.message, 1)
        lay.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.instructions)

        self._mask_timer = QTimer(self)
        self._mask_timer.setSingleShot(True)
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
        worker = TaskWorker(lambda task, p=path, s=fit: _screen_image(p, s), parent=self)
        worker.done.connect(lambda imgs, k=index: self._loaded(k, imgs))
        worker.failed.connect(lambda msg, detail, k=index: self._load_failed(k, msg, detail))
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
        """The image fitted to the screen: the worker's copy, or scaled again if the window
        got another size after it was read."""
        full, fitted = self._images[index]
        size = self.image.size()
        if fitted.size() != full.size().scaled(size, Qt.AspectRatioMode.KeepAspectRatio):
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
        try:
            self.run.respond(self._choice, confidence, self._rt_ms)
        except (StimStudioError, OSError) as exc:
            self._finish(stopped=True)
            show_error(
                self,
                f"The answer could not be saved: {exc}\n\nThe test stops here; the "
                f"{self.run.answered} answers before it are in {self.results_file}.",
            )
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

    def ask_stop(self) -> None:
        """Esc: pause (timers held, the pause left out of the response time) and ask."""
        if self.state == "done":
            self.close()
            return
        paused_at = time.perf_counter()
        held = [(t, t.remainingTime()) for t in (self._mask_timer, self._iti_timer) if t.isActive()]
        for t, _ in held:
            t.stop()
        self.unsetCursor()
        answer = QMessageBox.question(
            self,
            "Stop the session?",
            "Stop the session? Answers so far are saved.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._finish(stopped=True)
            self.close()
            return
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
        self._mask_timer.stop()
        self._iti_timer.stop()
        self.run.close()
        self.unsetCursor()
        self.image.clear()
        self.image.hide()
        n, total = self.run.answered, len(self.session.trials)
        if stopped:
            self.message.setText(
                f"Session stopped — {n} of {total} answers saved to {self.results_file}"
            )
        else:
            self.message.setText(f"Thank you — {n} answers saved to {self.results_file}")
        self.message.show()
        self.close_button.show()
        self.instructions.setText("Press any key or Close")
        self.ended.emit(n)

    def closeEvent(self, event):  # noqa: N802
        """Closing mid-session keeps every answer given; the reading threads are waited for."""
        self._finish(stopped=self.run.current is not None)
        for worker in list(self._loading.values()):
            worker.wait()
        self._loading.clear()
        self._images.clear()
        super().closeEvent(event)


# --------------------------------------------------------------------------------- analysis


class SquareBox(QWidget):
    """Keeps its one child square and centred: an ROC is read on equal axes."""

    def __init__(self, child: QWidget, parent=None):
        super().__init__(parent)
        self.child = child
        child.setParent(self)

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        side = min(self.width(), self.height())
        self.child.setGeometry((self.width() - side) // 2, (self.height() - side) // 2, side, side)


class JudgementAnalysisDialog(QDialog):
    """Results CSVs in, the paper's analysis out: per participant a row of numbers (AUC with
    its bootstrap CI, d', c, hit and false-alarm rate, test-retest agreement) and the rating
    ROC (Fig. 5 of Ren, Yu & Whitney 2021). Reading and the bootstrap run in a worker."""

    COLUMNS = (
        "Participant",
        "Sessions",
        "Trials",
        "AUC",
        "95% CI",
        "d′",
        "c",
        "Hit rate",
        "FA rate",
        "Test-retest (SM)",
    )
    TIPS = (
        "",
        "Session numbers in the files",
        "Answers (real + generated images)",
        "Area under the rating ROC: 0.5 = generated images indistinguishable from real ones",
        "Percentile bootstrap, real and generated trials resampled separately",
        "Sensitivity from the real/fake answers (real images are the signal)",
        "Criterion; negative = says “real” readily",
        "P(“real” | real image), raw",
        "P(“real” | generated image), raw",
        "Sokal-Michener simple matching of the real/fake answers, sessions 1 and 2",
    )

    computed = Signal(object)  # the Analysis

    def __init__(self, parent=None, files=()):
        super().__init__(parent)
        self.setWindowTitle("Judgement analysis")
        self.resize(1000, 820)
        self.files: list[Path] = []
        self.analysis: Analysis | None = None
        self._workers: set[TaskWorker] = set()
        self._compute_worker: TaskWorker | None = None
        self._again = False

        open_button = QPushButton("Open results…")
        open_button.setObjectName("primary")
        open_button.setToolTip("One or more results CSVs of the judgement test")
        open_button.clicked.connect(self.open_files_dialog)
        self.files_label = hint("No results open.")
        self.bootstrap = QSpinBox()
        self.bootstrap.setRange(100, 100000)
        self.bootstrap.setSingleStep(500)
        self.bootstrap.setValue(2000)
        self.bootstrap.setToolTip("Bootstrap resamples for the AUC confidence interval (seed 0)")
        self.correction = QComboBox()
        self.correction.addItems(CORRECTIONS)
        self.correction.setToolTip(
            "d′ and c rate correction: log-linear on all data (Hautus 1995, default), "
            "only when a rate is 0 or 1, or none"
        )
        self.bootstrap.editingFinished.connect(self.compute)
        self.correction.currentIndexChanged.connect(self.compute)
        top = QHBoxLayout()
        top.addWidget(open_button)
        top.addWidget(self.files_label, 1)
        top.addWidget(QLabel("Bootstrap"))
        top.addWidget(self.bootstrap)
        top.addWidget(QLabel("d′ correction"))
        top.addWidget(self.correction)

        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        for i, tip in enumerate(self.TIPS):
            if tip:
                self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.mean_label = QLabel("")
        self.mean_label.setObjectName("stat")

        self.plot = pg.PlotWidget()
        self.plot.setBackground("#15171a")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(True)
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "False-alarm rate (P “real” | generated)")
        self.plot.setLabel("left", "Hit rate (P “real” | real)")
        self.plot.setToolTip(
            "Rating ROC: one point per criterion on the 2N-point real/fake × confidence "
            "scale; the dashed diagonal is chance"
        )
        self.plot_box = SquareBox(self.plot)
        self.plot_box.setMinimumHeight(380)
        self._draw([])

        self.status = hint("")
        self.save_figure_button = QPushButton("Save figure…")
        self.save_figure_button.setToolTip("The ROC figure as PNG, SVG or PDF (for the paper)")
        self.save_figure_button.clicked.connect(self.save_figure_dialog)
        self.save_json_button = QPushButton("Save JSON…")
        self.save_json_button.setToolTip("Every number of the analysis, with the settings")
        self.save_json_button.clicked.connect(self.save_json_dialog)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.save_figure_button)
        bottom.addWidget(self.save_json_button)
        bottom.addWidget(close)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table)
        lay.addWidget(self.mean_label)
        lay.addWidget(self.plot_box, 1)
        lay.addLayout(bottom)
        self._enable_saving()
        if files:
            self.set_files(files)

    # -- computing ---------------------------------------------------------------------------

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open judgement results",
            str(self.files[0].parent) if self.files else "",
            "Judgement results (*.csv);;All files (*)",
        )
        if files:
            self.set_files(files)

    def set_files(self, files) -> None:
        self.files = [Path(f) for f in files]
        names = ", ".join(f.name for f in self.files[:4])
        more = f" and {len(self.files) - 4} more" if len(self.files) > 4 else ""
        self.files_label.setText(names + more)
        self.files_label.setToolTip("\n".join(str(f) for f in self.files))
        self.compute()

    def compute(self) -> None:
        """Read the files and analyse them in a worker; a change while it runs runs again."""
        if not self.files:
            return
        if self._compute_worker is not None:
            self._again = True
            return
        files, n_boot = list(self.files), self.bootstrap.value()
        correction = self.correction.currentText()

        def job(task):
            return analyze(read_results(files), n_boot=n_boot, seed=0, correction=correction)

        self.status.setText("Computing…")
        self._compute_worker = self._start(job, self._computed, self._compute_failed)

    def _start(self, fn, on_done, on_failed) -> TaskWorker:
        worker = TaskWorker(fn, parent=self)
        worker.done.connect(on_done)
        worker.failed.connect(on_failed)
        worker.finished.connect(lambda w=worker: self._finished(w))
        self._workers.add(worker)
        worker.start()
        return worker

    def _finished(self, worker: TaskWorker) -> None:
        worker.wait()
        self._workers.discard(worker)
        if worker is self._compute_worker:
            self._compute_worker = None
            if self._again:
                self._again = False
                self.compute()

    def _computed(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self._fill_table(analysis)
        self._draw(self._curves(analysis))
        s = analysis.settings
        self.status.setText(
            f"{analysis.pooled.n_trials} answers of {len(analysis.participants)} "
            f"participant(s) · bootstrap {s['bootstrap']} · {s['correction']} correction"
        )
        self._enable_saving()
        self.computed.emit(analysis)

    def _compute_failed(self, message: str, detail: str) -> None:
        self.status.setText("The analysis failed; see the message.")
        show_error(self, message, detail)

    def _enable_saving(self) -> None:
        ok = self.analysis is not None
        self.save_figure_button.setEnabled(ok)
        self.save_json_button.setEnabled(ok)

    # -- showing -----------------------------------------------------------------------------

    def _rows(self, a: Analysis) -> list[Summary]:
        return a.participants + ([a.pooled] if len(a.participants) > 1 else [])

    def _fill_table(self, a: Analysis) -> None:
        rows = self._rows(a)
        self.table.setRowCount(len(rows))
        for r, s in enumerate(rows):
            sm = "—" if s.sokal_michener is None else _num(s.sokal_michener)
            if s.retest_pairs:
                sm += f" (n = {s.retest_pairs[0]['n']})"
            cells = (
                s.label,
                ", ".join(str(k) for k in s.sessions),
                str(s.n_trials),
                _num(s.auc),
                f"[{_num(s.auc_ci[0])}, {_num(s.auc_ci[1])}]",
                _num(s.sdt.dprime, ".2f"),
                _num(s.sdt.c, ".2f"),
                _num(s.sdt.hit_rate),
                _num(s.sdt.fa_rate),
                sm,
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if s is a.pooled and len(a.participants) > 1:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                if c == 9 and len(s.retest_pairs) > 1:
                    item.setToolTip(
                        "\n".join(
                            f"sessions {p['sessions'][0]} and {p['sessions'][1]}: "
                            f"{p['sokal_michener']:.3f} over {p['n']} images"
                            for p in s.retest_pairs
                        )
                    )
                self.table.setItem(r, c, item)
        self._fit_table_height()
        self.mean_label.setText(
            f"Mean over {len(a.participants)} participant(s): AUC {_num(a.mean_auc)}, "
            f"d′ {_num(a.mean_dprime, '.2f')}"
        )

    def _fit_table_height(self) -> None:
        """As tall as its rows (at most ten before it scrolls), so the plot gets the rest."""
        rows = min(self.table.rowCount(), 10)
        height = self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
        height += sum(self.table.rowHeight(r) for r in range(rows)) or 30
        self.table.setFixedHeight(height + 2)

    def _curves(self, a: Analysis) -> list[tuple[str, Summary]]:
        return [(s.label, s) for s in self._rows(a)]

    def _draw(self, curves) -> None:
        self.plot.clear()
        legend = self.plot.plotItem.legend
        if legend is None:
            legend = self.plot.addLegend(offset=(-10, -10), brush=pg.mkBrush(21, 23, 26, 220))
        legend.clear()
        self.plot.plot(
            [0, 1],
            [0, 1],
            pen=pg.mkPen("#8a9099", width=1, style=Qt.PenStyle.DashLine),
            name="chance",
        )
        for k, (label, s) in enumerate(curves):
            pooled = label == "pooled"
            color = "#ffffff" if pooled else ROC_COLORS[k % len(ROC_COLORS)]
            self.plot.plot(
                s.roc.fpr,
                s.roc.tpr,
                pen=pg.mkPen(color, width=3 if pooled else 2),
                symbol="o",
                symbolSize=7,
                symbolBrush=color,
                symbolPen=None,
                name=f"{label} (AUC {_num(s.auc, '.2f')})",
            )
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)

    # -- saving ------------------------------------------------------------------------------

    def save_figure_dialog(self) -> None:
        if self.analysis is None:
            return
        start = str(self.files[0].with_name("roc.png")) if self.files else "roc.png"
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Save ROC figure",
            start,
            "PNG image (*.png);;SVG drawing (*.svg);;PDF (*.pdf)",
        )
        if path:
            path = Path(path)
            if path.suffix.lower() not in (".png", ".svg", ".pdf"):
                path = path.with_name(path.name + "." + chosen.split("*.")[-1].rstrip(")"))
            self.save_figure(path)

    def save_figure(self, path) -> None:
        """The core's figure (matplotlib) in a worker: the first use imports matplotlib."""
        analysis, path = self.analysis, Path(path)
        self.status.setText(f"Writing {path.name}…")
        self._start(
            lambda task: write_roc_figure(path, analysis),
            lambda p: self.status.setText(f"Saved the figure to {p}"),
            self._save_failed,
        )

    def save_json_dialog(self) -> None:
        if self.analysis is None:
            return
        start = str(self.files[0].with_name("analysis.json")) if self.files else "analysis.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save analysis", start, "JSON (*.json)")
        if path:
            path = Path(path)
            if path.suffix.lower() != ".json":
                path = path.with_name(path.name + ".json")
            self.save_json(path)

    def save_json(self, path) -> None:
        """The analysis as JSON (non-finite numbers become null), written atomically."""
        from stimstudio.core.jsonable import to_jsonable

        doc = to_jsonable({**self.analysis.to_dict(), "files": [str(f) for f in self.files]})
        data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
        path = Path(path)

        def job(task):
            from stimstudio.core.model import atomic_write_bytes

            try:
                atomic_write_bytes(path, data)
            except OSError as exc:
                raise JudgementError(f"cannot write {path}: {exc.strerror or exc}") from None
            return path

        self.status.setText(f"Writing {path.name}…")
        self._start(
            job, lambda p: self.status.setText(f"Saved the analysis to {p}"), self._save_failed
        )

    def _save_failed(self, message: str, detail: str) -> None:
        self.status.setText("Saving failed; see the message.")
        show_error(self, message, detail)

    def busy(self) -> bool:
        return bool(self._workers)

    def closeEvent(self, event):  # noqa: N802
        for worker in list(self._workers):
            worker.wait()
        super().closeEvent(event)


# ---------------------------------------------------------------------------- entry points


def open_judgement_test(parent=None) -> JudgementRunner | None:
    """Tools ▸ Judgement test…: the setup dialog, then the full-screen runner."""
    dlg = JudgementSetupDialog(parent)
    if dlg.exec() != QDialog.DialogCode.Accepted or dlg.run is None:
        return None
    runner = JudgementRunner(dlg.run, dlg.results_file, parent)
    runner.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    status = getattr(parent, "statusBar", None)
    if status is not None:
        path = dlg.results_file
        runner.ended.connect(lambda n: status().showMessage(f"{n} answers saved to {path}", 10000))
    runner.showFullScreen()
    runner.activateWindow()
    runner.setFocus()
    return runner


def open_judgement_analysis(parent=None, files=()) -> JudgementAnalysisDialog:
    """Tools ▸ Analyze judgements…: a window beside the app; asks for files when none given."""
    dlg = JudgementAnalysisDialog(parent, files)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    if not files:
        QTimer.singleShot(0, dlg.open_files_dialog)
    return dlg
