"""The noise encoder: its file format, its use in Eq. 4 and compose, and its training."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from conftest import make_tiny_model, smooth_image
from test_train import CPU, write_patches

from stimstudio.cli.main import main
from stimstudio.core.errors import CheckpointError, DatasetError, OptionError
from stimstudio.core.invert import (
    InversionSettings,
    encode,
    encoder_noise,
    noise_layers,
    run_inversion,
    synthesize,
)
from stimstudio.core.model import load_model
from stimstudio.core.nets import NoiseEncoder, NoiseEncoderConfig
from stimstudio.train.noise_encoder import NoiseEncoderTrainConfig, NoiseEncoderTrainer


def with_noise_encoder(seed: int = 0, min_resolution: int = 16):
    model = make_tiny_model(seed)
    torch.manual_seed(seed)
    model.N = NoiseEncoder(NoiseEncoderConfig(resolution=32, min_resolution=min_resolution))
    return model.eval_mode()


@pytest.fixture(scope="module")
def nmodel():
    return with_noise_encoder()


def test_predicted_maps_are_unit_noise_in_the_generators_layer_order(nmodel):
    x = torch.from_numpy(np.stack([smooth_image(1), smooth_image(2)])[:, None])
    maps = nmodel.N(x, torch.zeros_like(x))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 16, 16)] * 2 + [(2, 1, 32, 32)] * 2
    for m in maps:
        np.testing.assert_allclose(m.mean((2, 3)).detach().numpy(), 0, atol=1e-5)
        np.testing.assert_allclose(m.square().mean((2, 3)).detach().numpy(), 1, atol=1e-4)
    full = encoder_noise(nmodel, np.stack([smooth_image(1), smooth_image(2)]))
    fixed = noise_layers(nmodel.G)
    assert [tuple(n.shape[-2:]) for n in full] == [tuple(f.noise_const.shape) for f in fixed]
    for n, layer in zip(full[:3], fixed[:3]):  # coarser than 16 px: the generator's own maps
        np.testing.assert_array_equal(n[1].numpy(), layer.noise_const.numpy())
    assert not np.allclose(full[-1][0].numpy(), fixed[-1].noise_const.numpy())
    assert encoder_noise(make_tiny_model(), smooth_image(1)) is None


def test_a_model_file_keeps_its_noise_encoder_and_refuses_a_mismatched_one(nmodel, tmp_path):
    path = nmodel.save(tmp_path / "n.safetensors", dtype=torch.float32)
    back = load_model(path)
    assert back.N is not None and back.card["architecture"]["noise_encoder"]["min_resolution"] == 16
    x = smooth_image(3)
    for a, b in zip(encoder_noise(nmodel, x), encoder_noise(back, x)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    # a card whose noise encoder would predict layers the generator does not have
    import json

    card = json.loads(path.with_suffix(".json").read_text())
    card["architecture"]["noise_encoder"]["resolution"] = 64
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="noise encoder .* different models"):
        load_model(path, verify_hash=False)
    # a model without one loads as before
    plain = make_tiny_model().save(tmp_path / "plain.safetensors", dtype=torch.float32)
    assert load_model(plain).N is None


def test_eq4_holds_the_encoders_maps_and_off_is_the_papers_recipe_bit_for_bit(nmodel):
    x = smooth_image(4)
    s = InversionSettings(steps=3, preview_every=1)
    res = run_inversion(nmodel, x, None, s)
    start = [n[0].numpy() for n in encoder_noise(nmodel, x)]
    assert res.latent.source["noise"] == "noise encoder"
    for a, b in zip(res.latent.noise, start):  # held fixed while w moves
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        synthesize(nmodel, res.latent.wplus, noise=res.latent.noise)[0], res.image, atol=1e-5
    )
    assert res.encoder_latent.noise is not None
    # off: identical to the same model without a noise encoder
    off = run_inversion(nmodel, x, None, dataclasses.replace(s, encoder_noise=False))
    bare = copy.copy(nmodel)
    bare.N = None
    paper = run_inversion(bare, x, None, s)
    assert off.latent.noise is None and "noise" not in off.latent.source
    np.testing.assert_array_equal(off.latent.wplus, paper.latent.wplus)
    np.testing.assert_array_equal(off.image, paper.image)
    assert not np.allclose(res.image, off.image)
    # with noise fitting, the fit starts from the noise encoder's maps
    fit = run_inversion(nmodel, x, None, dataclasses.replace(s, optimize_noise=True))
    assert fit.latent.source["noise"] == "optimized"


def test_training_lowers_the_detail_loss_resumes_and_writes_a_model(tmp_path):
    data = write_patches(tmp_path / "train.npz", n=32)
    weights = make_tiny_model().save(tmp_path / "m.safetensors", dtype=torch.float32)
    cfg = NoiseEncoderTrainConfig(
        data=data,
        weights=str(weights),
        run_dir=str(tmp_path / "run"),
        batch=8,
        lr=3e-3,
        min_resolution=16,
        channels=8,
        total_kimg=0.32,
        snapshot_kimg=0.16,
        precision="fp32",
    )
    t = NoiseEncoderTrainer(cfg, CPU)
    assert t.resume() == "starting a new noise-encoder run"
    g0 = {k: v.clone() for k, v in t.model.G.state_dict().items()}
    recs = list(t.train())
    first = np.mean([r.losses["pixel"] for r in recs[:4]])
    last = np.mean([r.losses["pixel"] for r in recs[-4:]])
    assert last < first
    for k, v in t.model.G.state_dict().items():  # G is frozen
        assert torch.equal(v, g0[k]), k
    out = load_model(tmp_path / "run" / "model-noise-encoder.safetensors")
    assert out.N is not None and out.card["noise_encoder_kimg"] == pytest.approx(0.32)
    more = NoiseEncoderTrainer(dataclasses.replace(cfg, total_kimg=0.4), CPU)
    assert "at 0.32 kimg" in more.resume()
    for k, v in more.model.N.state_dict().items():  # the state is exact; the file is fp16
        assert torch.equal(v, t.model.N.state_dict()[k]), k
        assert torch.allclose(v, out.N.state_dict()[k], atol=2e-3), k
    # bad inputs: one sentence each
    with pytest.raises(DatasetError, match="fewer than a batch"):
        NoiseEncoderTrainer(dataclasses.replace(cfg, batch=64, run_dir=str(tmp_path / "r2")), CPU)
    other = make_tiny_model(seed=1).save(tmp_path / "o.safetensors", dtype=torch.float32)
    with pytest.raises(CheckpointError, match="another model"):
        NoiseEncoderTrainer(dataclasses.replace(cfg, weights=str(other)), CPU).resume()


def test_cli_trains_a_noise_encoder_and_reports_a_bad_resolution(tmp_path, capsys):
    data = write_patches(tmp_path / "train.npz", n=16)
    weights = make_tiny_model().save(tmp_path / "m.safetensors", dtype=torch.float32)
    args = ["train", "noise-encoder", "--data", data, "--weights", str(weights), "--batch",
            "8", "--channels", "8", "--total-kimg", "0.016", "--precision", "fp32", "--quiet"]  # fmt: skip
    assert main([*args, "--run-dir", str(tmp_path / "r"), "--min-resolution", "16"]) == 0
    assert "noise encoder trained to 0.016 kimg" in capsys.readouterr().out
    assert main([*args, "--run-dir", str(tmp_path / "r2"), "--min-resolution", "64"]) == 2
    err = capsys.readouterr().err
    assert "min-resolution" in err and err.count("\n") == 1


def noisy_anchors(model, seeds=(5, 6)):
    """Anchors that carry noise maps, as compose and inversion results with the noise encoder."""
    from stimstudio.core.interpolate import Anchor
    from stimstudio.core.latent import Latent

    out = []
    for s in seeds:
        x = smooth_image(s)
        w = encode(model, x)[0].numpy()
        maps = [n[0].numpy() for n in encoder_noise(model, x, w)]
        out.append(Anchor(f"a{s}", Latent(w, {"method": "test"}, model.sha256, maps)))
    return out


def test_a_path_between_anchors_with_noise_maps_blends_them(nmodel):
    from stimstudio.core.interpolate import Continuum, iter_frames, noise_at, spacing_key

    anchors = noisy_anchors(nmodel)
    path = Continuum(anchors, frames=5, method="lerp", spacing="latent")
    frames = list(iter_frames(path, np.linspace(0, 1, 5), nmodel))
    a, b = anchors[0].latent, anchors[1].latent
    # the ends are the anchors as they render on their own
    np.testing.assert_allclose(frames[0].image, synthesize(nmodel, a.wplus, noise=a.noise)[0])
    np.testing.assert_allclose(frames[-1].image, synthesize(nmodel, b.wplus, noise=b.noise)[0])
    assert not np.allclose(frames[0].image, synthesize(nmodel, a.wplus)[0])
    mid = noise_at(path, 0.5, nmodel)
    for m, na, nb in zip(mid, a.noise, b.noise):  # as strong as the ends, not a fainter mean
        assert abs(m.std() - (na.std() + nb.std()) / 2) < 1e-4
        assert np.corrcoef(m.ravel(), (na + nb).ravel())[0, 1] > 0.999
    # one anchor without maps brings the model's fixed ones; the key follows the maps
    from stimstudio.core.latent import Latent

    plain = Continuum(
        [anchors[0], type(anchors[1])("p", Latent(b.wplus))], frames=5, spacing="latent"
    )
    fixed = [layer.noise_const.numpy() for layer in noise_layers(nmodel.G)]
    for m, f in zip(noise_at(plain, 1.0, nmodel), fixed):
        np.testing.assert_array_equal(m, f)
    nmodel.sha256 = nmodel.sha256 or "test"
    assert spacing_key(path, nmodel, "pixel") != spacing_key(plain, nmodel, "pixel")
    assert noise_at(Continuum([type(anchors[1])("p", Latent(a.wplus))] * 2), 0.5, nmodel) is None


def test_an_export_of_anchors_with_noise_maps_regenerates_exactly(nmodel, tmp_path):
    from stimstudio.core.export import ExportSettings, export, load_manifest, regenerate
    from stimstudio.core.interpolate import Continuum

    path = nmodel.save(tmp_path / "n.safetensors", dtype=torch.float32)
    model = load_model(path)
    anchors = noisy_anchors(model)
    s = ExportSettings(formats=("tiff",), bits=16)
    res = export(
        Continuum(anchors, frames=4, spacing="latent"), model, tmp_path / "out", s, continuum_id="c"
    )
    doc = load_manifest(res.manifest)
    entry = doc["anchors"][0]
    assert entry["file"].endswith(".latent.npz") and "noise_sha256" in entry  # never inline
    assert regenerate(tmp_path / "out", model).ok


def test_an_export_folder_tells_anchors_apart_by_their_noise_maps(nmodel, tmp_path):
    """Same w+, other maps: other pixels, so another export (not this one, resumed)."""
    from stimstudio.core.errors import ExportError, OptionError
    from stimstudio.core.export import ExportSettings, export
    from stimstudio.core.interpolate import Anchor, Continuum, noise_at
    from stimstudio.core.latent import Latent

    path = nmodel.save(tmp_path / "n.safetensors", dtype=torch.float32)
    model = load_model(path)
    anchors = noisy_anchors(model)
    s = ExportSettings(formats=("png",), bits=8)
    export(
        Continuum(anchors, frames=3, spacing="latent"), model, tmp_path / "out", s, continuum_id="c"
    )
    flipped = [
        Anchor(
            a.name,
            Latent(
                a.latent.wplus, a.latent.source, a.latent.model_sha256, [-n for n in a.latent.noise]
            ),
        )  # fmt: skip
        for a in anchors
    ]
    with pytest.raises(ExportError, match="another export"):
        export(
            Continuum(flipped, frames=3, spacing="latent"),
            model,
            tmp_path / "out",
            s,
            continuum_id="c",
        )
    # maps of another model along a path: one sentence naming the anchor
    small = [Anchor("x", Latent(anchors[0].latent.wplus, {}, None, [np.zeros((4, 4))]))]
    with pytest.raises(OptionError, match="anchor 'x' carries noise maps of another model"):
        noise_at(Continuum(small + anchors[1:], frames=3), 0.5, model)
    with pytest.raises(OptionError, match="another number of images"):
        synthesize(model, anchors[0].latent.wplus, noise=[n[None].repeat(2, 0) for n in
                                                          anchors[0].latent.noise])  # fmt: skip


def test_a_too_coarse_min_resolution_is_one_sentence(tmp_path):
    from stimstudio.core.errors import OptionError

    data = write_patches(tmp_path / "train.npz", n=8)
    weights = make_tiny_model().save(tmp_path / "m.safetensors", dtype=torch.float32)
    cfg = NoiseEncoderTrainConfig(
        data=data, weights=str(weights), run_dir=str(tmp_path / "r"), batch=2,
        min_resolution=4, channels=8, precision="fp32",
    )  # fmt: skip
    with pytest.raises(OptionError, match="--min-resolution 4: .* use 8 px or more"):
        NoiseEncoderTrainer(cfg, CPU)
    assert NoiseEncoderTrainer(dataclasses.replace(cfg, min_resolution=8), CPU).model.N


def test_compose_takes_the_composites_maps_from_the_poisson_blend(nmodel):
    from stimstudio.core.compose import Mask, compose

    tex, tpl = smooth_image(7), smooth_image(8)
    yy, xx = np.mgrid[:32, :32]
    mask = Mask.from_array(((yy - 16) ** 2 + (xx - 16) ** 2 < 64).astype(np.float32))
    s = InversionSettings(steps=2, preview_every=0)
    comp = compose(nmodel, tex, tpl, mask, settings=s)
    want = [n[0].numpy() for n in encoder_noise(nmodel, comp.images["poisson"])]
    for got_maps in (comp.latents["encoder"].noise, comp.latents["optimized"].noise):
        for a, b in zip(got_maps, want):
            np.testing.assert_allclose(a, b, atol=1e-6)
    stitch = compose(nmodel, tex, tpl, mask, settings=s, noise_from="stitch")
    assert not np.allclose(stitch.latents["encoder"].noise[-1], want[-1])
    off = compose(nmodel, tex, tpl, mask, settings=dataclasses.replace(s, encoder_noise=False))
    assert off.latents["optimized"].noise is None
    with pytest.raises(OptionError, match="not 'texture'"):
        compose(nmodel, tex, tpl, mask, settings=s, noise_from="texture")


def test_a_run_starts_from_another_files_noise_encoder_and_refuses_a_misfit(tmp_path):
    """--init-noise-encoder: the shipped noise encoder carried to a generator trained a few
    kimg further (its first steps start where that one ended, not from random weights)."""
    data = write_patches(tmp_path / "train.npz", n=16)
    source = with_noise_encoder(seed=3, min_resolution=16)
    with torch.no_grad():
        for p in source.N.parameters():
            p.add_(0.5)  # far from any fresh initialisation
    src = source.save(tmp_path / "src.safetensors", dtype=torch.float32)
    weights = make_tiny_model().save(tmp_path / "m.safetensors", dtype=torch.float32)
    cfg = NoiseEncoderTrainConfig(
        data=data, weights=str(weights), run_dir=str(tmp_path / "r"), batch=8,
        min_resolution=16, channels=32, total_kimg=0.008, precision="fp32",
        init_noise_encoder=str(src),
    )  # fmt: skip
    t = NoiseEncoderTrainer(cfg, CPU)
    assert t.resume().endswith(f"noise encoder initialised from {src}")
    for k, v in t.model.N.state_dict().items():
        assert torch.equal(v, source.N.state_dict()[k]), k
    # a resumed run keeps its own state: the source is read only at the start
    list(t.train())
    again = NoiseEncoderTrainer(dataclasses.replace(cfg, total_kimg=0.016), CPU)
    assert "resumed" in again.resume()
    k0 = next(iter(t.model.N.state_dict()))
    assert torch.equal(again.model.N.state_dict()[k0], t.model.N.state_dict()[k0])
    # a file without a noise encoder, or with one of another shape: one sentence each
    r3 = str(tmp_path / "r3")
    with pytest.raises(CheckpointError, match="holds no noise encoder"):
        bare = dataclasses.replace(cfg, run_dir=r3, init_noise_encoder=str(weights))
        NoiseEncoderTrainer(bare, CPU).resume()
    with pytest.raises(CheckpointError, match="another shape"):
        NoiseEncoderTrainer(dataclasses.replace(cfg, run_dir=r3, channels=8), CPU).resume()
