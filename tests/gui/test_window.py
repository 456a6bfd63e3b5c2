"""The main window opens at once, loads the model in the background, and says when it cannot."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage


def test_window_opens_and_loads_the_model(window):
    assert window.model is not None
    assert window.model.resolution == 32
    assert "tiny" in window.model_label.text()
    assert window.device_label.text().startswith("Device: cpu")
    assert window.memory_label.text().startswith("Memory")
    assert not window.notice.isVisible()
    assert window.render_worker.has_model


def test_missing_weights_still_opens_and_points_to_settings(make_window, tmp_path):
    win = make_window(weights=str(tmp_path / "none.safetensors"))
    assert win.model is None
    assert win.notice.isVisible()
    assert "Settings" in win.notice.text.text()
    assert "not found" in win.notice.text.text()
    assert "Settings" in win.model_label.text()


def test_screenshot_renders_the_window_to_a_png(qtbot, tiny_weights, tmp_path):
    from stimstudio.gui.app import run_app

    out = tmp_path / "shot.png"
    rc = run_app(["--screenshot", str(out), "--weights-gui", tiny_weights, "--size", "1300x800"])
    assert rc == 0
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1300, 800)


def test_main_dispatches_gui_flags_to_the_app(monkeypatch):
    import stimstudio.gui.app as app

    seen = []
    monkeypatch.setattr(app, "run_app", lambda argv: seen.append(argv) or 0)
    from stimstudio.__main__ import main

    assert main(["--screenshot", "x.png"]) == 0
    assert seen == [["--screenshot", "x.png"]]
    assert Path(app.__file__).name == "app.py"


def test_window_shows_before_torch_is_imported(tmp_path):
    """Opening instantly: torch (seconds to import) loads with the model, after the window."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from stimstudio.gui.app import make_app\n"
        "from stimstudio.gui.main_window import MainWindow\n"
        "app = make_app()\n"
        "win = MainWindow(recovery=False)\n"
        "win.show(); app.processEvents()\n"
        "print('torch' in sys.modules)\n"
        "win.force_close = True; win.close()\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", STIMSTUDIO_CONFIG_DIR=str(tmp_path))
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_window_fits_1280x720_with_films_results_and_anchors(window, qtbot):
    """Issue 18: the minimum fits a 1280x720 screen (room for a title bar), and at that size
    the result metrics sit under their images, not over them."""
    from stimstudio.gui.prefs import sample_files
    from tests.gui.helpers import set_patches
    from tests.gui.test_results_inspect import _run

    window.resize(1280, 720)
    window.open_paths(sample_files())
    qtbot.waitUntil(
        lambda: window.pages["view"].mammo is not None or window.is_idle(), timeout=30000
    )
    set_patches(window)
    page = _run(window, qtbot)
    for seed in (3, 11):
        window.anchors.add_seed(seed)
    qtbot.waitUntil(lambda: len(window.project.anchors) == 2, timeout=30000)
    window.anchors.make_continuum()  # long anchor names and progress lines must not widen it
    qtbot.waitUntil(window.is_idle, timeout=120000)
    assert window.size().toTuple() == (1280, 720)
    for name in window.pages:
        window.show_page(name)
        qtbot.wait(20)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1280 and hint.height() <= 690, (name, hint.toTuple())
    window.resize(1280, 720)
    window.show_page("compose")
    qtbot.wait(50)
    assert window.size().toTuple() == (1280, 720)
    for tile in page.result_tiles.values():
        assert tile.caption.geometry().top() >= tile.image.geometry().bottom()
        assert tile.geometry().bottom() <= page.results_box.height()
    for keep in page.keep_buttons.values():
        assert keep.geometry().bottom() <= page.results_box.height()
