"""`stimstudio compose` is the core composition run to the end: the CLI writes exactly what
`core.compose.compose` makes for the same inputs and seed (one compose loop, not two)."""

from __future__ import annotations

import json

import numpy as np
from conftest import smooth_image

from stimstudio.cli.generate import _settings
from stimstudio.cli.main import build_parser, main
from stimstudio.core.compose import Mask, Placement, compose
from stimstudio.core.imageio import load_mask, load_patch, save_image
from stimstudio.core.model import load_model


def test_cli_compose_writes_what_the_core_entry_makes(tmp_path, capsys, tiny_weights):
    save_image(tmp_path / "a.png", smooth_image(1))
    save_image(tmp_path / "b.png", smooth_image(2))
    m = np.zeros((32, 32), np.float32)
    m[10:22, 9:23] = 1
    save_image(tmp_path / "mask.png", m, model_range=False)
    out = tmp_path / "out"
    argv = [
        "compose", "--texture", tmp_path / "a.png", "--template", tmp_path / "b.png",
        "--mask", tmp_path / "mask.png", "--dx", "2", "--angle", "15", "--steps", "4",
        "--seed", "3", "--stylemix-optimize", "--out-dir", out, "--weights", tiny_weights,
    ]  # fmt: skip
    argv = [str(a) for a in argv]
    assert main(argv) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "stylemix+opt" in text

    model = load_model(tiny_weights, "cpu")
    texture, _ = load_patch(tmp_path / "a.png", model.resolution)
    template, _ = load_patch(tmp_path / "b.png", model.resolution)
    mask = Mask.from_array(load_mask(tmp_path / "mask.png", texture.shape), 2.0)
    settings = _settings(build_parser(argv).parse_args(argv))  # the CLI's defaults, whatever
    assert (settings.steps, settings.seed) == (4, 3)
    steps = []
    comp = compose(
        model, texture, template, mask, Placement(2, 0, 1, 15), settings,
        stylemix_optimize=True, on_step=steps.append,
    )  # fmt: skip
    assert len(steps) == 2 * 5  # two passes of steps 0..4
    (tmp_path / "ref").mkdir()
    for name, img in comp.images.items():
        ref = save_image(tmp_path / "ref" / f"{name}.png", img)
        assert (out / f"{name}.png").read_bytes() == ref.read_bytes(), name
    written = json.loads((out / "metrics.json").read_text())["metrics"]
    assert written.keys() == comp.metrics.keys()
    for name in comp.metrics:
        assert written[name] == json.loads(json.dumps(comp.metrics[name])), name


def test_cli_compose_by_contrast_records_the_mode_and_warns(tmp_path, capsys, tiny_weights):
    """--placement-mode contrast --contrast GAIN: the stitch is made that way, metrics.json
    records it, and a texture much darker than the template is one warning on stderr."""
    tex = np.full((32, 32), -0.6, np.float32) + 0.05 * smooth_image(1)
    yy, xx = np.mgrid[:32, :32]
    inside = (yy - 16) ** 2 + (xx - 16) ** 2 <= 36
    tex[inside] += 0.4
    save_image(tmp_path / "a.png", tex)
    save_image(tmp_path / "b.png", 0.3 + 0.05 * smooth_image(2))
    save_image(tmp_path / "mask.png", inside.astype(np.float32), model_range=False)
    common = [
        "compose", "--texture", tmp_path / "a.png", "--template", tmp_path / "b.png",
        "--mask", tmp_path / "mask.png", "--steps", "2", "--weights", tiny_weights,
    ]  # fmt: skip
    argv = [str(a) for a in common + ["--out-dir", tmp_path / "x", "--contrast", "9"]]
    assert main(argv + ["--placement-mode", "contrast"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "contrast gain" in err and "0..4" in err
    for mode in ("paste", "contrast"):
        out = tmp_path / mode
        argv = [str(a) for a in common + ["--out-dir", out, "--placement-mode", mode]]
        assert main(argv + ["--contrast", "0.8"]) == 0
        cap = capsys.readouterr()
        assert "stimstudio: warning: The texture's surround is much darker" in cap.err
        assert f"placed by {mode}" in cap.out
        res = json.loads((out / "metrics.json").read_text())
        assert res["placement"]["mode"] == mode and res["placement"]["contrast"] == 0.8
        assert res["warnings"] and res["texture_contrast"] > 0.3
        c = res["metrics"]["stitch"]["lesion_contrast"]
        assert (c > 0.2) if mode == "contrast" else (c < 0), (mode, c)
