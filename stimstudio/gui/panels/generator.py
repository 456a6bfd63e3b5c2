"""Generator page (beyond the paper): random stimuli by seed — dragged continuously through
fractional seeds — truncation ψ with a layer cutoff, noise mode, and per-layer style mixing of
the seed's sample with anchors (coarse layers: shape and layout; fine layers: texture).

The preview renders through the same coalescing render worker as the path slider.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.noise_modes import NOISE_MODES
from stimstudio.core.orientation import (
    AS_GENERATED,
    LABELS,
    ORIENTATION_MODES,
    RANDOM,
    resolve_orientation,
)

from ..context import AppContext
from ..widgets import DragSpinBox, ImageTile, hint, icon, scroll_column

CHANNEL = "generator"
N_EXTRA = 2  # anchors that can be mixed in beside the seed
SOURCE_COLORS = ["#2f6f9f", "#8a5a2b", "#3d7a4a"]
PRESET_TIPS = {
    "coarse": "Coarse layers: overall shape, layout, large structures",
    "middle": "Middle layers: medium structures",
    "fine": "Fine layers: texture, small detail",
}


def source_label(col: int) -> str:
    """Column 0 is the seed's sample; the anchors mixed in are Source B, Source C, ..."""
    return "the seed" if col == 0 else f"Source {chr(ord('A') + col)}"


class GeneratorPage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        self._syncing = False
        self.requested_key = None
        self.shown_key = None
        self.shown_wplus = None
        self.shown_image = None
        self.shown_noise = None  # the maps the shown sample rendered with (None: fixed)
        self._layers: list[int] = []
        self._presets: dict[str, list[int]] = {}

        # -- seed and truncation
        box = QGroupBox("Sample")
        form = QFormLayout(box)
        self.seed = DragSpinBox(drag_per_pixel=0.02)
        self.seed.setRange(0, 1_000_000)
        self.seed.setDecimals(2)
        self.seed.setSingleStep(1)
        self.seed.setToolTip(
            "Seed of the random sample. Type a number, use the arrows, or drag left/right "
            "on the box to move smoothly through in-between seeds (Shift: finer)."
        )
        self.seed.valueChanged.connect(self._controls_changed)
        # a spin box, not a slider: a slider a column wide moved ψ by 0.7 in 50 px
        self.psi = DragSpinBox(drag_per_pixel=0.002, trim_zeros=False)
        self.psi.setRange(0.0, 1.5)
        self.psi.setDecimals(2)
        self.psi.setSingleStep(0.05)
        self.psi.setPrefix("ψ ")
        self.psi.setToolTip(
            "Truncation ψ: 1 = the generator as trained; lower pulls toward the average "
            "mammogram (more typical, less varied); 0 = the average itself. Arrows: ±0.05; "
            "drag left/right: 0.1 per 50 px (Shift: finer)."
        )
        self.psi.valueChanged.connect(self._controls_changed)
        prow = self.psi
        self.cutoff = QSpinBox()
        self.cutoff.setToolTip("Truncate only the first N layers (the coarse ones)")
        self.cutoff.valueChanged.connect(self._controls_changed)
        self.noise = QComboBox()
        self.noise.addItems(list(NOISE_MODES))
        self.noise.setToolTip(
            "Per-pixel noise maps of the generator, where much of the fine texture comes "
            "from: seed = each seed its own (reproducible; different seeds have independent "
            "texture), const = the model's fixed maps, the same for every seed (different "
            "seeds then share fine texture at the same places), random = new maps per render, "
            "none = off (smoother). An anchor keeps the maps it was shown with."
        )
        self.noise.currentTextChanged.connect(self._controls_changed)
        self.orientation = QComboBox()
        for mode in (RANDOM, *[m for m in ORIENTATION_MODES if m != RANDOM]):
            self.orientation.addItem(LABELS[mode], mode)
        self.orientation.setToolTip(
            "How the sample is shown. The model draws most breast edges one way; real films "
            "are seen every way. Random per seed: each seed one of the square's 8 symmetries "
            "(turns and mirror images), drawn from the seed, so a set of stimuli runs every way "
            "and a seed always looks the same. Or as generated, or one for all. An anchor keeps "
            "the orientation it was shown in; a continuum is shown in its first anchor's."
        )
        # long item names must not squeeze the row's label: the box keeps to the column
        self.orientation.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.orientation.setMinimumContentsLength(8)
        self.orientation.currentIndexChanged.connect(self._controls_changed)
        form.addRow("Seed", self.seed)
        form.addRow("Truncation", prow)
        form.addRow("Cutoff", self.cutoff)
        form.addRow("Noise", self.noise)
        form.addRow("Orientation", self.orientation)

        # -- sources and mixing
        mix = QGroupBox("Style mixing")
        ml = QVBoxLayout(mix)
        self.source_combos: list[QComboBox] = []
        srcform = QFormLayout()
        for i in range(N_EXTRA):
            cb = QComboBox()
            cb.setToolTip("An anchor whose layers can be mixed into the sample")
            cb.currentIndexChanged.connect(self._sources_changed)
            self.source_combos.append(cb)
            cb.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            cb.setMinimumContentsLength(8)
            srcform.addRow(source_label(i + 1), cb)
        ml.addLayout(srcform)
        self.preset_combos: dict[str, QComboBox] = {}
        prow2 = QHBoxLayout()
        for name in ("coarse", "middle", "fine"):
            col = QVBoxLayout()
            lab = QLabel(name.capitalize())
            lab.setToolTip(PRESET_TIPS[name])
            cb = QComboBox()
            cb.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            cb.setMinimumContentsLength(4)
            cb.setPlaceholderText("mixed")  # shown when its layers come from several sources
            cb.setToolTip(PRESET_TIPS[name] + ": take them from this source")
            cb.activated.connect(lambda _i, n=name: self._preset_chosen(n))
            col.addWidget(lab)
            col.addWidget(cb)
            prow2.addLayout(col)
            self.preset_combos[name] = cb
        ml.addLayout(prow2)
        self.grid = QTableWidget()
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.grid.verticalHeader().setDefaultSectionSize(22)
        self.grid.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.grid.setToolTip("Click a cell: that layer comes from that source")
        self.grid.cellClicked.connect(self._cell_clicked)
        ml.addWidget(self.grid, 1)
        reset = QPushButton("All layers from the seed")
        reset.clicked.connect(self.reset_mixing)
        ml.addWidget(reset)

        side = QVBoxLayout()
        side.addWidget(box)
        side.addWidget(mix, 1)
        sidew = QWidget()
        sidew.setLayout(side)
        sidew = scroll_column(sidew, 280)

        self.preview = ImageTile("Sample", 160)
        self.preview.setToolTip("The generator's image for these settings")
        keep = QPushButton(icon("anchor"), "Keep as anchor  (K)")
        keep.setObjectName("primary")
        keep.setToolTip("Add this image's latent to the anchors, for continua")
        keep.clicked.connect(self.keep)
        self.info = QLabel("")
        self.info.setObjectName("hint")
        self.info.setWordWrap(True)
        center = QVBoxLayout()
        center.addWidget(self.preview, 1)
        brow = QHBoxLayout()
        brow.addWidget(self.info, 1)
        brow.addWidget(keep)
        center.addLayout(brow)
        center.addWidget(
            hint(
                "StyleGAN's early layers set the coarse structure, the late ones the fine "
                "texture. Mix the texture of one anchor into the shape of another by taking "
                "the fine layers from it."
            )
        )
        self.placeholder = QLabel("Load a model (Settings) to draw samples.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        center.addWidget(self.placeholder)

        lay = QHBoxLayout(self)
        lay.addWidget(sidew)
        lay.addLayout(center, 1)

        sc = QShortcut(QKeySequence("K"), self)
        sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.activated.connect(self.keep)
        ctx.render_worker.rendered.connect(self._rendered)
        ctx.model_changed.connect(lambda _m: self.refresh())
        self.session.changed.connect(self._on_changed)
        self.session.reset.connect(self.refresh)
        self.refresh()

    # -- project -> screen -------------------------------------------------------------------

    def _on_changed(self, key: str) -> None:
        if key in ("generator", "anchors"):
            self.refresh()

    def sources(self) -> list[str]:
        """Anchor ids mixed in beside the seed (missing anchors are dropped)."""
        ids = self.project.generator.get("sources") or []
        return [i for i in ids if i in self.project.anchors]

    def mixing(self) -> list[int]:
        g = self.project.generator
        n = len(self._layers)
        mix = g.get("mixing")
        k = len(self.sources()) + 1
        if mix is None or len(mix) != n:
            return [0] * n
        return [int(m) if 0 <= int(m) < k else 0 for m in mix]

    def refresh(self) -> None:
        model = self.ctx.model
        self.placeholder.setVisible(model is None)
        self.preview.setVisible(model is not None)
        if model is not None:
            from stimstudio.core.generate import layer_resolutions, mixing_presets

            self._layers = layer_resolutions(model)
            self._presets = mixing_presets(model)
        g = self.project.generator
        self._syncing = True
        self.seed.setValue(float(g.get("seed", 0.0)))
        self.psi.setValue(float(g.get("psi", 1.0)))
        n = len(self._layers)
        self.cutoff.setRange(0, max(n, 1))
        self.cutoff.setSuffix(f" of {n} layers" if n else "")
        cut = g.get("cutoff")
        self.cutoff.setValue(n if cut is None else int(cut))
        self.noise.setCurrentText(g.get("noise_mode", "seed"))
        self.orientation.setCurrentIndex(
            max(0, self.orientation.findData(g.get("orientation", AS_GENERATED)))
        )
        anchors = self.project.anchors
        srcs = self.sources()
        for i, cb in enumerate(self.source_combos):
            cb.clear()
            cb.addItem("—", None)
            for aid, a in anchors.items():
                cb.addItem(a.name, aid)
                # anchor names are long ("mdb181 on mdb003 · Eq. 4"): whole in the tooltip
                cb.setItemData(cb.count() - 1, a.name, Qt.ItemDataRole.ToolTipRole)
            cb.setCurrentIndex(cb.findData(srcs[i]) if i < len(srcs) else 0)
            name = cb.currentText()
            cb.setToolTip(
                f"{name}\nAn anchor whose layers can be mixed into the sample"
                if cb.currentIndex() > 0
                else "An anchor whose layers can be mixed into the sample"
            )
        names = ["Seed"] + [f"{source_label(k + 1)}: {anchors[i].name}" for k, i in enumerate(srcs)]
        for cb in self.preset_combos.values():
            cb.clear()
            cb.addItems(names)
            for k, name in enumerate(names):
                cb.setItemData(k, name, Qt.ItemDataRole.ToolTipRole)
        self._fill_grid(names)
        self._syncing = False
        self.request()

    def _fill_grid(self, names: list[str]) -> None:
        mix = self.mixing()
        self.grid.setColumnCount(len(names))
        # short column titles (B, C) that fit a third of the side column; the whole name is
        # the title's tooltip and the source box's text above
        short = ["Seed"] + [source_label(c).split()[-1] for c in range(1, len(names))]
        self.grid.setHorizontalHeaderLabels(short)
        for c, name in enumerate(names):
            self.grid.horizontalHeaderItem(c).setToolTip(name)
        self.grid.setRowCount(len(self._layers))
        self.grid.setVerticalHeaderLabels([f"{i} · {r} px" for i, r in enumerate(self._layers)])
        for r in range(len(self._layers)):
            for c in range(len(names)):
                on = mix[r] == c
                it = QTableWidgetItem("●" if on else "")
                it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if on:
                    it.setBackground(QBrush(QColor(SOURCE_COLORS[c % len(SOURCE_COLORS)])))
                self.grid.setItem(r, c, it)
        for name, cb in self.preset_combos.items():
            rows = self._presets.get(name, [])
            vals = {mix[r] for r in rows}
            cb.setCurrentIndex(vals.pop() if len(vals) == 1 else -1)
            res = sorted({self._layers[r] for r in rows})
            if res:
                cb.setToolTip(f"{PRESET_TIPS[name]} ({res[0]}–{res[-1]} px): take them from")

    # -- screen -> project -------------------------------------------------------------------

    def _set(self, changes: dict, text: str, merge: str | None = None) -> None:
        g = dict(self.project.generator)
        g.update(changes)
        if g != self.project.generator:
            self.session.set("generator", g, text, merge)

    def _controls_changed(self, *_) -> None:
        if self._syncing:
            return
        n = len(self._layers)
        psi = round(self.psi.value(), 4)
        self._set(
            {
                "seed": round(self.seed.value(), 4),
                "psi": psi,
                "cutoff": None if self.cutoff.value() >= n else self.cutoff.value(),
                "noise_mode": self.noise.currentText(),
                "orientation": self.orientation.currentData(),
            },
            "Generator settings",
            merge="generator-controls",
        )

    def _sources_changed(self, *_) -> None:
        if self._syncing:
            return
        ids = [cb.currentData() for cb in self.source_combos]
        ids = [i for i in ids if i]
        self._set({"sources": ids, "mixing": None}, "Mixing sources")

    def _cell_clicked(self, row: int, col: int) -> None:
        mix = self.mixing()
        if 0 <= row < len(mix) and mix[row] != col:
            mix[row] = col
            self._set({"mixing": mix}, f"Layer {row} from {source_label(col)}")

    def _preset_chosen(self, name: str) -> None:
        col = self.preset_combos[name].currentIndex()
        self.set_preset(name, col)

    def set_preset(self, name: str, col: int) -> None:
        mix = self.mixing()
        for r in self._presets.get(name, []):
            mix[r] = col
        self._set({"mixing": mix}, f"{name.capitalize()} layers from {source_label(col)}")

    def reset_mixing(self) -> None:
        self._set({"mixing": None}, "Mixing reset")

    # -- rendering ---------------------------------------------------------------------------

    def render_key(self):
        g = self.project.generator
        model = self.ctx.model
        return (
            model.sha256 if model is not None else None,
            float(g.get("seed", 0.0)),
            float(g.get("psi", 1.0)),
            g.get("cutoff"),
            g.get("noise_mode", "seed"),
            tuple(self.sources()),
            g.get("orientation", AS_GENERATED),
            tuple(self.mixing()),
        )

    def request(self) -> None:
        model = self.ctx.model
        if model is None:
            return
        key = self.render_key()
        _, seed, psi, cutoff, noise_mode, srcs, turn, mix = key
        anchors = [self.project.anchors[i] for i in srcs]
        others = [a.latent.wplus for a in anchors]
        others_noise = [a.latent.noise for a in anchors]

        def job():
            """(w+, noise maps): a mixed layer takes its noise map from where its style comes."""
            from stimstudio.core.generate import latent_for_seed, mix_noise, style_mix

            lat = latent_for_seed(model, seed, psi, cutoff, noise_mode, turn)
            if not others or not any(mix):
                return lat.wplus, lat.noise, lat.orientation
            weights = np.zeros((len(mix), len(others) + 1), np.float32)
            weights[np.arange(len(mix)), list(mix)] = 1
            w = style_mix([lat.wplus, *others], weights)
            noise = mix_noise(model, [lat.noise, *others_noise], list(mix))
            return w, noise, lat.orientation

        self.requested_key = key
        self.ctx.render_worker.request(CHANNEL, key, job)  # the job gives every mode's maps

    def _rendered(self, out: dict) -> None:
        if out["channel"] != CHANNEL or out["key"] != self.requested_key:
            return
        self.shown_key, self.shown_wplus, self.shown_image = out["key"], out["wplus"], out["image"]
        self.shown_noise = out.get("noise")
        self.preview.set_image(out["image"])
        _, seed, psi, cutoff, noise, srcs, turn, mix = out["key"]
        words = [f"seed {seed:g}", f"ψ {psi:.2f}"]
        if turn != AS_GENERATED:
            words.append(LABELS[resolve_orientation(turn, seed)])
        if cutoff is not None:
            words.append(f"first {cutoff} layers truncated")
        if srcs and any(mix):
            words.append(f"{sum(1 for m in mix if m)} of {len(mix)} layers mixed in")
        self.preview.title.setText(" · ".join(words))
        self.info.setText("from cache" if out["cached"] else f"rendered in {out['ms']:.0f} ms")

    def keep(self) -> None:
        if self.shown_wplus is None:
            return
        _, seed, psi, cutoff, noise, srcs, turn, mix = self.shown_key
        mixed = bool(srcs) and any(mix)
        src = {
            "method": "mix" if mixed else "seed",
            "seed": seed,
            "truncation_psi": psi,
            "truncation_cutoff": cutoff,
            "noise_mode": noise,
        }
        if turn != AS_GENERATED:
            src["orientation_mode"] = turn
        if mixed:
            src["mixing"] = list(mix)
            src["sources"] = ["seed"] + [self.project.anchors[i].name for i in srcs]
        name = f"Seed {seed:g}" + (" (mix)" if mixed else "")
        self.ctx.add_anchor(
            name,
            self.shown_wplus,
            src,
            self.shown_image,
            noise=self.shown_noise,
            orientation=resolve_orientation(turn, seed),
        )
