"""Settings ▸ Model: a choice among the models in weights/ plus "Other file…".

Each model is shown with its resolution, pixel size and field of view, and what its card says
it is good for. The preference keeps "" for the shipped default (so a newer default is picked up),
a model's short name for the others in weights/, and a path for another file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from stimstudio.core.errors import CheckpointError
from stimstudio.core.model_catalog import (
    ModelEntry,
    list_models,
    read_entry,
)
from stimstudio.core.model_catalog import default_weights_path as default_model_path

from ..model_status import model_status

OTHER = "Other file…"


def describe(entry: ModelEntry) -> str:
    """Resolution, pixel size, field of view, kimg and the card's verdict, in two lines."""
    what = []
    if entry.resolution:
        what.append(f"{entry.resolution} px")
    if entry.spacing_mm:
        what.append(f"{entry.spacing_mm:g} mm per pixel")
        if entry.resolution:
            what.append(f"{entry.resolution * entry.spacing_mm:.1f} mm field of view")
    else:
        what.append("pixel size not recorded in its card")
    if entry.kimg:
        what.append(f"{entry.kimg:.0f} kimg")
    status = model_status(entry.card, entry.name)
    verdict = status.brief or status.short
    return " · ".join(what) + (f"\n{verdict}" if verdict else "")


class ModelChoice(QWidget):
    """The model combo box, the file field for "Other file…" and the chosen model's summary.
    `text()` is the preference value; `edit` is the other file's line edit."""

    def __init__(self, value: str, file_field_cls, folder: Path | None = None, parent=None):
        super().__init__(parent)
        self.entries = list_models(folder)
        default = default_model_path().resolve()
        self.combo = QComboBox()
        for e in self.entries:
            is_default = e.path.resolve() == default
            self.combo.addItem(e.label() + ("  (default)" if is_default else ""), e)
        self.combo.addItem(OTHER, None)
        self.combo.setToolTip(
            "The models in weights/ (with their .json card beside them), or any other model "
            "file. A latent only works with the model that made it."
        )
        self.file = file_field_cls(
            "", "a model file (.safetensors, its .json card beside it)", "Model (*.safetensors)"
        )
        self.edit = self.file.edit
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #8d97a2")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo)
        lay.addWidget(self.file)
        lay.addWidget(self.summary)
        self.combo.currentIndexChanged.connect(self._changed)
        self.edit.textChanged.connect(self._file_changed)
        self.select(value)

    # -- the preference value -----------------------------------------------------------------

    def _index_of(self, value: str) -> int:
        if not value:
            default = default_model_path().resolve()
            for i, e in enumerate(self.entries):
                if e.path.resolve() == default:
                    return i
            return -1
        for i, e in enumerate(self.entries):
            if value in (e.name, e.path.stem, str(e.path)) or _same_file(value, e.path):
                return i
        return -1

    def select(self, value: str) -> None:
        i = self._index_of(value)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        else:
            self.combo.setCurrentIndex(self.combo.count() - 1)  # Other file…
            self.edit.setText(value or str(default_model_path()))
        self._changed()

    def entry(self) -> ModelEntry | None:
        return self.combo.currentData()

    def text(self) -> str:
        e = self.entry()
        if e is None:
            return self.file.text()
        return "" if e.path.resolve() == default_model_path().resolve() else e.name

    # -- display ------------------------------------------------------------------------------

    def _file_changed(self, text: str) -> None:
        """A path typed, browsed or set from outside: the matching model in the list, or Other."""
        if self.entry() is not None and text.strip():
            i = self._index_of(text.strip())
            self.combo.setCurrentIndex(i if i >= 0 else self.combo.count() - 1)
        self._changed()

    def _changed(self) -> None:
        e = self.entry()
        self.file.setVisible(e is None)
        if e is None:
            path = self.file.text()
            if not path:
                self.summary.setText("Choose a model file; its .json card must lie beside it.")
                return
            try:
                e = read_entry(path)
            except CheckpointError as exc:
                self.summary.setText(str(exc))
                return
        self.summary.setText(describe(e))


def _same_file(value: str, path: Path) -> bool:
    try:
        return Path(value).resolve() == path.resolve()
    except OSError:
        return False
