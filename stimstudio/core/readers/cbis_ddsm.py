"""CBIS-DDSM (Curated Breast Imaging Subset of DDSM, TCIA): DICOM images + four CSV files.

`mass_case_description_{train,test}_set.csv` and `calc_case_description_{train,test}_set.csv`
describe one abnormality per row. Quirks this module survives:

- headers differ between files (`breast_density` in mass files, `breast density` in calc
  files; spaces vs underscores), cells carry quotes and trailing newlines;
- the CSV paths (`Mass-Training_P_00001_LEFT_CC/<study uid>/<series uid>/000000.dcm`) do not
  match the folders NBIA writes (`.../07-20-2016-DDSM-74994/1.000000-full mammogram
  images-24515/1-1.dcm`): files are matched on the case folder and the series (its UID, or the
  last 5 digits NBIA puts at the end of the series folder name);
- cropped-image and ROI-mask paths are swapped in many rows: which file is the mask is decided
  by content (a mask holds only two values, 0 and 255, and has the full image's shape);
- masks whose size differs from their image: resampled (nearest) with a note when the aspect
  ratio agrees, refused with a clear error when it does not.

`load_cbis_index(root)` reads all CSVs under a root, `browse_cbis` filters the records
(pathology, type, shape, margins, subtlety, split), `read_cbis_case` opens one image with its
lesions, and `read_mammogram` does the same when given a full-image DICOM inside the tree.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import ReaderError
from ..mammogram import Lesion, Mammogram
from ._util import read_text, subsample

CASE_RE = re.compile(
    r"^(Mass|Calc)-(Training|Test)_(P_\d+)_(LEFT|RIGHT)_(CC|MLO)(?:_(\d+))?$", re.IGNORECASE
)
REQUIRED = (
    "patient_id",
    "left_or_right_breast",
    "image_view",
    "abnormality_id",
    "abnormality_type",
    "pathology",
    "image_file_path",
    "cropped_image_file_path",
    "roi_mask_file_path",
)
ASPECT_TOLERANCE = 0.02


@dataclass
class CbisRecord:
    """One row of a CBIS-DDSM case-description CSV (one abnormality)."""

    patient_id: str
    laterality: str  # "L" | "R"
    view: str
    abnormality_id: int
    abnormality_type: str  # "mass" | "calcification"
    pathology: str
    image_path: str
    crop_path: str
    roi_path: str
    assessment: int | None = None
    subtlety: int | None = None
    density: int | None = None
    attributes: dict = field(default_factory=dict)  # mass shape/margins, calc type/distribution
    csv: str = ""
    row: int = 0
    split: str = ""  # "train" | "test"

    @property
    def image_key(self) -> str:
        """The case folder of the full image, e.g. Mass-Training_P_00001_LEFT_CC."""
        return self.image_path.replace("\\", "/").split("/")[0]


# The 2017 release's header names (`side, view, abn_num, ..., od_img_path, od_crop_path,
# mask_path`) for the columns the current release calls by the REQUIRED names.
HEADER_ALIASES = {
    "side": "left_or_right_breast",
    "view": "image_view",
    "abn_num": "abnormality_id",
    "od_img_path": "image_file_path",
    "od_crop_path": "cropped_image_file_path",
    "mask_path": "roi_mask_file_path",
    "density": "breast_density",
}
# cells that mean "no value" in the tables users have (CBIS-DDSM, INbreast)
MISSING = {"", "na", "n/a", "nan", "none", "null", "-", "removed", "#n/a"}
PATIENT_RE = re.compile(r"(P_\d{5})", re.IGNORECASE)


def _norm_header(h: str) -> str:
    key = re.sub(r"[\s_]+", "_", h.strip().strip('"').strip().lower().lstrip("\ufeff"))
    return HEADER_ALIASES.get(key, key)


def _cell(v) -> str:
    """A cell's text; every spelling of "no value" (NA, N/A, empty, removed) becomes ""."""
    text = str(v if v is not None else "").strip().strip('"').strip()
    return "" if text.lower() in MISSING else text


def _int(v: str) -> int | None:
    try:
        return int(float(v))
    except (ValueError, OverflowError):
        return None


def cbis_header_variant(header: list[str]) -> str | None:
    """'2017' (side, view, abn_num, od_*_path), 'current', or None (not a CBIS-DDSM CSV)."""
    keys = {re.sub(r"[\s_]+", "_", h.strip().strip('"').strip().lower()) for h in header}
    if {"od_img_path", "mask_path"} <= keys:
        return "2017"
    if {"image_file_path", "roi_mask_file_path"} <= keys:
        return "current"
    return None


def parse_cbis_csv(text: str, name: str = "CBIS-DDSM CSV") -> list[CbisRecord]:
    """Records of one case-description CSV, in either release's header; ReaderError names
    missing columns. NA / N/A / empty cells are missing values."""
    try:
        rows = list(csv.reader(io.StringIO(text.replace("\x00", ""))))
    except csv.Error as exc:
        raise ReaderError(f"{name}: not a readable CSV file ({exc})") from exc
    if not rows:
        raise ReaderError(f"{name} is empty")
    header = [_norm_header(h) for h in rows[0]]
    # the 2017 release may lack a patient column (the id is in every path) or a type column
    optional = {"patient_id", "abnormality_type"}
    missing = [c for c in REQUIRED if c not in header and c not in optional]
    if missing:
        raise ReaderError(
            f"{name} is missing column(s) {', '.join(repr(m) for m in missing)}; is it a "
            "CBIS-DDSM case-description CSV?"
        )
    split = "test" if "test" in name.lower() else ("train" if "train" in name.lower() else "")
    idx = {h: i for i, h in enumerate(header)}
    out = []
    for r, row in enumerate(rows[1:], 2):
        if not any(_cell(c) for c in row):
            continue
        if len(row) < len(header):
            raise ReaderError(f"{name} row {r} has {len(row)} cells, the header {len(header)}")
        c = {h: _cell(row[i]) for h, i in idx.items()}
        image_path = c["image_file_path"].replace("\\", "/")
        kind = c.get("abnormality_type", "").lower()
        if not kind:  # from the case folder (Mass-Training_..., Calc-Test_...) or the file name
            head = (image_path.split("/")[0] + " " + name).lower()
            kind = "mass" if "mass" in head else ("calcification" if "calc" in head else "")
        kind = "calcification" if kind.startswith("calc") else kind
        attrs = {}
        for key in ("mass_shape", "mass_margins", "calc_type", "calc_distribution"):
            if c.get(key):
                attrs[key.split("_", 1)[1] if key.startswith("mass") else key] = c[key]
        lat = c["left_or_right_breast"].upper()[:1]
        patient = c.get("patient_id", "")
        if not patient:
            m = PATIENT_RE.search(image_path)
            patient = m.group(1).upper() if m else ""
        out.append(
            CbisRecord(
                patient_id=patient,
                laterality=lat if lat in ("L", "R") else "",
                view=c["image_view"].upper(),
                abnormality_id=_int(c["abnormality_id"]) or 1,
                abnormality_type=kind,
                pathology=c["pathology"].lower().replace("_", " "),
                image_path=image_path,
                crop_path=c["cropped_image_file_path"].replace("\\", "/"),
                roi_path=c["roi_mask_file_path"].replace("\\", "/"),
                assessment=_int(c.get("assessment", "")),
                subtlety=_int(c.get("subtlety", "")),
                density=_int(c.get("breast_density", "")),
                attributes=attrs,
                csv=name,
                row=r,
                split=split,
            )
        )
    return out


def find_csvs(root: Path, depth: int = 2) -> list[Path]:
    out: list[Path] = []
    level = [root]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            try:
                entries = list(d.iterdir())
            except OSError:
                continue
            for p in entries:
                if p.is_file() and "case_description" in p.name.lower() and p.suffix == ".csv":
                    out.append(p)
                elif p.is_dir() and not CASE_RE.match(p.name):
                    nxt.append(p)
        level = nxt
    return sorted(out)


def load_cbis_index(root: str | Path) -> list[CbisRecord]:
    """All records of the case-description CSVs under `root` (or the CSV file given)."""
    root = Path(root)
    files = [root] if root.is_file() else find_csvs(root)
    if not files:
        raise ReaderError(f"no CBIS-DDSM *_case_description_*.csv found under {root}")
    records: list[CbisRecord] = []
    for f in files:
        records += parse_cbis_csv(read_text(f, "CSV"), f.name)
    return records


def browse_cbis(
    records: list[CbisRecord],
    pathology: str | None = None,
    abnormality_type: str | None = None,
    shape: str | None = None,
    margins: str | None = None,
    subtlety: int | tuple[int, int] | None = None,
    split: str | None = None,
) -> list[CbisRecord]:
    """Filter records; text filters match case-insensitively as substrings."""

    def has(value: str | None, want: str | None) -> bool:
        return want is None or (value is not None and want.lower() in value.lower())

    out = []
    for r in records:
        if not has(r.pathology, pathology) or not has(r.abnormality_type, abnormality_type):
            continue
        if not has(r.attributes.get("shape"), shape):
            continue
        if not has(r.attributes.get("margins"), margins) or not has(r.split, split):
            continue
        if subtlety is not None:
            lo, hi = (subtlety, subtlety) if isinstance(subtlety, int) else subtlety
            if r.subtlety is None or not lo <= r.subtlety <= hi:
                continue
        out.append(r)
    return out


# ---- paths -----------------------------------------------------------------------------


def _case_dirs(root: Path, case: str) -> list[Path]:
    return [d for d in (root / case, root / "CBIS-DDSM" / case) if d.is_dir()]


def resolve_cbis_path(root: str | Path, csv_path: str) -> list[Path]:
    """Files that a CSV path names: the exact path, or the DICOM files of the same case folder
    and series in the layout NBIA actually writes. Empty when nothing matches."""
    root = Path(root)
    rel = csv_path.strip().replace("\\", "/").strip("/")
    for base in (root, root / "CBIS-DDSM"):
        cand = base / rel
        if cand.is_file():
            return [cand]
    parts = rel.split("/")
    series = parts[2] if len(parts) >= 4 else (parts[-2] if len(parts) >= 2 else "")
    for case_dir in _case_dirs(root, parts[0]):
        files = sorted(p for p in case_dir.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")
        if series:
            tail = series.rsplit(".", 1)[-1][-5:]
            same = [
                f
                for f in files
                if any(
                    d == series or (tail and d.endswith(f"-{tail}"))
                    for d in f.relative_to(case_dir).parts[:-1]
                )
            ]
            if same:
                return same
        if files:
            return files
    return []


def case_root(path: Path) -> tuple[Path, str] | None:
    """(root of the tree, case folder name) for a file inside a CBIS-DDSM case folder."""
    for parent in path.parents:
        if CASE_RE.match(parent.name):
            root = parent.parent
            if root.name.upper() == "CBIS-DDSM" and not find_csvs(root, 0):
                root = root.parent
            return root, parent.name
    return None


def is_cbis(path: Path) -> bool:
    return case_root(path) is not None


# ---- masks -----------------------------------------------------------------------------


def _stored(path: Path) -> np.ndarray:
    from .dicom import read_header, stored_values

    ds, h = read_header(path)
    a = stored_values(ds, h, path.name, 0)
    return a if a.ndim == 2 else a[..., 0]


def _is_mask(a: np.ndarray) -> bool:
    s = subsample(a, 200_000)
    if np.unique(s).size > 2:
        return False
    top = a.max()
    return bool(top > 0 and np.count_nonzero((a != 0) & (a != top)) == 0)


def find_mask(root: Path, rec: CbisRecord, shape: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """The ROI mask of a record as bool at the image's `shape`, decided by content."""
    notes: list[str] = []
    seen: set[Path] = set()
    cands: list[tuple[Path, np.ndarray]] = []
    for p in resolve_cbis_path(root, rec.roi_path) + resolve_cbis_path(root, rec.crop_path):
        if p in seen:
            continue
        seen.add(p)
        a = _stored(p)
        if _is_mask(a):
            cands.append((p, a))
    where = f"{rec.csv} row {rec.row} ({rec.image_key} abnormality {rec.abnormality_id})"
    if not cands:
        raise ReaderError(
            f"{where}: no ROI mask found (looked for {rec.roi_path} and {rec.crop_path})"
        )
    cands.sort(key=lambda pa: (pa[1].shape != shape, -pa[1].size))
    p, a = cands[0]
    if p in resolve_cbis_path(root, rec.crop_path) and p not in resolve_cbis_path(
        root, rec.roi_path
    ):
        notes.append(f"{where}: cropped-image and ROI-mask paths are swapped in the CSV")
    mask = a > 0
    if mask.shape != shape:
        sy, sx = shape[0] / mask.shape[0], shape[1] / mask.shape[1]
        if abs(sx - sy) > ASPECT_TOLERANCE * max(sx, sy):
            raise ReaderError(
                f"{where}: ROI mask {p.name} is {mask.shape[1]}x{mask.shape[0]} but the image is "
                f"{shape[1]}x{shape[0]} (another aspect ratio), so it cannot be placed"
            )
        mask = cv2.resize(
            mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
        notes.append(
            f"{where}: ROI mask is {a.shape[1]}x{a.shape[0]}, the image {shape[1]}x{shape[0]}; "
            "resampled to the image"
        )
    return mask, notes


def mask_lesion(mask: np.ndarray, rec: CbisRecord) -> Lesion:
    ys, xs = np.nonzero(mask)
    attrs = dict(rec.attributes)
    attrs.update(
        abnormality_id=rec.abnormality_id,
        assessment=rec.assessment,
        subtlety=rec.subtlety,
        breast_density=rec.density,
    )
    attrs = {k: v for k, v in attrs.items() if v is not None}
    if len(xs) == 0:
        return Lesion(kind=rec.abnormality_type, pathology=rec.pathology, attributes=attrs)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    crop = mask[y0 : y1 + 1, x0 : x1 + 1].copy()
    contours, _ = cv2.findContours(
        crop.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    poly = None
    if contours:
        c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
        poly = c + [x0, y0]
    return Lesion(
        kind=rec.abnormality_type,
        polygon=poly,
        pathology=rec.pathology,
        attributes=attrs,
        mask=crop,
        mask_origin=(int(x0), int(y0)),
    )


# ---- reading ---------------------------------------------------------------------------


def read_cbis_case(
    root: str | Path,
    image_key: str,
    records: list[CbisRecord] | None = None,
    image_file: Path | None = None,
    **dicom_options,
) -> Mammogram:
    """The full image of case folder `image_key` with every abnormality's mask as a lesion."""
    from .dicom import read_dicom

    root = Path(root)
    records = load_cbis_index(root) if records is None else records
    recs = [r for r in records if r.image_key.lower() == image_key.lower()]
    if not recs:
        raise ReaderError(f"{image_key}: not listed in the CBIS-DDSM CSVs under {root}")
    if image_file is None:
        files = resolve_cbis_path(root, recs[0].image_path)
        if not files:
            raise ReaderError(
                f"{image_key}: image {recs[0].image_path} not found under {root} (neither the "
                "CSV path nor the case folder NBIA writes)"
            )
        image_file = files[0]
    mammo = read_dicom(image_file, **dicom_options)
    mammo.format = "CBIS-DDSM"
    r0 = recs[0]
    for attr, csv_value in (("laterality", r0.laterality), ("view", r0.view)):
        file_value = getattr(mammo, attr)
        if csv_value and file_value and csv_value != file_value:
            mammo.notes.append(
                f"the DICOM header says {attr} {file_value}, the CSV {csv_value}; used the CSV"
            )
        setattr(mammo, attr, csv_value or file_value or None)
    mammo.info.update(
        cbis_case=r0.image_key, patient_id=r0.patient_id, breast_density=r0.density, split=r0.split
    )
    for rec in sorted(recs, key=lambda r: r.abnormality_id):
        mask, notes = find_mask(root, rec, mammo.shape)
        mammo.notes += notes
        mammo.lesions.append(mask_lesion(mask, rec))
    return mammo


def read_cbis_file(path: str | Path, **dicom_options) -> Mammogram:
    """A DICOM file inside a CBIS-DDSM tree: the full image with lesions when the CSVs are
    found, a crop or mask file as a plain DICOM with a note."""
    from .dicom import read_dicom

    path = Path(path)
    found = case_root(path)
    if found is None:
        return read_dicom(path, **dicom_options)
    root, case = found
    m = CASE_RE.match(case)
    if m and m.group(6):
        mammo = read_dicom(path, **dicom_options)
        mammo.notes.append(
            f"{case} holds a CBIS-DDSM cropped image or ROI mask, not a full mammogram"
        )
        return mammo
    csvs = []
    for base in (root, root.parent, root.parent.parent):
        csvs = find_csvs(base, 1)
        if csvs:
            root_csv = base
            break
    if not csvs:
        mammo = read_dicom(path, **dicom_options)
        mammo.notes.append("CBIS-DDSM case folder, but no case-description CSV found: no lesions")
        return mammo
    records = []
    for f in csvs:
        records += parse_cbis_csv(read_text(f, "CSV"), f.name)
    if not any(r.image_key.lower() == case.lower() for r in records):
        mammo = read_dicom(path, **dicom_options)
        mammo.notes.append(f"{case} is not listed in the CBIS-DDSM CSVs: no lesions")
        return mammo
    tree = root if _case_dirs(root, case) else root_csv
    return read_cbis_case(tree, case, records, image_file=path, **dicom_options)
