"""No patient data leaks: stimuli derived from a patient DICOM carry none of its identifiers."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import generate_uid
from readers_helpers import phantom, write_dicom

from stimstudio.cli.main import main
from stimstudio.core.errors import ExportError
from stimstudio.core.export import ExportSettings, export, load_manifest
from stimstudio.core.generate import latent_for_seed
from stimstudio.core.imageio import load_patch
from stimstudio.core.interpolate import Anchor, Continuum
from stimstudio.core.invert import encode
from stimstudio.core.latent import Latent
from stimstudio.core.model import load_model, sha256_file
from stimstudio.core.readers import read_mammogram

UID_ROOT = "1.2.826.0.1.3680043.9.7777."
IDENTIFIERS = {
    "PatientName": "Doemeyer^Jonathan^Quincy",
    "PatientID": "PID8472915",
    "PatientBirthDate": "19610823",
    "OtherPatientIDs": "MRN99120034",
    "StudyDate": "20190314",
    "SeriesDate": "20190312",
    "AcquisitionDate": "20190315",
    "ContentDate": "20190316",
    "AccessionNumber": "ACC77120934",
    "StudyID": "STUDY4471",
    "InstitutionName": "St Elsewhere General Hospital",
    "InstitutionAddress": "12 Harbour Road, Springfield",
    "ReferringPhysicianName": "Housewright^Gregory",
    "OperatorsName": "Kowalczyk^Anna",
    "StationName": "MAMMOROOM7",
    "DeviceSerialNumber": "SN55X7192Q",
    "StudyInstanceUID": UID_ROOT + "1001.1",
    "SeriesInstanceUID": UID_ROOT + "1001.2",
    "FrameOfReferenceUID": UID_ROOT + "1001.4",
}
SOP_UID = UID_ROOT + "1001.3"
# What must not appear anywhere: every value, and the parts of the names.
BANNED = [
    *IDENTIFIERS.values(),
    SOP_UID,
    "Doemeyer",
    "Jonathan",
    "Quincy",
    "Housewright",
    "Kowalczyk",
    "1961-08-23",
    "2019-03-14",
]


@pytest.fixture(scope="module")
def model(tiny_weights):
    return load_model(tiny_weights)


def patient_dicom(path):
    f = write_dicom(path, phantom(64, 64), **IDENTIFIERS, SOPInstanceUID=SOP_UID)
    import pydicom

    ds = pydicom.dcmread(f)  # the file meta must carry the same instance UID
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_UID
    ds.save_as(f)
    return f


def latent_from(model, path, **extra):
    """What a careless caller might attach: the path, the reader's info, free text."""
    mammo = read_mammogram(path)
    patch, _ = load_patch(path, model.resolution)
    w = encode(model, patch)[0].cpu().numpy()
    source = {
        "file": str(path),
        "method": "inversion",
        "reader": mammo.info,
        "patient": IDENTIFIERS["PatientName"],
        "study_date": int(IDENTIFIERS["StudyDate"]),
        "note": "Jonathan's left breast, St Elsewhere",
        **extra,
    }
    return Latent(w, source, model.sha256)


def assert_no_identifiers(folder):
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for p in files:
        data = p.read_bytes().lower()
        name = str(p.relative_to(folder)).lower()
        for value in BANNED:
            v = value.lower()
            assert v not in name, f"{value!r} in the file name {name}"
            assert v.encode() not in data, f"{value!r} found in {p.relative_to(folder)}"


def test_export_from_a_patient_dicom_leaks_nothing(tmp_path, model, capsys):
    root = tmp_path / "data"
    (root / "case01").mkdir(parents=True)
    src = patient_dicom(root / "case01" / "scan.dcm")
    assert read_mammogram(src).info["patient_id"] == "PID8472915"  # the source is full of it
    lat = latent_from(model, src)
    an = [Anchor("case", lat), Anchor("s2", latent_for_seed(model, 2))]
    s = ExportSettings(
        formats=("png", "tiff", "dicom"),
        bits=16,
        preview="gif",
        latents="files",
        data_root=str(root),
    )
    export(
        Continuum(an, frames=4, loop=True, spacing="latent"),
        model,
        tmp_path / "out1",
        s,
        continuum_id="loop",
    )
    s2 = ExportSettings(formats=("dicom", "png"), preview=None, data_root=str(root))
    export(an, model, tmp_path / "out2", s2, continuum_id="stills")
    # the CLI, from a saved latent file, with an MP4 preview
    lat_file = tmp_path / "lat" / "case.latent.npz"
    lat_file.parent.mkdir()
    lat.save(lat_file)
    rc = main(
        [
            "export",
            str(lat_file),
            "seed:3",
            "--out",
            str(tmp_path / "out3"),
            "--loop",
            "--frames",
            "4",
            "--format",
            "png,dicom",
            "--preview",
            "mp4",
            "--data-root",
            str(root),
            "--weights",
            str(model.path),
            "--quiet",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    for out in ("out1", "out2", "out3"):
        assert_no_identifiers(tmp_path / out)
    # the manifest refers to the source by a relative path + sha256, nothing else of it
    doc = load_manifest(tmp_path / "out1")
    ref = doc["anchors"][0]["source"]
    assert ref["file"] == {"path": "case01/scan.dcm", "sha256": sha256_file(src), "found": True}
    assert ref["method"] == "inversion"
    assert {"patient", "note"} <= set(ref["withheld"])
    assert "patient_id" in ref["reader"]["withheld"] and "study_date" not in ref
    assert load_manifest(tmp_path / "out3")["anchors"][0]["source"]["file"]["path"] == (
        "case01/scan.dcm"
    )


def test_identifiers_in_names_and_paths_are_refused_or_withheld(tmp_path, model):
    root = tmp_path / "data"
    root.mkdir()
    src = patient_dicom(root / "PID8472915_L_CC.dcm")  # a file named after the patient
    lat = latent_from(model, src)
    other = Anchor("s2", latent_for_seed(model, 2))
    s = ExportSettings(formats=("png",), preview=None, data_root=str(root))
    with pytest.raises(ExportError, match="PatientID"):
        export(
            Continuum([Anchor("PID8472915", lat), other], frames=3, spacing="latent"),
            model,
            tmp_path / "a",
            s,
        )
    with pytest.raises(ExportError, match="PatientName"):
        export(
            Continuum([Anchor("x", lat), other], frames=3, spacing="latent"),
            model,
            tmp_path / "b",
            s,
            continuum_id="Doemeyer_set",
        )
    res = export(
        Continuum([Anchor("x", lat), other], frames=3, spacing="latent"),
        model,
        tmp_path / "c",
        s,
        continuum_id="c",
    )
    ref = load_manifest(res.manifest)["anchors"][0]["source"]["file"]
    assert ref["path"] is None and ref["sha256"] == sha256_file(src) and ref["path_withheld"]
    assert_no_identifiers(tmp_path / "c")


def test_source_outside_the_data_root_is_recorded_by_name_only(tmp_path, model):
    d = tmp_path / "hospital" / "Ward_B"
    d.mkdir(parents=True)
    src = patient_dicom(d / "img.dcm")
    lat = latent_from(model, src)
    res = export(
        Continuum(
            [Anchor("x", lat), Anchor("y", latent_for_seed(model, 1))], frames=2, spacing="latent"
        ),
        model,
        tmp_path / "e",
        ExportSettings(preview=None),
        continuum_id="c",
    )
    ref = load_manifest(res.manifest)["anchors"][0]["source"]["file"]
    assert ref["path"] == "img.dcm" and ref["sha256"] == sha256_file(src)
    assert b"Ward_B" not in (tmp_path / "e" / "manifest.json").read_bytes()
    assert np.isfinite(res.distances).all()
    assert generate_uid()  # (pydicom's UID root differs from the source's)
