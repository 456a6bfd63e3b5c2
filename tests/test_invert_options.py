"""Eq. 4 options: optimised noise maps, the choice of perceptual F, and their CLI flags."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_image

from stimstudio.cli.main import main
from stimstudio.core.errors import OptionError
from stimstudio.core.imageio import save_image
from stimstudio.core.invert import (
    InversionSettings,
    encode,
    invert,
    noise_layers,
    perceptual_for,
    run_inversion,
    synthesize,
)
from stimstudio.core.latent import Latent, load_latent


@pytest.fixture(scope="module")
def target():
    return smooth_image(11)


def fixed_maps(model) -> list[np.ndarray]:
    return [layer.noise_const.detach().numpy().copy() for layer in noise_layers(model.G)]


def test_noise_optimisation_moves_the_maps_and_keeps_them_normalised(tiny_model, target):
    before = fixed_maps(tiny_model)
    s = InversionSettings(steps=6, preview_every=1, optimize_noise=True)
    recs = list(invert(tiny_model, target, None, s))
    assert "noise_reg" in recs[0].losses
    for a, b in zip(recs[0].noise, before):  # step 0 reports the model's own maps
        np.testing.assert_array_equal(a, b)
    for rec in recs[1:]:
        for n in rec.noise:
            assert abs(float(n.mean())) < 1e-5
            assert abs(float(n.var()) - 1) < 1e-4
    moved = [np.abs(a - b).max() for a, b in zip(recs[-1].noise, before)]
    assert min(moved) > 1e-3, moved
    for a, b in zip(fixed_maps(tiny_model), before):  # the shared G is never touched
        np.testing.assert_array_equal(a, b)
    # each step's preview is w_k rendered with that step's maps
    for rec in recs:
        np.testing.assert_allclose(
            synthesize(tiny_model, rec.wplus, noise=rec.noise)[0], rec.preview, atol=1e-5
        )


def test_a_result_with_optimised_noise_is_reproducible_from_its_latent_file(
    tiny_model, target, tmp_path
):
    s = InversionSettings(steps=5, optimize_noise=True)
    res = run_inversion(tiny_model, target, None, s)
    assert res.latent.source["noise"] == "optimized"
    path = res.latent.save(tmp_path / "r.latent.npz")
    back = load_latent(path)
    assert len(back.noise) == len(noise_layers(tiny_model.G))
    np.testing.assert_array_equal(
        synthesize(tiny_model, back.wplus, noise=back.noise)[0], res.image
    )
    # without its maps the same w+ renders differently: the maps are part of the result
    assert not np.array_equal(synthesize(tiny_model, back.wplus)[0], res.image)
    # a latent file without noise maps (every file written before) loads as before
    plain = Latent(back.wplus, {"method": "seed"}, tiny_model.sha256).save(tmp_path / "p.npz")
    assert load_latent(plain).noise is None
    with pytest.raises(OptionError, match="noise layers"):
        synthesize(tiny_model, back.wplus, noise=back.noise[:-1])


def reference_eq4(model, target, s: InversionSettings) -> np.ndarray:
    """Eq. 4 without a mask as it was written before the options existed (commit a1d2ac7)."""
    F = perceptual_for(model)
    x = torch.as_tensor(target)[None, None]
    torch.manual_seed(s.seed)
    w = encode(model, x).clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=s.lr)
    with torch.no_grad():
        feat_x = [f.detach() for f in F(x)]
    for _ in range(s.steps):
        img = model.G.synthesize(w, noise_mode="const").float()
        total = s.lambda_pixel * (x - img).square().mean()
        total = total + s.lambda_perceptual * F.distance(feat_x, F(img), None).mean()
        total = total + s.lambda_encoder * (w - model.E(img).float()).square().mean()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    return w.detach()[0].numpy()


def test_without_the_options_eq4_is_bit_identical_to_before(tiny_model, target):
    s = InversionSettings(steps=8)
    recs = list(invert(tiny_model, target, None, s))
    np.testing.assert_array_equal(recs[-1].wplus, reference_eq4(tiny_model, target, s))
    assert all(r.noise is None for r in recs) and "noise_reg" not in recs[-1].losses
    # the noise weight does nothing while noise is not optimised
    other = list(invert(tiny_model, target, None, InversionSettings(steps=8, noise_regularize=7)))
    np.testing.assert_array_equal(other[-1].wplus, recs[-1].wplus)
    res = run_inversion(tiny_model, target, None, InversionSettings(steps=2))
    assert res.latent.noise is None and "noise" not in res.latent.source


def test_lite0_features_as_f(tiny_model, target):
    res = run_inversion(tiny_model, target, None, InversionSettings(steps=2, perceptual="lite0"))
    assert res.perceptual == "lite0-imagenet-s4-s16"
    assert res.latent.source["perceptual"] == res.perceptual
    assert np.isfinite(res.history[-1]["perceptual"]) and res.history[-1]["perceptual"] > 0
    disc = run_inversion(tiny_model, target, None, InversionSettings(steps=2))
    assert not np.array_equal(res.latent.wplus, disc.latent.wplus)


def test_bad_perceptual_settings(tiny_model, target):
    with pytest.raises(OptionError, match="perceptual must be one of discriminator, lite0"):
        next(invert(tiny_model, target, settings=InversionSettings(perceptual="vgg")))
    with pytest.raises(OptionError, match="noise_regularize"):
        InversionSettings(noise_regularize=-1).validate()
    with pytest.raises(OptionError, match="not both"):
        perceptual_for(tiny_model, "vgg16.pth", "lite0")


def test_one_word_per_feature_network(tiny_model):
    """issue 40: F's kind is named as settings and the CLI name it ("discriminator", "lite0",
    "vgg16"), never "disc"; what a latent records (F's name) is unchanged."""
    from stimstudio.core.inversion_settings import FEATURE_NETWORKS, PERCEPTUAL_KINDS
    from stimstudio.core.nets.perceptual import PerceptualFeatures

    assert FEATURE_NETWORKS == ("discriminator", "lite0", "vgg16")
    assert PERCEPTUAL_KINDS == ("discriminator", "lite0")
    F = perceptual_for(tiny_model)
    assert F.kind == "discriminator" and F.name.startswith("discriminator-blocks1-3")
    with pytest.raises(ValueError, match="discriminator, lite0, vgg16"):
        PerceptualFeatures(torch.nn.Identity(), "x", 1.0, kind="disc")


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    save_image(d / "a.png", smooth_image(1))
    return d / "a.png"


def test_cli_bad_perceptual_is_one_line_exit_2(tmp_path, capsys, tiny_weights, image_file):
    argv = ["invert", image_file, "--out", tmp_path / "r.png", "--perceptual", "vgg"]
    code = main([str(a) for a in [*argv, "--weights", tiny_weights, "--quiet"]])
    out, err = capsys.readouterr()
    lines = [ln for ln in (out + err).splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "--perceptual" in lines[0], lines
    assert not any(tmp_path.iterdir())


def test_cli_invert_with_both_options(tmp_path, capsys, tiny_weights, image_file):
    argv = [
        "invert", image_file, "--out", tmp_path / "r.png", "--latent-out", tmp_path / "r.npz",
        "--steps", "2", "--perceptual", "lite0", "--optimize-noise", "--noise-regularize", "10",
        "--weights", tiny_weights, "--quiet",
    ]  # fmt: skip
    code = main([str(a) for a in argv])
    assert code == 0, capsys.readouterr()
    lat = load_latent(tmp_path / "r.npz")
    assert lat.noise is not None and lat.source["perceptual"] == "lite0-imagenet-s4-s16"


def test_compose_carries_optimised_noise_into_its_result(tiny_model):
    from stimstudio.core.compose import Mask, Placement, compose

    tex, tmpl = smooth_image(1), smooth_image(2)
    mask = Mask.from_polygon([(8, 8), (22, 8), (22, 22), (8, 22)], tex.shape, feather=1.0)
    s = InversionSettings(steps=3, optimize_noise=True, perceptual="lite0")
    comp = compose(tiny_model, tex, tmpl, mask, Placement(), s)
    assert comp.perceptual == "lite0-imagenet-s4-s16"
    lat = comp.latents["optimized"]
    assert lat.noise is not None
    np.testing.assert_array_equal(
        synthesize(tiny_model, lat.wplus, noise=lat.noise)[0], comp.images["optimized"]
    )


def test_cli_invert_fits_the_films_texture_by_default(tmp_path, capsys, tiny_weights, image_file):
    """Issue 37: `invert` defaults to INVERT_DEFAULTS (noise maps fitted without penalty, no
    lambda4: measured as real as random samples), recorded in the latent; --no-optimize-noise
    gives the paper's recipe."""
    from stimstudio.core.inversion_settings import INVERT_DEFAULTS

    def run(*extra):
        out = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        argv = ["invert", image_file, "--out", f"{out}.png", "--latent-out", f"{out}.npz"]
        argv += ["--steps", "2", "--weights", tiny_weights, "--quiet", *extra]
        assert main([str(a) for a in argv]) == 0, capsys.readouterr()
        return load_latent(f"{out}.npz")

    lat = run()
    assert INVERT_DEFAULTS.optimize_noise and lat.noise is not None
    assert lat.source["noise"] == "optimized"
    assert lat.source["noise_penalty"] == INVERT_DEFAULTS.noise_regularize == 0.0
    assert lat.source["lambda_encoder"] == INVERT_DEFAULTS.lambda_encoder == 0.0
    paper = run("--no-optimize-noise", "--lambda-encoder", "2")
    assert paper.source.get("noise") != "optimized" and paper.source["lambda_encoder"] == 2.0
    assert "noise_penalty" not in paper.source
    assert InversionSettings().optimize_noise is False  # the paper's recipe


def test_cli_compose_defaults_and_the_papers_recipe():
    """Issue 37: compose defaults to COMPOSE_DEFAULTS (maps fitted, template kept outside the
    mask, a free seam band); --paper-recipe gives InversionSettings() back, other flags
    aside; a negative band is refused in one line."""
    import argparse

    from stimstudio.cli.generate import _add_inversion_options, _settings
    from stimstudio.core.errors import OptionError
    from stimstudio.core.inversion_settings import COMPOSE_DEFAULTS

    p = argparse.ArgumentParser()
    _add_inversion_options(p, COMPOSE_DEFAULTS)
    assert _settings(p.parse_args([])) == COMPOSE_DEFAULTS
    assert COMPOSE_DEFAULTS.outside_weight == 1.0 and COMPOSE_DEFAULTS.seam_band > 0
    paper = _settings(p.parse_args(["--paper-recipe", "--steps", "7", "--seam-band", "9"]))
    assert paper == InversionSettings(steps=7)
    assert _settings(p.parse_args(["--seam-band", "6"])).seam_band == 6.0
    with pytest.raises(OptionError, match="seam_band"):
        _settings(p.parse_args(["--seam-band", "-1"]))
