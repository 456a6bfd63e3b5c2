"""The Film view of a compose result: its lesion put back into a whole film (issue 41).

Beside each other: the film with the lesion and the same film without it, with the lesion's
truth outline on the second; both views pan and zoom together. The lesion goes where its
template was cut from (the project records the cut) or where the user clicks on the film. The
insertion, the reading of the film and the writing of a film file run in workers
(`core.films`); this window only shows what they return.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPen
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from .canvas.image_view import ImageCanvas
from .errors import show_error
from .workers import Worker


class _ClickTool:
    """The canvas tool that places the lesion where the left button clicks."""

    def __init__(self, on_click):
        self.on_click = on_click

    def click(self, pos, double) -> None:
        self.on_click(float(pos.x()), float(pos.y()))

    def drag_start(self, pos) -> None:  # a drag pans, as without a tool
        pass

    drag_move = drag_finish = drag_start


class FilmView(QWidget):
    """A top-level window: `lesion` (core.films.lesion.LesionPatch) in the film `film`."""

    computed = Signal()  # a film with the lesion is on screen
    saved = Signal(str)

    def __init__(self, lesion, film: str | None = None, parent=None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(f"Film view · {lesion.name}")
        self.lesion, self.film = lesion, film
        self.mammo = self.placed = None
        self.at: tuple[float, float] | None = None
        self.worker: Worker | None = None
        self._pending = False
        self.film_label = QLabel("")
        self.film_label.setObjectName("hint")
        choose = QPushButton("Film…")
        choose.clicked.connect(self.choose_film)
        self.original = QRadioButton("Where its template was cut")
        self.clicked = QRadioButton("Where I click")
        self.original.setEnabled(bool(lesion.cut))
        (self.original if lesion.cut else self.clicked).setChecked(True)
        self.original.toggled.connect(lambda on: on and self.compute())
        self.gain = QDoubleSpinBox()
        self.gain.setRange(0.0, 4.0)
        self.gain.setSingleStep(0.1)
        self.gain.setValue(1.0)
        self.gain.setPrefix("contrast ")
        self.gain.setToolTip("Gain of the lesion's contrast against its surround (1 = its own)")
        self.gain.editingFinished.connect(self.compute)
        self.btn_save = QPushButton("Save film…")
        self.btn_save.setEnabled(False)
        self.btn_save.clicked.connect(self.save_dialog)
        top = QHBoxLayout()
        for w in (choose, self.film_label, self.original, self.clicked, self.gain):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.btn_save)
        self.with_lesion = ImageCanvas(histogram=False)
        self.without = ImageCanvas(histogram=False)
        self.without.vb.setXLink(self.with_lesion.vb)
        self.without.vb.setYLink(self.with_lesion.vb)
        tool = _ClickTool(self._clicked)
        self.with_lesion.vb.tool = self.without.vb.tool = tool
        views = QHBoxLayout()
        for title, canvas in (("with the lesion", self.with_lesion), ("without", self.without)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(canvas, 1)
            views.addLayout(col, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(views, 1)
        lay.addWidget(self.status)
        self.resize(1100, 620)
        self._show_film_name()
        if film:
            self.compute()

    # -- inputs --------------------------------------------------------------------------

    def _show_film_name(self) -> None:
        self.film_label.setText(Path(self.film).name if self.film else "no film chosen")

    def choose_film(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Film to put the lesion in")
        if path:
            self.set_film(path)

    def set_film(self, path: str) -> None:
        self.film, self.mammo, self.at = path, None, None
        self._show_film_name()
        if not (self.lesion.cut and Path(str(self.lesion.cut.get("file"))).name == Path(path).name):
            self.clicked.setChecked(True)
        self.compute()

    def _clicked(self, x: float, y: float) -> None:
        if self.mammo is None:
            return
        self.clicked.setChecked(True)
        self.at = (x, y)
        self.compute()

    # -- work ----------------------------------------------------------------------------

    def compute(self) -> None:
        """Read the film (once) and insert the lesion, in a worker."""
        if not self.film:
            return
        if self.busy():  # the newest request runs when this one ends
            self._pending = True
            return
        self._pending = False
        lesion, film, mammo, gain = self.lesion, self.film, self.mammo, self.gain.value()
        use_original = self.original.isChecked()
        at = None if use_original else self.at

        def job():
            from stimstudio.core.films.breast import allowed_tissue, film_spacing
            from stimstudio.core.films.insert import place
            from stimstudio.core.readers import read_mammogram

            m = mammo or read_mammogram(film)
            where = at
            if where is None and use_original:
                from stimstudio.core.films.cut import original_place

                where = original_place(lesion, m)
            if where is None:  # nothing chosen yet: the middle of the breast's allowed tissue
                from stimstudio.core.films.cut import breast_centre

                where = breast_centre(allowed_tissue(m, 5.0, 0.0, "auto")[1])
            return m, place(m.pixels, film_spacing(m), lesion, where, gain)

        self._run(job, self._show, "Inserting the lesion…")

    def _run(self, job, on_done, label: str) -> None:
        if self.worker is not None:  # one job at a time (a save right after an insert)
            self.worker.wait()
        worker = Worker(job, label)
        self.worker = worker
        worker.returned.connect(on_done)
        worker.errored.connect(lambda msg, detail: self._failed(msg, detail))
        worker.finished.connect(lambda w=worker: self._finished(w))
        self.status.setText(label)
        worker.start()

    def busy(self) -> bool:
        return self.worker is not None

    def _finished(self, worker) -> None:
        """A job ended; only the newest one's end frees the view (an older job's `finished`
        can arrive after a newer one started, and must not drop it)."""
        worker.wait()
        if self.worker is not worker:
            return
        self.worker = None
        if self._pending:
            self.compute()

    def _failed(self, message: str, detail: str) -> None:
        self.status.setText(message)
        show_error(self, message, detail)

    def _show(self, result) -> None:
        from stimstudio.core.films.save import outline_polygons

        first = self.mammo is None
        self.mammo, self.placed = result
        p = self.placed
        self.at = p.centre
        self.with_lesion.set_image(p.pixels, reset_view=first)
        self.without.set_image(self.mammo.pixels, reset_view=first)
        self.without.clear_overlays()
        pen = QPen(Qt.GlobalColor.yellow)
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        for poly in outline_polygons(p.outline):
            self.without.add_overlay(pg.PlotCurveItem(poly[:, 0], poly[:, 1], pen=pen))
        if first:  # show the lesion's neighbourhood, four of its patches wide
            x0, y0, x1, y1 = p.window
            w = 2 * (x1 - x0)
            self.with_lesion.vb.setRange(
                xRange=(x0 - w / 2, x1 + w / 2), yRange=(y0 - w / 2, y1 + w / 2)
            )
        notes = " ".join(p.notes)
        self.status.setText(
            f"centre ({p.centre[0]:.0f}, {p.centre[1]:.0f}) px, radius {p.radius_mm:.1f} mm; "
            f"contrast {p.contrast:+.3f}; seam {p.seam:.2f} (1 = as busy as the film there). "
            f"{notes}"
        )
        self.btn_save.setEnabled(True)
        self.computed.emit()

    def save_dialog(self) -> None:
        from stimstudio.core.films.filmfile import SUFFIX, film_kind

        suffix = SUFFIX[film_kind(self.mammo)]
        start = str(Path(self.film).with_name(Path(self.film).stem + "-lesion" + suffix))
        path, _ = QFileDialog.getSaveFileName(self, "Save the film with the lesion", start)
        if path:
            self.save(path)

    def save(self, path: str) -> None:
        """Write the film with the lesion (its own kind of file; core.films.save) in a worker."""
        mammo, placed = self.mammo, self.placed

        def job():
            from stimstudio.core.films.save import save_film

            return str(save_film(mammo, placed, path))

        def done(p):
            self.status.setText(f"saved {p}")
            self.saved.emit(p)

        self._run(job, done, "Saving the film…")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.worker is not None:
            self.worker.wait(30000)
        super().closeEvent(event)


def open_for_result(parent, res: dict, model, method: str = "optimized") -> FilmView:
    """Compose ▸ Film view…: the result's lesion (its image and mask) in the film its template
    was cut from (`res["template_cut"]`), a window beside the app."""
    from stimstudio.core.export.job import _model_spacing
    from stimstudio.core.export.settings import DEFAULT_SPACING_MM
    from stimstudio.core.films.lesion import from_arrays

    spacing = (_model_spacing(model) if model is not None else None) or DEFAULT_SPACING_MM
    cut = res.get("template_cut") or None
    name = f"{Path(res['texture_file']).stem} lesion" if res.get("texture_file") else "lesion"
    image = res["images"].get(method, next(iter(res["images"].values())))
    lesion = from_arrays(name, image, res["mask"], spacing, cut)
    film = str(cut["file"]) if cut and Path(str(cut.get("file", ""))).is_file() else None
    win = FilmView(lesion, film, parent)
    win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    win.show()
    if film is None:
        win.status.setText("Choose the film to put the lesion in (Film…).")
    return win
