"""The analysis window: ROC per participant (the paper's Fig. 5), AUC with a bootstrap CI,
d' and c, Sokal-Michener test-retest; every number from core.judgements. Marks files (film,
x, y, rating) are scored against a search set's truth file instead (localisation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.judgements import (
    Analysis,
    JudgementError,
    Summary,
    analyze,
    read_results,
    write_roc_figure,
)
from stimstudio.core.judgements.localisation import LocalisationAnalysis
from stimstudio.core.judgements.localisation_report import write_localisation_figure

from ..errors import show_error
from ..folders import remember, start_path
from ..widgets import hint
from ..windows import keep_on_screen
from ..workers import Worker
from . import localisation as loc
from .common import CORRECTIONS, ROC_COLORS, _num, files_text


def open_results_button(tip: str, slot) -> QPushButton:
    """The dialog's main button, "Open results…", calling `slot`."""
    button = QPushButton("Open results…")
    button.setObjectName("primary")
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


def resamples_box(value: int, tip: str) -> QSpinBox:
    """A count of resamples (bootstrap, permutations): 100..100000 in steps of 500."""
    box = QSpinBox()
    box.setRange(100, 100000)
    box.setSingleStep(500)
    box.setValue(value)
    box.setToolTip(tip)
    return box


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
    ROC (Fig. 5 of Ren, Yu & Whitney 2021). Marks files with a search set's truth file give
    the localisation analysis instead (JAFROC FOM, AFROC). Reading and the bootstrap run in a
    worker."""

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
        keep_on_screen(self, default=(1000, 820))
        self.files: list[Path] = []
        self.truth: Path | None = None  # the search set's truth file, for marks files
        self.analysis: Analysis | LocalisationAnalysis | None = None
        self._workers: set[Worker] = set()
        self._compute_worker: Worker | None = None
        self._again = False

        open_button = open_results_button(
            "One or more results CSVs of the judgement test", self.open_files_dialog
        )
        self.files_label = hint("No results open.")
        self.bootstrap = resamples_box(
            2000, "Bootstrap resamples for the AUC confidence interval (seed 0)"
        )
        self.correction = QComboBox()
        self.correction.addItems(CORRECTIONS)
        self.correction.setToolTip(
            "d′ and c rate correction: log-linear on all data (Hautus 1995, default), "
            "only when a rate is 0 or 1, or none"
        )
        self.truth_button = QPushButton("Truth file…")
        self.truth_button.setToolTip(
            "The search set's truth.csv that the marks are scored against (found by itself "
            "beside the marks file or in the folder above it)"
        )
        self.truth_button.clicked.connect(self.open_truth_dialog)
        self.truth_button.hide()
        self.bootstrap.editingFinished.connect(self.compute)
        self.correction.currentIndexChanged.connect(self.compute)
        top = QHBoxLayout()
        top.addWidget(open_button)
        top.addWidget(self.files_label, 1)
        top.addWidget(self.truth_button)
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
        self._roc_axes()
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
            str(self.files[0].parent) if self.files else start_path("judgements"),
            "Judgement results (*.csv);;All files (*)",
        )
        if files:
            remember("judgements", files[0])
            self.set_files(files)

    def set_files(self, files, truth=None) -> None:
        """Results files, or marks files with their truth file (`truth`, else truth.csv beside
        them, else asked for)."""
        self.files = [Path(f) for f in files]
        marks = loc.all_marks(self.files)
        self.truth = None
        if marks:
            self.truth = Path(truth) if truth else loc.find_truth(self.files)
            if self.truth is None:
                self.truth = self._ask_truth()
        self.truth_button.setVisible(marks)
        self.correction.setEnabled(not marks)
        text = files_text(self.files)
        if self.truth is not None:
            text += f" · truth: {self.truth.name}"
        self.files_label.setText(text)
        self.files_label.setToolTip("\n".join(str(f) for f in [*self.files, self.truth] if f))
        if marks and self.truth is None:
            self.status.setText(
                "Marks files are scored against a search set's truth file: choose it with "
                "Truth file…"
            )
            return
        self.compute()

    def _ask_truth(self) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open the search set's truth file",
            str(self.files[0].parent) if self.files else start_path("judgements"),
            "Truth file (*.csv);;All files (*)",
        )
        return Path(path) if path else None

    def open_truth_dialog(self) -> None:
        path = self._ask_truth()
        if path is not None:
            self.set_files(self.files, truth=path)

    def compute(self) -> None:
        """Read the files and analyse them in a worker; a change while it runs runs again."""
        if not self.files:
            return
        if self._compute_worker is not None:
            self._again = True
            return
        files, n_boot = list(self.files), self.bootstrap.value()
        correction = self.correction.currentText()
        if self.truth is not None:
            self.status.setText("Scoring the marks…")
            self._compute_worker = self._start(
                loc.job(files, self.truth, n_boot), self._localised, self._compute_failed
            )
            return

        def job():
            return analyze(read_results(files), n_boot=n_boot, seed=0, correction=correction)

        self.status.setText("Computing…")
        self._compute_worker = self._start(job, self._computed, self._compute_failed)

    def _start(self, fn, on_done, on_failed) -> Worker:
        worker = Worker(fn, parent=self)
        worker.returned.connect(on_done)
        worker.errored.connect(on_failed)
        worker.finished.connect(lambda w=worker: self._finished(w))
        self._workers.add(worker)
        worker.start()
        return worker

    def _finished(self, worker: Worker) -> None:
        worker.wait()
        self._workers.discard(worker)
        if worker is self._compute_worker:
            self._compute_worker = None
            if self._again:
                self._again = False
                self.compute()

    def _localised(self, analysis: LocalisationAnalysis) -> None:
        self.analysis = analysis
        self.mean_label.setText(loc.fill_table(self.table, analysis))
        self._fit_table_height()
        loc.draw(self.plot, analysis)
        dup = sum(r.counts["NL_on_a_taken_lesion"] for r in analysis.readers)
        self.status.setText(
            f"{sum(r.counts['marks'] for r in analysis.readers)} marks of "
            f"{len(analysis.readers)} reader(s) · bootstrap {analysis.settings['bootstrap']}"
            + (f"\nNote: {dup} mark(s) on an already-marked lesion count as NL" if dup else "")
        )
        self._enable_saving()
        self.computed.emit(analysis)

    def _computed(self, analysis: Analysis) -> None:
        self.analysis = analysis
        loc.set_columns(self.table, self.COLUMNS, self.TIPS)
        self._roc_axes()
        self._fill_table(analysis)
        self._draw(self._curves(analysis))
        s = analysis.settings
        text = (
            f"{analysis.pooled.n_trials} answers of {len(analysis.participants)} "
            f"participant(s) · bootstrap {s['bootstrap']} · {s['correction']} correction"
        )
        # Sessions pooled, scales inferred or not pooled, too few trials: said where seen.
        self.status.setText("\n".join([text, *(f"Note: {n}" for n in analysis.notes)]))
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

    def _roc_axes(self) -> None:
        self.plot.setLabel("bottom", "False-alarm rate (P “real” | generated)")
        self.plot.setLabel("left", "Hit rate (P “real” | real)")
        self.plot.setToolTip(
            "Rating ROC: one point per criterion on the 2N-point real/fake × confidence "
            "scale; the dashed diagonal is chance"
        )

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
        name = "froc.png" if isinstance(self.analysis, LocalisationAnalysis) else "roc.png"
        start = str(self.files[0].with_name(name)) if self.files else name
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Save figure",
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
        write = (
            write_localisation_figure
            if isinstance(analysis, LocalisationAnalysis)
            else write_roc_figure
        )
        self.status.setText(f"Writing {path.name}…")
        self._start(
            lambda: write(path, analysis),
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
        if isinstance(self.analysis, LocalisationAnalysis):
            doc = {"format": "stimstudio-localisation", "version": 1, **doc}
        data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
        path = Path(path)

        def job():
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
