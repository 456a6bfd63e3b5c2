"""Helpers shared by the readers: size limits, breast region, robust windows, text decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ReaderError

# A full-field mammogram is at most ~7000 x 4000 (DDSM); refuse absurd sizes before allocating.
MIN_SIDE = 16
MAX_SIDE = 30_000
MAX_PIXELS = 200_000_000


def check_size(name: str, rows: int, cols: int, frames: int = 1) -> None:
    """Refuse images too small to be a mammogram or too large to hold, before any allocation."""
    if rows < MIN_SIDE or cols < MIN_SIDE:
        raise ReaderError(
            f"{name}: image of {cols}x{rows} pixels is too small to be a mammogram "
            f"(at least {MIN_SIDE}x{MIN_SIDE})"
        )
    if rows > MAX_SIDE or cols > MAX_SIDE or rows * cols > MAX_PIXELS:
        raise ReaderError(
            f"{name}: image of {cols}x{rows} pixels is larger than any mammogram "
            f"(limit {MAX_SIDE} per side, {MAX_PIXELS // 1_000_000} megapixels); refusing to "
            "allocate it"
        )
    if frames < 1:
        raise ReaderError(f"{name}: Number of Frames is {frames}")


def subsample(a: np.ndarray, target: int = 1_000_000) -> np.ndarray:
    """A strided view with about `target` pixels (no copy), for statistics on large images."""
    step = max(1, int(np.sqrt(a.size / target)))
    return a[::step, ::step]


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample (float)."""
    v = values.astype(np.float64, copy=False)
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centers[int(np.argmax(between[:-1]))]) if len(between) > 1 else lo


def breast_window(
    values: np.ndarray,
    valid: np.ndarray | None = None,
    dense_high: bool = True,
    percentiles: tuple[float, float] = (0.5, 99.5),
) -> tuple[float, float, float]:
    """A robust (low, high) window from the breast region, not the background.

    The background of a mammogram is the large flat mode at the "empty" end of the grey scale
    (low values when dense is high). Otsu's threshold on a subsample separates it; the window is
    the given percentiles of what lies on the breast side. Returns (low, high, breast fraction).
    """
    s = subsample(values)
    ok = np.isfinite(s)
    if valid is not None:
        ok &= subsample(valid)
    v = s[ok]
    if v.size == 0:
        return 0.0, 1.0, 0.0
    t = otsu_threshold(v)
    breast = v[v > t] if dense_high else v[v < t]
    # A film filling the whole field has no background mode; Otsu then splits the tissue. Keep
    # the whole sample when the "breast" side would be a small minority.
    if breast.size < 0.15 * v.size:
        breast = v
    lo, hi = np.percentile(breast, percentiles)
    if hi <= lo:
        lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi), float(breast.size / v.size)


def read_text(path: Path, what: str) -> str:
    """A text annotation file as str; bytes that are not UTF-8 are decoded as Latin-1."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReaderError(f"{path.name}: cannot read the {what} ({exc.strerror or exc})") from exc
    if data[:2] == b"\x1f\x8b":  # gzipped (DDSM overlays sometimes are)
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ReaderError(f"{path.name}: the gzipped {what} is damaged ({exc})") from exc
    if b"\x00" in data[:4096]:
        raise ReaderError(f"{path.name}: is a binary file, not a text {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
