"""The analysis window's localisation view: marks files scored against a search set's truth
(core.judgements.localisation). A table row per reader (JAFROC FOM with its bootstrap CI,
jackknife SE, wAFROC) and the AFROC curves; every number from the core."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from stimstudio.core.judgements.localisation import (
    Acceptance,
    LocalisationAnalysis,
    analyze_localisation,
)
from stimstudio.core.judgements.localisation_io import is_marks_file, read_marks, read_truth

from .common import ROC_COLORS, _num

COLUMNS = ("Reader", "Marks", "LL", "NL", "JAFROC FOM", "95% CI", "Jackknife SE", "wAFROC FOM")
TIPS = (
    "",
    "Marks the reader made",
    "Lesion localisations: lesions marked (the highest-rated mark on each)",
    "Non-lesion localisations: every other mark, on any film",
    "Chakraborty & Berbaum 2004: P(a lesion's mark outrates a normal film's highest mark), "
    "unmarked = lowest, ties 1/2; 0.5 = chance-like, 1 = perfect",
    "Percentile bootstrap over films, normal and abnormal resampled separately (seed 0)",
    "Case jackknife standard error",
    "JAFROC with each lesion weighted 1 / lesions on its film",
)
TRUTH_NAME = "truth.csv"


def all_marks(files) -> bool:
    return bool(files) and all(is_marks_file(f) for f in files)


def find_truth(files) -> Path | None:
    """`truth.csv` beside the first marks file, or in the folder above it."""
    first = Path(files[0]).resolve()
    for folder in (first.parent, first.parent.parent):
        if (folder / TRUTH_NAME).is_file():
            return folder / TRUTH_NAME
    return None


def job(files, truth, n_boot: int):
    """What the worker runs: read both files, score every reader."""
    files, truth, n_boot = list(files), Path(truth), int(n_boot)

    def run() -> LocalisationAnalysis:
        t = read_truth(truth)
        return analyze_localisation(read_marks(files, t), t, Acceptance(), n_boot=n_boot, seed=0)

    return run


def set_columns(table: QTableWidget, columns, tips) -> None:
    table.setColumnCount(len(columns))
    table.setHorizontalHeaderLabels(columns)
    for i, tip in enumerate(tips):
        table.horizontalHeaderItem(i).setToolTip(tip)


def fill_table(table: QTableWidget, a: LocalisationAnalysis) -> str:
    """One row per reader (and the pooled row when there are several); returns the line
    that goes under the table."""
    set_columns(table, COLUMNS, TIPS)
    rows = a.readers + ([a.pooled] if len(a.readers) > 1 else [])
    table.setRowCount(len(rows))
    for r, s in enumerate(rows):
        c = s.counts
        cells = (
            s.label,
            str(c.get("marks", "—")),
            str(c.get("LL", "—")),
            str(c.get("NL", "—")),
            _num(s.fom),
            f"[{_num(s.ci[0])}, {_num(s.ci[1])}]",
            _num(s.jackknife_se),
            _num(s.wafroc),
        )
        for k, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if k:
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            if s is a.pooled:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            table.setItem(r, k, item)
    first = a.readers[0].counts
    return (
        f"{first['lesions']} lesion(s) on {first['abnormal_films']} film(s), "
        f"{first['normal_films']} normal film(s); a mark is on a lesion "
        f"{a.settings['acceptance']}; pooled = mean of readers"
    )


def draw(plot: pg.PlotWidget, a: LocalisationAnalysis) -> None:
    """The AFROC of every reader; its area (with the dotted end to (1, 1)) is the FOM."""
    plot.clear()
    legend = plot.plotItem.legend
    if legend is None:
        legend = plot.addLegend(offset=(-10, -10), brush=pg.mkBrush(21, 23, 26, 220))
    legend.clear()
    for k, s in enumerate(a.readers):
        color = ROC_COLORS[k % len(ROC_COLORS)]
        fpf, llf = s.curves["afroc"]["fpf"], s.curves["afroc"]["llf"]
        plot.plot(
            fpf[:-1],
            llf[:-1],
            pen=pg.mkPen(color, width=2),
            symbol="o",
            symbolSize=7,
            symbolBrush=color,
            symbolPen=None,
            name=f"{s.label} (JAFROC {_num(s.fom, '.2f')})",
        )
        plot.plot(fpf[-2:], llf[-2:], pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine))
    plot.setLabel("bottom", "FPF (normal films with a mark at or above the rating)")
    plot.setLabel("left", "LLF (fraction of lesions marked)")
    plot.setToolTip(
        "AFROC: one point per rating; the area under it, with the dotted end to (1, 1), is "
        "the JAFROC figure of merit. The saved figure adds the FROC curve."
    )
    plot.setXRange(0, 1, padding=0.02)
    plot.setYRange(0, 1, padding=0.02)
