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
