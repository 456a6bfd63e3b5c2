"""Re-make the README's screenshots: drive the app offscreen through the whole workflow on the
shipped sample films (cut, lasso, place, generate, anchors, a loop) and grab every page.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py [OUT_DIR]

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


def _wait(app, cond, timeout: float = 600.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def main(out_dir: str = "docs/screenshots") -> int:
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
        win.project.set("current", str(film), "Show image")
        _wait(app, lambda f=film: view.mammo is not None and view.mammo.source == str(f), what=film)
        view.cut(which)
    win.project.set("current", str(mass), "Show image")
    _wait(app, lambda: view.mammo.source == str(mass), what="the mass film")

    # 2. an elliptical lasso around the mass in the middle of the texture patch
    R = win.model.resolution
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    win.pages["mask"].set_polygon(
        list(zip(R / 2 + 0.24 * R * np.cos(t), R / 2 + 0.2 * R * np.sin(t))), "freehand"
    )

    # 4. generate (the Settings' steps), keep the optimised result
    gen = win.pages["generate"]
    gen.run()
    _wait(app, lambda: gen.worker is None and win.project.get("result") is not None, what="Eq. 4")
    gen.keep("optimized")

    # 6. two random samples as anchors, then a loop through all three
    for seed in (3, 11):
        win.anchors.add_seed(seed)
    _wait(app, lambda: len(win.project.get("anchors")) == 3, what="the anchors")
    win.anchors.make_path()
    inter = win.pages["interpolate"]
    inter.frames.setValue(36)
    inter.loop.setChecked(True)
    wait_until_idle(win, 600)
    inter.slider.setValue(7)

    out = Path(out_dir)
    for page in ("view", "mask", "placement", "generate", "interpolate", "generator"):
        take_screenshot(win, out / f"{page}.png", timeout=600, page=page)
        print(out / f"{page}.png")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
