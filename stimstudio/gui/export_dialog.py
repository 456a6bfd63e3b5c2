"""Export dialog: a continuum or stills into a folder — formats, size, preview, PsychoPy file.

The dialog only gathers `ExportSettings`; all writing is `core.export.export_sequence`, run in
a background thread with a progress dialog whose Cancel stops before the next frame. Finished
frames stay on disk, so an interrupted export is offered for resuming the next time the same
folder is chosen. A folder that holds anything other than a StimStudio export is refused:
the app never deletes files it did not write.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from stimstudio.core.errors import StimStudioError
from stimstudio.core.export import (
    RESIZE_FILTERS,
    ExportSettings,
    export_sequence,
    export_status,
)

from .errors import show_error
from .windows import exec_dialog

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
FORMAT_LABELS = {
    "png": "PNG (8 or 16-bit)",
    "tiff": "TIFF (16-bit)",
    "dicom": "DICOM Secondary Capture (16-bit, labelled synthetic)",
}


def settings_from_dict(d: dict | None) -> ExportSettings:
    """The last used settings (kept in the preferences); anything unreadable → defaults."""
    keys = set(ExportSettings.__dataclass_fields__) - {"data_root"}
    kw = {k: tuple(v) if k == "formats" else v for k, v in (d or {}).items() if k in keys}
    try:
        s = ExportSettings(**kw)
        s.validate()
    except (StimStudioError, TypeError):
        return ExportSettings()
    return s


class ExportDialog(QDialog):
    """Gathers folder, name and `ExportSettings`; `accept()` checks the folder first."""

    def __init__(
        self,
        parent=None,
        frames: int = 0,
        resolution: int = 128,
        kind: str = "continuum",
        last: dict | None = None,
        folder: str = "",
    ):
        super().__init__(parent)
        self.kind = kind
        self.resolution = resolution
        self.resume = False
        self.overwrite = False
        what = f"{frames} frames" if kind == "continuum" else f"{frames} stimuli"
        self.setWindowTitle("Export the continuum" if kind == "continuum" else "Export stimuli")
        s = settings_from_dict(last)

        # -- where
        self.folder = QLineEdit(folder)
        self.folder.setPlaceholderText("an empty or new folder")
        self.folder.setToolTip("The export goes into this folder (created if missing)")
        self.folder.textChanged.connect(self._folder_tip)
        self._folder_tip(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        frow = QHBoxLayout()
        frow.addWidget(self.folder, 1)
        frow.addWidget(browse)
        self.cid = QLineEdit("continuum" if kind == "continuum" else "stimuli")
        self.cid.setToolTip(
            "Name of the continuum: the frame files are NAME_0000.png …, and the conditions\n"
            "file's `continuum` column (letters, digits, _ and - only)"
        )
        where = QGroupBox(f"Where — {what}")
        wf = QFormLayout(where)
        wf.addRow("Folder", frow)
        if kind == "continuum":
            wf.addRow("Continuum name", self.cid)

        # -- what
        fmt_box = QGroupBox("Frame files")
        ff = QFormLayout(fmt_box)
        self.format_checks = {}
        for f, label in FORMAT_LABELS.items():
            cb = QCheckBox(label)
            cb.setChecked(f in s.formats)
            self.format_checks[f] = cb
            ff.addRow(cb)
        self.bits = QComboBox()
        self.bits.addItems(["8", "16"])
        self.bits.setCurrentText(str(s.bits))
        self.bits.setToolTip("PNG bit depth; TIFF and DICOM are always 16-bit")
        ff.addRow("PNG bit depth", self.bits)
        self.native = QCheckBox(f"Native size ({resolution} × {resolution})")
        self.native.setChecked(s.size is None)
        self.size = QSpinBox()
        self.size.setRange(8, 8192)
        self.size.setSuffix(" px")
        self.size.setValue(s.size or resolution)
        self.size.setToolTip("Resampled side length of every frame")
        self.interp = QComboBox()
        self.interp.addItems(list(RESIZE_FILTERS))
        self.interp.setCurrentText(s.interpolation)
        self.interp.setToolTip("How frames are resampled when the size is not native")
        self.native.toggled.connect(self._native_toggled)
        ff.addRow(self.native)
        ff.addRow("Size", self.size)
        ff.addRow("Interpolation", self.interp)
        self.spacing = QDoubleSpinBox()
        self.spacing.setRange(0.0, 99.0)
        self.spacing.setDecimals(3)
        self.spacing.setSuffix(" mm")
        self.spacing.setSpecialValueText("from the model card")
        self.spacing.setValue(s.pixel_spacing_mm or 0.0)
        self.spacing.setToolTip(
            "Pixel spacing at native size, written to DICOM and the manifest\n"
            "(0 = the model's training spacing)"
        )
        ff.addRow("Pixel spacing", self.spacing)

        extra = QGroupBox("Beside the frames")
        ef = QFormLayout(extra)
        self.preview = QComboBox()
        self.preview.addItems(["gif", "mp4", "none"])
        self.preview.setCurrentText(s.preview or "none")
        self.preview.setToolTip("An animated preview of the continuum")
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.1, 120.0)
        self.fps.setValue(float(s.fps))
        self.fps.setSuffix(" fps")
        self.sheet = QCheckBox("Contact sheet (all frames on one PNG)")
        self.sheet.setChecked(s.contact_sheet)
        self.conditions = QCheckBox("PsychoPy conditions file (conditions.csv)")
        self.conditions.setChecked(s.conditions)
        self.conditions.setToolTip(
            "Use it as the conditions file of a Builder loop; $imageFile then shows each frame"
        )
        self.task = QCheckBox("Adjustment task files, for a loop (PsychoPy + browser)")
        self.task.setChecked(s.task != "none")
        self.task.setToolTip(
            "A loop gets adjustment_task.py (PsychoPy Coder) and adjustment_task.html (an "
            "offline browser experiment, jsPsych) beside conditions.csv: the same task as "
            "Tools ▸ Adjustment task…, the same results columns. An open continuum gets none."
        )
        self.conditions.toggled.connect(self.task.setEnabled)
        self.task.setEnabled(self.conditions.isChecked())
        self.latents = QComboBox()
        self.latents.addItems(["inline", "files"])
        self.latents.setCurrentText(s.latents)
        self.latents.setToolTip(
            "Anchor latents in the manifest itself, or as .latent.npz files beside it;\n"
            "either way `stimstudio regenerate` rebuilds every frame bit-identically"
        )
        if kind == "continuum":
            ef.addRow("Preview", self.preview)
            ef.addRow("Preview speed", self.fps)
        ef.addRow(self.sheet)
        ef.addRow(self.conditions)
        if kind == "continuum":
            ef.addRow(self.task)
        ef.addRow("Anchor latents", self.latents)

        self.message = QLabel("")
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        # the folder across the whole dialog: a long path in a third of it showed only its tail
        cols = QHBoxLayout()
        cols.addWidget(fmt_box, 3)
        right = QVBoxLayout()
        right.addWidget(extra)
        right.addStretch(1)
        cols.addLayout(right, 2)
        lay = QVBoxLayout(self)
        lay.addWidget(where)
        lay.addLayout(cols)
        lay.addWidget(self.message)
        lay.addWidget(buttons)
        self._native_toggled(self.native.isChecked())

    def _folder_tip(self, text: str) -> None:
        """The whole path as the tooltip, when the field shows only part of it."""
        tip = "The export goes into this folder (created if missing)"
        self.folder.setToolTip(f"{text}\n{tip}" if text else tip)
        if not self.folder.hasFocus():  # the start of the path, not its tail
            self.folder.setCursorPosition(0)

    def _native_toggled(self, on: bool) -> None:
        self.size.setEnabled(not on)
        self.interp.setEnabled(not on)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into a folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def settings(self) -> ExportSettings:
        s = ExportSettings(
            formats=tuple(f for f, cb in self.format_checks.items() if cb.isChecked()),
            bits=int(self.bits.currentText()),
            size=None if self.native.isChecked() else int(self.size.value()),
            interpolation=self.interp.currentText(),
            preview=(self.preview.currentText() if self.kind == "continuum" else None),
            fps=float(self.fps.value()),
            contact_sheet=self.sheet.isChecked(),
            conditions=self.conditions.isChecked(),
            latents=self.latents.currentText(),
            pixel_spacing_mm=float(self.spacing.value()) or None,
            task="auto" if self.task.isChecked() else "none",
        )  # a preview of "none" is None (ExportSettings normalises it)
        return s

    def continuum_id(self) -> str:
        return self.cid.text().strip()

    def out_dir(self) -> Path:
        return Path(self.folder.text().strip()).expanduser()

    def _refuse(self, text: str) -> None:
        self.message.setText(text)

    def accept(self) -> None:
        """Check everything before closing: a wrong value is named here, not after a run."""
        try:
            self.settings().validate()
        except StimStudioError as exc:
            return self._refuse(str(exc))
        if not _ID_RE.match(self.continuum_id()):
            return self._refuse(
                "The continuum name may hold letters, digits, _ and - (up to 64), "
                "and must start with a letter or digit."
            )
        if not self.folder.text().strip():
            return self._refuse("Choose the folder to export into.")
        out = self.out_dir()
        status = export_status(out)
        self.resume = self.overwrite = False
        if status == "other":
            return self._refuse(
                f"{out} already holds other files. Choose an empty or new folder: "
                "StimStudio never deletes files it did not write."
            )
        if status == "complete":
            answer = QMessageBox.question(
                self,
                "Export",
                f"{out} holds a finished export. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
            self.overwrite = True
        elif status == "incomplete":
            box = QMessageBox(self)
            box.setWindowTitle("Export")
            box.setText(
                f"{out} holds an interrupted export. Resume it (finished frames are kept), "
                "or replace it?"
            )
            resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
            replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
            box.addButton(QMessageBox.StandardButton.Cancel)
            box.exec()
            if box.clickedButton() is resume:
                self.resume = True
            elif box.clickedButton() is replace:
                self.overwrite = True
            else:
                return None
        super().accept()

    def settings_dict(self) -> dict:
        return self.settings().output_dict()


def run_export(
    ctx,
    target,
    out_dir: Path,
    settings: ExportSettings,
    continuum_id: str = "continuum",
    resume: bool = False,
    overwrite: bool = False,
    on_done=None,
):
    """Run core export in a worker with a progress dialog; returns the task.

    `target` is a core `Path` (a continuum) or a list of `Anchor`s (stills). Cancel keeps the
    finished frames; the same folder and settings resume later.
    """
    model, compute = ctx.model, ctx.compute
    progress = QProgressDialog("Preparing the export…", "Cancel", 0, 0, ctx.dialog_parent)
    progress.setWindowTitle("Export")
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    progress.setMinimumDuration(300)
    progress.setAutoClose(False)
    progress.setAutoReset(False)
    state = {"result": None, "cancelled": False}

    def job():  # Cancel closes it at the next yield: between frames, the frames so far kept
        for rec in export_sequence(
            target,
            model,
            out_dir,
            settings,
            compute,
            continuum_id=continuum_id,
            resume=resume,
            overwrite=overwrite,
        ):
            if rec.finished:
                return rec
            yield rec
        return None

    def on_progress(rec) -> None:
        if rec.total:
            progress.setMaximum(rec.total)
            progress.setValue(min(rec.done, rec.total))
        if rec.stage == "frames":
            kept = " (kept from before)" if rec.kept else ""
            progress.setLabelText(f"Frame {rec.done} of {rec.total}{kept}")
        else:
            progress.setLabelText(rec.message or rec.stage.capitalize() + "…")

    def finished(rec) -> None:
        progress.close()
        progress.deleteLater()
        if rec is None or rec.cancelled:
            ctx.status(
                f"Export stopped; finished frames are kept in {out_dir} (export again to resume)",
                10000,
            )
        else:
            r = rec.result
            state["result"] = r
            kept = f", {r.kept_frames} kept" if r.kept_frames else ""
            ctx.show_saved(
                f"Exported {len(r.frames)} frames to {out_dir} ({r.written_frames} written{kept})",
                out_dir,
            )
        if on_done:
            on_done(rec)

    def failed(message: str, detail: str) -> None:
        progress.close()
        progress.deleteLater()
        show_error(ctx.dialog_parent, message, detail)
        if on_done:
            on_done(None)

    task = ctx.run_task(job, "Exporting…", finished, on_progress, failed, lambda: finished(None))
    progress.canceled.connect(task.cancel)
    task.export_state = state
    return task


def suggest_folder(parent: str, kind: str = "continuum") -> Path:
    """A new folder beside the last export (continuum-001, -002, …): Export just works."""
    base = Path(parent).expanduser() if parent else Path.home() / "StimStudio exports"
    stem = "continuum" if kind == "continuum" else "stimuli"
    for i in range(1, 10000):
        cand = base / f"{stem}-{i:03d}"
        if not cand.exists():
            return cand
    return base / stem


def export_with_dialog(ctx, target, frames: int, kind: str = "continuum") -> None:
    """Show the dialog (remembering the last settings and folder), then run the export."""
    if not ctx.require_model():
        return
    prefs = ctx.prefs
    dlg = ExportDialog(
        ctx.dialog_parent,
        frames=frames,
        resolution=ctx.model.resolution,
        kind=kind,
        last=prefs.export,
        folder=str(suggest_folder(prefs.export_folder, kind)),
    )
    chosen = exec_dialog(
        dlg,
        lambda d: (
            d.settings_dict(),
            d.out_dir(),
            d.settings(),
            d.continuum_id(),
            d.resume,
            d.overwrite,
        ),
    )
    if chosen is None:
        return
    settings_dict, out_dir, settings, continuum_id, resume, overwrite = chosen
    prefs.export = settings_dict
    prefs.export_folder = str(out_dir.parent)
    prefs.save()
    run_export(ctx, target, out_dir, settings, continuum_id, resume=resume, overwrite=overwrite)


__all__ = [
    "ExportDialog",
    "export_with_dialog",
    "run_export",
    "settings_from_dict",
    "suggest_folder",
]
