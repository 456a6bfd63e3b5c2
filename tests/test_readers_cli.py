"""`stimstudio info` and `stimstudio convert` on every format; the CLI contract."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless
from readers_helpers import LESION, phantom, write_dicom
from test_readers_cbis import MASS_CASE, tree  # noqa: F401  (fixture)
from test_readers_ddsm import COLS, ICS, OVERLAY, ROWS
from test_readers_inbreast import DCM, inbreast  # noqa: F401  (fixture)

from stimstudio.cli.main import main


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def dicom_file(tmp_path):
    return write_dicom(
        tmp_path / "mg.dcm",
        (4095 - phantom()).astype(np.uint16),
        photometric="MONOCHROME1",
        compress=JPEG2000Lossless,
        WindowCenter=[2048, 1000],
        WindowWidth=[4096, 500],
    )


@pytest.fixture
def ddsm_file(tmp_path):
    d = tmp_path / "case3024"
    d.mkdir()
    (d / "B-3024-1.ics").write_text(ICS)
    (d / "B_3024_1.LEFT_CC.OVERLAY").write_text(OVERLAY)
    p = d / "B_3024_1.LEFT_CC.LJPEG.1"
    phantom(ROWS, COLS).astype("<u2").tofile(p)
    return p


def test_info_text_on_dicom(capsys, dicom_file):
    rc, out, err = _run(capsys, "info", dicom_file)
    assert rc == 0 and not err
    assert "format:      DICOM (MG)" in out
    assert "size:        160 x 200 px" in out
    assert "bits:        12 stored in 16, unsigned" in out
    assert "MONOCHROME1" in out and "inverted for display" in out
    assert "JPEG 2000" in out
    assert "LINEAR centre 2048 width 4096 (window 1 of 2)" in out
    assert "pixel size:  0.1 x 0.1 mm" in out and "view:        L MLO" in out


def test_info_json_and_window_choice(capsys, dicom_file):
    rc, out, _ = _run(capsys, "info", dicom_file, "--json", "--voi-index", "2")
    d = json.loads(out)
    assert rc == 0 and d["window"]["center"] == 1000 and d["bits"] == 12
    assert len(d["voi_available"]) == 2 and d["info"]["compressed"]


def test_info_on_ddsm(capsys, ddsm_file):
    rc, out, _ = _run(capsys, "info", ddsm_file)
    assert rc == 0 and "format:      DDSM" in out
    assert "1. mass, malignant, bbox (106, 76)-(134, 104)" in out
    assert "shape=IRREGULAR" in out and "note:" in out  # the wrong TOTAL_OUTLINES count


def test_info_on_cbis(capsys, tree):  # noqa: F811
    root, _ = tree
    f = next((root / "CBIS-DDSM" / MASS_CASE).rglob("*.dcm"))
    rc, out, _ = _run(capsys, "info", f, "--json")
    d = json.loads(out)
    assert rc == 0 and d["format"] == "CBIS-DDSM" and d["lesions"][0]["outline"] == "mask"
    x, y, r = LESION
    assert d["lesions"][0]["bbox"] == [x - r, y - r, x + r, y + r]


def test_info_on_inbreast(capsys, inbreast):  # noqa: F811
    rc, out, _ = _run(capsys, "info", inbreast / "AllDICOMs" / DCM)
    assert rc == 0 and "format:      INbreast" in out and "lesions:     4" in out


def test_info_bad_file_is_one_line_exit_2(capsys, tmp_path):
    p = tmp_path / "broken.dcm"
    p.write_bytes(b"\x00" * 10)
    rc, out, err = _run(capsys, "info", p)
    assert rc == 2 and not out
    assert err.startswith("stimstudio: error: broken.dcm") and err.count("\n") == 1


def test_convert_dicom_to_16_bit_png_with_masks(capsys, tmp_path, ddsm_file):
    out = tmp_path / "out" / "view.png"
    out.parent.mkdir()
    rc, text, err = _run(capsys, "convert", ddsm_file, out, "--masks", tmp_path / "masks")
    assert rc == 0, err
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (ROWS, COLS)
    masks = sorted((tmp_path / "masks").iterdir())
    assert [m.name for m in masks] == ["view_lesion01_mass.png", "view_lesion02_calcification.png"]
    mk = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(mk)) == {0, 255}
    ys, xs = np.nonzero(mk)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (106, 76, 134, 104)
    assert sorted(p.name for p in out.parent.iterdir()) == ["view.png"]  # no temp files left


def test_convert_8_bit_source_gives_8_bit_tiff(capsys, tmp_path):
    a = phantom(bits=8).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "in.png"), a)
    rc, _, err = _run(capsys, "convert", tmp_path / "in.png", tmp_path / "out.tiff", "--json")
    assert rc == 0, err
    got = cv2.imread(str(tmp_path / "out.tiff"), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint8 and np.array_equal(got, a)


def test_convert_never_overwrites_without_force(capsys, tmp_path, dicom_file):
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    rc, _, err = _run(capsys, "convert", dicom_file, out)
    assert rc == 2 and "exists; pass --force" in err and out.read_bytes() == b"keep me"
    rc, _, err = _run(capsys, "convert", dicom_file, out, "--force")
    assert rc == 0 and cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_convert_refuses_when_a_mask_exists_and_writes_nothing(capsys, tmp_path, ddsm_file):
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "v_lesion02_calcification.png").write_bytes(b"x")
    rc, _, err = _run(
        capsys, "convert", ddsm_file, tmp_path / "v.png", "--masks", tmp_path / "masks"
    )
    assert rc == 2 and "v_lesion02_calcification.png exists" in err
    assert not (tmp_path / "v.png").exists()


def test_convert_bad_suffix_and_missing_folder(capsys, tmp_path, dicom_file):
    rc, _, err = _run(capsys, "convert", dicom_file, tmp_path / "o.jpg")
    assert rc == 2 and "must end in .png" in err
    rc, _, err = _run(capsys, "convert", dicom_file, tmp_path / "nope" / "o.png")
    assert rc == 2 and "output folder does not exist" in err


def test_frame_option(capsys, tmp_path):
    a = np.stack([phantom(seed=i) for i in range(3)])
    p = write_dicom(tmp_path / "mf.dcm", a)
    rc, out, _ = _run(capsys, "info", p, "--frame", "3", "--json")
    d = json.loads(out)
    assert rc == 0 and d["info"]["frame"] == 2
    rc, _, err = _run(capsys, "info", p, "--frame", "4")
    assert rc == 2 and "frame 4 does not exist" in err
