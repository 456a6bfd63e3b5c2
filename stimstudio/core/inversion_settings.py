"""Eq. 4's settings, the one source of their defaults.

Kept apart from `core.invert` (which imports torch) so that the app can read the defaults for
its preferences while its window opens, before torch is loaded; `core.invert` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import OptionError

# The fidelity/realism control (`InversionSettings.realism`, CLI `--realism`, Compose settings):
# 0 is the paper's Eq. 4; above 0 every whitened coordinate of each layer's w is held within a
# limit of the generator's own W (core.realism.WPrior), from REALISM_LIMIT_AT_0 standard
# deviations at 0+ down to REALISM_LIMIT_AT_1 at 1, evenly on a log scale.
REALISM_LIMIT_AT_0 = 300.0
REALISM_LIMIT_AT_1 = 3.0


# with a realism limit Adam moves whitened coordinates (unit spread), at this multiple of lr
REALISM_LR_SCALE = 5.0


def realism_radius(realism: float) -> float | None:
    """The limit (standard deviations of W per whitened coordinate) within which `realism`
    holds each layer's w; None at 0 (no constraint: the paper's recipe)."""
    if realism <= 0:
        return None
    return REALISM_LIMIT_AT_0 * (REALISM_LIMIT_AT_1 / REALISM_LIMIT_AT_0) ** realism


# The feature networks F of Eq. 4, one word each wherever code names one (issue 40):
# `PerceptualFeatures.kind`, settings, CLI. The model's discriminator blocks, frozen ImageNet
# EfficientNet-Lite0, or VGG16 conv4_3 from a local torchvision file.
FEATURE_NETWORKS = ("discriminator", "lite0", "vgg16")
# The ones chosen by name (`InversionSettings.perceptual`, CLI `--feature-network`); VGG16
# comes only with its local file (`--vgg16`, Settings ▸ VGG16 file).
PERCEPTUAL_KINDS = FEATURE_NETWORKS[:2]


@dataclass(frozen=True)
class InversionSettings:
    """Eq. 4's settings. Frozen: a run, a preview and the latent's record all see the same
    values (the Compose page once changed its copy's steps in place); use
    `dataclasses.replace` for a variant."""

    steps: int = 100
    lr: float = 0.01
    lambda_pixel: float = 1.0
    lambda_perceptual: float = 5e-5  # lambda3
    lambda_encoder: float = 2.0  # lambda4
    outside_weight: float = 0.0  # pixel weight on the target outside the mask (default off)
    # Composites: a band this many pixels wide on each side of the mask's outline where no
    # pixel is fitted and the noise maps start as the model's own, so that the generator, not
    # the pasted edge, draws the seam between texture and template (0: off, the paper's).
    seam_band: float = 0.0
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
    # Weights of the two realism terms (core.realism): the model's projected discriminator on
    # the rendered image, and the prior that keeps each layer's w inside the generator's W.
    # Both 0: the paper's Eq. 4 (faithful, but hazy: docs/INVERSION.md "Realism").
    lambda_critic: float = 0.0
    lambda_prior: float = 0.0
    # Experimental, 0..1 (see realism_radius): how tightly each layer's code is held inside the
    # generator's own W. Meant to move results from fitting the target's pixels (0) toward
    # looking like the generator's samples; at 1 it keeps 33.8 dB (0: 35.1) and fixes the
    # coarse layout, but the classifier still tells its results from real at 0.975 (random
    # samples 0.650, same run; docs/INVERSION.md "Realism"), so the default is 0, the paper's.
    realism: float = 0.0

    def validate(self) -> None:
        if self.perceptual not in PERCEPTUAL_KINDS:
            raise OptionError(
                f"perceptual must be one of {', '.join(PERCEPTUAL_KINDS)}, got {self.perceptual!r}"
            )
        if not (np.isfinite(self.realism) and 0 <= self.realism <= 1):
            raise OptionError(f"realism must lie in 0..1, got {self.realism}")
        if self.steps < 0:
            raise OptionError(f"steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            raise OptionError(f"learning rate must be > 0, got {self.lr}")
        for name in (
            "lambda_pixel",
            "lambda_perceptual",
            "lambda_encoder",
            "outside_weight",
            "seam_band",
            "noise_regularize",
            "lambda_critic",
            "lambda_prior",
        ):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise OptionError(f"{name} must be a finite number >= 0, got {v}")


# What `stimstudio invert` and the app's "Invert as anchor" use: Eq. 4 with the noise maps fitted
# to the image with no penalty, and no lambda4 (the card's fitted-noise row, 46.7 dB). The maps
# then carry the film's own strands and grain, which w cannot express. Measured on held-out
# patients (docs/INVERSION.md, "The noise maps fitted to the film", 2026-12-08, 48 / 88 per
# side): a classifier tells these results from real film at 0.449 and the middle frames of
# continua between them at 0.591, random samples of the same run at 0.642; 46.0 dB, detail 0.88.
INVERT_DEFAULTS = InversionSettings(optimize_noise=True, noise_regularize=0.0, lambda_encoder=0.0)

# What `stimstudio compose` and the app's Compose page use: the same fitted maps, the template
# fitted outside the mask as the texture is inside, and a free band of SEAM_BAND px on either
# side of the outline where the generator, starting from its own noise there, draws the seam.
# The paper's recipe (InversionSettings()) fits the texture alone and leaves the rest to the
# encoder's hazy reconstruction; its composites are told from real at a glance (issue 37;
# docs/INVERSION.md, "Composites").
SEAM_BAND = 4.0
COMPOSE_DEFAULTS = InversionSettings(
    optimize_noise=True,
    noise_regularize=0.0,
    lambda_encoder=0.0,
    outside_weight=1.0,
    seam_band=SEAM_BAND,
)
