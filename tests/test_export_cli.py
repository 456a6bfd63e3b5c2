"""`stimstudio export | regenerate | batch`: results, regeneration, resume, the error contract."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import make_tiny_model

import stimstudio.core.export.writers as export_mod  # _write calls atomic_write_bytes here
from stimstudio.cli.main import main
from stimstudio.core.generate import latent_for_seed
from stimstudio.core.model import load_model


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stimstudio: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def model(tiny_weights):
    return load_model(tiny_weights)


@pytest.fixture
def weights(tmp_path, tiny_weights):
    """A private copy of the tiny model (tests replace it)."""
    dst = tmp_path / "w" / "tiny.safetensors"
    dst.parent.mkdir()
    shutil.copy(tiny_weights, dst)
    shutil.copy(tiny_weights.replace(".safetensors", ".json"), dst.with_suffix(".json"))
    return dst


@pytest.fixture
def other_weights(tmp_path):
    m = make_tiny_model(seed=5)
    return m.save(tmp_path / "other" / "other.safetensors", dtype=torch.float32)


def test_export_then_regenerate(tmp_path, capsys, model, weights):
    lat = tmp_path / "a.latent.npz"
    latent_for_seed(model, 4).save(lat)
    out = tmp_path / "e"
    rc, text, err = _run(
        capsys,
        "export",
        lat,
        "seed:5",
        "seed:6",
        "--out",
        out,
        "--loop",
        "--frames",
        6,
        "--format",
        "png",
        "--format",
        "tiff",
        "--bits",
        16,
        "--weights",
        weights,
        "--json",
    )
    assert rc == 0, err
    doc = json.loads(text)
    assert doc["frames"] == 6 and doc["kind"] == "continuum" and len(doc["step_distances"]) == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["continuum"]["id"] == "e" and manifest["seeds"] == [4, 5, 6]
    assert [a["name"] for a in manifest["anchors"]] == ["a", "seed5", "seed6"]
    # seeds carry their own noise maps, in files the regeneration reads back
    assert all(a["noise_sha256"] and a["file"] for a in manifest["anchors"])
    rc, text, err = _run(capsys, "regenerate", out / "manifest.json", "--json")
    assert rc == 0, err
    res = json.loads(text)
    assert res["ok"] and res["identical"] == 6 and res["differing"] == []
    rc, text, err = _run(capsys, "regenerate", out, "--out", tmp_path / "again")
    assert rc == 0 and "all 6 frames are bit-identical" in text
    for f in (out / "png").iterdir():
        assert f.read_bytes() == (tmp_path / "again" / "png" / f.name).read_bytes()
    # another model given explicitly, then the manifest's own file replaced by another model
    rc, _, err = _run(capsys, "regenerate", out, "--weights", other_weights_path(tmp_path))
    assert rc == 2 and "model file differs" in one_line_error(err)
    shutil.copy(other_weights_path(tmp_path), weights)
    shutil.copy(other_weights_path(tmp_path).with_suffix(".json"), weights.with_suffix(".json"))
    rc, _, err = _run(capsys, "regenerate", out)
    line = one_line_error(err)
    assert rc == 2 and "model file differs" in line and "tiny.safetensors" in line
    rc, text, err = _run(capsys, "regenerate", out, "--allow-other-model", "--json")
    assert rc == 0 and json.loads(text)["model_differs"] is True
    weights.unlink()
    rc, _, err = _run(capsys, "regenerate", out)
    assert rc == 2 and "--weights" in one_line_error(err)


def test_export_noise_const_renders_seeds_with_the_models_fixed_maps(tmp_path, capsys, weights):
    out = tmp_path / "c"
    argv = ["export", "seed:1", "seed:2", "--stills", "--noise", "const", "--out", out]
    rc, _, err = _run(capsys, *argv, "--weights", weights, "--format", "png")
    assert rc == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["source"]["noise_mode"] for a in manifest["anchors"]] == ["const", "const"]
    assert not any("noise_sha256" in a for a in manifest["anchors"])
    rc, text, err = _run(capsys, "regenerate", out, "--json")
    assert rc == 0 and json.loads(text)["ok"], err
    rc, _, err = _run(capsys, "export", "seed:1", "seed:2", "--noise", "blur", "--out", out)
    assert rc == 2 and "--noise" in err


def other_weights_path(tmp_path):
    p = tmp_path / "other" / "other.safetensors"
    if not p.exists():
        make_tiny_model(seed=5).save(p, dtype=torch.float32)
    return p


def test_stills_dicom_and_sizes(tmp_path, capsys, weights):
    out = tmp_path / "s"
    rc, text, err = _run(
        capsys,
        "export",
        "seed:1",
        "seed:2",
        "--stills",
        "--out",
        out,
        "--format",
        "dicom,png",
        "--size",
        64,
        "--interpolation",
        "cubic",
        "--pixel-spacing",
        0.2,
        "--weights",
        weights,
    )
    assert rc == 0, err
    import pydicom

    ds = pydicom.dcmread(out / "dicom" / "seed1.dcm")
    assert ds.Rows == 64 and float(ds.PixelSpacing[0]) == pytest.approx(0.1)
    assert (out / "png" / "seed2.png").is_file() and "2 frames" in text


def test_refuses_to_overwrite_and_resumes_after_ctrl_c(tmp_path, capsys, weights, monkeypatch):
    out = tmp_path / "e"
    args = ["export", "seed:1", "seed:2", "--out", out, "--frames", 5, "--weights", weights]
    real = export_mod.atomic_write_bytes
    calls = {"n": 0}

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] == 5:  # manifest, journal, frame 0, frame 1, then Ctrl-C
            raise KeyboardInterrupt
        return real(path, data)

    monkeypatch.setattr(export_mod, "atomic_write_bytes", flaky)
    rc, _, err = _run(capsys, *args)
    monkeypatch.setattr(export_mod, "atomic_write_bytes", real)
    assert rc == 130 and "--resume" in err and "interrupted" in err
    kept = sorted(p.name for p in (out / "png").iterdir())
    assert kept == ["e_0000.png", "e_0001.png"]
    rc, _, err = _run(capsys, *args)
    assert rc == 2 and "interrupted export" in one_line_error(err)
    rc, text, err = _run(capsys, *args, "--resume", "--json")
    assert rc == 0 and json.loads(text)["kept_frames"] == 2
    rc, _, err = _run(capsys, *args)
    assert rc == 2 and "already holds this export" in one_line_error(err)
    rc, _, err = _run(capsys, *args[:-4], "--frames", 3, "--weights", weights)
    assert rc == 2 and "another export" in one_line_error(err)
    rc, _, err = _run(capsys, *args[:-4], "--frames", 3, "--weights", weights, "--force")
    assert rc == 0 and len(list((out / "png").iterdir())) == 3


SPEC = """
out = "stimuli"
[defaults]
frames = 4
loop = true
[output]
formats = ["png"]
preview = "none"
[[continuum]]
id = "mine"
anchors = ["a.latent.npz", "seed:3"]
[[series]]
id_prefix = "loop"
count = 2
anchors = 2
"""


def test_batch_cli(tmp_path, capsys, model, weights, monkeypatch):
    latent_for_seed(model, 8).save(tmp_path / "a.latent.npz")
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    rc, text, err = _run(capsys, "batch", spec, "--weights", weights, "--json")
    assert rc == 0, err
    doc = json.loads(text)
    assert doc["continua"] == ["loop01"] and doc["exported"] == ["loop01"]
    assert not doc["complete"] and doc["conditions"] is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    rc, text, err = _run(capsys, "batch", spec, "--weights", weights, "--json")
    doc = json.loads(text)
    assert rc == 0 and doc["skipped"] == ["loop01"] and doc["exported"] == ["mine", "loop02"]
    assert doc["complete"] and (tmp_path / "stimuli" / "conditions.csv").is_file()
    rc, text, err = _run(capsys, "batch", spec, "--weights", weights)
    assert rc == 0 and "0 continua exported, 3 already complete" in text


@pytest.mark.parametrize(
    "spec_text, message",
    [
        (
            "out = 'x'\ncolour = 1\n[[continuum]]\nid='a'\nanchors=['seed:1','seed:2']\n",
            "unknown key 'colour'",
        ),
        (
            "out = 'x'\n[[continuum]]\nid='a'\nanchors=['missing.latent.npz','seed:2']\n",
            "latent file not found",
        ),
        (
            "out = 'x'\n[[continuum]]\nid='a'\nanchors=['alien.latent.npz','seed:2']\n",
            "another model|made with model",
        ),
        ("out = 'x'\n[[continuum\n", "not valid TOML"),
        ("out = 'x'\n", "lists no continua"),
    ],
)
def test_batch_user_errors(tmp_path, capsys, weights, other_weights, spec_text, message):
    alien = load_model(other_weights)
    latent_for_seed(alien, 1).save(tmp_path / "alien.latent.npz")
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text)
    rc, _, err = _run(capsys, "batch", spec, "--weights", weights)
    assert rc == 2
    import re

    assert re.search(message, one_line_error(err))
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").rglob("*.png"))


def test_export_user_errors(tmp_path, capsys, weights, other_weights):
    alien = load_model(other_weights)
    latent_for_seed(alien, 1).save(tmp_path / "alien.latent.npz")
    (tmp_path / "junk.latent.npz").write_bytes(b"not a zip")
    base = ["--out", tmp_path / "o", "--weights", weights]
    cases = [
        (["export", tmp_path / "missing.latent.npz", "seed:1", *base], "latent file not found"),
        (["export", tmp_path / "alien.latent.npz", "seed:1", *base], "made with model"),
        (["export", tmp_path / "junk.latent.npz", "seed:1", *base], "not a StimStudio latent"),
        (["export", "seed:x", "seed:1", *base], "bad anchor"),
        (["export", "seed:1", *base], "at least 2 anchors"),
        (["export", "seed:1", "seed:2", "--format", "jpeg", *base], "unknown export format"),
        (["export", "seed:1", "seed:2", "--size", "huge", *base], "--size"),
        (["export", "seed:1", "seed:2", "--id", "a/b", *base], "continuum id"),
        (
            [
                "export",
                "seed:1",
                "seed:2",
                "--out",
                tmp_path / "o",
                "--weights",
                tmp_path / "none.safetensors",
            ],
            "weights file not found",
        ),
        (["batch", tmp_path / "nope.toml", "--weights", weights], "batch spec not found"),
        (["regenerate", tmp_path / "nowhere"], "manifest not found"),
    ]
    for argv, message in cases:
        rc, _, err = _run(capsys, *argv)
        assert rc == 2, (argv, err)
        assert message in one_line_error(err), (argv, err)
    assert not (tmp_path / "o").exists()
