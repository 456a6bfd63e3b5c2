"""The setup dialog of a judgement session: folders, participant, timing, seed, results file.

The last entries are kept while the app runs: the next participant needs the same folders and
timing, but a new id and a new order."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from stimstudio.core.errors import StimStudioError
from stimstudio.core.judgements import (
    JudgementError,
    JudgementRun,
    Session,
    build_session,
    list_images,
    load_session,
    read_results_lenient,
    save_session,
    write_psychopy_conditions,
)

from ..errors import show_error
from ..folders import remember, start_path
from ..panels.settings import FileField
from ..widgets import hint
from .common import DEFAULT_LEVELS, MAX_KEY_LEVELS, _file_stem

# What the experimenter entered last, kept while the app runs: the next participant needs
# the same folders and timing, but a new id and a new order.
_last: dict = {}


class FolderField(FileField):
    """A line edit + Browse… that picks a folder."""

    kind = "judgement-images"

    def _browse(self) -> None:
        start = self.edit.text() or start_path(self.kind)
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        if folder:
            remember(self.kind, folder)
            self.edit.setText(folder)


class ResultsField(FileField):
    """The results CSV: answers are appended to it, so choosing an existing file is fine."""

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Results file (answers are appended)",
            self.edit.text() or start_path("judgements", Path(self.edit.placeholderText()).name),
            self.filt,
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            remember("judgements", path)
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
        remember("judgements", path)
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
