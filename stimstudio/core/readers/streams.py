"""Is a compressed pixel stream complete? And which rows of a truncated one are really there?

A lossless JPEG (DDSM's LJPEG, DICOM's JPEG Lossless) whose data ends early still "decodes":
the decoder reads zeros past the end and fills the missing rows with a smooth gradient, with no
error. So every compressed pixel path checks, before decoding, that the codestream reaches its
end marker:

- JPEG (baseline, extended, lossless, JPEG-LS): an EOI marker (FF D9) after the first SOS. In
  entropy-coded data an FF byte is always followed by 00 or an RST marker, so FF D9 there is
  the real end.
- JPEG 2000 (J2K / HTJ2K codestreams): an EOC marker (FF D9) after the first SOD (FF 93); packet
  data never holds FF followed by a byte above 8F.

A partial image is read only on request (`partial=True`), and then the rows that the data
really holds are found by decoding twice: once as given and once with its last bytes cut off.
Rows whose bits all lie before the cut decode identically both times; the first row that
differs is where the shorter stream ran out, so every row before it is complete in the given
stream too. That row and all after it are reported missing (at most one of them is partly there).
Trailing zero bytes cannot be told from the decoder's own zero fill, so rows coded only by them
count as missing too: the count errs on the side of fewer rows, never on wrong ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
SOS = b"\xff\xda"
J2K_SOC = b"\xff\x4f\xff\x51"
J2K_SOD = b"\xff\x93"

# DICOM transfer syntaxes whose frames are JPEG-family codestreams ending in FF D9
JPEG_FAMILY_PREFIXES = (
    "1.2.840.10008.1.2.4.",  # JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K
)
JPIP = ("1.2.840.10008.1.2.4.94", "1.2.840.10008.1.2.4.95")  # referenced, no pixels inside


def codestream_kind(data: bytes) -> str | None:
    """'jpeg', 'j2k' or None (not a codestream this module knows)."""
    if data.startswith(J2K_SOC):
        return "j2k"
    if data.startswith(SOI):
        return "jpeg"
    return None


def _jpeg_scan_start(data: bytes) -> int | None:
    """Offset of the first SOS, -1 when the marker segments run to the end of the data before
    any scan (cut inside the header), None when they are not well-formed JPEG segments."""
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:
            return pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            pos += 2
            continue
        if marker == 0xD9:  # EOI before any scan
            return None
        if pos + 4 > len(data):
            return -1
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return None
        pos += 2 + length
    return -1


def stream_complete(data: bytes) -> bool | None:
    """True when the codestream reaches its end marker, False when it ends early (in the
    header or in the scan), None when the data is not a well-formed JPEG / JPEG 2000 start
    (nothing to say: a decoder refuses such data with an error)."""
    kind = codestream_kind(data)
    if kind is None:
        return None
    if kind == "jpeg":
        start = _jpeg_scan_start(data)
        if start is None:
            return None
        if start < 0:
            return False  # cut inside the header: the decoder would invent every row
    else:
        start = data.find(J2K_SOD)
        if start < 0:
            return None
    return data.find(EOI, start + 2) >= 0


def complete_rows(decode: Callable[[bytes], np.ndarray], data: bytes, decoded: np.ndarray) -> int:
    """How many leading rows of `decoded` (the decode of truncated `data`) are really in it."""
    rows = decoded.shape[0]
    zeros = len(data) - len(data.rstrip(b"\x00"))  # decode like the fill: skip them
    step = 1
    while zeros + step < len(data):
        try:
            shorter = decode(data[: -(zeros + step)])
        except Exception:  # noqa: BLE001 - a decoder that refuses the shorter stream
            step *= 2
            continue
        if shorter.shape != decoded.shape:
            return 0
        differ = np.nonzero((shorter != decoded).reshape(rows, -1).any(axis=1))[0]
        if differ.size:
            return int(differ[0])
        step *= 2  # the cut bits decoded like the zeros after the end: cut more
    return 0


def missing_rows_text(first_missing: int, rows: int) -> str:
    """'rows 136-200 of 200' (1-based, inclusive) for notes and messages."""
    if first_missing >= rows:
        return "no rows"
    if first_missing == rows - 1:
        return f"row {rows} of {rows}"
    return f"rows {first_missing + 1}-{rows} of {rows}"
