"""Continua through W+: anchors, loops, lerp/slerp, perceptually even spacing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stimstudio.core.errors import OptionError
from stimstudio.core.interpolate import (
    Anchor,
    Continuum,
    allocate_steps,
    anchor_frames,
    iter_spacing,
    latent_at,
    render_continuum,
    uniform_positions,
    within_segment_cv,
)
from stimstudio.core.latent import Latent


def anchors(model, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return [
            Anchor(chr(65 + i), Latent(model.G.map(torch.randn(1, 32, generator=g))[0].numpy()))
            for i in range(n)
        ]


def test_path_passes_through_its_anchors(tiny_model):
    an = anchors(tiny_model)
    for method in ("lerp", "slerp"):
        p = Continuum(an, frames=9, loop=True, method=method)
        for i, a in enumerate(an):
            np.testing.assert_allclose(latent_at(p, i), a.latent.wplus, atol=1e-5)
        np.testing.assert_allclose(latent_at(p, 3), an[0].latent.wplus, atol=1e-5)  # closes


def test_uniform_positions_open_and_loop(tiny_model):
    an = anchors(tiny_model)
    np.testing.assert_allclose(uniform_positions(Continuum(an, frames=5)), [0, 0.5, 1, 1.5, 2])
    loop = uniform_positions(Continuum(an, frames=6, loop=True))
    np.testing.assert_allclose(loop, [0, 0.5, 1, 1.5, 2, 2.5])  # the last step returns to A


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("metric", ["perceptual", "pixel"])
def test_even_spacing_cuts_the_step_variation_at_least_threefold(tiny_model, loop, metric):
    an = anchors(tiny_model, seed=4)
    plain = render_continuum(
        Continuum(an, frames=30, loop=loop, spacing="latent"), tiny_model, metric=metric
    )
    even = render_continuum(
        Continuum(an, frames=30, loop=loop, spacing=metric), tiny_model, metric=metric
    )
    assert plain.cv > 0.1  # the plain path is clearly uneven here
    assert even.cv * 3 <= plain.cv
    assert len(even.frames) == 30
    assert len(even.distances) == (30 if loop else 29)
    # every anchor is a frame
    pos = [f.position for f in even.frames]
    assert [pos[i] for i in anchor_frames(pos)] == pytest.approx(list(range(len(an))))
    for k, a in enumerate(an):
        (i,) = [i for i, s in enumerate(pos) if abs(s - k) < 1e-9]
        np.testing.assert_allclose(even.frames[i].wplus, a.latent.wplus, atol=1e-5)
    # within a segment the steps are even; between segments they differ by the whole-number
    # share of steps only
    assert within_segment_cv(pos, even.distances, Continuum(an, 30, loop)) < 0.01
    assert even.extra["renders"] <= 3 * 30  # at most three renders per frame
    cum = [f.cumulative_distance for f in even.frames]
    assert np.all(np.diff(cum) > 0)


def test_steps_are_shared_by_length():
    assert allocate_steps([1, 1, 1], 8) == [3, 3, 2]
    assert allocate_steps([3, 1], 8) == [6, 2]
    assert allocate_steps([10, 0.1, 0.1], 5) == [3, 1, 1]  # every segment keeps a step
    with pytest.raises(OptionError):
        allocate_steps([1, 1, 1], 2)


def test_spacing_progress_cancel_and_cache(tiny_weights):
    from stimstudio.core.model import load_model

    model = load_model(tiny_weights)  # a model with a file hash: results can be reused
    an = anchors(model, seed=4)
    path = Continuum(an, frames=12, loop=True, spacing="perceptual")
    recs = list(iter_spacing(path, model))
    assert recs[-1].finished and recs[-1].result is path.spacing_result
    done = [r.done for r in recs[:-1]]
    assert done == sorted(done) and all(0 < d <= recs[0].total for d in done)
    assert all(r.eta is not None and r.eta >= 0 for r in recs[:-1])
    assert path.spacing_result.matches(path, model, "perceptual")
    # the cached result is used as it is (no renders); a changed path is not matched
    again = render_continuum(path, model, with_images=False)
    assert [f.position for f in again.frames] == list(path.spacing_result.positions)
    # render_path is the deprecated old name of render_continuum (issue 40)
    from stimstudio.core.interpolate import render_path

    with pytest.warns(DeprecationWarning, match="render_continuum"):
        old = render_path(path, model, with_images=False)
    assert [f.position for f in old.frames] == [f.position for f in again.frames]
    other = Continuum(an, frames=13, loop=True, spacing="perceptual")
    assert not path.spacing_result.matches(other, model, "perceptual")
    assert not path.spacing_result.matches(path, model, "pixel")
    # cancelled after the first batch: no result, nothing cached
    fresh = Continuum(an, frames=12, loop=True, spacing="perceptual")
    calls = []
    recs = list(iter_spacing(fresh, model, should_stop=lambda: calls.append(1) or len(calls) > 1))
    assert recs[-1].cancelled and recs[-1].result is None and fresh.spacing_result is None


def test_frames_fewer_than_anchors_is_refused(tiny_model):
    with pytest.raises(OptionError, match="at least 3 frames"):
        Continuum(anchors(tiny_model), frames=2).validate()


def test_bad_paths(tiny_model):
    an = anchors(tiny_model)
    with pytest.raises(OptionError, match="at least 2 anchors"):
        Continuum(an[:1]).validate()
    with pytest.raises(OptionError, match="at least 2 frames"):
        Continuum(an, frames=1).validate()
    with pytest.raises(OptionError, match="spacing"):
        Continuum(an, spacing="wiggly").validate()
    odd = [an[0], Anchor("X", Latent(np.zeros((3, 32), np.float32)))]
    with pytest.raises(OptionError, match="different latent shapes"):
        Continuum(odd).validate()
