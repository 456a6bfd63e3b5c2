"""Model evaluation on held-out real patches: `stimstudio evaluate-model`.

Five questions, each answered with its recipe beside the numbers (DESIGN.md, Evaluation notes):

1. **Sliced Wasserstein distance** (Karras et al. 2018, the progressive-GAN recipe): Laplacian
   pyramid down to 16 px, 128 random 7x7 descriptors per image and level, each set normalised
   on its own, 4 x 128 random projections, x 10^3. Generated vs held-out real per pyramid level,
   each level as a ratio to the real-vs-real floor (train vs held-out) measured with the same
   recipe and the **same number of images on every side** (unequal sets give misaligned sorted
   quantiles; the larger set is subsampled). `swd_sanity` gives the ratios of two known fakes
   (Gaussian noise, real patches blurred with sigma = 3 px) to show the metric orders them.
2. **Classifier two-sample test**: a small CNN trained to tell generated from real *training*
   patches (validation split, early stopping on the validation loss, best epoch kept), then its
   accuracy on held-out real vs fresh generated patches (0.5 = indistinguishable). Beside it the
   same classifier recipe on real-vs-real (train vs held-out patients: what "chance" looks like
   with these patient groups) and on a known fake (blurred real patches) to prove it has power.
   Its input is the image and, beside it, the image's fine residual (image minus a 3x3 blur,
   amplified): film-only patches are smooth, and from the image alone the net never learned
   to see a blur that removed their ~2-grey-level grain.
   Generated images are quantised to 8 bits exactly like the real patches first; otherwise
   the classifier could tell the sets apart by quantisation alone.
3. **Reconstruction** of held-out real patches: PSNR, SSIM and detail fidelity
   (`core.metrics`) for the encoder alone and after Eq. 4 steps (`core.invert.run_inversion`),
   a constant image at each patch's mean beside them; and the masked compose task (Fig. 4) on
   held-out lesion patches, inside the lesion mask, again with the constant baseline.
4. A real/generated **sample grid** PNG, and the power-spectrum exponent beta of both sets.
5. **Cues**: which named property (brightness, dark rims, grain, strand orientation, bright
   dots) separates generated from real patches, each as a cross-validated two-sample test
   beside its real-vs-real baseline: the classifier test's "whether", explained as "by what".

Nothing here downloads anything (no Inception/ImageNet weights). All sampling is seeded, so
the same model, data and settings give the same numbers (up to float rounding across thread
counts and devices).

The package, by job:
    settings        EvalSettings, SECTIONS, TARGETS
    data            held-out / training patches, generated, blurred and noise sets
    swd             Laplacian pyramid, descriptors, SWDReference, swd_report
    c2st            C2STNet, train_classifier, two_sample_test
    reconstruction  reconstruction_report, compose_report, constant baseline
    spectrum_grid   sample_grid, write_png, spectrum_report
    cues            image_cues, cues_report
    card            update_card, section_settings, settings_from_card, compare_with_card
    run             evaluate_model, Evaluation, targets_met
"""

from __future__ import annotations

from .c2st import (
    C2STNet,
    auc_score,
    c2st_report,
    classifier_scores,
    train_classifier,
    two_sample_test,
    wilson_interval,
)
from .c2st import _like as _like  # used by tests/test_evaluate.py
from .card import compare_with_card, section_settings, settings_from_card, update_card
from .cues import CUE_NAMES, cues_report, image_cues
from .data import blur_uint8, generate_uint8, load_eval_data, noise_like, to_uint8
from .reconstruction import compose_report, constant_baseline, reconstruction_report
from .run import Evaluation, evaluate_model
from .settings import SECTIONS, TARGETS, EvalSettings, Progress, targets_met
from .spectrum_grid import sample_grid, spectrum_report, write_png
from .swd import (
    SWDReference,
    laplacian_pyramid,
    normalise_descriptors,
    sample_descriptors,
    sliced_wasserstein,
    swd_report,
)

__all__ = [
    "CUE_NAMES",
    "image_cues",
    "cues_report",
    "Progress",
    "SECTIONS",
    "TARGETS",
    "EvalSettings",
    "targets_met",
    "load_eval_data",
    "to_uint8",
    "generate_uint8",
    "blur_uint8",
    "noise_like",
    "laplacian_pyramid",
    "sample_descriptors",
    "normalise_descriptors",
    "sliced_wasserstein",
    "SWDReference",
    "swd_report",
    "C2STNet",
    "classifier_scores",
    "auc_score",
    "train_classifier",
    "wilson_interval",
    "two_sample_test",
    "c2st_report",
    "constant_baseline",
    "reconstruction_report",
    "compose_report",
    "sample_grid",
    "write_png",
    "spectrum_report",
    "update_card",
    "section_settings",
    "settings_from_card",
    "compare_with_card",
    "Evaluation",
    "evaluate_model",
]
