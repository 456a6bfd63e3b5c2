"""Eq. 4 inversion: masked objective, cancel, determinism, projector baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_image

from stimstudio.core.errors import MaskError, OptionError
from stimstudio.core.invert import (
    InversionSettings,
    encode,
    invert,
    run_inversion,
)
from stimstudio.core.projector import ProjectorSettings, project


@pytest.fixture(scope="module")
def target():
    return smooth_image(11)


def square_mask(lo=8, hi=22):
    m = np.zeros((32, 32), np.float32)
    m[lo:hi, lo:hi] = 1
    return m


def test_encode_gives_wplus(tiny_model, target):
    w = encode(tiny_model, target)
    assert w.shape == (1, tiny_model.num_ws, tiny_model.w_dim)


def test_masked_optimisation_lowers_the_in_mask_loss(tiny_model, target):
    recs = list(invert(tiny_model, target, square_mask(), InversionSettings(steps=40)))
    assert recs[-1].done and recs[-1].step == 40
    assert recs[-1].losses["pixel"] < 0.5 * recs[0].losses["pixel"]
    assert set(recs[0].losses) == {"pixel", "perceptual", "encoder", "total"}
    assert recs[0].preview is not None and recs[-1].preview.shape == (32, 32)


def test_outside_the_mask_is_not_in_the_objective(tiny_model, target):
    mask = square_mask()
    other = target.copy()
    other[mask == 0] = np.random.default_rng(0).uniform(-1, 1, (mask == 0).sum())
    s = InversionSettings(steps=15)
    a = [r.wplus for r in invert(tiny_model, target, mask, s)]
    b = [r.wplus for r in invert(tiny_model, other, mask, s, init=encode(tiny_model, target)[0])]
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    # ... and with outside_weight > 0 the template outside does pull.
    s2 = InversionSettings(steps=15, outside_weight=0.1)
    c = list(invert(tiny_model, other, mask, s2, init=encode(tiny_model, target)[0]))
    assert not np.array_equal(c[-1].wplus, a[-1])


def test_seam_band_is_free_of_the_target_and_starts_from_own_noise(tiny_model, target):
    """In the band around the outline nothing is fitted: changing the target there changes
    nothing, while a change beyond the band (outside_weight 1) does."""
    import torch

    from stimstudio.core.invert import noise_layers, own_noise_in_band, seam_band

    mask = square_mask()
    band = seam_band(torch.as_tensor(mask)[None, None], 2)[0, 0].numpy()
    assert band[15, 15] == 0 and band[0, 0] == 0  # deep inside, far outside
    assert band[8, 15] == 1 and band[7, 15] == 1 and band[6, 15] == 1 and band[10, 15] == 0
    s = InversionSettings(steps=8, outside_weight=1.0, seam_band=2, encoder_noise=False)
    init = encode(tiny_model, target)[0]
    noisy = np.random.default_rng(1).uniform(-1, 1, target.shape).astype(np.float32)
    in_band = np.where(band > 0, noisy, target)
    beyond = np.where((band == 0) & (mask == 0), noisy, target)
    a = [r.wplus for r in invert(tiny_model, target, mask, s, init=init)]
    b = [r.wplus for r in invert(tiny_model, in_band, mask, s, init=init)]
    c = [r.wplus for r in invert(tiny_model, beyond, mask, s, init=init)]
    np.testing.assert_allclose(a[-1], b[-1], rtol=0, atol=1e-6)
    assert not np.allclose(a[-1], c[-1], rtol=0, atol=1e-6)
    # the start maps: the model's own inside the band, the given ones elsewhere
    layers = noise_layers(tiny_model.G)
    given = [torch.full((1, *l.noise_const.shape), 7.0) for l in layers]
    out = own_noise_in_band(tiny_model.G, given, torch.as_tensor(band)[None, None])
    top = out[-1][0].numpy()
    own = layers[-1].noise_const.float().numpy()
    r = own.shape[-1]
    assert r == 32
    np.testing.assert_array_equal(top[band > 0], own[band > 0])
    assert (top[band == 0] == 7.0).all()
    with pytest.raises(OptionError, match="seam_band"):
        InversionSettings(seam_band=-1).validate()


def test_cancel_stops_within_one_step(tiny_model, target):
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 5

    recs = list(invert(tiny_model, target, None, InversionSettings(steps=100), should_stop=stop))
    assert recs[-1].cancelled and len(recs) == 6
    assert not any(r.done for r in recs)


def test_same_seed_same_result(tiny_model, target):
    s = InversionSettings(steps=10, seed=3)
    a = run_inversion(tiny_model, target, square_mask(), s)
    b = run_inversion(tiny_model, target, square_mask(), s)
    np.testing.assert_array_equal(a.latent.wplus, b.latent.wplus)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.perceptual == "discriminator-blocks1-3"
    assert a.latent.source["perceptual"] == a.perceptual


def test_optimisation_beats_the_encoder_alone(tiny_model, target):
    res = run_inversion(tiny_model, target, None, InversionSettings(steps=40))
    from stimstudio.core.invert import synthesize
    from stimstudio.core.metrics import psnr

    enc_img = synthesize(tiny_model, res.encoder_latent.wplus)[0]
    assert psnr(res.image, target) > psnr(enc_img, target) + 1.0


@pytest.mark.parametrize(
    "mask, err",
    [
        (np.zeros((32, 32)), "empty"),
        (np.ones((16, 16)), "mask is"),
        (np.full((32, 32), 2.0), r"\[0, 1\]"),
    ],
)
def test_bad_masks(tiny_model, target, mask, err):
    with pytest.raises(MaskError, match=err):
        next(invert(tiny_model, target, mask))


def test_bad_images_and_settings(tiny_model, target):
    with pytest.raises(OptionError, match="model works at 32x32"):
        next(invert(tiny_model, np.zeros((64, 64), np.float32)))
    bad = target.copy()
    bad[0, 0] = np.nan
    with pytest.raises(OptionError, match="NaN"):
        next(invert(tiny_model, bad))
    with pytest.raises(OptionError, match="learning rate"):
        next(invert(tiny_model, target, settings=InversionSettings(lr=0)))


def test_projector_baseline_improves(tiny_model, target):
    recs = list(
        project(tiny_model, target, settings=ProjectorSettings(steps=30, w_avg_samples=200))
    )
    assert recs[-1].done
    assert recs[-1].losses["pixel"] < recs[0].losses["pixel"]
    w = recs[-1].wplus
    assert np.allclose(w, w[0:1])  # one w broadcast to every layer
    assert torch.is_tensor(tiny_model.G.synthesis.blocks[0].conv1.noise_const)  # G untouched


def test_each_step_reports_the_latent_its_losses_and_preview_belong_to(tiny_model, target):
    """Step k's losses and preview are of w_k; rendering the reported w+ gives that preview."""
    from stimstudio.core.invert import synthesize

    s = InversionSettings(steps=6, preview_every=1)
    for rec in invert(tiny_model, target, square_mask(), s):
        np.testing.assert_allclose(synthesize(tiny_model, rec.wplus)[0], rec.preview, atol=1e-5)


def test_masked_balance_of_pixel_and_perceptual_terms_does_not_move_with_the_lasso(
    tiny_model, target
):
    """Both terms are means over the mask: with the same kind of error everywhere, a lasso of
    a tenth of the patch and one of all of it weigh perceptual against pixel alike."""
    w0 = encode(tiny_model, target)[0].numpy()
    ratios = []
    for lo, hi in ((11, 21), (4, 28), (0, 32)):  # ~10 %, ~56 %, 100 % of the patch
        rec = next(invert(tiny_model, target, square_mask(lo, hi), InversionSettings(steps=0), w0))
        ratios.append(rec.losses["perceptual"] / rec.losses["pixel"])
    assert max(ratios) / min(ratios) < 3.0, ratios
