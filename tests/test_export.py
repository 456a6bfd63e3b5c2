"""Export: every format readable, PsychoPy conditions, manifest, regeneration, no overwrite."""

from __future__ import annotations

import builtins
import csv
import keyword
import os

import cv2
import numpy as np
import pydicom
import pytest
import torch
from conftest import make_tiny_model
from PIL import Image

from stimstudio.core.errors import ExportError, LatentError, OptionError
from stimstudio.core.export import (
    CONDITIONS_COLUMNS,
    ExportSettings,
    ModelMismatchError,
    export,
    export_sequence,
    export_status,
    load_manifest,
    read_frame,
    regenerate,
    remove_incomplete_export,
)
from stimstudio.core.generate import latent_for_seed
from stimstudio.core.interpolate import Anchor, Continuum
from stimstudio.core.jsonable import loads_strict
from stimstudio.core.latent import Latent
from stimstudio.core.model import load_model

# Names PsychoPy Builder keeps for itself (psychopy.experiment NameSpace.builder); a
# conditions column with one of them clashes with the generated script.
PSYCHOPY_BUILDER_NAMES = {
    "KeyResponse",
    "keyboard",
    "buttons",
    "continueRoutine",
    "expInfo",
    "expName",
    "thisExp",
    "filename",
    "logFile",
    "paramName",
    "t",
    "frameN",
    "currentLoop",
    "dlg",
    "_thisDir",
    "endExpNow",
    "globalClock",
    "routineTimer",
    "frameDur",
    "theseKeys",
    "win",
    "x",
    "y",
    "level",
    "component",
    "thisComponent",
    "thisTrial",
    "trials",
}


@pytest.fixture(scope="module")
def model(tiny_weights):
    return load_model(tiny_weights)


def anchors(model, seeds=(1, 2, 3), noise="seed"):
    return [Anchor(f"s{s}", latent_for_seed(model, s, noise_mode=noise)) for s in seeds]


def read_conditions(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_format_is_written_and_reads_back(tmp_path, model):
    s = ExportSettings(formats=("png", "tiff", "dicom"), bits=16, preview="gif")
    res = export(
        Continuum(anchors(model), frames=6, loop=True, spacing="latent"),
        model,
        tmp_path / "e",
        s,
        continuum_id="loopA",
    )
    out = tmp_path / "e"
    assert len(res.frames) == 6 and res.written_frames == 6
    study = set()
    for fr in res.frames:
        png = cv2.imread(str(out / fr["files"]["png"]["path"]), cv2.IMREAD_UNCHANGED)
        tif = cv2.imread(str(out / fr["files"]["tiff"]["path"]), cv2.IMREAD_UNCHANGED)
        ds = pydicom.dcmread(out / fr["files"]["dicom"]["path"])
        assert png.dtype == np.uint16 and tif.dtype == np.uint16 and png.shape == (32, 32)
        np.testing.assert_array_equal(png, tif)
        np.testing.assert_array_equal(ds.pixel_array, png)  # same pixels in every format
        # DICOM Secondary Capture, new UIDs, labelled synthetic
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.ConversionType == "SYN" and ds.Modality == "OT"
        assert "SYNTHETIC" in str(ds.PatientName) and "SYNTHETIC" in ds.ImageComments
        assert "SYNTHETIC" in ds.DerivationDescription and "SYNTHETIC" in ds.SeriesDescription
        assert float(ds.PixelSpacing[0]) == pytest.approx(0.4)
        assert ds.InstanceNumber == fr["index"] + 1
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
        study.add((ds.StudyInstanceUID, ds.SeriesInstanceUID))
        assert "SYNTHETIC" in Image.open(out / fr["files"]["png"]["path"]).text["Description"]
        assert "SYNTHETIC" in Image.open(out / fr["files"]["tiff"]["path"]).tag_v2[270]
    assert len(study) == 1  # one study and series per continuum
    uids = {pydicom.dcmread(out / f["files"]["dicom"]["path"]).SOPInstanceUID for f in res.frames}
    assert len(uids) == 6
    gif = Image.open(out / "preview.gif")
    assert gif.n_frames == 6 and b"SYNTHETIC" in gif.info.get("comment", b"")
    sheet = cv2.imread(str(out / "contact_sheet.png"), cv2.IMREAD_UNCHANGED)
    assert sheet.dtype == np.uint8 and sheet.shape[0] > 32 * 2
    assert export_status(out) == "complete" and not (out / ".frames.jsonl").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]


def test_png8_resampled_mp4_and_open_path_preview(tmp_path, model):
    s = ExportSettings(formats=("png",), bits=8, size=48, interpolation="lanczos", preview="mp4")
    res = export(
        Continuum(anchors(model), frames=5, spacing="latent"),
        model,
        tmp_path / "e",
        s,
        continuum_id="open",
    )
    out = tmp_path / "e"
    img = cv2.imread(str(out / res.frames[0]["files"]["png"]["path"]), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint8 and img.shape == (48, 48)
    cap = cv2.VideoCapture(str(out / "preview.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 8  # forth and back: 0 1 2 3 4 3 2 1
    doc = load_manifest(out)
    assert doc["output"]["output_size"] == 48 and doc["output"]["native_size"] == 32
    assert doc["output"]["output_pixel_spacing_mm"] == pytest.approx(0.4 * 32 / 48)


@pytest.mark.parametrize("interp", ["nearest", "linear", "cubic", "area", "lanczos"])
def test_every_interpolation_gives_the_size(tmp_path, model, interp):
    s = ExportSettings(size=20, interpolation=interp, preview=None, contact_sheet=False)
    res = export(anchors(model, (1,)), model, tmp_path / interp, s, continuum_id="one")
    assert read_frame(tmp_path / interp / res.frames[0]["files"]["png"]["path"]).shape == (20, 20)


def test_psychopy_conditions(tmp_path, model):
    s = ExportSettings(formats=("png", "dicom"), preview=None)
    export(
        Continuum(anchors(model), frames=8, loop=True, spacing="latent"),
        model,
        tmp_path / "loop",
        s,
        continuum_id="loop1",
    )
    rows = read_conditions(tmp_path / "loop" / "conditions.csv")
    header = list(rows[0])
    assert header[: len(CONDITIONS_COLUMNS)] == list(CONDITIONS_COLUMNS)
    assert header[-1] == "dicomFile"
    for h in header:  # PsychoPy: identifiers, no keywords/builtins, no Builder names
        assert h.isidentifier() and not keyword.iskeyword(h) and h not in dir(builtins)
        assert h not in PSYCHOPY_BUILDER_NAMES
    assert [int(r["frame"]) for r in rows] == list(range(8))
    assert {r["nFrames"] for r in rows} == {"8"} and {r["continuum"] for r in rows} == {"loop1"}
    for r in rows:
        f = r["imageFile"]
        assert "\\" not in f and not f.startswith("/") and f.startswith("png/")
        assert (tmp_path / "loop" / f).is_file()
    angles = [float(r["angle"]) for r in rows]
    # 3 anchors, 8 frames, loop: every anchor is a frame, steps shared 3 + 3 + 2
    assert angles == pytest.approx([0, 40, 80, 120, 160, 200, 240, 300])
    seg_t = [(int(r["segment"]), float(r["segmentT"])) for r in rows]
    assert seg_t[0] == (0, 0) and seg_t[3][0] == 1 and seg_t[6][0] == 2
    steps = [float(r["stepDistance"]) for r in rows]
    cum = [float(r["cumulativeDistance"]) for r in rows]
    assert steps[0] == 0 and all(x > 0 for x in steps[1:])
    assert cum == pytest.approx(np.cumsum(steps), rel=1e-6)
    # open path: no angle column; stills: one row per stimulus
    export(
        Continuum(anchors(model), frames=4, spacing="latent"),
        model,
        tmp_path / "open",
        s,
        continuum_id="o",
    )
    assert "angle" not in read_conditions(tmp_path / "open" / "conditions.csv")[0]
    export(anchors(model), model, tmp_path / "st", s, continuum_id="st")
    st = read_conditions(tmp_path / "st" / "conditions.csv")
    assert [r["stimulus"] for r in st] == ["s1", "s2", "s3"]
    assert [r["imageFile"] for r in st] == ["png/s1.png", "png/s2.png", "png/s3.png"]


def test_manifest_records_what_regeneration_needs(tmp_path, model):
    an = anchors(model)
    s = ExportSettings(preview=None, latents="files")
    export(
        Continuum(an, frames=5, loop=True, spacing="pixel"),
        model,
        tmp_path / "e",
        s,
        continuum_id="c",
    )
    doc = load_manifest(tmp_path / "e")
    assert doc["complete"] and doc["model"]["sha256"] == model.sha256
    assert doc["software"]["version"] and doc["compute"]["type"] == "cpu"
    assert doc["compute"]["precision"] == "fp32" and doc["compute"]["render_batch"] == 1
    assert doc["continuum"]["spacing"] == "pixel" and doc["continuum"]["loop"] is True
    assert len(doc["continuum"]["positions"]) == 5 and doc["seeds"] == [1, 2, 3]
    for a in doc["anchors"]:
        f = tmp_path / "e" / a["file"]
        assert f.is_file() and a["sha256"] and a["source"]["method"] == "seed"
    assert doc["distances"]["metric"] == "pixel" and len(doc["distances"]["steps"]) == 5
    # latents inline in the manifest, where an anchor has no maps of its own (noise const);
    # a seed's own maps (128 x 128 numbers) always go to a file
    fixed = anchors(model, noise="const")
    for an_, name in ((fixed, "i"), (an, "j")):
        inline = export(
            Continuum(an_, frames=3, spacing="latent"),
            model,
            tmp_path / name,
            ExportSettings(preview=None),
            continuum_id="c",
        )
        doc = load_manifest(inline.manifest)
        if an_ is fixed:
            np.testing.assert_array_equal(
                np.asarray(doc["anchors"][1]["wplus"], np.float32), an_[1].latent.wplus
            )
        else:
            assert all("wplus" not in a and a["file"] and a["noise_sha256"] for a in doc["anchors"])


@pytest.mark.parametrize("spacing", ["latent", "perceptual"])
def test_regenerate_is_bit_identical(tmp_path, model, spacing):
    s = ExportSettings(formats=("png", "tiff"), bits=16, preview=None)
    export(
        Continuum(anchors(model), frames=6, loop=True, spacing=spacing),
        model,
        tmp_path / "e",
        s,
        continuum_id="c",
    )
    res = regenerate(tmp_path / "e" / "manifest.json")  # loads the manifest's own model file
    assert res.ok and res.identical == 6 and not res.notes
    res = regenerate(tmp_path / "e", model, out_dir=tmp_path / "again")
    assert res.ok
    for sub in ("png", "tiff"):
        for f in sorted((tmp_path / "e" / sub).iterdir()):
            assert f.read_bytes() == (tmp_path / "again" / sub / f.name).read_bytes()


def test_regenerate_refuses_another_model(tmp_path, model):
    export(
        Continuum(anchors(model), frames=3, spacing="latent"),
        model,
        tmp_path / "e",
        ExportSettings(preview=None),
        continuum_id="c",
    )
    other = make_tiny_model(seed=7)
    other.save(tmp_path / "other.safetensors", dtype=torch.float32)
    with pytest.raises(ModelMismatchError, match="model file differs"):
        regenerate(tmp_path / "e", weights=tmp_path / "other.safetensors")
    res = regenerate(tmp_path / "e", other, allow_other_model=True)
    assert res.model_differs and not res.ok and res.differing == [0, 1, 2]
    assert "differs" in res.notes[0]


def test_never_overwrites_silently(tmp_path, model):
    an = anchors(model)
    s = ExportSettings(preview=None, contact_sheet=False)
    out = tmp_path / "e"
    export(Continuum(an, frames=3, spacing="latent"), model, out, s, continuum_id="c")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ExportError, match="already holds this export"):
        export(Continuum(an, frames=3, spacing="latent"), model, out, s, continuum_id="c")
    with pytest.raises(ExportError, match="holds another export"):
        export(Continuum(an, frames=4, spacing="latent"), model, out, s, continuum_id="c")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="other files"):
        export(Continuum(an, frames=3, spacing="latent"), model, other, s, continuum_id="c")
    # overwrite replaces the old export's files and leaves the user's own files alone
    res = export(
        Continuum(an[:2], frames=2, spacing="latent"),
        model,
        out,
        s,
        continuum_id="c",
        overwrite=True,
    )
    assert sorted(p.name for p in (out / "png").iterdir()) == ["c_0000.png", "c_0001.png"]
    assert len(res.frames) == 2
    res = export(
        Continuum(an[:2], frames=2, spacing="latent"),
        model,
        other,
        s,
        continuum_id="c",
        overwrite=True,
    )
    assert (other / "notes.txt").read_text() == "mine"


def test_cancel_keeps_finished_frames_and_resumes(tmp_path, model):
    path = Continuum(anchors(model), frames=6, loop=True, spacing="latent")
    s = ExportSettings(preview="gif")
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    recs = list(export_sequence(path, model, tmp_path / "e", s, should_stop=stop, continuum_id="c"))
    assert recs[-1].cancelled and export_status(tmp_path / "e") == "incomplete"
    done = sorted(p.name for p in (tmp_path / "e" / "png").iterdir())
    assert done == ["c_0000.png", "c_0001.png", "c_0002.png"]
    stamps = {n: os.stat(tmp_path / "e" / "png" / n).st_mtime_ns for n in done}
    with pytest.raises(ExportError, match="interrupted export"):
        export(path, model, tmp_path / "e", s, continuum_id="c")
    res = export(path, model, tmp_path / "e", s, continuum_id="c", resume=True)
    assert res.kept_frames == 3 and res.written_frames == 3
    assert {n: os.stat(tmp_path / "e" / "png" / n).st_mtime_ns for n in done} == stamps
    ref = export(path, model, tmp_path / "ref", s, continuum_id="c")
    assert [f["image_sha256"] for f in res.frames] == [f["image_sha256"] for f in ref.frames]
    assert res.distances == pytest.approx(ref.distances, rel=1e-5)
    # a cancelled export can also be thrown away
    list(
        export_sequence(path, model, tmp_path / "x", s, should_stop=lambda: True, continuum_id="c")
    )
    remove_incomplete_export(tmp_path / "x")
    assert export_status(tmp_path / "x") == "empty"


def test_bad_settings_and_latents(tmp_path, model):
    an = anchors(model)
    for kw, msg in [
        ({"formats": ("jpeg",)}, "unknown export format"),
        ({"bits": 12}, "bit depth"),
        ({"size": 3}, "8..8192"),
        ({"interpolation": "magic"}, "resize filter"),
        ({"preview": "avi"}, "preview"),
        ({"latents": "cloud"}, "latents"),
        ({"pixel_spacing_mm": -1.0}, "pixel spacing"),
    ]:
        with pytest.raises(OptionError, match=msg):
            export(
                Continuum(an, frames=3, spacing="latent"),
                model,
                tmp_path / "bad",
                ExportSettings(**kw),
            )
    with pytest.raises(OptionError, match="continuum id"):
        export(
            Continuum(an, frames=3, spacing="latent"), model, tmp_path / "bad", continuum_id="../x"
        )
    foreign = Latent(an[0].latent.wplus, {}, "0" * 64)
    with pytest.raises(LatentError, match="anchor 'x'.*another|made with model"):
        export(
            Continuum([Anchor("x", foreign), an[1]], frames=3, spacing="latent"),
            model,
            tmp_path / "bad",
        )
    wrong = Latent(np.zeros((3, 32), np.float32))
    with pytest.raises((LatentError, OptionError)):
        export([Anchor("w", wrong)], model, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_manifest_is_plain_json(tmp_path, model):
    export(
        Continuum(anchors(model), frames=3, spacing="latent"),
        model,
        tmp_path / "e",
        ExportSettings(preview=None),
        continuum_id="c",
    )
    # Python's json.loads accepts NaN / Infinity; strict parsers (and loads_strict) do not
    doc = loads_strict((tmp_path / "e" / "manifest.json").read_text())
    assert doc["complete"] is True
