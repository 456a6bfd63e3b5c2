"""Original DDSM: .ics, .OVERLAY chain codes, raw `jpeg -d -s` output, converted PNG, LJPEG."""

from __future__ import annotations

import gzip

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from readers_helpers import encode_lossless_jpeg, phantom

from stimstudio.core.errors import ReaderError
from stimstudio.core.readers import list_mammograms, read_mammogram
from stimstudio.core.readers.ddsm import (
    decode_chain,
    optical_density,
    parse_ics,
    parse_overlay,
    read_ddsm,
)

ROWS, COLS = 200, 160
ICS = f"""ics_version 1.0
filename B-3024-1
DATE_OF_STUDY 2 7 1995
PATIENT_AGE 42
FILM
FILM_TYPE REGULAR
DENSITY 4
DATE_DIGITIZED 7 22 1997
DIGITIZER LUMISYS LASER
SELECTED
LEFT_CC LINES {ROWS} PIXELS_PER_LINE {COLS} BITS_PER_PIXEL 12 RESOLUTION 50 OVERLAY
LEFT_MLO LINES {ROWS} PIXELS_PER_LINE {COLS} BITS_PER_PIXEL 12 RESOLUTION 50 NON_OVERLAY
RIGHT_CC LINES 4624 PIXELS_PER_LINE 2856 BITS_PER_PIXEL 12 RESOLUTION 50 NON_OVERLAY
RIGHT_MLO LINES 4664 PIXELS_PER_LINE 2872 BITS_PER_PIXEL 12 RESOLUTION 50 NON_OVERLAY
"""
# a square around the phantom's lesion (x 106..134, y 76..104): E x28, S x28, W x28, N x28
SQUARE = "106 76 " + " ".join(["2"] * 28 + ["4"] * 28 + ["6"] * 28 + ["0"] * 28)
OVERLAY = f"""TOTAL_ABNORMALITIES 2
ABNORMALITY 1
LESION_TYPE MASS SHAPE IRREGULAR MARGINS SPICULATED
ASSESSMENT 4
SUBTLETY 3
PATHOLOGY MALIGNANT
TOTAL_OUTLINES 2
BOUNDARY
{SQUARE[:60]}
{SQUARE[60:]} #
CORE
110 80 2 2 4 4 6 6 0 0 #
ABNORMALITY 2
LESION_TYPE CALCIFICATION TYPE PLEOMORPHIC DISTRIBUTION CLUSTERED
LESION_TYPE MASS SHAPE OVAL MARGINS CIRCUMSCRIBED
ASSESSMENT 3
SUBTLETY 5
PATHOLOGY BENIGN_WITHOUT_CALLBACK
TOTAL_OUTLINES 3
BOUNDARY
30 100 2 2 2 4 4 4 6 6 6 0 0 0 #
"""


def _case(tmp_path, overlay: str | bytes | None = OVERLAY, gz=False):
    d = tmp_path / "case3024"
    d.mkdir()
    (d / "B-3024-1.ics").write_text(ICS)
    if overlay is not None:
        data = overlay.encode() if isinstance(overlay, str) else overlay
        name = "B_3024_1.LEFT_CC.OVERLAY" + (".gz" if gz else "")
        (d / name).write_bytes(gzip.compress(data) if gz else data)
    return d


def test_parse_ics():
    ics = parse_ics(ICS)
    v = ics["views"]["LEFT_CC"]
    assert (v["lines"], v["pixels_per_line"], v["bits"], v["resolution_um"]) == (200, 160, 12, 50)
    assert v["overlay"] and not ics["views"]["RIGHT_MLO"]["overlay"]
    assert ics["digitizer"] == "LUMISYS LASER" and ics["density"] == 4 and ics["age"] == 42


def test_chain_code_directions():
    pts = decode_chain("10 20 0 1 2 3 4 5 6 7".split(), "t")
    # N, NE, E, SE, S, SW, W, NW from (x=10, y=20), rows growing downwards
    want = [
        (10, 20),
        (10, 19),
        (11, 18),
        (12, 18),
        (13, 19),
        (13, 20),
        (12, 21),
        (11, 21),
        (10, 20),
    ]
    assert pts.tolist() == [list(map(float, p)) for p in want]


def test_parse_overlay_with_wrong_counts_and_split_chains():
    abns, notes = parse_overlay(OVERLAY, "x.OVERLAY")
    assert len(abns) == 2
    a1, a2 = abns
    assert a1["lesion_types"][0] == {
        "lesion": "MASS",
        "shape": "IRREGULAR",
        "margins": "SPICULATED",
    }
    assert a1["assessment"] == 4 and a1["subtlety"] == 3 and a1["pathology"] == "MALIGNANT"
    assert len(a1["outlines"]) == 1 and len(a1["cores"]) == 1
    assert len(a1["outlines"][0]) == 113 and a1["outlines"][0][0].tolist() == [106, 76]
    assert a1["outlines"][0][-1].tolist() == [106, 76]  # closed
    assert len(a2["lesion_types"]) == 2
    assert any("TOTAL_OUTLINES 3 but has 1" in n for n in notes)
    assert not any("abnormality 1 says" in n for n in notes)


@pytest.mark.parametrize(
    "text, match",
    [
        ("ABNORMALITY 1\nBOUNDARY\n10 10 2 2 9 #\n", "'9' at step 3 is not a direction"),
        ("ABNORMALITY 1\nBOUNDARY\n10 10 2 2 2\n", "no closing '#'"),
        ("ABNORMALITY 1\nBOUNDARY\nx 10 2 #\n", "start point"),
        ("ABNORMALITY 1\nBOUNDARY\n10 #\n", "no start point"),
    ],
)
def test_broken_chain_codes(text, match):
    with pytest.raises(ReaderError, match=match):
        parse_overlay(text, "bad.OVERLAY")


@pytest.mark.parametrize("byteorder", ["<u2", ">u2"])
def test_raw_jpeg_d_s_output_in_either_byte_order(tmp_path, byteorder):
    d = _case(tmp_path)
    a = phantom(ROWS, COLS, bits=12)
    a.astype(byteorder).tofile(d / "B_3024_1.LEFT_CC.LJPEG.1")
    m = read_mammogram(d / "B_3024_1.LEFT_CC.LJPEG.1")
    assert m.format == "DDSM" and np.array_equal(m.raw, a)
    assert m.spacing_mm == (0.05, 0.05) and m.laterality == "L" and m.view == "CC"
    assert m.info["digitizer"] == "LUMISYS LASER" and m.info["bits"] == 12
    les = m.lesions[0]
    assert les.kind == "mass" and les.pathology == "malignant"
    assert les.attributes["shape"] == "IRREGULAR" and les.attributes["subtlety"] == 3
    assert les.attributes["core_outlines"]
    assert les.bbox() == (106, 76, 134, 104)
    mask = les.to_mask(m.shape).astype(bool)
    # the outline lands on the dense blob: the masked region is brighter than the rest
    assert m.pixels[mask].mean() > m.pixels[~mask & (a > 500)].mean() + 0.2
    assert m.lesions[1].pathology == "benign without callback"
    assert m.lesions[1].kind == "calcification"
    assert m.lesions[1].attributes["calc_type"] == "PLEOMORPHIC"


def test_raw_file_of_wrong_size(tmp_path):
    d = _case(tmp_path)
    (d / "B_3024_1.LEFT_CC.LJPEG.1").write_bytes(b"\x00" * 1000)
    with pytest.raises(ReaderError, match="raw file has 1000 bytes"):
        read_mammogram(d / "B_3024_1.LEFT_CC.LJPEG.1")


def test_gzipped_overlay(tmp_path):
    d = _case(tmp_path, gz=True)
    phantom(ROWS, COLS).tofile(d / "B_3024_1.LEFT_CC.LJPEG.1")
    m = read_mammogram(d / "B_3024_1.LEFT_CC.LJPEG.1")
    assert len(m.lesions) == 2


def test_converted_png_downscaled_with_ics_beside_it(tmp_path):
    d = _case(tmp_path)
    a = phantom(ROWS, COLS, bits=12)
    small = cv2.resize(a, (COLS // 2, ROWS // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(d / "B_3024_1.LEFT_CC.png"), small)
    m = read_mammogram(d / "B_3024_1.LEFT_CC.png")
    assert m.format == "DDSM" and m.shape == (ROWS // 2, COLS // 2)
    assert m.spacing_mm == (0.1, 0.1)
    assert m.lesions[0].bbox() == (53, 38, 67, 52)
    assert any("scaled" in n for n in m.notes)


def test_converted_image_of_other_aspect_is_refused(tmp_path):
    d = _case(tmp_path)
    cv2.imwrite(str(d / "B_3024_1.LEFT_CC.png"), np.zeros((100, 100), np.uint16))
    with pytest.raises(ReaderError, match="not the same aspect ratio"):
        read_mammogram(d / "B_3024_1.LEFT_CC.png")


def test_missing_overlay_is_noted(tmp_path):
    d = _case(tmp_path, overlay=None)
    phantom(ROWS, COLS).tofile(d / "B_3024_1.LEFT_CC.LJPEG.1")
    m = read_mammogram(d / "B_3024_1.LEFT_CC.LJPEG.1")
    assert not m.lesions and any("OVERLAY is missing" in n for n in m.notes)


def test_missing_ics_is_refused(tmp_path):
    p = tmp_path / "A_0001_1.LEFT_CC.LJPEG.1"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(ReaderError, match="no A-0001-1.ics beside it"):
        read_mammogram(p)


def test_standard_lossless_ljpeg_decodes_through_libjpeg(tmp_path):
    d = _case(tmp_path)
    a = phantom(ROWS, COLS, bits=12)
    p = d / "B_3024_1.LEFT_CC.LJPEG"
    p.write_bytes(encode_lossless_jpeg(a, 12))
    m = read_mammogram(p)
    assert np.array_equal(m.raw, a) and m.info["pixel_source"] == "LJPEG"
    assert len(m.lesions) == 2
    # with the `jpeg -d -s` output beside it, a folder lists the view once
    a.astype("<u2").tofile(d / "B_3024_1.LEFT_CC.LJPEG.1")
    assert [q.name for q in list_mammograms(d)] == ["B_3024_1.LEFT_CC.LJPEG.1"]


def test_ljpeg_that_libjpeg_cannot_read_says_what_to_do(tmp_path):
    d = _case(tmp_path)
    p = d / "B_3024_1.LEFT_CC.LJPEG"
    p.write_bytes(b"\xff\xd8\xff\xc3" + bytes(200))
    with pytest.raises(ReaderError, match=r"jpeg -d -s B_3024_1.LEFT_CC.LJPEG.*\.1 file"):
        read_mammogram(p)


def test_calibration_to_optical_density(tmp_path):
    od, name = optical_density(np.array([0, 4097]), "LUMISYS LASER")
    assert name == "WFU LUMISYS" and od[0] == pytest.approx(4.0604, abs=1e-3)
    assert od[1] == pytest.approx(0.0, abs=1e-3)
    assert optical_density(np.array([1000]), "HOWTEK 960")[1] == "MGH HOWTEK"
    assert optical_density(np.array([1000]), "HOWTEK", "ISMD")[1] == "ISMD HOWTEK"
    od, name = optical_density(np.array([10**4.80662]), "DBA 21")
    assert name == "MGH DBA" and od[0] == pytest.approx(0, abs=1e-4)
    with pytest.raises(ReaderError, match="no optical-density calibration"):
        optical_density(np.array([1]), "ACME")
    d = _case(tmp_path)
    phantom(ROWS, COLS).tofile(d / "B_3024_1.LEFT_CC.LJPEG.1")
    m = read_mammogram(d / "B_3024_1.LEFT_CC.LJPEG.1", calibrate=True)
    assert m.info["calibration"] == "WFU LUMISYS"
    lx, ly = 120, 90
    assert m.pixels[ly, lx] > m.pixels[100, 30] > m.pixels[100, 150]


def test_ics_and_overlay_are_not_images(tmp_path):
    d = _case(tmp_path)
    for name in ("B-3024-1.ics", "B_3024_1.LEFT_CC.OVERLAY"):
        with pytest.raises(ReaderError, match="open"):
            read_mammogram(d / name)


def test_list_mammograms_finds_ddsm_views(tmp_path):
    d = _case(tmp_path)
    phantom(ROWS, COLS).tofile(d / "B_3024_1.LEFT_CC.LJPEG.1")
    assert [p.name for p in list_mammograms(tmp_path)] == ["B_3024_1.LEFT_CC.LJPEG.1"]


def test_read_ddsm_rejects_other_names(tmp_path):
    p = tmp_path / "image.png"
    p.write_bytes(b"x")
    with pytest.raises(ReaderError, match="not a DDSM view name"):
        read_ddsm(p)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789 #\nABCDEFGHIJKLMNOPRSTUVWXYZ_-.x")), max_size=400
    )
)
def test_fuzz_overlay_parser(text):
    try:
        parse_overlay("ABNORMALITY 1\n" + text, "fuzz.OVERLAY")
    except ReaderError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["", ICS, "LEFT_CC LINES 10"]))
def test_fuzz_ics_parser(text, prefix):
    try:
        parse_ics(prefix + text, "fuzz.ics")
    except ReaderError:
        pass
