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
    from stimstudio.gui.project import Project
    from stimstudio.gui.workers import RenderQueue

    make_app()
    ctx = AppContext(Project(), Preferences(), RenderQueue())
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
