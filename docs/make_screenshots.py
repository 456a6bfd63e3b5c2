"""Re-make the docs' screenshots: drive the app offscreen through the whole workflow on the
shipped sample films (cut, lasso, place, generate, anchors, a loop) and grab every page.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py [OUT_DIR [STEPS]]

Uses the shipped model (or STIMSTUDIO_WEIGHTS) and a throw-away config folder, so the user's
preferences and recent files are not touched. Takes a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _wait(app, cond, timeout: float = 1800.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def main(out_dir: str = "docs/screenshots", steps: str | None = None) -> int:
    """steps: Eq. 4 steps for the Compose page (default: the Settings' 100); fewer when the
    machine is busy, and the page says how many were run."""
    os.environ.setdefault("STIMSTUDIO_CONFIG_DIR", tempfile.mkdtemp(prefix="stimstudio-shots-"))
    from stimstudio.gui.app import make_app, take_screenshot, wait_until_idle
    from stimstudio.gui.main_window import MainWindow
    from stimstudio.gui.prefs import sample_files

    app = make_app()
    win = MainWindow(recovery=False)
    win.force_close = True
    win.resize(1280, 720)
    win.show()
    win.start(offer_restore=False, first_run_samples=False)
    _wait(app, lambda: win.model is not None, what="the model")
    samples = {p.stem: p for p in sample_files()}
    mass, normal = samples["mdb181"], samples["mdb003"]  # spiculated mass; normal tissue
    view = win.pages["view"]

    # 1. the texture from the mass, the template from normal tissue
    win.open_paths([mass, normal])
    for film, which in ((mass, "texture"), (normal, "template")):
        win.session.set("current", str(film), "Show image")
        _wait(app, lambda f=film: view.mammo is not None and view.mammo.source == str(f), what=film)
        view.cut(which)
    win.session.set("current", str(mass), "Show image")
    _wait(app, lambda: view.mammo.source == str(mass), what="the mass film")

    # 2. an elliptical lasso around the mass in the middle of the texture patch
    R = win.model.resolution
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    win.pages["mask"].set_polygon(
        list(zip(R / 2 + 0.24 * R * np.cos(t), R / 2 + 0.2 * R * np.sin(t))), "freehand"
    )

    # 4. generate (the Settings' steps), keep the optimised result
    gen = win.pages["compose"]
    if steps:
        gen.steps.setValue(int(steps))
    gen.run()
    _wait(app, lambda: gen.worker is None and win.project.result is not None, what="Eq. 4")
    gen.keep("optimized")

    # 6. two random samples as anchors, then a loop through all three
    for seed in (3, 11):
        win.anchors.add_seed(seed)
    _wait(app, lambda: len(win.project.anchors) == 3, what="the anchors")
    win.anchors.make_path()
    inter = win.pages["interpolate"]
    inter.frames.setValue(36)
    inter.loop.setChecked(True)
    wait_until_idle(win, 600)
    inter.slider.setValue(7)

    out = Path(out_dir)
    for page in ("view", "mask", "placement", "compose", "interpolate", "generator"):
        take_screenshot(win, out / f"{page}.png", timeout=600, page=page)
        print(out / f"{page}.png")
    from stimstudio.gui.panels.settings import ModelAboutDialog

    about = ModelAboutDialog(win.ctx)  # Help ▸ About the model
    about.show()
    wait_until_idle(win, 60)
    about.grab().save(str(out / "about-model.png"), "PNG")
    print(out / "about-model.png")
    about.close()
    judgement_screens(app, win, out)
    win.close()
    return 0


def judgement_screens(app, win, out: Path) -> None:
    """The judgement test and its analysis: real 128-px patches of the sample films against
    the generator's samples at the same size, one simulated participant."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from stimstudio.core.generate import sample
    from stimstudio.core.imageio import fit_square, save_image, to_model_range
    from stimstudio.core.readers import read_mammogram
    from stimstudio.gui.judgement import JudgementAnalysisDialog, JudgementRunner
    from stimstudio.gui.judgement.setup import JudgementSetupDialog
    from stimstudio.gui.prefs import sample_files

    root = Path(tempfile.mkdtemp(prefix="stimstudio-judgement-"))
    real, generated = root / "real", root / "generated"
    real.mkdir()
    generated.mkdir()
    R = win.model.resolution
    k = 0
    for film in sample_files():
        px = read_mammogram(film).pixels
        for y0, x0 in ((0, 0), (0, 128), (128, 0), (128, 128)):  # 256 px at 0.2 mm = one patch
            patch, _ = fit_square(px[y0 : y0 + 256, x0 : x0 + 256], R)
            save_image(real / f"real-{k:02d}.png", to_model_range(patch))
            k += 1
    for seed in range(k):
        _, img = sample(win.model, seed)
        save_image(generated / f"seed-{seed:02d}.png", img)

    dlg = JudgementSetupDialog(win)
    dlg.real.edit.setText(str(real))
    dlg.generated.edit.setText(str(generated))
    dlg.output.edit.setText(str(root / "study"))
    dlg.participant.setText("P01")
    dlg.seed.setText("3")
    dlg.start()
    runner = JudgementRunner(dlg.run, dlg.results_file)
    runner.resize(1280, 720)
    runner.show()
    rng = np.random.default_rng(0)
    first = True
    while runner.state != "done":
        _wait(app, lambda: runner.state in ("image", "mask", "done"), what="a trial")
        if runner.state == "done":
            break
        if first:
            time.sleep(0.3)
            app.processEvents()
            runner.grab().save(str(out / "judgement-runner.png"), "PNG")
            print(out / "judgement-runner.png")
            first = False
        truth = runner.run.current.truth
        says_real = rng.random() < (0.8 if truth == "real" else 0.3)
        QTest.keyClick(runner, Qt.Key.Key_R if says_real else Qt.Key.Key_F)
        QTest.keyClick(runner, str(int(rng.integers(1, runner.levels + 1))))
        app.processEvents()
    runner.close()

    analysis = JudgementAnalysisDialog(win, [dlg.results_file])
    analysis.resize(1280, 720)
    analysis.show()
    _wait(app, lambda: analysis.analysis is not None, what="the analysis")
    time.sleep(0.3)
    app.processEvents()
    analysis.grab().save(str(out / "judgement-analysis.png"), "PNG")
    print(out / "judgement-analysis.png")
    analysis.close()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
