"""The Film view and the search set dialog (issue 41), headless."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from films_helpers import write_films, write_lesion  # noqa: E402

from stimstudio.core.films.lesion import from_files  # noqa: E402
from stimstudio.core.readers import read_mammogram  # noqa: E402


@pytest.fixture(autouse=True)
def _app(qtbot):
    from stimstudio.gui.app import make_app

    make_app()


def test_film_view_puts_the_lesion_where_its_template_was_cut(qtbot, tmp_path):
    from stimstudio.gui.film_view import FilmView

    films = write_films(tmp_path / "films", 1)
    img, mask = write_lesion(tmp_path / "les")
    cut = {"file": "mdb001.pgm", "x": 40, "y": 60, "size": 64, "spacing_mm": [0.2, 0.2]}
    lesion = from_files(img, mask, 32, 0.4, "mass", cut)
    win = FilmView(lesion)
    qtbot.addWidget(win)
    win.show()
    assert win.original.isChecked() and not win.btn_save.isEnabled()
    with qtbot.waitSignal(win.computed, timeout=60000):
        win.set_film(str(films / "mdb001.pgm"))
    p = win.placed
    assert abs(p.centre[0] - 71.5) < 2 and abs(p.centre[1] - 91.5) < 2
    assert "resampled from 0.4 mm to the film's 0.2 mm" in win.status.text()
    assert len(win.without._overlays) == 1  # the truth outline on the film without it
    with_img = win.with_lesion.image.image
    assert not np.array_equal(with_img, win.without.image.image)
    # a click places it elsewhere
    with qtbot.waitSignal(win.computed, timeout=60000):
        win._clicked(120.0, 128.0)
    assert win.clicked.isChecked() and abs(win.placed.centre[0] - 120) < 2
    out = tmp_path / "saved.pgm"
    with qtbot.waitSignal(win.saved, timeout=60000):
        win.save(str(out))
    qtbot.waitUntil(lambda: not win.busy())
    diff = read_mammogram(out).raw != read_mammogram(films / "mdb001.pgm").raw
    ys, xs = np.nonzero(diff)
    assert abs(xs.mean() - 120) < 3 and abs(ys.mean() - 128) < 3


def _result_folder(tmp_path):
    """A saved compose result as the app writes it (optimized.png + mask.png)."""
    img, mask = write_lesion(tmp_path / "les")
    res = tmp_path / "result"
    res.mkdir()
    shutil.copy(img, res / "optimized.png")
    shutil.copy(mask, res / "mask.png")
    return res


def test_search_set_dialog_makes_a_set(qtbot, tmp_path, tiny_model):
    from stimstudio.gui.searchset_dialog import SearchSetDialog

    films = write_films(tmp_path / "films", 6)
    res = _result_folder(tmp_path)
    dlg = SearchSetDialog(model=tiny_model)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.films.setText(str(films))
    dlg.out.setText(str(tmp_path / "set"))
    dlg.count.setValue(2)
    dlg.skin.setValue(2.0)
    dlg.add_lesion(str(res))
    with qtbot.waitSignal(dlg.made, timeout=120000):
        dlg.make()
    qtbot.waitUntil(lambda: not dlg.busy())
    rows = (tmp_path / "set" / "truth.csv").read_text().splitlines()
    assert len(rows) == 5 and "4 films (2 with a lesion)" in dlg.status.text()
    spec = json.loads((tmp_path / "set.searchset.json").read_text())
    assert spec["count"] == 2 and spec["lesion"] == [{"result": str(res)}]
    assert dlg.progress.value() == dlg.progress.maximum()
    assert cv2.imread(str(tmp_path / "set" / "masks" / "film001_1.png")) is not None or any(
        (tmp_path / "set" / "masks").iterdir()
    )


def test_film_view_of_an_app_result_and_its_saved_folder(qtbot, tmp_path, tiny_model):
    from stimstudio.gui.film_view import open_for_result
    from stimstudio.gui.panels.compose_results import write_results

    films = write_films(tmp_path / "films", 1)
    img, mask = write_lesion(tmp_path / "les")
    image = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 127.5 - 1
    soft = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    cut = {"file": str(films / "mdb001.pgm"), "x": 40, "y": 60, "size": 64, "spacing_mm": [0.2] * 2}
    res = {"images": {"optimized": image}, "mask": soft, "template_cut": cut}
    res |= {"texture_file": "/x/mdb028.pgm", "metrics": {}, "settings": {}, "placement": {}}
    res |= {"perceptual": "discriminator", "seconds": 1.0}
    win = open_for_result(None, res, tiny_model)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.placed is not None, timeout=60000)
    assert win.windowTitle() == "Film view · mdb028 lesion"
    assert abs(win.placed.centre[0] - 71.5) < 2 and abs(win.placed.centre[1] - 91.5) < 2
    folder = tmp_path / "saved"
    folder.mkdir()
    write_results(res, folder)
    assert json.loads((folder / "metrics.json").read_text())["template_cut"] == cut
    assert (cv2.imread(str(folder / "mask.png"), cv2.IMREAD_GRAYSCALE) > 127).sum() == (
        soft > 0.5
    ).sum()
    qtbot.waitUntil(lambda: not win.busy())


def test_search_set_dialog_makes_10_plus_10_from_the_sample_films(qtbot, tmp_path, tiny_model):
    from stimstudio.gui.prefs import sample_files
    from stimstudio.gui.searchset_dialog import SearchSetDialog

    res = _result_folder(tmp_path)
    dlg = SearchSetDialog(model=tiny_model)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.films.setText(str(sample_files()[0].parent))
    dlg.out.setText(str(tmp_path / "set"))
    dlg.count.setValue(10)
    dlg.reuse.setChecked(True)  # three films for twenty places
    dlg.add_lesion(str(res))
    with qtbot.waitSignal(dlg.made, timeout=120000):
        dlg.make()
    qtbot.waitUntil(lambda: not dlg.busy())
    rows = (tmp_path / "set" / "truth.csv").read_text().splitlines()
    assert len(rows) == 21 and "20 films (10 with a lesion)" in dlg.status.text()
    spec = json.loads((tmp_path / "set.searchset.json").read_text())
    assert spec["reuse_films"] is True and spec["count"] == 10
