"""The workflow pages of the main window: their names, titles, tips, and how each is made.

Pages are imported here by name, explicitly (no import by string), so every tool sees which
modules the window depends on; a page module imports only the context, never the window.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from .context import AppContext
from .panels.compose import ComposePage
from .panels.generator import GeneratorPage
from .panels.interpolate import InterpolatePage
from .panels.mask import MaskPage
from .panels.placement import PlacementPage
from .panels.view import ViewPage

PAGES = ("view", "mask", "placement", "compose", "interpolate", "generator")
# Old page names still accepted (`--page generate`): the page was called Generate before it took
# the CLI's word for the same job, `compose`.
PAGE_ALIASES = {"generate": "compose"}
PAGE_TITLES = {
    "view": "1 · View",
    "mask": "2 · Texture mask",
    "placement": "3 · Placement",
    "compose": "4 · Compose",
    "interpolate": "5 · Interpolate",
    "generator": "Generator",
}
PAGE_TIPS = {
    "view": "Look at a film, set window/level, cut the texture and the shape template (Ctrl+1)",
    "mask": "Lasso the tumor texture on the texture patch (Ctrl+2)",
    "placement": "Drag, scale and rotate the texture on the template (Ctrl+3)",
    "compose": "Render the stimulus: encoder + masked optimisation, four methods (Ctrl+4)",
    "interpolate": "Continua between anchors: scrub, play, measure the steps (Ctrl+5)",
    "generator": "Random samples by seed, truncation and per-layer style mixing (Ctrl+6)",
}


def page_name(name: str) -> str:
    """The page's name, with an old name (alias) replaced by today's."""
    return PAGE_ALIASES.get(name, name)


def make_page(name: str, ctx: AppContext) -> QWidget:
    classes = {
        "view": ViewPage,
        "mask": MaskPage,
        "placement": PlacementPage,
        "compose": ComposePage,
        "interpolate": InterpolatePage,
        "generator": GeneratorPage,
    }
    return classes[name](ctx)
