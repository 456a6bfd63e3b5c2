"""Paths through W+: anchors, loops, lerp/slerp, perceptually even spacing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stimstudio.core.errors import OptionError
from stimstudio.core.interpolate import Anchor, Path, latent_at, render_path, uniform_positions
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
        p = Path(an, frames=9, loop=True, method=method)
        for i, a in enumerate(an):
            np.testing.assert_allclose(latent_at(p, i), a.latent.wplus, atol=1e-5)
        np.testing.assert_allclose(latent_at(p, 3), an[0].latent.wplus, atol=1e-5)  # closes


def test_uniform_positions_open_and_loop(tiny_model):
    an = anchors(tiny_model)
    np.testing.assert_allclose(uniform_positions(Path(an, frames=5)), [0, 0.5, 1, 1.5, 2])
    loop = uniform_positions(Path(an, frames=6, loop=True))
    np.testing.assert_allclose(loop, [0, 0.5, 1, 1.5, 2, 2.5])  # the last step returns to A


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("metric", ["perceptual", "pixel"])
def test_even_spacing_cuts_the_step_variation_at_least_threefold(tiny_model, loop, metric):
    an = anchors(tiny_model, seed=4)
    plain = render_path(Path(an, frames=10, loop=loop, spacing="latent"), tiny_model, metric=metric)
    even = render_path(Path(an, frames=10, loop=loop, spacing=metric), tiny_model, metric=metric)
    assert plain.cv > 0.02  # the plain path is measurably uneven here
    assert even.cv * 3 <= plain.cv
    assert len(even.frames) == 10
    assert len(even.distances) == (10 if loop else 9)
    np.testing.assert_allclose(even.frames[0].wplus, an[0].latent.wplus, atol=1e-5)
    if not loop:
        np.testing.assert_allclose(even.frames[-1].wplus, an[-1].latent.wplus, atol=1e-5)
    cum = [f.cumulative_distance for f in even.frames]
    assert np.all(np.diff(cum) > 0)


def test_bad_paths(tiny_model):
    an = anchors(tiny_model)
    with pytest.raises(OptionError, match="at least 2 anchors"):
        Path(an[:1]).validate()
    with pytest.raises(OptionError, match="at least 2 frames"):
        Path(an, frames=1).validate()
    with pytest.raises(OptionError, match="spacing"):
        Path(an, spacing="wiggly").validate()
    odd = [an[0], Anchor("X", Latent(np.zeros((3, 32), np.float32)))]
    with pytest.raises(OptionError, match="different latent shapes"):
        Path(odd).validate()
