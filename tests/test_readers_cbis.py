"""CBIS-DDSM: CSV quirks, NBIA folder layouts, swapped crop/mask paths, mismatched masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from readers_helpers import LESION, phantom, write_dicom

from stimstudio.core.errors import ReaderError
from stimstudio.core.readers import list_mammograms, read_mammogram
from stimstudio.core.readers.cbis_ddsm import (
    browse_cbis,
    load_cbis_index,
    parse_cbis_csv,
    read_cbis_case,
    resolve_cbis_path,
)

ROWS, COLS = 200, 160
MASS_HEADER = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,"
    "abnormality type,mass shape,mass margins,assessment,pathology,subtlety,"
    "image file path,cropped image file path,ROI mask file path"
)
CALC_HEADER = (
    "patient_id,breast density,left or right breast,image view,abnormality id,"
    "abnormality type,calc type,calc distribution,assessment,pathology,subtlety,"
    "image file path,cropped image file path,ROI mask file path"
)
U = "1.3.6.1.4.1.9590.100.1.2."
MASS_CASE = "Mass-Training_P_00001_LEFT_CC"
CALC_CASE = "Calc-Test_P_00038_LEFT_CC"


def _mask(shape=(ROWS, COLS), center=LESION):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    fx, fy = shape[1] / COLS, shape[0] / ROWS
    x, y, r = center
    return (((xx - x * fx) / fx) ** 2 + ((yy - y * fy) / fy) ** 2 <= r**2).astype(np.uint8) * 255


def _crop(a):
    x, y, r = LESION
    return np.ascontiguousarray(a[y - r - 5 : y + r + 5, x - r - 5 : x + r + 5])


@pytest.fixture
def tree(tmp_path):
    """A CBIS-DDSM download: one case in the new NBIA layout (1-1.dcm, series folder named
    '1.000000-full mammogram images-24515'), one in the old layout the CSV names (000000.dcm);
    both with crop/mask paths swapped in the CSV. Returns (root, image array)."""
    root = tmp_path / "cbis"
    base = root / "CBIS-DDSM"
    a = phantom(ROWS, COLS)
    # new layout, mass case
    full = base / MASS_CASE / "07-20-2016-DDSM-74994" / "1.000000-full mammogram images-24515"
    full.mkdir(parents=True)
    write_dicom(full / "1-1.dcm", a, WindowCenter=2048, WindowWidth=4096, ImageLaterality=None)
    roi = base / (MASS_CASE + "_1") / "08-07-2016-DDSM-90988" / "1.000000-ROI mask images-10011"
    roi.mkdir(parents=True)
    write_dicom(roi / "1-1.dcm", _crop(a))  # crop
    write_dicom(roi / "1-2.dcm", _mask(), bits_stored=8)  # mask (8-bit, values 0/255)
    # old layout, calc case: exact CSV paths
    old = base / CALC_CASE / (U + "222") / (U + "333")
    old.mkdir(parents=True)
    write_dicom(old / "000000.dcm", a)
    roi_old = base / (CALC_CASE + "_1") / (U + "444") / (U + "555")
    roi_old.mkdir(parents=True)
    write_dicom(roi_old / "000000.dcm", _mask(), bits_stored=8)  # the mask ...
    write_dicom(roi_old / "000001.dcm", _crop(a))  # ... and the crop, swapped vs the CSV
    mass_row = (
        f"P_00001,3,LEFT,CC,1,mass,IRREGULAR-ARCHITECTURAL_DISTORTION,SPICULATED,4,MALIGNANT,4,"
        f"{MASS_CASE}/{U}111/{U}24515/000000.dcm,"
        f'"{MASS_CASE}_1/{U}777/{U}10011/000001.dcm\n",'  # crop path names the mask
        f'"{MASS_CASE}_1/{U}777/{U}10011/000000.dcm\n"\n'
    )
    calc_row = (
        f'"P_00038",2,LEFT,CC,1,calcification,PLEOMORPHIC,CLUSTERED,4,BENIGN_WITHOUT_CALLBACK,2,'
        f'"{CALC_CASE}/{U}222/{U}333/000000.dcm",'
        f'"{CALC_CASE}_1/{U}444/{U}555/000000.dcm\n",'
        f'"{CALC_CASE}_1/{U}444/{U}555/000001.dcm\n"\n'
    )
    (root / "mass_case_description_train_set.csv").write_text(MASS_HEADER + "\n" + mass_row)
    (root / "calc_case_description_test_set.csv").write_text(CALC_HEADER + "\n" + calc_row)
    return root, a


def test_csv_quirks_are_normalised(tree):
    root, _ = tree
    recs = load_cbis_index(root)
    assert len(recs) == 2
    calc = next(r for r in recs if r.abnormality_type == "calcification")
    mass = next(r for r in recs if r.abnormality_type == "mass")
    assert calc.density == 2 and mass.density == 3  # 'breast density' vs 'breast_density'
    assert calc.patient_id == "P_00038"  # quotes stripped
    assert not mass.roi_path.endswith("\n") and mass.roi_path.endswith("000000.dcm")
    assert mass.attributes == {
        "shape": "IRREGULAR-ARCHITECTURAL_DISTORTION",
        "margins": "SPICULATED",
    }
    assert calc.attributes == {"calc_type": "PLEOMORPHIC", "calc_distribution": "CLUSTERED"}
    assert calc.pathology == "benign without callback" and calc.split == "test"
    assert mass.split == "train" and mass.image_key == MASS_CASE


def test_browse_filters(tree):
    recs = load_cbis_index(tree[0])
    assert len(browse_cbis(recs, pathology="malignant")) == 1
    assert len(browse_cbis(recs, abnormality_type="calc")) == 1
    assert len(browse_cbis(recs, shape="irregular", margins="spic")) == 1
    assert len(browse_cbis(recs, subtlety=(3, 5))) == 1
    assert len(browse_cbis(recs, split="test")) == 1
    assert browse_cbis(recs, pathology="benign", split="train") == []


def test_new_nbia_layout_is_matched_on_case_and_series(tree):
    root, _ = tree
    rec = next(r for r in load_cbis_index(root) if r.abnormality_type == "mass")
    files = resolve_cbis_path(root, rec.image_path)
    assert [f.name for f in files] == ["1-1.dcm"]
    assert {f.name for f in resolve_cbis_path(root, rec.roi_path)} == {"1-1.dcm", "1-2.dcm"}


@pytest.mark.parametrize("case", [MASS_CASE, CALC_CASE])
def test_case_opens_with_mask_decided_by_content(tree, case):
    root, a = tree
    m = read_cbis_case(root, case)
    assert m.format == "CBIS-DDSM" and np.array_equal(m.raw, a)
    assert len(m.lesions) == 1
    les = m.lesions[0]
    full = les.to_mask(m.shape).astype(bool)
    assert np.array_equal(full, _mask() > 0)
    x, y, r = LESION
    assert les.bbox() == (x - r, y - r, x + r, y + r)
    assert les.polygon is not None and len(les.polygon) > 8
    assert m.laterality == "L" and m.view == "CC"
    # with the exact (old-layout) paths the swap is visible; in the new layout both paths
    # lead to one series folder holding both files, and content alone decides
    assert any("swapped" in n for n in m.notes) == (case == CALC_CASE)


def test_read_mammogram_on_a_file_inside_the_tree(tree):
    root, _ = tree
    f = next((root / "CBIS-DDSM" / MASS_CASE).rglob("*.dcm"))
    m = read_mammogram(f)
    assert m.format == "CBIS-DDSM" and m.lesions[0].pathology == "malignant"
    assert m.lesions[0].attributes["subtlety"] == 4
    crop = next((root / "CBIS-DDSM" / (MASS_CASE + "_1")).rglob("1-1.dcm"))
    c = read_mammogram(crop)
    assert any("cropped image or ROI mask" in n for n in c.notes)


def test_list_mammograms_skips_crops_and_masks(tree):
    names = [p.parent.parent.parent.name for p in list_mammograms(tree[0])]
    assert sorted(names) == sorted([MASS_CASE, CALC_CASE])


def test_mask_of_other_size_same_aspect_is_resampled(tree):
    root, _ = tree
    mask_file = next((root / "CBIS-DDSM" / (MASS_CASE + "_1")).rglob("1-2.dcm"))
    write_dicom(mask_file, _mask((ROWS * 2, COLS * 2)), bits_stored=8)
    m = read_cbis_case(root, MASS_CASE)
    assert any("resampled" in n for n in m.notes)
    got = m.lesions[0].to_mask(m.shape).astype(bool)
    assert (got != (_mask() > 0)).mean() < 0.01


def test_mask_of_other_aspect_is_refused(tree):
    root, _ = tree
    mask_file = next((root / "CBIS-DDSM" / (MASS_CASE + "_1")).rglob("1-2.dcm"))
    square = (np.eye(ROWS) * 255).astype(np.uint8)
    write_dicom(mask_file, square, bits_stored=8)
    with pytest.raises(ReaderError, match="another aspect ratio"):
        read_cbis_case(root, MASS_CASE)


def test_missing_mask_is_named(tree):
    root, _ = tree
    for f in (root / "CBIS-DDSM" / (MASS_CASE + "_1")).rglob("*.dcm"):
        f.unlink()
    with pytest.raises(ReaderError, match=r"mass_case_description_train_set.csv row 2 .*no ROI"):
        read_cbis_case(root, MASS_CASE)


def test_csv_missing_columns():
    with pytest.raises(ReaderError, match="missing column.*'roi_mask_file_path'"):
        parse_cbis_csv(
            "patient_id,left or right breast,image view,abnormality id,"
            "abnormality type,pathology,image file path,cropped image file path\n",
            "x.csv",
        )


def test_unknown_case(tree):
    with pytest.raises(ReaderError, match="not listed"):
        read_cbis_case(tree[0], "Mass-Test_P_99999_LEFT_CC")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from([MASS_HEADER + "\n", CALC_HEADER + "\n", ""]))
def test_fuzz_csv_parser(text, header):
    try:
        parse_cbis_csv(header + text, "fuzz.csv")
    except ReaderError:
        pass
