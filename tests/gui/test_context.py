"""The application context: pages and panels depend on it, never on the main window (issue 17).

A page built around a bare `AppContext` works without a window, and what it asks of the app
(another page, Settings) arrives as the context's requests."""

from __future__ import annotations

import ast
from pathlib import Path

from PySide6.QtWidgets import QPushButton

import stimstudio.gui.panels as panels


def test_no_panel_imports_the_main_window():
    for path in Path(panels.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "main_window" not in (node.module or ""), path.name
            if isinstance(node, ast.Import):
                assert not any("main_window" in a.name for a in node.names), path.name


def test_a_page_works_from_a_context_without_a_window(qtbot):
    from stimstudio.gui.app import make_app
    from stimstudio.gui.context import AppContext
    from stimstudio.gui.panels.compose import ComposePage
    from stimstudio.gui.panels.placement import PlacementPage
    from stimstudio.gui.prefs import Preferences
    from stimstudio.gui.project import ProjectSession
    from stimstudio.gui.workers import RenderQueue

    make_app()
    ctx = AppContext(ProjectSession(), Preferences(), RenderQueue())
    asked = []
    ctx.page_requested.connect(asked.append)
    ctx.settings_requested.connect(lambda: asked.append("settings"))
    compose, placement = ComposePage(ctx), PlacementPage(ctx)
    for page in (compose, placement):
        qtbot.addWidget(page)

    def button(page, text):
        return next(b for b in page.findChildren(QPushButton) if b.text() == text)

    button(placement, "Compose the stimulus ▸").click()
    button(compose, "Settings…").click()
    assert asked == ["compose", "settings"]
    assert not compose.btn_run.isEnabled()  # no model in the context yet
    assert compose.status.text().startswith("Not ready")


def test_an_anchor_kept_with_optimised_noise_keeps_its_maps(qtbot, tmp_path):
    """An inversion with optimised noise renders from w+ and its maps: the anchor, the saved
    project and the core Anchor built from it all carry the maps (else it renders otherwise)."""
    import numpy as np

    from stimstudio.core.project import load_project
    from stimstudio.gui.app import make_app
    from stimstudio.gui.context import AppContext
    from stimstudio.gui.prefs import Preferences
    from stimstudio.gui.project import ProjectSession
    from stimstudio.gui.workers import RenderQueue

    make_app()
    ctx = AppContext(ProjectSession(), Preferences(), RenderQueue())
    maps = [np.full((4, 4), 0.5, np.float32), np.full((8, 8), -0.5, np.float32)]
    wplus = np.zeros((10, 32), np.float32)
    aid = ctx.add_anchor("fitted", wplus, {"kind": "inversion"}, None, "sha", noise=maps)
    core = ctx.project.anchor(aid)
    assert [m.tolist() for m in core.latent.noise] == [m.tolist() for m in maps]
    plain = ctx.add_anchor("plain", wplus, {}, None, "sha")
    assert ctx.project.anchor(plain).latent.noise is None
    ctx.session.save(tmp_path / "p.stimproj")
    saved = load_project(tmp_path / "p.stimproj")
    kept = [a for a in saved.anchors.values() if a.name == "fitted"][0]
    assert [m.tolist() for m in kept.latent.noise] == [m.tolist() for m in maps]


def test_the_session_is_the_undo_stack_over_core_project(qtbot):
    """Issue 40: the app's project is core's live `Project`; the session pushes its edits on
    the undo stack and relays its events as Qt signals (no state of its own)."""
    from stimstudio.core.insertion import Placement
    from stimstudio.core.project import Project
    from stimstudio.gui.app import make_app
    from stimstudio.gui.project import ProjectSession

    make_app()
    session = ProjectSession()
    model = session.project
    assert isinstance(model, Project) and not hasattr(session, "state")
    heard, resets = [], []
    session.changed.connect(heard.append)
    session.reset.connect(lambda: resets.append(True))
    before = model.placement
    session.set("placement", Placement(dx=4.0), "Move texture")
    model.update({"library": ["a.pgm"]})  # a script editing the model: the app hears it too
    assert heard == ["placement", "library"] and session.undo.count() == 1
    session.undo.undo()
    assert model.placement is before and session.undo.undoText() == ""
    session.set("current", "a.pgm", "Show image")  # a view setting: no undo step, but unsaved
    assert session.undo.count() == 1 and session.dirty
    session.replace_project(Project(library=["b.pgm"]), None)
    assert session.project is model and model.library == ["b.pgm"] and resets == [True]
    assert not session.dirty and session.undo.count() == 0
