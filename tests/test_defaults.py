"""One record of defaults per setting (core.defaults, issue 40): the same anchors give the same
frames from `interpolate`, `export`, a batch spec and the app's project, none of which names a
frame spacing, frame count or interpolation; and the paper's plain lerp stays one flag away.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stimstudio.cli.main import build_parser, main
from stimstudio.core.defaults import CONTINUUM, EXPORT, SEED, ContinuumDefaults

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "weights" / "stimstudio-minimias-128.safetensors"
FRAMES = 4  # small: perceptual spacing renders each frame up to three times
MODEL = ("--weights", SHIPPED, "--device", "cpu", "--precision", "fp32")


def _cli(capsys, *argv) -> str:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


def _png16(files) -> np.ndarray:
    return np.stack([np.asarray(Image.open(f), np.uint16) for f in files])


def _export_frames(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(positions, 16-bit frames) of an export folder."""
    doc = json.loads((folder / "manifest.json").read_text())
    assert doc["continuum"]["spacing"] == CONTINUUM.spacing
    pos = np.array([f["position"] for f in doc["frames"]])
    return pos, _png16(sorted((folder / "png").glob("*.png")))


def test_the_records_are_frozen_and_name_perceptual_spacing():
    assert CONTINUUM.spacing == "perceptual"  # even steps: what psychophysics needs (DESIGN.md)
    for rec in (CONTINUUM, SEED, EXPORT):
        with pytest.raises(dataclasses.FrozenInstanceError):
            rec.frames = 3  # type: ignore[misc]
    assert ContinuumDefaults() == CONTINUUM


def test_every_entry_point_reads_the_one_record():
    from stimstudio.core.batch import ContinuumSpec, parse_batch_spec
    from stimstudio.core.export import ExportSettings
    from stimstudio.core.interpolate import Continuum
    from stimstudio.core.project import DEFAULT_CONTINUUM, Project, default_state

    path = {k: getattr(CONTINUUM, k) for k in ("frames", "loop", "method", "spacing")}
    c = Continuum([])
    assert {k: getattr(c, k) for k in path} == path
    s = ContinuumSpec("x", ["seed:1"])
    assert {k: getattr(s, k) for k in path} == path
    assert (s.truncation, s.cutoff, s.noise) == (SEED.truncation, SEED.cutoff, SEED.noise)
    spec = parse_batch_spec(
        {"out": "o", "continuum": [{"id": "c", "anchors": ["seed:1"] * 2}]}, ROOT
    )
    assert {k: getattr(spec.continua[0], k) for k in path} == path
    assert {k: DEFAULT_CONTINUUM[k] for k in path} == path
    assert {k: default_state()["path"][k] for k in path} == path
    assert {k: getattr(Project().continuum, k) for k in path} == path
    e = ExportSettings()
    assert (e.formats, e.bits, e.interpolation, e.preview, e.fps, e.latents) == (
        EXPORT.formats,
        EXPORT.bits,
        EXPORT.resize_filter,
        EXPORT.preview,
        EXPORT.fps,
        EXPORT.latents,
    )
    for argv in (["interpolate", "a", "b", "--out-dir", "x"], ["export", "a", "b", "--out", "x"]):
        args = build_parser(argv).parse_args(argv)
        assert args.method in (None, CONTINUUM.method)  # export: None = the project's, else this
        assert args.spacing in (None, CONTINUUM.spacing)
    args = build_parser(["interpolate"]).parse_args(["interpolate", "a", "b", "--out-dir", "x"])
    assert (args.frames, args.method, args.spacing) == (
        CONTINUUM.frames,
        CONTINUUM.method,
        CONTINUUM.spacing,
    )


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not in this checkout")
def test_same_anchors_same_frames_from_every_entry_point(tmp_path, capsys):
    from stimstudio.core.batch import BatchResult, iter_batch, parse_batch_spec
    from stimstudio.core.device import pick_compute
    from stimstudio.core.export import ExportSettings, export_sequence
    from stimstudio.core.interpolate import render_continuum
    from stimstudio.core.latent import load_latent
    from stimstudio.core.model import load_model
    from stimstudio.core.project import (
        Project,
        anchor_from_record,
        continuum_from_record,
        default_state,
        load_project,
        save_project,
    )

    # two anchors: seeds 1 and 2 of the shipped model, as latent files every route reads
    _cli(capsys, "generate", "--seed", 1, "--seed", 2, "--out-dir", tmp_path / "g", *MODEL)
    files = [tmp_path / "g" / f"seed{s:04d}.latent.npz" for s in (1, 2)]
    for f in files:
        assert f.is_file()
    frames = ("--frames", FRAMES)

    # `interpolate`: frames and distances.csv
    _cli(capsys, "interpolate", *files, *frames, "--bits", 16, "--out-dir", tmp_path / "i", *MODEL)
    rows = (tmp_path / "i" / "distances.csv").read_text().splitlines()[1:]
    routes = {
        "interpolate": (
            np.array([float(r.split(",")[1]) for r in rows]),
            _png16(sorted((tmp_path / "i").glob("frame*.png"))),
        )
    }

    # `export`
    no_extras = ("--bits", 16, "--preview", "none", "--no-contact-sheet", "--no-conditions")
    _cli(capsys, "export", *files, *frames, *no_extras, "--out", tmp_path / "e", *MODEL)
    routes["export"] = _export_frames(tmp_path / "e")

    # a batch spec whose [defaults] name no path setting
    model = load_model(SHIPPED)
    compute = pick_compute("cpu", "fp32")
    spec = parse_batch_spec(
        {
            "out": "b",
            "output": {"bits": 16, "preview": None, "contact_sheet": False, "conditions": False},
            "continuum": [{"id": "c", "anchors": [str(f) for f in files], "frames": FRAMES}],
        },
        tmp_path,
    )
    last = list(iter_batch(spec, model, compute))[-1]
    assert isinstance(last, BatchResult) and last.complete
    routes["batch"] = _export_frames(tmp_path / "b" / "c")

    # the app: a new project's path record (the state the app starts with) with two kept
    # anchors, built into a continuum as the Interpolate page does, and rendered ...
    state = default_state()
    for k, f in enumerate(files):
        lat = load_latent(f)
        rec = {"id": f"a{k + 1}", "name": f.name.split(".")[0], "wplus": lat.wplus}
        rec |= {"source": lat.source, "model_sha256": lat.model_sha256, "image": None}
        if lat.noise is not None:
            rec["noise"] = list(lat.noise)
        state["anchors"].append(rec)
    state["path"] = {**state["path"], "anchors": ["a1", "a2"], "frames": FRAMES}
    anchors = {r["id"]: anchor_from_record(r) for r in state["anchors"]}
    page = continuum_from_record(state["path"], anchors)
    pf = render_continuum(page, model, compute)
    app_pos = np.array([fr.position for fr in pf.frames])
    np.testing.assert_allclose(app_pos, routes["export"][0], atol=1e-6)
    # ... and its project saved, loaded and exported as the app's Export dialog does
    saved = save_project(Project.from_state(state), tmp_path / "design.stimproj")
    path = load_project(saved).continuum_for_export()
    settings = ExportSettings(bits=16, preview=None, contact_sheet=False, conditions=False)
    recs = list(export_sequence(path, model, tmp_path / "app", settings, compute))
    assert recs[-1].finished
    routes["app"] = _export_frames(tmp_path / "app")

    ref_pos, ref_img = routes["export"]
    assert len(ref_pos) == FRAMES
    assert not np.allclose(ref_pos, np.linspace(0, 1, FRAMES))  # even steps, not equal codes
    for name, (pos, img) in routes.items():
        np.testing.assert_allclose(pos, ref_pos, atol=1e-6, err_msg=name)
        assert img.shape == ref_img.shape, name
        # the same frames (16-bit PNGs, one device, fp32): bit for bit from the export
        # writer; `interpolate` writes with save_image, which rounds 1 in 65535 otherwise
        diff = np.abs(img.astype(np.int32) - ref_img)
        assert diff.max() <= (1 if name == "interpolate" else 0), name

    # the paper's plain lerp stays reachable by flag: equal latent steps
    _cli(
        capsys,
        *("export", *files, *frames, *no_extras, "--frame-spacing", "latent"),
        *("--out", tmp_path / "lerp", *MODEL),
    )
    doc = json.loads((tmp_path / "lerp" / "manifest.json").read_text())
    assert doc["continuum"]["spacing"] == "latent"
    lerp = [f["position"] for f in doc["frames"]]
    np.testing.assert_allclose(lerp, np.linspace(0, 1, FRAMES), atol=1e-9)


def test_export_settings_are_frozen_and_normalised_on_construction():
    from stimstudio.core.errors import OptionError
    from stimstudio.core.export import ExportSettings

    s = ExportSettings(formats=("PNG", "tif", "tiff"), preview="none", size=np.int64(64))
    assert (s.formats, s.preview, s.size, type(s.size)) == (("png", "tiff"), None, 64, int)
    s.validate()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.bits = 16  # type: ignore[misc]
    t = dataclasses.replace(s, bits=16)
    assert (t.bits, s.bits) == (16, EXPORT.bits)
    assert ExportSettings(formats="DICOM").formats == ("dicom",)
    with pytest.raises(OptionError, match="list of names"):
        ExportSettings(formats=3).validate()  # type: ignore[arg-type]


def test_inversion_settings_and_the_gan_config_are_frozen():
    """Issue 40: a settings record is never changed in place (the Compose page once changed its
    copy's steps); variants come from dataclasses.replace."""
    from stimstudio.core.inversion_settings import InversionSettings
    from stimstudio.train.gan_config import GanConfig

    for record, field in ((InversionSettings(), "steps"), (GanConfig(), "total_kimg")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, 1)
        assert getattr(dataclasses.replace(record, **{field: 1}), field) == 1
