"""The judgement test in the app: set up a session, run it full screen, analyse the results;
and the adjustment task on a loop (Tools ▸ Adjustment task…), with the same runner habits.

Every number (trial order, ratings, ROC, AUC, d', c, Sokal-Michener agreement) comes from
`stimstudio.core.judgements`; this module only asks, shows, times and stores through it. Each
answer is on disk before the next image appears (`JudgementRun.respond`), so a crash or a
stopped session loses nothing, and a participant can continue an interrupted session.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer

from .adjustment_analysis import AdjustmentAnalysisDialog
from .adjustment_runner import AdjustmentOptions, AdjustmentRunner
from .adjustment_setup import AdjustmentSetupDialog
from .analysis import JudgementAnalysisDialog
from .runner import JudgementRunner
from .setup import JudgementSetupDialog

__all__ = [
    "AdjustmentAnalysisDialog",
    "AdjustmentOptions",
    "AdjustmentRunner",
    "AdjustmentSetupDialog",
    "open_adjustment_analysis",
    "open_adjustment_task",
    "JudgementAnalysisDialog",
    "JudgementRunner",
    "JudgementSetupDialog",
    "open_judgement_analysis",
    "open_judgement_test",
]


def open_judgement_test(parent=None) -> JudgementRunner | None:
    """Tools ▸ Judgement test…: the setup dialog, then the full-screen runner."""
    from ..folders import remember
    from ..windows import exec_dialog

    chosen = exec_dialog(JudgementSetupDialog(parent), lambda d: (d.run, d.results_file))
    if chosen is None or chosen[0] is None:
        return None
    run, results_file = chosen
    remember("judgements", results_file)  # Analyze judgements opens there next
    runner = JudgementRunner(run, results_file, parent)
    runner.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    status = getattr(parent, "statusBar", None)
    if status is not None:
        path = results_file
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


def open_adjustment_task(parent=None, folder: str = "") -> AdjustmentRunner | None:
    """Tools ▸ Adjustment task…: the setup dialog, then the full-screen task."""
    from ..folders import remember
    from ..windows import exec_dialog

    chosen = exec_dialog(
        AdjustmentSetupDialog(parent, folder), lambda d: (d.run, d.loop, d.options)
    )
    if chosen is None or chosen[0] is None:
        return None
    run, loop, options = chosen
    remember("judgements", run.results)
    runner = AdjustmentRunner(run, loop.frames, options, parent)
    runner.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    status = getattr(parent, "statusBar", None)
    if status is not None:
        path = run.results
        runner.ended.connect(lambda n: status().showMessage(f"{n} answers saved to {path}", 10000))
    runner.showFullScreen()
    runner.activateWindow()
    runner.setFocus()
    return runner


def open_adjustment_analysis(parent=None, files=()) -> AdjustmentAnalysisDialog:
    """Tools ▸ Analyze adjustment…: a window beside the app; asks for files when none given."""
    dlg = AdjustmentAnalysisDialog(parent, files)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    if not files:
        QTimer.singleShot(0, dlg.open_files_dialog)
    return dlg
