"""The Generator page's Orientation box (issue 38, item 4): the preview is shown in it, a kept
anchor records it, and a project from before it shows its samples as generated."""

from __future__ import annotations

import numpy as np

from stimstudio.core.orientation import LABELS, ORIENTATION_MODES, orient, orientation_for_seed


def _shown(page, qtbot):
    qtbot.waitUntil(lambda: page.shown_key == page.requested_key, timeout=10000)
    return page.shown_image


def test_orientation_box_turns_the_preview_and_the_kept_anchor(window, qtbot):
    from stimstudio.core.generate import sample

    window.show_page("generator")
    page = window.pages["generator"]
    box = page.orientation
    assert box.count() == len(ORIENTATION_MODES) == 9
    assert [box.itemData(i) for i in range(box.count())][0] == "random"  # the default first
    assert box.currentData() == "random" and box.currentText() == LABELS["random"]
    assert window.project.generator["orientation"] == "random"
    _, plain = sample(window.model, 0)
    np.testing.assert_array_equal(_shown(page, qtbot), orient(plain, orientation_for_seed(0)))

    box.setCurrentIndex(box.findData("mirror-turn-90"))
    assert window.project.generator["orientation"] == "mirror-turn-90"
    assert window.session.undo.undoText() == "Generator settings"
    np.testing.assert_array_equal(_shown(page, qtbot), orient(plain, "mirror-turn-90"))
    assert LABELS["mirror-turn-90"] in page.preview.title.text()

    page.keep()
    lat = list(window.project.anchors.values())[-1].latent
    assert lat.orientation == "mirror-turn-90"
    assert lat.source["orientation_mode"] == "mirror-turn-90"

    window.session.undo.undo()  # the keep
    window.session.undo.undo()  # the orientation
    assert box.currentData() == "random"


def test_a_project_from_before_shows_samples_as_generated(window, qtbot):
    from stimstudio.core.generate import sample

    page = window.pages["generator"]
    g = dict(window.project.generator)
    g.pop("orientation")
    window.session.set("generator", g, "Older project")
    assert page.orientation.currentData() == "as-generated"
    _, plain = sample(window.model, 0)
    np.testing.assert_array_equal(_shown(page, qtbot), plain)
