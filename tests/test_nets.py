"""Networks: shapes for every resolution, equal modulated-conv forms, noise, truncation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stimstudio.core.generate import truncate
from stimstudio.core.nets import (
    Discriminator,
    Encoder,
    Generator,
    GeneratorConfig,
    discriminator_features,
)
from stimstudio.core.nets.layers import modulated_conv2d


@pytest.mark.parametrize("res", [32, 64])
def test_generator_discriminator_encoder_shapes(res):
    G = Generator(
        resolution=res, z_dim=16, w_dim=16, mapping_layers=8, channel_base=256, channel_max=16
    )
    assert G.num_ws == 2 * int(np.log2(res)) - 2
    assert (G.z_dim, G.w_dim, G.resolution) == (16, 16, res)
    assert len(G.mapping.layers) == 8
    ws = G.map(torch.randn(3, 16))
    assert ws.shape == (3, G.num_ws, 16)
    img = G.synthesize(ws)
    assert img.shape == (3, 1, res, res)
    D = Discriminator(resolution=res, channel_base=256, channel_max=16)
    logits, feats = D(img, features=True)
    assert logits.shape == (3, 1) and len(feats) == int(np.log2(res)) - 2
    E = Encoder(resolution=res, num_ws=G.num_ws, w_dim=16)
    assert E(img).shape == (3, G.num_ws, 16)
    n_res = sum(isinstance(m, torch.nn.BatchNorm2d) for m in E.modules())
    assert n_res >= 9 and len(E.blocks) == 8  # BN in every module, 8 residual blocks


def test_resolution_must_be_power_of_two_in_range():
    for bad in (16, 48, 2048):
        with pytest.raises(ValueError):
            Generator(resolution=bad)


def test_fused_and_non_fused_modulated_conv_agree():
    torch.manual_seed(0)
    x = torch.randn(4, 8, 16, 16)
    w = torch.randn(6, 8, 3, 3)
    s = torch.randn(4, 8)
    a = modulated_conv2d(x, w, s, demodulate=True, fused=False)
    b = modulated_conv2d(x, w, s, demodulate=True, fused=True)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_const_noise_is_deterministic_random_noise_is_not(tiny_model):
    ws = tiny_model.G.map(torch.randn(1, 32, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        a = tiny_model.G.synthesize(ws, noise_mode="const")
        b = tiny_model.G.synthesize(ws, noise_mode="const")
        c = tiny_model.G.synthesize(ws, noise_mode="random")
        d = tiny_model.G.synthesize(ws, noise_mode="none")
    assert torch.equal(a, b)
    assert not torch.equal(a, c) and not torch.equal(a, d)


def test_truncation_identity_and_average(tiny_model):
    w = tiny_model.G.map(torch.randn(1, 32))[0].detach().numpy()
    np.testing.assert_array_equal(truncate(tiny_model, w, 1.0), w)
    w_avg = tiny_model.G.w_avg.numpy()
    np.testing.assert_allclose(
        truncate(tiny_model, w, 0.0), np.broadcast_to(w_avg, w.shape), atol=1e-6
    )
    cut = truncate(tiny_model, w, 0.0, cutoff=2)
    np.testing.assert_allclose(cut[:2], np.broadcast_to(w_avg, (2, w.shape[1])), atol=1e-6)
    np.testing.assert_array_equal(cut[2:], w[2:])


def test_discriminator_features_are_a_frozen_copy(tiny_model):
    F = discriminator_features(tiny_model.D)
    assert F.backbone is not tiny_model.D
    assert not any(p.requires_grad for p in F.parameters())
    feats = F(torch.zeros(2, 1, 32, 32))
    assert len(feats) == 3
    assert F.distance(feats, feats).shape == (2,)


def test_generator_config_roundtrip():
    cfg = GeneratorConfig(resolution=64, channel_base=1024)
    assert GeneratorConfig(**cfg.to_dict()) == cfg
