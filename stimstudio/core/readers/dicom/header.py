"""Parsing a DICOM file: the tags the grey-level pipeline needs, read once and checked.

pydicom parses lazily and raises many kinds of exceptions on damaged files, so every access
happens here, inside one fence: only `ReaderError` escapes, with one sentence that names the
tag (group, element and keyword) or the problem. Decoding the pixel data is `pixels`, turning
values into grey levels is `grey`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from ...errors import ReaderError
from .._util import check_size

FOR_PROCESSING_SOP = {
    "1.2.840.10008.5.1.4.1.1.1.2.1": "Digital Mammography X-Ray Image - For Processing",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image - For Processing",
    "1.2.840.10008.5.1.4.1.1.1.3.1": "Digital Intra-Oral X-Ray Image - For Processing",
}
VIEW_MEANINGS = {
    "cranio-caudal": "CC",
    "medio-lateral oblique": "MLO",
    "medio-lateral": "ML",
    "latero-medial": "LM",
    "latero-medial oblique": "LMO",
    "exaggerated cranio-caudal": "XCC",
    "cranio-caudal exaggerated laterally": "XCCL",
    "cranio-caudal exaggerated medially": "XCCM",
    "cleavage": "CV",
    "axillary tail": "AT",
    "from below": "FB",
    "superolateral to inferomedial oblique": "SIO",
}


@dataclass
class DicomHeader:
    """The tags the pipeline needs, read once inside the fence (pydicom parses lazily)."""

    rows: int = 0
    cols: int = 0
    frames: int = 1
    samples: int = 1
    bits_allocated: int = 16
    bits_stored: int = 16
    high_bit: int = 15
    signed: bool = False
    photometric: str = "MONOCHROME2"
    transfer_syntax: str | None = None
    transfer_syntax_name: str = ""
    compressed: bool = False
    pixel_bytes: int = 0
    slope: float = 1.0
    intercept: float = 0.0
    modality_lut: Any = None  # (first_mapped, bits, np.ndarray) or None
    voi_luts: list = field(default_factory=list)  # [(first_mapped, bits, lut, explanation)]
    windows: list = field(default_factory=list)  # [(center, width, explanation)]
    voi_function: str = "LINEAR"
    presentation_shape: str | None = None
    padding: tuple[float, float] | None = None  # (value, range limit) in stored values
    pixel_spacing_mm: tuple[float, float] | None = None  # (row, column) mm per pixel
    pixel_spacing_tag: str | None = None
    laterality: str | None = None
    view: str | None = None
    modality: str = ""
    sop_class: str = ""
    sop_class_name: str = ""
    intent: str = ""
    manufacturer: str = ""
    description: str = ""
    patient_id: str = ""
    missing_rows: tuple[int, int] | None = None  # (first missing, rows) of a partial read
    body_part: str = ""


def _multi(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]


def _num(ds, keyword: str, tag: str, default=None, kind=float):
    """One numeric tag, or a ReaderError naming it when its value is not a number."""
    if keyword not in ds:
        return default
    raw = ds[keyword].value
    vals = _multi(raw)
    if not vals or vals[0] in ("", None):
        return default
    try:
        return kind(float(vals[0])) if kind is int else kind(vals[0])
    except (TypeError, ValueError, OverflowError) as exc:
        raise ReaderError(f"{tag} {keyword} has a value that is not a number: {raw!r}") from exc


def _lut_entry(item, name: str) -> tuple[int, int, np.ndarray]:
    """(first mapped value, bits, data) of a Modality or VOI LUT Sequence item."""
    if "LUTDescriptor" not in item or "LUTData" not in item:
        raise ReaderError(f"the {name} has no LUT Descriptor (0028,3002) or LUT Data (0028,3006)")
    desc = [int(v) for v in _multi(item.LUTDescriptor)]
    if len(desc) != 3:
        raise ReaderError(f"the {name}'s LUT Descriptor (0028,3002) has {len(desc)} values, not 3")
    n, first, bits = desc
    n = n or 65536
    data = item["LUTData"].value
    if isinstance(data, (bytes, bytearray)):
        lut = np.frombuffer(data[: len(data) // 2 * 2], "<u2")
        if bits <= 8 and lut.size < n and len(data) >= n:
            lut = np.frombuffer(data[:n], np.uint8)
    else:
        lut = np.asarray(_multi(data), dtype=np.float64)
    if lut.size < 2:
        raise ReaderError(f"the {name}'s LUT Data (0028,3006) holds {lut.size} entries")
    if lut.size != n:
        lut = lut[:n] if lut.size > n else lut
    if first >= 32768 and first > 0:  # descriptor value 1 is US, but signed inputs wrap
        first -= 65536
    if not 1 <= bits <= 16:
        bits = int(np.ceil(np.log2(float(lut.max()) + 1))) or 8
    return first, bits, lut.astype(np.float32)


def _header(ds, name: str) -> DicomHeader:
    h = DicomHeader()
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        uid = UID(str(ts))
        h.transfer_syntax = str(uid)
        h.transfer_syntax_name = uid.name
        h.compressed = bool(uid.is_compressed) if uid.is_transfer_syntax else False
        if not uid.is_transfer_syntax:
            raise ReaderError(
                f"Transfer Syntax UID (0002,0010) {str(uid)!r} is not a known transfer syntax"
            )
    if "PixelData" not in ds:
        what = ds.get("SOPClassUID", None)
        what = getattr(what, "name", None) or str(what or "unknown SOP class")
        extra = "FloatPixelData" in ds or "DoubleFloatPixelData" in ds
        raise ReaderError(
            f"has no Pixel Data (7FE0,0010): it is a {what}"
            + (" with float pixel data, not an image StimStudio can read" if extra else "")
            + ("" if extra else " (not an image)")
        )
    for kw, tag in (("Rows", "(0028,0010)"), ("Columns", "(0028,0011)")):
        if kw not in ds or ds[kw].value in (None, ""):
            raise ReaderError(f"{tag} {kw} is missing")
    h.rows = _num(ds, "Rows", "(0028,0010)", kind=int)
    h.cols = _num(ds, "Columns", "(0028,0011)", kind=int)
    h.frames = _num(ds, "NumberOfFrames", "(0028,0008)", 1, kind=int)
    h.samples = _num(ds, "SamplesPerPixel", "(0028,0002)", 1, kind=int)
    if "BitsAllocated" not in ds:
        raise ReaderError("(0028,0100) Bits Allocated is missing")
    h.bits_allocated = _num(ds, "BitsAllocated", "(0028,0100)", kind=int)
    if h.bits_allocated not in (1, 8, 16, 32):
        raise ReaderError(f"(0028,0100) Bits Allocated is {h.bits_allocated}; expected 8, 16 or 32")
    h.bits_stored = _num(ds, "BitsStored", "(0028,0101)", h.bits_allocated, kind=int)
    if not 1 <= h.bits_stored <= h.bits_allocated:
        raise ReaderError(
            f"(0028,0101) Bits Stored is {h.bits_stored} with Bits Allocated {h.bits_allocated}"
        )
    h.high_bit = _num(ds, "HighBit", "(0028,0102)", h.bits_stored - 1, kind=int)
    h.signed = bool(_num(ds, "PixelRepresentation", "(0028,0103)", 0, kind=int))
    h.photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    check_size(name, h.rows, h.cols, h.frames)
    h.pixel_bytes = len(ds.PixelData) if ds["PixelData"].value is not None else 0

    h.slope = _num(ds, "RescaleSlope", "(0028,1053)", 1.0)
    h.intercept = _num(ds, "RescaleIntercept", "(0028,1052)", 0.0)
    if not np.isfinite(h.slope) or h.slope == 0 or not np.isfinite(h.intercept):
        raise ReaderError(
            f"(0028,1053) Rescale Slope {h.slope} / (0028,1052) Intercept {h.intercept} "
            "cannot map stored values"
        )
    mlut = ds.get("ModalityLUTSequence")
    if mlut:
        h.modality_lut = _lut_entry(mlut[0], "Modality LUT Sequence (0028,3000)")
    for i, item in enumerate(ds.get("VOILUTSequence") or []):
        first, bits, lut = _lut_entry(item, f"VOI LUT Sequence (0028,3010) item {i + 1}")
        h.voi_luts.append((first, bits, lut, str(item.get("LUTExplanation", "") or "")))
    centers = _multi(ds.get("WindowCenter"))
    widths = _multi(ds.get("WindowWidth"))
    expl = _multi(ds.get("WindowCenterWidthExplanation"))
    if len(centers) != len(widths):
        raise ReaderError(
            f"(0028,1050) Window Center has {len(centers)} values but (0028,1051) Window Width "
            f"has {len(widths)}"
        )
    for i, (c, w) in enumerate(zip(centers, widths)):
        try:
            c, w = float(c), float(w)
        except (TypeError, ValueError) as exc:
            raise ReaderError(
                f"(0028,1050)/(0028,1051) Window Center/Width {i + 1} is not a number"
            ) from exc
        h.windows.append((c, w, str(expl[i]) if i < len(expl) else ""))
    h.voi_function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    shape = ds.get("PresentationLUTShape")
    h.presentation_shape = str(shape).strip().upper() if shape else None
    if "PixelPaddingValue" in ds:
        v = _num(ds, "PixelPaddingValue", "(0028,0120)")
        lim = _num(ds, "PixelPaddingRangeLimit", "(0028,0121)", v)
        if v is not None:
            h.padding = (min(v, lim), max(v, lim))

    for kw, tag in (
        ("PixelSpacing", "Pixel Spacing (0028,0030)"),
        ("ImagerPixelSpacing", "Imager Pixel Spacing (0018,1164)"),
        ("NominalScannedPixelSpacing", "Nominal Scanned Pixel Spacing (0018,2010)"),
    ):
        vals = _multi(ds.get(kw))
        if len(vals) >= 2:
            try:
                sp = (float(vals[0]), float(vals[1]))
            except (TypeError, ValueError):
                continue
            if all(np.isfinite(sp)) and min(sp) > 0:
                h.pixel_spacing_mm, h.pixel_spacing_tag = sp, tag
                break
    lat = str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or "").strip().upper()
    h.laterality = lat if lat in ("L", "R", "B") else None
    view = str(ds.get("ViewPosition", "") or "").strip().upper()
    if not view:
        for item in ds.get("ViewCodeSequence") or []:
            meaning = str(item.get("CodeMeaning", "") or "").strip().lower()
            view = VIEW_MEANINGS.get(meaning, meaning.upper())
            break
    h.view = view or None
    h.modality = str(ds.get("Modality", "") or "")
    sop = ds.get("SOPClassUID")
    h.sop_class = str(sop or "")
    h.sop_class_name = getattr(sop, "name", "") or h.sop_class
    h.intent = str(ds.get("PresentationIntentType", "") or "").strip().upper()
    h.manufacturer = str(ds.get("Manufacturer", "") or "")
    h.description = str(ds.get("SeriesDescription", "") or "")
    h.patient_id = str(ds.get("PatientID", "") or "")
    h.body_part = str(ds.get("BodyPartExamined", "") or "").strip().upper()
    return h


MAMMOGRAPHY_SOP = {
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # ... - For Processing
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis Image
    "1.2.840.10008.5.1.4.1.1.13.1.4",  # Breast Projection X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.13.1.5",  # Breast Projection X-Ray Image - For Processing
}


def is_mammogram(h: DicomHeader) -> tuple[bool, str]:
    """Whether the header says this is a mammogram, and the evidence (for `info`)."""
    if h.modality.upper() == "MG":
        return True, "Modality MG"
    if h.sop_class in MAMMOGRAPHY_SOP:
        return True, h.sop_class_name
    if h.body_part == "BREAST":
        return True, "Body Part Examined BREAST"
    what = f"Modality {h.modality}" if h.modality else "no Modality"
    return False, f"{what}, {h.sop_class_name or 'no SOP class'}"


def _open(path: Path):
    """pydicom Dataset, with a missing preamble tolerated; ReaderError for non-DICOM bytes."""
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        pass
    except Exception as exc:  # pydicom raises all kinds on damaged headers
        raise ReaderError(f"{path.name}: damaged DICOM header ({_why(exc)})") from exc
    try:  # files without the 128-byte preamble and 'DICM' (old archives) still parse
        ds = pydicom.dcmread(path, force=True)
    except Exception as exc:
        raise ReaderError(f"{path.name}: not a DICOM file ({_why(exc)})") from exc
    if len(ds) == 0 or ("PixelData" not in ds and "SOPClassUID" not in ds and "Rows" not in ds):
        raise ReaderError(f"{path.name}: not a DICOM file (no DICOM preamble or data elements)")
    return ds


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def read_header(path: str | Path) -> tuple[Any, DicomHeader]:
    """The pydicom dataset and the checked header of a DICOM image file."""
    path = Path(path)
    ds = _open(path)
    try:
        h = _header(ds, path.name)
    except ReaderError as exc:
        msg = str(exc)
        raise ReaderError(msg if msg.startswith(path.name) else f"{path.name}: {msg}") from exc
    except Exception as exc:  # a damaged element pydicom only parses on access
        raise ReaderError(f"{path.name}: damaged DICOM header ({_why(exc)})") from exc
    return ds, h
