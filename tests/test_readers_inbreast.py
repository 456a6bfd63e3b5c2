"""INbreast: DICOM + OsiriX XML plist ROIs + semicolon-separated INbreast.csv."""

from __future__ import annotations

import plistlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from readers_helpers import LESION, phantom, write_dicom

from stimstudio.core.errors import ReaderError
from stimstudio.core.readers import read_mammogram
from stimstudio.core.readers.inbreast import parse_inbreast_csv, parse_inbreast_xml

FID = "22678622"
DCM = f"{FID}_61b13c59bcba149e_MG_R_CC_ANON.dcm"


def _roi(name, pts):
    return {
        "Area": 0.0,
        "IndexInImage": 0,
        "Name": name,
        "NumberOfPoints": len(pts),
        "Point_mm": [f"({x * 0.07:.4f}, {y * 0.07:.4f}, 0)" for x, y in pts],
        "Point_px": [f"({x:.3f}, {y:.3f})" for x, y in pts],
        "Type": 19 if len(pts) > 2 else 15,
    }


def _xml(rois) -> bytes:
    return plistlib.dumps(
        {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois), "ROIs": rois}]},
        fmt=plistlib.FMT_XML,
    )


def _circle(cx, cy, r, n=24):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in t]


@pytest.fixture
def inbreast(tmp_path):
    root = tmp_path / "INbreast"
    (root / "AllDICOMs").mkdir(parents=True)
    (root / "AllXML").mkdir()
    a = (4095 - phantom()).astype(np.uint16)  # INbreast files are MONOCHROME1
    write_dicom(
        root / "AllDICOMs" / DCM,
        a,
        photometric="MONOCHROME1",
        WindowCenter=2048,
        WindowWidth=4096,
        ImageLaterality=None,
        ViewPosition=None,
    )
    x, y, r = LESION
    rois = [
        _roi("Mass", _circle(x, y, r)),
        _roi("Calcification", [(40.5, 60.25)]),
        _roi("Calcification", [(50.0, 70.0), (54.0, 70.0)]),
        _roi("Cluster", [(30, 30), (60, 30), (60, 60), (30, 60)]),
    ]
    (root / "AllXML" / f"{FID}.xml").write_bytes(_xml(rois))
    (root / "INbreast.csv").write_text(
        "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads\n"
        f"removed;removed;R;CC;201001;{FID};2;4c\n"
        "removed;removed;L;CC;201001;99999999;1;1\n"
    )
    return root


def test_inbreast_image_with_rois(inbreast):
    m = read_mammogram(inbreast / "AllDICOMs" / DCM)
    assert m.format == "INbreast"
    assert m.laterality == "R" and m.view == "CC"  # from the file name
    assert m.info["acr_density"] == "2" and m.info["birads"] == "4c"
    kinds = [les.kind for les in m.lesions]
    assert kinds == ["mass", "calcification", "calcification", "calcification cluster"]
    mass, c1, c2, cluster = m.lesions
    assert mass.polygon.shape == (24, 2)
    mask = mass.to_mask(m.shape).astype(bool)
    assert m.pixels[mask].mean() > m.pixels[~mask & (m.pixels > 0.1)].mean() + 0.2
    assert c1.center == (40.5, 60.25) and c1.attributes["point"]
    assert c2.center == (52.0, 70.0) and c2.radius == 2.0
    assert cluster.polygon is not None
    assert mass.attributes["birads"] == "4c"


def test_inbreast_without_xml_is_noted(inbreast):
    (inbreast / "AllXML" / f"{FID}.xml").unlink()
    m = read_mammogram(inbreast / "AllDICOMs" / DCM)
    assert not m.lesions and any(f"{FID}.xml" in n for n in m.notes)


def test_broken_xml_is_named(inbreast):
    (inbreast / "AllXML" / f"{FID}.xml").write_text("<plist><dict><key>Images")
    with pytest.raises(ReaderError, match=f"{FID}.xml: not a readable OsiriX XML plist"):
        read_mammogram(inbreast / "AllDICOMs" / DCM)


def test_bad_point_is_named():
    with pytest.raises(ReaderError, match="ROI 1 has a point 'nowhere'"):
        parse_inbreast_xml(_xml([{"Name": "Mass", "Point_px": ["nowhere"]}]), "x.xml")


def test_csv_missing_column():
    with pytest.raises(ReaderError, match="no 'bi-rads' column"):
        parse_inbreast_csv("File Name;ACR\n1;2\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_fuzz_xml_parser(data):
    try:
        parse_inbreast_xml(data, "fuzz.xml")
    except ReaderError:
        pass


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
        | st.from_regex(r"\( ?-?[0-9.eE+-]{0,8} ?, ?-?[0-9.eE+inf]{0,8} ?\)", fullmatch=True),
        max_size=6,
    )
)
def test_fuzz_xml_points(points):
    try:
        parse_inbreast_xml(_xml([{"Name": "Mass", "Point_px": points}]), "fuzz.xml")
    except ReaderError:
        pass
