"""Compose: the four methods of Fig. 4 with metrics, and every bad-input path."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import smooth_image

from stimstudio.core.compose import (
    METHODS,
    ComposeStep,
    Composite,
    Mask,
    Placement,
    compose,
    compose_steps,
    place,
    poisson_blend,
    stitch,
)
from stimstudio.core.errors import MaskError, OptionError
from stimstudio.core.invert import InversionSettings

POLY = [(10, 10), (21, 8), (23, 21), (9, 22)]


def run(model, **kw):
    tex, tmpl = smooth_image(1), smooth_image(2)
    mask = Mask.from_polygon(POLY, tex.shape, feather=1.0)
    steps = []
    comp = compose(
        model, tex, tmpl, mask, Placement(**kw), InversionSettings(steps=15), on_step=steps.append
    )
    return steps, comp


def test_compose_yields_steps_then_all_four_methods(tiny_model):
    steps, comp = run(tiny_model, dx=2, dy=-1, angle=20)
    assert isinstance(comp, Composite)
    assert [s.step for s in steps] == list(range(16))  # steps 0..15
    assert all(isinstance(s, ComposeStep) and s.total == 16 for s in steps)
    assert [s.done for s in steps] == list(range(1, 17)) and steps[-1].preview is not None
    assert [h["step"] for h in comp.history] == list(range(16))
    assert set(comp.images) == set(METHODS) == set(comp.metrics)
    for name in METHODS:
        assert comp.images[name].shape == (32, 32)
        m = comp.metrics[name]
        assert set(m) == {
            "psnr_in_mask",
            "ssim_in_mask",
            "detail_in_mask",
            "seam_strength",
            "shape_agreement",
            "lesion_contrast",
        }
        assert all(np.isfinite(v) for v in m.values())
    # A stitch reproduces the texture inside the mask better than the generator's guess.
    assert comp.metrics["stitch"]["psnr_in_mask"] > comp.metrics["encoder"]["psnr_in_mask"]
    # Optimising inside the mask moves toward the pasted texture.
    assert comp.metrics["optimized"]["psnr_in_mask"] > comp.metrics["encoder"]["psnr_in_mask"]
    assert "optimized" in comp.latents and comp.perceptual


def test_stitch_and_poisson_keep_the_template_outside():
    tmpl, tex = smooth_image(3), smooth_image(4)
    soft = np.zeros((32, 32), np.float32)
    soft[10:20, 10:20] = 1
    s = stitch(tmpl, tex, soft)
    np.testing.assert_array_equal(s[soft == 0], tmpl[soft == 0])
    np.testing.assert_array_equal(s[soft == 1], tex[soft == 1])
    p = poisson_blend(tmpl, tex, soft)
    far = np.ones_like(soft, bool)
    far[8:22, 8:22] = False
    assert np.abs(p[far] - tmpl[far]).max() < 2 / 255 + 1e-6


def test_placement_moves_the_mask_centroid():
    tex = smooth_image(5)
    mask = Mask.from_polygon([(4, 4), (12, 4), (12, 12), (4, 12)], tex.shape, feather=0)
    _, soft = place(tex, mask, Placement(dx=5, dy=-3), (32, 32))
    ys, xs = np.nonzero(soft > 0.5)
    assert abs(xs.mean() - (16 + 5)) < 1 and abs(ys.mean() - (16 - 3)) < 1


def test_bad_inputs(tiny_model):
    tex = smooth_image(6)
    with pytest.raises(MaskError, match="at least 3"):
        Mask.from_polygon([(1, 1), (2, 2)], tex.shape)
    with pytest.raises(MaskError, match="outside the image"):
        Mask.from_polygon([(100, 100), (120, 100), (110, 120)], tex.shape)
    empty = Mask.from_array(np.zeros((32, 32)))
    with pytest.raises(MaskError, match="empty"):
        place(tex, empty, Placement(), (32, 32))
    big = Mask.from_array(np.ones((32, 32)))
    with pytest.raises(MaskError, match="larger than the template"):
        place(tex, big, Placement(scale=2.0), (32, 32))
    small = Mask.from_polygon(POLY, tex.shape)
    with pytest.raises(MaskError, match="outside the template"):
        place(tex, small, Placement(dx=200), (32, 32))
    with pytest.raises(OptionError, match="finite"):
        place(tex, small, Placement(angle=float("nan")), (32, 32))
    with pytest.raises(MaskError, match="mask is"):
        place(np.zeros((40, 40), np.float32), small, Placement(), (32, 32))
    with pytest.raises(OptionError, match="template must be 32x32"):
        next(compose_steps(tiny_model, tex, np.zeros((64, 64), np.float32), small))


def test_compose_steps_returns_what_compose_returns_and_counts_both_passes(tiny_model):
    """The generator (app, CLI) and the plain call (evaluation) are one computation."""
    tex, tmpl = smooth_image(1), smooth_image(2)
    mask = Mask.from_polygon(POLY, tex.shape, feather=1.0)
    args = (tiny_model, tex, tmpl, mask, Placement(dx=1), InversionSettings(steps=3, seed=5))
    gen = compose_steps(*args, stylemix_optimize=True)
    recs = []
    while True:
        try:
            recs.append(next(gen))
        except StopIteration as end:
            comp = end.value
            break
    assert [(r.pass_no, r.step) for r in recs] == [(p, s) for p in (1, 2) for s in range(4)]
    assert [r.done for r in recs] == list(range(1, 9)) and {r.total for r in recs} == {8}
    again = compose(*args, stylemix_optimize=True)
    assert set(comp.images) == set(again.images) == set(METHODS) | {"stylemix+opt"}
    for name in comp.images:
        np.testing.assert_array_equal(comp.images[name], again.images[name])
