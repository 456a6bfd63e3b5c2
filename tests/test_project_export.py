"""`stimstudio export --project` and `batch` with projects: what a user designed in the app
exports headless, with the same frames as an export of the same continuum built the way the
app builds it; a bad project file is one line and exit 2."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from stimstudio.core.export import ExportSettings, export_sequence
from stimstudio.core.interpolate import Anchor, Continuum
from stimstudio.core.latent import Latent
from stimstudio.core.model import load_model
from stimstudio.core.project import Project, load_project, save_project
from tests.test_export_cli import _run, one_line_error
from tests.test_project import V1, _stored_state


@pytest.fixture
def weights(tmp_path, tiny_weights):
    """A private copy of the tiny model with its card (the CLI loads it by path)."""
    dst = tmp_path / "w" / "tiny.safetensors"
    dst.parent.mkdir()
    shutil.copy(tiny_weights, dst)
    shutil.copy(tiny_weights.replace(".safetensors", ".json"), dst.with_suffix(".json"))
    return dst


@pytest.fixture
def project_file(tmp_path):
    dst = tmp_path / "design.stimproj"
    shutil.copy(V1, dst)
    return dst


def _frames(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "png").glob("*.png"))}


def test_export_project_renders_the_designed_continuum(tmp_path, capsys, weights, project_file):
    out = tmp_path / "cli"
    rc, text, err = _run(
        capsys,
        *("export", "--project", project_file, "--out", out, "--id", "morph"),
        *("--weights", weights, "--device", "cpu", "--precision", "fp32", "--preview", "none"),
    )
    assert rc == 0, err
    assert text.startswith("7 frames -> ")
    doc = json.loads((out / "manifest.json").read_text())
    c = doc["continuum"]
    assert (c["frames"], c["loop"], c["method"], c["spacing"]) == (7, True, "slerp", "latent")
    assert [a["name"] for a in doc["anchors"]] == ["Seed_1", "Seed_2", "Seed_3"]  # file-safe names
    assert len(_frames(out)) == 7

    # The same continuum built from the file the way the app's pages build it (one core
    # Anchor per anchor dict, the path's ids in order), exported with the same settings.
    state = _stored_state(project_file)
    by_id = {a["id"]: a for a in state["anchors"]}
    anchors = [
        Anchor(a["name"], Latent(a["wplus"], a["source"], a["model_sha256"]))
        for a in (by_id[i] for i in state["path"]["anchors"])
    ]
    p = state["path"]
    app_path = Continuum(anchors, p["frames"], p["loop"], p["method"], p["spacing"])
    from stimstudio.core.device import pick_compute

    compute = pick_compute("cpu", "fp32")
    ref = tmp_path / "app"
    recs = list(
        export_sequence(
            app_path,
            load_model(weights),
            ref,
            ExportSettings(preview=None),
            compute,
            continuum_id="morph",
        )
    )
    assert recs[-1].finished
    ref_doc = json.loads((ref / "manifest.json").read_text())
    assert doc["request_sha256"] == ref_doc["request_sha256"]
    assert doc["frames"] == ref_doc["frames"]
    assert _frames(out) == _frames(ref)


def test_flags_replace_the_projects_path_settings_and_stills(
    tmp_path, capsys, weights, project_file
):
    base = ("--weights", weights, "--preview", "none", "--no-contact-sheet")
    rc, _, err = _run(
        capsys,
        *("export", "--project", project_file, "--out", tmp_path / "a"),
        *("--frames", 9, "--no-loop", "--method", "lerp", "--spacing", "latent", *base),
    )
    assert rc == 0, err
    c = json.loads((tmp_path / "a" / "manifest.json").read_text())["continuum"]
    assert (c["frames"], c["loop"], c["method"]) == (9, False, "lerp")
    rc, text, err = _run(
        capsys, "export", "--project", project_file, "--stills", "--out", tmp_path / "s", *base
    )
    assert rc == 0, err
    assert len(_frames(tmp_path / "s")) == 3


def _short_project(tmp_path) -> Path:
    p = load_project(V1)
    p.continuum.anchors = p.continuum.anchors[:1]
    return save_project(p, tmp_path / "one.stimproj")


def _alien_project(tmp_path) -> Path:
    p = load_project(V1)
    for a in p.anchors.values():
        a.latent.model_sha256 = "0" * 64  # kept with another model
    return save_project(p, tmp_path / "alien.stimproj")


def test_bad_projects_are_one_line_and_exit_2(tmp_path, capsys, weights, project_file):
    (tmp_path / "junk.stimproj").write_bytes(b"PK\x03\x04 nothing")
    base = ["--out", tmp_path / "o", "--weights", weights]
    cases = [
        (["--project", tmp_path / "junk.stimproj"], "junk.stimproj is not a readable"),
        (["--project", tmp_path / "none.stimproj"], "project file not found"),
        (["--project", _short_project(tmp_path)], "needs at least 2 anchors"),
        (["--project", _alien_project(tmp_path)], "alien.stimproj, anchor 'Seed 1'.*made with"),
        (["seed:1", "--project", project_file], "not both"),
        (["--project", project_file, "--truncation", "0.7"], "apply to seed:N anchors"),
        ([], "--project P.stimproj"),
    ]
    for args, message in cases:
        rc, _, err = _run(capsys, "export", *args, *base)
        assert rc == 2, (args, err)
        assert re.search(message, one_line_error(err)), err
    assert not (tmp_path / "o").exists()


def test_batch_spec_takes_projects(tmp_path, capsys, weights, project_file):
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'out = "stimuli"\n[defaults]\nframes = 4\n'
        '[[continuum]]\nproject = "design.stimproj"\nspacing = "latent"\n'
        '[[continuum]]\nid = "short"\nproject = "design.stimproj"\nframes = 5\nloop = false\n'
        '[[continuum]]\nid = "seeds"\nanchors = ["seed:1", "seed:2"]\n'
        "[output]\npreview = 'none'\n"
    )
    rc, text, err = _run(capsys, "batch", spec, "--weights", weights, "--json")
    assert rc == 0, err
    doc = json.loads(text)
    assert doc["exported"] == ["design", "short", "seeds"] and doc["complete"]
    frames = {}
    for cid in ("design", "short", "seeds"):
        m = json.loads((tmp_path / "stimuli" / cid / "manifest.json").read_text())
        frames[cid] = (m["continuum"]["frames"], m["continuum"]["loop"])
    # the project's own settings, unless the table says otherwise; [defaults] only for seeds
    assert frames == {"design": (7, True), "short": (5, False), "seeds": (4, False)}
    names = json.loads((tmp_path / "stimuli" / "design" / "manifest.json").read_text())["anchors"]
    assert [a["name"] for a in names] == ["Seed_1", "Seed_2", "Seed_3"]  # file-safe names


@pytest.mark.parametrize(
    "entry, message",
    [
        ('project = "design.stimproj"\nanchors = ["seed:1"]', "no 'anchors'"),
        ('project = "missing.stimproj"', "project file not found"),
        ('project = "design.stimproj"\nframes = 2', "at least 3 frames"),
        ('project = "design.stimproj"\nid = "a/b"', "give the continuum an 'id'"),
    ],
)
def test_batch_project_errors(tmp_path, capsys, weights, project_file, entry, message):
    spec = tmp_path / "spec.toml"
    spec.write_text(f'out = "x"\n[[continuum]]\n{entry}\n')
    rc, _, err = _run(capsys, "batch", spec, "--weights", weights)
    assert rc == 2
    line = one_line_error(err)
    assert message in line and "continuum #1" in line, line
    assert not (tmp_path / "x").exists()


def test_a_project_made_in_code_exports(tmp_path, capsys, weights):
    """No app needed: a script builds the design, saves it, and the CLI exports it."""
    model = load_model(weights)
    from stimstudio.core.generate import latent_for_seed

    anchors = [Anchor(f"s{k}", latent_for_seed(model, k)) for k in (3, 4)]
    p = Project(continuum=Continuum(anchors, 5, False, "lerp", "latent"))
    path = save_project(p, tmp_path / "scripted")
    rc, _, err = _run(
        capsys, "export", "--project", path, "--out", tmp_path / "e", "--weights", weights
    )
    assert rc == 0, err
    assert len(_frames(tmp_path / "e")) == 5
    assert np.array_equal(
        load_project(path).continuum.anchors[1].latent.wplus, anchors[1].latent.wplus
    )
