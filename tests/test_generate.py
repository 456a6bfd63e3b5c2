"""Seeds, fractional seeds, truncation, style mixing, latent files."""

from __future__ import annotations

import numpy as np
import pytest

from stimstudio.core.errors import LatentError, OptionError
from stimstudio.core.generate import (
    latent_for_seed,
    mixing_presets,
    sample,
    style_mix,
    weights_from_layers,
)
from stimstudio.core.latent import Latent, load_latent


def test_seed_is_reproducible_and_fractional_seed_blends(tiny_model):
    a1, img1 = sample(tiny_model, 7)
    a2, img2 = sample(tiny_model, 7)
    np.testing.assert_array_equal(img1, img2)
    np.testing.assert_array_equal(latent_for_seed(tiny_model, 7.0).wplus, a1.wplus)
    mid = latent_for_seed(tiny_model, 7.5).wplus
    b = latent_for_seed(tiny_model, 8).wplus
    np.testing.assert_allclose(mid, (a1.wplus + b) / 2, atol=1e-5)
    with pytest.raises(OptionError):
        latent_for_seed(tiny_model, float("nan"))


def test_mixing_every_layer_from_a_gives_a_and_presets_partition(tiny_model):
    a = latent_for_seed(tiny_model, 1).wplus
    b = latent_for_seed(tiny_model, 2).wplus
    L = tiny_model.num_ws
    np.testing.assert_array_equal(style_mix([a, b], weights_from_layers(L, [])), a)
    np.testing.assert_array_equal(style_mix([a, b], weights_from_layers(L, list(range(L)))), b)
    presets = mixing_presets(tiny_model)
    everything = sorted(sum(presets.values(), []))
    assert everything == list(range(L))
    assert all(presets.values())
    with pytest.raises(OptionError, match="outside this model"):
        weights_from_layers(L, [L])


def test_latent_files_roundtrip_and_refuse_bad_content(tmp_path, tiny_model):
    lat = Latent(latent_for_seed(tiny_model, 3).wplus, {"seed": 3}, "abc")
    p = lat.save(tmp_path / "a.latent.npz")
    back = load_latent(p)
    np.testing.assert_array_equal(back.wplus, lat.wplus)
    assert back.source == {"seed": 3} and back.model_sha256 == "abc"
    bad = np.array(lat.wplus)
    bad[0, 0] = np.nan
    np.savez(tmp_path / "nan.latent.npz", wplus=bad)
    with pytest.raises(LatentError, match="NaN"):
        load_latent(tmp_path / "nan.latent.npz")
    (tmp_path / "junk.latent.npz").write_bytes(b"not a zip")
    with pytest.raises(LatentError, match="not a StimStudio latent"):
        load_latent(tmp_path / "junk.latent.npz")
    wrong = Latent(np.zeros((3, 32), np.float32))
    with pytest.raises(LatentError, match="another model"):
        wrong.check_model(tiny_model)


# -- each seed its own noise maps ------------------------------------------------------------


def test_each_seed_renders_with_its_own_reproducible_noise_maps(tiny_model):
    from stimstudio.core.generate import noise_for_seed, noise_shapes
    from stimstudio.core.invert import synthesize

    a, b = noise_for_seed(tiny_model, 7), noise_for_seed(tiny_model, 8)
    assert [m.shape for m in a] == noise_shapes(tiny_model)
    # the same on every machine and numpy version: the frozen legacy generator (pinned values)
    np.testing.assert_allclose(a[0].ravel()[:3], [-0.04873697, -0.4372928, 0.22881353], atol=1e-6)
    for x, y in zip(a, noise_for_seed(tiny_model, 7)):
        np.testing.assert_array_equal(x, y)
    # independent between seeds, and unit white noise as the model's own maps are
    big_a, big_b = a[-1].ravel(), b[-1].ravel()
    assert abs(np.corrcoef(big_a, big_b)[0, 1]) < 0.15
    assert 0.9 < np.concatenate([m.ravel() for m in a]).std() < 1.1
    lat, img = sample(tiny_model, 7)
    assert lat.source["noise_mode"] == "seed"
    np.testing.assert_array_equal(img, synthesize(tiny_model, lat.wplus, noise=a)[0])
    assert not np.array_equal(img, sample(tiny_model, 7, noise_mode="const")[1])


def test_the_other_noise_modes_are_kept_with_the_latent(tiny_model):
    from stimstudio.core.invert import synthesize

    const, img_const = sample(tiny_model, 3, noise_mode="const")
    assert const.noise is None  # the model's fixed maps, as seeds rendered before
    np.testing.assert_array_equal(img_const, synthesize(tiny_model, const.wplus)[0])
    none, img_none = sample(tiny_model, 3, noise_mode="none")
    np.testing.assert_array_equal(
        img_none, synthesize(tiny_model, none.wplus, noise_mode="none")[0]
    )
    r1, img1 = sample(tiny_model, 3, noise_mode="random")
    r2, img2 = sample(tiny_model, 3, noise_mode="random")
    assert not np.array_equal(img1, img2)
    # a random draw's maps travel with its latent, so it renders the same image again
    np.testing.assert_array_equal(img1, synthesize(tiny_model, r1.wplus, noise=r1.noise)[0])
    with pytest.raises(OptionError, match="noise mode"):
        latent_for_seed(tiny_model, 3, noise_mode="fixed")


def test_a_fractional_seed_blends_the_neighbours_maps_at_full_variance(tiny_model):
    from stimstudio.core.generate import noise_for_seed

    def flat(seed):
        return np.concatenate([m.ravel() for m in noise_for_seed(tiny_model, seed)])

    a, b = flat(7), flat(8)
    np.testing.assert_array_equal(flat(7.0), a)
    assert np.abs(flat(7.999) - b).max() < 0.01 and np.abs(flat(7.001) - a).max() < 0.01
    for f in (0.25, 0.5, 0.75):
        mid = flat(7 + f)
        assert 0.9 < mid.std() < 1.1  # a plain blend would have 0.71 half-way: smoother texture
        assert np.corrcoef(mid, a)[0, 1] > 0.2 and np.corrcoef(mid, b)[0, 1] > 0.2
    assert np.abs(flat(7.5) - flat(7.501)).max() < 0.02  # smooth in the seed
    with pytest.raises(OptionError, match="seed"):
        noise_for_seed(tiny_model, -1)


def test_seeds_share_no_fine_texture_with_their_own_maps(tiny_model):
    """The reason for the maps: with the model's fixed ones, seeds share texture (the card's
    cue "shared texture": 0.468 for the shipped model, real patches 0.004)."""
    from stimstudio.train.evaluate.cues import shared_texture
    from stimstudio.train.evaluate.run import to_uint8

    def cue(mode):
        return shared_texture(
            np.stack([to_uint8(sample(tiny_model, s, noise_mode=mode)[1]) for s in range(16)])
        )

    own, fixed = cue("seed"), cue("const")
    assert fixed > 0.15 and own < 0.1 and fixed - own > 0.1


def test_a_style_mix_takes_each_layers_noise_from_its_styles_source(tiny_model):
    from stimstudio.core.generate import (
        layer_resolutions,
        mix_noise,
        noise_for_seed,
        noise_shapes,
        noise_styles,
    )
    from stimstudio.core.invert import noise_layers

    styles = noise_styles(tiny_model)
    res = layer_resolutions(tiny_model)
    assert [res[i] for i in styles] == [s[0] for s in noise_shapes(tiny_model)]
    a, b = noise_for_seed(tiny_model, 1), noise_for_seed(tiny_model, 2)
    fine = mixing_presets(tiny_model)["fine"]
    mix = [1 if i in fine else 0 for i in range(tiny_model.num_ws)]
    out = mix_noise(tiny_model, [a, b], mix)
    for k, i in enumerate(styles):
        np.testing.assert_array_equal(out[k], b[k] if i in fine else a[k])
    # a source without maps (an anchor rendering with the fixed ones) gives the fixed maps
    fixed = [layer.noise_const.numpy() for layer in noise_layers(tiny_model.G)]
    out = mix_noise(tiny_model, [a, None], mix)
    for k, i in enumerate(styles):
        np.testing.assert_array_equal(out[k], fixed[k] if i in fine else a[k])
    assert mix_noise(tiny_model, [None, None], mix) is None
    with pytest.raises(OptionError, match="one source per layer"):
        mix_noise(tiny_model, [a, b], mix[:-1])
