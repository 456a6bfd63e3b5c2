"""The detail stage (issue 38, second arm): a refiner from the base model's output to twice its
resolution, trained on real patches and their 2x averages (train/detail.py), and the model file
that chains it to its base (core/detail_model.py). Tiny sizes: a 32-px base, a 64-px stage."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_grown_workflow import fitted_parent
from test_train import CPU, write_patches

from stimstudio.cli.main import main
from stimstudio.core.detail_model import detail_model
from stimstudio.core.errors import CheckpointError, LatentError
from stimstudio.core.generate import noise_styles, sample
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
from stimstudio.core.model import Model, load_model
from stimstudio.core.nets.detail import DetailConfig, DetailRefiner, DetailStageGenerator
from stimstudio.core.nets.grown import GrownEncoder
from stimstudio.train.detail import DetailTrainConfig, DetailTrainer, consistency


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    return fitted_parent(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def data64(tmp_path_factory):
    return write_patches(tmp_path_factory.mktemp("d64") / "train.npz", n=16, res=64)


def tiny_cfg(tmp_path, parent, data64, **kw) -> DetailTrainConfig:
    base = dict(
        data=data64,
        base=str(parent.path),
        run_dir=str(tmp_path / "run"),
        disc_resolution=32,
        pixel_channels=8,
        crop=32,
        batch=4,
        low_channels=8,
        high_channels=8,
        high_layers=2,
        total_kimg=0.008,
        snapshot_kimg=1.0,
        precision="fp32",
    )
    base.update(kw)
    return DetailTrainConfig(**base)


def held_error(refiner: DetailRefiner, patches: np.ndarray) -> float:
    """Mean |2x2 average of the refined image - its input| on whole patches (noise on)."""
    real = torch.from_numpy(patches.astype(np.float32)[:, None] / 127.5 - 1)
    lr = F.avg_pool2d(real, 2)
    with torch.no_grad():
        return float(consistency(refiner(lr, noise_mode="random"), lr).mean())


def test_the_consistency_term_makes_the_output_average_back_to_its_input(parent, data64, tmp_path):
    """A refiner started with a large residual (gain 1: its output averages back to anything
    but its input) is trained briefly on phantoms; with the consistency term its model file's
    output averages back to the input within 0.02 (on [-1, 1]); without it, it does not."""
    held = np.load(write_patches(tmp_path / "held.npz", n=8, res=64, seed=5))["patches"]
    errors = {}
    for weight in (10.0, 0.0):
        cfg = tiny_cfg(
            tmp_path / f"w{weight}", parent, data64, residual_gain=1.0, lr=0.01, ema_kimg=0.01,
            consistency_weight=weight, total_kimg=0.24,
        )  # fmt: skip
        tr = DetailTrainer(cfg, CPU)
        start = held_error(tr.R, held)
        list(tr.train())
        out = load_model(tmp_path / f"w{weight}" / "run" / "model-detail.safetensors")
        errors[weight] = (start, held_error(out.G.refiner, held))
    (start, trained), (_, control) = errors[10.0], errors[0.0]
    assert start > 0.035, errors  # the test can fail: the untrained refiner is far off
    assert trained < 0.02 < control, errors


def test_the_refiner_has_noise_layers_and_upsamples_like_bilinear_at_first():
    r = DetailRefiner(DetailConfig(resolution=32, low_channels=4, high_channels=4))
    lr = torch.rand(2, 1, 16, 16) * 2 - 1
    up = F.interpolate(lr, scale_factor=2, mode="bilinear", align_corners=False)
    assert len(noise_layers(r)) == 3 and all(
        n.noise_const.shape == (32, 32) for n in noise_layers(r)
    )
    with torch.no_grad():
        for m in noise_layers(r):
            m.noise_strength.fill_(0.5)
        a, b = r(lr, "random"), r(lr, "random")
        assert not torch.allclose(a, b) and torch.equal(r(lr, "const"), r(lr, "const"))
        learned = DetailRefiner(DetailConfig(resolution=32, upsample="learned"))
        torch.testing.assert_close(learned.upsample(lr), up)  # started as bilinear
    assert (a - up).abs().mean() < 0.5  # a residual on the upsampled input, small at first


@pytest.fixture(scope="module")
def stage(parent, tmp_path_factory):
    """A detail-stage model file on the 32-px parent (a fresh refiner with some noise)."""
    torch.manual_seed(0)
    r = DetailRefiner(DetailConfig(resolution=64, low_channels=8, high_channels=8))
    with torch.no_grad():
        for m in noise_layers(r):
            m.noise_strength.fill_(0.05)
    path = detail_model(parent, r, {"kimg": 1.0, "detail_kimg": 0.5}).save(
        tmp_path_factory.mktemp("stage") / "stage.safetensors", dtype=torch.float32
    )
    return load_model(path)


def test_a_detail_file_loads_on_its_base_and_records_its_kind(parent, stage):
    assert isinstance(stage.G, DetailStageGenerator) and stage.is_detail
    assert stage.resolution == 64 and stage.num_ws == parent.num_ws
    arch = stage.card["architecture"]
    assert arch["generator"]["kind"] == "detail-stage" and arch["generator"]["resolution"] == 64
    assert arch["detail_base"]["sha256"] == parent.sha256
    assert stage.card["phase"] == "detail" and stage.tag()["spacing_mm"] == pytest.approx(0.2)
    from safetensors.torch import load_file

    keys = load_file(str(stage.path)).keys()
    assert keys and all(k.startswith("R.") for k in keys)  # the base's tensors stay in its file
    assert isinstance(stage.E, GrownEncoder) and stage.encoder_resolution == 32
    layers = noise_layers(stage.G)
    assert [m.noise_const.shape[-1] for m in layers][-3:] == [64, 64, 64]
    assert len(noise_styles(stage)) == len(layers) and noise_styles(stage)[-1] == stage.num_ws - 1


def test_generate_encode_and_eq4_run_on_a_detail_model(parent, stage):
    lat, img = sample(stage, 3, noise_mode="random")
    assert img.shape == (64, 64) and len(lat.noise) == len(noise_layers(stage.G))
    assert lat.model["resolution"] == 64
    # the base's image, refined: averaged down it is close to the base's own
    base_img = synthesize(parent, lat.wplus)[0]
    mine = synthesize(stage, lat.wplus)[0]
    assert (
        np.abs(F.avg_pool2d(torch.from_numpy(mine)[None, None], 2)[0, 0].numpy() - base_img).mean()
        < 0.1
    )
    # encode: the base's encoder on the image averaged down (borrowed, as a grown model's)
    w = encode(stage, img)
    small = F.avg_pool2d(torch.from_numpy(img)[None, None], 2)[0, 0].numpy()
    torch.testing.assert_close(w, encode(parent, small))
    maps = encoder_noise(stage, img, w)
    assert [m.shape[-1] for m in maps][-3:] == [64, 64, 64]
    # Eq. 4: the perceptual term on the base's discriminator averaged down; the loss falls
    x = img * 0.7 + 0.1
    assert perceptual_for(stage).name == "discriminator-blocks1-3-avg32px"
    steps = list(invert(stage, x, None, InversionSettings(steps=12, preview_every=0)))
    assert steps[-1].losses["total"] < 0.9 * steps[0].losses["total"]
    res = run_inversion(stage, x, None, InversionSettings(steps=2, optimize_noise=True))
    assert res.image.shape == (64, 64) and res.latent.noise[-1].shape == (64, 64)


def data32_for(tmp_path) -> str:
    return write_patches(tmp_path / "d32.npz", n=8, res=32)


def test_refusals_in_one_line(parent, stage, tmp_path, capsys):
    # a latent of the base model (same shape) on the detail stage, even across models
    lat = Latent.of(parent, encode(parent, np.zeros((32, 32), np.float32))[0].numpy())
    for allow in (False, True):
        with pytest.raises(LatentError, match="renders 64 px: it belongs to another model"):
            lat.check_model(stage, allow_other_model=allow)
    # the base model missing: the detail file alone, its base nowhere
    lone = tmp_path / "lone"
    lone.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(stage.path.with_suffix(suffix), lone / f"d{suffix}")
    card = json.loads((lone / "d.json").read_text())
    card["architecture"]["detail_base"].update(path=str(tmp_path / "gone.safetensors"))
    (lone / "d.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="which is missing: put parent.safetensors beside"):
        load_model(lone / "d.safetensors")
    code = main(["generate", "--weights", str(lone / "d.safetensors"), "--seeds", "1",
                 "--out", str(tmp_path / "g"), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "which is missing" in err
    # a base of another resolution beside it under the base's name
    other = Model.create(dataclasses.replace(parent.G.cfg, resolution=64), seed=1)
    other.save(lone / "parent.safetensors", dtype=torch.float32)
    with pytest.raises(CheckpointError, match="refines 32-px images .* a 64-px model"):
        load_model(lone / "d.safetensors")
    # another version of the base (same size, other weights)
    Model.create(parent.G.cfg, seed=2).save(lone / "parent.safetensors", dtype=torch.float32)
    with pytest.raises(CheckpointError, match="is another version"):
        load_model(lone / "d.safetensors")
    # an encoder trained "for" the detail stage would be lost (its file holds the refiner)
    code = main(["train", "encoder", "--weights", str(stage.path), "--data", data32_for(tmp_path),
                 "--run-dir", str(tmp_path / "e"), "--precision", "fp32", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "borrows the encoders of its base" in err
    # training data of the wrong size for the base: one line, exit 2
    code = main(["train", "detail", "--data", data32_for(tmp_path), "--base", str(parent.path), "--run-dir",
                 str(tmp_path / "r"), "--precision", "fp32", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "learns from 64-px patches" in err


def test_resume_continues_the_same_count_and_cpu_snapshots(parent, data64, tmp_path):
    cfg = tiny_cfg(tmp_path, parent, data64, total_kimg=0.008, snapshot_cpu_minutes=1e-4)
    tr = DetailTrainer(cfg, CPU)
    assert tr.resume().startswith("starting a detail stage")
    list(tr.train())
    assert (tr.step, tr.nimg) == (2, 8)
    run = tmp_path / "run"
    snaps = sorted(run.glob("model-detail-cpu*.safetensors"))
    assert snaps and load_model(snaps[0]).is_detail  # equal-CPU-time snapshots, loadable
    r_before = {k: v.clone() for k, v in tr.R.state_dict().items()}
    again = DetailTrainer(dataclasses.replace(cfg, total_kimg=0.016), CPU)
    msg = again.resume()
    assert "at 0.008 kimg" in msg and (again.step, again.nimg) == (2, 8)
    assert again.cpu_seconds == pytest.approx(tr.cpu_seconds)
    for k, v in r_before.items():
        torch.testing.assert_close(again.R.state_dict()[k], v)
    list(again.train())
    assert (again.step, again.nimg) == (4, 16)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["kimg"] == 0.016 and lines[-1]["cpu"] > 0
    out = load_model(run / "model-detail.safetensors")
    assert out.card["detail_kimg"] == 0.016 and out.card["detail_cpu_seconds"] > 0
    # another refiner shape in the same run folder: one sentence
    with pytest.raises(CheckpointError, match="high_channels=8, this run asks for"):
        DetailTrainer(dataclasses.replace(cfg, high_channels=4), CPU).resume()


def test_train_detail_cli_runs_and_writes_a_model(parent, data64, tmp_path, capsys):
    # --total-kimg 0 writes the untrained stage: the base upsampled, both arms' start
    code = main(["train", "detail", "--data", data64, "--base", str(parent.path),
                 "--run-dir", str(tmp_path / "r0"), "--disc-resolution", "32", "--crop", "32",
                 "--total-kimg", "0", "--precision", "fp32", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    m0 = load_model(tmp_path / "r0" / "model-detail.safetensors")
    assert m0.card["detail_kimg"] == 0 and m0.is_detail
    code = main(["train", "detail", "--data", data64, "--base", str(parent.path),
                 "--run-dir", str(tmp_path / "r"), "--disc-resolution", "32", "--crop", "32",
                 "--batch", "4", "--low-channels", "8", "--high-channels", "8",
                 "--total-kimg", "0.008", "--precision", "fp32", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    m = load_model(tmp_path / "r" / "model-detail.safetensors")
    assert m.is_detail and m.card["detail_kimg"] == 0.008 and m.resolution == 64
    assert (tmp_path / "r" / "samples-latest.png").is_file()


@pytest.fixture(scope="module")
def phantoms64(tmp_path_factory):
    """A 64-px patch folder at 0.2 mm (`dataset build --resolution 256 --pixel-size 0.2`)."""
    from stimstudio.train.phantoms import save_phantom_dataset

    d = tmp_path_factory.mktemp("eval64")
    save_phantom_dataset(d / "train.npz", 40, 64, seed=1)
    save_phantom_dataset(d / "heldout.npz", 40, 64, seed=2)
    recipe = {"resolution": 64, "spacing_mm": 0.2}
    (d / "manifest.json").write_text(json.dumps({"source": "phantoms", "recipe": recipe}))
    return d


def test_export_and_evaluate_run_on_a_detail_model(stage, phantoms64, tmp_path):
    from stimstudio.core.export import ExportSettings, export, regenerate
    from stimstudio.core.interpolate import Anchor, Continuum
    from stimstudio.train.evaluate import EvalSettings, evaluate_model

    anchors = [Anchor(f"s{i}", sample(stage, i, noise_mode="seed")[0]) for i in (1, 2)]
    path = Continuum(anchors, frames=3, method="lerp", spacing="latent")
    res = export(path, stage, tmp_path / "out", ExportSettings(formats=("tiff",), bits=16))
    assert res.manifest.is_file() and regenerate(tmp_path / "out", stage).ok
    s = EvalSettings.quick(sections=("swd", "spectrum"))
    r = evaluate_model(stage, phantoms64, s).result
    assert r["swd"]["recipe"]["resolution"] == 64 and r["swd"]["recipe"]["patch_spacing_mm"] == 0.2
    assert np.isfinite(r["swd"]["generated"]["mean_ratio"])
    assert np.isfinite(r["spectrum"]["generated"]["beta_mean"])
    assert r["model"]["phase"] == "detail" and "detail_kimg" in r["model"]
