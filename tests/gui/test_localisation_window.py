"""The analysis window with marks files: scored against the search set's truth (found beside
the marks, or asked for), the core's numbers in the table, the AFROC drawn, both saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from stimstudio.core.judgements.localisation import LocalisationAnalysis, analyze_localisation
from stimstudio.core.judgements.localisation_io import read_marks, read_truth
from stimstudio.gui.judgement import JudgementAnalysisDialog
from tests.test_localisation import WORKED, write_marks, write_truth


@pytest.fixture(autouse=True)
def _app(qtbot):
    from stimstudio.gui.app import make_app

    make_app()


def two_readers(folder: Path) -> Path:
    perfect = [("a1", 100, 100, 2), ("a2", 200, 200, 2), ("a3", 50, 50, 2), ("n1", 9, 9, 1)]
    rows = [("r1", *m) for m in WORKED] + [("r2", *m) for m in perfect]
    return write_marks(folder, rows, header="reader,film,x,y,rating")


def test_marks_with_a_truth_file_beside_them_show_the_localisation(qtbot, tmp_path):
    truth = write_truth(tmp_path)
    marks = two_readers(tmp_path)
    t = read_truth(truth)
    expected = analyze_localisation(read_marks(marks, t), t, n_boot=2000, seed=0)
    dlg = JudgementAnalysisDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    with qtbot.waitSignal(dlg.computed, timeout=60000):
        dlg.set_files([marks])
    a = dlg.analysis
    assert isinstance(a, LocalisationAnalysis) and dlg.truth == truth.resolve()
    assert [r.fom for r in a.readers] == pytest.approx([11 / 18, 1.0])
    assert [r.ci for r in a.readers] == [r.ci for r in expected.readers]
    assert dlg.truth_button.isVisible() and not dlg.correction.isEnabled()
    headers = [dlg.table.horizontalHeaderItem(c).text() for c in range(dlg.table.columnCount())]
    assert headers[0] == "Reader" and "JAFROC FOM" in headers
    cell = {h: dlg.table.item(0, c).text() for c, h in enumerate(headers)}
    r1 = expected.readers[0]
    assert cell["Reader"] == "r1" and cell["Marks"] == "5" and cell["LL"] == "2"
    assert cell["JAFROC FOM"] == "0.611"
    assert cell["95% CI"] == f"[{r1.ci[0]:.3f}, {r1.ci[1]:.3f}]"
    assert dlg.table.rowCount() == 3 and dlg.table.item(2, 0).text().startswith("pooled")
    assert dlg.table.item(2, 4).text() == f"{(11 / 18 + 1) / 2:.3f}"
    names = [i.name() for i in dlg.plot.getPlotItem().listDataItems() if i.name()]
    assert names == ["r1 (JAFROC 0.61)", "r2 (JAFROC 1.00)"]
    assert "truth.csv" in dlg.files_label.text()

    dlg.save_json(tmp_path / "loc.json")
    qtbot.waitUntil(lambda: not dlg.busy(), timeout=60000)
    doc = json.loads((tmp_path / "loc.json").read_text())
    assert doc["readers"][0]["jafroc_fom"] == pytest.approx(11 / 18)
    dlg.save_figure(tmp_path / "froc.png")
    qtbot.waitUntil(lambda: not dlg.busy(), timeout=60000)
    assert (tmp_path / "froc.png").read_bytes()[:4] == b"\x89PNG"


def test_marks_without_a_truth_file_beside_them_ask_for_it(qtbot, tmp_path, monkeypatch):
    (tmp_path / "set").mkdir()
    truth = write_truth(tmp_path / "set")
    (tmp_path / "marks" / "deep").mkdir(parents=True)
    marks = write_marks(tmp_path / "marks" / "deep", WORKED)
    asked = []

    def ask(*args, **kw):
        asked.append(args[1])
        return (str(truth), "")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", ask)
    dlg = JudgementAnalysisDialog()
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.computed, timeout=60000):
        dlg.set_files([marks])
    assert asked == ["Open the search set's truth file"]
    assert dlg.analysis.readers[0].fom == pytest.approx(11 / 18)
    # cancelled: nothing computed, the window says what it needs
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    dlg.analysis = None
    dlg.set_files([marks])
    assert dlg.analysis is None and "truth file" in dlg.status.text()
