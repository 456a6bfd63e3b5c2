"""Tools ▸ Search set…: films with and without an inserted lesion, from a few fields (issue 41).

The fields make the same spec `stimstudio searchset` reads; it is saved as
`<out>.searchset.json` beside the set's folder (so the set can be made again, or changed, on the
command line) and run by `core.films.searchset` in a worker, with a progress bar. An existing
spec file can be opened and run as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from .errors import show_error
from .panels.settings import FolderField
from .workers import Worker


class SearchSetDialog(QDialog):
    made = Signal(object)  # the SearchSetResult

    def __init__(self, parent=None, model=None):
        super().__init__(parent)
        self.setWindowTitle("Search set")
        self.model = model
        self.worker: Worker | None = None
        self.films = FolderField("", "a folder of films (normal ones are taken)", "")
        self.films.kind = "searchset-films"
        self.out = FolderField("", "a new folder for the set", "")
        self.out.kind = "searchset"
        self.count = QSpinBox()
        self.count.setRange(1, 10000)
        self.count.setValue(10)
        self.count.setToolTip("films with a lesion, and as many without")
        self.paired = QCheckBox("the same films with and without")
        self.reuse = QCheckBox("take films again when there are fewer than that")
        self.reuse.setToolTip(
            "each film is used again with its lesion at a new place (e.g. the three sample films)"
        )
        self.gain = QDoubleSpinBox()
        self.gain.setRange(0.0, 4.0)
        self.gain.setSingleStep(0.1)
        self.gain.setValue(1.0)
        self.gain.setToolTip("gain of each lesion's contrast against its surround (1 = its own)")
        self.skin = QDoubleSpinBox()
        self.skin.setRange(0.0, 50.0)
        self.skin.setValue(5.0)
        self.skin.setSuffix(" mm")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.lesions = QListWidget()
        self.lesions.setToolTip("compose result folders (the image and mask.png in each)")
        form = QFormLayout()
        form.addRow("Films", self.films)
        form.addRow("Out", self.out)
        form.addRow("Films with a lesion", self.count)
        form.addRow("", self.paired)
        form.addRow("", self.reuse)
        form.addRow("Contrast", self.gain)
        form.addRow("Skin band", self.skin)
        form.addRow("Seed", self.seed)
        add = QPushButton("Add compose result…")
        add.clicked.connect(self._add_dialog)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: self.lesions.takeItem(self.lesions.currentRow()))
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        form.addRow("Lesions", self.lesions)
        form.addRow("", row)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.btn_make = QPushButton("Make")
        self.btn_make.clicked.connect(self.make)
        open_spec = QPushButton("Run a spec file…")
        open_spec.clicked.connect(self._spec_dialog)
        buttons = QHBoxLayout()
        buttons.addWidget(open_spec)
        buttons.addStretch(1)
        buttons.addWidget(self.btn_make)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(buttons)

    def _add_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A compose result folder")
        if path:
            self.add_lesion(path)

    def add_lesion(self, folder: str) -> None:
        self.lesions.addItem(folder)

    def spec_document(self) -> dict:
        """The spec the fields make (the keys `stimstudio searchset` reads)."""
        return {
            "out": str(Path(self.out.text()).name),
            "seed": self.seed.value(),
            "films": [self.films.text()],
            "count": self.count.value(),
            "paired": self.paired.isChecked(),
            "reuse_films": self.reuse.isChecked(),
            "contrast": self.gain.value(),
            "skin_mm": self.skin.value(),
            "lesion": [
                {"result": self.lesions.item(i).text()} for i in range(self.lesions.count())
            ],
        }

    def make(self) -> None:
        """Save the fields as a spec beside the out folder, and run it."""
        if not self.out.text() or not self.films.text() or not self.lesions.count():
            self.status.setText("Give the films, an out folder and at least one lesion.")
            return
        out = Path(self.out.text())
        spec_path = out.parent / f"{out.name}.searchset.json"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            spec_path.write_text(json.dumps(self.spec_document(), indent=2))
        except OSError as exc:
            show_error(self, f"cannot write {spec_path}: {exc.strerror or exc}")
            return
        self.run_spec(str(spec_path))

    def _spec_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "A search set spec", "", "Search set spec (*.toml *.json)"
        )
        if path:
            self.run_spec(path)

    def busy(self) -> bool:
        return self.worker is not None

    def run_spec(self, path: str) -> None:
        model = self.model

        def job():
            from stimstudio.core.films.searchset import run_searchset
            from stimstudio.core.films.spec import load_spec

            spec = load_spec(path)
            m = model
            if m is None or spec.weights is not None:
                from stimstudio.core.model import load_model

                m = load_model(spec.weights)
            return (yield from run_searchset(spec, m))

        self.worker = Worker(job, "Making the search set…")
        self.worker.yielded.connect(self._progress)
        self.worker.returned.connect(self._done)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._finished)
        self.btn_make.setEnabled(False)
        self.status.setText("Reading the films and planning the places…")
        self.worker.start()

    def _progress(self, rec) -> None:
        self.progress.setRange(0, rec.total)
        self.progress.setValue(rec.done)
        self.status.setText(f"{rec.done} of {rec.total}: {rec.film}")

    def _done(self, res) -> None:
        n = sum(1 for f in res.films if f["lesions"])
        self.status.setText(
            f"{len(res.films)} films ({n} with a lesion) in {res.out}: truth.csv, conditions.csv, "
            f"manifest.json. " + " ".join(res.notes[:3])
        )
        self.made.emit(res)

    def _failed(self, message: str, detail: str) -> None:
        self.status.setText(message)
        show_error(self, message, detail)

    def _finished(self) -> None:
        if self.worker is not None:
            self.worker.wait()
        self.worker = None
        self.btn_make.setEnabled(True)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(30000)
        super().closeEvent(event)


def open_searchset_dialog(win) -> SearchSetDialog:
    """Tools ▸ Search set…: a window beside the app, with the app's model."""
    dlg = SearchSetDialog(win, getattr(getattr(win, "ctx", None), "model", None))
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg
