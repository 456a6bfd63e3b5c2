"""The judgement test in the app, driven as an experimenter and a participant would: set up,
answer with the keyboard, stop with Esc, continue, and analyse the results file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from stimstudio.core.judgements import (
    JudgementRun,
    analyze,
    build_session,
    list_images,
    load_session,
    read_results,
    save_session,
)
from stimstudio.gui.judgement import (
    JudgementAnalysisDialog,
    JudgementRunner,
    JudgementSetupDialog,
)
from tests.conftest import smooth_image


@pytest.fixture(autouse=True)
def _app(qtbot, monkeypatch):
    """The app's style; the setup dialog's memory of the last entries starts empty."""
    import stimstudio.gui.judgement.setup as setup
    from stimstudio.gui.app import make_app

    make_app()
    monkeypatch.setattr(setup, "_last", {})


def make_folders(root: Path, n_real: int = 3, n_generated: int = 3, size: int = 64):
    """Two folders of small grey PNGs: the real and the generated images."""
    real, generated = root / "real", root / "generated"
    for folder, n, offset in ((real, n_real, 0), (generated, n_generated, 100)):
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(n):
            img = ((smooth_image(offset + k, size) + 1) * 127.5).astype(np.uint8)
            Image.fromarray(img).save(folder / f"img{k}.png")
    return real, generated


def setup_dialog(real, generated, out, participant="P01", session=1, **kw) -> JudgementSetupDialog:
    dlg = JudgementSetupDialog()
    dlg.real.edit.setText(str(real))
    dlg.generated.edit.setText(str(generated))
    dlg.output.edit.setText(str(out))
    dlg.participant.setText(participant)
    dlg.session_number.setValue(session)
    dlg.seed.setText(str(kw.get("seed", 7)))
    dlg.levels.setValue(kw.get("levels", 3))
    dlg.display_time.setValue(kw.get("display_time", 0))
    dlg.iti.setValue(kw.get("iti", 0))
    return dlg


def start_runner(qtbot, dlg) -> JudgementRunner:
    qtbot.addWidget(dlg)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert dlg.result() == QDialog.DialogCode.Accepted, "Start test did not start"
    runner = JudgementRunner(dlg.run, dlg.results_file)
    qtbot.addWidget(runner)
    runner.showFullScreen()
    return runner


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def wait_image(qtbot, runner) -> None:
    qtbot.waitUntil(lambda: runner.state in ("image", "mask"), timeout=15000)


def answer(qtbot, runner, response: str, confidence: int | None) -> None:
    wait_image(qtbot, runner)
    qtbot.keyClick(runner, Qt.Key.Key_R if response == "real" else Qt.Key.Key_F)
    if confidence is not None:
        qtbot.keyClick(runner, str(confidence))


def test_every_answer_is_on_disk_before_the_next_image(qtbot, tmp_path):
    real, generated = make_folders(tmp_path)
    out = tmp_path / "study"
    runner = start_runner(qtbot, setup_dialog(real, generated, out, levels=3))
    results = out / "results-P01.csv"
    session = load_session(out / "session-P01-s1.json")
    assert session.seed == 7 and len(session.trials) == 6 and session.confidence_levels == 3
    assert runner.instructions.text().startswith("R = real, F = fake, then confidence 1..3")

    given = []
    for k in range(6):
        wait_image(qtbot, runner)
        assert not runner.image.pixmap().isNull()
        truth = runner.run.current.truth
        # a digit before R/F is no answer
        qtbot.keyClick(runner, "2")
        assert len(csv_rows(results)) == k
        response = "real" if (truth == "real") != (k == 4) else "fake"
        confidence = 1 + k % 3
        answer(qtbot, runner, response, confidence)
        given.append((truth, response, confidence))
        # crash safety: the answer is in the file now, before the session goes on
        assert len(csv_rows(results)) == k + 1
    assert runner.state == "done" and not runner.stopped
    assert runner.message.text() == "Thank you — 6 answers saved."  # no path for the participant
    assert runner.message.toolTip() == str(results)

    rows = read_results(results)
    assert [(r.truth, r.response, r.confidence) for r in rows] == given
    assert [r.trial for r in rows] == [t.index for t in session.trials]
    assert all(r.participant == "P01" and r.session == 1 and r.rt_ms > 0 for r in rows)
    # the images are outside the study folder: absolute paths, not relative to an unnamed
    # common parent (issue 39)
    assert {r.image for r in rows} == {
        str(d / f"img{k}.png") for d in (real, generated) for k in range(3)
    }
    qtbot.keyClick(runner, Qt.Key.Key_Space)  # any key closes the thank-you screen
    assert not runner.isVisible()


def test_display_time_masks_the_image_and_iti_blanks_the_screen(qtbot, tmp_path):
    real, generated = make_folders(tmp_path, 2, 2)
    out = tmp_path / "study"
    dlg = setup_dialog(real, generated, out, levels=1, display_time=0.05, iti=1.5)
    runner = start_runner(qtbot, dlg)
    assert runner.instructions.text().startswith("R = real, F = fake   ·")
    qtbot.waitUntil(lambda: runner.state == "mask", timeout=15000)
    assert runner.image.pixmap().isNull()
    qtbot.keyClick(runner, Qt.Key.Key_R)  # one level: R alone answers, even after the mask
    assert len(csv_rows(out / "results-P01.csv")) == 1
    assert runner.state == "iti" and runner.image.pixmap().isNull()
    qtbot.keyClick(runner, Qt.Key.Key_F)  # keys in the blank interval are not answers
    assert len(csv_rows(out / "results-P01.csv")) == 1
    wait_image(qtbot, runner)
    for _ in range(3):
        answer(qtbot, runner, "fake", None)
    assert runner.state == "done"
    rows = read_results(out / "results-P01.csv")
    assert [r.confidence for r in rows] == [1, 1, 1, 1]
    # answered after the mask (waited for above); no bound in ms: the CI machine is shared
    assert rows[0].response == "real" and rows[0].rt_ms > 0
    assert runner._mask_timer.timerType() == Qt.TimerType.PreciseTimer


def test_esc_stops_keeping_the_answers_and_the_session_continues(qtbot, tmp_path, monkeypatch):
    real, generated = make_folders(tmp_path)
    out = tmp_path / "study"
    answers = iter(["no", "yes", "yes"])
    asked = []

    shown_behind = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        if isinstance(parent, JudgementRunner):  # is the stimulus still up behind the question?
            shown_behind.append(parent.image.isVisible())
        yes = next(answers) == "yes"
        return QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    runner = start_runner(qtbot, setup_dialog(real, generated, out))
    results = out / "results-P01.csv"
    first_two = [t.index for t in runner.session.trials[:2]]
    answer(qtbot, runner, "real", 3)
    answer(qtbot, runner, "fake", 1)
    wait_image(qtbot, runner)
    qtbot.keyClick(runner, Qt.Key.Key_Escape)  # "No": the session goes on
    assert asked[0].startswith("Stop the session? Answers so far are saved.")
    assert shown_behind == [False]  # hidden while asked
    assert runner.state == "image" and runner.image.isVisible()  # and back after "No"
    with qtbot.waitSignal(runner.ended) as ended:
        qtbot.keyClick(runner, Qt.Key.Key_Escape)  # "Yes": stop, and the window closes
    assert ended.args == [2]
    assert runner.state == "done" and runner.stopped and not runner.isVisible()
    assert runner.message.text() == "Session stopped — 2 of 6 answers saved."
    assert [r.trial for r in read_results(results)] == first_two

    # the same participant and session again: asked, then continued at trial 3, same order
    dlg = setup_dialog(real, generated, out, seed=99)
    runner = start_runner(qtbot, dlg)
    assert "2 of 6 answers" in asked[-1]
    assert dlg.run.answered == 2
    assert runner.run.current.index == runner.session.trials[2].index
    assert runner.session.seed == 7  # the interrupted session's order, not the new seed's
    for _ in range(4):
        answer(qtbot, runner, "real", 2)
    rows = read_results(results)
    assert sorted(r.trial for r in rows) == list(range(6)) and len(rows) == 6


def test_an_unanswered_trial_list_is_replaced_only_when_confirmed(qtbot, tmp_path, monkeypatch):
    real, generated = make_folders(tmp_path)
    out = tmp_path / "study"
    out.mkdir()
    old = build_session(list_images(real), list_images(generated), seed=1)
    save_session(old, out / "session-P01-s1.json")
    replies = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    asked = []

    def question(parent, title, text, *args, **kwargs):
        asked.append(title)
        return next(replies)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    dlg = setup_dialog(real, generated, out, seed=2)
    qtbot.addWidget(dlg)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert asked == ["Replace the trial list?"] and dlg.run is None
    assert load_session(out / "session-P01-s1.json").seed == 1
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert dlg.run is not None and load_session(out / "session-P01-s1.json").seed == 2
    dlg.run.close()


def test_unreadable_image_stops_the_test_with_a_message(qtbot, tmp_path, errors):
    real, generated = make_folders(tmp_path, 2, 2)
    (real / "img1.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "study"
    runner = start_runner(qtbot, setup_dialog(real, generated, out, levels=1))
    for _ in range(4):
        qtbot.waitUntil(lambda: runner.state in ("image", "done"), timeout=15000)
        if runner.state == "done":
            break
        qtbot.keyClick(runner, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: runner.state == "done", timeout=15000)
    assert runner.stopped
    assert len(errors) == 1 and "img1.png cannot be shown" in errors[0][1]
    n = len(csv_rows(out / "results-P01.csv"))
    assert f"{n} answers are saved" in errors[0][1]


@pytest.mark.parametrize(
    "case, expect",
    [
        ("empty", "holds no images (the real images)"),
        ("missing", "is not a folder"),
        ("same", "listed as both real and generated"),
        ("too_many", "images per class must lie in 1..3"),
        ("no_participant", "enter the participant id"),
        ("not_results", "lacks the column(s) participant"),
    ],
)
def test_bad_inputs_give_one_clear_message(qtbot, tmp_path, errors, case, expect):
    real, generated = make_folders(tmp_path)
    out = tmp_path / "study"
    dlg = setup_dialog(real, generated, out)
    qtbot.addWidget(dlg)
    if case == "empty":
        (tmp_path / "empty").mkdir()
        dlg.real.edit.setText(str(tmp_path / "empty"))
    elif case == "missing":
        dlg.generated.edit.setText(str(tmp_path / "nowhere"))
    elif case == "same":
        dlg.generated.edit.setText(str(real))
    elif case == "too_many":
        dlg.per_class.setValue(4)
    elif case == "no_participant":
        dlg.participant.setText("  ")
    elif case == "not_results":
        out.mkdir()
        (out / "results-P01.csv").write_text("a,b\n1,2\n")
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert len(errors) == 1 and expect in errors[0][1]
    assert dlg.run is None and dlg.result() != QDialog.DialogCode.Accepted
    assert not (out / "results-P01.csv").exists() or case == "not_results"


def test_export_psychopy_conditions_uses_the_shown_seed(qtbot, tmp_path, monkeypatch):
    real, generated = make_folders(tmp_path)
    out = tmp_path / "study"
    out.mkdir()
    target = out / "conditions.csv"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    dlg = setup_dialog(real, generated, out, seed=5)
    qtbot.addWidget(dlg)
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    rows = csv_rows(target)
    expected = build_session(list_images(real), list_images(generated), seed=5)
    assert [r["truth"] for r in rows] == [t.truth for t in expected.trials]
    assert rows[0]["imageFile"].startswith("../")
    assert load_session(out / "conditions.session.json").seed == 5
    assert "seed 5" in dlg.message.text()


def write_results(tmp_path: Path) -> Path:
    """Answers of two participants, one of them tested twice, written by the core."""
    real, generated = make_folders(tmp_path, 6, 6)
    results = tmp_path / "results.csv"
    rng = np.random.default_rng(3)
    for pid, sessions, skill in (("P01", (1, 2), 0.8), ("P02", (1,), 0.55)):
        for s in sessions:
            session = build_session(
                list_images(real), list_images(generated), seed=10 + s, confidence_levels=4
            )
            run = JudgementRun(session, results, pid, s, image_root=tmp_path)
            while not run.finished:
                right = rng.random() < skill
                says_real = (run.current.truth == "real") == right
                run.respond("real" if says_real else "fake", int(rng.integers(1, 5)), 500.0)
            run.close()
    return results


def test_analysis_shows_the_core_numbers_and_saves_them(qtbot, tmp_path):
    results = write_results(tmp_path)
    expected = analyze(read_results(results))
    dlg = JudgementAnalysisDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    with qtbot.waitSignal(dlg.computed, timeout=60000):
        dlg.set_files([results])
    a = dlg.analysis
    assert [p.label for p in a.participants] == ["P01", "P02"]
    for got, want in zip(a.participants, expected.participants, strict=True):
        assert got.auc == want.auc
        assert got.auc_ci == want.auc_ci
        assert got.sdt.dprime == want.sdt.dprime
    assert dlg.table.rowCount() == 3  # two participants and the pooled row
    headers = [dlg.table.horizontalHeaderItem(c).text() for c in range(dlg.table.columnCount())]
    cell = {h: dlg.table.item(0, c).text() for c, h in enumerate(headers)}
    p1 = expected.participants[0]
    assert cell["Participant"] == "P01" and cell["Sessions"] == "1, 2"
    assert cell["Trials"] == str(p1.n_trials) == "24"
    assert cell["AUC"] == f"{p1.auc:.3f}"
    assert cell["95% CI"] == f"[{p1.auc_ci[0]:.3f}, {p1.auc_ci[1]:.3f}]"
    assert cell["d′"] == f"{p1.sdt.dprime:.2f}" and cell["c"] == f"{p1.sdt.c:.2f}"
    assert cell["Hit rate"] == f"{p1.sdt.hit_rate:.3f}"
    assert cell["FA rate"] == f"{p1.sdt.fa_rate:.3f}"
    assert cell["Test-retest (SM)"] == f"{p1.sokal_michener:.3f} (n = 12)"
    assert dlg.table.item(1, 9).text() == "—"  # P02 came once
    assert dlg.table.item(2, 0).text() == "pooled"
    names = [item.name() for item in dlg.plot.getPlotItem().listDataItems()]
    assert names == ["chance", f"P01 (AUC {p1.auc:.2f})", names[2], names[3]]
    curve = dlg.plot.getPlotItem().listDataItems()[1]
    assert np.array_equal(curve.xData, p1.roc.fpr) and np.array_equal(curve.yData, p1.roc.tpr)

    # another correction recomputes through the core
    with qtbot.waitSignal(dlg.computed, timeout=60000):
        dlg.correction.setCurrentText("none")
    assert dlg.analysis.settings["correction"] == "none"

    dlg.save_json(tmp_path / "analysis.json")
    qtbot.waitUntil(lambda: not dlg.busy(), timeout=60000)
    doc = json.loads((tmp_path / "analysis.json").read_text())
    assert doc["participants"][0]["auc"] == p1.auc and doc["files"] == [str(results)]
    dlg.save_figure(tmp_path / "roc.svg")
    qtbot.waitUntil(lambda: not dlg.busy(), timeout=60000)
    assert (tmp_path / "roc.svg").read_text().lstrip().startswith("<?xml")
    assert "Saved the figure" in dlg.status.text()


def test_analysis_of_a_bad_file_says_why(qtbot, tmp_path, errors):
    bad = tmp_path / "notes.csv"
    bad.write_text("hello\n")
    dlg = JudgementAnalysisDialog()
    qtbot.addWidget(dlg)
    dlg.set_files([bad])
    qtbot.waitUntil(lambda: bool(errors), timeout=60000)
    assert "lacks the column(s)" in errors[0][1]
    assert dlg.analysis is None and not dlg.save_figure_button.isEnabled()


def test_tools_menu_opens_the_test_and_the_analysis(make_window, qtbot, tmp_path, monkeypatch):
    import stimstudio.gui.judgement as judgement

    win = make_window(weights=str(tmp_path / "none.safetensors"))
    menus = [a.text() for a in win.menuBar().actions()]
    assert menus.index("&Tools") == menus.index("&Help") - 1
    tools = win.menuBar().actions()[menus.index("&Tools")].menu()
    acts = {a.text(): a for a in tools.actions() if not a.isSeparator()}
    assert set(acts) == {
        "&Judgement test…",
        "A&djustment task…",
        "&Analyze judgements…",
        "Analyze adjust&ment…",
        "&Search set…",
    }
    assert all(a.statusTip() for a in acts.values())

    real, generated = make_folders(tmp_path, 1, 1)
    out = tmp_path / "study"

    def exec_(dlg):  # the experimenter fills the form and presses Start test
        dlg.real.edit.setText(str(real))
        dlg.generated.edit.setText(str(generated))
        dlg.output.edit.setText(str(out))
        dlg.participant.setText("P07")
        dlg.levels.setValue(2)
        dlg.start()
        return dlg.result()

    monkeypatch.setattr(judgement.JudgementSetupDialog, "exec", exec_)
    acts["&Judgement test…"].trigger()
    runner = win.findChild(JudgementRunner)
    assert runner is not None and runner.isFullScreen()
    answer(qtbot, runner, "real", 2)
    answer(qtbot, runner, "fake", 1)
    assert runner.state == "done"
    assert win.statusBar().currentMessage() == f"2 answers saved to {out / 'results-P07.csv'}"
    runner.close()
    assert len(read_results(out / "results-P07.csv")) == 2
    # the setup remembers the folders for the next participant
    dlg = judgement.JudgementSetupDialog()
    qtbot.addWidget(dlg)
    assert dlg.real.text() == str(real) and dlg.participant.text() == ""

    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileNames",
        staticmethod(lambda *a, **k: ([str(out / "results-P07.csv")], "")),
    )
    acts["&Analyze judgements…"].trigger()
    analysis = win.findChild(JudgementAnalysisDialog)
    qtbot.waitUntil(lambda: analysis.analysis is not None, timeout=60000)
    assert analysis.analysis.participants[0].label == "P07"
    analysis.close()


def test_setup_warns_when_real_and_generated_differ_in_size(qtbot, tmp_path):
    real, generated = make_folders(tmp_path / "a", size=64)
    dlg = setup_dialog(real, generated, tmp_path / "out")
    qtbot.addWidget(dlg)
    dlg._update_counts()
    assert dlg.mismatch.isHidden() and dlg.mismatch.text() == ""
    big, small = make_folders(tmp_path / "b", size=64)
    for p in big.glob("*.png"):  # real crops at twice the generated images' size
        Image.open(p).resize((128, 128)).save(p)
    dlg.real.edit.setText(str(big))
    dlg.generated.edit.setText(str(small))
    dlg._update_counts()
    assert not dlg.mismatch.isHidden()
    assert "128×128" in dlg.mismatch.text() and "64×64" in dlg.mismatch.text()
    assert "differ 2.0× in size on the screen" in dlg.mismatch.text()


def test_results_name_images_relative_to_their_own_folder(qtbot, tmp_path):
    """Issue 39: a study folder that holds its images records them relative to the results
    file's folder (it travels whole); images elsewhere are recorded absolute (above)."""
    real, generated = make_folders(tmp_path, 1, 1)
    dlg = setup_dialog(real, generated, tmp_path)
    qtbot.addWidget(dlg)
    dlg.start()
    run = dlg.run
    assert dlg.results_file.parent == tmp_path
    assert {run.image_id(t) for t in run.session.trials} == {"real/img0.png", "generated/img0.png"}
    run.close()
