"""Quitting the app after each window or dialog: exit 0, no Qt ownership warning, no heap error.

Each case runs the whole app in a process of its own (quit_driver.py): a Qt object deleted
twice at exit (by its parent window and by PySide's clean-up of what Python owns) only shows
when that interpreter shuts down. MALLOC_PERTURB_ makes glibc fill freed memory, so a double
delete fails every time instead of now and then.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("quit_driver.py")
ROOT = Path(__file__).resolve().parents[2]

# actions (one after the other in one app) -> the window or dialog they must have met
CASES = {
    "judgement-setup": "JudgementSetupDialog",
    "judgement-runner": "JudgementRunner",
    "judgement-runner-left-open": "JudgementRunner",
    "analysis": "JudgementAnalysisDialog",
    "adjustment-setup": "AdjustmentSetupDialog",
    "adjustment-analysis": "AdjustmentAnalysisDialog",
    "settings": "SettingsDialog",
    "model-about": "ModelAboutDialog",
    "about,shortcuts": "QMessageBox",
    "open-images,open-folder,open-project,save-as": "QFileDialog",
    "export": "ExportDialog",
    "zoom": "ZoomDialog",
}
BAD_WORDS = (
    "QObject",
    "corrupted",
    "malloc",
    "double free",
    "free():",
    "Segmentation",
    "Fatal Python error",
    "QThread: Destroyed",
)


@pytest.mark.parametrize("action", list(CASES))
def test_quit_after_each_window_exits_cleanly(action, tmp_path, tiny_weights):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        STIMSTUDIO_CONFIG_DIR=str(tmp_path / "config"),
        MALLOC_PERTURB_="165",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(ROOT),
    )
    env.pop("STIMSTUDIO_WEIGHTS", None)
    proc = subprocess.run(
        [sys.executable, str(DRIVER), action, tiny_weights, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    detail = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, detail
    assert f"opened: {CASES[action]}" in proc.stdout, detail
    bad = [w for w in BAD_WORDS if w in proc.stderr]
    assert not bad, detail
