"""Case-description tables: what `stimstudio info TABLE` shows.

- CBIS-DDSM case-description CSVs, in the current header (`patient_id, ..., image file path,
  cropped image file path, ROI mask file path`) and the 2017 release's (`side, view, abn_num,
  ..., od_img_path, od_crop_path, mask_path`, backslash paths, `N/A`);
- INbreast's `INbreast.csv` (semicolon separated) and its official `INbreast.xls` (410 images;
  the summary rows at the end of the sheet are not images).

Missing values (NA, N/A, empty, INbreast's 'removed') count as missing, never as text.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

from ..errors import ReaderError
from ._util import read_text

TABLE_SUFFIXES = (".csv", ".xls", ".xlsx", ".tsv")


def is_table(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def _header_of(text: str) -> list[str]:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        return next(csv.reader(io.StringIO(first), delimiter=delimiter), [])
    except csv.Error:
        return []


def summarize_table(path: str | Path) -> dict:
    """A JSON-able summary of a case-description table; ReaderError for anything else."""
    path = Path(path)
    if not path.exists():
        raise ReaderError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        raise ReaderError(
            f"{path.name}: .xlsx workbooks are not read; the INbreast table is the official "
            "INbreast.xls (or save the sheet as .csv)"
        )
    if suffix == ".xls":
        from .inbreast import read_xls_rows

        return _inbreast_summary(path, read_xls_rows(path), "INbreast XLS")
    text = read_text(path, "table")
    header = _header_of(text)
    from .cbis_ddsm import cbis_header_variant

    variant = cbis_header_variant(header)
    if variant is not None:
        return _cbis_summary(path, text, header, variant)
    low = [h.strip().lower() for h in header]
    if "file name" in low and "bi-rads" in low:
        first = text.split("\n", 1)[0]
        delimiter = ";" if first.count(";") >= first.count(",") else ","
        rows = list(csv.reader(io.StringIO(text.replace("\x00", "")), delimiter=delimiter))
        return _inbreast_summary(path, rows, "INbreast CSV")
    shown = ", ".join(h.strip() for h in header[:8]) or "no header"
    raise ReaderError(
        f"{path.name}: not a table StimStudio knows (a CBIS-DDSM case-description CSV, "
        f"INbreast.csv or INbreast.xls); its header starts: {shown[:160]}"
    )


def _cbis_summary(path: Path, text: str, header: list[str], variant: str) -> dict:
    from .cbis_ddsm import _norm_header, parse_cbis_csv

    records = parse_cbis_csv(text, path.name)
    norm = [_norm_header(h) for h in header]
    roles = {
        "image_file_path": "image",
        "cropped_image_file_path": "crop",
        "roi_mask_file_path": "ROI mask",
    }
    order = [(norm.index(k), roles[k], header[norm.index(k)].strip()) for k in roles]
    by_type = Counter(r.abnormality_type or "missing" for r in records)
    by_path = Counter(r.pathology or "missing" for r in records)
    by_both = Counter(
        f"{r.abnormality_type or 'missing'} {r.pathology or 'missing'}" for r in records
    )
    images = {r.image_key for r in records}
    return {
        "file": str(path),
        "table": "CBIS-DDSM case description",
        "header": "2017 release (side, view, abn_num, od_*_path)"
        if variant == "2017"
        else "current release (image file path, cropped image file path, ROI mask file path)",
        "records": len(records),
        "patients": len({r.patient_id for r in records if r.patient_id}),
        "images": len(images),
        "lesions_by_type": dict(sorted(by_type.items())),
        "lesions_by_pathology": dict(sorted(by_path.items())),
        "lesions_by_type_and_pathology": dict(sorted(by_both.items())),
        "split": sorted({r.split for r in records if r.split}) or None,
        "path_columns": [
            {"role": role, "column": name, "position": i + 1} for i, role, name in sorted(order)
        ],
        "missing": {
            "patient_id": sum(1 for r in records if not r.patient_id),
            "pathology": sum(1 for r in records if not r.pathology),
            "assessment": sum(1 for r in records if r.assessment is None),
            "subtlety": sum(1 for r in records if r.subtlety is None),
            "breast_density": sum(1 for r in records if r.density is None),
        },
    }


def _inbreast_summary(path: Path, rows: list[list], kind: str) -> dict:
    from .inbreast import _ib_cell, parse_inbreast_rows

    recs = parse_inbreast_rows(rows, path.name)
    filled = [r for r in rows[1:] if any(_ib_cell(c) for c in r)]
    columns = sorted({k for rec in recs.values() for k in rec})
    missing = {k: sum(1 for rec in recs.values() if rec.get(k) is None) for k in columns}
    patients = {rec.get("id") for rec in recs.values() if rec.get("id")}
    findings = {}
    for k in ("mass", "micros", "distortion", "asymmetry"):
        if k in columns:
            findings[k] = sum(1 for rec in recs.values() if rec.get(k))
    return {
        "file": str(path),
        "table": kind,
        "records": len(recs),
        "not_images": len(filled) - len(recs),  # summary rows after the images, notes
        "patients": len(patients) if patients else None,
        "laterality": dict(
            sorted(Counter(rec.get("laterality") or "missing" for rec in recs.values()).items())
        ),
        "view": dict(
            sorted(Counter(rec.get("view") or "missing" for rec in recs.values()).items())
        ),
        "birads": dict(
            sorted(Counter(rec.get("birads") or "missing" for rec in recs.values()).items())
        ),
        "acr_density": dict(
            sorted(Counter(rec.get("acr") or "missing" for rec in recs.values()).items())
        ),
        "findings": findings,
        "missing": {k: v for k, v in missing.items() if v},
    }
