"""The adjustment task in the app, driven as an experimenter and a participant would: set up
on an exported loop, turn the loop with keys, wheel and mouse, confirm with Space, stop with
Esc and continue; every answer on disk before the next trial."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from stimstudio.core.export import ExportSettings, export
from stimstudio.core.generate import latent_for_seed
from stimstudio.core.interpolate import Anchor, Continuum
from stimstudio.core.judgements import (
    AdjustmentRun,
    adjustment_plan,
    default_seed,
    read_adjustment_results,
)
from stimstudio.core.model import load_model
from stimstudio.gui.judgement import (
    AdjustmentOptions,
    AdjustmentRunner,
    AdjustmentSetupDialog,
)

N = 6
FAST = AdjustmentOptions(target_s=0.01, mask_s=0.01, iti_s=0.0)


@pytest.fixture(autouse=True)
def _app(qtbot, monkeypatch):
    import stimstudio.gui.judgement.adjustment_setup as setup
    from stimstudio.gui.app import make_app

    make_app()
    monkeypatch.setattr(setup, "_last", {})


def _export(tiny_weights, out, loop=True):
    model = load_model(tiny_weights)
    anchors = [Anchor(f"s{s}", latent_for_seed(model, s, noise_mode="seed")) for s in (1, 2, 3)]
    path = Continuum(anchors, frames=N, loop=loop, spacing="latent")
    settings = ExportSettings(formats=("png",), preview=None, contact_sheet=False)
    export(path, model, out, settings, continuum_id="loopB" if loop else "open")
    return out


@pytest.fixture(scope="module")
def loop_dir(tiny_weights, tmp_path_factory):
    return _export(tiny_weights, tmp_path_factory.mktemp("adj") / "loop")


def _runner(qtbot, loop_dir, results, options=FAST, trials=4, pid="P1", session=1):
    from stimstudio.core.experiments import loop_from_export

    loop = loop_from_export(loop_dir)
    run = AdjustmentRun(loop.continuum, loop.n_frames, trials, results, pid, session)
    runner = AdjustmentRunner(run, loop.frames, options)
    qtbot.addWidget(runner)
    runner.showFullScreen()
    qtbot.waitUntil(lambda: runner.state in ("ready", "done"), timeout=15000)
    return runner


def _wait_response(qtbot, runner):
    qtbot.waitUntil(lambda: runner.state in ("response", "done"), timeout=15000)


def _wheel(runner, notches: int) -> None:
    pos = QPointF(10, 10)
    ev = QWheelEvent(
        pos,
        runner.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(runner, ev)


def test_each_answer_is_on_disk_before_the_next_trial(qtbot, loop_dir, tmp_path):
    results = tmp_path / "r.csv"
    runner = _runner(qtbot, loop_dir, results)
    qtbot.keyClick(runner, Qt.Key.Key_Space)  # start
    for k in range(1, 5):
        _wait_response(qtbot, runner)
        start = runner.frame
        for _ in range(k):
            qtbot.keyClick(runner, Qt.Key.Key_Right)
        _wheel(runner, -1)  # one notch back
        assert runner.frame == (start + k - 1) % N
        qtbot.keyClick(runner, Qt.Key.Key_Space)
        assert len(read_adjustment_results(results)) == k  # flushed before anything else
    qtbot.waitUntil(lambda: runner.state == "done", timeout=15000)
    rows = read_adjustment_results(results)
    plan = adjustment_plan(N, 4, default_seed("P1", 1))
    assert [(r.target_frame, r.start_frame) for r in rows] == [
        (t.target_frame, t.start_frame) for t in plan
    ]
    assert [r.response_frame for r in rows] == [(r.start_frame + r.trial - 1) % N for r in rows]
    assert all(r.rt_ms is not None and r.rt_ms >= 0 and r.onset for r in rows)
    assert rows[0].continuum == "loopB" and "4 answers saved" in runner.message.text()
    assert runner._timer.timerType() == Qt.TimerType.PreciseTimer


def test_esc_stops_and_the_session_continues(qtbot, loop_dir, tmp_path, monkeypatch):
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    hidden = []

    def question(parent, *a, **k):
        hidden.append(not parent.image.isVisible())
        return next(answers)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    results = tmp_path / "r.csv"
    runner = _runner(qtbot, loop_dir, results, trials=3, pid="P2")
    qtbot.keyClick(runner, Qt.Key.Key_Space)
    _wait_response(qtbot, runner)
    qtbot.keyClick(runner, Qt.Key.Key_Space)
    _wait_response(qtbot, runner)
    qtbot.keyClick(runner, Qt.Key.Key_Escape)  # No: go on
    assert runner.state == "response" and runner.image.isVisible()
    with qtbot.waitSignal(runner.ended) as ended:
        qtbot.keyClick(runner, Qt.Key.Key_Escape)  # Yes: stop
    assert ended.args == [1] and runner.stopped and hidden == [True, True]
    runner = _runner(qtbot, loop_dir, results, trials=3, pid="P2")
    assert runner.run.answered == 1 and runner.run.current.index == 2
    qtbot.keyClick(runner, Qt.Key.Key_Space)
    for _ in range(2):
        _wait_response(qtbot, runner)
        qtbot.keyClick(runner, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: runner.state == "done", timeout=15000)
    assert [r.trial for r in read_adjustment_results(results)] == [1, 2, 3]


def test_confidence_and_mouse_position(qtbot, loop_dir, tmp_path):
    options = AdjustmentOptions(
        target_s=0.01, mask_s=0.0, iti_s=0.0, confidence_levels=3, mouse_x=True, image_px=96
    )
    results = tmp_path / "c.csv"
    runner = _runner(qtbot, loop_dir, results, options, trials=1)
    assert {(p.width(), p.height()) for p in runner.frames} == {(96, 96)}
    qtbot.keyClick(runner, Qt.Key.Key_Space)
    _wait_response(qtbot, runner)
    x = runner.width() * (4.5 / N)  # the fifth sixth of the width: frame 4
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(x, 5),
        runner.mapToGlobal(QPointF(x, 5)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(runner, move)
    assert runner.frame == 4
    qtbot.keyClick(runner, Qt.Key.Key_Space)
    assert runner.state == "confidence" and not results.read_text().count("\n") > 1
    qtbot.keyClick(runner, Qt.Key.Key_7)  # outside 1..3: ignored
    qtbot.keyClick(runner, Qt.Key.Key_2)
    (row,) = read_adjustment_results(results)
    assert row.response_frame == 4 and row.confidence == 2


def test_setup_starts_on_a_loop_and_refuses_an_open_path(
    qtbot, loop_dir, tiny_weights, tmp_path, errors
):
    dlg = AdjustmentSetupDialog(folder=str(loop_dir))
    qtbot.addWidget(dlg)
    assert "loopB: 6 frames" in dlg.loop_info.text()
    dlg.participant.setText("P9")
    dlg.trials.setValue(5)
    dlg.start()
    assert dlg.result() == QDialog.DialogCode.Accepted and dlg.run.n_frames == N
    assert dlg.run.results == loop_dir / "data" / "adjustment_P9_session1.csv"
    assert len(dlg.run.plan) == 5
    dlg.run.close()

    open_dir = _export(tiny_weights, tmp_path / "open", loop=False)
    dlg = AdjustmentSetupDialog(folder=str(open_dir))
    qtbot.addWidget(dlg)
    assert "open continuum, not a loop" in dlg.loop_info.text()
    dlg.participant.setText("P9")
    dlg.start()
    assert len(errors) == 1 and "the adjustment task is circular" in errors[0][1]
    assert dlg.run is None and dlg.result() != QDialog.DialogCode.Accepted


def test_tools_menu_opens_the_task(make_window, qtbot, loop_dir, tmp_path, monkeypatch):
    import stimstudio.gui.judgement as judgement

    win = make_window(weights=str(tmp_path / "none.safetensors"))
    tools = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Tools")
    act = next(a for a in tools.actions() if a.text() == "A&djustment task…")
    results = tmp_path / "m.csv"

    def exec_(dlg):
        dlg.export.edit.setText(str(loop_dir))
        dlg.participant.setText("P3")
        dlg.trials.setValue(1)
        dlg.target_s.setValue(0.01)
        dlg.mask_s.setValue(0)
        dlg.results.edit.setText(str(results))
        dlg.start()
        return dlg.result()

    monkeypatch.setattr(judgement.AdjustmentSetupDialog, "exec", exec_)
    act.trigger()
    runner = win.findChild(AdjustmentRunner)
    assert runner is not None and runner.isFullScreen()
    qtbot.waitUntil(lambda: runner.state == "ready", timeout=15000)
    qtbot.keyClick(runner, Qt.Key.Key_Space)
    _wait_response(qtbot, runner)
    qtbot.keyClick(runner, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: runner.state == "done", timeout=15000)
    assert win.statusBar().currentMessage() == f"1 answers saved to {results}"
    runner.close()
    assert len(read_adjustment_results(results)) == 1


def test_analysis_window_shows_the_core_numbers_and_saves_them(
    qtbot, tmp_path, errors, monkeypatch
):
    from stimstudio.core.judgements import adjustment_csv, analyze_adjustment
    from stimstudio.core.judgements.adjustment_analysis import simulate_observer
    from stimstudio.gui.judgement import AdjustmentAnalysisDialog

    rs = simulate_observer(participant="a", amplitude=5, n_trials=200, seed=1)
    rs += simulate_observer(participant="b", amplitude=5, n_trials=200, seed=2)
    res = tmp_path / "r.csv"
    res.write_text(adjustment_csv(rs))
    dlg = AdjustmentAnalysisDialog(files=[res])
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.analysis is not None and not dlg.busy(), timeout=60000)
    want = analyze_adjustment(rs, n_boot=1000, n_perm=1000)
    assert dlg.analysis.pooled.serial["amplitude"] == want.pooled.serial["amplitude"]
    assert "pooled" in dlg.table.toPlainText()
    assert not dlg.serial_plot.pixmap().isNull() and not dlg.errors_plot.pixmap().isNull()
    paths = dlg.save(tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        "adjustment.json",
        "error_distribution.png",
        "serial_dependence.png",
    }
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        staticmethod(lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No),
    )
    assert dlg.save(tmp_path / "out") is None and "Replace them?" in asked[0]

    bad = tmp_path / "bad.csv"
    bad.write_text("participant,session\np,1\n")
    dlg.set_files([bad])
    qtbot.waitUntil(lambda: bool(errors), timeout=60000)
    assert "lacks the column(s)" in errors[0][1]


def test_export_dialog_offers_the_task_files(qtbot):
    from stimstudio.gui.export_dialog import ExportDialog, settings_from_dict

    dlg = ExportDialog(frames=12, kind="continuum")
    qtbot.addWidget(dlg)
    assert dlg.task.isChecked() and dlg.settings().task == "auto"
    dlg.task.setChecked(False)
    assert dlg.settings().task == "none"
    assert settings_from_dict(dlg.settings_dict()).task == "none"  # remembered
    dlg.conditions.setChecked(False)
    assert not dlg.task.isEnabled()  # the task reads conditions.csv
    stills = ExportDialog(frames=3, kind="stills")
    qtbot.addWidget(stills)
    stills.show()
    assert not stills.task.isVisible()
