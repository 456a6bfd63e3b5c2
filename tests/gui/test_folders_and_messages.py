"""File dialogs open where the user last was; a finished export or save says so, with a
button that opens its folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog


def test_dialogs_remember_the_last_folder_per_kind(tmp_path, monkeypatch):
    from stimstudio.gui import folders

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    # nothing used yet: the home folder, never the folder the app was started from
    assert folders.last_folder("images") == str(home)
    films = tmp_path / "films"
    films.mkdir()
    folders.remember("images", films / "mdb001.pgm")
    assert folders.last_folder("images") == str(films)
    # a kind not used yet opens where the user last was
    assert folders.start_path("latents", "a.latent.npz") == str(films / "a.latent.npz")
    lat = tmp_path / "latents"
    lat.mkdir()
    folders.remember("latents", lat)
    assert folders.last_folder("images") == str(films)
    assert folders.last_folder("latents") == str(lat)
    # a folder that is gone falls back instead of opening nowhere
    lat.rmdir()
    assert folders.last_folder("latents") == str(films)
    # a study's folders never become a stimulus dialog's start, nor the other way (issue 39)
    study = tmp_path / "study"
    study.mkdir()
    folders.remember("judgements", study / "results-P01.csv")
    assert folders.last_folder("project") == str(films)
    assert folders.last_folder("judgement-images") == str(study)


def test_open_images_dialog_starts_in_the_last_folder(window, tmp_path, monkeypatch):
    from tests.gui.helpers import make_minimias

    film = make_minimias(tmp_path / "mias")
    seen = []

    def fake(parent, title, start, filt, *args, **kwargs):
        seen.append(start)
        return [str(film)], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake))
    window.open_files_dialog()
    window.open_files_dialog()
    assert seen[1] == str(film.parent)
    # Analyze judgements opens where the last session's results went
    from stimstudio.gui import folders

    results = tmp_path / "session" / "p01.csv"
    results.parent.mkdir()
    folders.remember("judgements", results)
    from stimstudio.gui.judgement.analysis import JudgementAnalysisDialog

    dlg = JudgementAnalysisDialog(window)
    seen.clear()
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake))
    monkeypatch.setattr(dlg, "set_files", lambda files: None)
    dlg.open_files_dialog()
    assert seen == [str(results.parent)]
    dlg.close()


def test_saving_results_says_done_with_an_open_folder_button(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from tests.gui.helpers import set_patches
    from tests.gui.test_results_inspect import _run

    set_patches(window)
    page = _run(window, qtbot)
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url)))
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path))
    )
    page.save_results()
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=20000)
    assert "metrics.json" in window.notice.text.text()
    assert (tmp_path / "metrics.json").is_file()
    assert window.notice.button.text() == "Open folder"
    window.notice.button.click()
    assert [u.toLocalFile() for u in opened] == [str(tmp_path)]


def test_export_finished_says_so_with_open_folder(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from stimstudio.core.export import ExportSettings
    from stimstudio.core.interpolate import Continuum
    from stimstudio.gui.export_dialog import run_export
    from tests.gui.test_anchors_interpolate import _seed_anchors

    _seed_anchors(window, (7, 8))
    anchors = list(window.project.anchors.values())[:2]
    out = tmp_path / "exp"
    task = run_export(
        window.ctx,
        Continuum(anchors, 3, False, "lerp", "latent"),
        out,
        ExportSettings(preview=None),
        "c",
    )
    qtbot.waitUntil(task.isFinished, timeout=60000)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=5000)
    assert "Exported 3 frames" in window.notice.text.text()
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url)))
    window.notice.button.click()
    assert [u.toLocalFile() for u in opened] == [str(out)]
