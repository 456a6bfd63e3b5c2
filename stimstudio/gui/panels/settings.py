"""Settings dialog: the model (Settings ▸ Model), device, precision, inversion settings, VGG16."""

from __future__ import annotations

from dataclasses import replace
from html import escape

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
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from stimstudio.core.compute_choices import DEVICE_CHOICES, PRECISION_CHOICES

from ..context import AppContext
from ..folders import remember, start_path
from ..prefs import PAPER, Preferences
from ..widgets import FormScroll, hint
from .model_choice import ModelChoice


def _sci_spin(value: float, lo: float, hi: float, decimals: int = 7) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(lo, hi)
    box.setValue(value)
    box.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
    return box


class FileField(QWidget):
    kind = "weights"  # which last folder its dialog opens in (folders.py)

    def __init__(self, value: str, placeholder: str, filt: str, parent=None):
        super().__init__(parent)
        self.filt = filt
        self.edit = QLineEdit(value)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(browse)

    def _browse(self) -> None:
        start = self.edit.text() or start_path(self.kind)
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, self.filt)
        if path:
            remember(self.kind, path)
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802 - as QLineEdit
        self.edit.setText(text)


class FolderField(FileField):
    """A line edit + Browse… that picks a folder."""

    kind = "judgement-images"  # a subclass or instance names its own last folder
    caption = "Choose a folder"

    def _browse(self) -> None:
        start = self.edit.text() or start_path(self.kind)
        folder = QFileDialog.getExistingDirectory(self, self.caption, start)
        if folder:
            remember(self.kind, folder)
            self.edit.setText(folder)


class SettingsDialog(QDialog):
    """Edits a copy of the preferences; `result_prefs()` after exec() returns the new ones."""

    def __init__(self, prefs: Preferences, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._prefs = prefs

        compute = QGroupBox("Computation")
        f1 = QFormLayout(compute)
        self.device = QComboBox()
        self.device.addItems(DEVICE_CHOICES)
        self.device.setCurrentText(prefs.device)
        self.device.setToolTip("auto: a CUDA GPU, then Apple MPS, then the CPU")
        self.precision = QComboBox()
        self.precision.addItems(PRECISION_CHOICES)
        self.precision.setCurrentText(prefs.precision)
        self.precision.setToolTip(
            "auto = fp32 (exact, reproducible). bf16 is 1.4-1.8x faster on CPU; fp16 only on a GPU."
        )
        f1.addRow("Device", self.device)
        f1.addRow("Precision", self.precision)

        inv = QGroupBox("Compose (masked optimisation, Eq. 4)")
        f2 = QFormLayout(inv)
        self.steps = QSpinBox()
        self.steps.setRange(0, 5000)
        self.steps.setValue(prefs.steps)
        self.steps.setToolTip("Optimisation steps after the encoder's guess (paper: 100)")
        self.lambda3 = _sci_spin(prefs.lambda_perceptual, 0, 10)
        self.lambda3.setToolTip("λ3: weight of the perceptual (feature) term; paper 5e-5")
        self.lambda4 = _sci_spin(prefs.lambda_encoder, 0, 100, 4)
        self.lambda4.setToolTip("λ4: weight of the encoder term that keeps the code in domain")
        self.lr = _sci_spin(prefs.lr, 1e-6, 1, 5)
        self.lr.setToolTip("Adam learning rate (paper recipe: 0.01)")
        self.outside = _sci_spin(prefs.outside_weight, 0, 1, 4)
        self.outside.setToolTip(
            "Pixel weight on the template outside the texture mask: 1 keeps the template's own "
            "tissue there (the default); the paper's recipe: 0, which leaves it to the "
            "encoder's hazy guess"
        )
        self.seam_band = _sci_spin(prefs.seam_band, 0, 32, 2)
        self.seam_band.setToolTip(
            "Pixels on either side of the texture's outline that are not fitted: the generator "
            "draws the seam there, from its own noise, instead of copying the pasted edge "
            "(paper: 0)"
        )
        self.paper = QPushButton("Use the paper's recipe")
        self.paper.setToolTip(
            "Set these fields to Eq. 4 as the paper gives it: the texture fitted, the rest left "
            "to the encoder, the model's own noise maps. Faithful in the mask, but hazy: "
            "a classifier tells such composites from real film at a glance "
            "(docs/INVERSION.md). Restore Defaults sets them back."
        )
        self.paper.clicked.connect(self._paper_recipe)
        self.preview_every = QSpinBox()
        self.preview_every.setRange(1, 100)
        self.preview_every.setValue(prefs.preview_every)
        self.preview_every.setToolTip("Update the live preview every N steps")
        self.encoder_noise = QCheckBox("From the noise encoder (keeps fine texture)")
        self.encoder_noise.setChecked(bool(prefs.encoder_noise))
        self.encoder_noise.setToolTip(
            "Start from the noise maps that the model's noise encoder predicts for the image, "
            "instead of the generator's fixed maps: grain and fine strands that the code alone "
            "cannot express come through (docs/INVERSION.md). The maps are saved with the result "
            "and continua blend them. Off, or a model without a noise encoder: the paper's recipe."
        )
        self.optimize_noise = QCheckBox("Fit them too (keeps fine texture)")
        self.optimize_noise.setChecked(bool(prefs.optimize_noise))
        self.optimize_noise.setToolTip(
            "Optimise the generator's per-layer noise maps with the code, as the StyleGAN2 "
            "projector does. Fine grain and strands that the code alone cannot express are "
            "kept (docs/INVERSION.md). The maps belong to this one result: they are saved "
            "with it and continua blend them; style mixing uses the code only."
        )
        self.noise_regularize = _sci_spin(prefs.noise_regularize, 0, 1e6, 4)
        self.noise_regularize.setToolTip(
            "Weight of the penalty that keeps the fitted maps white noise: lower keeps more "
            "of the target's detail (0 = none), higher keeps the model's own grain"
        )
        self.noise_regularize.setEnabled(self.optimize_noise.isChecked())
        self.optimize_noise.toggled.connect(self.noise_regularize.setEnabled)
        self.realism = QDoubleSpinBox()
        self.realism.setRange(0.0, 1.0)
        self.realism.setDecimals(2)
        self.realism.setSingleStep(0.1)
        self.realism.setValue(prefs.realism)
        self.realism.setToolTip(
            "0 = fidelity: the paper's Eq. 4, each layer's code free to fit the image. "
            "Toward 1 = realism: every layer's code is held inside the generator's own codes "
            "(at 1 within 3 standard deviations). Measured on held-out patients: 1 keeps "
            "33.8 dB and fixes the coarse layout that tells inverted images at a glance, but "
            "fine texture still differs, so the default is 0 (docs/INVERSION.md, Realism)."
        )
        f2.addRow("Steps", self.steps)
        f2.addRow("λ3 perceptual", self.lambda3)
        f2.addRow("λ4 encoder", self.lambda4)
        f2.addRow("Learning rate", self.lr)
        f2.addRow("Template weight outside mask", self.outside)
        f2.addRow("Free band around the outline (px)", self.seam_band)
        f2.addRow("Preview every", self.preview_every)
        f2.addRow("Fidelity ↔ realism", self.realism)
        f2.addRow("Noise maps", self.encoder_noise)
        f2.addRow("", self.optimize_noise)
        f2.addRow("Noise map penalty", self.noise_regularize)
        f2.addRow("", self.paper)

        anchors = QGroupBox("Anchors from images (Invert as anchor)")
        f4 = QFormLayout(anchors)
        self.anchor_fit_texture = QCheckBox("Fit the image's own fine texture")
        self.anchor_fit_texture.setChecked(bool(prefs.anchor_fit_texture))
        self.anchor_fit_texture.setToolTip(
            "On: the noise maps are fitted to the image with no penalty and λ4 is 0, so the "
            "anchor keeps the film's own strands and grain (measured: as hard to tell from "
            "real film as the generator's random samples; docs/INVERSION.md). "
            "Off: the Compose settings above. Compose itself always uses the settings above."
        )
        f4.addRow("", self.anchor_fit_texture)

        files = QGroupBox("Which model makes the stimuli")
        f3 = QFormLayout(files)
        self.weights = ModelChoice(prefs.weights, FileField)
        self.vgg16 = FileField(
            prefs.vgg16,
            "none: use the model's discriminator features",
            "PyTorch state dict (*.pth *.pt);;All files (*)",
        )
        self.vgg16.setToolTip(
            "A local torchvision vgg16 state dict for the perceptual term (conv4_3). "
            "Without it the model's own discriminator features are used."
        )
        f3.addRow("Model", self.weights)
        f3.addRow("VGG16 file", self.vgg16)
        f3.addRow(
            hint(
                "Changing the model, device or precision reloads the model. A latent, anchor or "
                "export only works with the model that made it (projects and exports record it)."
            )
        )

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self._defaults
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(FormScroll(files), "Model")
        self.tabs.addTab(FormScroll(compute, inv, anchors), "Computation")
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(buttons)

    def _paper_recipe(self) -> None:
        self._show_eq4(PAPER)

    def _defaults(self) -> None:
        d = Preferences()
        self._show_eq4(d.inversion_settings())
        self.preview_every.setValue(d.preview_every)
        self.anchor_fit_texture.setChecked(d.anchor_fit_texture)

    def _show_eq4(self, d) -> None:
        """The Compose fields from an InversionSettings."""
        self.steps.setValue(d.steps)
        self.lambda3.setValue(d.lambda_perceptual)
        self.lambda4.setValue(d.lambda_encoder)
        self.lr.setValue(d.lr)
        self.outside.setValue(d.outside_weight)
        self.seam_band.setValue(d.seam_band)
        self.encoder_noise.setChecked(d.encoder_noise)
        self.optimize_noise.setChecked(d.optimize_noise)
        self.noise_regularize.setValue(d.noise_regularize)
        self.realism.setValue(d.realism)

    def result_prefs(self) -> Preferences:
        return replace(
            self._prefs,
            device=self.device.currentText(),
            precision=self.precision.currentText(),
            steps=self.steps.value(),
            lambda_perceptual=self.lambda3.value(),
            lambda_encoder=self.lambda4.value(),
            lr=self.lr.value(),
            outside_weight=self.outside.value(),
            seam_band=self.seam_band.value(),
            preview_every=self.preview_every.value(),
            encoder_noise=self.encoder_noise.isChecked(),
            optimize_noise=self.optimize_noise.isChecked(),
            noise_regularize=self.noise_regularize.value(),
            realism=self.realism.value(),
            anchor_fit_texture=self.anchor_fit_texture.isChecked(),
            weights=self.weights.text(),
            vgg16=self.vgg16.text(),
        )


class ModelAboutDialog(QDialog):
    """Help ▸ About the model: the loaded model's card, its evaluation against its targets."""

    def __init__(self, ctx: AppContext, parent=None):
        super().__init__(parent or ctx.dialog_parent)
        self.ctx = ctx
        self.setWindowTitle("About the model")
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        status = getattr(ctx, "model_status", None)
        if ctx.model is not None and status is not None:
            path = f"<p style='color:#8d97a2'>{ctx.model.path}</p>" if ctx.model.path else ""
            self.text.setHtml(status.html + path)
        elif ctx.model_error:
            self.text.setHtml(f"<p><b>No model is loaded.</b> {escape(ctx.model_error)}</p>")
        else:
            self.text.setHtml("<p>The model is still loading.</p>")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        choose = buttons.addButton("Choose another model…", QDialogButtonBox.ButtonRole.ActionRole)
        choose.clicked.connect(self._settings)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addWidget(buttons)
        self.resize(660, 540)

    def _settings(self) -> None:
        self.accept()
        self.ctx.open_settings()
