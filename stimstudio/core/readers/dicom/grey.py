"""Grey levels from stored values, after PS3.3 C.11 (Modality LUT -> VOI LUT -> Presentation).

3. Modality LUT Sequence, or Rescale Slope / Intercept;
4. VOI: a VOI LUT Sequence entry, or Window Center / Width with the VOI LUT Function (LINEAR,
   LINEAR_EXACT, SIGMOID); the first one by default, others by index. With none at all, a
   robust percentile window from the breast region for a mammogram, the full value range for
   anything else (a test pattern, a phantom, another modality), so that no grey step is lost;
5. MONOCHROME1 or Presentation LUT Shape INVERSE: inverted after windowing, so dense tissue is
   bright in `Mammogram.pixels`; Pixel Padding ends up black.

All in float32, in place where the caller owns the array: a full-field 16-bit mammogram costs
one float copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ReaderError
from .._util import breast_window
from .header import DicomHeader

VOI_CHOICES = ("auto", "lut", "window", "percentile", "full")


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


def voi_options(h: DicomHeader) -> list[dict]:
    """Every VOI LUT and window the file offers, for `info` and the `voi_index` choice."""
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


def inverted(h: DicomHeader) -> bool:
    """Whether grey levels are inverted after windowing (MONOCHROME1 or INVERSE)."""
    return h.photometric == "MONOCHROME1" or h.presentation_shape == "INVERSE"


def apply_modality(values: np.ndarray, h: DicomHeader) -> tuple[np.ndarray, dict]:
    """Step 3: the Modality LUT or rescale, as a new float32 array, and what was used."""
    if h.modality_lut is not None:
        first, _bits, lut = h.modality_lut
        mod = _apply_lut(values, first, lut)
        return mod, {"kind": "Modality LUT Sequence", "entries": int(lut.size)}
    mod = values.astype(np.float32)
    if h.slope != 1.0 or h.intercept != 0.0:
        mod *= np.float32(h.slope)
        mod += np.float32(h.intercept)
    return mod, {"kind": "rescale", "slope": h.slope, "intercept": h.intercept}


def apply_voi(
    mod: np.ndarray,
    h: DicomHeader,
    name: str,
    voi: str,
    voi_index: int,
    window: tuple[float, float] | None,
    valid: np.ndarray | None,
    mammogram: tuple[bool, str],
    notes: list[str],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Step 4: `mod` (overwritten) windowed to [0, 1], and what was used (for `info`).

    voi: one of VOI_CHOICES; window: (center, width) given by the user, overriding the file;
    valid: the pixels that are not padding (for the percentiles); mammogram: `is_mammogram`.
    """
    used: dict[str, Any]
    kind = voi
    if window is not None:
        kind = "user"
    elif voi == "auto":
        kind = "lut" if h.voi_luts else ("window" if h.windows else "default")
    is_mg, evidence = mammogram
    if kind == "default":
        kind = "percentile" if is_mg else "full"
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
        lo, hi, frac = breast_window(mod, valid, dense_high=not inverted(h))
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
    return out, used


def present(out: np.ndarray, h: DicomHeader, pad: np.ndarray | None, notes: list[str]) -> None:
    """Step 5, in place: MONOCHROME1 / INVERSE inverted after windowing; padding black."""
    if inverted(h):
        np.subtract(np.float32(1.0), out, out=out)
    if h.photometric == "MONOCHROME2" and h.presentation_shape == "INVERSE":
        notes.append("Presentation LUT Shape (2050,0020) is INVERSE: grey levels inverted")
    if pad is not None:
        out[pad] = 0.0
