"""View page: a film with pan/zoom, window/level, lesion outlines, and the field-of-view box
that cuts the working patches (texture and shape template) at the model's resolution."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..canvas.image_view import ImageCanvas
from ..context import AppContext
from ..widgets import ImageTile, hint, icon, scroll_column

DEFAULT_RESOLUTION = 128  # the shipped model's, used until a model is loaded
DEFAULT_MODEL_SPACING_MM = 0.4  # the training patch recipe's pixel spacing
WINDOWS = {
    "Full range": (0.0, 1.0),
    "Dense tissue": (0.45, 1.0),
    "Fatty tissue": (0.0, 0.6),
}

AUTO_WINDOW = "Auto (min–max)"


def file_window_text(opt: dict) -> str:
    """A DICOM VOI option as a preset name: 'File: SOFT (C 2047 / W 4096)'."""
    expl = str(opt.get("explanation") or "").strip()
    if opt.get("kind") == "lut":
        return f"File: {expl or 'VOI LUT'} (LUT {opt['index'] + 1})"
    what = expl or f"window {opt['index'] + 1}"
    return f"File: {what} (C {opt['center']:g} / W {opt['width']:g})"


def model_spacing_mm(model) -> float:
    card = (model.card if model is not None else None) or {}
    for section in (card, card.get("data") or {}, card.get("dataset") or {}):
        v = section.get("spacing_mm") if isinstance(section, dict) else None
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    return DEFAULT_MODEL_SPACING_MM


class ViewPage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        self.mammo = None
        self._loading = None

        self.canvas = ImageCanvas(histogram=True, levels=(0.0, 1.0))
        self.canvas.hist.setToolTip("Window/level: drag the edges or the middle of the range")
        self.roi = pg.ROI(
            [0, 0], [256, 256], pen=pg.mkPen("#4aa3df", width=2), removable=False, movable=True
        )
        self.roi.addScaleHandle([1, 1], [0, 0], lockAspect=True)
        self.roi.addScaleHandle([0, 0], [1, 1], lockAspect=True)
        self.roi.aspectLocked = True
        self.roi.setZValue(20)
        self.roi.hide()
        self.canvas.vb.addItem(self.roi)
        self.roi_label = pg.TextItem("", color="#9fd3ff", anchor=(0, 1), fill=(21, 23, 26, 190))
        self.roi_label.setZValue(21)
        self.canvas.vb.addItem(self.roi_label)
        self.roi.sigRegionChanged.connect(self._roi_moved)
        self.roi.sigRegionChangeFinished.connect(self._store_view)
        self.canvas.hist.sigLevelChangeFinished.connect(self._levels_edited)
        self._restoring = False

        self.placeholder = QLabel(
            "Open a film: File ▸ Open images (Ctrl+O), a folder (Ctrl+Shift+O), drop files "
            "here, or Help ▸ Samples."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)

        # top bar
        fit = QPushButton(icon("fit"), "Fit")
        fit.setToolTip("Fit the whole film into the view (F)")
        fit.clicked.connect(self.canvas.fit)
        self.window_combo = QComboBox()
        self.window_combo.addItems([*WINDOWS, AUTO_WINDOW])
        self.window_combo.setToolTip(
            "Window/level presets; fine-tune with the histogram. 'File:' entries are the\n"
            "windows and VOI LUTs of the DICOM header (the film is re-read with them)"
        )
        self.window_combo.activated.connect(self._window_preset)
        self.window_combo.setPlaceholderText("Custom")  # shown after a manual window change
        self.outlines = QCheckBox("Lesion outlines")
        self.outlines.setChecked(True)
        self.outlines.setToolTip("Show the data set's lesion annotations (O)")
        self.outlines.toggled.connect(self._show_lesions)
        self.info = QLabel("")
        self.info.setObjectName("stat")
        self.info.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(fit)
        top.addWidget(QLabel("Window"))
        top.addWidget(self.window_combo)
        top.addWidget(self.outlines)
        top.addStretch(1)

        self.samples_button = QPushButton("Open the sample images")
        self.samples_button.setToolTip("Three small mini-MIAS crops: two masses and normal tissue")
        self.samples_button.clicked.connect(self._open_samples)
        prow = QHBoxLayout()
        prow.addStretch(1)
        prow.addWidget(self.samples_button)
        prow.addStretch(1)
        self.empty = QWidget()
        el = QVBoxLayout(self.empty)
        el.addStretch(1)
        el.addWidget(self.placeholder)
        el.addLayout(prow)
        el.addStretch(1)
        left = QVBoxLayout()
        left.addLayout(top)
        left.addWidget(self.canvas, 1)
        left.addWidget(self.empty, 1)

        # side bar: the working patches
        box = QGroupBox("Field of view → patch")
        self.fov_box = box
        bl = QVBoxLayout(box)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(16, 8192)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Side of the box in film pixels (drag its corner handles too)")
        self.size_spin.valueChanged.connect(self._size_typed)
        self.fov_label = QLabel("")
        self.fov_label.setObjectName("hint")
        self.fov_label.setWordWrap(True)
        reset = QPushButton("Model FoV")
        reset.setObjectName("compact")
        reset.setToolTip("Set the box to the model's field of view in millimetres")
        reset.clicked.connect(self.reset_roi_size)
        self.lesion_combo = QComboBox()
        self.lesion_combo.setToolTip("Centre the box on an annotated lesion")
        self.lesion_combo.activated.connect(self._snap_to_lesion)
        # rows of two: the side column fits a 720 px high window
        srow = QHBoxLayout()
        srow.addWidget(QLabel("Size"))
        srow.addWidget(self.size_spin, 1)
        srow.addWidget(reset)
        bl.addLayout(srow)
        bl.addWidget(self.fov_label)
        lrow = QHBoxLayout()
        lrow.addWidget(QLabel("Lesion"))
        lrow.addWidget(self.lesion_combo, 1)
        self.lesion_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.lesion_combo.setMinimumContentsLength(6)
        bl.addLayout(lrow)
        self.btn_texture = QPushButton(icon("texture"), "Texture")
        self.btn_texture.setObjectName("primary")
        self.btn_texture.setProperty("compact", True)
        self.btn_texture.setToolTip("Cut the box as the texture patch: the tumor to transplant (T)")
        self.btn_texture.clicked.connect(lambda: self.cut("texture"))
        self.btn_template = QPushButton(icon("template"), "Template")
        self.btn_template.setObjectName("compact")
        self.btn_template.setToolTip("Cut the box as the shape template: where the tumor goes (M)")
        self.btn_template.clicked.connect(lambda: self.cut("template"))
        crow = QHBoxLayout()
        crow.addWidget(self.btn_texture)
        crow.addWidget(self.btn_template)
        bl.addLayout(crow)

        self.tile_texture = ImageTile("Texture", 100)
        self.tile_template = ImageTile("Template", 100)
        self.tile_texture.setToolTip("The current texture patch; click to lasso it (page 2)")
        self.tile_template.setToolTip("The current shape template; click to place (page 3)")
        self.tile_texture.clicked.connect(lambda: ctx.show_page("mask"))
        self.tile_template.clicked.connect(lambda: ctx.show_page("placement"))
        tiles = QHBoxLayout()
        tiles.addWidget(self.tile_texture)
        tiles.addWidget(self.tile_template)

        side = QVBoxLayout()
        side.addWidget(self.info)
        side.addWidget(box)
        side.addLayout(tiles, 1)
        side.addWidget(
            hint(
                "Box over a tumor: T cuts the texture; over normal tissue: M cuts the shape "
                "template. Then lasso the tumor on page 2."
            )
        )
        sidew = QWidget()
        sidew.setLayout(side)
        sidew = scroll_column(sidew, 276)

        lay = QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addWidget(sidew)

        for key, slot in (
            ("T", lambda: self.cut("texture")),
            ("M", lambda: self.cut("template")),
            ("F", self.canvas.fit),
            ("O", self.outlines.toggle),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

        self.session.changed.connect(self._on_changed)
        self.session.reset.connect(self._on_reset)
        ctx.model_changed.connect(lambda _m: self._update_fov_label())
        self._show_current()
        self._update_tiles()

    def _open_samples(self) -> None:
        from ..prefs import sample_files

        self.ctx.open_paths(sample_files())

    # -- model geometry ----------------------------------------------------------------------

    def resolution(self) -> int:
        return self.ctx.model.resolution if self.ctx.model is not None else DEFAULT_RESOLUTION

    def fov_pixels(self) -> int:
        """The model's field of view in this film's pixels (its resolution when unknown)."""
        R = self.resolution()
        if self.mammo is None or not self.mammo.spacing_mm:
            return R
        fov_mm = R * model_spacing_mm(self.ctx.model)
        return max(16, int(round(fov_mm / float(self.mammo.spacing_mm[1]))))

    def _update_fov_label(self) -> None:
        if self.mammo is None:
            self.fov_label.setText("")
            return
        R = self.resolution()
        size = int(self.roi.size().x())
        if self.mammo is not None and self.mammo.spacing_mm:
            mm = size * float(self.mammo.spacing_mm[1])
            fov = R * model_spacing_mm(self.ctx.model)
            text = f"{size} px = {mm:.1f} mm; the model sees {fov:.1f} mm at {R} px."
        else:
            text = f"{size} px (no pixel spacing in this file); resized to {R} px."
        self.fov_label.setText(text)
        self.roi_label.setText(f"{size} px → {R} px")

    # -- showing a film ----------------------------------------------------------------------

    def busy(self) -> bool:
        return self._loading is not None

    def _on_reset(self) -> None:
        self._show_current()
        self._update_tiles()

    def _on_changed(self, key: str) -> None:
        if key == "current":
            self._show_current()
        elif key in ("texture", "template"):
            self._update_tiles()

    def _show_current(self) -> None:
        path = self.project.current
        has = bool(path)
        self.canvas.setVisible(has)
        self.empty.setVisible(not has)
        self.fov_box.setEnabled(has)
        if not has:
            self.mammo = None
            self.roi.hide()
            self.info.setText("")
            self.fov_label.setText("")
            return
        if self.mammo is not None and self.mammo.source == path:
            return
        self._loading = path
        self.info.setText(f"reading {Path(path).name}…")

        def done(m):
            if self._loading == path:
                self._loading = None
            if self.project.current == path:
                self.set_mammogram(m)

        def failed(msg, detail):
            self._loading = None
            self.info.setText(f"{Path(path).name}: cannot be read")
            from ..errors import show_error

            show_error(self, msg, detail)

        self.ctx.read_mammogram_async(path, done, failed)

    def set_mammogram(self, m) -> None:
        self._restoring = True
        try:
            self._set_mammogram(m)
            self._restore_view(m)
        finally:
            self._restoring = False

    def _set_mammogram(self, m) -> None:
        self.mammo = m
        h, w = m.shape
        preview = m.preview(2048)
        self.canvas.set_image(preview, (h, w), m.pixels, levels=WINDOWS["Full range"])
        self.canvas.hist.setLevels(0.0, 1.0)
        self._fill_window_presets(m)
        self._show_lesions()
        sp = f", {m.spacing_mm[1] * 1000:.0f} µm" if m.spacing_mm else ""
        view = " ".join(v for v in (m.laterality, m.view) if v)
        self.info.setText(
            f"{Path(m.source).name}\n{w} x {h} px{sp}"
            + (f" · {view}" if view else "")
            + f"\n{len(m.lesions)} annotated lesion{'s' if len(m.lesions) != 1 else ''}"
        )
        self.lesion_combo.clear()
        self.lesion_combo.addItem("—")
        for i, les in enumerate(m.lesions):
            words = [les.kind, les.pathology or "", les.attributes.get("shape", "")]
            self.lesion_combo.addItem(f"{i + 1}: " + " ".join(x for x in words if x))
        self.lesion_combo.setEnabled(bool(m.lesions))
        size = min(self.fov_pixels(), h, w)
        self.roi.blockSignals(True)
        self.roi.setSize([size, size])
        self.roi.setPos([(w - size) / 2, (h - size) / 2])
        self.roi.blockSignals(False)
        self.roi.show()
        if m.lesions:
            self.snap_to_lesion(0)
        self._roi_moved()

    # -- window/level and the box, per film, in the project ----------------------------------

    def film_view(self, path: str | None = None) -> dict | None:
        """What the project remembers of a film's view: levels, window name, box."""
        path = path or (self.mammo.source if self.mammo is not None else None)
        return ((self.project.view or {}).get("films") or {}).get(str(path))

    def _store_view(self, *_) -> None:
        """Keep this film's window/level and box in the project (saved with it, not undone)."""
        if self._restoring or self.mammo is None or not self.mammo.source:
            return
        lv = self.canvas.current_levels()
        x, y, size = self.roi_rect()
        entry = {
            "levels": [round(lv[0], 6), round(lv[1], 6)] if lv else None,
            "window": self.window_combo.currentText() or "Custom",
            "box": [x, y, size],
        }
        view = dict(self.project.view or {})
        films = dict(view.get("films") or {})
        if films.get(self.mammo.source) == entry:
            return
        films[self.mammo.source] = entry
        view["films"] = films
        self.session.set("view", view, "View")

    def _restore_view(self, m) -> None:
        saved = self.film_view(m.source)
        if not saved:
            return
        if saved.get("levels"):
            lo, hi = (float(v) for v in saved["levels"])
            self.canvas.set_levels(lo, hi)
            i = self.window_combo.findText(saved.get("window") or "")
            self.window_combo.setCurrentIndex(i)  # -1: "Custom"
        box = saved.get("box")
        if box and len(box) == 3:
            x, y, size = (int(v) for v in box)
            self.roi.blockSignals(True)
            self.roi.setSize([size, size])
            self.roi.setPos([x, y])
            self.roi.blockSignals(False)
            self._roi_moved()

    def _levels_edited(self, *_) -> None:
        """A drag on the histogram: the preset box says Custom unless the levels match it."""
        lv = self.canvas.current_levels()
        i = self.window_combo.currentIndex()
        name = self.window_combo.currentText()
        if lv and i >= 0:
            if name in WINDOWS:
                expected = WINDOWS[name]
            elif name == AUTO_WINDOW:
                expected = tuple(float(v) for v in self.canvas.image.quickMinMax())
            else:  # a file's window is applied to the values, shown at full range
                expected = (0.0, 1.0)
            if any(abs(a - b) > 1e-3 for a, b in zip(lv, expected)):
                self.window_combo.setCurrentIndex(-1)
        self._store_view()

    def _show_lesions(self, *_) -> None:
        if self.mammo is not None:
            self.canvas.show_lesions(self.mammo.lesions, self.outlines.isChecked())

    def _fill_window_presets(self, m) -> None:
        """The generic presets, plus every window / VOI LUT that the DICOM header offers."""
        self.window_combo.blockSignals(True)
        self.window_combo.clear()
        self.window_combo.addItems([*WINDOWS, AUTO_WINDOW])
        info = m.info or {}
        options = info.get("voi_available") or []
        for opt in options:
            self.window_combo.addItem(file_window_text(opt), opt)
        used = info.get("window") or {}
        applied = ({"VOI LUT": "lut"}.get(used.get("kind"), used.get("kind")), used.get("index"))
        keys = [(opt["kind"], opt["index"]) for opt in options]
        self.window_combo.setCurrentIndex(
            len(WINDOWS) + 1 + keys.index(applied) if applied in keys else 0
        )
        self.window_combo.blockSignals(False)

    def _window_preset(self, i: int) -> None:
        name = self.window_combo.itemText(i)
        opt = self.window_combo.itemData(i)
        if isinstance(opt, dict):
            self._apply_file_window(opt)
            return
        if name in WINDOWS:
            self.canvas.set_levels(*WINDOWS[name])
        elif self.mammo is not None:
            lo, hi = self.canvas.image.quickMinMax()
            self.canvas.set_levels(float(lo), float(hi))
        self._store_view()

    def _apply_file_window(self, opt: dict) -> None:
        """Re-read the film with the header's window / VOI LUT (in a worker; the box stays).

        The film's values themselves change, so patches cut afterwards are cut from the film
        as this window shows it."""
        if self.mammo is None or not self.mammo.source:
            return
        path, kind, index = self.mammo.source, opt["kind"], int(opt["index"])

        def job():
            from stimstudio.core.readers import read_mammogram

            m = read_mammogram(path, voi=kind, voi_index=index)
            m.preview(2048)
            return m

        def done(m) -> None:
            if self.mammo is None or self.mammo.source != path:
                return  # another film was opened meanwhile
            self.mammo = m
            h, w = m.shape
            self.canvas.set_image(
                m.preview(2048), (h, w), m.pixels, levels=(0.0, 1.0), reset_view=False
            )
            self.canvas.hist.setLevels(0.0, 1.0)
            self.ctx.remember_mammogram(path, m)
            self.ctx.status(f"Window from the file: {file_window_text(opt)}", 6000)

        self.ctx.run_task(job, "Applying the file's window…", done)

    # -- the field-of-view box ---------------------------------------------------------------

    def roi_rect(self) -> tuple[int, int, int]:
        pos, size = self.roi.pos(), self.roi.size()
        return int(round(pos.x())), int(round(pos.y())), int(round(size.x()))

    def _roi_moved(self, *_) -> None:
        x, y, s = self.roi_rect()
        self.roi_label.setPos(QPointF(x, y))
        self.size_spin.blockSignals(True)
        self.size_spin.setValue(s)
        self.size_spin.blockSignals(False)
        self._update_fov_label()

    def _size_typed(self, v: int) -> None:
        x, y, s = self.roi_rect()
        c = s / 2
        self.roi.setPos([x + c - v / 2, y + c - v / 2], update=False)
        self.roi.setSize([v, v])

    def reset_roi_size(self) -> None:
        self.size_spin.setValue(self.fov_pixels())

    def _snap_to_lesion(self, i: int) -> None:
        if i > 0:
            self.snap_to_lesion(i - 1)

    def snap_to_lesion(self, index: int) -> None:
        if self.mammo is None or not 0 <= index < len(self.mammo.lesions):
            return
        box = self.mammo.lesions[index].bbox()
        if box is None:
            return
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        s = self.roi.size().x()
        self.roi.setPos([cx - s / 2, cy - s / 2])
        self.lesion_combo.setCurrentIndex(index + 1)

    def cut(self, which: str) -> None:
        """Cut the box as the texture or the template patch (undoable)."""
        if self.mammo is None:
            return
        x, y, s = self.roi_rect()
        h, w = self.mammo.shape
        if x + s <= 0 or y + s <= 0 or x >= w or y >= h:
            from ..errors import show_error

            show_error(self, "The box lies outside the film: move it onto the image first.")
            return
        from stimstudio.core.films.cut import cut_patch

        patch = cut_patch(self.mammo, x, y, s, self.resolution())
        label = "texture" if which == "texture" else "template"
        self.session.set(which, patch, f"Cut {label} from {Path(self.mammo.source).name}")
        self.ctx.status(
            f"{label.capitalize()} patch cut: {s} px at ({x}, {y}) → {patch.resolution} px",
            6000,
        )

    def _update_tiles(self) -> None:
        for which, tile in (("texture", self.tile_texture), ("template", self.tile_template)):
            p = getattr(self.project, which)
            if p is None:
                tile.clear("none yet")
                tile.caption.setText("")
                continue
            tile.set_image(p.image)
            src = p.source or {}
            name = Path(src.get("file") or "").name or "patch"
            tile.caption.setText(
                f"{name}\n({src.get('x', 0)}, {src.get('y', 0)}) {src.get('size', '')} px"
            )
