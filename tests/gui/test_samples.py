"""The shipped sample films: annotated, with their pixel spacing, as the readers see them."""

from __future__ import annotations

import pytest


def test_samples_carry_their_lesions_and_0_2_mm_spacing():
    from stimstudio.core.readers import read_mammogram
    from stimstudio.gui.prefs import sample_files

    films = {p.stem: read_mammogram(p) for p in sample_files()}
    assert set(films) == {"mdb003", "mdb028", "mdb181"}
    for name, m in films.items():
        assert m.format == "mini-MIAS", name
        assert m.spacing_mm == pytest.approx((0.2, 0.2)), name
        assert not m.notes, (name, m.notes)
    assert films["mdb003"].lesions == []
    for name, shape in (("mdb028", "circumscribed"), ("mdb181", "spiculated")):
        (les,) = films[name].lesions
        assert les.kind == "mass" and les.pathology == "malignant"
        assert les.attributes["shape"] == shape
        x0, y0, x1, y1 = les.bbox()
        h, w = films[name].pixels.shape
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (name, les.bbox())
        # the mass is bright (dense) against its surroundings: the outline sits on it
        cx, cy = (int(v) for v in les.center)
        inner = films[name].pixels[cy - 10 : cy + 10, cx - 10 : cx + 10].mean()
        assert inner > films[name].pixels.mean(), name


def test_sample_menu_titles_say_what_each_film_shows():
    from stimstudio.gui.prefs import sample_files, sample_title

    titles = [sample_title(p) for p in sample_files()]
    assert titles == [
        "mdb003 · normal tissue, no lesion",
        "mdb028 · malignant circumscribed mass",
        "mdb181 · malignant spiculated mass",
    ]
