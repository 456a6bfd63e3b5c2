"""The computed frames of a continuum: the record the project keeps (`continuum_frames`), and
the filmstrip and step-distance plot that show it on the Interpolate page.

Computing the frames (even spacing) renders every frame once; the record keeps their positions,
display images and the distances between neighbours, under the key of the continuum settings it
was made for, so a saved project shows them again without rendering.
"""

from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from ..widgets import display_uint8, image_icon

FILM_THUMB = 56


def key_text(key) -> str:
    """A continuum key as text: it survives the project file (tuples come back as lists)."""
    return json.dumps(key)


def frames_record(pf, key) -> dict:
    """core.interpolate.render_continuum's frames as project data (`continuum_frames`) for
    `key`.

    `wplus` and `float_images` are for the render cache and are taken out before it is kept."""
    return {
        "key": key_text(key),
        "positions": np.array([f.position for f in pf.frames]),
        "distances": np.asarray(pf.distances, np.float64),
        "metric": pf.metric,
        "spacing": pf.spacing,
        "cv": float(pf.cv),
        "images": np.stack([display_uint8(f.image) for f in pf.frames]),
        "wplus": np.stack([f.wplus for f in pf.frames]),
        "float_images": [f.image for f in pf.frames],
    }


class FrameStrip:
    """The filmstrip (click a frame to show it) and the bar plot of the step distances, with a
    cursor at the frame on screen. Two widgets, placed by the page one above the other."""

    def __init__(self, on_clicked):
        self.film = QListWidget()
        self.film.setViewMode(QListView.ViewMode.IconMode)
        self.film.setFlow(QListView.Flow.LeftToRight)
        self.film.setWrapping(False)
        self.film.setMovement(QListView.Movement.Static)
        self.film.setIconSize(QSize(FILM_THUMB, FILM_THUMB))
        self.film.setFixedHeight(FILM_THUMB + 34)
        self.film.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.film.setToolTip("Filmstrip: click a frame to show it")
        self.film.currentRowChanged.connect(on_clicked)

        self.dist_plot = pg.PlotWidget()
        self.dist_plot.setBackground("#15171a")
        self.dist_plot.setMouseEnabled(x=False, y=False)
        self.dist_plot.setLabel("bottom", "step (frame i-1 → i)")
        self.dist_plot.setLabel("left", "distance")
        self.dist_plot.setFixedHeight(150)
        self.dist_plot.setToolTip(
            "Distance between consecutive frames; equal bars = equal visual steps"
        )
        self.bars = None
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#4aa3df", width=1))
        self.dist_plot.addItem(self.cursor)

    def show(self, rec: dict | None, current: int) -> None:
        """The frames of `rec` (None: none computed), frame `current` selected."""
        self.film.blockSignals(True)
        self.film.clear()
        if self.bars is not None:
            self.dist_plot.removeItem(self.bars)
            self.bars = None
        if rec is None:  # none yet (or computing): an empty plot, not the cursor alone
            self.film.blockSignals(False)
            self.dist_plot.setTitle("")
            self.cursor.hide()
            self.dist_plot.setXRange(0, 1, padding=0)
            self.dist_plot.setYRange(0, 1, padding=0)
            return
        for i, img in enumerate(rec["images"]):
            # numbered from 0, as the exported files are
            self.film.addItem(QListWidgetItem(image_icon(img, FILM_THUMB), str(i)))
        self.film.setCurrentRow(current)
        self.film.blockSignals(False)
        d = np.asarray(rec["distances"])
        self.bars = pg.BarGraphItem(
            x=np.arange(1, len(d) + 1), height=d, width=0.8, brush="#2f7fbf", pen=None
        )
        self.dist_plot.addItem(self.bars)
        self.cursor.show()
        # the frames' own range: the cursor line alone made autorange run -400..400
        self.dist_plot.setXRange(0.5, max(len(d), 1) + 0.5, padding=0)
        top = float(d.max()) if len(d) and np.isfinite(d).all() and d.max() > 0 else 1.0
        self.dist_plot.setYRange(0, top * 1.1, padding=0)
        self.dist_plot.setTitle(
            f"step distances ({rec['metric']}) · mean {d.mean():.3g} · CV {rec['cv']:.2f}",
            color="#aab3bd",
            size="9pt",
        )

    def select(self, i: int) -> None:
        """Frame i is on screen: the cursor there, its thumbnail selected."""
        self.cursor.setPos(i)
        if self.film.count() > i:
            self.film.blockSignals(True)
            self.film.setCurrentRow(i)
            self.film.blockSignals(False)
