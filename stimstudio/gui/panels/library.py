"""Library panel: the opened films with thumbnails and lesion metadata, filterable.

Files and folders are read in a background task (core.readers); each finished file arrives as
plain data (name, thumbnail, size, spacing, view, lesions) and appears at once.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..context import AppContext
from ..widgets import hint, icon, image_icon

THUMB = 72


def describe_file(path: str) -> dict:
    """Read one film and summarise it as plain data (runs in a worker)."""
    from stimstudio.core.readers import read_mammogram

    try:
        m = read_mammogram(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is listed with its reason
        return {"path": str(path), "name": Path(path).name, "error": str(exc)}
    lesions = [
        {
            "kind": les.kind,
            "pathology": les.pathology,
            "shape": les.attributes.get("shape"),
            "bbox": les.bbox(),
        }
        for les in m.lesions
    ]
    return {
        "path": str(path),
        "name": Path(path).name,
        "thumb": m.preview(THUMB * 2),
        "shape": m.shape,
        "spacing_mm": m.spacing_mm,
        "view": " ".join(v for v in (m.laterality, m.view) if v),
        "format": m.format,
        "lesions": lesions,
        "notes": list(m.notes),
        "error": None,
    }


def expand_paths(paths) -> list[str]:
    from stimstudio.core.readers import list_mammograms

    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(str(f) for f in list_mammograms(p))
        else:
            out.append(str(p))
    return out


def lesion_summary(info: dict) -> str:
    if info.get("error"):
        return "cannot be read"
    les = info.get("lesions") or []
    if not les:
        return "no annotated lesion"
    first = les[0]
    words = [first["kind"], first.get("pathology") or "", first.get("shape") or ""]
    text = " · ".join(w for w in words if w)
    return text + (f"  (+{len(les) - 1})" if len(les) > 1 else "")


ANY_SHAPE = "any shape"


def _shape_text(lesion: dict) -> str:
    """CBIS-DDSM writes shapes in capitals with underscores; show them as words."""
    return str(lesion.get("shape") or "").replace("_", " ").lower()


class LibraryPanel(QWidget):
    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.project = ctx.project  # core's live Project: what panels read
        self.session = ctx.session  # its undo stack and events: how they edit and listen
        self.info: dict[str, dict] = {}
        self._loading: set[str] = set()

        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by name…")
        self.search.setClearButtonEnabled(True)
        self.pathology = QComboBox()
        self.pathology.addItems(["any pathology", "malignant", "benign", "no lesion"])
        self.pathology.setToolTip("Show only films with lesions of this pathology")
        self.kind = QComboBox()
        self.kind.addItems(["any kind", "mass", "calcification", "distortion", "asymmetry"])
        self.kind.setToolTip("Show only films with lesions of this kind")
        self.shape = QComboBox()
        self.shape.addItem(ANY_SHAPE)
        self.shape.setToolTip(
            "Show only films with lesions of this shape (the shapes the annotations name:\n"
            "mini-MIAS circumscribed / spiculated / ill-defined, CBIS-DDSM mass shapes)"
        )
        for combo in (self.pathology, self.kind, self.shape):  # the dock stays narrow
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(6)
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setUniformItemSizes(False)
        self.list.setWordWrap(True)  # long lesion lines wrap instead of being cut
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setToolTip("Click a film to view it; Delete removes it from the library")
        self.count = QLabel("")
        self.count.setObjectName("hint")
        open_btn = QPushButton(icon("open"), "Images…")
        open_btn.setToolTip("Open image files (Ctrl+O)")
        open_btn.clicked.connect(ctx.open_files_dialog)
        folder_btn = QPushButton(icon("folder"), "Folder…")
        folder_btn.setToolTip("Open every mammogram in a folder (Ctrl+Shift+O)")
        folder_btn.clicked.connect(ctx.open_folder_dialog)

        row = QHBoxLayout()
        row.addWidget(open_btn)
        row.addWidget(folder_btn)
        filt = QGridLayout()  # two filters a row: three side by side would widen the dock
        filt.addWidget(self.pathology, 0, 0)
        filt.addWidget(self.kind, 0, 1)
        filt.addWidget(self.shape, 1, 0, 1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(row)
        lay.addWidget(self.search)
        lay.addLayout(filt)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.count)
        self.empty_hint = hint(
            "Open images or a folder — or drop them here. Help ▸ Samples has three."
        )
        lay.addWidget(self.empty_hint)

        self.search.textChanged.connect(self._apply_filter)
        self.pathology.currentIndexChanged.connect(self._apply_filter)
        self.kind.currentIndexChanged.connect(self._apply_filter)
        self.shape.currentIndexChanged.connect(self._apply_filter)
        self.list.currentItemChanged.connect(self._selected)
        QShortcut(QKeySequence.StandardKey.Delete, self.list, self.remove_selected)
        self.session.changed.connect(self._on_changed)
        self.session.reset.connect(self._sync)

    # -- adding files ------------------------------------------------------------------------

    def add_paths(self, paths, baseline: bool = False) -> None:
        """Add films (files or folders, read in a worker). `baseline`: they are the project's
        starting point (the first start's samples): no undo step, nothing to save."""
        paths = [str(p) for p in paths]

        def job():
            files = expand_paths(paths)
            yield {"files": files}
            for f in files:
                if f not in self.info:
                    yield describe_file(f)
            return files

        def progress(item):
            if "files" in item:
                new = [f for f in item["files"] if f not in self.project.library]
                changes = {}
                if new:
                    changes["library"] = self.project.library + new
                    self._loading.update(new)
                if item["files"] and self.project.current is None:
                    changes["current"] = item["files"][0]
                if baseline and not self.session.dirty:
                    self.session.set_baseline(changes)
                elif new:
                    what = f"{len(new)} images" if len(new) > 1 else Path(new[0]).name
                    self.session.set_many(changes, f"Add {what}")
                elif changes:
                    self.session.set_many(changes, "Show image")
                return
            self.info[item["path"]] = item
            self._loading.discard(item["path"])
            self._update_item(item["path"])

        def done(files):
            if not files:
                self.ctx.status("No mammograms found there", 6000)

        self.ctx.run_task(job, "Reading images…", done, progress)

    def _read_missing(self, files) -> None:
        missing = [f for f in files if f not in self.info and f not in self._loading]
        if not missing:
            return
        self._loading.update(missing)

        def job():
            for f in missing:
                yield describe_file(f)

        def progress(item):
            self.info[item["path"]] = item
            self._loading.discard(item["path"])
            self._update_item(item["path"])

        self.ctx.run_task(job, "Reading images…", None, progress)

    # -- list --------------------------------------------------------------------------------

    def _item(self, path: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            it = self.list.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == path:
                return it
        return None

    def _update_item(self, path: str) -> None:
        it = self._item(path)
        if it is None:
            return
        info = self.info.get(path)
        if info is None:
            it.setText(f"{Path(path).name}\nreading…")
            return
        it.setText(f"{info['name']}\n{lesion_summary(info)}")
        if info.get("error"):
            it.setToolTip(info["error"])
            it.setForeground(Qt.GlobalColor.gray)
            return
        it.setIcon(image_icon(info["thumb"], THUMB, model_range=False))
        h, w = info["shape"]
        sp = info.get("spacing_mm")
        lines = [
            info["path"],
            f"{w} x {h} px" + (f", {sp[1] * 1000:.0f} µm per pixel" if sp else ""),
            f"format: {info['format']}" + (f", view {info['view']}" if info["view"] else ""),
        ]
        for les in info["lesions"]:
            lines.append(
                "lesion: "
                + " ".join(str(v) for v in (les["kind"], les["pathology"], les["shape"]) if v)
            )
        lines += info.get("notes", [])
        it.setToolTip("\n".join(lines))
        self._update_shapes()
        self._apply_filter()

    def _sync(self, *_) -> None:
        lib = self.project.library
        have = {self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())}
        for i in reversed(range(self.list.count())):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) not in lib:
                self.list.takeItem(i)
        for path in lib:
            if path not in have:
                it = QListWidgetItem(f"{Path(path).name}\nreading…")
                it.setData(Qt.ItemDataRole.UserRole, path)
                it.setSizeHint(QSize(0, THUMB + 8))
                self.list.addItem(it)
                self._update_item(path)
        self._read_missing(lib)
        self._select_current()
        self._apply_filter()

    def _on_changed(self, key: str) -> None:
        if key == "library":
            self._sync()
        elif key == "current":
            self._select_current()

    def _select_current(self) -> None:
        cur = self.project.current
        it = self._item(cur) if cur else None
        if it is not None and self.list.currentItem() is not it:
            self.list.blockSignals(True)
            self.list.setCurrentItem(it)
            self.list.blockSignals(False)

    def _selected(self, item, _prev=None) -> None:
        if item is None:
            return
        path = item.data(Qt.ItemDataRole.UserRole)
        if path != self.project.current:
            self.session.set("current", path, "Show image")

    def remove_selected(self) -> None:
        it = self.list.currentItem()
        if it is None:
            return
        path = it.data(Qt.ItemDataRole.UserRole)
        lib = [p for p in self.project.library if p != path]
        self.session.set("library", lib, f"Remove {Path(path).name}")

    def _matches(self, info: dict | None, path: str) -> bool:
        text = self.search.text().strip().lower()
        if text and text not in Path(path).name.lower():
            return False
        if info is None:
            return True
        lesions = info.get("lesions") or []
        p = self.pathology.currentText()
        if p == "no lesion" and lesions:
            return False
        if p in ("malignant", "benign") and not any(
            (le.get("pathology") or "").lower().startswith(p) for le in lesions
        ):
            return False
        k = self.kind.currentText()
        if k != "any kind" and not any(le["kind"] == k for le in lesions):
            return False
        sh = self.shape.currentText()
        return sh == ANY_SHAPE or any(_shape_text(le) == sh for le in lesions)

    def _update_shapes(self) -> None:
        """The shape filter offers the shapes that the open films' annotations name."""
        shapes = sorted(
            {_shape_text(le) for i in self.info.values() for le in i.get("lesions") or []} - {""}
        )
        have = [self.shape.itemText(i) for i in range(1, self.shape.count())]
        if shapes == have:
            return
        current = self.shape.currentText()
        self.shape.blockSignals(True)
        self.shape.clear()
        self.shape.addItems([ANY_SHAPE, *shapes])
        self.shape.setCurrentText(current if current in shapes else ANY_SHAPE)
        self.shape.blockSignals(False)

    def _apply_filter(self, *_) -> None:
        shown = 0
        for i in range(self.list.count()):
            it = self.list.item(i)
            path = it.data(Qt.ItemDataRole.UserRole)
            ok = self._matches(self.info.get(path), path)
            it.setHidden(not ok)
            shown += ok
        n = self.list.count()
        self.count.setText(f"{shown} of {n} films" if shown != n else f"{n} films")
        self.empty_hint.setVisible(n == 0)
