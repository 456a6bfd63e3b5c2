"""DICOM mammograms (MG, DX, CR, INbreast, CBIS-DDSM) through pydicom.

Three steps, one module each:

- `header`: parse and check the tags (a bad one is named by group, element and keyword);
- `pixels`: decode one frame's stored values (transfer syntaxes, encapsulated and truncated
  frames, Bits Stored);
- `grey`: the grey-level pipeline of PS3.3 C.11 (Modality LUT -> VOI LUT / window ->
  Presentation LUT), so dense tissue is bright in `Mammogram.pixels`.

Pixel Padding Value / Range Limit marks background, which ends up black. FOR PROCESSING images
are read but flagged. Multi-frame files: one frame is picked (the first unless asked) and a
note says so. pydicom raises many kinds of exceptions on damaged files; every call into it is
fenced so that only `ReaderError` escapes, with one sentence naming the tag or the problem.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ReaderError
from ...mammogram import Mammogram
from ..streams import missing_rows_text
from .grey import (
    VOI_CHOICES,
    apply_modality,
    apply_voi,
    inverted,
    present,
    voi_options,
    window_linear,
)
from .header import (
    FOR_PROCESSING_SOP,
    MAMMOGRAPHY_SOP,
    VIEW_MEANINGS,
    is_mammogram,
    read_header,
)
from .pixels import stored_values, to_grey

__all__ = [
    "FOR_PROCESSING_SOP",
    "MAMMOGRAPHY_SOP",
    "VIEW_MEANINGS",
    "VOI_CHOICES",
    "is_mammogram",
    "read_dicom",
    "read_header",
    "stored_values",
    "window_linear",
]

KNOWN_PHOTOMETRIC = (
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "PALETTE COLOR",
    "YBR_ICT",
    "YBR_RCT",
)


def read_dicom(
    path: str | Path,
    frame: int | None = None,
    voi: str = "auto",
    voi_index: int = 0,
    window: tuple[float, float] | None = None,
    partial: bool = False,
) -> Mammogram:
    """Read a DICOM image into a `Mammogram`; pydicom's warnings about the file become notes
    instead of going to stderr.

    frame: 0-based frame of a multi-frame file (default: the first, with a note).
    voi: "auto" (VOI LUT Sequence, else Window Center/Width, else percentile), "lut",
         "window", "percentile" (breast-region percentiles), "full" (the whole value range).
    voi_index: which VOI LUT or window of several (0-based).
    window: (center, width) given by the user; overrides the file's VOI.
    partial: read a truncated JPEG frame's complete rows (the rest black, named in a note);
         without it a truncated frame is refused.
    """
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


def _read_dicom(path, frame, voi, voi_index, window, partial) -> Mammogram:
    """The reading itself, with the arguments of `read_dicom`."""
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
    values = to_grey(raw, h, notes)

    pad = None
    if h.padding is not None and values.ndim == 2:
        lo, hi = h.padding
        pad = (raw >= lo) & (raw <= hi) if raw.ndim == 2 else None
        if pad is not None and not pad.any():
            pad = None
    if h.missing_rows is not None and values.ndim == 2:  # a partial read: rows past the data
        gone = np.zeros(values.shape, bool)
        gone[h.missing_rows[0] :] = True
        pad = gone if pad is None else pad | gone
        notes.append(
            f"truncated stream: {missing_rows_text(*h.missing_rows)} are missing (shown black); "
            "read because partial reading was asked for"
        )
    valid = None if pad is None else ~pad

    mod, modality_used = apply_modality(values, h)  # one float32 working copy
    del values
    mammogram, evidence = is_mammogram(h)
    out, used = apply_voi(mod, h, name, voi, voi_index, window, valid, (mammogram, evidence), notes)
    del mod
    present(out, h, pad, notes)

    for_processing = h.intent == "FOR PROCESSING" or h.sop_class in FOR_PROCESSING_SOP
    if for_processing:
        notes.append(
            "FOR PROCESSING image: raw detector values, not meant for viewing or reading; the "
            "grey levels shown are an approximation"
        )
    if h.photometric not in KNOWN_PHOTOMETRIC:
        notes.append(
            f"Photometric Interpretation (0028,0004) {h.photometric or 'missing'!r}; "
            "read as MONOCHROME2"
        )
    if h.pixel_spacing_tag and "Imager" in h.pixel_spacing_tag:
        notes.append("pixel spacing from Imager Pixel Spacing: at the detector, not the breast")
    info: dict[str, Any] = {
        "rows": h.rows,
        "columns": h.cols,
        "bits": h.bits_stored,
        "bits_allocated": h.bits_allocated,
        "bits_stored": h.bits_stored,
        "high_bit": h.high_bit,
        "signed": h.signed,
        "photometric": h.photometric,
        "presentation_lut_shape": h.presentation_shape,
        "inverted": inverted(h),
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
        "voi_available": voi_options(h),
        "padding": None
        if h.padding is None
        else {
            "value": h.padding[0],
            "range_limit": h.padding[1],
            "pixels": int(pad.sum()) if pad is not None else 0,
        },
        "spacing_source": h.pixel_spacing_tag,
        "series_description": h.description,
        "patient_id": h.patient_id,
    }
    if h.missing_rows is not None:
        info["missing_rows"] = list(h.missing_rows)  # [first missing (0-based), rows]
    return Mammogram(
        pixels=out,
        raw=raw,
        spacing_mm=h.pixel_spacing_mm,
        laterality=h.laterality,
        view=h.view,
        source=str(path),
        format="DICOM" + (f" ({h.modality})" if h.modality else ""),
        info=info,
        notes=notes,
    )
