"""A film's bytes in its own kind of file, labelled as derived, with no patient identifiers.

DICOM in gives DICOM out: `export.writers.dicom_bytes` makes the Secondary Capture dataset
(DERIVED\\SECONDARY, Conversion Type SYN, patient fields SYNTHETIC or empty, no dates, UIDs
derived from the request so the same request gives the same bytes); this module then puts the
film's own stored values and the elements that say how they are shown (bits, photometric
interpretation, rescale, window / VOI LUT, presentation LUT, pixel spacing, laterality, view)
into it, copied from an allow-list, never anything else of the source header. Every text of the
written header is checked by the export's `LeakGuard` against the source's identifiers.
mini-MIAS PGM stays PGM, TIFF stays TIFF, anything else becomes PNG at the film's bit depth;
each carries the label in its text field (PGM: a header comment).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from ..errors import ExportError
from ..export.privacy import LeakGuard
from ..export.writers import _png_with_text, _software, derived_uid, dicom_bytes

FILM_LABEL = (
    "DERIVED IMAGE: a mammogram re-written by StimStudio, synthetic lesions may be inserted "
    "(see the set's truth file); patient identifiers removed; not for diagnosis"
)
# Elements of the source header that say how stored values are shown: copied as they are.
DISPLAY_KEYWORDS = (
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "VOILUTSequence",
    "PresentationLUTShape",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "ImageLaterality",
    "ViewPosition",
    "BurnedInAnnotation",
)
KINDS = ("dicom", "pgm", "tiff", "png")
SUFFIX = {"dicom": ".dcm", "pgm": ".pgm", "tiff": ".tiff", "png": ".png"}


def film_kind(mammo) -> str:
    """The kind of file a film is written back as (module doc)."""
    fmt = (mammo.format or "").lower()
    if fmt.startswith("dicom") or fmt in ("inbreast", "cbis-ddsm"):
        return "dicom"
    suffix = Path(mammo.source).suffix.lower()
    if fmt == "mini-mias" or suffix == ".pgm":
        return "pgm"
    if suffix in (".tif", ".tiff"):
        return "tiff"
    return "png"


def film_bytes(mammo, raw: np.ndarray, kind: str, key: str, number: int, note: str = "") -> bytes:
    """`raw` (stored values shaped like `mammo.raw`) as a file of `kind`. `key` (the set's
    request hash) and `number` make the DICOM UIDs; `note` goes into the label's text."""
    label = FILM_LABEL + (f". {note}" if note else "")
    if kind == "dicom":
        return _dicom(mammo, raw, key, number, label)
    if raw.dtype.kind != "u" or raw.itemsize > 2:
        raise ExportError(f"{Path(mammo.source).name}: {raw.dtype} values fit only DICOM output")
    if kind == "pgm":
        maxval = 255 if raw.dtype == np.uint8 else 65535
        head = f"P5\n# {label}\n# {_software()}\n{raw.shape[1]} {raw.shape[0]}\n{maxval}\n"
        return head.encode("latin-1") + raw.astype(raw.dtype.newbyteorder(">")).tobytes()
    if kind == "tiff":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(raw).save(buf, format="TIFF", tiffinfo={270: label, 305: _software()})
        return buf.getvalue()
    if kind == "png":
        ok, buf = cv2.imencode(".png", raw)
        if not ok:
            raise ExportError("could not encode the film as PNG")
        return _png_with_text(buf.tobytes(), {"Description": label, "Software": _software()})
    raise ExportError(f"film files are one of {', '.join(KINDS)}, not {kind!r}")


def _dicom(mammo, raw: np.ndarray, key: str, number: int, label: str) -> bytes:
    import pydicom

    src = Path(mammo.source)
    try:
        head = pydicom.dcmread(str(src), stop_before_pixels=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on damaged files
        raise ExportError(f"{src.name}: cannot read its header again ({exc})") from None
    spacing = mammo.spacing_mm[0] if mammo.spacing_mm else None
    study = derived_uid(key, "study")
    data = dicom_bytes(
        np.zeros(raw.shape, np.float32),
        pixel_spacing_mm=spacing,
        study_uid=study,
        series_uid=derived_uid(key, "series"),
        instance_number=number,
        series_description="DERIVED film, synthetic lesion",
    )
    ds = pydicom.dcmread(io.BytesIO(data))
    for kw in DISPLAY_KEYWORDS:
        if kw in head:
            setattr(ds, kw, head[kw].value)
    window = mammo.info.get("window") or {}
    if "WindowCenter" not in head and "VOILUTSequence" not in head and "low" in window:
        lo, hi = float(window["low"]), float(window["high"])  # the reader's own window, said
        ds.WindowCenter = f"{(lo + hi) / 2:.6g}"
        ds.WindowWidth = f"{max(hi - lo, 1):.6g}"
    ds.DerivationDescription = label[:1024]
    ds.ImageComments = label
    ds.PixelData = np.ascontiguousarray(raw.astype(raw.dtype.newbyteorder("<"))).tobytes()
    ds.Rows, ds.Columns = raw.shape
    guard = LeakGuard()
    guard.add_dicom(src)
    guard.check("\n".join(str(e.value) for e in ds.iterall()), f"the film file {number}")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
