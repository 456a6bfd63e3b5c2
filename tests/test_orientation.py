"""Orientation of seed stimuli (issue 38, item 4): one of the square's 8 symmetries or one drawn
from the seed, recorded with each latent, reproduced by regenerate, shared by a continuum."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from stimstudio.cli.main import main
from stimstudio.core.errors import LatentError, OptionError
from stimstudio.core.export import ExportSettings, export, regenerate
from stimstudio.core.generate import latent_for_seed, sample
from stimstudio.core.interpolate import Anchor, Continuum, render_continuum
from stimstudio.core.latent import Latent, load_latent
from stimstudio.core.model import load_model
from stimstudio.core.orientation import (
    AS_GENERATED,
    ORIENTATIONS,
    RANDOM,
    RANDOM_POOL,
    orient,
    orientation_for_seed,
    resolve_orientation,
)
from stimstudio.core.project import anchor_from_record, anchor_record


def test_the_eight_orientations_are_the_squares_symmetries():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)  # no symmetry of its own
    sq = np.arange(16, dtype=np.float32).reshape(4, 4)
    outs = [orient(sq, o) for o in ORIENTATIONS]
    assert len({o.tobytes() for o in outs}) == 8  # all different
    np.testing.assert_array_equal(orient(x, AS_GENERATED), x)
    np.testing.assert_array_equal(orient(x, "mirror"), x[:, ::-1])  # left <-> right
    np.testing.assert_array_equal(orient(x, "turn-90"), np.rot90(x, -1))  # clockwise
    assert orient(x, "turn-90")[0, -1] == x[0, 0]  # top-left corner goes to the top-right
    np.testing.assert_array_equal(orient(x, "mirror-turn-180"), x[::-1])  # upside down
    batch = orient(np.stack([x, x + 1]), "turn-270")
    np.testing.assert_array_equal(batch[1], np.rot90(x + 1, 1))
    with pytest.raises(OptionError, match="orientation must be one of"):
        orient(x, "sideways")


def test_random_is_drawn_from_the_seed():
    drawn = [orientation_for_seed(s) for s in range(64)]
    assert drawn == [orientation_for_seed(s) for s in range(64)]  # the same every time
    assert set(drawn) <= set(RANDOM_POOL) and len(set(drawn)) >= 5
    assert orientation_for_seed(7.4) == orientation_for_seed(7)
    assert resolve_orientation(RANDOM, 9) == drawn[9]
    assert resolve_orientation("mirror", 9) == "mirror"
    with pytest.raises(OptionError, match="drawn from a seed"):
        resolve_orientation(RANDOM, None)


def test_seed_latent_records_its_orientation_and_renders_in_it(tiny_model):
    lat0, img0 = sample(tiny_model, 3)
    assert lat0.orientation == AS_GENERATED and "orientation_mode" not in lat0.source
    lat, img = sample(tiny_model, 3, orientation="mirror-turn-90")
    assert lat.orientation == "mirror-turn-90"
    np.testing.assert_array_equal(img, orient(img0, "mirror-turn-90"))
    np.testing.assert_array_equal(lat.wplus, lat0.wplus)  # the generator is asked the same
    lat_r = latent_for_seed(tiny_model, 3, orientation=RANDOM)
    assert (
        lat_r.orientation == orientation_for_seed(3) and lat_r.source["orientation_mode"] == RANDOM
    )


def test_latent_files_keep_it_and_old_files_load_as_generated(tmp_path, tiny_model):
    lat = latent_for_seed(tiny_model, 5, orientation="turn-180")
    back = load_latent(lat.save(tmp_path / "a.latent.npz"))
    assert back.orientation == "turn-180"
    old = tmp_path / "old.latent.npz"  # written before the field existed: no key at all
    meta = np.frombuffer(json.dumps({"source": {"seed": 5}}).encode(), np.uint8)
    np.savez(old, wplus=lat.wplus, meta=meta)
    assert load_latent(old).orientation == AS_GENERATED
    bad = tmp_path / "bad.latent.npz"
    meta = np.frombuffer(json.dumps({"orientation": "random"}).encode(), np.uint8)
    np.savez(bad, wplus=lat.wplus, meta=meta)
    with pytest.raises(LatentError, match="unknown orientation"):
        load_latent(bad)
    with pytest.raises(OptionError):
        Latent(lat.wplus, orientation="upside")
    # a project's anchor record keeps it; an older record without it is as generated
    rec = anchor_record("a1", Anchor("x", lat))
    assert anchor_from_record(rec).latent.orientation == "turn-180"
    rec.pop("orientation")
    assert anchor_from_record(rec).latent.orientation == AS_GENERATED


def _frames(folder) -> list[np.ndarray]:
    return [np.asarray(Image.open(f)) for f in sorted((folder / "png").glob("*.png"))]


def test_a_continuum_shares_its_first_anchors_orientation_and_regenerates(tmp_path, tiny_model):
    m = tiny_model
    a, b = latent_for_seed(m, 1, orientation="turn-90"), latent_for_seed(m, 2, orientation="mirror")
    plain = [Anchor("a", latent_for_seed(m, 1)), Anchor("b", latent_for_seed(m, 2))]
    s = ExportSettings(formats=("png",), bits=16, preview=None, contact_sheet=False)
    path = Continuum([Anchor("a", a), Anchor("b", b)], frames=4, spacing="latent")
    assert path.orientation == "turn-90"
    export(path, m, tmp_path / "t", s, continuum_id="c")
    export(Continuum(plain, frames=4, spacing="latent"), m, tmp_path / "p", s, continuum_id="c")
    turned, as_gen = _frames(tmp_path / "t"), _frames(tmp_path / "p")
    assert len(turned) == 4
    for t, g in zip(turned, as_gen):  # every frame, the second anchor's too, turned 90
        np.testing.assert_array_equal(t, orient(g, "turn-90"))
    doc = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert [x.get("orientation") for x in doc["anchors"]] == ["turn-90", "mirror"]
    res = regenerate(tmp_path / "t", m, out_dir=tmp_path / "again")
    assert res.ok and res.identical == 4
    for t, g in zip(turned, _frames(tmp_path / "again")):
        np.testing.assert_array_equal(t, g)
    # the frames of render_continuum (interpolate) are turned the same way
    pf = render_continuum(path, m, metric="pixel")
    plain_pf = render_continuum(Continuum(plain, frames=4, spacing="latent"), m, metric="pixel")
    for f, g in zip(pf.frames, plain_pf.frames):
        np.testing.assert_array_equal(f.image, orient(g.image, "turn-90"))


def test_stills_keep_each_their_own(tmp_path, tiny_model):
    m = tiny_model
    lats = [latent_for_seed(m, s, orientation=o) for s, o in ((1, "turn-270"), (2, AS_GENERATED))]
    s = ExportSettings(formats=("png",), bits=16, preview=None, contact_sheet=False)
    export([Anchor(f"s{i}", la) for i, la in enumerate(lats)], m, tmp_path / "s", s)
    got = _frames(tmp_path / "s")
    ref = [latent_for_seed(m, k) for k in (1, 2)]
    export([Anchor(f"s{i}", la) for i, la in enumerate(ref)], m, tmp_path / "r", s)
    want = _frames(tmp_path / "r")
    np.testing.assert_array_equal(got[0], orient(want[0], "turn-270"))
    np.testing.assert_array_equal(got[1], want[1])
    assert regenerate(tmp_path / "s", m).identical == 2


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_generate_records_it_and_refuses_bad_values(tmp_path, capsys, tiny_weights):
    out = tmp_path / "g"
    rc, text, err = _run(capsys, "generate", "--seeds", "0-3", "--out-dir", out, "--weights",
                         tiny_weights, "--orientation", "random", "--json")  # fmt: skip
    assert rc == 0, err
    assert json.loads(text)["orientations"] == [orientation_for_seed(s) for s in range(4)]
    for s in range(4):
        lat = load_latent(out / f"seed{s:04d}.latent.npz")
        assert lat.orientation == orientation_for_seed(s)
    rc, _, err = _run(capsys, "generate", "--seed", "1", "--out-dir", tmp_path / "h",
                      "--weights", tiny_weights, "--orientation", "as-generated")  # fmt: skip
    assert (
        rc == 0 and load_latent(tmp_path / "h" / "seed0001.latent.npz").orientation == AS_GENERATED
    )
    for verb in (
        ["generate", "--seed", "1", "--out-dir", tmp_path / "x"],
        ["export", "seed:1", "seed:2", "--out", tmp_path / "y"],
    ):
        rc, _, err = _run(capsys, *verb, "--orientation", "sideways", "--weights", tiny_weights)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("stimstudio: error: "), err
        assert "sideways" in lines[0] and "Traceback" not in err


def test_cli_export_seeds_random_then_regenerate(tmp_path, capsys, tiny_weights):
    out = tmp_path / "e"
    rc, _, err = _run(capsys, "export", "seed:3", "seed:4", "--frames", 3, "--frame-spacing",
                      "latent", "--out", out, "--weights", tiny_weights, "--orientation",
                      "random")  # fmt: skip
    assert rc == 0, err
    doc = json.loads((out / "manifest.json").read_text())
    got = [a.get("orientation", AS_GENERATED) for a in doc["anchors"]]
    assert got == [orientation_for_seed(3), orientation_for_seed(4)]
    rc, text, err = _run(capsys, "regenerate", out, "--json")
    assert rc == 0 and json.loads(text)["identical"] == 3, err


def test_batch_spec_takes_it_and_refuses_bad_values(tmp_path):
    from stimstudio.core.batch import parse_batch_spec

    doc = {"out": "o", "defaults": {"orientation": "mirror"},
           "continuum": [{"id": "a", "anchors": ["seed:1", "seed:2"]}]}  # fmt: skip
    spec = parse_batch_spec(doc, tmp_path, "spec.json")
    assert spec.continua[0].orientation == "mirror"
    doc["defaults"]["orientation"] = "diagonal"
    with pytest.raises(Exception, match="orientation must be one of"):
        parse_batch_spec(doc, tmp_path, "spec.json")


def test_evaluate_turns_its_samples_by_seed_and_refuses_bad_values():
    from stimstudio.train.evaluate.run import _oriented
    from stimstudio.train.evaluate.settings import EvalSettings

    x = np.arange(3 * 16, dtype=np.uint8).reshape(3, 4, 4)
    assert _oriented(x, AS_GENERATED, 1) is x
    got = _oriented(x, RANDOM, 1)
    for i in range(3):
        np.testing.assert_array_equal(got[i], orient(x[i], orientation_for_seed(1 + i)))
    with pytest.raises(OptionError, match="orientation must be one of"):
        EvalSettings(orientation="sideways").validate()


def test_cli_mix_shows_the_mix_as_a_is(tmp_path, capsys, tiny_weights):
    # the latents come from the weights file the CLI loads (the session's in-memory tiny model
    # takes the identity of whatever file a test saved it to last)
    model = load_model(tiny_weights)
    a, b = tmp_path / "a.latent.npz", tmp_path / "b.latent.npz"
    latent_for_seed(model, 1, orientation="turn-270").save(a)
    latent_for_seed(model, 2).save(b)
    rc, _, err = _run(capsys, "mix", a, b, "--fine-from", "B", "--out", tmp_path / "m.png",
                      "--latent-out", tmp_path / "m.latent.npz", "--weights", tiny_weights)  # fmt: skip
    assert rc == 0, err
    assert load_latent(tmp_path / "m.latent.npz").orientation == "turn-270"


def test_cli_batch_refuses_a_bad_orientation_in_one_line(tmp_path, capsys, tiny_weights):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"out": "o", "continuum": [
        {"id": "a", "anchors": ["seed:1", "seed:2"], "orientation": "diagonal"}]}))  # fmt: skip
    rc, _, err = _run(capsys, "batch", spec, "--weights", tiny_weights)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "orientation must be one of" in lines[0], err
