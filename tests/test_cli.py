"""The stimulus verbs end to end, and the error contract: exit 2, one line, nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stimstudio.cli.main import main
from stimstudio.core.imageio import save_image


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from conftest import smooth_image

    d = tmp_path_factory.mktemp("img")
    save_image(d / "a.png", smooth_image(1))
    save_image(d / "b.png", smooth_image(2))
    save_image(d / "big.png", np.kron(smooth_image(3), np.ones((3, 3))))
    m = np.zeros((32, 32), np.float32)
    m[8:20, 10:22] = 1
    save_image(d / "mask.png", m, model_range=False)
    save_image(d / "empty.png", np.zeros((32, 32)), model_range=False)
    return d


def test_generate_keeps_each_seeds_noise_maps_with_its_latent(tmp_path, capsys, tiny_weights):
    from stimstudio.core.imageio import load_patch
    from stimstudio.core.invert import synthesize
    from stimstudio.core.latent import load_latent
    from stimstudio.core.model import load_model

    W = ["--weights", tiny_weights, "--quiet"]
    assert run(capsys, "generate", "--seed", "5", "--out-dir", tmp_path / "s", *W)[0] == 0
    args = ["--seed", "5", "--noise", "const", "--out-dir", tmp_path / "c", *W]
    assert run(capsys, "generate", *args)[0] == 0
    model = load_model(tiny_weights)
    own, fixed = (load_latent(tmp_path / d / "seed0005.latent.npz") for d in ("s", "c"))
    assert own.noise is not None and fixed.noise is None
    assert own.source["noise_mode"] == "seed" and fixed.source["noise_mode"] == "const"
    # the latent file renders the PNG beside it (to its 8 bits), in its orientation
    png, _ = load_patch(tmp_path / "s" / "seed0005.png", model.resolution)
    img = synthesize(model, own.wplus, noise=own.noise, orientation=own.orientation)[0]
    assert np.abs(np.clip(img, -1, 1) - png).max() < 2.5 / 255
    code, _, err = run(capsys, "generate", "--noise", "fixed", "--out-dir", tmp_path / "x", *W)
    assert code == 2 and "--noise" in err


def test_generate_invert_compose_interpolate(tmp_path, capsys, tiny_weights, images):
    W = ["--weights", tiny_weights, "--quiet"]
    code, out, err = run(
        capsys, "generate", "--seeds", "0-2", "--out-dir", tmp_path / "g", "--json", *W
    )
    assert code == 0, err
    res = json.loads(out)
    assert len(res["files"]) == 3 and (tmp_path / "g" / "seed0002.latent.npz").exists()
    assert res["noise"] == "seed"

    code, out, err = run(
        capsys, "invert", images / "big.png", "--out", tmp_path / "r.png",
        "--latent-out", tmp_path / "r.latent.npz", "--steps", "5", "--json", *W,
    )  # fmt: skip
    assert code == 0, err
    res = json.loads(out)
    assert res["fitted"] and "resized to 32px" in res["fitted"]
    assert res["optimized"]["psnr"] > 0 and res["perceptual"].startswith("discriminator")

    code, out, err = run(
        capsys, "compose", "--texture", images / "a.png", "--template", images / "b.png",
        "--mask", images / "mask.png", "--dx", "2", "--steps", "5", "--out-dir", tmp_path / "c", *W,
    )  # fmt: skip
    assert code == 0, err
    for name in ("stitch", "poisson", "encoder", "optimized"):
        assert name in out and (tmp_path / "c" / f"{name}.png").exists()
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {"stitch", "poisson", "encoder", "optimized", "stylemix"}

    g = tmp_path / "g"
    code, out, err = run(
        capsys, "interpolate", g / "seed0000.latent.npz", g / "seed0001.latent.npz",
        g / "seed0002.latent.npz", "--loop", "--frames", "6", "--spacing", "pixel",
        "--out-dir", tmp_path / "p", "--json", *W,
    )  # fmt: skip
    assert code == 0, err
    res = json.loads(out)
    assert len(res["frames"]) == 6 and len(res["step_distances"]) == 6
    assert (tmp_path / "p" / "distances.csv").read_text().startswith("frame,position")


def _one_line_error(code, out, err, fragment):
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stimstudio: error: "), err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["invert", "{img}/missing.png", "--out", "{tmp}/x.png"], "file not found"),
        (["invert", "{img}/a.png", "--out", "{tmp}/x.png", "--mask", "{img}/empty.png"], "empty"),
        (["invert", "{img}/a.png", "--out", "{tmp}/x.png", "--lr", "-1"], "learning rate"),
        (["compose", "--texture", "{img}/a.png", "--template", "{img}/b.png", "--polygon", "1,2;x",
          "--out-dir", "{tmp}/c"], "--polygon"),
        (["compose", "--texture", "{img}/a.png", "--template", "{img}/b.png", "--mask",
          "{img}/mask.png", "--scale", "9", "--out-dir", "{tmp}/c"], "larger than the template"),
        (["generate", "--seeds", "a-b", "--out-dir", "{tmp}/g"], "--seeds"),
        (["generate", "--seed", "-1", "--noise", "const", "--out-dir", "{tmp}/g"], "seed must be"),
        (["interpolate", "{tmp}/nan.latent.npz", "{tmp}/nan.latent.npz", "--out-dir", "{tmp}/i"], "NaN"),
        (["interpolate", "{tmp}/other.latent.npz", "{tmp}/other.latent.npz", "--out-dir", "{tmp}/i"],
         "another model"),
        (["generate", "--out-dir", "{tmp}/g", "--device", "tpu"], "unknown device"),
        (["generate", "--bogus", "--out-dir", "{tmp}/g"], "unrecognized arguments"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line_and_write_nothing(
    tmp_path, capsys, tiny_weights, images, argv, fragment
):
    bad = np.zeros((8, 32), np.float32)
    bad[0, 0] = np.nan
    np.savez(tmp_path / "nan.latent.npz", wplus=bad)
    np.savez(tmp_path / "other.latent.npz", wplus=np.zeros((3, 32), np.float32))
    before = set(tmp_path.rglob("*"))
    argv = [a.format(img=images, tmp=tmp_path) for a in argv]
    code, out, err = run(capsys, *argv, "--weights", tiny_weights, "--quiet")
    _one_line_error(code, out, err, fragment)
    assert set(tmp_path.rglob("*")) == before


def test_missing_weights_and_wrong_resolution_checkpoint(tmp_path, capsys, images):
    code, out, err = run(
        capsys, "generate", "--out-dir", tmp_path / "g", "--weights", tmp_path / "none.safetensors"
    )
    _one_line_error(code, out, err, "weights file not found")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 100)
    broken.with_suffix(".json").write_text("{}")
    code, out, err = run(capsys, "generate", "--out-dir", tmp_path / "g", "--weights", broken)
    _one_line_error(code, out, err, "broken.safetensors")


def test_existing_output_is_not_overwritten(tmp_path, capsys, tiny_weights, images):
    target = tmp_path / "r.png"
    target.write_bytes(b"keep")
    code, out, err = run(
        capsys,
        "invert",
        images / "a.png",
        "--out",
        target,
        "--weights",
        tiny_weights,
        "--steps",
        "1",
    )
    _one_line_error(code, out, err, "--force")
    assert target.read_bytes() == b"keep"


def test_mix_and_its_errors(tmp_path, capsys, tiny_weights):
    W = ["--weights", tiny_weights, "--quiet"]
    assert run(capsys, "generate", "--seeds", "0-1", "--out-dir", tmp_path / "g", *W)[0] == 0
    a, b = tmp_path / "g" / "seed0000.latent.npz", tmp_path / "g" / "seed0001.latent.npz"
    code, out, err = run(
        capsys, "mix", a, b, "--fine-from", "B", "--out", tmp_path / "m.png",
        "--latent-out", tmp_path / "m.latent.npz", "--json", *W,
    )  # fmt: skip
    assert code == 0, err
    res = json.loads(out)
    assert res["layers_from_b"] == res["presets"]["fine"]
    from stimstudio.core.latent import load_latent

    m, la, lb = (load_latent(p).wplus for p in (tmp_path / "m.latent.npz", a, b))
    fine = res["layers_from_b"]
    np.testing.assert_array_equal(m[fine], lb[fine])
    rest = [i for i in range(len(m)) if i not in fine]
    np.testing.assert_array_equal(m[rest], la[rest])
    code, out, err = run(capsys, "mix", a, b, "--layers", "0-99", "--out", tmp_path / "x.png", *W)
    _one_line_error(code, out, err, "outside this model")
    assert not (tmp_path / "x.png").exists()
