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
