"""Compose page: compose() in a worker thread — live preview, a loss plot per term,
iteration / ms per step / ETA, Cancel within one step — then the methods side by side with
their metrics (the paper's Fig. 4)."""

from __future__ import annotations

import html
import time
from dataclasses import replace
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.project import placement_record

from ..context import AppContext
from ..errors import show_error
from ..folders import remember, start_path
from ..tasks import disconnect_all
from ..widgets import ImageTile, decade_log_axis, hint, icon
from ..workers import Worker
from .compose_results import (
    METHOD_TIPS,
    METHOD_TITLES,
    METRICS_TIP,
    anchor_name,
    metrics_text,
    result_record,
    write_results,
)
from .mask import compose_inputs

LOSS_NAMES = {"perceptual": "λ3 · perceptual", "encoder": "λ4 · encoder"}
LOSS_COLORS = {
    "pixel": "#4aa3df",
    "perceptual": "#e3a33c",
    "encoder": "#5ad17a",
    "total": "#e4e7eb",
}


def perceptual_name(vgg16_path: str, model=None) -> str:
    """The perceptual network's name as results record it (core.nets.perceptual): a grown
    model's discriminator blocks judge its images averaged down to their own size."""
    if vgg16_path:
        return "vgg16-conv4_3"
    r = model.D.cfg.resolution if model is not None else None
    if r and r < model.resolution:
        return f"discriminator-blocks1-3-avg{r}px"
    return "discriminator-blocks1-3"


class ComposePage(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        self.worker: Worker | None = None
        self._losses: dict[str, list] = {}
        self._steps: list[int] = []
        self._pass = 1
        self._last_step = -1
        self._t0 = 0.0
        self._plot_dirty = False
        self.last_outcome: str | None = None  # "done" | "cancelled" | "failed"

        # controls
        self.btn_run = QPushButton(icon("run"), "Compose")
        self.btn_run.setObjectName("primary")
        self.btn_run.setToolTip("Run the encoder and the masked optimisation (Ctrl+Enter)")
        self.btn_run.clicked.connect(self.run)
        self.btn_cancel = QPushButton(icon("stop"), "Cancel")
        self.btn_cancel.setToolTip("Stop after the current step (Esc)")
        self.btn_cancel.setEnabled(False)
        self.btn_cancel.clicked.connect(self.cancel)
        self.steps = QSpinBox()
        self.steps.setRange(0, 5000)
        self.steps.setValue(ctx.prefs.steps)
        self.steps.setPrefix("steps ")
        self.steps.setToolTip("Optimisation steps (paper: 100); more in Settings (Ctrl+,)")
        self.steps.valueChanged.connect(self._steps_changed)
        self.mix_opt = QCheckBox("+ Eq. 4 from style mix")
        self.mix_opt.setToolTip("A sixth result: Eq. 4 started from the style mix (twice as long)")
        self.model_notice = QLabel("")
        self.model_notice.setObjectName("modelNotice")
        self.model_notice.setWordWrap(True)
        self.model_notice.setTextFormat(Qt.TextFormat.RichText)
        self.model_notice.linkActivated.connect(lambda _link: ctx.show_model_about())
        self.model_notice.hide()
        self.settings_label = QLabel("")
        self.settings_label.setObjectName("hint")
        more = QPushButton("Settings…")
        more.setObjectName("flat")
        more.clicked.connect(ctx.open_settings)
        self.btn_save = QPushButton(icon("export"), "Save results…")
        self.btn_save.setToolTip("Write each method's image (PNG) and the metrics (JSON)")
        self.btn_save.clicked.connect(self.save_results)
        self.btn_save.setEnabled(False)
        self.btn_film = QPushButton("Film view…")
        self.btn_film.setToolTip(
            "The result's lesion back in the film its template was cut from, beside the film "
            "without it (docs/FILMS.md)"
        )
        self.btn_film.clicked.connect(self.open_film_view)
        self.btn_film.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(self.btn_run)
        top.addWidget(self.btn_cancel)
        top.addWidget(self.steps)
        top.addWidget(self.mix_opt)
        top.addStretch(1)
        top.addWidget(more)
        # a long line wraps at the window's edge (the tooltip says more), never widens it
        self.settings_label.setWordWrap(True)
        self.settings_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.settings_label.setMinimumWidth(1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setObjectName("stat")
        self.status.setWordWrap(True)  # "Not ready: …", "cancelled at step …" are sentences
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setMinimumWidth(1)
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.status, 2)
        prow.addWidget(self.btn_film)
        prow.addWidget(self.btn_save)

        # live area
        self.tile_input = ImageTile("Input: stitch", 90)
        self.tile_input.setToolTip("What the generator is asked to reproduce inside the mask")
        self.tile_preview = ImageTile("Live preview", 90)
        self.tile_preview.setToolTip("The generator's current image, every few steps")
        self.plot = pg.PlotWidget(axisItems={"left": decade_log_axis("left")})
        self.plot.setBackground("#15171a")
        self.plot.setLogMode(y=True)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "weighted loss")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setToolTip("Each term of Eq. 4 as it is optimised (log scale)")
        self.curves: dict[str, pg.PlotDataItem] = {}
        # the legend above the plot, never over the curves
        self.legend = QLabel(
            " &nbsp; ".join(
                f"<span style='color:{c}'>━━</span> {LOSS_NAMES.get(k, k)}"
                for k, c in LOSS_COLORS.items()
            )
        )
        self.legend.setObjectName("hint")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        plot_box = QVBoxLayout()
        plot_box.setSpacing(2)
        plot_box.addWidget(self.legend)
        plot_box.addWidget(self.plot, 1)
        for tile in (self.tile_input, self.tile_preview):
            tile.clicked.connect(lambda t=tile: self.zoom_tile(t))
            tile.setCursor(Qt.CursorShape.PointingHandCursor)
        live = QHBoxLayout()
        live.addWidget(self.tile_input, 1)
        live.addWidget(self.tile_preview, 1)
        live.addLayout(plot_box, 2)

        # results
        self.results_box = QGroupBox("Results — hover one for its numbers' meaning, click to zoom")
        self.results_box.setToolTip(METRICS_TIP)
        self.results_grid = QGridLayout(self.results_box)
        self.result_tiles: dict[str, ImageTile] = {}
        self.keep_buttons: dict[str, QPushButton] = {}
        self.results_hint = hint("The methods appear here side by side when a run finishes.")
        self.results_grid.addWidget(self.results_hint, 0, 0)

        lay = QVBoxLayout(self)
        lay.addWidget(self.model_notice)
        lay.addLayout(top)
        lay.addWidget(self.settings_label)
        lay.addLayout(prow)
        lay.addLayout(live, 2)
        lay.addWidget(self.results_box, 3)

        for key, slot in (("Ctrl+Return", self.run), ("Ctrl+Enter", self.run)):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
        esc = QShortcut(QKeySequence("Escape"), self)
        esc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        esc.activated.connect(self.cancel)

        self._plot_timer = QTimer(self)
        self._plot_timer.timeout.connect(self._redraw_plot)
        self._plot_timer.start(100)
        self.session.changed.connect(self._on_changed)
        self.session.reset.connect(self.refresh)
        ctx.model_changed.connect(lambda _m: self.refresh())
        ctx.prefs_changed.connect(self.refresh)
        self.refresh()

    # -- state -------------------------------------------------------------------------------

    def busy(self) -> bool:
        return self.worker is not None

    def _steps_changed(self, v: int) -> None:
        self.ctx.prefs.steps = v
        self._update_settings_label()

    def _update_settings_label(self) -> None:
        p = self.ctx.prefs
        where = self.ctx.compute.describe() if self.ctx.compute else "no model"
        self.settings_label.setText(
            f"Eq. 4: λ3 {p.lambda_perceptual:g} × perceptual ({perceptual_name(p.vgg16, self.ctx.model)}) · "
            f"λ4 {p.lambda_encoder:g} × encoder · step size {p.lr:g}"
            + self._noise_text()
            + (f" · template weight {p.outside_weight:g} outside" if p.outside_weight > 0 else "")
            + (f" · seam band {p.seam_band:g} px" if p.seam_band > 0 else "")
            + (f" · realism {p.realism:g}" if p.realism > 0 else "")
            + f" · {where}"
        )
        self.settings_label.setToolTip(
            "Eq. 4 minimises pixel error + λ3 × perceptual distance + λ4 × encoder "
            "consistency inside the mask, the template's pixels outside it at their weight, "
            "and leaves the seam band around the outline to the generator (Settings, Ctrl+, "
            "changes them; one button there gives the paper's recipe)"
        )

    def _noise_text(self) -> str:
        """How the noise maps are chosen, in the words of the Settings dialog."""
        p, model = self.ctx.prefs, self.ctx.model
        from_encoder = p.encoder_noise and model is not None and model.N is not None
        if p.optimize_noise:
            start = "from the noise encoder" if from_encoder else "from the model's"
            return f" · noise maps fitted {start} (penalty {p.noise_regularize:g})"
        return " · noise maps from the noise encoder" if from_encoder else ""

    def _update_model_notice(self) -> None:
        status = getattr(self.ctx, "model_status", None)
        if self.ctx.model is None or status is None or status.ready:
            self.model_notice.hide()
            return
        self.model_notice.setText(
            f"{html.escape(status.brief)} <a href='about' style='color:#9fc9ea'>About the "
            "model…</a>"
        )
        self.model_notice.setToolTip(status.summary)
        self.model_notice.show()

    def _on_changed(self, key: str) -> None:
        if key in ("texture", "template", "mask", "placement"):
            self._show_input()
        elif key == "result":
            self._show_result()

    def refresh(self) -> None:
        if self.steps.value() != self.ctx.prefs.steps:
            self.steps.setValue(self.ctx.prefs.steps)
        self._update_settings_label()
        self._update_model_notice()
        self._show_input()
        self._show_result()
        self.btn_run.setEnabled(self.worker is None and self.ctx.model is not None)

    def inputs(self):
        """(texture, template, Mask, Placement) or a sentence saying what is missing."""
        got = compose_inputs(self.project)
        if isinstance(got, str):
            return got
        return (*got, self.project.placement)

    def _show_input(self) -> None:
        if self.worker is not None:
            return
        got = self.inputs()
        idle = self.project.result is None
        if isinstance(got, str):
            self.tile_input.clear(got)
            self.tile_input.image.setWordWrap(True)
            if idle:
                self.status.setText(f"Not ready: {got[:1].lower()}{got[1:]}")
            return
        if idle:
            self.status.setText(
                "Ready: press Compose (Ctrl+Enter)"
                if self.ctx.model is not None
                else "Texture, template and mask are ready; waiting for the model"
            )
        from stimstudio.core.compose import insert, stitch
        from stimstudio.core.errors import StimStudioError

        tex, tpl, mask, pl = got
        try:  # the stitch in the placement mode chosen on the Placement page
            ins = insert(tpl, tex, mask, pl)
        except StimStudioError as exc:
            self.tile_input.clear(str(exc))
            return
        self.tile_input.set_image(stitch(tpl, ins.source, ins.soft))

    # -- running -----------------------------------------------------------------------------

    def run(self) -> None:
        if self.worker is not None:
            return
        if not self.ctx.require_model():
            return
        got = self.inputs()
        if isinstance(got, str):
            show_error(self, got)
            return
        tex, tpl, mask, pl = got
        model = self.ctx.model
        if tpl.shape != (model.resolution, model.resolution):
            show_error(
                self.ctx,
                f"The patches were cut at {tpl.shape[0]} px but the model works at "
                f"{model.resolution} px: cut the texture and the template again (page 1).",
            )
            return
        settings = replace(self.ctx.prefs.inversion_settings(), steps=self.steps.value())
        self._settings = settings
        self._placement = placement_record(pl)  # as the result records it
        from stimstudio.core.compose import compose_steps

        args = (model, tex, tpl, mask, pl, settings, self.ctx.compute)
        vgg16, mix_opt = self.ctx.prefs.vgg16 or None, self.mix_opt.isChecked()
        self.worker = Worker(lambda: compose_steps(*args, vgg16, stylemix_optimize=mix_opt))
        self.worker.yielded.connect(self._on_step)
        self.worker.returned.connect(self._on_completed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.errored.connect(self._on_failed)
        self.worker.finished.connect(self._on_finished)
        self._reset_plot()
        self._pass = 1
        self._last_step = -1
        self._t0 = time.perf_counter()
        self.last_outcome = None
        self.btn_run.setEnabled(False)
        self.btn_cancel.setEnabled(True)
        self.steps.setEnabled(False)
        self.progress.setValue(0)
        self.status.setText("encoding…")
        self.tile_preview.clear("…")
        self.tile_preview.title.setText("Live preview")
        self.worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("cancelling after this step…")

    def _reset_plot(self) -> None:
        self.plot.clear()
        self.curves = {}
        self._losses = {}
        self._steps = []

    def _on_step(self, rec) -> None:
        """One `ComposeStep` of the worker's compose_steps."""
        step, total = rec.step, rec.steps
        self._pass = rec.pass_no
        self._last_step = step
        self.progress.setValue(int(100 * rec.done / max(rec.total, 1)))
        eta = (rec.total - rec.done) * rec.ms_per_step / 1000
        which = f" (pass {rec.pass_no}/{rec.passes})" if rec.passes > 1 else ""
        self.status.setText(
            f"step {step} / {total}{which} · {rec.ms_per_step:.0f} ms per step · ETA {eta:.0f} s"
        )
        if rec.pass_no == 1:
            self._steps.append(step)
            for k, v in rec.losses.items():
                self._losses.setdefault(k, []).append(max(float(v), 1e-12))
            self._plot_dirty = True
        if rec.preview is not None:
            self.tile_preview.set_image(rec.preview)

    def _redraw_plot(self) -> None:
        if not self._plot_dirty:
            return
        self._plot_dirty = False
        weights = {
            "perceptual": self._settings.lambda_perceptual,
            "encoder": self._settings.lambda_encoder,
            "pixel": self._settings.lambda_pixel,
        }
        for k, vals in self._losses.items():
            ys = [v * weights.get(k, 1.0) for v in vals]
            if k not in self.curves:
                pen = pg.mkPen(LOSS_COLORS.get(k, "#c678dd"), width=2)
                self.curves[k] = self.plot.plot(name=LOSS_NAMES.get(k, k), pen=pen)
            self.curves[k].setData(self._steps[: len(ys)], ys)

    def _on_completed(self, comp) -> None:
        seconds = time.perf_counter() - self._t0
        sources = {}
        for which in ("texture", "template"):
            patch = getattr(self.project, which)
            sources[which] = ((patch.source if patch else None) or {}).get("file") or None
        template = self.project.template
        sources["template_cut"] = dict((template.source if template else None) or {})
        rec = result_record(comp, self.ctx.model, self._settings, self._placement, seconds, sources)
        self.session.set("result", rec, "Compose")
        self.last_outcome = "done"
        self.progress.setValue(100)
        self.status.setText(f"done in {seconds:.1f} s")
        self.status.setToolTip(f"perceptual features: {comp.perceptual}")
        self.ctx.status(f"Composed in {seconds:.1f} s", 6000)
        self.ctx.autosave()

    def _on_cancelled(self) -> None:
        step = self._last_step  # the worker stopped right after this step's yield
        self.last_outcome = "cancelled"
        self.cancelled_step = step
        self.status.setText(f"cancelled at step {step}; the previous results are kept")

    def _on_failed(self, message: str, detail: str) -> None:
        self.last_outcome = "failed"
        self.status.setText("failed")
        show_error(self, message, detail)

    def _on_finished(self) -> None:
        if self.worker is not None:
            self.worker.wait()  # let the thread end before its object is released
        self.worker = None
        self._redraw_plot()
        self.btn_run.setEnabled(self.ctx.model is not None)
        self.btn_cancel.setEnabled(False)
        self.steps.setEnabled(True)
        self._show_input()

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            disconnect_all(self.worker, ("yielded", "returned", "cancelled", "errored", "finished"))
            self.worker.wait(30000)
            self.worker = None

    # -- results -----------------------------------------------------------------------------

    def open_film_view(self) -> None:
        from ..film_view import open_for_result

        res = self.project.result
        if res is not None:
            self.film_view = open_for_result(self.window(), res, self.ctx.model)

    def _clear_results(self) -> None:
        for tile in self.result_tiles.values():
            tile.setParent(None)
        for b in self.keep_buttons.values():
            b.setParent(None)
        self.result_tiles, self.keep_buttons = {}, {}

    def _show_result(self) -> None:
        res = self.project.result
        self._clear_results()
        self.results_hint.setVisible(res is None)
        self.btn_save.setEnabled(res is not None)
        self.btn_film.setEnabled(res is not None and res.get("mask") is not None)
        if res is None:
            return
        if self.worker is None and res.get("history") and not self._steps:
            self._settings = self.ctx.prefs.inversion_settings()
            for rec in res["history"]:
                self._steps.append(rec["step"])
                for k, v in rec.items():
                    if k != "step":
                        self._losses.setdefault(k, []).append(max(float(v), 1e-12))
            self._plot_dirty = True
        if self.worker is None:
            best = res["images"].get("optimized")
            if best is not None:
                self.tile_preview.set_image(best)
                self.tile_preview.title.setText("Result: optimized")
            self.status.setText(
                f"last run: {res['settings'].get('steps')} steps in {res.get('seconds', 0):.1f} s"
            )
            self.status.setToolTip(f"perceptual features: {res.get('perceptual', '')}")
            self.progress.setValue(100)
        order = [m for m in METHOD_TITLES if m in res["images"]]
        for col, name in enumerate(order):
            tile = ImageTile(METHOD_TITLES[name], 60)
            tile.caption.setWordWrap(False)
            tile.caption.setObjectName("tileMetrics")
            tile.setToolTip(METHOD_TIPS.get(name, "") + "\n\n" + METRICS_TIP + "\n\nClick to zoom.")
            tile.setCursor(Qt.CursorShape.PointingHandCursor)
            tile.clicked.connect(lambda n=name: self.zoom_result(n))
            tile.set_image(res["images"][name])
            if name in res["metrics"]:
                tile.caption.setText(metrics_text(res["metrics"][name]))
            keep = QPushButton(icon("anchor"), "Keep")
            has_latent = name in res["latents"]
            keep.setEnabled(has_latent)
            keep.setToolTip(
                "Keep this result as an anchor (for continua)"
                if has_latent
                else "Only the generator's results have a latent code"
            )
            keep.clicked.connect(lambda _=False, n=name: self.keep(n))
            self.results_grid.addWidget(tile, 0, col)
            self.results_grid.addWidget(keep, 1, col)
            self.result_tiles[name] = tile
            self.keep_buttons[name] = keep

    def _zoom_items(self) -> list:
        res = self.project.result
        items = []
        if res is not None:
            for name in (m for m in METHOD_TITLES if m in res["images"]):
                m = res["metrics"].get(name)
                caption = metrics_text(m).replace("\n", " · ") if m else ""
                items.append((METHOD_TITLES[name], res["images"][name], caption))
        return items

    def zoom_result(self, method: str):
        """A larger, zoomable view of the results, opened on `method` (← / → for the others)."""
        from ..zoom import ZoomDialog

        items = self._zoom_items()
        titles = [t for t, _, _ in items]
        if METHOD_TITLES.get(method) not in titles:
            return None
        dlg = ZoomDialog(items, titles.index(METHOD_TITLES[method]), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        self.zoom_dialog = dlg
        return dlg

    def zoom_tile(self, tile: ImageTile):
        """The input or live-preview tile, larger (with the results to flip to)."""
        from ..zoom import ZoomDialog

        if tile.image_array is None:
            return None
        items = [(tile.title.text(), tile.image_array, "")] + self._zoom_items()
        dlg = ZoomDialog(items, 0, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        self.zoom_dialog = dlg
        return dlg

    def anchor_name(self, method: str) -> str:
        """'mdb181 on mdb003 · Eq. 4': which texture, which template, which method."""
        return anchor_name(self.project.result or {}, method)

    def keep(self, method: str) -> None:
        res = self.project.result
        if res is None or method not in res["latents"]:
            return
        src = dict(res["latent_sources"].get(method, {}))
        src.update({"compose_method": method, "placement": res.get("placement")})
        self.ctx.add_anchor(
            self.anchor_name(method),
            res["latents"][method],
            src,
            res["images"][method],
            res.get("model_sha256"),
            noise=(res.get("latent_noise") or {}).get(method),
        )

    def save_results(self) -> None:
        res = self.project.result
        if res is None:
            return
        folder = QFileDialog.getExistingDirectory(
            self, "Save results into a folder", start_path("results")
        )
        if folder:
            remember("results", folder)
            self.write_results(Path(folder))

    def write_results(self, folder: Path) -> None:
        res = self.project.result
        self.ctx.run_task(
            lambda: write_results(res, folder),
            "Saving results…",
            lambda names: self.ctx.show_saved(
                f"Saved {len(names)} images and metrics.json to {folder}", folder
            ),
        )
