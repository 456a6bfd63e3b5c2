"""What an evaluation measures and against which targets: `EvalSettings`, `SECTIONS`,
`TARGETS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ...core.errors import OptionError
from ...core.inversion_settings import InversionSettings

Progress = Callable[[str, int, int], None]

SECTIONS = ("swd", "c2st", "reconstruction", "compose", "spectrum", "cues")
# Opt-in sections (`--sections ...,realism`): the realism of inversion outputs costs Eq. 4 on
# hundreds of patches (hours of CPU), so the default card does not run it.
OPTIONAL_SECTIONS = ("realism",)
REALISM_KINDS = ("samples", "encoder", "eq4", "continuum", "composite")

# The shipped default's targets (issues 3 and 14): (comparison, target, goal).
# The spectrum gap is |beta generated - beta held-out real|: a generator can match SWD on
# average and still draw the wrong balance of coarse and fine structure.
TARGETS = {
    "swd_mean_ratio": ("<=", 1.5, 1.2),
    "swd_worst_ratio": ("<=", 3.0, 1.5),
    "c2st_accuracy": ("<=", 0.75, 0.6),
    "spectrum_beta_gap": ("<=", 0.25, 0.1),
    "encoder_psnr": (">=", 28.0, None),
    "encoder_detail": (">=", 0.15, None),
    "inversion_psnr": (">=", 36.0, 40.0),
    "inversion_detail": (">=", 0.5, 0.8),
}


@dataclass
class EvalSettings:
    """Sizes and seeds of every measurement; `quick()` is the test-sized variant."""

    sections: tuple[str, ...] = SECTIONS
    kinds: str = "all"  # which real patches: all | tissue | lesion
    seed: int = 0
    psi: float = 1.0  # truncation of generated samples (1 = none: the model's distribution)
    gen_batch: int = 32
    # SWD
    swd_n: int = 512  # images per side
    swd_min_res: int = 16
    swd_nhood: int = 7
    swd_per_image: int = 128
    swd_repeats: int = 4
    swd_dirs: int = 128
    swd_sanity: bool = True
    blur_sigma: float = 3.0  # the known fake for SWD and the classifier
    # classifier two-sample test
    c2st_fit: int = 2000  # per side, incl. the validation split
    c2st_test: int = 1000  # per side
    c2st_val_fraction: float = 0.2
    c2st_max_epochs: int = 60
    c2st_patience: int = 6  # epochs without a better validation loss, counted after min_steps
    c2st_min_steps: int = 600  # optimiser steps before early stopping or lr decay may act
    c2st_batch: int = 64
    c2st_lr: float = 1e-3
    c2st_width: int = 16
    c2st_norm: str = "group"  # group | batch | none
    # gain of the classifier's fine-detail input channel (C2STNet); 0 = the image alone,
    # the classifier of cards made before 2026-11-30, which was blind to a 3-px blur
    c2st_detail_gain: float = 8.0
    # independent draws of the generated-vs-real test (fresh generated and real patches,
    # a fresh classifier each): one draw of this size moves by ~0.07 from draw to draw,
    # more than its own binomial interval, so a target is judged on the mean of several
    c2st_repeats: int = 1
    c2st_baselines: bool = True  # real-vs-real and known-fake runs beside the real test
    # reconstruction
    recon_n: int = 8
    compose_n: int = 4
    steps: int = 100
    # A second Eq. 4 row beside the paper's recipe: the per-layer noise maps fitted with w
    # (docs/INVERSION.md), with this noise penalty and this lambda4. Fine texture that W+
    # cannot express goes into the maps, so this row says how faithful a single copy can be;
    # the default row says what continua and mixing (w+ only) keep.
    recon_fit_noise: bool = False
    recon_noise_penalty: float = 0.0
    recon_noise_lambda_encoder: float = 2.0
    # grid
    grid_rows: int = 4
    grid_cols: int = 4
    spectrum_n: int = 128
    # named cues (brightness, rim, grain, orientation, dots, layout) as two-sample tests
    cues_n: int = 1000  # per side
    cues_folds: int = 5
    # the orientation the generated samples are shown in (core.orientation): "as-generated"
    # measures the model itself; "random" turns sample i by what seed (seed * 1000 + 1 + i)
    # draws, as `generate --orientation random` does, so every section sees stimuli as shown
    orientation: str = "as-generated"
    # the realism of what inversion outputs (opt-in section "realism", train/evaluate/realism.py)
    realism_fit: int = 200  # per side
    realism_test: int = 200  # per side
    # classifiers trained per kind (seeds seed, seed+1, ...), pooled as the card's c2st draws
    realism_repeats: int = 5
    realism_kinds: tuple[str, ...] = REALISM_KINDS
    realism_values: tuple[float, ...] = (InversionSettings().realism,)  # the app's default
    # Eq. 4 with the noise maps fitted beside w (the app's "Fit them too"): the maps can carry
    # what w cannot express (the card's fitted-noise row), so are those results real?
    realism_fit_noise: bool = False
    # ... with the fitted maps' penalty and lambda4 (the app's defaults, or the card's
    # fitted-noise row: 0 and 0, where the maps carry the target's own detail, 46.7 dB)
    realism_noise_penalty: float = InversionSettings().noise_regularize
    realism_lambda_encoder: float = InversionSettings().lambda_encoder
    # composites only: the template's pixel weight outside the mask and the free band around
    # the outline where the generator draws the seam (InversionSettings.outside_weight,
    # seam_band; the paper's composites: 0 and 0)
    realism_placement: str = "paste"  # composites: "paste" or "blend" (core.insertion)
    realism_outside_weight: float = InversionSettings().outside_weight
    realism_seam_band: float = InversionSettings().seam_band
    # A folder that keeps every finished batch of Eq. 4 outputs (keyed by the model, the settings
    # and the targets), so that an interrupted realism run resumes instead of starting over:
    # hours of CPU per setting, and the run writes its numbers only at the end.
    realism_cache: str = ""

    @classmethod
    def quick(cls, **kw) -> EvalSettings:
        base = dict(
            swd_n=64,
            swd_per_image=32,
            swd_repeats=2,
            swd_dirs=64,
            c2st_fit=96,
            c2st_test=48,
            c2st_max_epochs=4,
            c2st_patience=2,
            c2st_min_steps=10,
            c2st_batch=32,
            recon_n=2,
            compose_n=1,
            steps=5,
            grid_rows=2,
            grid_cols=3,
            spectrum_n=16,
            cues_n=40,
            realism_fit=24,
            realism_test=16,
            realism_repeats=2,
        )
        base.update(kw)
        return cls(**base)

    def validate(self) -> None:
        every = SECTIONS + OPTIONAL_SECTIONS
        bad = [s for s in self.sections if s not in every]
        if bad:
            raise OptionError(f"unknown section {bad[0]!r}; choose from {', '.join(every)}")
        bad = [k for k in self.realism_kinds if k not in REALISM_KINDS]
        if bad:
            raise OptionError(
                f"unknown realism kind {bad[0]!r}; choose from {', '.join(REALISM_KINDS)}"
            )
        for v in self.realism_values:
            InversionSettings(realism=float(v)).validate()
        if self.kinds not in ("all", "tissue", "lesion"):
            raise OptionError(f"kinds must be all, tissue or lesion, not {self.kinds!r}")
        for name in (
            "swd_n",
            "c2st_fit",
            "c2st_test",
            "swd_per_image",
            "swd_dirs",
            "cues_n",
            "realism_fit",
            "realism_test",
        ):
            if getattr(self, name) < 8:
                raise OptionError(f"{name} must be at least 8, got {getattr(self, name)}")
        for name in ("recon_n", "compose_n", "steps", "grid_rows", "grid_cols"):
            if getattr(self, name) < 0:
                raise OptionError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.realism_placement not in ("paste", "blend"):
            raise OptionError(
                f"realism placement must be paste or blend, not {self.realism_placement!r}"
            )
        if self.realism_repeats < 1:
            raise OptionError(f"realism_repeats must be at least 1, got {self.realism_repeats}")
        if self.c2st_repeats < 1:
            raise OptionError(f"c2st_repeats must be at least 1, got {self.c2st_repeats}")
        from ...core.orientation import check_orientation

        check_orientation(self.orientation)
        if self.cues_folds < 2:
            raise OptionError(f"cues_folds must be at least 2, got {self.cues_folds}")
        for name in (
            "c2st_detail_gain",
            "recon_noise_penalty",
            "recon_noise_lambda_encoder",
            "realism_noise_penalty",
            "realism_lambda_encoder",
            "realism_outside_weight",
            "realism_seam_band",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise OptionError(f"{name} must be a finite number >= 0, got {v}")
        if not 0 < self.c2st_val_fraction < 0.5:
            raise OptionError("the classifier's validation fraction must be in (0, 0.5)")
        if self.swd_nhood % 2 != 1 or self.swd_nhood < 3:
            raise OptionError("the SWD neighbourhood must be an odd size >= 3")


def targets_met(result: dict) -> dict:
    """Each target of the shipped default: value, target, goal, met (None if not measured)."""
    get = {
        "swd_mean_ratio": ("swd", "generated", "mean_ratio"),
        "swd_worst_ratio": ("swd", "generated", "worst_ratio"),
        "c2st_accuracy": ("c2st", "generated", "accuracy"),
        "encoder_psnr": ("reconstruction", "encoder", "psnr"),
        "encoder_detail": ("reconstruction", "encoder", "detail"),
        "inversion_psnr": ("reconstruction", "inversion", "psnr"),
        "inversion_detail": ("reconstruction", "inversion", "detail"),
    }
    values = {}
    for key, path in get.items():
        v = result
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        values[key] = v
    spectrum = result.get("spectrum") if isinstance(result.get("spectrum"), dict) else {}
    real = (spectrum.get("heldout_real") or {}).get("beta_mean")
    generated = (spectrum.get("generated") or {}).get("beta_mean")
    values["spectrum_beta_gap"] = (
        abs(generated - real)
        if isinstance(real, (int, float)) and isinstance(generated, (int, float))
        else None
    )
    out = {}
    for key in TARGETS:
        v = values[key]
        op, target, goal = TARGETS[key]
        ok = None
        if isinstance(v, (int, float)) and math.isfinite(v):
            ok = v <= target if op == "<=" else v >= target
        out[key] = {"value": v, "target": f"{op} {target}", "goal": goal, "met": ok}
    return out
