"""Continua through W+ between anchors, and perceptually even frame spacing.

The paper interpolates codes linearly, but equal latent steps are not equal visual steps, and
serial-dependence or adaptation studies need equal morph steps: a continuum can be re-sampled so
consecutive frames are equally far apart in feature (or pixel) space; the per-step distances are
always reported. Over anchors A, B, C it has segments A->B, B->C (and C->A as a loop); position
`s` in [0, n_segments] is segment floor(s), fraction s - floor(s). Every anchor is a frame: the
steps are shared among the segments (at least one each) and spaced within each. Even spacing
renders only at the frames' own positions, refined a few rounds (`iter_spacing`, cancellable
between batches); its result is kept on the continuum (`spacing_result`, checked against model,
anchors and settings), so an export of it reuses positions and distances instead of recomputing.

Anchors that carry noise maps (an inversion with the noise encoder or with fitted noise) keep
them along the continuum: each frame's maps are the two anchors' maps blended like w+ (an anchor
without maps brings the model's fixed ones), rescaled to the blend of their standard
deviations, so a midpoint is as grainy as its ends instead of a fainter average (`noise_at`).
A continuum whose anchors carry no maps renders with the model's fixed maps, as before.

The package by job: `continuum` (the records and where frames sit on the path), `noise` (noise
maps along it), `spacing` (even spacing in features or pixels), `frames` (rendering). Every
name is importable from `stimstudio.core.interpolate` as before.
"""

from __future__ import annotations

from .continuum import (
    FRAME_SPACINGS,
    INTERPOLATION_METHODS,
    Anchor,
    Continuum,
    ContinuumFrames,
    Frame,
    _positions_from_counts,
    _segment_of,
    _slerp,
    allocate_steps,
    anchor_frames,
    latent_at,
    uniform_positions,
)

# The records above need no torch, so the app's window can hold a continuum before the model
# loads (tests/gui/test_window.py); the rest is imported on first use.
_LAZY = {
    "frames": ("iter_frames", "render_continuum", "render_path"),
    "noise": ("_anchor_noise", "_noise_between", "noise_at", "noise_batch"),
    "spacing": (
        "SPACING_VERSION",
        "Renderer",
        "SpacingProgress",
        "SpacingResult",
        "_balance",
        "_counts_of",
        "_DenseCurve",
        "_distances",
        "_relax",
        "_Samples",
        "_segment_lengths",
        "compute_spacing",
        "default_metric",
        "iter_spacing",
        "spacing_key",
        "within_segment_cv",
    ),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        from importlib import import_module

        value = getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "FRAME_SPACINGS",
    "INTERPOLATION_METHODS",
    "SPACING_VERSION",
    "Anchor",
    "Continuum",
    "ContinuumFrames",
    "Frame",
    "Renderer",
    "SpacingProgress",
    "SpacingResult",
    "allocate_steps",
    "anchor_frames",
    "compute_spacing",
    "default_metric",
    "iter_frames",
    "iter_spacing",
    "latent_at",
    "noise_at",
    "noise_batch",
    "render_continuum",
    "render_path",  # deprecated: the old name of render_continuum
    "spacing_key",
    "uniform_positions",
    "within_segment_cv",
    # private helpers, importable as before (tests patch `_Samples`)
    "_DenseCurve",
    "_Samples",
    "_anchor_noise",
    "_balance",
    "_counts_of",
    "_distances",
    "_noise_between",
    "_positions_from_counts",
    "_relax",
    "_segment_lengths",
    "_segment_of",
    "_slerp",
]
