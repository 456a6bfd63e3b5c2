"""Growing a trained generator by one block (issue 38: 256 px at 0.2 mm from the 128-px model):
the grown generator starts as the small one upsampled, a mismatched configuration is refused in
one sentence, and a grown run trains with the small model's discriminator on crops."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from stimstudio.core.errors import CheckpointError, OptionError
from stimstudio.core.model import load_model
from stimstudio.core.nets import Generator
from stimstudio.train.gan import GanTrainer
from stimstudio.train.grow import can_grow, grow_generator
from tests.conftest import make_tiny_model
from tests.test_train import CPU, tiny_gan_config, write_patches


def test_a_grown_generator_starts_as_the_small_one_upsampled():
    small = make_tiny_model().G.eval()
    big = Generator(dataclasses.replace(small.cfg, resolution=2 * small.resolution)).eval()
    fresh = grow_generator(small, big)
    assert fresh and all(
        n.startswith(f"synthesis.blocks.{len(big.synthesis.blocks) - 1}.") for n in fresh
    )
    z = torch.randn(6, small.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = small.synthesize(small.map(z), noise_mode="none")
        b = big.synthesize(big.map(z), noise_mode="none")
    assert b.shape[-1] == 2 * a.shape[-1]
    up = F.interpolate(a, scale_factor=2.0, mode="bilinear", align_corners=False)
    # the new block adds a faint texture only: far below the images' own contrast
    assert (b - up).abs().mean() < 0.2 * a.std()
    # and it is there (a block started at zero would never learn its first conv)
    assert (b - up).abs().mean() > 0


def test_only_a_doubling_with_the_same_widths_grows():
    small = make_tiny_model().G
    same = Generator(small.cfg)
    wider = Generator(dataclasses.replace(small.cfg, resolution=64, w_dim=64))
    assert not can_grow(small, same) and not can_grow(small, wider)
    with pytest.raises(CheckpointError, match="grows only into"):
        grow_generator(small, wider)


def test_a_grown_run_trains_on_crops_with_the_small_models_discriminator(tmp_path):
    data32 = write_patches(tmp_path / "d32.npz", n=8, res=32)
    data64 = write_patches(tmp_path / "d64.npz", n=8, res=64)
    proj = dict(discriminator="projected", r1_interval=0, total_kimg=0.008, snapshot_kimg=1.0)
    small = GanTrainer(tiny_gan_config(tmp_path / "a", data32, **proj), CPU)
    small.resume()
    list(small.train())
    weights = str(tmp_path / "a" / "run" / "model-gan.safetensors")

    cfg = tiny_gan_config(
        tmp_path / "b", data64, resolution=64, crop=32, full_every=2, disc_resolution=32, **proj
    )
    cfg = dataclasses.replace(cfg, total_kimg=0.008 + 0.016)
    big = GanTrainer(cfg, CPU)
    msg = big.resume(weights)
    assert msg.startswith("grew the 32-px generator") and "starts fresh" not in msg
    p_small = load_model(weights, with_projected=True).P.shipped_state_dict()
    assert all(torch.equal(v, big.P.shipped_state_dict()[k]) for k, v in p_small.items())
    records = list(big.train())  # a whole-patch step (averaged to 32 px) and a crop step
    assert len(records) == 4 and all(r.event != "rollback" for r in records)
    img = big.G_ema(torch.randn(2, cfg.z_dim))
    assert img.shape == (2, 1, 64, 64) and torch.isfinite(img).all()


def test_disc_resolution_is_checked(tmp_path):
    data64 = write_patches(tmp_path / "d64.npz", n=8, res=64)
    for bad in (48, 128, 16):
        cfg = tiny_gan_config(
            tmp_path, data64, resolution=64, discriminator="projected", disc_resolution=bad
        )
        with pytest.raises(OptionError, match="--disc-resolution"):
            GanTrainer(cfg, CPU)
    cfg = tiny_gan_config(tmp_path, data64, resolution=64, disc_resolution=32)
    with pytest.raises(OptionError, match="needs --discriminator projected"):
        GanTrainer(cfg, CPU)
