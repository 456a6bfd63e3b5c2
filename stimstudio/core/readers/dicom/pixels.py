"""Decoding a DICOM frame: the stored values, before any grey-level mapping.

Uncompressed data is checked against Rows x Columns x frames x Bits Allocated first (a wrong
length means the header does not describe the data). Compressed transfer syntaxes decode
through pydicom's own RLE decoder and the pylibjpeg plugins (JPEG lossless / baseline, JPEG-LS,
JPEG 2000); a JPEG frame whose codestream ends early is refused, or read row by row as far as
it goes when asked. Bits above Bits Stored are cleared, or sign-extended.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.pixels import pixel_array
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ...errors import ReaderError
from ..streams import JPIP, complete_rows, missing_rows_text, stream_complete
from .header import DicomHeader, _why


def _expected_bytes(h: DicomHeader) -> int:
    bits = h.rows * h.cols * h.frames * h.samples * h.bits_allocated
    return (bits + 7) // 8


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


def _check_codestream(
    ds, h: DicomHeader, name: str, frame: int, partial: bool
) -> np.ndarray | None:
    """Refuse a JPEG / JPEG 2000 frame whose codestream ends before its end marker.

    With `partial`, a truncated JPEG frame is decoded and the rows past its data set to 0
    (returned here, with `h.missing_rows` set); None means: decode normally.
    """
    ts = h.transfer_syntax or ""
    if not (h.compressed and ts.startswith("1.2.840.10008.1.2.4.")) or ts in JPIP:
        return None
    try:
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
    try:  # imported inside the fence: a missing or broken plugin is the one line below
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


def stored_values(
    ds, h: DicomHeader, name: str, frame: int = 0, partial: bool = False
) -> np.ndarray:
    """The stored values of one frame, high bits cleared (or sign-extended) to Bits Stored.

    partial: a truncated JPEG frame gives its complete rows, the rest 0 (`h.missing_rows`)."""
    if h.transfer_syntax is None:
        # Missing (0002,0010): uncompressed pixel data still decodes as pydicom parsed the file.
        if h.pixel_bytes < _expected_bytes(h) or h.pixel_bytes > _expected_bytes(h) + 1:
            raise ReaderError(
                f"{name}: has no Transfer Syntax UID (0002,0010) and its pixel data is not "
                "uncompressed, so it cannot be decoded"
            )
        if not hasattr(ds, "file_meta") or ds.file_meta is None:
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


def to_grey(arr: np.ndarray, h: DicomHeader, notes: list[str]) -> np.ndarray:
    """A colour frame as luminance (a note says so); a grey frame as it is."""
    if arr.ndim == 3:
        notes.append(f"colour image ({h.photometric}) converted to grey (luminance)")
        a = arr[..., :3].astype(np.float32)
        return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return arr
