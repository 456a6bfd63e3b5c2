"""Placement page: the texture sits on the template as an item you drag, scale and rotate
(handles, keys or numbers), with a live stitched preview from core.compose; how it goes in
(pasted grey levels or its contrast against its own surround, with a gain) is chosen here too,
and core's warnings about the placement (brightness mismatch, compressed contrast) show here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeySequence, QShortcut, QTransform
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.defaults import CONTRAST_RANGE
from stimstudio.core.errors import StimStudioError
from stimstudio.core.insertion import Placement

from ..canvas.image_view import ImageCanvas
from ..context import AppContext
from ..widgets import hint, side_and_center
from .mask import compose_inputs

NEUTRAL = {"dx": 0.0, "dy": 0.0, "scale": 1.0, "angle": 0.0}
MODES = (
    ("paste", "Paste grey levels", "The paper's stitch: the texture's own grey levels"),
    (
        "contrast",
        "Add its contrast",
        "The lesion's difference from its own surround, added to the template (its density "
        "times the gain): a mass from a fatty film stays visible on a dense one",
    ),
    (
        "blend",
        "Blend its edge away",
        "Its structure inside the outline, the template's levels on it (a Poisson blend): no "
        "edge where the two meet; its contrast against its own surround goes with the edge",
    ),
)


def change_text(old: Placement, new: Placement, verb: str = "Move") -> str:
    """The undo entry for a placement change, named by what changed: a corner drag scales
    (and so moves the centre), a rotation handle rotates, the body moves."""
    if abs(new.scale - old.scale) > 1e-6:
        return "Scale texture"
    if abs(new.angle - old.angle) > 1e-6:
        return "Rotate texture"
    if new.mode != old.mode:
        return "Placement mode"
    if abs(new.contrast - old.contrast) > 1e-6:
        return "Contrast gain"
    return f"{verb} texture"


class PlacementPage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        self._extent = 1.0
        self._syncing = False

        self.canvas = ImageCanvas(histogram=False, levels=(-1.0, 1.0))
        pen = pg.mkPen("#4aa3df", width=2)
        self.handle = pg.ROI([0, 0], [10, 10], pen=pen, movable=True, rotatable=True)
        self.handle.addRotateHandle([1, 0], [0.5, 0.5])
        self.handle.addScaleHandle([1, 1], [0.5, 0.5], lockAspect=True)
        self.handle.addScaleHandle([0, 0], [0.5, 0.5], lockAspect=True)
        self.handle.setZValue(20)
        self.handle.setToolTip("Drag to move; corner handles scale; the round handle rotates")
        self.canvas.vb.addItem(self.handle)
        self.contour = pg.IsocurveItem(level=0.5, pen=pg.mkPen("#ff6a5a", width=1))
        self.contour.setZValue(15)
        self.canvas.vb.addItem(self.contour)
        self.handle.sigRegionChanged.connect(self._handle_moving)
        self.handle.sigRegionChangeFinished.connect(self._handle_done)

        self.placeholder = QLabel("")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #ff8a7a;")
        self.problem.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setObjectName("placementWarning")
        self.warning.setStyleSheet("color: #e5c07b;")
        self.warning.setWordWrap(True)
        self.warning.hide()

        box = QGroupBox("Placement")
        form = QFormLayout(box)
        self.spins = {}
        for key, label, lo, hi, step, suffix, tip in (
            ("dx", "Move x", -512, 512, 1, " px", "Right of the template centre (← →)"),
            ("dy", "Move y", -512, 512, 1, " px", "Below the template centre (↑ ↓)"),
            ("scale", "Scale", 0.05, 20, 0.05, " ×", "Size of the texture (+ / −)"),
            ("angle", "Rotate", -360, 360, 5, " °", "Counter-clockwise rotation ([ / ])"),
        ):
            sp = QDoubleSpinBox()
            sp.setRange(lo, hi)
            sp.setSingleStep(step)
            sp.setDecimals(2 if key == "scale" else 1)
            sp.setSuffix(suffix)
            sp.setToolTip(tip)
            sp.valueChanged.connect(self._spin_changed)
            form.addRow(label, sp)
            self.spins[key] = sp
        reset = QPushButton("Reset placement  (R)")
        reset.setToolTip("Back to the centre, no scaling, no rotation (R)")
        reset.clicked.connect(self.reset)
        form.addRow(reset)
        self.mode = QComboBox()
        for key, label, tip in MODES:
            self.mode.addItem(label, key)
            self.mode.setItemData(self.mode.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.mode.setToolTip(
            "How the texture goes in: its grey levels pasted (the paper), its contrast "
            "against its own surround added to the template, or blended so that no edge is left"
        )
        self.mode.currentIndexChanged.connect(self._mode_changed)
        form.addRow("Insert", self.mode)
        self.contrast = QDoubleSpinBox()
        self.contrast.setRange(*CONTRAST_RANGE)
        self.contrast.setSingleStep(0.1)
        self.contrast.setDecimals(2)
        self.contrast.setSuffix(" ×")
        self.contrast.setToolTip(
            "Contrast gain of the inserted lesion: 1 = its own contrast against its surround, "
            "0 = nothing added"
        )
        self.contrast.valueChanged.connect(self._mode_changed)
        form.addRow("Contrast", self.contrast)
        self.show_outline = QCheckBox("Show mask outline")
        self.show_outline.setChecked(True)
        self.show_outline.toggled.connect(self.contour.setVisible)
        form.addRow(self.show_outline)
        nxt = QPushButton("Compose the stimulus ▸")
        nxt.setObjectName("primary")
        nxt.setToolTip("Go to page 4 (Ctrl+4)")
        nxt.clicked.connect(lambda: ctx.show_page("compose"))

        side = QVBoxLayout()
        side.addWidget(box)
        side.addWidget(self.problem)
        side.addWidget(self.warning)
        side.addWidget(
            hint(
                "The preview is the stitch (the first of the compose methods), made in the "
                "chosen way: pasted, or by contrast. Keys: arrows "
                "move (Shift: 5 px), + / − scale, [ / ] rotate (Shift: 15°), R resets."
            )
        )
        side.addStretch(1)
        side.addWidget(nxt)
        side_and_center(self, side, self.canvas, self.placeholder)

        keys = (
            ("Left", lambda: self.nudge(dx=-1)),
            ("Right", lambda: self.nudge(dx=1)),
            ("Up", lambda: self.nudge(dy=-1)),
            ("Down", lambda: self.nudge(dy=1)),
            ("Shift+Left", lambda: self.nudge(dx=-5)),
            ("Shift+Right", lambda: self.nudge(dx=5)),
            ("Shift+Up", lambda: self.nudge(dy=-5)),
            ("Shift+Down", lambda: self.nudge(dy=5)),
            ("+", lambda: self.nudge(scale=1.05)),
            ("=", lambda: self.nudge(scale=1.05)),
            ("-", lambda: self.nudge(scale=1 / 1.05)),
            ("]", lambda: self.nudge(angle=-5)),
            ("[", lambda: self.nudge(angle=5)),
            ("Shift+]", lambda: self.nudge(angle=-15)),
            ("Shift+[", lambda: self.nudge(angle=15)),
            ("R", self.reset),
            ("F", self.canvas.fit),
        )
        for key, slot in keys:
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

        self.session.changed.connect(self._on_changed)
        self.session.reset.connect(self.refresh)
        self.refresh()

    # -- preview -----------------------------------------------------------------------------

    def inputs(self):
        """(texture, template, core Mask) or a sentence saying what is missing."""
        return compose_inputs(self.project)

    def _on_changed(self, key: str) -> None:
        if key in ("texture", "template", "mask", "placement"):
            self.refresh()

    def refresh(self) -> None:
        got = self.inputs()
        ok = not isinstance(got, str)
        self.canvas.setVisible(ok)
        self.placeholder.setVisible(not ok)
        self.handle.setVisible(ok)
        if not ok:
            self.placeholder.setText(got)
            self.problem.setText("")
            self._show_warnings([])
            return
        tex, tpl, mask = got
        ys, xs = np.nonzero(mask.binary)
        self._extent = float(max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
        reset = self.canvas.image_shape() != tpl.shape
        pl = self.project.placement
        self._sync_controls(pl, tpl.shape[0])
        self._render(pl, tex, tpl, mask, reset)

    def _render(self, placement, tex=None, tpl=None, mask=None, reset=False) -> None:
        from stimstudio.core.compose import insert, stitch

        if tex is None:
            got = self.inputs()
            if isinstance(got, str):
                return
            tex, tpl, mask = got
        try:
            ins = insert(tpl, tex, mask, placement)
        except StimStudioError as exc:
            self.problem.setText(str(exc))
            return
        self.problem.setText("")
        self._show_warnings(ins.warnings)
        self.canvas.set_image(
            stitch(tpl, ins.source, ins.soft), levels=(-1.0, 1.0), reset_view=reset
        )
        self.contour.setData(ins.soft)

    def _show_warnings(self, warnings: list[str]) -> None:
        text = "\n".join(f"⚠ {w}" for w in warnings)
        if text != self.warning.text():
            self.warning.setText(text)
        self.warning.setVisible(bool(text))

    # -- handle <-> placement ----------------------------------------------------------------

    def _sync_controls(self, pl: Placement, R: int) -> None:
        self._syncing = True
        for k, sp in self.spins.items():
            sp.setValue(float(getattr(pl, k)))
        self.mode.setCurrentIndex(max(0, self.mode.findData(pl.mode)))
        self.contrast.setValue(float(pl.contrast))
        self.contrast.setEnabled(pl.mode == "contrast")
        side = self._extent * float(pl.scale)
        theta = -float(pl.angle)  # core: counter-clockwise; Qt on a y-down view: clockwise
        centre = QPointF(R / 2 + float(pl.dx), R / 2 + float(pl.dy))
        off = QTransform().rotate(theta).map(QPointF(side / 2, side / 2))
        self.handle.setSize([side, side], update=False, finish=False)
        self.handle.setAngle(theta, update=False, finish=False)
        self.handle.setPos(centre - off, update=True, finish=False)
        self._syncing = False

    def _handle_placement(self) -> Placement:
        side = self.handle.size().x()
        centre = self.handle.mapToParent(QPointF(side / 2, side / 2))
        R = self.canvas.image_shape()[0]
        return replace(
            self.project.placement,  # the mode and gain, as they are
            dx=round(centre.x() - R / 2, 2),
            dy=round(centre.y() - R / 2, 2),
            scale=round(side / self._extent, 4),
            angle=round(-self.handle.angle(), 2),
        )

    def _handle_moving(self) -> None:
        if not self._syncing and self.canvas.image_shape():
            self._render(self._handle_placement())

    def _handle_done(self) -> None:
        if not self._syncing and self.canvas.image_shape():
            pl = self._handle_placement()
            self.set_placement(pl, change_text(self.project.placement, pl))

    def _spin_changed(self) -> None:
        if self._syncing:
            return
        spins = {k: float(sp.value()) for k, sp in self.spins.items()}
        pl = replace(self.project.placement, **spins)
        self.set_placement(pl, change_text(self.project.placement, pl), merge="placement-spin")

    def _mode_changed(self) -> None:
        mode = self.mode.currentData()
        self.contrast.setEnabled(mode == "contrast")
        if self._syncing:
            return
        old = self.project.placement
        pl = replace(old, mode=str(mode), contrast=float(self.contrast.value()))
        merge = None if mode != old.mode else "placement-contrast"
        self.set_placement(pl, change_text(old, pl), merge=merge)  # a gain's steps merge

    def set_placement(self, pl: Placement, text: str, merge: str | None = None) -> None:
        """Store a placement (one undo step, none when nothing changed)."""
        new = replace(pl, **{k: float(getattr(pl, k)) for k in (*NEUTRAL, "contrast")})
        if new != self.project.placement:
            self.session.set("placement", new, text, merge)

    def nudge(self, dx=0.0, dy=0.0, scale=1.0, angle=0.0) -> None:
        if isinstance(self.inputs(), str):
            return
        old = self.project.placement
        pl = replace(
            old,
            dx=old.dx + dx,
            dy=old.dy + dy,
            scale=float(np.clip(old.scale * scale, 0.05, 20)),
            angle=(old.angle + angle + 180) % 360 - 180,
        )
        self.set_placement(
            pl, change_text(self.project.placement, pl, "Nudge"), merge="placement-keys"
        )

    def reset(self) -> None:
        """Back to the centre, no scaling, no rotation; the placement mode and gain stay."""
        self.set_placement(replace(self.project.placement, **NEUTRAL), "Reset placement")
