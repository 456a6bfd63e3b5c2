"""Choosing a model (issue 38 item 2): short names, the catalogue of weights/, and which model
made a latent, an export or a project; a latent of another model is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stimstudio.cli.main import main
from stimstudio.core import model_catalog
from stimstudio.core.errors import CheckpointError, LatentError
from stimstudio.core.latent import Latent, load_latent, wplus_resolution
from stimstudio.core.model import Model, load_model
from stimstudio.core.model_catalog import list_models, resolve_weights, short_name
from stimstudio.core.nets import GeneratorConfig

TINY64 = GeneratorConfig(
    resolution=64, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32
)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory, tiny_model):
    """A weights/ folder with two models: the tiny 32-px one and a 64-px one."""
    d = tmp_path_factory.mktemp("weights")
    tiny_model.save(d / "stimstudio-tiny-32.safetensors", dtype=torch.float32, spacing_mm=0.4)
    Model.create(TINY64, seed=1).save(
        d / "stimstudio-tiny-64.safetensors", dtype=torch.float32, spacing_mm=0.2, kimg=5
    )
    return d


def test_short_names_resolve_in_the_weights_folder(weights_dir, monkeypatch):
    monkeypatch.setattr(model_catalog, "WEIGHTS_DIR", weights_dir)
    assert resolve_weights("tiny-64") == weights_dir / "stimstudio-tiny-64.safetensors"
    assert resolve_weights("stimstudio-tiny-64") == weights_dir / "stimstudio-tiny-64.safetensors"
    model = load_model("tiny-64")
    assert model.resolution == 64 and model.short_name == "tiny-64"
    assert model.tag() == {
        "name": "tiny-64",
        "sha256": model.sha256,
        "resolution": 64,
        "spacing_mm": 0.2,
    }
    with pytest.raises(CheckpointError, match="no model named 'nope'.*tiny-32, tiny-64"):
        resolve_weights("nope")
    # a path that is not there stays a path: loading names the file
    with pytest.raises(CheckpointError, match="weights file not found"):
        load_model(weights_dir / "missing.safetensors")


def test_the_catalogue_lists_each_model_with_its_resolution_and_pixel_size(weights_dir):
    entries = {e.name: e for e in list_models(weights_dir)}
    assert set(entries) == {"tiny-32", "tiny-64"}
    assert (entries["tiny-64"].resolution, entries["tiny-64"].spacing_mm) == (64, 0.2)
    assert entries["tiny-64"].label() == "tiny-64 · 64 px at 0.2 mm (12.8 mm) · 5 kimg"


def test_the_shipped_model_is_in_the_catalogue_and_stays_the_default():
    shipped = {e.name: e for e in list_models()}["minimias-128"]
    assert (shipped.resolution, shipped.spacing_mm) == (128, 0.4)
    assert short_name(model_catalog.WEIGHTS_DIR / "stimstudio-minimias-128.safetensors") == (
        "minimias-128"
    )
    assert resolve_weights("minimias-128") == shipped.path


def test_a_latent_records_its_model_and_is_refused_by_another(weights_dir, tmp_path):
    small = load_model(weights_dir / "stimstudio-tiny-32.safetensors")
    big = load_model(weights_dir / "stimstudio-tiny-64.safetensors")
    lat = Latent.of(small, np.zeros((small.num_ws, small.w_dim), np.float32), {"seed": 1})
    loaded = load_latent(lat.save(tmp_path / "a.latent.npz"))
    assert loaded.model == small.tag() and loaded.model_sha256 == small.sha256
    loaded.check_model(small)
    with pytest.raises(LatentError) as exc:
        loaded.check_model(big, allow_other_model=True)  # another resolution: always refused
    msg = str(exc.value)
    assert "\n" not in msg and "tiny-32 (32 px" in msg and "tiny-64 (64 px" in msg
    # same shape, other model file: refused unless asked for
    other = Latent(loaded.wplus, {}, "f" * 64, None, {"name": "other", "resolution": 32})
    with pytest.raises(LatentError, match="made with model other .32 px, ffffffff"):
        other.check_model(small)
    other.check_model(small, allow_other_model=True)
    # latents saved before the model was recorded still say their resolution
    assert wplus_resolution(small.num_ws) == 32 and wplus_resolution(big.num_ws) == 64


def test_cli_refuses_a_latent_of_another_resolution_in_one_line(weights_dir, tmp_path, capsys):
    small = load_model(weights_dir / "stimstudio-tiny-32.safetensors")
    lat = Latent.of(small, np.zeros((small.num_ws, small.w_dim), np.float32))
    f = lat.save(tmp_path / "small.latent.npz")
    big = weights_dir / "stimstudio-tiny-64.safetensors"
    argv = ["interpolate", f, f, "--out-dir", tmp_path / "out", "--weights", big]
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert "tiny-32 (32 px" in lines[0] and "tiny-64 (64 px" in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_takes_a_model_name_for_weights(weights_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(model_catalog, "WEIGHTS_DIR", weights_dir)
    code = main(["generate", "--seed", "3", "--out-dir", str(tmp_path / "g"), "--weights",
                 "tiny-64", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    lat = load_latent(tmp_path / "g" / "seed0003.latent.npz")
    assert lat.model["name"] == "tiny-64" and lat.model["resolution"] == 64
    code = main(["generate", "--seed", "3", "--out-dir", str(tmp_path / "h"), "--weights", "x1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no model named 'x1'" in err[0]


def test_an_export_records_the_model_and_regenerate_takes_its_name(
    weights_dir, tmp_path, capsys, monkeypatch
):
    import json

    monkeypatch.setattr(model_catalog, "WEIGHTS_DIR", weights_dir)
    out = tmp_path / "e"
    argv = ["export", "seed:1", "seed:2", "--frames", "3", "--format", "png", "--out", str(out),
            "--weights", "tiny-64"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    doc = json.loads((out / "manifest.json").read_text())
    m = doc["model"]
    assert (m["short_name"], m["resolution"], m["spacing_mm"]) == ("tiny-64", 64, 0.2)
    capsys.readouterr()
    assert main(["regenerate", str(out), "--weights", "tiny-64"]) == 0, capsys.readouterr().err
    # the other model by name: one line, exit 2
    code = main(["regenerate", str(out), "--weights", "tiny-32"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err


def test_a_compose_result_records_its_model(weights_dir, tmp_path, capsys):
    import json

    from conftest import smooth_image

    from stimstudio.core.imageio import save_image

    save_image(tmp_path / "a.png", smooth_image(1))
    save_image(tmp_path / "b.png", smooth_image(2))
    m = np.zeros((32, 32), np.float32)
    m[10:22, 9:23] = 1
    save_image(tmp_path / "mask.png", m, model_range=False)
    weights = weights_dir / "stimstudio-tiny-32.safetensors"
    argv = ["compose", "--texture", tmp_path / "a.png", "--template", tmp_path / "b.png",
            "--mask", tmp_path / "mask.png", "--steps", "1", "--out-dir", tmp_path / "c",
            "--weights", weights]  # fmt: skip
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    model = json.loads((tmp_path / "c" / "metrics.json").read_text())["model"]
    assert (model["name"], model["resolution"], model["spacing_mm"]) == ("tiny-32", 32, 0.4)
    assert load_latent(tmp_path / "c" / "optimized.latent.npz").model == model
