"""One word per thing on the command line: renamed flags keep their older names as aliases.

"frame spacing" (how a continuum's frames are spread) and "pixel size" (mm per pixel) were both
"spacing"; the export's resize filter was "interpolation", the word for lerp/slerp.
"""

from __future__ import annotations

import pytest

from stimstudio.cli.main import build_parser


def _parse(argv):
    return build_parser(argv).parse_args(argv)


@pytest.mark.parametrize(
    "new, old, dest, value",
    [
        ("--frame-spacing", "--spacing", "spacing", "latent"),
        ("--resize-filter", "--interpolation", "interpolation", "lanczos"),
        ("--pixel-size", "--pixel-spacing", "pixel_spacing", "0.07"),
    ],
)
def test_export_flags_and_their_aliases(new, old, dest, value):
    base = ["export", "seed:1", "seed:2", "--out", "x"]
    a = getattr(_parse([*base, new, value]), dest)
    b = getattr(_parse([*base, old, value]), dest)
    assert a == b == (float(value) if dest == "pixel_spacing" else value)


def test_dataset_pixel_size_and_its_alias():
    base = ["dataset", "build", "src", "out"]
    assert _parse([*base, "--pixel-size", "0.2"]).spacing_mm == 0.2
    assert _parse([*base, "--spacing-mm", "0.2"]).spacing_mm == 0.2
    assert _parse(base).spacing_mm == 0.4


def test_help_names_the_aliases(capsys):
    with pytest.raises(SystemExit):
        _parse(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for alias in ("--spacing is an alias", "--interpolation is an alias", "--pixel-spacing is"):
        assert alias in text
    assert "interpolation between anchors" in text


def test_interpolate_frame_spacing_and_its_alias():
    base = ["interpolate", "a.latent.npz", "b.latent.npz", "--out-dir", "x"]
    assert _parse([*base, "--frame-spacing", "pixel"]).spacing == "pixel"
    assert _parse([*base, "--spacing", "pixel"]).spacing == "pixel"
    # the default is core.defaults' (perceptual, issue 40); the paper's plain lerp one flag away
    assert _parse(base).spacing == "perceptual"
    assert _parse([*base, "--frame-spacing", "latent"]).spacing == "latent"


def test_batch_specs_take_the_new_words_and_the_older_ones():
    from pathlib import Path

    from stimstudio.core.batch import parse_batch_spec
    from stimstudio.core.errors import OptionError

    def spec(defaults, output, **continuum):
        c = {"id": "c", "anchors": ["seed:1", "seed:2"], **continuum}
        doc = {"out": "o", "defaults": defaults, "output": output, "continuum": [c]}
        return parse_batch_spec(doc, Path("."))

    new = spec({"frame_spacing": "latent"}, {"resize_filter": "lanczos", "pixel_size_mm": 0.2})
    old = spec({"spacing": "latent"}, {"interpolation": "lanczos", "pixel_spacing_mm": 0.2})
    assert new.continua == old.continua and new.output == old.output
    assert new.continua[0].spacing == "latent" and new.output.interpolation == "lanczos"
    assert spec({}, {}, frame_spacing="pixel").continua[0].spacing == "pixel"
    with pytest.raises(OptionError, match="'frame_spacing' or its older name 'spacing'"):
        spec({"frame_spacing": "latent", "spacing": "pixel"}, {})


@pytest.mark.parametrize("verb", ["invert", "compose"])
def test_feature_network_and_its_alias(verb, capsys):
    base = {
        "invert": ["invert", "x.png", "--out", "o.png"],
        "compose": [
            *("compose", "--texture", "t.png", "--template", "p.png"),
            *("--out-dir", "o", "--polygon", "1,1;5,1;5,5"),
        ],
    }[verb]
    assert _parse([*base, "--feature-network", "lite0"]).perceptual == "lite0"
    assert _parse([*base, "--perceptual", "lite0"]).perceptual == "lite0"
    assert _parse(base).perceptual == "discriminator"
    with pytest.raises(SystemExit):
        _parse([verb, "--help"])
    assert "--perceptual is an alias" in " ".join(capsys.readouterr().out.split())
