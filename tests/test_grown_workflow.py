"""A grown model's workflow on its parent's encoders (issue 38: the 256-px model grown from the
128-px one, before it has encoders of its own): encode, the noise encoder's maps, Eq. 4 with the
parent's discriminator features, the model file that carries them, the refusals, and a grown
training run that writes them into its model files. Tiny models: 32 px grown to 64 px."""

from __future__ import annotations

import copy
import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_train import CPU, tiny_gan_config, write_patches

from stimstudio.cli.main import main
from stimstudio.core.errors import CheckpointError, DatasetError, LatentError
from stimstudio.core.invert import (
    InversionSettings,
    encode,
    encoder_noise,
    invert,
    noise_layers,
    perceptual_for,
    run_inversion,
    synthesize,
)
from stimstudio.core.latent import Latent
from stimstudio.core.metrics import psnr
from stimstudio.core.model import Model, check_noise_encoder, load_model
from stimstudio.core.nets import NoiseEncoder, NoiseEncoderConfig
from stimstudio.core.nets.grown import GrownEncoder, GrownNoiseEncoder
from stimstudio.train.evaluate import EvalSettings, evaluate_model
from stimstudio.train.gan import GanTrainer
from stimstudio.train.grow import grow_model
from stimstudio.train.phantoms import save_phantom_dataset


def fitted_parent(tmp_path) -> Model:
    """A tiny 32-px model whose encoder really inverts its generator: the dense layer fitted by
    ridge regression on the (random) conv features of 384 samples (seconds, not training), and
    a noise encoder; the generator is tiny_gan_config's, so a GAN run can grow it."""
    cfg = tiny_gan_config(tmp_path, "unused").generator_config()
    m = Model.create(cfg, seed=0)
    G, E = m.G, m.E
    with torch.no_grad():
        G.mapping.w_avg.copy_(G.mapping(torch.randn(256, cfg.z_dim)).mean(0))
        E.w_avg.copy_(G.w_avg)
        for mod in G.modules():
            if hasattr(mod, "noise_strength"):
                mod.noise_strength.fill_(0.1)
        w = G.map(torch.randn(384, cfg.z_dim, generator=torch.Generator().manual_seed(0)))
        f = E.blocks(E.initial(G.synthesize(w))).flatten(1)
        y = (w - E.w_avg).flatten(1)
        fm, ym = f.mean(0), y.mean(0)
        fc = f - fm
        coef = torch.linalg.solve(fc.T @ fc + torch.eye(f.shape[1]), fc.T @ (y - ym))
        E.dense.weight.copy_(coef.T)
        E.dense.bias.copy_(ym - fm @ coef)
    torch.manual_seed(1)
    m.N = NoiseEncoder(NoiseEncoderConfig(resolution=32, min_resolution=16))
    m.card.update(phase="encoder", spacing_mm=0.4)
    path = m.eval_mode().save(tmp_path / "parent.safetensors", dtype=torch.float32)
    return load_model(path)


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    return fitted_parent(tmp_path_factory.mktemp("parent"))


@pytest.fixture(scope="module")
def grown(parent, tmp_path_factory):
    """The parent grown to 64 px, written to a model file and loaded back."""
    path = grow_model(parent).save(
        tmp_path_factory.mktemp("grown") / "grown.safetensors", dtype=torch.float32
    )
    return load_model(path)


def samples(model: Model, n: int, seed: int) -> np.ndarray:
    z = torch.randn(n, model.G.z_dim, generator=torch.Generator().manual_seed(seed))
    return synthesize(model, model.G.map(z))


def test_the_grown_file_carries_the_parents_encoders_labelled(parent, grown):
    assert grown.resolution == 64 and grown.num_ws == parent.num_ws + 2
    assert isinstance(grown.E, GrownEncoder) and isinstance(grown.N, GrownNoiseEncoder)
    arch = grown.card["architecture"]
    assert arch["encoder_resolution"] == 32 and arch["encoder"]["num_ws"] == parent.num_ws
    src = grown.card["encoder_from"]
    assert src["sha256"] == parent.sha256 and src["encoder_resolution"] == 32
    assert src["noise_encoder"] is True and "averaged down" in src["note"]
    for k, v in parent.E.state_dict().items():
        assert torch.equal(v, grown.E.state_dict()[k])
    assert grown.D.cfg.resolution == 32  # the parent's discriminator, for F


def test_encode_on_a_grown_model_takes_the_parents_wplus_and_reconstructs(parent, grown):
    x = samples(grown, 6, seed=11)
    w = encode(grown, x)
    assert w.shape == (6, grown.num_ws, grown.w_dim)
    # the parent's w+ of the image averaged down (0.4 mm from 0.2 mm), its last code repeated
    small = F.avg_pool2d(torch.from_numpy(x)[:, None], 2).numpy()[:, 0]
    w_parent = encode(parent, small)
    torch.testing.assert_close(w[:, : parent.num_ws], w_parent)
    for k in range(parent.num_ws, grown.num_ws):
        torch.testing.assert_close(w[:, k], w_parent[:, -1])
    maps = encoder_noise(grown, x, w)
    rec = synthesize(grown, w, noise=maps)
    ours = np.mean([psnr(rec[i], x[i]) for i in range(len(x))])
    mean_image = np.mean([psnr(np.full_like(t, t.mean()), t) for t in x])
    assert ours > mean_image + 2.0, (ours, mean_image)
    # the control: the random encoder the grown generator was created with does worse than that
    raw = Model.create(grown.G.cfg, seed=3)
    raw.G = grown.G
    raw_rec = synthesize(raw, encode(raw, x))
    assert np.mean([psnr(raw_rec[i], x[i]) for i in range(len(x))]) < mean_image


def test_the_noise_encoder_predicts_the_parents_layers_and_the_grown_ones_stay_fixed(grown):
    x = samples(grown, 2, seed=4)
    maps = encoder_noise(grown, x)
    layers = noise_layers(grown.G)
    sizes = [layer.noise_const.shape[-1] for layer in layers]
    assert [m.shape[-1] for m in maps] == sizes and sizes[-2:] == [64, 64]
    for i, (m, layer) in enumerate(zip(maps, layers)):
        fixed = torch.allclose(m[0], layer.noise_const.float())
        assert fixed == (sizes[i] not in (16, 32)), (i, sizes[i])  # predicted: 16, 32 px


def test_eq4_runs_and_improves_at_the_grown_resolution(grown):
    x = samples(grown, 1, seed=21)[0] * 0.7 + 0.1  # not exactly on the generator's range
    F_ = perceptual_for(grown)
    assert F_.name == "discriminator-blocks1-3-avg32px"
    # F judges the 64-px image averaged down to 32 px, with the parent's discriminator blocks
    small = F.avg_pool2d(torch.from_numpy(x)[None, None], 2)
    for a, b in zip(F_(torch.from_numpy(x)[None, None]), F_(small)):
        torch.testing.assert_close(a, b)
    s = InversionSettings(steps=12, preview_every=0)
    steps = list(invert(grown, x, None, s))
    assert steps[-1].losses["total"] < 0.9 * steps[0].losses["total"]
    assert steps[-1].wplus.shape == (grown.num_ws, grown.w_dim)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 10:40] = 1
    res = run_inversion(grown, x, mask, dataclasses.replace(s, optimize_noise=True))
    assert res.image.shape == (64, 64) and res.latent.noise[-1].shape == (64, 64)
    assert res.perceptual == F_.name and res.history[-1]["total"] < res.history[0]["total"]


def test_a_grown_file_without_encoder_and_a_parents_latent_are_refused(
    parent, grown, tmp_path, capsys
):
    gan_phase = Model.create(parent.G.cfg, seed=0)  # a GAN-phase parent: nothing to lend
    gan_phase.card["phase"] = "gan"
    bare = grow_model(gan_phase)
    assert bare.encoder_resolution is None and not bare.has_encoder
    path = bare.save(tmp_path / "bare.safetensors", dtype=torch.float32)
    with pytest.raises(CheckpointError, match="has no trained encoder"):
        encode(load_model(path), np.zeros((64, 64), np.float32))
    cv2.imwrite(str(tmp_path / "t.png"), np.full((64, 64), 120, np.uint8))
    code = main(["invert", str(tmp_path / "t.png"), "--weights", str(path), "--quiet",
                 "--steps", "1", "--out", str(tmp_path / "o.png")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "has no trained encoder" in err
    assert not (tmp_path / "o.png").exists()
    lat = Latent.of(parent, encode(parent, np.zeros((32, 32), np.float32))[0].numpy())
    with pytest.raises(LatentError, match="belongs to another model"):
        lat.check_model(grown)


def test_the_borrowed_mark_is_explicit(parent, grown, tmp_path):
    # an ordinary noise encoder of the parent's size on the grown generator is still refused
    with pytest.raises(CheckpointError, match="different models"):
        check_noise_encoder(grown.G, NoiseEncoder(parent.N.cfg))
    with pytest.raises(CheckpointError, match="not a grown model's borrowed one"):
        check_noise_encoder(grown.G, NoiseEncoder(parent.N.cfg), borrowed=True)
    # a card whose encoder differs from its generator without the mark: one sentence
    path = copy.copy(grown).save(tmp_path / "g.safetensors", dtype=torch.float32)
    card = path.with_suffix(".json")
    text = card.read_text().replace('"encoder_resolution": 32,', "")
    card.write_text(text)
    with pytest.raises(CheckpointError, match="does not mark it as borrowed"):
        load_model(path, verify_hash=False)


def test_a_grown_run_writes_the_parents_encoders_into_its_model_files(parent, tmp_path):
    data64 = write_patches(tmp_path / "d64.npz", n=8, res=64)
    cfg = tiny_gan_config(tmp_path, data64, resolution=64, r1_interval=0, snapshot_kimg=1.0)
    cfg = dataclasses.replace(cfg, total_kimg=0.004)
    tr = GanTrainer(cfg, CPU)
    msg = tr.resume(str(parent.path))
    assert msg.startswith("grew the 32-px generator") and "32-px encoders are borrowed" in msg
    list(tr.train())
    out = load_model(tmp_path / "run" / "model-gan.safetensors")
    assert isinstance(out.E, GrownEncoder) and out.has_encoder and out.N is not None
    assert out.tag()["spacing_mm"] == pytest.approx(0.2)  # the parent's 0.4 mm, halved
    assert out.card["encoder_from"]["sha256"] == parent.sha256
    assert encode(out, np.zeros((64, 64), np.float32)).shape == (1, out.num_ws, out.w_dim)
    # resumed from its state, the run keeps them
    again = GanTrainer(dataclasses.replace(cfg, total_kimg=0.008), CPU)
    again.resume()
    assert again.borrowed is not None
    torch.testing.assert_close(again.borrowed.E.dense.weight, parent.E.dense.weight)
    # and a state written before grown runs kept them takes them from --resume-weights
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=False)
    state["borrowed"] = None
    torch.save(state, tmp_path / "run" / "state.pt")
    old = GanTrainer(cfg, CPU)
    assert "are borrowed" in old.resume(str(parent.path)) and old.borrowed is not None


@pytest.fixture(scope="module")
def phantom_data_64(tmp_path_factory):
    """A 64-px patch folder at 0.2 mm, as `dataset build --resolution 256 --pixel-size 0.2`
    writes one (at test size)."""
    d = tmp_path_factory.mktemp("evaldata64")
    save_phantom_dataset(d / "train.npz", 40, 64, seed=1)
    save_phantom_dataset(d / "heldout.npz", 40, 64, seed=2)
    recipe = {"resolution": 64, "spacing_mm": 0.2}
    (d / "manifest.json").write_text(json.dumps({"source": "phantoms", "recipe": recipe}))
    return d


def test_evaluate_models_reconstruction_and_compose_run_on_a_grown_model(grown, phantom_data_64):
    s = EvalSettings.quick(sections=("reconstruction", "compose"), steps=3)
    r = evaluate_model(grown, phantom_data_64, s).result
    rec, comp = r["reconstruction"], r["compose"]
    assert rec["recipe"]["encoder_resolution"] == 32 and rec["recipe"]["encoder_from"] == "parent"
    assert rec["recipe"]["perceptual"] == "discriminator-blocks1-3-avg32px"
    for k in ("constant", "encoder", "inversion", "encoder_w_only"):
        assert np.isfinite(rec[k]["psnr"])
    assert comp["recipe"]["encoder_resolution"] == 32 and np.isfinite(comp["optimized"]["psnr"])
    # the same patches for a model whose card says another pixel size: one sentence
    other = copy.copy(grown)
    other.card = {**grown.card, "spacing_mm": 0.4}
    with pytest.raises(DatasetError, match="at 0.2 mm per pixel but the model works at 0.4"):
        evaluate_model(other, phantom_data_64, s)


def test_inverted_anchors_interpolate_and_export_on_a_grown_model(grown, tmp_path):
    from stimstudio.core.export import ExportSettings, export, regenerate
    from stimstudio.core.interpolate import Anchor, Continuum, iter_frames

    s = InversionSettings(steps=2, preview_every=0)
    anchors = [
        Anchor(f"a{i}", run_inversion(grown, x, None, s).latent)
        for i, x in enumerate(samples(grown, 2, seed=30))
    ]
    assert all(a.latent.noise is not None and a.latent.model["resolution"] == 64 for a in anchors)
    path = Continuum(anchors, frames=3, method="lerp", spacing="latent")
    frames = list(iter_frames(path, np.linspace(0, 1, 3), grown))
    assert frames[1].image.shape == (64, 64)
    a = anchors[0].latent
    np.testing.assert_allclose(frames[0].image, synthesize(grown, a.wplus, noise=a.noise)[0])
    res = export(path, grown, tmp_path / "out", ExportSettings(formats=("tiff",), bits=16))
    assert res.manifest.is_file() and regenerate(tmp_path / "out", grown).ok


def test_a_grown_file_made_before_runs_kept_encoders_borrows_them_afterwards(
    parent, tmp_path, capsys
):
    from stimstudio.train.grow import main as grow_main

    gan_phase = Model(parent.G, parent.E, parent.D, card={**parent.card, "phase": "gan"})
    bare = grow_model(gan_phase).save(tmp_path / "bare.safetensors", dtype=torch.float32)
    out = tmp_path / "borrowed.safetensors"
    assert grow_main(["borrow", str(bare), str(parent.path), str(out)]) == 0
    m = load_model(out)
    assert m.encoder_resolution == 32 and m.card["encoder_from"]["sha256"] == parent.sha256
    torch.testing.assert_close(m.G.state_dict(), load_model(bare).G.state_dict())
    assert encode(m, np.zeros((64, 64), np.float32)).shape == (1, m.num_ws, m.w_dim)
    # again on the result, or with a parent it was not grown from: one line, exit 2
    capsys.readouterr()
    assert grow_main(["borrow", str(out), str(parent.path), str(tmp_path / "x")]) == 2
    assert grow_main(["borrow", str(bare), str(out), str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("stimstudio: error:") for e in err)
    assert not list(tmp_path.glob("x*")) and not list(tmp_path.glob("y*"))


def test_a_noise_encoder_of_its_own_trains_on_a_grown_model_beside_the_borrowed_encoder(
    grown, tmp_path
):
    from stimstudio.train.noise_encoder import NoiseEncoderTrainConfig, NoiseEncoderTrainer

    cfg = NoiseEncoderTrainConfig(
        data=write_patches(tmp_path / "train.npz", n=8, res=64),
        weights=str(grown.path),
        run_dir=str(tmp_path / "run"),
        batch=4,
        min_resolution=32,
        channels=4,
        total_kimg=0.004,
        snapshot_kimg=0.004,
        precision="fp32",
    )
    t = NoiseEncoderTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    out = load_model(tmp_path / "run" / "model-noise-encoder.safetensors")
    assert out.encoder_resolution == 32 and type(out.N) is NoiseEncoder
    assert out.N.cfg.resolution == 64
    maps = encoder_noise(out, samples(out, 1, seed=2))
    layers = noise_layers(out.G)
    assert not torch.allclose(maps[-1][0], layers[-1].noise_const.float())  # 64 px: its own


def test_an_encoder_of_its_own_trains_on_a_grown_model_and_replaces_the_borrowed_ones(
    grown, tmp_path
):
    from stimstudio.train.encoder import EncoderTrainConfig, EncoderTrainer

    cfg = EncoderTrainConfig(
        data=write_patches(tmp_path / "train.npz", n=8, res=64),
        weights=str(grown.path),
        run_dir=str(tmp_path / "enc"),
        batch=4,
        total_kimg=0.004,
        snapshot_kimg=0.004,
        precision="fp32",
    )
    t = EncoderTrainer(cfg, CPU)
    t.resume()
    assert t.F.name == "discriminator-blocks1-3-avg32px"  # the parent's F, as Eq. 4 uses it
    list(t.train())
    out = load_model(tmp_path / "enc" / "model-encoder.safetensors")
    assert out.encoder_resolution is None and type(out.E) is not GrownEncoder
    assert out.E.cfg.resolution == 64 and out.E.cfg.num_ws == out.num_ws and out.N is None
    assert "encoder_from" not in out.card and out.has_encoder
    assert perceptual_for(out).name == t.F.name  # the file keeps the D it was trained against
    assert encode(out, np.zeros((64, 64), np.float32)).shape == (1, out.num_ws, out.w_dim)
