"""Interpolate page: a continuum through anchors (A→B, A→B→C→A), frame count, interpolation and
spacing; a slider that scrubs the continuum live through the coalescing render worker, play/pause,
a filmstrip, and the per-step distances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..context import AppContext
from ..errors import show_error
from ..widgets import ImageTile, icon, image_icon, scroll_column
from .continuum_frames import FrameStrip, frames_record, key_text

CHANNEL = "continuum"


class InterpolatePage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        self._continuum = None  # the core Continuum of the current settings
        self._key = None
        self._positions = None
        self._compute_task = None
        self._syncing = False
        self.shown_key = None  # the render key of the frame on screen

        # -- continuum settings
        box = QGroupBox("Continuum")
        form = QFormLayout(box)
        self.continuum_list = QListWidget()
        self.continuum_list.setIconSize(QSize(40, 40))
        self.continuum_list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.continuum_list.setToolTip("The anchors in continuum order: drag to reorder")
        self.continuum_list.model().rowsMoved.connect(self._reordered)
        self.continuum_list.setMinimumHeight(130)
        self.continuum_list.setWordWrap(True)  # long anchor names wrap instead of being cut
        self.continuum_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        add = QPushButton("Add selected")
        add.setToolTip("Append the anchors selected in the Anchors panel")
        add.clicked.connect(self.add_selected)
        rem = QPushButton("Remove")
        rem.setToolTip("Take the selected anchor out of the continuum")
        rem.clicked.connect(self.remove_selected)
        brow = QHBoxLayout()
        brow.addWidget(add)
        brow.addWidget(rem)
        self.frames = QSpinBox()
        self.frames.setRange(2, 2000)
        self.frames.setToolTip("Number of frames on the whole continuum")
        self.loop = QCheckBox("Loop back to the first anchor")
        self.loop.setToolTip("A→B→C→A: the last frame leads back to the first")
        self.method = QComboBox()
        self.method.addItems(["lerp", "slerp"])
        self.method.setToolTip("lerp: straight lines in W+ (the paper); slerp: along the sphere")
        self.spacing = QComboBox()
        self.spacing.addItems(["latent", "perceptual", "pixel"])
        self.spacing.setToolTip(
            "latent: equal steps of the code (the paper);\nperceptual: equal steps in the "
            "feature space, so frames differ by equal visual amounts;\npixel: equal steps in "
            "pixel distance"
        )
        form.addRow(self.continuum_list)
        form.addRow(brow)
        form.addRow("Frames", self.frames)
        form.addRow(self.loop)
        form.addRow("Interpolation", self.method)
        form.addRow("Spacing", self.spacing)
        for w in (self.frames, self.loop, self.method, self.spacing):
            sig = getattr(w, "valueChanged", None) or getattr(w, "toggled", None)
            if isinstance(w, QComboBox):
                sig = w.currentTextChanged
            sig.connect(self._settings_changed)
        self.compute_label = QLabel("")
        self.compute_label.setObjectName("hint")
        self.compute_label.setWordWrap(True)
        # Spacing progress: renders done of at most N, time left, and Cancel (issue 16).
        self.compute_bar = QProgressBar()
        self.compute_bar.setTextVisible(False)
        self.compute_bar.hide()
        self.btn_cancel_compute = QPushButton("Cancel")
        self.btn_cancel_compute.setToolTip("Stop computing the spacing (equal latent steps stay)")
        self.btn_cancel_compute.clicked.connect(self.cancel_compute)
        self.btn_cancel_compute.hide()
        self.btn_export = QPushButton(icon("export"), "Export frames…")
        self.btn_export.setToolTip(
            "Write every frame (PNG/TIFF/DICOM), a preview, a PsychoPy conditions file and a\n"
            "manifest that regenerates the frames bit-identically"
        )
        self.btn_export.clicked.connect(self.export_dialog)
        keep = QPushButton(icon("anchor"), "Keep frame as anchor")
        keep.setToolTip("Add the frame on screen to the anchors (K)")
        keep.clicked.connect(self.keep_frame)

        side = QVBoxLayout()
        side.addWidget(box)
        side.addWidget(self.compute_label)
        side.addStretch(1)
        column = QWidget()
        column.setLayout(side)
        # the progress, Cancel and the actions stay below the scrolling settings: with them
        # all in it, a 720-px screen scrolled "Export frames…" half out of sight
        sidew = QWidget()
        sl = QVBoxLayout(sidew)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(scroll_column(column, 262), 1)
        sl.addWidget(self.compute_bar)
        sl.addWidget(self.btn_cancel_compute)
        sl.addWidget(keep)
        sl.addWidget(self.btn_export)
        sidew.setFixedWidth(262 + 12)

        # -- frame view and transport
        self.frame_view = ImageTile("Frame", 140)
        self.frame_view.setToolTip("The stimulus at the slider's position")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub along the continuum (← / → step one frame)")
        self.slider.valueChanged.connect(self._slider_moved)
        self.btn_play = QPushButton(icon("play"), "Play")
        self.btn_play.setCheckable(True)
        self.btn_play.setToolTip("Play / pause (Space)")
        self.btn_play.toggled.connect(self._play_toggled)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setSuffix(" fps")
        self.fps.setToolTip("Playback speed in frames per second")
        self.fps.valueChanged.connect(self._fps_changed)
        self.frame_label = QLabel("")
        self.frame_label.setObjectName("stat")
        # a long line (anchor names) wraps at the edge, never widens the window past 1280 px
        self.frame_label.setWordWrap(True)
        self.frame_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.frame_label.setMinimumWidth(1)
        trow = QHBoxLayout()
        trow.addWidget(self.btn_play)
        trow.addWidget(self.slider, 1)
        trow.addWidget(self.fps)
        self.frame_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.strip = FrameStrip(self._film_clicked)  # filmstrip and step distances
        self.film, self.dist_plot = self.strip.film, self.strip.dist_plot

        self.placeholder = QLabel(
            "A continuum needs two or more anchors. Keep results or add seeds in the Anchors panel, "
            "select them and press Make continuum."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

        center = QVBoxLayout()
        center.addWidget(self.placeholder)
        center.addWidget(self.frame_view, 1)
        center.addWidget(self.frame_label)
        center.addLayout(trow)
        center.addWidget(self.film)
        center.addWidget(self.dist_plot)
        lay = QHBoxLayout(self)
        lay.addWidget(sidew)
        lay.addLayout(center, 1)

        for key, slot in (
            ("Space", lambda: self.btn_play.toggle()),
            ("Left", lambda: self.step(-1)),
            ("Right", lambda: self.step(1)),
            ("K", self.keep_frame),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(lambda: self.step(1, wrap=True))
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(350)
        self._debounce.timeout.connect(self.compute_frames)

        ctx.render_worker.rendered.connect(self._rendered)
        ctx.render_worker.failed.connect(self._render_failed)
        ctx.model_changed.connect(lambda _m: self.refresh())
        self.session.changed.connect(self._on_changed)
        self.session.reset.connect(self.refresh)
        self.refresh()

    # -- project -> screen -------------------------------------------------------------------

    def busy(self) -> bool:
        return self._compute_task is not None or self._debounce.isActive()

    def _on_changed(self, key: str) -> None:
        if key in ("continuum", "fps", "anchors"):  # thumbnails change with the anchors
            self.refresh()
        elif key == "continuum_frames":
            self._show_frames()

    def continuum_key(self):
        c = self.project.continuum
        sha = self.ctx.model.sha256 if self.ctx.model is not None else None
        ids = tuple(self.project.continuum_ids())
        return (ids, int(c.frames), bool(c.loop), c.method, c.spacing, sha)

    def build_continuum(self):
        """The project's Continuum (a copy that keeps its own spacing cache), checked, or a
        sentence saying what is missing."""
        from dataclasses import replace

        from stimstudio.core.errors import StimStudioError

        if len(self.project.continuum.anchors) < 2:
            return self.placeholder.text()
        try:
            continuum = replace(self.project.continuum)
            continuum.validate()
            if self.ctx.model is not None:
                for a in continuum.anchors:
                    a.latent.check_model(self.ctx.model, allow_other_model=True)
        except StimStudioError as exc:
            return str(exc)
        return continuum

    def refresh(self) -> None:
        m = self.project
        c = m.continuum
        self._syncing = True
        self.frames.setValue(int(c.frames))
        self.loop.setChecked(bool(c.loop))
        self.method.setCurrentText(c.method)
        self.spacing.setCurrentText(c.spacing)
        self.fps.setValue(int(m.fps))
        self.continuum_list.clear()
        for aid in m.continuum_ids():
            it = QListWidgetItem(m.anchors[aid].name)
            it.setData(Qt.ItemDataRole.UserRole, aid)
            if m.anchor_images.get(aid) is not None:
                it.setIcon(image_icon(m.anchor_images[aid], 40))
            self.continuum_list.addItem(it)
        self._syncing = False

        built = self.build_continuum()
        ok = not isinstance(built, str)
        for w in (
            self.frame_view,
            self.slider,
            self.btn_play,
            self.film,
            self.dist_plot,
            self.fps,
            self.frame_label,
        ):
            w.setVisible(ok)
        self.placeholder.setVisible(not ok)
        self.btn_export.setEnabled(ok and self.ctx.model is not None)
        if not ok:
            self._continuum, self._key, self._positions = None, None, None
            if built != self.placeholder.text():
                self.placeholder.setText(built)
            self.btn_play.setChecked(False)
            return
        key = self.continuum_key()
        changed = key != self._key
        if self._continuum is not None and built.spacing_result is None:
            built.spacing_result = self._continuum.spacing_result  # export reuses it if it matches
        self._continuum, self._key = built, key
        self.slider.blockSignals(True)
        self.slider.setRange(0, built.frames - 1)
        self.slider.blockSignals(False)
        if changed:
            self._positions = None
            self._show_frames()
            pf = self.project.continuum_frames
            have = pf is not None and pf["key"] == key_text(key)
            if self.ctx.model is not None and not have:
                self._debounce.start()
        self._slider_moved(self.slider.value())

    def positions(self) -> np.ndarray:
        """Frame positions: computed even spacing when ready, otherwise equal latent steps."""
        from stimstudio.core.interpolate import uniform_positions

        if self._positions is not None:
            return self._positions
        return uniform_positions(self._continuum)

    def _show_frames(self) -> None:
        rec = self.project.continuum_frames
        if rec is None or rec["key"] != key_text(self._key):
            self._positions = None
            self.strip.show(None, 0)
            return
        self._positions = np.asarray(rec["positions"], np.float64)
        self.strip.show(rec, self.slider.value())
        self.compute_label.setText(
            f"{len(rec['images'])} frames, {rec['spacing']} spacing; distances measured "
            f"{rec['metric']}ly. CV 0 = perfectly even steps."
        )

    # -- screen -> project -------------------------------------------------------------------

    def _settings_changed(self, *_) -> None:
        if self._syncing:
            return
        c = self.project.continuum
        new = {
            "frames": self.frames.value(),
            "loop": self.loop.isChecked(),
            "method": self.method.currentText(),
            "spacing": self.spacing.currentText(),
        }
        if any(getattr(c, k) != v for k, v in new.items()):
            changes = self.project.continuum_changes(**new)
            self.session.set_many(changes, "Continuum settings", merge="continuum-settings")

    def _fps_changed(self, v: int) -> None:
        if self._syncing:
            return
        self.play_timer.setInterval(int(1000 / v))
        if self.project.fps != v:
            self.session.set("fps", v, "Playback speed", merge="fps")

    def _reordered(self, *_) -> None:
        ids = [
            self.continuum_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.continuum_list.count())
        ]
        if ids != self.project.continuum_ids():
            changes = self.project.continuum_changes(ids)
            self.session.set_many(changes, "Reorder continuum")

    def add_selected(self) -> None:
        ids = self.ctx.selected_anchor_ids()
        if not ids:
            show_error(self, "Select anchors in the Anchors panel first.")
            return
        ids = [*self.project.continuum_ids(), *ids]
        changes = self.project.continuum_changes(ids)
        self.session.set_many(changes, "Add anchors to continuum")

    def remove_selected(self) -> None:
        row = self.continuum_list.currentRow()
        if row < 0:
            return
        ids = [a for i, a in enumerate(self.project.continuum_ids()) if i != row]
        changes = self.project.continuum_changes(ids)
        self.session.set_many(changes, "Remove anchor from continuum")

    # -- computing frames (even spacing, filmstrip, distances) -------------------------------

    def compute_frames(self) -> None:
        if self._continuum is None or self.ctx.model is None:
            return
        if self._compute_task is not None:
            self._compute_task.cancel()
            self._debounce.start()  # try again when that one has stopped
            return
        continuum, key = self._continuum, self._key
        model, compute = self.ctx.model, self.ctx.compute

        def job():
            from stimstudio.core.interpolate import render_continuum

            from ..workers import cancel_requested, report

            pf = render_continuum(
                continuum,
                model,
                compute,
                with_images=True,
                should_stop=cancel_requested,
                on_progress=report,
            )
            return None if cancel_requested() else frames_record(pf, key)

        def done(rec):
            self._compute_task = None
            self._compute_ui(False)
            if rec is None:
                self.compute_label.setText(
                    "Spacing cancelled: the frames stay at equal latent steps until it is "
                    "computed (change a setting to start again)."
                )
                return
            if rec["key"] != key_text(self._key):
                return
            for i, (img, w) in enumerate(zip(rec.pop("float_images"), rec.pop("wplus"))):
                self.ctx.render_worker.prefill((self._key, i), img, w)
            self.session.set("continuum_frames", rec, "Compute continuum")
            self._slider_moved(self.slider.value())

        def failed(msg, detail):
            self._compute_task = None
            self._compute_ui(False)
            show_error(self, msg, detail)

        def progress(rec):
            if rec.finished or not rec.total:
                return
            self.compute_bar.setRange(0, rec.total)
            self.compute_bar.setValue(min(rec.done, rec.total))
            eta = rec.eta
            left = "" if eta is None else f" · about {eta:.0f} s left"
            what = "even spacing" if spacing != "latent" else "frames"
            self.compute_label.setText(
                f"Computing {what}: {rec.done} of at most {rec.total} renders ({rec.message}){left}"
            )

        spacing = continuum.spacing
        self.compute_label.setText(
            "computing perceptually even spacing…" if spacing != "latent" else "rendering frames…"
        )
        self._compute_ui(True)
        self._compute_task = self.ctx.run_task(
            job, "Computing the continuum…", done, on_progress=progress, on_failed=failed
        )

    def _compute_ui(self, busy: bool) -> None:
        self.compute_bar.setRange(0, 0)
        self.compute_bar.setVisible(busy)
        self.btn_cancel_compute.setVisible(busy)

    def cancel_compute(self) -> None:
        """Stop computing the continuum (between render batches); the latent steps stay."""
        if self._compute_task is not None:
            self._compute_task.cancel()
            self._debounce.stop()

    # -- scrubbing ---------------------------------------------------------------------------

    def _slider_moved(self, i: int) -> None:
        if self._continuum is None:
            return
        pos = self.positions()
        i = int(np.clip(i, 0, len(pos) - 1))
        s = float(pos[i])
        n_seg = self._continuum.segments
        seg = min(int(np.floor(s)), n_seg - 1)
        names = [a.name for a in self._continuum.anchors]
        a, b = names[seg], names[(seg + 1) % len(names)]
        even = (
            ""
            if self._positions is not None or self._continuum.spacing == "latent"
            else " (even spacing pending)"
        )
        # frames count from 0, as the exported files, the contact sheet and conditions.csv do
        last = len(pos) - 1
        self.frame_label.setText(f"frame {i} of 0–{last} · {a} → {b} {s - seg:.2f}{even}")
        self.frame_view.title.setText(f"Frame {i} of 0–{last}")
        self.strip.select(i)
        pf = self.project.continuum_frames
        if self._positions is not None and pf is not None and i < len(pf["images"]):
            self.frame_view.set_image(pf["images"][i])  # the computed frame, at once
        if self.ctx.model is None:
            if self._positions is None:
                self.frame_view.clear("no model loaded")
            return
        continuum = self._continuum
        key = (
            (self._key, i)
            if self._positions is not None or continuum.spacing == "latent"
            else (
                self._key,
                "s",
                round(s, 6),
            )
        )

        model = self.ctx.model

        def job(continuum=continuum, s=s):
            from stimstudio.core.interpolate import latent_at, noise_at

            return latent_at(continuum, s), noise_at(continuum, s, model), continuum.orientation

        self.requested_key = key
        self.ctx.render_worker.request(CHANNEL, key, job)

    def _rendered(self, out: dict) -> None:
        if out["channel"] != CHANNEL or out["key"] != getattr(self, "requested_key", None):
            return
        self.shown_key = out["key"]
        self.shown_wplus = out["wplus"]
        self.shown_image = out["image"]
        self.frame_view.set_image(out["image"])
        if not out["cached"]:
            self.frame_view.caption.setText(f"rendered in {out['ms']:.0f} ms")
        else:
            self.frame_view.caption.setText("from cache")

    def _render_failed(self, channel: str, message: str, detail: str) -> None:
        if channel == CHANNEL:
            self.btn_play.setChecked(False)
            show_error(self, message, detail)

    def _film_clicked(self, row: int) -> None:
        if row >= 0:
            self.slider.setValue(row)

    def step(self, d: int, wrap: bool = False) -> None:
        if self._continuum is None:
            return
        n = self.slider.maximum() + 1
        v = self.slider.value() + d
        v = v % n if wrap else int(np.clip(v, 0, n - 1))
        self.slider.setValue(v)

    def _play_toggled(self, on: bool) -> None:
        self.btn_play.setText("Pause" if on else "Play")
        self.btn_play.setIcon(icon("pause" if on else "play"))
        if on:
            self.play_timer.start(int(1000 / self.fps.value()))
        else:
            self.play_timer.stop()

    def keep_frame(self) -> None:
        if getattr(self, "shown_key", None) is None or self._continuum is None:
            return
        i = self.slider.value()
        src = {
            "method": "path-frame",
            "path": [a.name for a in self._continuum.anchors],
            "frame": i,
            "position": float(self.positions()[i]),
        }
        noise = None
        if self.ctx.model is not None:
            from stimstudio.core.interpolate import noise_at

            noise = noise_at(self._continuum, src["position"], self.ctx.model)
        self.ctx.add_anchor(
            f"Frame {i}",
            self.shown_wplus,
            src,
            self.shown_image,
            noise=noise,
            orientation=self._continuum.orientation,  # the continuum's, as the frame is shown
        )

    # -- export ------------------------------------------------------------------------------

    def export_dialog(self) -> None:
        """The Export dialog for the whole continuum (formats, size, preview, PsychoPy file)."""
        if self._continuum is None:
            return
        from ..export_dialog import export_with_dialog

        export_with_dialog(self.ctx, self._continuum, self._continuum.frames)

    def export_frames(self, folder: Path, settings=None, continuum_id: str = "continuum", **kw):
        """Export the continuum into `folder` with `settings` (no dialog; returns the task)."""
        if self._continuum is None or not self.ctx.require_model():
            return None
        from stimstudio.core.export import ExportSettings

        from ..export_dialog import run_export

        return run_export(
            self.ctx,
            self._continuum,
            Path(folder),
            settings or ExportSettings(),
            continuum_id,
            **kw,
        )

    def shutdown(self) -> None:
        self.play_timer.stop()
        self._debounce.stop()
