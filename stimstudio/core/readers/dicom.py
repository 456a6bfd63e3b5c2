"""DICOM mammograms (MG, DX, CR, INbreast, CBIS-DDSM) through pydicom.

The grey-level pipeline follows PS3.3 C.11 (Modality LUT -> VOI LUT -> Presentation LUT):

1. stored values, with the bits above Bits Stored cleared (or sign-extended);
2. Pixel Padding Value / Range Limit marks background, which ends up black;
3. Modality LUT Sequence, or Rescale Slope / Intercept;
4. VOI: a VOI LUT Sequence entry, or Window Center / Width with the VOI LUT Function (LINEAR,
   LINEAR_EXACT, SIGMOID); the first one by default, others by index. With none at all, a
   robust percentile window from the breast region (not the background);
5. MONOCHROME1 or Presentation LUT Shape INVERSE: inverted after windowing, so dense tissue is
   bright in `Mammogram.pixels`.

FOR PROCESSING images are read but flagged. Compressed transfer syntaxes decode through
pydicom's own RLE decoder and the pylibjpeg plugins (JPEG lossless / baseline, JPEG-LS,
JPEG 2000). Multi-frame files: one frame is picked (the first unless asked) and a note says so.

pydicom raises many kinds of exceptions on damaged files; every call into it is fenced so that
only `ReaderError` escapes, with one sentence naming the tag or the problem.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from ..mammogram import Mammogram
from ._util import breast_window, check_size

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
VOI_CHOICES = ("auto", "lut", "window", "percentile", "full")


@dataclass
class _Header:
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
    spacing: tuple[float, float] | None = None
    spacing_tag: str | None = None
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


def _header(ds, name: str) -> _Header:
    h = _Header()
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        from pydicom.uid import UID

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
                h.spacing, h.spacing_tag = sp, tag
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


def is_mammogram(h: _Header) -> tuple[bool, str]:
    """Whether the header says this is a mammogram, and the evidence (for `info`)."""
    if h.modality.upper() == "MG":
        return True, "Modality MG"
    if h.sop_class in MAMMOGRAPHY_SOP:
        return True, h.sop_class_name
    if h.body_part == "BREAST":
        return True, "Body Part Examined BREAST"
    what = f"Modality {h.modality}" if h.modality else "no Modality"
    return False, f"{what}, {h.sop_class_name or 'no SOP class'}"


def _expected_bytes(h: _Header) -> int:
    bits = h.rows * h.cols * h.frames * h.samples * h.bits_allocated
    return (bits + 7) // 8


def _open(path: Path):
    """pydicom Dataset, with a missing preamble tolerated; ReaderError for non-DICOM bytes."""
    import pydicom
    from pydicom.errors import InvalidDicomError

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


def read_header(path: str | Path) -> tuple[Any, _Header]:
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


def _decode_failure(name: str, what: str, exc: BaseException) -> str:
    """One line with the decoders' own reasons (pydicom lists one per plugin)."""
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    head = lines[0] if lines else type(exc).__name__
    reasons = "; ".join(lines[1:])[:400]
    low = head.lower()
    if "missing dependencies" in low or "no pixel data decoders" in low:
        # nothing installed can even try: say what each plugin would need
        return f"{name}: no installed decoder reads {what} data" + (
            f" ({reasons})" if reasons else f" ({head[:200]})"
        )
    if "raised by all available plugins" in low and reasons:
        # the decoders are installed and tried; their reasons are the truth
        return f"{name}: no installed decoder could decode this {what} data: {reasons}"
    return f"{name}: could not decode the {what} data ({_why(exc)})"


def _check_codestream(ds, h: _Header, name: str, frame: int, partial: bool) -> np.ndarray | None:
    """Refuse a JPEG / JPEG 2000 frame whose codestream ends before its end marker.

    With `partial`, a truncated JPEG frame is decoded and the rows past its data set to 0
    (returned here, with `h.missing_rows` set); None means: decode normally.
    """
    from .streams import JPIP, complete_rows, missing_rows_text, stream_complete

    ts = h.transfer_syntax or ""
    if not (h.compressed and ts.startswith("1.2.840.10008.1.2.4.")) or ts in JPIP:
        return None
    try:
        from pydicom.encaps import get_frame

        data = get_frame(ds.PixelData, frame, number_of_frames=h.frames)
    except Exception as exc:  # noqa: BLE001 - damaged fragments / offset table
        raise ReaderError(
            f"{name}: the encapsulated pixel data is damaged: frame {frame + 1} cannot be "
            f"found ({_why(exc)})"
        ) from exc
    complete = stream_complete(data)
    if complete is not False:
        return None
    where = f"frame {frame + 1}" if h.frames > 1 else "the image"
    if not partial:
        raise ReaderError(
            f"{name}: truncated: the compressed data of {where} ends before its end marker, "
            "so rows are missing; read it with --partial (partial=True) to get the rows that "
            "are there"
        )
    if data.startswith(b"\xff\x4f"):
        raise ReaderError(
            f"{name}: truncated JPEG 2000 codestream ({where}): it is not stored row by row, "
            "so no partial image can be read"
        )
    try:
        from libjpeg import decode

        arr = decode(data)
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(
            f"{name}: truncated, and the rows that are there cannot be decoded ({_why(exc)})"
        ) from exc
    if arr.shape[:2] != (h.rows, h.cols):
        raise ReaderError(
            f"{name}: decoded pixel data is {arr.shape[1]}x{arr.shape[0]} but (0028,0010/0011) "
            f"Rows/Columns say {h.cols}x{h.rows}"
        )
    good = complete_rows(decode, data, arr)
    if good == 0:
        raise ReaderError(
            f"{name}: truncated: the compressed data of {where} ends before its first row is "
            f"complete ({missing_rows_text(0, h.rows)} missing)"
        )
    arr = arr.copy()
    arr[good:] = 0
    h.missing_rows = (good, h.rows)
    return arr


def stored_values(ds, h: _Header, name: str, frame: int = 0, partial: bool = False) -> np.ndarray:
    """The stored values of one frame, high bits cleared (or sign-extended) to Bits Stored.

    partial: a truncated JPEG frame gives its complete rows, the rest 0 (`h.missing_rows`)."""
    from pydicom.pixels import pixel_array

    if h.transfer_syntax is None:
        # Missing (0002,0010): uncompressed pixel data still decodes as pydicom parsed the file.
        if h.pixel_bytes < _expected_bytes(h) or h.pixel_bytes > _expected_bytes(h) + 1:
            raise ReaderError(
                f"{name}: has no Transfer Syntax UID (0002,0010) and its pixel data is not "
                "uncompressed, so it cannot be decoded"
            )
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

        if not hasattr(ds, "file_meta") or ds.file_meta is None:
            from pydicom.dataset import FileMetaDataset

            ds.file_meta = FileMetaDataset()
        implicit = getattr(ds, "original_encoding", (True, True))[0]
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
    elif not h.compressed:
        need = _expected_bytes(h)
        if h.pixel_bytes < need:
            raise ReaderError(
                f"{name}: pixel data is truncated: {h.pixel_bytes} bytes where {h.cols}x{h.rows}"
                f"x{h.frames} frame(s) at {h.bits_allocated} bits need {need}"
            )
        if h.pixel_bytes > need + 1 + (need % 2):
            raise ReaderError(
                f"{name}: wrong pixel-data length: {h.pixel_bytes} bytes where {h.cols}x{h.rows}"
                f"x{h.frames} frame(s) at {h.bits_allocated} bits need {need}; the header's "
                "Rows/Columns/Bits Allocated do not describe this pixel data"
            )
    if not 0 <= frame < h.frames:
        raise ReaderError(f"{name}: has {h.frames} frame(s); frame {frame + 1} does not exist")
    partial_arr = _check_codestream(ds, h, name, frame, partial)
    if partial_arr is not None:
        return partial_arr
    try:
        arr = pixel_array(ds, index=frame if h.frames > 1 else None)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise ReaderError(_decode_failure(name, h.transfer_syntax_name or "pixel", exc)) from exc
    if arr.ndim == 3 and h.frames > 1 and arr.shape[0] == h.frames and h.samples == 1:
        arr = arr[frame]
    if arr.shape[:2] != (h.rows, h.cols):
        raise ReaderError(
            f"{name}: decoded pixel data is {arr.shape[1]}x{arr.shape[0]} but (0028,0010/0011) "
            f"Rows/Columns say {h.cols}x{h.rows}"
        )
    if arr.dtype.kind in "ui" and h.bits_stored < 8 * arr.dtype.itemsize and arr.ndim == 2:
        bs = h.bits_stored
        if h.signed:  # sign-extend from Bits Stored (pydicom does this; idempotent)
            u = arr.astype(np.int64 if arr.itemsize > 2 else np.int32) & ((1 << bs) - 1)
            arr = np.where(u >= (1 << (bs - 1)), u - (1 << bs), u).astype(arr.dtype)
        else:
            arr = arr & arr.dtype.type((1 << bs) - 1)
    return arr


def _to_gray(arr: np.ndarray, h: _Header, notes: list[str]) -> np.ndarray:
    if arr.ndim == 3:
        notes.append(f"colour image ({h.photometric}) converted to grey (luminance)")
        a = arr[..., :3].astype(np.float32)
        return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return arr


def _apply_lut(values: np.ndarray, first: int, lut: np.ndarray, inplace: bool = False):
    """lut[values - first] (clamped to the table), as float32.

    With inplace=True, `values` (float32, owned by the caller) is overwritten and returned, so
    a 16-bit full-field image costs one float copy, not three.
    """
    x = values if inplace and values.dtype == np.float32 else values.astype(np.float32)
    if first:
        x -= np.float32(first)
    np.rint(x, out=x)
    np.clip(x, 0, lut.size - 1, out=x)
    table = lut.astype(np.float32, copy=False)
    flat = x.reshape(-1)
    step = 1 << 20  # in blocks: fancy indexing makes an intp index (8 bytes a pixel)
    for i in range(0, flat.size, step):
        block = flat[i : i + step]
        block[...] = table[block.astype(np.intp)]
    return x


def window_linear(
    x: np.ndarray, c: float, w: float, function: str = "LINEAR", inplace: bool = False
) -> np.ndarray:
    """PS3.3 C.11.2.1.2 windowing, mapped to [0, 1] (float32; in place when asked)."""
    x = x if inplace and x.dtype == np.float32 else x.astype(np.float32)
    if function == "SIGMOID":
        x -= np.float32(c)
        x *= np.float32(-4.0 / w)
        np.clip(x, -60, 60, out=x)
        np.exp(x, out=x)
        x += np.float32(1.0)
        np.reciprocal(x, out=x)
        return x
    if function == "LINEAR_EXACT":
        x -= np.float32(c)
        x /= np.float32(w)
    elif w <= 1:  # LINEAR with width 1 is a threshold at c - 0.5
        x[...] = x > c - 0.5
        return x
    else:
        x -= np.float32(c - 0.5)
        x /= np.float32(w - 1.0)
    x += np.float32(0.5)
    np.clip(x, 0.0, 1.0, out=x)
    return x


def _voi_options(h: _Header) -> list[dict]:
    opts = []
    for i, (first, bits, lut, expl) in enumerate(h.voi_luts):
        opts.append(
            {
                "kind": "lut",
                "index": i,
                "entries": int(lut.size),
                "first_mapped": first,
                "bits": bits,
                "explanation": expl,
            }
        )
    for i, (c, w, expl) in enumerate(h.windows):
        opts.append(
            {
                "kind": "window",
                "index": i,
                "center": c,
                "width": w,
                "function": h.voi_function,
                "explanation": expl,
            }
        )
    return opts


def read_dicom(
    path: str | Path,
    frame: int | None = None,
    voi: str = "auto",
    voi_index: int = 0,
    window: tuple[float, float] | None = None,
    partial: bool = False,
) -> Mammogram:
    """Read a DICOM image into a `Mammogram` (see `_read_dicom`); pydicom's warnings about the
    file become notes instead of going to stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = _read_dicom(path, frame, voi, voi_index, window, partial)
    seen = []
    for w in caught:
        text = str(w.message).strip().splitlines()[0][:160] if str(w.message).strip() else ""
        if text and text not in seen:
            seen.append(text)
    m.notes.extend(f"pydicom: {t}" for t in seen[:3])
    return m


def _read_dicom(
    path: str | Path,
    frame: int | None = None,
    voi: str = "auto",
    voi_index: int = 0,
    window: tuple[float, float] | None = None,
    partial: bool = False,
) -> Mammogram:
    """Read a DICOM image into a `Mammogram`.

    frame: 0-based frame of a multi-frame file (default: the first, with a note).
    voi: "auto" (VOI LUT Sequence, else Window Center/Width, else percentile), "lut",
         "window", "percentile" (breast-region percentiles), "full" (the whole value range).
    voi_index: which VOI LUT or window of several (0-based).
    window: (center, width) given by the user; overrides the file's VOI.
    partial: read a truncated JPEG frame's complete rows (the rest black, named in a note);
         without it a truncated frame is refused.
    """
    path = Path(path)
    name = path.name
    if voi not in VOI_CHOICES:
        raise ReaderError(f"unknown VOI choice {voi!r}; use one of {', '.join(VOI_CHOICES)}")
    ds, h = read_header(path)
    notes: list[str] = []
    if h.transfer_syntax is None:
        notes.append(
            "no Transfer Syntax UID (0002,0010) in the file meta; read as uncompressed, the way "
            "the header was encoded"
        )
    n_frames = h.frames
    fr = 0 if frame is None else int(frame)
    if n_frames > 1:
        notes.append(
            f"multi-frame file: showing frame {fr + 1} of {n_frames}"
            + (" (the first, by default)" if frame is None else "")
        )
    try:
        raw = stored_values(ds, h, name, fr, partial)
    finally:
        pixel_len = h.pixel_bytes
        del ds  # the file's bytes go as soon as the frame is decoded
    values = _to_gray(raw, h, notes)

    pad = None
    if h.padding is not None and values.ndim == 2:
        lo, hi = h.padding
        pad = (raw >= lo) & (raw <= hi) if raw.ndim == 2 else None
        if pad is not None and not pad.any():
            pad = None
    if h.missing_rows is not None and values.ndim == 2:  # a partial read: rows past the data
        from .streams import missing_rows_text

        gone = np.zeros(values.shape, bool)
        gone[h.missing_rows[0] :] = True
        pad = gone if pad is None else pad | gone
        notes.append(
            f"truncated stream: {missing_rows_text(*h.missing_rows)} are missing (shown black); "
            "read because partial reading was asked for"
        )
    valid = None if pad is None else ~pad

    # 3. modality LUT / rescale, in float32 (one working copy)
    if h.modality_lut is not None:
        first, _bits, lut = h.modality_lut
        mod = _apply_lut(values, first, lut)
        modality_used = {"kind": "Modality LUT Sequence", "entries": int(lut.size)}
    else:
        mod = values.astype(np.float32)
        if h.slope != 1.0 or h.intercept != 0.0:
            mod *= np.float32(h.slope)
            mod += np.float32(h.intercept)
        modality_used = {"kind": "rescale", "slope": h.slope, "intercept": h.intercept}
    del values

    # 4. VOI
    options = _voi_options(h)
    inverted = h.photometric == "MONOCHROME1" or h.presentation_shape == "INVERSE"
    used: dict[str, Any]
    kind = voi
    if window is not None:
        kind = "user"
    elif voi == "auto":
        kind = "lut" if h.voi_luts else ("window" if h.windows else "default")
    mammogram, evidence = is_mammogram(h)
    if kind == "default":
        # the breast-region percentiles suit mammograms only; anything else (a test pattern,
        # a phantom, another modality) is shown over its full range, so that no grey step is
        # clipped away
        kind = "percentile" if mammogram else "full"
    if kind == "lut":
        if not h.voi_luts:
            raise ReaderError(f"{name}: has no VOI LUT Sequence (0028,3010) to apply")
        if not 0 <= voi_index < len(h.voi_luts):
            raise ReaderError(
                f"{name}: has {len(h.voi_luts)} VOI LUT(s); LUT {voi_index + 1} does not exist"
            )
        first, bits, lut, expl = h.voi_luts[voi_index]
        top = float(2**bits - 1)
        lmax = float(lut.max())
        if lmax > top or lmax < top / 16:
            notes.append(
                f"VOI LUT data range (max {lmax:g}) does not fit its stated {bits} bits; "
                "scaled by its own maximum"
            )
            top = max(lmax, 1.0)
        out = _apply_lut(mod, first, lut, inplace=True)
        out /= np.float32(top)
        np.clip(out, 0, 1, out=out)
        used = {
            "kind": "VOI LUT",
            "index": voi_index,
            "of": len(h.voi_luts),
            "explanation": expl,
            "bits": bits,
            "first_mapped": first,
        }
    elif kind in ("window", "user"):
        if kind == "user":
            c, w = float(window[0]), float(window[1])
            expl, func = "given by the user", h.voi_function
        else:
            if not h.windows:
                raise ReaderError(f"{name}: has no Window Center/Width (0028,1050/1051) to apply")
            if not 0 <= voi_index < len(h.windows):
                raise ReaderError(
                    f"{name}: has {len(h.windows)} window(s); window {voi_index + 1} does not exist"
                )
            c, w, expl = h.windows[voi_index]
            func = h.voi_function
        if func not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
            notes.append(f"VOI LUT Function (0028,1056) {func!r} is unknown; used LINEAR")
            func = "LINEAR"
        if not np.isfinite(c) or not np.isfinite(w) or w <= 0 or (func == "LINEAR" and w < 1):
            raise ReaderError(
                f"{name}: (0028,1051) Window Width {w:g} is not valid for {func} windowing"
            )
        out = window_linear(mod, c, w, func, inplace=True)
        used = {"kind": "window", "center": c, "width": w, "function": func, "explanation": expl}
        if kind == "window":
            used.update(index=voi_index, of=len(h.windows))
    elif kind == "full":
        lo, hi = float(mod.min()), float(mod.max())
        out = mod
        out -= np.float32(lo)
        out /= np.float32(max(hi - lo, 1e-6))
        np.clip(out, 0, 1, out=out)
        used = {"kind": "full range", "low": lo, "high": hi}
        if voi == "auto" and window is None:
            used["default_because"] = f"no VOI LUT or window, and not a mammogram ({evidence})"
            notes.append(
                f"no VOI LUT or window in the file and it is not a mammogram ({evidence}): "
                "grey levels span the full value range"
            )
    else:  # percentile from the breast region
        lo, hi, frac = breast_window(mod, valid, dense_high=not inverted)
        out = mod
        out -= np.float32(lo)
        out /= np.float32(hi - lo)
        np.clip(out, 0, 1, out=out)
        used = {
            "kind": "percentile",
            "low": lo,
            "high": hi,
            "percentiles": [0.5, 99.5],
            "breast_fraction": round(frac, 3),
        }
        if voi == "auto":
            used["default_because"] = f"no VOI LUT or window, and a mammogram ({evidence})"
            notes.append(
                "no VOI LUT or window in the file; grey levels windowed to the 0.5-99.5 "
                "percentiles of the breast region"
            )
    del mod

    # 5. MONOCHROME1 / INVERSE: after windowing
    if inverted:
        np.subtract(np.float32(1.0), out, out=out)
    if h.photometric == "MONOCHROME2" and h.presentation_shape == "INVERSE":
        notes.append("Presentation LUT Shape (2050,0020) is INVERSE: grey levels inverted")
    if pad is not None:
        out[pad] = 0.0

    for_processing = h.intent == "FOR PROCESSING" or h.sop_class in FOR_PROCESSING_SOP
    if for_processing:
        notes.append(
            "FOR PROCESSING image: raw detector values, not meant for viewing or reading; the "
            "grey levels shown are an approximation"
        )
    if h.photometric not in (
        "MONOCHROME1",
        "MONOCHROME2",
        "RGB",
        "YBR_FULL",
        "YBR_FULL_422",
        "PALETTE COLOR",
        "YBR_ICT",
        "YBR_RCT",
    ):
        notes.append(
            f"Photometric Interpretation (0028,0004) {h.photometric or 'missing'!r}; "
            "read as MONOCHROME2"
        )
    if h.spacing_tag and "Imager" in h.spacing_tag:
        notes.append("pixel spacing from Imager Pixel Spacing: at the detector, not the breast")
    spacing_mm = h.spacing
    info = {
        "rows": h.rows,
        "columns": h.cols,
        "bits": h.bits_stored,
        "bits_allocated": h.bits_allocated,
        "bits_stored": h.bits_stored,
        "high_bit": h.high_bit,
        "signed": h.signed,
        "photometric": h.photometric,
        "presentation_lut_shape": h.presentation_shape,
        "inverted": inverted,
        "transfer_syntax": h.transfer_syntax,
        "transfer_syntax_name": h.transfer_syntax_name or "missing",
        "compressed": h.compressed,
        "pixel_data_bytes": pixel_len,
        "frames": n_frames,
        "frame": fr,
        "modality": h.modality,
        "mammogram": mammogram,
        "sop_class": h.sop_class_name,
        "presentation_intent": h.intent or None,
        "for_processing": for_processing,
        "manufacturer": h.manufacturer,
        "modality_lut": modality_used,
        "window": used,
        "voi_available": options,
        "padding": None
        if h.padding is None
        else {
            "value": h.padding[0],
            "range_limit": h.padding[1],
            "pixels": int(pad.sum()) if pad is not None else 0,
        },
        "spacing_source": h.spacing_tag,
        "series_description": h.description,
        "patient_id": h.patient_id,
    }
    if h.missing_rows is not None:
        info["missing_rows"] = list(h.missing_rows)  # [first missing (0-based), rows]
    return Mammogram(
        pixels=out,
        raw=raw,
        spacing_mm=spacing_mm,
        laterality=h.laterality,
        view=h.view,
        source=str(path),
        format="DICOM" + (f" ({h.modality})" if h.modality else ""),
        info=info,
        notes=notes,
    )
