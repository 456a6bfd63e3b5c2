"""Rendering a continuum's frames: all at its spacing with their step distances
(`render_continuum`; `render_path` is its deprecated old name), or one at a time for export
and scrubbing (`iter_frames`). Every frame is shown in the continuum's one orientation
(`Continuum.orientation`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np

from ..device import Compute
from ..invert import synthesize
from ..model import Model
from ..orientation import orient
from .continuum import Continuum, ContinuumFrames, Frame, latent_at
from .noise import noise_at
from .spacing import SpacingProgress, default_metric, iter_spacing


def render_continuum(
    continuum: Continuum,
    model: Model,
    compute: Compute | None = None,
    metric: str | None = None,
    with_images: bool = True,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[SpacingProgress], None] | None = None,
) -> ContinuumFrames:
    """Frames of the continuum at its spacing, with step distances in `metric`.

    metric defaults to "perceptual" (the model's F) unless spacing is "pixel". A spacing
    result already on the continuum for the same model and settings is used as it is (no renders
    beyond the frames themselves when images are asked for).
    """
    continuum.validate()
    for a in continuum.anchors:
        a.latent.check_model(model, allow_other_model=True)
    metric = metric or default_metric(continuum)
    res = continuum.spacing_result
    if (
        res is None
        or not res.matches(continuum, model, metric)
        or (with_images and res.images is None)
    ):
        res = None
        for rec in iter_spacing(
            continuum, model, compute, metric, should_stop=should_stop, keep_images=with_images
        ):
            if on_progress is not None:
                on_progress(rec)
            if rec.finished:
                res = rec.result
    if res is None:  # cancelled
        return ContinuumFrames([], np.zeros(0), continuum.spacing, metric, {"cancelled": True})
    pos, dist = res.positions, res.distances
    frames = []
    cum = 0.0
    for i, s in enumerate(pos):
        seg = min(int(np.floor(s)), continuum.segments - 1)
        step = float(dist[i - 1]) if i > 0 else 0.0
        cum += step
        img = res.images[i] if with_images and res.images is not None else None
        img = None if img is None else orient(img, continuum.orientation)
        frames.append(
            Frame(i, float(s), seg, float(s - seg), latent_at(continuum, s), img, step, cum)
        )
    return ContinuumFrames(
        frames, dist, continuum.spacing, metric, {"renders": res.renders, "seconds": res.seconds}
    )


def render_path(*args, **kwargs) -> ContinuumFrames:
    """Deprecated: the old name of `render_continuum` (issue 40: a continuum is called a
    continuum); calls it with the same arguments, with a DeprecationWarning."""
    warnings.warn(
        "render_path is deprecated: use render_continuum", DeprecationWarning, stacklevel=2
    )
    return render_continuum(*args, **kwargs)


def iter_frames(
    continuum: Continuum, positions: np.ndarray, model: Model, compute=None
) -> Iterator[Frame]:
    """Render frames one at a time (export, scrubbing): cancellable between frames."""
    for i, s in enumerate(positions):
        seg = min(int(np.floor(s)), continuum.segments - 1)
        w = latent_at(continuum, s)
        noise = noise_at(continuum, s, model)
        img = synthesize(model, w, compute, noise=noise, orientation=continuum.orientation)[0]
        yield Frame(i, float(s), seg, float(s - seg), w, img)
