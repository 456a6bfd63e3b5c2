"""Eq. 4's settings, the one source of their defaults.

Kept apart from `core.invert` (which imports torch) so that the app can read the defaults for
its preferences while its window opens, before torch is loaded; `core.invert` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import OptionError

# The choices of F for Eq. 4 (`InversionSettings.perceptual`, CLI `--perceptual`).
PERCEPTUAL_KINDS = ("discriminator", "lite0")


@dataclass
class InversionSettings:
    steps: int = 100
    lr: float = 0.01
    lambda_pixel: float = 1.0
    lambda_perceptual: float = 5e-5  # lambda3
    lambda_encoder: float = 2.0  # lambda4
    outside_weight: float = 0.0  # pixel weight on the target outside the mask (default off)
    preview_every: int = 10
    seed: int = 0
    perceptual: str = "discriminator"  # F: "discriminator" blocks or "lite0" (ImageNet)
    optimize_noise: bool = False  # also optimise the per-layer noise maps (StyleGAN2 projector)
    # Weight of the noise maps' autocorrelation penalty (docs/INVERSION.md): at 1 the penalty
    # still ends ~1e4x below that of the model's own random maps, while 1e3 and the projector's
    # 1e5 (set against LPIPS) leave the maps where they started; 0 fits most, unconstrained.
    noise_regularize: float = 1.0
    # Start from the noise encoder's maps where the model has one (core.nets.noise_encoder):
    # held fixed while w moves, or the start of the fit with optimize_noise. Off, or a model
    # without a noise encoder, gives the paper's recipe with the generator's fixed maps.
    encoder_noise: bool = True

    def validate(self) -> None:
        if self.perceptual not in PERCEPTUAL_KINDS:
            raise OptionError(
                f"perceptual must be one of {', '.join(PERCEPTUAL_KINDS)}, got {self.perceptual!r}"
            )
        if self.steps < 0:
            raise OptionError(f"steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            raise OptionError(f"learning rate must be > 0, got {self.lr}")
        for name in (
            "lambda_pixel",
            "lambda_perceptual",
            "lambda_encoder",
            "outside_weight",
            "noise_regularize",
        ):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise OptionError(f"{name} must be a finite number >= 0, got {v}")
