"""A design made in the app, saved, exports headless (`stimstudio export --project`) with the
very frames the app's own Export writes for the same settings (issue 17)."""

from __future__ import annotations

import json
import shutil

from PySide6.QtWidgets import QFileDialog

from stimstudio.cli.main import main
from stimstudio.core.export import ExportSettings
from stimstudio.gui.panels.interpolate import key_text
from tests.test_project import V1, _stored_state


def test_app_and_cli_export_the_same_frames(
    window, errors, qtbot, tmp_path, tiny_weights, capsys, monkeypatch
):
    opened = tmp_path / "design.stimproj"
    shutil.copy(V1, opened)  # a file the app wrote before core.project
    assert window.open_project(opened)
    page = window.pages["interpolate"]
    assert page.continuum_list.count() == 3
    # its computed frames, saved under the old key `path_frames`, open (issue 40)
    assert window.project.continuum_frames["images"].shape == (7, 32, 32)
    page.spacing.setCurrentText("perceptual")  # a change made in the app, then saved
    qtbot.waitUntil(
        lambda: (
            (pf := window.project.continuum_frames) is not None and pf["key"] == key_text(page._key)
        ),
        timeout=60000,
    )
    saved = tmp_path / "saved.stimproj"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(saved), ""))
    )
    assert window.save_project_as() and saved.is_file()  # File > Save As…
    state = _stored_state(saved)  # the frames are saved under their new key only
    assert "path_frames" not in state and state["continuum_frames"]["key"] == key_text(page._key)

    app_out = tmp_path / "app"
    task = page.export_frames(app_out, ExportSettings(preview=None), "morph")
    qtbot.waitUntil(task.isFinished, timeout=120000)
    qtbot.waitUntil(lambda: task.export_state["result"] is not None, timeout=5000)

    cli_out = tmp_path / "cli"
    compute = window.compute
    rc = main(
        [
            *("export", "--project", str(saved), "--out", str(cli_out), "--id", "morph"),
            *("--weights", tiny_weights, "--device", compute.device.type),
            *("--precision", compute.precision, "--preview", "none", "--quiet"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    app_doc = json.loads((app_out / "manifest.json").read_text())
    cli_doc = json.loads((cli_out / "manifest.json").read_text())
    c = cli_doc["continuum"]
    assert (c["frames"], c["loop"], c["spacing"]) == (7, True, "perceptual")
    assert cli_doc["request_sha256"] == app_doc["request_sha256"]
    assert cli_doc["frames"] == app_doc["frames"]  # positions, distances, image and file sha256
    app_png = {p.name: p.read_bytes() for p in (app_out / "png").glob("*.png")}
    cli_png = {p.name: p.read_bytes() for p in (cli_out / "png").glob("*.png")}
    assert len(app_png) == 7 and cli_png == app_png
    assert errors == []  # no error dialog on the way
