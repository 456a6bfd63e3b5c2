"""Back from display values to the film's stored values, and the film's own file kind.

The readers map stored values to display values (`Mammogram.raw` -> `pixels`): linearly for
mini-MIAS and plain files, through the DICOM rescale / VOI / presentation chain otherwise. The
inverse used here is the reader's own mapping read off the film: every stored level that occurs
and the display value it gave, made monotone, interpolated between levels and extended past
the film's range with its mean slope. Only the pixels a lesion changed are mapped back; every
other pixel keeps its stored value bit for bit, so the film's grey-level mapping and bit depth
are kept. New values are clipped to the film's significant bits (a 12-bit film in a 16-bit file
stays 12-bit, so the reader scales it as before). Where the reader's window clips (a flat end
of the mapping), a change there cannot be shown, and none is made.
"""

from __future__ import annotations

import numpy as np

from ..errors import ReaderError


def level_table(raw: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(display, stored): the film's mapping as increasing display values and their stored
    levels (mean stored level where several give the same display value)."""
    r = np.asarray(raw).ravel()
    d = np.asarray(pixels, np.float64).ravel()
    if r.dtype.kind not in "ui":
        raise ReaderError("the film's stored values are not integers; it cannot be written back")
    lo = int(r.min())
    idx = (r.astype(np.int64) - lo).astype(np.intp)
    counts = np.bincount(idx)
    sums = np.bincount(idx, weights=d)
    levels = np.nonzero(counts)[0]
    disp = sums[levels] / counts[levels]
    stored = (levels + lo).astype(np.float64)
    if len(levels) > 1 and np.corrcoef(stored, disp)[0, 1] < 0:  # MONOCHROME1: bright = low
        stored, disp = stored[::-1], disp[::-1]
    disp = np.maximum.accumulate(disp)  # monotone (padding or noise can break it)
    u, inv = np.unique(disp, return_inverse=True)
    st = np.bincount(inv, weights=stored) / np.bincount(inv)
    return u, st


def value_range(mammo) -> tuple[int, int]:
    """The stored values the film's file kind and significant bits allow."""
    raw = mammo.raw
    bits = int(mammo.info.get("bits") or 8 * raw.itemsize)
    if raw.dtype.kind == "i" or mammo.info.get("signed"):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def to_stored(mammo, display: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """Stored values for `display` ([0, 1] display values of the pixels in `changed`): a new
    array like `mammo.raw`, equal to it outside `changed`."""
    if mammo.raw is None:
        raise ReaderError(f"{mammo.source}: the reader kept no stored values to write back")
    raw = mammo.raw
    out = raw.copy()
    if not changed.any():
        return out
    xs, ys = level_table(raw, mammo.pixels)
    want = np.asarray(display, np.float64)[changed]
    got = np.interp(want, xs, ys)
    if len(xs) > 1:
        slope = (ys[-1] - ys[0]) / max(xs[-1] - xs[0], 1e-12)
        got = np.where(want > xs[-1], ys[-1] + (want - xs[-1]) * slope, got)
        got = np.where(want < xs[0], ys[0] + (want - xs[0]) * slope, got)
    lo, hi = value_range(mammo)
    out[changed] = np.clip(np.rint(got), lo, hi).astype(raw.dtype)
    return out
