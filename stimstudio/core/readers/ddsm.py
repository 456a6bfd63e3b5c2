"""The original DDSM (USF Digital Database for Screening Mammography): `.ics` + `.OVERLAY`.

A case folder holds `A-1234-1.ics` (study facts and, per view, `LEFT_CC LINES <height>
PIXELS_PER_LINE <width> BITS_PER_PIXEL <bits> RESOLUTION <microns> OVERLAY|NON_OVERLAY`),
one image per view (`A_1234_1.LEFT_CC.LJPEG`) and, for views with abnormalities, an overlay
(`A_1234_1.LEFT_CC.OVERLAY`: ABNORMALITY n, LESION_TYPE MASS SHAPE .. MARGINS .. or
CALCIFICATION TYPE .. DISTRIBUTION .., ASSESSMENT, SUBTLETY, PATHOLOGY, TOTAL_OUTLINES,
BOUNDARY and CORE chain codes ending in `#`: start column, start row, then directions 0..7 =
N, NE, E, SE, S, SW, W, NW).

Pixels: LJPEG is the Stanford PVRG lossless JPEG with a non-standard header; it is decoded with
pylibjpeg-libjpeg when that works, and otherwise the user is told to run the classic
`jpeg -d -s FILE.LJPEG` and open the `FILE.LJPEG.1` raw output (16-bit, either byte order),
which this reader takes. Already converted PNG/TIFF images of a view with the `.ics` (and
`.OVERLAY`) beside them are read too, with the outlines scaled when the image was resized.
Quirks handled: wrong TOTAL_OUTLINES / TOTAL_ABNORMALITIES counts (a note), gzipped overlays,
chain codes spread over lines, outlines that leave the image (clipped, with a note).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import ReaderError
from ..mammogram import Lesion, Mammogram
from ._util import breast_window, check_size, read_text

VIEW_RE = re.compile(r"^(LEFT|RIGHT)_(CC|MLO|ML|LM|AT|XCC|FB|SIO)$")
NAME_RE = re.compile(r"^([A-Da-d])_(\d{4})_(\d)\.((?:LEFT|RIGHT)_[A-Z]+)$", re.IGNORECASE)
# chain-code directions 0..7 = N, NE, E, SE, S, SW, W, NW as (dx, dy), rows growing down
CHAIN_STEPS = np.array([(0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1)])
PATHOLOGY = {
    "MALIGNANT": "malignant",
    "BENIGN": "benign",
    "BENIGN_WITHOUT_CALLBACK": "benign without callback",
    "UNPROVEN": "unproven",
}
KINDS = {"MASS": "mass", "CALCIFICATION": "calcification"}


# ---- .ics ------------------------------------------------------------------------------


def parse_ics(text: str, name: str = ".ics") -> dict:
    """The facts of an `.ics` file: {'filename', 'age', 'density', 'digitizer', 'views': {
    'LEFT_CC': {'lines', 'pixels_per_line', 'bits', 'resolution_um', 'overlay'}}, ...}."""
    out: dict = {"views": {}}
    for lineno, line in enumerate(text.splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        key = tok[0].upper()
        if VIEW_RE.match(key):
            view: dict = {"overlay": False}
            i = 1
            while i < len(tok):
                k = tok[i].upper()
                if k in ("OVERLAY", "NON_OVERLAY"):
                    view["overlay"] = k == "OVERLAY"
                    i += 1
                    continue
                if i + 1 >= len(tok):
                    raise ReaderError(f"{name} line {lineno}: {k} has no value")
                field = {
                    "LINES": "lines",
                    "PIXELS_PER_LINE": "pixels_per_line",
                    "BITS_PER_PIXEL": "bits",
                    "RESOLUTION": "resolution_um",
                }.get(k)
                if field:
                    try:
                        view[field] = int(float(tok[i + 1]))
                    except (ValueError, OverflowError) as exc:
                        raise ReaderError(
                            f"{name} line {lineno}: {k} is {tok[i + 1]!r}, not a number"
                        ) from exc
                i += 2
            for need in ("lines", "pixels_per_line"):
                if need not in view:
                    raise ReaderError(f"{name}: the {key} line has no {need.upper()}")
            if not 1 <= view.get("bits", 12) <= 16:
                raise ReaderError(f"{name}: {key} has BITS_PER_PIXEL {view['bits']}")
            if view.get("resolution_um", 50) <= 0:
                raise ReaderError(f"{name}: {key} has RESOLUTION {view['resolution_um']}")
            out["views"][key] = view
        elif key == "FILENAME" and len(tok) > 1:
            out["filename"] = tok[1]
        elif key == "PATIENT_AGE" and len(tok) > 1:
            out["age"] = _int_or_none(tok[1])
        elif key == "DENSITY" and len(tok) > 1:
            out["density"] = _int_or_none(tok[1])
        elif key == "DIGITIZER":
            out["digitizer"] = " ".join(tok[1:])
        elif key == "DATE_OF_STUDY":
            out["date_of_study"] = " ".join(tok[1:])
    if not out["views"]:
        raise ReaderError(f"{name}: no view lines (LEFT_CC LINES ... PIXELS_PER_LINE ...) found")
    return out


def _int_or_none(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None


def read_ics(path: str | Path) -> dict:
    path = Path(path)
    return parse_ics(read_text(path, ".ics file"), path.name)


# ---- .OVERLAY ------------------------------------------------------------------------


def decode_chain(tokens: list[str], where: str) -> np.ndarray:
    """Chain code -> [K, 2] float (x, y) points, starting at (column, row)."""
    if len(tokens) < 2:
        raise ReaderError(f"{where}: broken chain code: no start point")
    try:
        x0, y0 = int(tokens[0]), int(tokens[1])
    except ValueError as exc:
        raise ReaderError(
            f"{where}: broken chain code: start point {tokens[0]!r} {tokens[1]!r}"
        ) from exc
    dirs = []
    for k, t in enumerate(tokens[2:]):
        if len(t) != 1 or t not in "01234567":
            raise ReaderError(
                f"{where}: broken chain code: {t!r} at step {k + 1} is not a direction 0..7"
            )
        dirs.append(int(t))
    steps = CHAIN_STEPS[np.asarray(dirs, np.int64)] if dirs else np.zeros((0, 2), np.int64)
    pts = np.concatenate([[[x0, y0]], np.cumsum(steps, axis=0) + [x0, y0]], axis=0)
    return pts.astype(np.float64)


def parse_overlay(text: str, name: str = ".OVERLAY") -> tuple[list[dict], list[str]]:
    """Abnormalities of an overlay, and notes about wrong counts."""
    notes: list[str] = []
    abns: list[dict] = []
    total = None
    lines = text.splitlines()
    i = 0
    cur: dict | None = None
    while i < len(lines):
        tok = lines[i].split()
        i += 1
        if not tok:
            continue
        key = tok[0].upper()
        if key == "TOTAL_ABNORMALITIES":
            total = _int_or_none(tok[1]) if len(tok) > 1 else None
        elif key == "ABNORMALITY":
            cur = {
                "number": _int_or_none(tok[1]) if len(tok) > 1 else len(abns) + 1,
                "lesion_types": [],
                "outlines": [],
                "cores": [],
            }
            abns.append(cur)
        elif cur is None:
            continue
        elif key == "LESION_TYPE":
            lt: dict = {"lesion": tok[1].upper() if len(tok) > 1 else "UNKNOWN"}
            rest = tok[2:]
            for j in range(0, len(rest) - 1, 2):
                k = rest[j].lower()
                if lt["lesion"] == "CALCIFICATION" and k in ("type", "distribution"):
                    k = f"calc_{k}"  # the names CBIS-DDSM uses
                lt[k] = rest[j + 1]
            cur["lesion_types"].append(lt)
        elif key in ("ASSESSMENT", "SUBTLETY"):
            cur[key.lower()] = _int_or_none(tok[1]) if len(tok) > 1 else None
        elif key == "PATHOLOGY":
            cur["pathology"] = tok[1].upper() if len(tok) > 1 else None
        elif key == "TOTAL_OUTLINES":
            cur["total_outlines"] = _int_or_none(tok[1]) if len(tok) > 1 else None
        elif key in ("BOUNDARY", "CORE"):
            chain = tok[1:]
            while "#" not in chain and "#" not in "".join(chain) and i < len(lines):
                nxt = lines[i].split()
                if nxt and nxt[0].upper() in ("BOUNDARY", "CORE", "ABNORMALITY", "LESION_TYPE"):
                    break
                chain += nxt
                i += 1
            joined = " ".join(chain)
            if "#" not in joined:
                raise ReaderError(
                    f"{name}: broken chain code in abnormality {cur['number']}: no closing '#'"
                )
            chain = joined.split("#", 1)[0].split()
            where = f"{name} abnormality {cur['number']} {key}"
            pts = decode_chain(chain, where)
            (cur["outlines"] if key == "BOUNDARY" else cur["cores"]).append(pts)
    if total is not None and total != len(abns):
        notes.append(f"{name}: TOTAL_ABNORMALITIES says {total}, the file has {len(abns)}")
    for a in abns:
        n = len(a["outlines"]) + len(a["cores"])
        if a.get("total_outlines") is not None and a["total_outlines"] != n:
            notes.append(
                f"{name}: abnormality {a['number']} says TOTAL_OUTLINES {a['total_outlines']} "
                f"but has {n}"
            )
        if not a["outlines"]:
            notes.append(f"{name}: abnormality {a['number']} has no BOUNDARY outline")
    return abns, notes


def read_overlay(path: str | Path) -> tuple[list[dict], list[str]]:
    path = Path(path)
    return parse_overlay(read_text(path, "overlay"), path.name)


def overlay_lesions(abns: list[dict], scale: tuple[float, float] = (1.0, 1.0)) -> list[Lesion]:
    out = []
    sx, sy = scale
    for a in abns:
        lts = a["lesion_types"] or [{"lesion": "UNKNOWN"}]
        first = lts[0]
        attrs = {k: v for k, v in first.items() if k != "lesion"}
        attrs.update(
            abnormality=a["number"],
            assessment=a.get("assessment"),
            subtlety=a.get("subtlety"),
            lesion_types=lts if len(lts) > 1 else None,
        )
        if a["cores"]:
            attrs["core_outlines"] = [(c * [sx, sy]).tolist() for c in a["cores"]]
        if len(a["outlines"]) > 1:
            attrs["other_outlines"] = [(c * [sx, sy]).tolist() for c in a["outlines"][1:]]
        poly = a["outlines"][0] * [sx, sy] if a["outlines"] else None
        out.append(
            Lesion(
                kind=KINDS.get(first["lesion"], first["lesion"].lower()),
                polygon=poly,
                pathology=PATHOLOGY.get(
                    a.get("pathology") or "", (a.get("pathology") or "").lower() or None
                ),
                attributes={k: v for k, v in attrs.items() if v is not None},
            )
        )
    return out


# ---- grey level -> optical density -----------------------------------------------------


def optical_density(gl: np.ndarray, digitizer: str, institution: str | None = None):
    """Grey level -> optical density with the DDSM calibration of each digitizer.

    Returns (od float32, curve name). MGH DBA: OD = (log10 GL - 4.80662) / -1.07553;
    MGH HOWTEK: OD = 3.789 - 0.00094568 GL; WFU LUMISYS: OD = (GL - 4096.99) / -1009.01;
    ISMD HOWTEK: OD = 3.96604095240593 - 0.00099055807612 GL.
    """
    d = (digitizer or "").upper()
    g = np.asarray(gl, np.float32)
    if "DBA" in d:
        return ((np.log10(np.maximum(g, 1.0)) - 4.80662) / -1.07553).astype(np.float32), "MGH DBA"
    if "LUMISYS" in d:
        return ((g - 4096.99) / -1009.01).astype(np.float32), "WFU LUMISYS"
    if "HOWTEK" in d:
        if (institution or "").upper() == "ISMD":
            return (3.96604095240593 - 0.00099055807612 * g).astype(np.float32), "ISMD HOWTEK"
        return (3.789 - 0.00094568 * g).astype(np.float32), "MGH HOWTEK"
    raise ReaderError(
        f"no optical-density calibration for digitizer {digitizer!r} "
        "(known: MGH DBA, MGH HOWTEK, WFU LUMISYS, ISMD HOWTEK)"
    )


# ---- finding the parts of a view -------------------------------------------------------


def split_name(path: Path) -> tuple[str, str] | None:
    """('A_1234_1', 'LEFT_CC') for a DDSM view file name of any of its forms."""
    name = path.name
    for suffix in (".LJPEG.1", ".LJPEG", ".OVERLAY.gz", ".OVERLAY", ".1"):
        if name.upper().endswith(suffix.upper()):
            name = name[: -len(suffix)]
            break
    else:
        name = path.stem
    m = NAME_RE.match(name)
    if not m:
        return None
    return f"{m.group(1)}_{m.group(2)}_{m.group(3)}", m.group(4).upper()


def find_ics(path: Path, case: str) -> Path | None:
    want = {case.replace("_", "-").lower() + ".ics", case.lower() + ".ics"}
    icss = sorted(p for p in path.parent.iterdir() if p.suffix.lower() == ".ics")
    for p in icss:
        if p.name.lower() in want:
            return p
    return icss[0] if len(icss) == 1 else None


def find_overlay(path: Path, case: str, view: str) -> Path | None:
    for p in path.parent.iterdir():
        n = p.name.upper()
        if n in (f"{case}.{view}.OVERLAY".upper(), f"{case}.{view}.OVERLAY.GZ".upper()):
            return p
    return None


def is_ddsm(path: Path) -> bool:
    """A DDSM view: LJPEG / its `.1` raw output, or a converted image with an `.ics` beside it."""
    parts = split_name(path)
    if parts is None:
        return False
    upper = path.name.upper()
    if upper.endswith(".LJPEG") or upper.endswith(".LJPEG.1"):
        return True
    try:
        return find_ics(path, parts[0]) is not None
    except OSError:
        return False


# ---- pixels ----------------------------------------------------------------------------


def _decode_ljpeg(
    path: Path, lines: int, ppl: int, partial: bool = False
) -> tuple[np.ndarray, int]:
    """The pixels of an LJPEG and how many leading rows the file really holds.

    A stream without its end marker is refused unless `partial`; then the rows past the data
    are set to 0 (background) and their number is returned for a note.
    """
    from .streams import complete_rows, missing_rows_text, stream_complete

    data = path.read_bytes()
    complete = stream_complete(data)
    if complete is False and not partial:
        raise ReaderError(
            f"{path.name}: truncated: the compressed stream ends before its end-of-image "
            "marker, so rows at the bottom are missing; read it with --partial (partial=True) "
            "to get the rows that are there"
        )
    try:
        from libjpeg import decode  # pylibjpeg-libjpeg

        arr = decode(data)
    except Exception as exc:  # the PVRG header is often not accepted
        raise ReaderError(
            f"{path.name}: this LJPEG file needs the classic decoder: run `jpeg -d -s "
            f"{path.name}` (Stanford PVRG jpeg, as in the DDSM software) and open the "
            f"{path.name}.1 file it writes ({str(exc).splitlines()[0][:80] if str(exc) else ''})"
        ) from exc
    transposed = False
    if arr.shape != (lines, ppl):
        if arr.shape == (ppl, lines):
            transposed = True
        else:
            raise ReaderError(
                f"{path.name}: decoded to {arr.shape[1]}x{arr.shape[0]}, the .ics says "
                f"{ppl}x{lines}"
            )
    good = arr.shape[0]
    if complete is False:
        good = complete_rows(decode, data, arr)
        arr = arr.copy()
        arr[good:] = 0
        if good == 0:
            raise ReaderError(
                f"{path.name}: truncated: the compressed stream ends before its first row "
                f"is complete ({missing_rows_text(0, arr.shape[0])} missing)"
            )
    if transposed:
        arr = arr.T.copy()
    return arr, good


def _read_raw16(path: Path, lines: int, ppl: int, bits: int) -> tuple[np.ndarray, str]:
    """The `.1` output of `jpeg -d -s`: 16-bit samples; the byte order is the one whose values
    fit BITS_PER_PIXEL (files made on big- and little-endian machines both circulate)."""
    n = lines * ppl
    size = path.stat().st_size
    if size == n:  # 8-bit output
        return np.fromfile(path, np.uint8).reshape(lines, ppl), "8-bit"
    if size != 2 * n:
        raise ReaderError(
            f"{path.name}: raw file has {size} bytes; the .ics says {ppl}x{lines} 16-bit pixels "
            f"({2 * n} bytes)"
        )
    le = np.fromfile(path, "<u2").reshape(lines, ppl)
    top = 1 << bits
    if bits < 16 and le.max() >= top:
        be = le.byteswap()
        if be.max() < top:
            return be, "big-endian"
    return le, "little-endian"


def read_ddsm(
    path: str | Path,
    calibrate: bool = False,
    institution: str | None = None,
    partial: bool = False,
) -> Mammogram:
    """One DDSM view: LJPEG, `jpeg -d -s` raw output (`.1`) or a converted PNG/TIFF.

    partial: read an LJPEG whose stream ends early; the missing rows are black and named in a
    note (without it such a file is refused)."""
    path = Path(path)
    parts = split_name(path)
    if parts is None:
        raise ReaderError(f"{path.name}: not a DDSM view name like A_1234_1.LEFT_CC.LJPEG")
    case, view = parts
    ics_path = find_ics(path, case)
    if ics_path is None:
        raise ReaderError(
            f"{path.name}: no {case.replace('_', '-')}.ics beside it; DDSM images need their "
            ".ics for size and bit depth"
        )
    ics = read_ics(ics_path)
    if view not in ics["views"]:
        raise ReaderError(
            f"{ics_path.name} has no {view} line (it lists {', '.join(ics['views'])})"
        )
    v = ics["views"][view]
    lines, ppl, bits = v["lines"], v["pixels_per_line"], v.get("bits", 12)
    check_size(path.name, lines, ppl)
    notes: list[str] = []
    upper = path.name.upper()
    scale = (1.0, 1.0)
    missing = None
    if upper.endswith(".LJPEG"):
        raw, good = _decode_ljpeg(path, lines, ppl, partial)
        source_kind = "LJPEG"
        if good < raw.shape[0]:
            from .streams import missing_rows_text

            missing = [good, raw.shape[0]]
            notes.append(
                f"truncated stream: {missing_rows_text(good, raw.shape[0])} are missing "
                "(shown black); read because partial reading was asked for"
            )
    elif upper.endswith(".1"):
        raw, order = _read_raw16(path, lines, ppl, bits)
        source_kind = f"raw jpeg -d -s output ({order})"
    else:
        from .plain import load_array

        raw, plain_notes = load_array(path)
        notes += plain_notes
        source_kind = f"converted {path.suffix.lstrip('.').upper()}"
        h, w = raw.shape
        if (h, w) != (lines, ppl):
            sx, sy = w / ppl, h / lines
            if abs(sx - sy) > 0.02 * max(sx, sy):
                raise ReaderError(
                    f"{path.name} is {w}x{h} but {ics_path.name} says {view} is {ppl}x{lines}: "
                    "not the same aspect ratio, so the outlines cannot be placed"
                )
            scale = (sx, sy)
            notes.append(
                f"image is {w}x{h}, the .ics says {ppl}x{lines}: outlines and spacing scaled "
                f"by {sx:.4g}"
            )
        if raw.dtype == np.uint8 and bits > 8:
            notes.append(f"converted image is 8-bit; the original had {bits} bits")
    res_mm = v.get("resolution_um", 50) / 1000.0
    spacing = (res_mm / scale[1], res_mm / scale[0])

    eff_bits = 8 if raw.dtype == np.uint8 else bits
    info: dict = {
        "case": case,
        "view": view,
        "ics": str(ics_path),
        "lines": lines,
        "pixels_per_line": ppl,
        "bits": eff_bits,
        "bits_per_pixel": bits,
        "resolution_um": v.get("resolution_um"),
        "digitizer": ics.get("digitizer"),
        "density": ics.get("density"),
        "age": ics.get("age"),
        "pixel_source": source_kind,
    }
    if missing is not None:
        info["missing_rows"] = missing  # [first missing (0-based), rows]
    valid = raw > 0
    if calibrate:
        od, curve = optical_density(raw, ics.get("digitizer", ""), institution)
        if "HOWTEK" in curve and institution is None:
            notes.append(
                "HOWTEK digitizer: the .ics does not say which institution; used the MGH "
                "HOWTEK curve (pass institution='ISMD' for the other)"
            )
        lo, hi, _ = breast_window(od, valid, dense_high=False)
        pixels = np.clip((hi - od) / (hi - lo), 0, 1).astype(np.float32)  # low OD = dense
        info["calibration"] = curve
        info["window"] = {"kind": "optical density", "low_od": lo, "high_od": hi}
    else:
        lo, hi, frac = breast_window(raw, valid, dense_high=True)
        pixels = raw.astype(np.float32)
        pixels -= np.float32(lo)
        pixels /= np.float32(hi - lo)
        np.clip(pixels, 0, 1, out=pixels)
        info["window"] = {
            "kind": "percentile",
            "low": lo,
            "high": hi,
            "breast_fraction": round(frac, 3),
        }

    lesions: list[Lesion] = []
    ov = find_overlay(path, case, view)
    if ov is not None:
        abns, ov_notes = read_overlay(ov)
        notes += ov_notes
        lesions = overlay_lesions(abns, scale)
        h, w = raw.shape
        for les in lesions:
            p = les.polygon
            if p is not None and (p.min() < -1 or p[:, 0].max() > w or p[:, 1].max() > h):
                notes.append(
                    f"outline of abnormality {les.attributes.get('abnormality')} leaves the "
                    "image; clipped"
                )
                les.polygon = np.clip(p, 0, [w - 1, h - 1])
        info["overlay"] = str(ov)
    elif v.get("overlay"):
        notes.append(f"the .ics says {view} has an overlay but {case}.{view}.OVERLAY is missing")
    return Mammogram(
        pixels=pixels,
        raw=raw,
        spacing_mm=spacing,
        laterality=view.split("_")[0][0],
        view=view.split("_", 1)[1],
        lesions=lesions,
        source=str(path),
        format="DDSM",
        info=info,
        notes=notes,
    )
