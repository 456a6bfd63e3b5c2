"""The adjustment analysis window: error distribution, circular SD and serial dependence of
adjustment results, every number and plot from core.judgements (the same as
`stimstudio judge adjustment`); reading, the bootstrap and the plots run in a worker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.errors import StimStudioError
from stimstudio.core.judgements import (
    AdjustmentAnalysis,
    analyze_adjustment,
    format_adjustment_table,
    read_adjustment_results,
    write_adjustment_outputs,
)
from stimstudio.core.judgements.adjustment_figures import (
    FIGURE_NAMES,
    JSON_NAME,
    error_figure_bytes,
    serial_figure_bytes,
)

from ..errors import show_error
from ..folders import remember, start_path
from ..widgets import hint
from ..windows import keep_on_screen
from ..workers import Worker
from .analysis import open_results_button, resamples_box
from .common import files_text


def _compute(files, n_boot: int, n_perm: int):
    analysis = analyze_adjustment(read_adjustment_results(files), n_boot=n_boot, n_perm=n_perm)
    serial = None
    if any(s.serial is not None for s in [analysis.pooled, *analysis.participants]):
        serial = serial_figure_bytes(analysis)
    return analysis, error_figure_bytes(analysis), serial


class AdjustmentAnalysisDialog(QDialog):
    """Results CSVs of the adjustment task in; the table, the error histograms and the
    serial-dependence curves out; "Save…" writes the plots and adjustment.json."""

    computed = Signal(object)  # the AdjustmentAnalysis

    def __init__(self, parent=None, files=()):
        super().__init__(parent)
        self.setWindowTitle("Adjustment analysis")
        keep_on_screen(self, default=(1100, 860))  # no larger than the screen (issue 39)
        self.files: list[Path] = []
        self.analysis: AdjustmentAnalysis | None = None
        self._worker: Worker | None = None
        self._again = False

        open_button = open_results_button(
            "One or more results CSVs of the adjustment task (one loop)", self.open_files_dialog
        )
        self.files_label = hint("No results open.")
        self.bootstrap = resamples_box(1000, "Bootstrap resamples for the amplitude's CI (seed 0)")
        self.permutations = resamples_box(1000, "Permutations for the amplitude's p value (seed 1)")
        for box in (self.bootstrap, self.permutations):
            box.editingFinished.connect(self.compute)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Write the plots (PNG) and every number (adjustment.json)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save_dialog)
        top = QHBoxLayout()
        top.addWidget(open_button)
        top.addWidget(self.files_label, 1)
        top.addWidget(QLabel("Bootstrap"))
        top.addWidget(self.bootstrap)
        top.addWidget(QLabel("Permutations"))
        top.addWidget(self.permutations)
        top.addWidget(self.save_button)

        self.table = QPlainTextEdit()
        self.table.setReadOnly(True)
        self.table.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.table.setFont(font)
        self.table.setMaximumHeight(200)
        self.errors_plot = QLabel()
        self.serial_plot = QLabel()
        plots = QWidget()
        pl = QVBoxLayout(plots)
        for lab in (self.serial_plot, self.errors_plot):
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            pl.addWidget(lab)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(plots)
        self.status = hint("")
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.status)
        if files:
            self.set_files(files)

    def busy(self) -> bool:
        return self._worker is not None

    def open_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Adjustment results", start_path("judgements"), "Results (*.csv)"
        )
        if paths:
            remember("judgements", paths[0])
            self.set_files(paths)

    def set_files(self, files) -> None:
        self.files = [Path(f) for f in files]
        self.files_label.setText(files_text(self.files))
        self.compute()

    def compute(self) -> None:
        if not self.files:
            return
        if self._worker is not None:
            self._again = True  # the settings changed while it ran: once more at the end
            return
        self.status.setText("Computing…")
        job = (self.files, self.bootstrap.value(), self.permutations.value())
        self._worker = Worker(lambda j=job: _compute(*j), parent=self)
        self._worker.returned.connect(self._done)
        self._worker.errored.connect(self._failed)
        self._worker.finished.connect(self._finished)
        self._worker.start()

    def _done(self, result) -> None:
        analysis, errors_png, serial_png = result
        self.analysis = analysis
        self.table.setPlainText(format_adjustment_table(analysis))
        for label, png in ((self.errors_plot, errors_png), (self.serial_plot, serial_png)):
            pix = QPixmap()
            if png:
                pix.loadFromData(png, "PNG")
            label.setPixmap(pix)
        self.save_button.setEnabled(True)
        self.status.setText("")
        self.computed.emit(analysis)

    def _failed(self, message: str, detail: str) -> None:
        self.status.setText("")
        show_error(self, message, detail)

    def _finished(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.wait()
        if self._again:
            self._again = False
            self.compute()

    def save_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for the plots and adjustment.json", start_path("judgements")
        )
        if folder:
            self.save(folder)

    def save(self, folder) -> dict | None:
        if self.analysis is None:
            return None
        there = [n for n in (JSON_NAME, *FIGURE_NAMES.values()) if (Path(folder) / n).exists()]
        if there:
            answer = QMessageBox.question(
                self,
                "Replace the files?",
                f"{folder} already holds {', '.join(there)}. Replace them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        try:
            paths = write_adjustment_outputs(
                folder, self.analysis, {"files": [str(f) for f in self.files]}
            )
        except StimStudioError as exc:
            show_error(self, str(exc))
            return None
        self.status.setText(f"Saved to {folder}")
        return paths

    def closeEvent(self, event):  # noqa: N802
        if self._worker is not None:
            self._worker.wait()
        super().closeEvent(event)
