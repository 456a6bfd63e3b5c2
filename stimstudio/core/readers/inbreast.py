"""INbreast: DICOM full-field mammograms + OsiriX XML plist ROIs + `INbreast.csv`.

Files are named `<id>_<hash>_MG_<L|R>_<CC|ML|MLO>_ANON.dcm`; the ROIs of image `<id>` are in
`AllXML/<id>.xml` (an Apple plist: Images -> ROIs -> Name, NumberOfPoints, Point_px as
"(x, y)" strings). ROIs of at most 2 points are calcification points. `INbreast.csv` is
semicolon separated (Patient ID; Patient age; Laterality; View; Acquisition date; File Name;
ACR; Bi-Rads); the official `INbreast.xls` has the same columns (and Mass, Micros, Distortion,
Asymmetry, ...) with summary rows after the 410 images, which are not images. Cells reading
NA, N/A, empty or 'removed' (the anonymised patient columns) are missing values.
"""

from __future__ import annotations

import csv
import io
import plistlib
import re
import xml.parsers.expat
from pathlib import Path

import numpy as np

from ..errors import ReaderError
from ..mammogram import Lesion, Mammogram
from ._util import read_text

NAME_RE = re.compile(r"^(\d+)_[0-9a-f]+_MG_([LR])_(CC|MLO|ML|FB|XCC|LM)_ANON\.dcm$", re.IGNORECASE)
POINT_RE = re.compile(r"\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*(?:,\s*[-+0-9.eE]+\s*)?\)")
KINDS = {
    "mass": "mass",
    "calcification": "calcification",
    "calcifications": "calcification",
    "cluster": "calcification cluster",
    "asymmetry": "asymmetry",
    "distortion": "distortion",
    "spiculated region": "spiculated region",
    "espiculated region": "spiculated region",
}


def parse_inbreast_xml(data: bytes, name: str = "ROI XML") -> list[dict]:
    """ROIs of an INbreast XML plist: [{'name', 'points' [K, 2] (x, y), 'index'}]."""
    try:
        root = plistlib.loads(data, fmt=plistlib.FMT_XML)
    except (plistlib.InvalidFileException, xml.parsers.expat.ExpatError) as exc:
        raise ReaderError(f"{name}: not a readable OsiriX XML plist ({exc})") from exc
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as exc:
        raise ReaderError(f"{name}: damaged OsiriX XML plist ({type(exc).__name__})") from exc
    if not isinstance(root, dict) or not isinstance(root.get("Images"), list):
        raise ReaderError(f"{name}: XML plist has no 'Images' array of ROIs")
    rois = []
    for img in root["Images"]:
        if not isinstance(img, dict):
            continue
        for i, roi in enumerate(img.get("ROIs") or []):
            if not isinstance(roi, dict):
                raise ReaderError(f"{name}: ROI {i + 1} is not a dictionary")
            pts_raw = roi.get("Point_px")
            if not isinstance(pts_raw, list):
                raise ReaderError(f"{name}: ROI {i + 1} has no Point_px list")
            pts = []
            for s in pts_raw:
                m = POINT_RE.search(str(s))
                if not m:
                    raise ReaderError(f"{name}: ROI {i + 1} has a point {str(s)[:40]!r}")
                try:
                    x, y = float(m.group(1)), float(m.group(2))
                except ValueError as exc:
                    raise ReaderError(f"{name}: ROI {i + 1} has a point {str(s)[:40]!r}") from exc
                if not (np.isfinite(x) and np.isfinite(y)):
                    raise ReaderError(f"{name}: ROI {i + 1} has a non-finite point")
                pts.append((x, y))
            rois.append(
                {
                    "name": str(roi.get("Name", "") or "").strip(),
                    "points": np.asarray(pts, np.float64).reshape(-1, 2),
                    "index": roi.get("IndexInImage", i),
                    "declared_points": roi.get("NumberOfPoints"),
                }
            )
    return rois


def rois_to_lesions(rois: list[dict]) -> list[Lesion]:
    out = []
    for r in rois:
        pts = r["points"]
        if len(pts) == 0:
            continue
        kind = KINDS.get(r["name"].lower(), r["name"].lower() or "unknown")
        attrs = {"roi_name": r["name"]}
        if len(pts) <= 2:  # calcification points (a point, or a tiny two-point segment)
            c = pts.mean(axis=0)
            rad = max(1.5, float(np.linalg.norm(pts[0] - pts[-1])) / 2)
            attrs["point"] = True
            out.append(
                Lesion(
                    kind="calcification",
                    center=(float(c[0]), float(c[1])),
                    radius=rad,
                    attributes=attrs,
                )
            )
        else:
            out.append(Lesion(kind=kind, polygon=pts, attributes=attrs))
    return out


INBREAST_MISSING = {"", "na", "n/a", "nan", "none", "null", "-", "removed", "#n/a"}
FILE_ID_RE = re.compile(r"^\d{6,10}$")


def _ib_cell(v) -> str | None:
    """A cell as text; NA / N/A / empty / INbreast's 'removed' are missing (None)."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # xlrd gives numbers as floats: 22678622.0 -> "22678622"
    text = str(v).strip()
    return None if text.lower() in INBREAST_MISSING else text


def parse_inbreast_rows(rows: list[list], name: str = "INbreast table") -> dict[str, dict]:
    """{file name id: {'acr', 'birads', 'laterality', 'view', 'age', ...}} from the rows of
    `INbreast.csv` or the sheet of `INbreast.xls` (header first). Rows whose File Name is not
    an image id (the summary rows at the end of the sheet) are left out."""
    if not rows:
        raise ReaderError(f"{name} is empty")
    header = [str(h if h is not None else "").strip().lower() for h in rows[0]]
    need = {"file name": None, "bi-rads": None, "acr": None}
    for k in need:
        if k not in header:
            shown = ";".join(str(h) for h in rows[0])[:120]
            raise ReaderError(f"{name} has no '{k}' column (header: {shown})")
        need[k] = header.index(k)
    opt = {
        k: header.index(k) if k in header else None
        for k in ("laterality", "view", "patient age", "patient id", "acquisition date")
    }
    findings = [h for h in ("mass", "micros", "distortion", "asymmetry") if h in header]
    out = {}
    for row in rows[1:]:
        row = list(row)
        if len(row) <= max(need.values()):
            continue
        fid = _ib_cell(row[need["file name"]])
        if not fid or not FILE_ID_RE.match(fid):
            continue  # an empty line or a summary row, not an image
        rec = {"acr": _ib_cell(row[need["acr"]]), "birads": _ib_cell(row[need["bi-rads"]])}
        for k, j in opt.items():
            if j is not None and j < len(row):
                rec[k.replace("patient ", "").replace(" ", "_")] = _ib_cell(row[j])
        for k in findings:
            j = header.index(k)
            rec[k] = _ib_cell(row[j]) if j < len(row) else None
        out[fid] = rec
    return out


def parse_inbreast_csv(text: str, name: str = "INbreast.csv") -> dict[str, dict]:
    """`INbreast.csv` (semicolon separated; a comma-separated export is read too)."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    try:
        rows = list(csv.reader(io.StringIO(text.replace("\x00", "")), delimiter=delimiter))
    except csv.Error as exc:
        raise ReaderError(f"{name}: not a readable CSV file ({exc})") from exc
    return parse_inbreast_rows(rows, name)


def read_xls_rows(path: Path) -> list[list]:
    """The first sheet of an `.xls` workbook as rows of cell values (xlrd)."""
    try:
        import xlrd
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ReaderError(f"{path.name}: reading .xls needs the xlrd package") from exc
    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
        try:
            sheet = book.sheet_by_index(0)
            return [sheet.row_values(i) for i in range(sheet.nrows)]
        finally:
            book.release_resources()
    except xlrd.XLRDError as exc:
        raise ReaderError(f"{path.name}: not a readable .xls workbook ({exc})") from exc
    except (OSError, ValueError, IndexError, KeyError, AssertionError, EOFError) as exc:
        raise ReaderError(f"{path.name}: damaged .xls workbook ({type(exc).__name__})") from exc


def read_inbreast_table(path: str | Path) -> dict[str, dict]:
    """`INbreast.csv` or the official `INbreast.xls`, by suffix."""
    path = Path(path)
    if path.suffix.lower() == ".xls":
        return parse_inbreast_rows(read_xls_rows(path), path.name)
    return parse_inbreast_csv(read_text(path, "CSV"), path.name)


def is_inbreast(path: Path) -> bool:
    return bool(NAME_RE.match(path.name))


def _find(path: Path, names: list[str]) -> Path | None:
    for base in (path.parent, path.parent.parent):
        for sub in ("", "AllXML", "XML"):
            for n in names:
                cand = base / sub / n if sub else base / n
                if cand.is_file():
                    return cand
    return None


def read_inbreast(path: str | Path, **dicom_options) -> Mammogram:
    from .dicom import read_dicom

    path = Path(path)
    m = NAME_RE.match(path.name)
    if not m:
        raise ReaderError(f"{path.name}: not an INbreast file name (<id>_<hash>_MG_L_CC_ANON.dcm)")
    fid, lat, view = m.group(1), m.group(2).upper(), m.group(3).upper()
    mammo = read_dicom(path, **dicom_options)
    mammo.format = "INbreast"
    mammo.laterality = mammo.laterality or lat
    mammo.view = mammo.view or view
    mammo.info["inbreast_id"] = fid
    xml = _find(path, [f"{fid}.xml", f"{fid}.XML"])
    if xml is not None:
        try:
            data = xml.read_bytes()
        except OSError as exc:
            raise ReaderError(f"{xml.name}: cannot read ({exc.strerror})") from exc
        rois = parse_inbreast_xml(data, xml.name)
        mammo.lesions = rois_to_lesions(rois)
        h, w = mammo.shape
        for r in rois:
            p = r["points"]
            if len(p) and (p.min() < -1 or p[:, 0].max() > w + 1 or p[:, 1].max() > h + 1):
                mammo.notes.append(f"{xml.name}: ROI '{r['name']}' lies partly outside the image")
                break
        mammo.info["roi_xml"] = str(xml)
    else:
        mammo.notes.append(f"no ROI file {fid}.xml found (looked beside the image and in AllXML)")
    table = _find(path, ["INbreast.csv", "INbreast.xls"])
    if table is not None:
        rec = read_inbreast_table(table).get(fid)
        if rec:
            mammo.info.update(acr_density=rec.get("acr"), birads=rec.get("birads"))
            for les in mammo.lesions:
                les.attributes["birads"] = rec.get("birads")
    return mammo
