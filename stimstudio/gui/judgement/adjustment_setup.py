"""The setup dialog of the adjustment task: the loop export, participant, timing, results.

The trial order comes from a seed (by default a hash of participant and session, the order
the exported PsychoPy script and browser experiment give too); the last entries are kept
while the app runs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from stimstudio.core.errors import StimStudioError
from stimstudio.core.experiments import MASKS, LoopFrames, default_trials, loop_from_export
from stimstudio.core.judgements import AdjustmentRun, JudgementError

from ..errors import show_error
from ..widgets import FormScroll, hint
from .adjustment_runner import AdjustmentOptions
from .common import MAX_KEY_LEVELS, _file_stem
from .setup import FolderField, ResultsField

_last: dict = {}


class ExportField(FolderField):
    """A line edit + Browse… that picks an export folder."""

    kind = "adjustment-export"
    caption = "Choose a loop export folder"


def _seconds(value: float, tip: str, special: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0, 60)
    box.setDecimals(3)
    box.setSingleStep(0.1)
    box.setSuffix(" s")
    if special:
        box.setSpecialValueText(special)
    box.setValue(value)
    box.setToolTip(tip)
    return box


class AdjustmentSetupDialog(QDialog):
    """ "Start task" opens (or continues) the results file; the ready AdjustmentRun is then
    in `self.run`, the loop in `self.loop` and the timing in `self.options`. A wrong input
    shows the core's message and the dialog stays open."""

    def __init__(self, parent=None, folder: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Adjustment task")
        self.setMinimumWidth(560)
        self.run: AdjustmentRun | None = None
        self.loop: LoopFrames | None = None
        self.options: AdjustmentOptions | None = None

        loop_box = QGroupBox("Loop")
        f1 = QFormLayout(loop_box)
        self.export = ExportField(folder or _last.get("export", ""), "a loop's export folder", "")
        self.export.setToolTip("The folder of an exported loop (manifest.json and its frames)")
        self.loop_info = hint("")
        f1.addRow("Export folder", self.export)
        f1.addRow(self.loop_info)

        who = QGroupBox("Participant")
        f2 = QFormLayout(who)
        self.participant = QLineEdit()
        self.participant.setPlaceholderText("e.g. P01")
        self.session_number = QSpinBox()
        self.session_number.setRange(1, 99)
        self.session_number.setValue(_last.get("session", 1))
        self.seed = QLineEdit()
        self.seed.setValidator(QRegularExpressionValidator(r"\d{1,10}"))
        self.seed.setPlaceholderText("from participant and session")
        self.seed.setToolTip(
            "Trial order seed. Empty: a hash of participant and session, the order the "
            "exported PsychoPy script and browser experiment give for them too"
        )
        f2.addRow("Participant id", self.participant)
        f2.addRow("Session number", self.session_number)
        f2.addRow("Seed", self.seed)

        timing = QGroupBox("Trials and timing")
        f3 = QFormLayout(timing)
        self.trials = QSpinBox()
        self.trials.setRange(0, 100000)
        self.trials.setSpecialValueText("default")
        self.trials.setValue(_last.get("trials", 0))
        self.trials.setToolTip(
            "Trials in the session; default: at least 100, every frame equally often a target"
        )
        o = _last.get("options") or AdjustmentOptions()
        self.target_s = _seconds(o.target_s, "How long the target frame shows")
        self.mask = QComboBox()
        self.mask.addItems(list(MASKS))
        self.mask.setCurrentText(o.mask)
        self.mask_s = _seconds(o.mask_s, "How long the mask shows", "no mask")
        self.iti_s = _seconds(o.iti_s, "Blank screen between an answer and the next target", "none")
        self.levels = QSpinBox()
        self.levels.setRange(0, MAX_KEY_LEVELS)
        self.levels.setSpecialValueText("not asked")
        self.levels.setValue(o.confidence_levels)
        self.levels.setToolTip("Confidence 1..N after each response (one digit key)")
        self.image_px = QSpinBox()
        self.image_px.setRange(0, 8192)
        self.image_px.setSingleStep(64)
        self.image_px.setSuffix(" px")
        self.image_px.setSpecialValueText("the frames' own size")
        self.image_px.setValue(o.image_px)
        self.image_px.setToolTip(
            "Side of the image on screen (the exported PsychoPy script and browser experiment "
            "have the same setting, image_px); larger than the screen: fitted to it"
        )
        self.mouse_x = QCheckBox("The horizontal mouse position chooses the frame")
        self.mouse_x.setChecked(o.mouse_x)
        f3.addRow("Trials", self.trials)
        f3.addRow("Target", self.target_s)
        f3.addRow("Mask", self.mask)
        f3.addRow("Mask time", self.mask_s)
        f3.addRow("Inter-trial interval", self.iti_s)
        f3.addRow("Confidence levels", self.levels)
        f3.addRow("Image size", self.image_px)
        f3.addRow(self.mouse_x)

        files = QGroupBox("Results")
        f4 = QFormLayout(files)
        self.results = ResultsField("", "", "Results (*.csv)")
        self.results.setToolTip(
            "One row per trial, flushed at once; an interrupted session of the same "
            "participant and session continues where it stopped"
        )
        f4.addRow("Results file", self.results)

        self.start_button = QPushButton("Start task")
        self.start_button.setObjectName("primary")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.start_button)
        lay = QVBoxLayout(self)
        # scrolls on a low screen instead of growing past its edge (issue 39)
        lay.addWidget(FormScroll(loop_box, who, timing, files), 1)
        lay.addLayout(buttons)

        for sig in (
            self.export.edit.textChanged,
            self.participant.textChanged,
            self.session_number.valueChanged,
        ):
            sig.connect(self._update)
        self._update()

    def _update(self, *_) -> None:
        folder = self.export.text()
        try:
            loop = loop_from_export(folder) if folder else None
        except StimStudioError as exc:
            loop = None
            self.loop_info.setText(str(exc))
        if loop is not None:
            self.loop_info.setText(
                f"{loop.continuum}: {loop.n_frames} frames, "
                f"{360 / loop.n_frames:.3g}° each; default {default_trials(loop.n_frames)} trials"
            )
        elif not folder:
            self.loop_info.setText("Export a loop first (File ▸ Export, a continuum with Loop on)")
        pid = _file_stem(self.participant.text().strip() or "participant")
        name = f"adjustment_{pid}_session{self.session_number.value()}.csv"
        self.results.edit.setPlaceholderText(str(Path(folder) / "data" / name) if folder else name)

    def results_path(self) -> Path:
        return Path(self.results.text() or self.results.edit.placeholderText())

    def start(self) -> None:
        try:
            folder = self.export.text()
            if not folder:
                raise JudgementError("choose the export folder of a loop")
            loop = loop_from_export(folder)
            pid = self.participant.text()
            if not pid.strip():
                raise JudgementError("enter the participant id")
            options = AdjustmentOptions(
                target_s=self.target_s.value(),
                mask=self.mask.currentText(),
                mask_s=self.mask_s.value(),
                iti_s=self.iti_s.value(),
                confidence_levels=self.levels.value(),
                mouse_x=self.mouse_x.isChecked(),
                image_px=self.image_px.value(),
            )
            if options.target_s <= 0:
                raise JudgementError("the target must show for more than 0 s")
            run = AdjustmentRun(
                loop.continuum,
                loop.n_frames,
                self.trials.value() or default_trials(loop.n_frames),
                self.results_path(),
                pid,
                self.session_number.value(),
                int(self.seed.text()) if self.seed.text() else None,
            )
        except StimStudioError as exc:
            show_error(self, str(exc))
            return
        _last.update(
            export=folder,
            session=self.session_number.value(),
            trials=self.trials.value(),
            options=options,
        )
        self.run, self.loop, self.options = run, loop, options
        self.accept()
