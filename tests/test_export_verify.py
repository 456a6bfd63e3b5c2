"""Issue 16: regenerate checks the files on disk, byte-identical regeneration in every format,
PsychoPy-ready conditions (8-bit display copies), DICOM that dciodvfy accepts, damaged
manifests called damaged."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from PIL import Image

from stimstudio.cli.main import main
from stimstudio.core.errors import ExportError
from stimstudio.core.export import (
    ExportSettings,
    export,
    export_status,
    load_manifest,
    manifest_differences,
    read_frame,
    regenerate,
)
from stimstudio.core.generate import latent_for_seed
from stimstudio.core.interpolate import Anchor, Continuum
from stimstudio.core.model import load_model


@pytest.fixture(scope="module")
def model(tiny_weights):
    return load_model(tiny_weights)


def anchors(model, seeds=(1, 2, 3)):
    return [Anchor(f"s{s}", latent_for_seed(model, s)) for s in seeds]


ALL = ExportSettings(formats=("png", "tiff", "dicom"), bits=16, preview="gif")


def _export(model, out, settings=None, frames=4, loop=True):
    s = settings or ExportSettings(**{**ALL.__dict__})
    return export(
        Continuum(anchors(model), frames=frames, loop=loop, spacing="latent"),
        model,
        out,
        s,
        continuum_id="c",
    )


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------- regenerate


def test_regenerate_names_changed_and_missing_files(tmp_path, model, capsys):
    out = tmp_path / "e"
    res = _export(model, out)
    assert regenerate(out, model).ok
    png = res.frames[1]["files"]["png"]["path"]
    tif = res.frames[2]["files"]["tiff"]["path"]
    data = bytearray((out / png).read_bytes())
    data[-20] ^= 0xFF  # one byte inside the PNG's last chunk
    (out / png).write_bytes(bytes(data))
    (out / tif).unlink()
    (out / "conditions.csv").write_text("imageFile\nelsewhere.png\n")
    r = regenerate(out, model)
    assert not r.ok and r.identical == 4 and r.differing == []  # the pixels still render
    assert sorted(r.changed_files) == sorted([png, "conditions.csv"])
    assert r.missing_files == [tif]
    text = "\n".join(r.problems())
    assert png in text and tif in text and "conditions.csv" in text
    # the CLI: every problem on stdout, one error line, exit 2
    rc, text, err = _run(capsys, "regenerate", out)
    assert rc == 2 and png in text and tif in text and "missing" in text
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stimstudio: error: ") and png in lines[0]
    rc, text, err = _run(capsys, "regenerate", out, "--json")
    doc = json.loads(text)
    assert rc == 2 and doc["ok"] is False and doc["missing_files"] == [tif]


def test_regenerate_encodes_again_and_compares_bytes(tmp_path, model):
    """A file changed together with its recorded sha256 is still caught: the frame is encoded
    again and its bytes compared with the record."""
    out = tmp_path / "e"
    res = _export(model, out, ExportSettings(formats=("png",), preview=None))
    rel = res.frames[0]["files"]["png"]["path"]
    img = read_frame(out / rel)
    img[0, 0] = 1.0 - img[0, 0]
    from stimstudio.core.export import png_bytes

    (out / rel).write_bytes(png_bytes(img, 8))
    doc = json.loads((out / "manifest.json").read_text())
    sha = __import__("hashlib").sha256((out / rel).read_bytes()).hexdigest()
    doc["frames"][0]["files"]["png"]["sha256"] = sha
    (out / "manifest.json").write_text(json.dumps(doc))
    r = regenerate(out, model)
    assert not r.ok and r.changed_files == [] and r.bytes_differ == [rel]


def test_regenerated_export_is_byte_identical_in_every_format(tmp_path, model):
    out = tmp_path / "e"
    _export(model, out, ExportSettings(formats=("png", "tiff", "dicom"), latents="inline"))
    r = regenerate(out, model, out_dir=tmp_path / "again")
    assert r.ok, r.problems()
    assert r.bytes_differ == [] and r.manifest_differs == []
    a = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    b = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*"))
    assert a == [p for p in b if (tmp_path / "again" / p).is_file()]
    for rel in a:
        if rel.name == "manifest.json":
            continue
        assert (out / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes(), rel
    # the manifest reproduces itself: the same document except the times
    old, new = load_manifest(out), load_manifest(tmp_path / "again")
    assert manifest_differences(old, new) == []
    assert old["request_sha256"] == new["request_sha256"]
    for key in ("created", "finished", "_path"):
        old.pop(key), new.pop(key)
    assert old == new
    # and a second export of the same request into another folder gives the same DICOM bytes
    _export(model, tmp_path / "third", ExportSettings(formats=("png", "tiff", "dicom")))
    for f in sorted((out / "dicom").iterdir()):
        assert f.read_bytes() == (tmp_path / "third" / "dicom" / f.name).read_bytes()


def test_regenerated_manifest_keeps_the_requested_spacing(tmp_path, model):
    """pixel_spacing_mm None (resolved to 0.4 in `output`) must stay None in the request."""
    out = tmp_path / "e"
    _export(model, out, ExportSettings(formats=("dicom",), preview=None))
    doc = load_manifest(out)
    assert doc["request"]["output"]["pixel_spacing_mm"] is None
    assert doc["output"]["pixel_spacing_mm"] == pytest.approx(0.4)
    r = regenerate(out, model, out_dir=tmp_path / "again")
    assert r.ok, r.problems()
    assert load_manifest(tmp_path / "again")["request_sha256"] == doc["request_sha256"]


def test_dicom_uids_depend_on_the_request(tmp_path, model):
    s = ExportSettings(formats=("dicom",), preview=None, contact_sheet=False)
    a = export(
        Continuum(anchors(model), frames=3, spacing="latent"),
        model,
        tmp_path / "a",
        s,
        continuum_id="c",
    )
    b = export(
        Continuum(anchors(model), frames=4, spacing="latent"),
        model,
        tmp_path / "b",
        s,
        continuum_id="c",
    )
    ua = [pydicom.dcmread(tmp_path / "a" / f["files"]["dicom"]["path"]) for f in a.frames]
    ub = [pydicom.dcmread(tmp_path / "b" / f["files"]["dicom"]["path"]) for f in b.frames]
    assert len({d.SOPInstanceUID for d in ua + ub}) == 7  # unique across both requests
    assert ua[0].StudyInstanceUID != ub[0].StudyInstanceUID
    for d in ua + ub:
        assert pydicom.uid.UID(d.SOPInstanceUID).is_valid
        assert len(d.SOPInstanceUID) <= 64


# ------------------------------------------------------------------------- damaged manifests


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t[: len(t) // 2],  # cut short (a full disk, a crash during a copy)
        lambda t: t.replace('"request_sha256"', '"request_sha2"'),
        lambda t: "\x00" * 40,
    ],
)
def test_damaged_manifest_is_called_damaged(tmp_path, model, capsys, damage):
    out = tmp_path / "e"
    s = ExportSettings(formats=("png",), preview=None)
    _export(model, out, s)
    m = out / "manifest.json"
    m.write_text(damage(m.read_text()))
    assert export_status(out) == "damaged"
    with pytest.raises(ExportError, match="damaged"):
        export(
            Continuum(anchors(model), frames=4, loop=True, spacing="latent"),
            model,
            out,
            s,
            resume=True,
        )
    with pytest.raises(ExportError, match="damaged"):
        regenerate(out, model)
    rc, _, err = _run(capsys, "regenerate", out)
    assert rc == 2 and "damaged" in err and len(err.strip().splitlines()) == 1
    # overwrite replaces it
    res = export(
        Continuum(anchors(model), frames=4, loop=True, spacing="latent"),
        model,
        out,
        s,
        overwrite=True,
    )
    assert res.written_frames == 4 and export_status(out) == "complete"


def test_resume_into_damaged_manifest_cli(tmp_path, tiny_weights, capsys):
    out = tmp_path / "e"
    args = ["export", "seed:1", "seed:2", "--frames", 3, "--out", out, "--weights", tiny_weights]
    rc, _, err = _run(capsys, *args)
    assert rc == 0, err
    (out / "manifest.json").write_text('{"format": "stimstudio-export", "request": ')
    rc, _, err = _run(capsys, *args, "--resume")
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "damaged" in lines[0] and "--force" in lines[0]
    assert "other files" not in lines[0]


# ------------------------------------------------------------------------- PsychoPy


def psychopy_image_values(path) -> np.ndarray:
    """What PsychoPy's ImageStim puts on screen for an image file, in [-1, 1].

    The same steps as psychopy.visual.basevisual.TextureMixin._createTexture (2026.2): open
    with Pillow, flip; mode "L" is used as luminance (value * 2/255 - 1); anything else is
    converted to RGBA (which clips 16-bit values to 255) and used as 8-bit RGB.
    """
    im = Image.open(path)
    im = im.transpose(Image.FLIP_TOP_BOTTOM)
    if im.mode == "L":
        arr = np.array(im).astype(np.float32) * 0.0078431372549019607 - 1.0
    else:
        arr = np.array(im.convert("RGBA")).astype(np.float32)[..., 0] / 255.0 * 2 - 1
    return arr[::-1]  # back to file order


@pytest.mark.parametrize(
    "formats,bits,column",
    [(("png",), 16, "png16File"), (("tiff", "dicom"), 8, "tiffFile"), (("png",), 8, None)],
)
def test_conditions_point_at_images_psychopy_shows(tmp_path, model, formats, bits, column):
    out = tmp_path / "e"
    res = _export(model, out, ExportSettings(formats=formats, bits=bits, preview=None))
    rows = _rows(out / "conditions.csv")
    assert len(rows) == len(res.frames)
    for r, fr in zip(rows, res.frames):
        shown = psychopy_image_values(out / r["imageFile"])
        assert Image.open(out / r["imageFile"]).mode == "L"
        # the full-depth file, in its own column where there is one
        full = out / (r[column] if column else r["imageFile"])
        want = read_frame(full) * 2 - 1
        assert np.abs(shown - want).max() <= 1 / 255 + 1e-6, r["imageFile"]
        assert shown.max() - shown.min() > 0.05  # not a flat white (or black) frame
        if column:
            assert r["imageFile"].startswith("display/")
            assert r[column] == fr["files"][column[:-4].replace("16", "")]["path"]
    if ("png",) == formats and bits == 16:
        # the 16-bit file itself would be clipped by the RGBA conversion
        clipped = psychopy_image_values(out / rows[0]["png16File"])
        assert np.abs(clipped - (read_frame(out / rows[0]["png16File"]) * 2 - 1)).max() > 0.5


def test_conditions_load_in_psychopy(tmp_path, model):
    data = pytest.importorskip("psychopy.data")
    out = tmp_path / "e"
    _export(model, out, ExportSettings(formats=("png", "dicom"), bits=16, preview=None))
    conds = data.importConditions(str(out / "conditions.csv"))
    assert len(conds) == 4
    for c in conds:
        assert (out / c["imageFile"]).is_file() and (out / c["png16File"]).is_file()
        assert Image.open(out / c["imageFile"]).mode == "L"
        assert Image.open(out / c["png16File"]).mode.startswith("I")


# ------------------------------------------------------------------------- DICOM validity


def test_dicom_has_laterality_type_2c(tmp_path, model):
    out = tmp_path / "e"
    res = _export(model, out, ExportSettings(formats=("dicom",), preview=None))
    for fr in res.frames:
        ds = pydicom.dcmread(out / fr["files"]["dicom"]["path"])
        # General Series Laterality (0020,0060), Type 2C: present; empty = side unknown
        assert (0x0020, 0x0060) in ds and ds.Laterality == ""
        assert ds[0x0020, 0x0060].VR == "CS"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dciodvfy_reports_no_errors(tmp_path, model):
    out = tmp_path / "e"
    res = _export(model, out, ExportSettings(formats=("dicom",), preview=None))
    for fr in res.frames[:2]:
        p = subprocess.run(
            ["dciodvfy", str(out / fr["files"]["dicom"]["path"])],
            capture_output=True,
            text=True,
            timeout=60,
        )
        report = p.stdout + p.stderr
        assert "SCImage" in report  # it recognised the IOD
        errors = [ln for ln in report.splitlines() if ln.startswith("Error")]
        assert errors == [], report


# ------------------------------------------------------------------------- spacing reuse


def test_export_reuses_the_paths_spacing(tmp_path, model):
    from stimstudio.core.export import export_sequence
    from stimstudio.core.interpolate import compute_spacing

    path = Continuum(anchors(model), frames=9, loop=True, spacing="perceptual")
    found = compute_spacing(path, model)
    assert path.spacing_result is found
    s = ExportSettings(preview=None, contact_sheet=False)
    recs = list(export_sequence(path, model, tmp_path / "a", s, continuum_id="c"))
    assert not [r for r in recs if r.stage == "spacing"]  # nothing computed again
    doc = load_manifest(tmp_path / "a")
    assert doc["continuum"]["positions"] == [float(x) for x in found.positions]
    assert doc["distances"]["steps"] == [float(x) for x in found.distances]
    assert doc["continuum"]["step_distances"] == doc["distances"]["steps"]
    # anchors are frames
    assert {0.0, 1.0, 2.0} <= set(doc["continuum"]["positions"])
    # without the cached result: the same positions, computed with progress records
    bare = Continuum(anchors(model), frames=9, loop=True, spacing="perceptual")
    recs = list(export_sequence(bare, model, tmp_path / "b", s, continuum_id="c"))
    spacing = [r for r in recs if r.stage == "spacing"]
    assert spacing and all(0 < r.done <= r.total for r in spacing)
    assert load_manifest(tmp_path / "b")["continuum"]["positions"] == pytest.approx(
        doc["continuum"]["positions"], abs=1e-9
    )
    # regenerate reproduces the export, manifest included
    r = regenerate(tmp_path / "a", model, out_dir=tmp_path / "again")
    assert r.ok, r.problems()


def test_spacing_for_another_model_or_path_is_not_reused(tmp_path, model):
    from stimstudio.core.export import export_sequence
    from stimstudio.core.interpolate import compute_spacing

    path = Continuum(anchors(model), frames=9, loop=True, spacing="perceptual")
    compute_spacing(path, model)
    path.frames = 10  # changed after the spacing was found
    s = ExportSettings(preview=None, contact_sheet=False)
    recs = list(export_sequence(path, model, tmp_path / "a", s, continuum_id="c"))
    assert [r for r in recs if r.stage == "spacing"]
    assert len(load_manifest(tmp_path / "a")["continuum"]["positions"]) == 10


def test_cancel_during_spacing_writes_nothing(tmp_path, model):
    from stimstudio.core.export import export_sequence

    path = Continuum(anchors(model), frames=9, loop=True, spacing="perceptual")
    n = []
    recs = list(
        export_sequence(
            path,
            model,
            tmp_path / "a",
            ExportSettings(preview=None),
            should_stop=lambda: n.append(1) or len(n) > 2,
        )
    )
    assert recs[-1].cancelled and recs[-1].stage == "spacing"
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())


def test_cli_export_defaults_to_perceptual_spacing_and_shows_defaults(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # the help wraps lines
    for shown in ("(default: 30)", "(default: perceptual)", "(default: gif)", "(default: 8)"):
        assert shown in text


def test_cli_export_default_spacing(tmp_path, capsys, tiny_weights):
    out = tmp_path / "e"
    rc, _, err = _run(
        capsys,
        "export",
        "seed:1",
        "seed:2",
        "seed:3",
        "--frames",
        7,
        "--out",
        out,
        "--weights",
        tiny_weights,
    )
    assert rc == 0, err
    c = load_manifest(out)["continuum"]
    assert c["spacing"] == "perceptual" and {0.0, 1.0, 2.0} <= set(c["positions"])
    assert len(c["step_distances"]) == 6


def test_manifest_from_before_issue_16_still_regenerates(tmp_path, model):
    """Older manifests: no files_sha256, random DICOM UIDs (no rule), no step_distances."""
    out = tmp_path / "e"
    _export(model, out, ExportSettings(formats=("png", "dicom"), preview="gif"))
    doc = json.loads((out / "manifest.json").read_text())
    del doc["files_sha256"], doc["dicom_uids"]["rule"], doc["continuum"]["step_distances"]
    (out / "manifest.json").write_text(json.dumps(doc))
    r = regenerate(out, model)
    assert r.ok, r.problems()
    task = {v for k, v in doc["files"].items() if k.startswith("task:")}  # a loop: issue 42
    assert task
    assert set(r.unverified_files) == {"conditions.csv", "preview.gif", "contact_sheet.png"} | task
    assert any("random" in n for n in r.notes)
    r = regenerate(out, model, out_dir=tmp_path / "again")
    assert r.ok, r.problems()
    (out / "png" / "c_0001.png").unlink()
    assert regenerate(out, model).missing_files == ["png/c_0001.png"]
