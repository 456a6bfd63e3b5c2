"""Training on crops: G renders crops from its tiled constant, whole renders are unchanged, the
projected discriminator judges crops, and the settings are checked and recorded."""

from __future__ import annotations

import pytest
import torch

from stimstudio.core.errors import OptionError
from stimstudio.core.model import load_model
from stimstudio.core.nets.generator import tiled_window
from stimstudio.core.nets.projected import ProjectedConfig, ProjectedDiscriminator
from stimstudio.train.gan import GanTrainer, check_crop
from tests.conftest import make_tiny_model
from tests.test_train import CPU, tiny_gan_config, write_patches


@pytest.fixture(scope="module")
def data128(tmp_path_factory):
    return write_patches(tmp_path_factory.mktemp("data") / "train.npz", n=16, res=128)


def crop_config(tmp_path, data, **kw):
    base = dict(
        resolution=128,
        discriminator="projected",
        crop=64,
        full_every=2,
        total_kimg=0.016,  # 4 steps of 4
        snapshot_kimg=1.0,
        r1_interval=0,
    )
    base.update(kw)
    return tiny_gan_config(tmp_path, data, **base)


def test_tiled_window_wraps_the_constant_periodically():
    const = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4)
    win = tiled_window(const, 2, torch.tensor([[0, 0], [3, 3], [1, 2]]))
    assert win.shape == (3, 2, 2, 2)
    assert torch.equal(win[0], const[:, :2, :2])
    assert torch.equal(win[1], const[:, [3, 0]][:, :, [3, 0]])  # wraps round both edges
    assert torch.equal(win[2], const[:, 1:3, 2:4])


def test_whole_renders_are_what_the_constant_alone_gives():
    """The crop path at the full size and offset 0 reproduces the plain render bit for bit
    (same random noise draws), so turning crops off leaves every existing render unchanged."""
    G = make_tiny_model().G
    ws = G.map(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        plain_const = G.synthesize(ws)
        torch.manual_seed(5)
        plain = G.synthesize(ws, noise_mode="random")
        torch.manual_seed(5)
        whole = G.synthesize(ws, noise_mode="random", crop=32, offsets=torch.zeros(3, 2, dtype=int))
    assert torch.equal(plain, whole)
    assert plain_const.shape == (3, 1, 32, 32)


def test_a_crop_is_rendered_from_a_window_of_the_tiled_constant():
    G = make_tiny_model().G.requires_grad_(True)
    ws = G.map(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(2)))
    same = torch.tensor([[1, 3], [1, 3]])
    img = G.synthesize(ws[:1].expand(2, -1, -1), noise_mode="none", crop=16, offsets=same)
    assert img.shape == (2, 1, 16, 16)
    assert torch.equal(img[0], img[1])  # the same window, the same latent: the same crop
    other = G.synthesize(ws[:1], noise_mode="none", crop=16, offsets=torch.tensor([[0, 0]]))
    assert not torch.allclose(other[0], img[0])  # another window of the constant
    img.square().mean().backward()
    assert G.synthesis.blocks[0].const.grad.abs().sum() > 0  # the constant learns from crops
    for bad in (12, 4, 64):
        with pytest.raises(ValueError, match="power of two"):
            G.synthesize(ws, noise_mode="none", crop=bad)
    with pytest.raises(ValueError, match="constant noise"):
        G.synthesize(ws, crop=16)


def test_projected_discriminator_judges_64px_crops_of_a_128px_model():
    torch.manual_seed(0)
    P = ProjectedDiscriminator(ProjectedConfig(resolution=128)).train()
    assert P.min_input == 64 and P.accepts(64) and not P.accepts(32)
    with torch.no_grad():
        assert P(torch.zeros(2, 1, 128, 128)).shape == (2, 4 * 25)  # 5x5 logits per scale
        assert P(torch.zeros(2, 1, 64, 64)).shape == (2, 4)  # one logit per scale
        with pytest.raises(ValueError, match="at least 64 px"):
            P(torch.zeros(2, 1, 32, 32))


def test_crop_training_alternates_crops_and_whole_patches(tmp_path, data128):
    t = GanTrainer(crop_config(tmp_path, data128), CPU)
    t.resume()
    seen = []
    d_step = t._d_step

    def spy(real, do_r1, crop=None):
        seen.append((real.shape[-1], crop))
        return d_step(real, do_r1, crop)

    t._d_step = spy
    g0 = t.G.synthesis.blocks[0].const.detach().clone()
    recs = list(t.train())
    assert seen == [(128, None), (64, 64), (128, None), (64, 64)]
    assert all(torch.isfinite(torch.tensor([r.loss_g, r.loss_d])).all() for r in recs)
    assert not torch.equal(g0, t.G.synthesis.blocks[0].const)
    card = load_model(tmp_path / "run" / "model-gan.safetensors").card
    assert card["crop"] == 64 and card["full_every"] == 2
    assert t.state()["config"]["crop"] == 64


def test_resume_with_other_crop_settings_says_so(tmp_path, data128):
    t = GanTrainer(crop_config(tmp_path, data128, total_kimg=0.008), CPU)
    t.resume()
    list(t.train())
    again = GanTrainer(crop_config(tmp_path, data128, total_kimg=0.016), CPU)
    assert "trained with" not in again.resume()  # same settings: nothing to say
    off = GanTrainer(crop_config(tmp_path, data128, crop=0), CPU)
    msg = off.resume()
    assert "the state was trained with --crop 64 --full-every 2" in msg
    assert "continues with no crops" in msg


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--crop", "48"], "power of two"),
        (["--crop", "256"], "smaller than the 32-px patches"),
        (["--crop", "16"], "--discriminator projected"),
        (["--crop", "16", "--full-every", "0", "--discriminator", "projected"], "full-every"),
    ],
)
def test_bad_crop_options_are_one_line(tmp_path, capsys, flags, words):
    from stimstudio.cli.main import main
    from tests.test_train import TINY_CLI

    data = write_patches(tmp_path / "train.npz")
    code = main(["train", "gan", "--data", data, "--run-dir", str(tmp_path / "g"), *TINY_CLI,
                 *flags, "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "g").exists()  # nothing written


def test_a_crop_too_small_for_the_discriminator_is_refused(tmp_path):
    data = write_patches(tmp_path / "train.npz", n=8, res=128)
    with pytest.raises(OptionError, match="needs at least 64 px"):
        GanTrainer(crop_config(tmp_path, data, crop=32), CPU)
    check_crop(crop_config(tmp_path, data, crop=0), None)  # off: nothing to check
