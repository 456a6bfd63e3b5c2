"""Placement by contrast (issue 39 item 4): a lesion inserted by its contrast against its own
surround stays visible on a dense template, where the paper's paste of grey levels loses it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import smooth_image

from stimstudio.core.compose import Mask, Placement, compose, insert, stitch
from stimstudio.core.defaults import PLACEMENT_MODES
from stimstudio.core.errors import MaskError, OptionError, ProjectFileError
from stimstudio.core.imageio import fit_square, save_image, to_model_range
from stimstudio.core.insertion import (
    add_density,
    lesion_contrast,
    lesion_difference,
    placement_warnings,
    surround,
)
from stimstudio.core.invert import InversionSettings
from stimstudio.core.project import default_state, placement_from_record, placement_record
from stimstudio.core.readers import read_mammogram

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


def disc(size=64, r=10, c=None):
    yy, xx = np.mgrid[:size, :size]
    cy, cx = c or (size / 2, size / 2)
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def fatty_texture_and_dense_template(size=64, lesion=0.4):
    """A lesion `lesion` brighter than a dark (fatty) surround, and a bright (dense) template."""
    tex = np.full((size, size), -0.5, np.float32) + 0.05 * smooth_image(3, size)
    tex[disc(size)] += lesion
    tpl = np.full((size, size), 0.3, np.float32) + 0.05 * smooth_image(4, size)
    return tex, tpl


def sample_patches(resolution=128):
    """The mdb028 mass (centred, its annotated disc as the mask) and mdb003's dense tissue, cut
    at the shipped model's field of view (256 px of the 0.2-mm crops -> 128 px at 0.4 mm)."""
    m = read_mammogram(SAMPLES / "mdb028.pgm")
    les = m.lesions[0]
    x0, y0 = int(les.center[0] - 128), int(les.center[1] - 128)
    tex = to_model_range(fit_square(m.pixels[y0 : y0 + 256, x0 : x0 + 256], resolution)[0])
    cut = les.to_mask(m.shape)[y0 : y0 + 256, x0 : x0 + 256].astype(np.float32)
    lesion = fit_square(cut, resolution)[0] >= 0.5
    t = read_mammogram(SAMPLES / "mdb003.pgm")
    tpl = to_model_range(fit_square(t.pixels[64:320, 64:320], resolution)[0])
    return tex, tpl, lesion


def test_contrast_keeps_the_lesions_contrast_where_paste_turns_it_negative():
    tex, tpl = fatty_texture_and_dense_template()
    mask = Mask(disc(), feather=1.0)
    own = lesion_contrast(tex, mask.binary)
    assert own == pytest.approx(0.4, abs=0.03)
    pasted = insert(tpl, tex, mask, Placement())
    st = stitch(tpl, pasted.source, pasted.soft)
    assert lesion_contrast(st, pasted.soft) < -0.3  # the lesion's dark surround came along
    got = {}
    for gain in (0.5, 1.0, 2.0, 4.0):
        ins = insert(tpl, tex, mask, Placement(mode="contrast", contrast=gain))
        st = stitch(tpl, ins.source, ins.soft)
        got[gain] = lesion_contrast(st, ins.soft) - lesion_contrast(tpl, ins.soft)
        far = ~disc(r=22)
        assert np.abs(st - tpl)[far].max() < 1e-6  # the template is untouched away from it
        assert st.max() < 1.0  # a strong gain saturates smoothly, never a flat white disc
        if gain <= 1:
            assert got[gain] == pytest.approx(gain * own, rel=0.1), gain
            assert not any("keeps" in w for w in ins.warnings)
    assert got[0.5] < got[1.0] < got[2.0] < got[4.0] < 0.7  # 0.7: the room left
    assert any("keeps" in w for w in ins.warnings)  # gain 4: compressed, and said
    # gain 0 adds nothing: the template itself
    ins = insert(tpl, tex, mask, Placement(mode="contrast", contrast=0.0))
    assert np.allclose(stitch(tpl, ins.source, ins.soft), tpl, atol=1e-6)


def test_mdb028_mass_on_dense_mdb003_stays_visible_by_contrast(tmp_path):
    tex, tpl, lesion = sample_patches()
    mask = Mask(lesion, feather=2.0)
    own = lesion_contrast(tex, lesion)
    assert own > 0.3  # a circumscribed mass, clearly brighter than its fatty surround
    pasted = insert(tpl, tex, mask, Placement())
    st_paste = stitch(tpl, pasted.source, pasted.soft)
    c_paste = lesion_contrast(st_paste, pasted.soft)
    assert c_paste < 0.05  # the bug: a dark ring, no mass
    assert any("darker" in w and "contrast" in w for w in pasted.warnings)
    base = lesion_contrast(tpl, pasted.soft)  # the template's own at that place
    for gain in (0.5, 1.0):
        ins = insert(tpl, tex, mask, Placement(mode="contrast", contrast=gain))
        st = stitch(tpl, ins.source, ins.soft)
        c = lesion_contrast(st, ins.soft)
        assert c > c_paste + 0.2 and c - base > 0.5 * gain * own, gain
        assert st.min() >= -1 and st.max() <= 1
    # at gain 0.5 the mass keeps nearly all of its contrast; at 1 the dense template leaves it
    # too little room, which the warnings say
    ins = insert(tpl, tex, mask, Placement(mode="contrast", contrast=0.5))
    c = lesion_contrast(stitch(tpl, ins.source, ins.soft), ins.soft) - base
    assert c == pytest.approx(0.5 * own, rel=0.25)
    ins = insert(tpl, tex, mask, Placement(mode="contrast", contrast=1.0))
    assert any("keeps" in w for w in ins.warnings)
    # same brightness: nothing to say
    assert insert(tex, tex, mask, Placement()).warnings == []
    save_image(tmp_path / "paste.png", st_paste)  # written files read back as images
    assert (tmp_path / "paste.png").stat().st_size > 0


def test_surround_fills_the_mask_from_around_it():
    size = 64
    ramp = np.tile(np.linspace(-0.5, 0.5, size, dtype=np.float32), (size, 1))
    img = ramp.copy()
    img[disc(size)] += 0.6
    s = surround(img, disc(size))
    inside = disc(size, r=6)
    assert np.abs(s - ramp)[inside].max() < 0.08  # follows the gradient, ignores the lesion
    d = lesion_difference(img, disc(size))
    assert d[inside].mean() == pytest.approx(0.6, abs=0.08)


def test_add_density_saturates_smoothly_inside_the_range():
    t = np.array([0.0, 0.9, -0.9, 0.5], np.float32)
    a = np.array([0.01, 0.1, -0.1, -0.01], np.float32)
    img, got = add_density(t, a)
    assert np.all(img <= 1) and np.all(img >= -1)
    assert got[0] == pytest.approx(0.01, rel=1e-3) and got[3] == pytest.approx(-0.01, rel=1e-3)
    assert 0.9 < img[1] < 1.0 and -1.0 < img[2] < -0.9


def test_an_empty_mask_is_one_mask_error():
    tex, tpl = fatty_texture_and_dense_template()
    empty = Mask(np.zeros((64, 64), bool))
    for mode in ("paste", "contrast"):
        with pytest.raises(MaskError, match="empty"):
            insert(tpl, tex, empty, Placement(mode=mode))
    with pytest.raises(MaskError, match="empty"):
        lesion_difference(tex, np.zeros((64, 64), bool))
    with pytest.raises(MaskError, match="empty"):
        lesion_contrast(tex, np.zeros((64, 64)))
    with pytest.raises(MaskError, match="no surround"):
        lesion_difference(tex, np.ones((64, 64), bool))


def test_blend_leaves_no_edge_and_keeps_the_lesions_inner_structure():
    """Issue 37: placement "blend" (Poisson) takes the template's level at the outline, so a
    lesion from a fatty film leaves no dark patch on a dense template, while its inner
    structure (a brighter core within the outline) stays."""
    tex, tpl = fatty_texture_and_dense_template()
    outline = np.zeros((64, 64), bool)
    outline[12:52, 12:52] = True  # a lasso wider than the lesion disc
    mask = Mask(outline, feather=2.0)
    pasted = insert(tpl, tex, mask, Placement(mode="paste"))
    blended = insert(tpl, tex, mask, Placement(mode="blend"))
    ring = outline & ~np.pad(np.ones((36, 36), bool), 14)  # inside, next to the outline
    step = lambda img: float(np.mean(img[ring]) - np.mean(tpl[ring]))  # noqa: E731
    assert abs(step(stitch(tpl, pasted.source, pasted.soft))) > 0.5  # the fatty background
    assert abs(step(stitch(tpl, blended.source, blended.soft))) < 0.15
    core = disc(64)
    b = stitch(tpl, blended.source, blended.soft)
    assert np.mean(b[core]) - np.mean(b[ring]) > 0.25  # the lesion still stands out
    assert "blend" in PLACEMENT_MODES
    Placement(mode="blend").validate()
    # ... but lassoed tight around a flat mass, the blend takes its edge and the mass with it:
    # why paste stays the default placement (core.defaults)
    tight = Mask(disc(), feather=1.0)
    gone = insert(tpl, tex, tight, Placement(mode="blend"))
    assert abs(lesion_contrast(stitch(tpl, gone.source, gone.soft), gone.soft)) < 0.1


def test_a_region_filling_the_texture_still_pastes_but_has_no_contrast_to_insert():
    tex, tpl = fatty_texture_and_dense_template()
    full = Mask(np.ones((64, 64), bool), feather=0.0)
    ins = insert(tpl, tex, full, Placement())  # no surround: no warning, no error
    inner = (slice(2, -2),) * 2
    st = stitch(tpl, ins.source, ins.soft)
    assert ins.warnings == [] and np.abs(st[inner] - tex[inner]).mean() < 0.02  # half-px shift
    with pytest.raises(MaskError, match="no surround|whole texture"):
        insert(tpl, tex, full, Placement(mode="contrast"))


@pytest.mark.parametrize("gain", [-0.1, 4.5, float("nan"), float("inf")])
def test_a_gain_out_of_range_is_one_option_error(gain):
    tex, tpl = fatty_texture_and_dense_template()
    with pytest.raises(OptionError, match="contrast gain"):
        insert(tpl, tex, Mask(disc()), Placement(mode="contrast", contrast=gain))
    with pytest.raises(OptionError, match="placement mode"):
        insert(tpl, tex, Mask(disc()), Placement(mode="graft"))


def test_projects_record_the_mode_and_old_ones_paste():
    assert default_state()["placement"]["mode"] == "paste"
    old = {"dx": 1.0, "dy": 0.0, "scale": 1.0, "angle": 0.0}  # a project from before modes
    assert placement_from_record(old) == Placement(1.0, 0.0, 1.0, 0.0, "paste", 1.0)
    p = Placement(2.0, -1.0, 1.5, 10.0, "contrast", 0.7)
    assert placement_from_record(json.loads(json.dumps(placement_record(p)))) == p
    with pytest.raises(ProjectFileError, match="mode"):
        placement_from_record({**old, "mode": "graft"})


def test_compose_in_contrast_mode_starts_every_method_from_that_stitch(tiny_model):
    tex, tpl = (a[16:48, 16:48] for a in fatty_texture_and_dense_template())
    mask = Mask(disc(32, r=6), feather=1.0)
    pl = Placement(mode="contrast", contrast=1.0)
    comp = compose(tiny_model, tex, tpl, mask, pl, InversionSettings(steps=2))
    ins = insert(tpl, tex, mask, pl)
    assert np.allclose(comp.images["stitch"], stitch(tpl, ins.source, ins.soft))
    assert np.allclose(comp.texture_placed, ins.source)  # the methods' reference
    assert comp.placement["mode"] == "contrast" and comp.placement["contrast"] == 1.0
    assert comp.latents["optimized"].source["placement"]["mode"] == "contrast"
    assert comp.warnings and comp.texture_contrast > 0.3
    assert comp.metrics["stitch"]["lesion_contrast"] > 0.3
    assert all("lesion_contrast" in m for m in comp.metrics.values())
    paste = compose(tiny_model, tex, tpl, mask, Placement(), InversionSettings(steps=2))
    assert paste.metrics["stitch"]["lesion_contrast"] < 0
    assert placement_warnings(tex, mask.binary, tpl, ins.soft)  # the brightness mismatch
