"""Anchors panel: named latents with thumbnails — kept results, random samples by seed,
inverted patches, latent files. Anchors are what paths are made of."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..context import AppContext
from ..errors import show_error
from ..folders import remember, start_path
from ..widgets import hint, icon, image_icon

THUMB = 64


def source_text(src: dict) -> str:
    method = src.get("method", "")
    if method == "seed":
        psi = src.get("truncation_psi", 1.0)
        return f"seed {src.get('seed')}" + (f", ψ {psi:g}" if psi not in (None, 1, 1.0) else "")
    if src.get("compose_method"):
        return f"generated: {src['compose_method']}"
    if "inversion" in method:
        return "inverted " + (src.get("patch") or "patch")
    if method == "mix":
        return "style mix"
    if src.get("file"):
        return Path(src["file"]).name
    return method or "latent"


class AnchorsPanel(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        ctx.selected_anchor_ids = self.selected_ids  # the Interpolate page adds them
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setWordWrap(True)  # long names wrap instead of being cut
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.setToolTip(
            "Double-click or F2 renames; Delete removes; select two or more and 'Make continuum'"
        )
        self.list.itemChanged.connect(self._renamed)

        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setPrefix("seed ")
        self.seed.setToolTip("A random sample of the generator by seed")
        # sized for everyday seeds, not for 2147483647: the dock stays narrow on a laptop
        self.seed.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.seed.setMinimumWidth(96)
        add_seed = QPushButton(icon("seed"), "Add")
        add_seed.setToolTip("Keep the generator's sample for this seed as an anchor")
        add_seed.clicked.connect(lambda: self.add_seed(self.seed.value()))
        inv_tex = QPushButton("Invert texture")
        inv_tex.setObjectName("compact")
        inv_tex.setToolTip("Find the latent of the texture patch (encoder + Eq. 4)")
        inv_tex.clicked.connect(lambda: self.invert_patch("texture"))
        inv_tpl = QPushButton("Invert template")
        inv_tpl.setObjectName("compact")
        inv_tpl.setToolTip("Find the latent of the shape template (encoder + Eq. 4)")
        inv_tpl.clicked.connect(lambda: self.invert_patch("template"))
        load = QPushButton("Load…")
        load.setToolTip("Load latent files (.latent.npz) as anchors")
        load.clicked.connect(self.load_dialog)
        save = QPushButton("Save…")
        save.setToolTip("Save the selected anchor as a latent file (.latent.npz)")
        save.clicked.connect(self.save_dialog)
        remove = QPushButton(icon("remove"), "Remove")
        remove.setToolTip("Remove the selected anchors (Delete)")
        remove.clicked.connect(self.remove_selected)
        export = QPushButton(icon("export"), "Export…")
        export.setToolTip(
            "Write the selected anchors as single stimuli (PNG/TIFF/DICOM, PsychoPy file)"
        )
        export.clicked.connect(self.export_selected)
        make_continuum = QPushButton(icon("path"), "Make continuum")
        make_continuum.setObjectName("primary")
        make_continuum.setToolTip(
            "A continuum through the selected anchors, in list order (page 5)"
        )
        make_continuum.clicked.connect(self.make_continuum)

        srow = QHBoxLayout()
        srow.addWidget(self.seed, 1)
        srow.addWidget(add_seed)
        grid = QGridLayout()
        grid.addWidget(inv_tex, 0, 0)
        grid.addWidget(inv_tpl, 0, 1)
        grid.addWidget(load, 1, 0)
        grid.addWidget(save, 1, 1)
        grid.addWidget(remove, 2, 0)
        grid.addWidget(export, 2, 1)
        grid.addWidget(make_continuum, 3, 0, 1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.list, 1)
        self.empty_hint = hint(
            "No anchors yet. Keep a generated result, add a seed, or invert a patch."
        )
        lay.addWidget(self.empty_hint)
        lay.addLayout(srow)
        lay.addLayout(grid)

        QShortcut(QKeySequence.StandardKey.Delete, self.list, self.remove_selected)
        # thumbnails (anchor_images) change only with the anchors, in the same update
        self.session.changed.connect(lambda k: k == "anchors" and self.refresh())
        self.session.reset.connect(self.refresh)
        ctx.model_changed.connect(lambda _m: self.refresh())
        self.refresh()

    # -- list --------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.list.blockSignals(True)
        selected = set(self.selected_ids())
        self.list.clear()
        sha = self.ctx.model.sha256 if self.ctx.model is not None else None
        images = self.project.anchor_images
        for aid, a in self.project.anchors.items():
            it = QListWidgetItem(a.name)
            it.setData(Qt.ItemDataRole.UserRole, aid)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsEditable)
            if images.get(aid) is not None:
                it.setIcon(image_icon(images[aid], THUMB))
            made = a.latent.model_sha256
            tip = [a.name, source_text(a.latent.source or {})]
            if sha and made and made != sha:
                it.setForeground(Qt.GlobalColor.darkYellow)
                tip.append("made with another model: its image would differ with this one")
            it.setToolTip("\n".join(tip))
            it.setSizeHint(QSize(0, THUMB + 6))
            self.list.addItem(it)
            if aid in selected:
                it.setSelected(True)
        self.list.blockSignals(False)
        self.empty_hint.setVisible(not self.project.anchors)

    def selected_ids(self) -> list[str]:
        rows = sorted(self.list.row(it) for it in self.list.selectedItems())
        return [self.list.item(r).data(Qt.ItemDataRole.UserRole) for r in rows]

    def _renamed(self, item: QListWidgetItem) -> None:
        aid = item.data(Qt.ItemDataRole.UserRole)
        name = item.text().strip()
        model = self.project
        old = model.anchor(aid)
        if old is None or not name or name == old.name:
            self.refresh()
            return
        name = model.unique_anchor_name(name)
        self.session.set_many(model.rename_anchor_changes(aid, name), f"Rename anchor to {name}")

    def remove_selected(self) -> None:
        ids = set(self.selected_ids())
        if not ids:
            return
        what = "anchor" if len(ids) == 1 else f"{len(ids)} anchors"
        self.session.set_many(self.project.remove_anchors_changes(ids), f"Remove {what}")

    def export_selected(self) -> None:
        """The selected anchors (all when none is selected) as stills, through the dialog."""
        ids = self.selected_ids() or list(self.project.anchors)
        anchors = [a for a in map(self.project.anchor, ids) if a is not None]
        if not anchors:
            show_error(self, "There are no anchors to export yet.")
            return
        from ..export_dialog import export_with_dialog

        export_with_dialog(self.ctx, anchors, len(anchors), kind="stills")

    def make_continuum(self) -> None:
        ids = self.selected_ids()
        if len(ids) < 2:
            ids = list(self.project.anchors)
        if len(ids) < 2:
            show_error(self, "A continuum needs at least two anchors: keep or add another one.")
            return
        self.session.set_many(self.project.continuum_changes(ids), "Make continuum")
        self.ctx.show_page("interpolate")

    # -- making anchors (in workers) ---------------------------------------------------------

    def add_seed(self, seed: float, psi: float = 1.0, cutoff=None) -> None:
        if not self.ctx.require_model():
            return
        model, compute = self.ctx.model, self.ctx.compute
        # the Generator page's noise mode: the anchor is the sample that page shows for the seed
        noise_mode = self.project.generator.get("noise_mode", "seed")
        orientation = self.project.generator.get("orientation", "as-generated")

        def job():
            from stimstudio.core.generate import sample

            return sample(model, seed, psi, cutoff, compute, noise_mode, orientation)

        def done(out):
            lat, img = out
            name = f"Seed {seed:g}"
            self.ctx.add_anchor(
                name, lat.wplus, lat.source, img, lat.model_sha256, lat.noise, lat.orientation
            )

        self.ctx.run_task(job, f"Sampling seed {seed:g}…", done)

    def invert_patch(self, which: str) -> None:
        patch = getattr(self.project, which)
        if patch is None:
            show_error(self, f"No {which} patch yet: cut one on page 1.")
            return
        if not self.ctx.require_model():
            return
        model, compute = self.ctx.model, self.ctx.compute
        settings = self.ctx.prefs.anchor_settings()
        vgg = self.ctx.prefs.vgg16 or None
        image = patch.image

        def job():
            from stimstudio.core.invert import perceptual_for, run_inversion

            from ..workers import cancel_requested

            return run_inversion(
                model,
                image,
                None,
                settings,
                compute,
                perceptual_for(model, vgg),
                should_stop=cancel_requested,
                source={"patch": which, **(patch.source or {})},
            )

        def done(res):
            if res.cancelled:
                return
            name = f"{which.capitalize()} (inverted)"
            self.ctx.add_anchor(
                name,
                res.latent.wplus,
                res.latent.source,
                res.image,
                model.sha256,
                res.latent.noise,
            )

        self.ctx.run_task(job, f"Inverting the {which}…", done)

    def load_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Load latents", start_path("latents"), "Latent files (*.latent.npz *.npz)"
        )
        if files:
            remember("latents", files[0])
            self.load_files(files)

    def load_files(self, files) -> None:
        model, compute = self.ctx.model, self.ctx.compute

        def job():
            from stimstudio.core.errors import StimStudioError
            from stimstudio.core.invert import synthesize
            from stimstudio.core.latent import load_latent

            out = []
            for f in files:
                lat = load_latent(f)
                img = None
                if model is not None:  # another model's latent: one message, nothing kept
                    try:
                        lat.check_model(model)
                    except StimStudioError as exc:
                        raise type(exc)(f"{Path(f).name}: {exc}") from None
                    turned = lat.orientation
                    img = synthesize(model, lat.wplus, compute, noise=lat.noise, orientation=turned)
                    img = img[0]
                out.append((f, lat, img))
            return out

        def done(items):
            for f, lat, img in items:
                src = {**lat.source, "file": str(f)}
                name = Path(f).name.replace(".latent.npz", "").replace(".npz", "")
                self.ctx.add_anchor(
                    name, lat.wplus, src, img, lat.model_sha256, lat.noise, lat.orientation
                )

        self.ctx.run_task(job, "Loading latents…", done)

    def save_dialog(self) -> None:
        ids = self.selected_ids()
        if not ids:
            show_error(self, "Select an anchor to save.")
            return
        a = self.project.anchor(ids[0])
        safe = "".join(c if c.isalnum() or c in " -_.()" else "_" for c in a.name).strip()
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save latent",
            start_path("latents", f"{safe or 'anchor'}.latent.npz"),
            "Latent files (*.latent.npz)",
        )
        if path:
            remember("latents", path)
            self.save_anchor(ids[0], path)

    def save_anchor(self, anchor_id: str, path: str) -> None:
        from stimstudio.core.latent import Latent

        a = self.project.anchor(anchor_id)
        if not path.endswith(".npz"):
            path += ".latent.npz"
        lat = a.latent
        try:
            Latent(lat.wplus, {**lat.source, "name": a.name}, lat.model_sha256, lat.noise).save(
                path
            )
        except Exception as exc:  # noqa: BLE001
            from ..errors import show_exception

            show_exception(self, exc)
            return
        self.ctx.status(f"Saved {Path(path).name}", 5000)
