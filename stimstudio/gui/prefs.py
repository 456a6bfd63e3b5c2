"""The app's preferences (Settings dialog) and where its files live.

Preferences are a small JSON file in the config folder: `STIMSTUDIO_CONFIG_DIR` when set (tests,
portable installs), otherwise the platform's application-config folder. The recovery copy of
the open project (autosave) lives beside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from stimstudio.core.inversion_settings import (
    COMPOSE_DEFAULTS,
    INVERT_DEFAULTS,
    InversionSettings,
)

MAX_RECENT = 10
# Eq. 4's defaults come from core (torch-free module, so reading them does not slow the start):
# the Compose page's are COMPOSE_DEFAULTS (core.inversion_settings says why they are not the
# paper's; Settings offers the paper's recipe with one button).
EQ4 = COMPOSE_DEFAULTS
PAPER = InversionSettings()


def config_dir() -> Path:
    env = os.environ.get("STIMSTUDIO_CONFIG_DIR")
    if env:
        path = Path(env)
    else:
        from PySide6.QtCore import QStandardPaths

        loc = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)
        path = Path(loc or Path.home() / ".config") / "stimstudio"
        if path.parent.name.lower() == "stimstudio":  # Qt already appended the app name
            path = path.parent
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """`resources/` at the repository root (icons, style sheet, sample images)."""
    return Path(__file__).resolve().parents[2] / "resources"


def sample_files() -> list[Path]:
    """The shipped sample films: mini-MIAS crops (`mdbNNN.pgm` beside their `Info.txt`)."""
    folder = resources_dir() / "samples"
    return sorted(folder.glob("mdb*.pgm")) if folder.is_dir() else []


def sample_title(path: Path) -> str:
    """A menu line for a sample film from its Info.txt row, e.g. 'mdb028 · mass (CIRC, M)'."""
    from stimstudio.core.readers.minimias import CLASS_NAMES, SHAPES, find_info, parse_info

    path = Path(path)
    try:
        info = find_info(path)
        rows = parse_info(info).get(path.stem.lower(), []) if info else []
    except Exception:  # noqa: BLE001 - a menu label must never stop the app
        rows = []
    words = []
    for row in rows:
        cls = row["class"]
        if cls == "NORM":
            words.append("normal tissue, no lesion")
            continue
        sev = {"B": "benign", "M": "malignant"}.get(row["severity"] or "", "")
        shape = SHAPES.get(cls, "")
        words.append(" ".join(w for w in (sev, shape, CLASS_NAMES.get(cls, cls.lower())) if w))
    return f"{path.stem} · {', '.join(words)}" if words else path.stem


@dataclass
class Preferences:
    """Everything the Settings dialog edits; the inversion values default to core's
    `COMPOSE_DEFAULTS`, the device and precision to core's "auto"."""

    device: str = "auto"  # one of core.compute_choices.DEVICE_CHOICES
    precision: str = "auto"  # one of core.compute_choices.PRECISION_CHOICES
    steps: int = EQ4.steps
    lambda_perceptual: float = EQ4.lambda_perceptual  # lambda3
    lambda_encoder: float = EQ4.lambda_encoder  # lambda4
    lr: float = EQ4.lr
    outside_weight: float = EQ4.outside_weight
    seam_band: float = EQ4.seam_band  # px either side of the mask's outline: the generator's
    preview_every: int = EQ4.preview_every
    optimize_noise: bool = EQ4.optimize_noise  # also fit the per-layer noise maps
    noise_regularize: float = EQ4.noise_regularize  # their autocorrelation penalty
    encoder_noise: bool = EQ4.encoder_noise  # start from the noise encoder's maps
    realism: float = EQ4.realism  # fidelity (0, the paper's) <-> realism (1): core.realism
    # "Invert as anchor" fits the image's own fine texture (core's INVERT_DEFAULTS: noise maps
    # fitted without penalty, no lambda4); off: the Compose settings above, as before
    anchor_fit_texture: bool = True
    weights: str = ""  # empty: the shipped model (or STIMSTUDIO_WEIGHTS)
    vgg16: str = ""  # empty: the model's discriminator features
    feather: float = 2.0
    autosave_seconds: int = 60
    recent: list[str] = field(default_factory=list)
    export: dict = field(default_factory=dict)  # the Export dialog's last settings
    export_folder: str = ""  # where the last export went (the dialog starts there)
    samples_offered: bool = False  # the first run opens the sample images once

    @classmethod
    def load(cls) -> Preferences:
        path = config_dir() / "preferences.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        known = {f.name for f in fields(cls)}
        prefs = cls()
        for k, v in data.items() if isinstance(data, dict) else ():
            if k in known and isinstance(v, type(getattr(prefs, k))):
                setattr(prefs, k, v)
            elif k in known and isinstance(getattr(prefs, k), float) and isinstance(v, int):
                setattr(prefs, k, float(v))
        return prefs

    def save(self) -> None:
        from stimstudio.core.model import atomic_write_bytes

        path = config_dir() / "preferences.json"
        atomic_write_bytes(path, json.dumps(asdict(self), indent=2).encode())

    def add_recent(self, path: str) -> None:
        path = str(path)
        self.recent = [path] + [p for p in self.recent if p != path]
        del self.recent[MAX_RECENT:]

    def anchor_settings(self) -> InversionSettings:
        """What "Invert as anchor" runs: the Compose settings, with the noise maps fitted to
        the image and no lambda4 while `anchor_fit_texture` is on (core.inversion_settings,
        INVERT_DEFAULTS, says why)."""
        s = self.inversion_settings()
        if not self.anchor_fit_texture:
            return s
        return replace(
            s,
            optimize_noise=INVERT_DEFAULTS.optimize_noise,
            noise_regularize=INVERT_DEFAULTS.noise_regularize,
            lambda_encoder=INVERT_DEFAULTS.lambda_encoder,
        )

    def inversion_settings(self) -> InversionSettings:
        return InversionSettings(
            steps=int(self.steps),
            lr=float(self.lr),
            lambda_perceptual=float(self.lambda_perceptual),
            lambda_encoder=float(self.lambda_encoder),
            outside_weight=float(self.outside_weight),
            seam_band=max(float(self.seam_band), 0.0),
            preview_every=int(self.preview_every),
            optimize_noise=bool(self.optimize_noise),
            noise_regularize=float(self.noise_regularize),
            encoder_noise=bool(self.encoder_noise),
            realism=min(max(float(self.realism), 0.0), 1.0),
        )
