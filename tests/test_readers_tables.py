"""`stimstudio info TABLE`: CBIS-DDSM case-description CSVs (both releases' headers) and
INbreast's CSV and XLS, with missing values as missing; every parser fuzzed."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_readers_cbis import tree  # noqa: F401  (fixture)

from stimstudio.cli.main import main
from stimstudio.core.errors import ReaderError
from stimstudio.core.readers.cbis_ddsm import load_cbis_index, parse_cbis_csv
from stimstudio.core.readers.inbreast import (
    parse_inbreast_csv,
    parse_inbreast_rows,
    read_inbreast_table,
)
from stimstudio.core.readers.tables import summarize_table

CURRENT = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,"
    "mass shape,mass margins,assessment,pathology,subtlety,image file path,"
    "cropped image file path,ROI mask file path\n"
    "P_00001,3,LEFT,CC,1,mass,IRREGULAR,SPICULATED,4,MALIGNANT,4,"
    "Mass-Training_P_00001_LEFT_CC/1.2/1.3/000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_1/1.4/1.5/000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_1/1.4/1.5/000001.dcm\n"
    "P_00001,3,LEFT,CC,2,mass,OVAL,CIRCUMSCRIBED,3,BENIGN,NA,"
    "Mass-Training_P_00001_LEFT_CC/1.2/1.3/000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_2/1.6/1.7/000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_2/1.6/1.7/000001.dcm\n"
    "P_00004,N/A,RIGHT,MLO,1,mass,LOBULATED,,4,BENIGN_WITHOUT_CALLBACK,3,"
    "Mass-Training_P_00004_RIGHT_MLO/1.8/1.9/000000.dcm,"
    "Mass-Training_P_00004_RIGHT_MLO_1/2.1/2.2/000000.dcm,"
    "Mass-Training_P_00004_RIGHT_MLO_1/2.1/2.2/000001.dcm\n"
)
# the 2017 release: other names, crop before image? no: its own order; backslashes; N/A
OLD_2017 = (
    "patient_id,breast_density,side,view,abn_num,abnormality_type,mass_shape,mass_margins,"
    "assessment,pathology,subtlety,od_img_path,od_crop_path,mask_path\n"
    "P_00001,3,LEFT,CC,1,mass,IRREGULAR,SPICULATED,4,MALIGNANT,4,"
    "Mass-Training_P_00001_LEFT_CC\\1.2\\1.3\\000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_1\\1.4\\1.5\\000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_1\\1.4\\1.5\\000001.dcm\n"
    "P_00009,N/A,RIGHT,MLO,1,calcification,N/A,N/A,3,BENIGN,N/A,"
    "Calc-Training_P_00009_RIGHT_MLO\\2.2\\2.3\\000000.dcm,"
    "Calc-Training_P_00009_RIGHT_MLO_1\\2.4\\2.5\\000000.dcm,"
    "Calc-Training_P_00009_RIGHT_MLO_1\\2.4\\2.5\\000001.dcm\n"
)
# the same without patient and type columns: both come from the paths
OLD_2017_LEAN = (
    "side,view,abn_num,mass_shape,mass_margins,assessment,pathology,subtlety,"
    "od_img_path,od_crop_path,mask_path\n"
    "LEFT,CC,1,IRREGULAR,SPICULATED,4,MALIGNANT,4,"
    "Mass-Training_P_00001_LEFT_CC\\1.2\\1.3\\000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_1\\1.4\\1.5\\000000.dcm,"
    "Mass-Training_P_00001_LEFT_CC_1\\1.4\\1.5\\000001.dcm\n"
)
IB_HEADER = [
    "Patient ID",
    "Patient age",
    "Laterality",
    "View",
    "Acquisition date",
    "File Name",
    "ACR",
    "Bi-Rads",
    "Mass",
    "Micros",
]
IB_ROWS = [
    ["removed", "removed", "R", "CC", "201001", "22678622", "4", "1", "", ""],
    ["removed", "removed", "L", "MLO", "201001", "22678646", "2", "4c", "X", ""],
    ["removed", "NA", "L", "CC", "201003", "20587902", "N/A", "2", "", "X"],
]
IB_SUMMARY = [
    ["", "", "", "", "", "Total", "", "", "2", "1"],
    ["", "", "", "", "", "", "", "", "", ""],
]


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


def _xls(tmp_path, rows) -> object:
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheet = book.add_sheet("INbreast")
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            # numbers as numbers, as in the official sheet (file names are numeric cells)
            sheet.write(i, j, float(v) if v.isdigit() else v)
    p = tmp_path / "INbreast.xls"
    book.save(str(p))
    return p


# -- CBIS-DDSM ----------------------------------------------------------------------------------


def test_both_cbis_headers_give_the_same_records():
    cur = parse_cbis_csv(CURRENT, "mass_case_description_train_set.csv")
    old = parse_cbis_csv(OLD_2017, "mass_case_description_train_set.csv")
    assert (cur[0].image_path, cur[0].crop_path, cur[0].roi_path) == (
        old[0].image_path,
        old[0].crop_path,
        old[0].roi_path,
    )
    assert old[0].laterality == "L" and old[0].view == "CC" and old[0].abnormality_id == 1
    assert "\\" not in old[1].image_path
    calc = old[1]
    assert calc.abnormality_type == "calcification" and calc.density is None
    assert calc.subtlety is None and calc.attributes == {}  # N/A is missing, not "N/A"
    assert cur[1].subtlety is None and cur[2].density is None  # NA, N/A


def test_lean_2017_header_takes_patient_and_type_from_the_paths():
    (r,) = parse_cbis_csv(OLD_2017_LEAN, "old.csv")
    assert r.patient_id == "P_00001" and r.abnormality_type == "mass"


def test_info_on_cbis_tables(tmp_path, capsys):
    for name, text, header in (("cur.csv", CURRENT, "current"), ("old.csv", OLD_2017, "2017")):
        p = _write(tmp_path, name, text)
        assert main(["info", str(p), "--json"]) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["table"] == "CBIS-DDSM case description" and header in d["header"]
        assert [c["role"] for c in d["path_columns"]] == ["image", "crop", "ROI mask"]
    assert d["records"] == 2 and d["patients"] == 2 and d["images"] == 2
    assert d["lesions_by_type"] == {"calcification": 1, "mass": 1}
    assert d["lesions_by_pathology"] == {"benign": 1, "malignant": 1}
    assert d["missing"]["breast_density"] == 1 and d["missing"]["subtlety"] == 1
    p = _write(tmp_path, "cur2.csv", CURRENT)
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "records:     3" in out and "patients:    2" in out and "images:      2" in out
    assert "mass 3" in out and "benign without callback 1" in out
    assert "image = 'image file path' (#12), crop = 'cropped image file path' (#13)" in out


def test_dataset_tree_with_2017_csv_loads(tmp_path):
    _write(tmp_path, "mass_case_description_train_set.csv", OLD_2017)
    recs = load_cbis_index(tmp_path)
    assert len(recs) == 2 and recs[0].split == "train"


# -- INbreast ---------------------------------------------------------------------------------


def test_inbreast_csv_missing_values_and_summary_rows(tmp_path, capsys):
    rows = [IB_HEADER, *IB_ROWS, *IB_SUMMARY]
    text = "\n".join(";".join(r) for r in rows) + "\n"
    recs = parse_inbreast_csv(text)
    assert sorted(recs) == ["20587902", "22678622", "22678646"]  # "Total" is not an image
    assert recs["22678622"]["id"] is None and recs["22678622"]["age"] is None  # removed
    assert recs["20587902"]["acr"] is None  # N/A
    assert recs["22678646"]["birads"] == "4c" and recs["22678646"]["mass"] == "X"
    p = _write(tmp_path, "INbreast.csv", text)
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "table:       INbreast CSV" in out and "records:     3" in out
    assert "not images:  1 row(s)" in out and "patients:    not given (removed)" in out
    assert "BI-RADS:     1 1, 2 1, 4c 1" in out and "findings:    mass 1, micros 1" in out


def test_inbreast_xls(tmp_path, capsys):
    p = _xls(tmp_path, [IB_HEADER, *IB_ROWS, *IB_SUMMARY])
    recs = read_inbreast_table(p)
    assert sorted(recs) == ["20587902", "22678622", "22678646"]  # numeric cells, no ".0"
    assert recs["22678622"]["laterality"] == "R" and recs["22678622"]["id"] is None
    assert main(["info", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["table"] == "INbreast XLS" and d["records"] == 3 and d["not_images"] == 1
    assert d["acr_density"] == {"2": 1, "4": 1, "missing": 1}


def test_inbreast_reader_uses_the_xls_beside_the_images(tmp_path):
    from readers_helpers import phantom, write_dicom

    from stimstudio.core.readers import read_mammogram

    _xls(tmp_path, [IB_HEADER, *IB_ROWS])
    p = write_dicom(tmp_path / "22678646_abcdef0123_MG_L_MLO_ANON.dcm", phantom())
    m = read_mammogram(p)
    assert m.format == "INbreast" and m.info["birads"] == "4c" and m.info["acr_density"] == "2"


# -- what is not a known table: one line ------------------------------------------------------


@pytest.mark.parametrize(
    "name,data,match",
    [
        ("a.csv", "x,y,z\n1,2,3\n", "not a table StimStudio knows.*x, y, z"),
        ("b.xls", "not a workbook", r"b.xls: (not a readable|damaged) .xls"),
        ("c.xlsx", "PK", "xlsx workbooks are not read"),
        ("d.csv", "", "not a table StimStudio knows"),
    ],
)
def test_other_tables_are_one_line(tmp_path, capsys, name, data, match):
    p = _write(tmp_path, name, data)
    with pytest.raises(ReaderError, match=match):
        summarize_table(p)
    assert main(["info", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stimstudio: error: ")


# -- fuzzing: every table parser only ever raises ReaderError -----------------------------------

CELLS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(CELLS, max_size=15), max_size=6), variant=st.sampled_from([0, 1]))
def test_fuzz_cbis_csv(rows, variant):
    header = (OLD_2017 if variant else CURRENT).split("\n", 1)[0]
    text = header + "\n" + "\n".join(",".join(r) for r in rows)
    try:
        parse_cbis_csv(text, "fuzz.csv")
    except ReaderError:
        pass


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.one_of(CELLS, st.floats(allow_nan=True), st.none()), max_size=12), max_size=8
    )
)
def test_fuzz_inbreast_rows(rows):
    try:
        parse_inbreast_rows([IB_HEADER, *rows], "fuzz")
    except ReaderError:
        pass
    try:
        parse_inbreast_csv("\n".join(";".join(str(c) for c in r) for r in rows))
    except ReaderError:
        pass


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(max_size=400),
    head=st.sampled_from(
        [CURRENT.split("\n", 1)[0], OLD_2017.split("\n", 1)[0], ";".join(IB_HEADER), ""]
    ),
    suffix=st.sampled_from([".csv", ".xls"]),
)
def test_fuzz_summarize_table(tmp_path_factory, text, head, suffix):
    p = tmp_path_factory.mktemp("t") / f"t{suffix}"
    p.write_text(head + "\n" + text, encoding="utf-8", errors="surrogatepass")
    try:
        summarize_table(p)
    except ReaderError:
        pass


def test_cbis_tree_with_2017_headers_reads_lesions(tree):  # noqa: F811
    """The same download with its CSVs in the 2017 release's header and backslash paths."""
    from stimstudio.core.readers import read_mammogram

    root, _ = tree
    old_names = {
        "left or right breast": "side",
        "image view": "view",
        "abnormality id": "abn_num",
        "abnormality type": "abnormality_type",
        "cropped image file path": "od_crop_path",  # before "image file path"
        "ROI mask file path": "mask_path",
        "image file path": "od_img_path",
    }
    for csv_path in root.glob("*case_description*.csv"):
        head, body = csv_path.read_text().split("\n", 1)
        for new, old in old_names.items():
            head = head.replace(new, old)
        csv_path.write_text(head + "\n" + body.replace("/", "\\"))
        assert summarize_table(csv_path)["header"].startswith("2017")
    f = next((root / "CBIS-DDSM" / "Mass-Training_P_00001_LEFT_CC").rglob("*.dcm"))
    m = read_mammogram(f)
    assert m.format == "CBIS-DDSM" and m.lesions[0].pathology == "malignant"
