"""INbreast: DICOM full-field mammograms + OsiriX XML plist ROIs + `INbreast.csv`.

Files are named `<id>_<hash>_MG_<L|R>_<CC|ML|MLO>_ANON.dcm`; the ROIs of image `<id>` are in
`AllXML/<id>.xml` (an Apple plist: Images -> ROIs -> Name, NumberOfPoints, Point_px as
"(x, y)" strings). ROIs of at most 2 points are calcification points. `INbreast.csv` is
semicolon separated (Patient ID; Patient age; Laterality; View; Acquisition date; File Name;
ACR; Bi-Rads).
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


def parse_inbreast_csv(text: str, name: str = "INbreast.csv") -> dict[str, dict]:
    """{file name id: {'acr', 'birads', 'laterality', 'view', 'age'}} from `INbreast.csv`."""
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if not rows:
        raise ReaderError(f"{name} is empty")
    header = [h.strip().lower() for h in rows[0]]
    need = {"file name": None, "bi-rads": None, "acr": None}
    for k in need:
        if k not in header:
            raise ReaderError(f"{name} has no '{k}' column (header: {';'.join(rows[0])[:120]})")
        need[k] = header.index(k)
    opt = {
        k: header.index(k) if k in header else None for k in ("laterality", "view", "patient age")
    }
    out = {}
    for row in rows[1:]:
        if len(row) <= max(need.values()):
            continue
        fid = row[need["file name"]].strip()
        if not fid:
            continue
        rec = {
            "acr": row[need["acr"]].strip() or None,
            "birads": row[need["bi-rads"]].strip() or None,
        }
        for k, j in opt.items():
            if j is not None and j < len(row):
                rec[k.replace("patient ", "")] = row[j].strip() or None
        out[fid] = rec
    return out


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
    table = _find(path, ["INbreast.csv"])
    if table is not None:
        rec = parse_inbreast_csv(read_text(table, "INbreast table"), table.name).get(fid)
        if rec:
            mammo.info.update(acr_density=rec.get("acr"), birads=rec.get("birads"))
            for les in mammo.lesions:
                les.attributes["birads"] = rec.get("birads")
    return mammo
