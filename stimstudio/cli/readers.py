"""`stimstudio info FILE` and `stimstudio convert FILE OUT.png|OUT.tiff [--masks DIR]`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.atomic import atomic_write_bytes
from ..core.errors import ExportError
from .common import UserError, add_common, emit, refuse_existing

if TYPE_CHECKING:
    import numpy as np

OUT_SUFFIXES = (".png", ".tif", ".tiff")


def register(sub) -> None:
    p = sub.add_parser("info", help="what a reader sees in a mammogram file or a case table")
    p.add_argument(
        "file",
        help="DICOM, CBIS-DDSM, DDSM, INbreast, mini-MIAS, PNG/TIFF/JPEG; or a table: a "
        "CBIS-DDSM case-description CSV, INbreast.csv, INbreast.xls",
    )
    _reader_options(p)
    add_common(p)
    p.set_defaults(func=cmd_info)

    c = sub.add_parser("convert", help="write the display-ready image (and lesion masks)")
    c.add_argument("file", help="any file `stimstudio info` reads")
    c.add_argument("out", help="output image: .png or .tiff (16-bit when the source has >8 bits)")
    c.add_argument("--masks", metavar="DIR", help="also write one mask PNG per lesion here")
    c.add_argument("--bits", type=int, choices=(8, 16), help="force the output bit depth")
    c.add_argument("--force", action="store_true", help="replace existing output files")
    _reader_options(c)
    add_common(c)
    c.set_defaults(func=cmd_convert)


def _reader_options(p) -> None:
    p.add_argument("--frame", type=int, help="frame of a multi-frame DICOM (1-based)")
    p.add_argument(
        "--voi",
        choices=("auto", "lut", "window", "percentile", "full"),
        help="DICOM grey-level mapping (default auto: VOI LUT, else window, else percentile)",
    )
    p.add_argument("--voi-index", type=int, help="which VOI LUT / window of several (1-based)")
    p.add_argument("--window", metavar="CENTER,WIDTH", help="DICOM window given by hand")
    p.add_argument(
        "--calibrate", action="store_true", help="DDSM: map grey levels to optical density"
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="read a truncated compressed image (LJPEG, DICOM JPEG): the complete rows, the "
        "missing ones black and named (without it such a file is refused)",
    )


def _read(args):
    from ..core.readers import read_mammogram  # numpy, cv2: not for `info --help`

    opts: dict = {}
    if args.frame is not None:
        if args.frame < 1:
            raise UserError("--frame counts from 1")
        opts["frame"] = args.frame - 1
    if args.voi:
        opts["voi"] = args.voi
    if args.voi_index is not None:
        if args.voi_index < 1:
            raise UserError("--voi-index counts from 1")
        opts["voi_index"] = args.voi_index - 1
    if args.window:
        try:
            c, w = (float(v) for v in args.window.split(","))
        except ValueError as exc:
            raise UserError(f"--window wants CENTER,WIDTH, got {args.window!r}") from exc
        opts["window"] = (c, w)
    if args.calibrate:
        opts["calibrate"] = True
    if args.partial:
        opts["partial"] = True
    return read_mammogram(args.file, **opts)


def describe(m) -> dict:
    """The JSON-able summary `info` prints."""
    h, w = m.shape
    lesions = []
    for i, les in enumerate(m.lesions, 1):
        d = {
            "number": i,
            "kind": les.kind,
            "pathology": les.pathology,
            "bbox": les.bbox(),
            "outline": "mask"
            if les.mask is not None
            else ("polygon" if les.polygon is not None else ("circle" if les.radius else "none")),
        }
        if les.center is not None:
            d["center"] = [round(v, 2) for v in les.center]
            d["radius"] = les.radius
        d["attributes"] = {
            k: v for k, v in les.attributes.items() if not k.endswith("outlines") and v is not None
        }
        lesions.append(d)
    info = {k: v for k, v in m.info.items() if k not in ("voi_available",)}
    return {
        "file": m.source,
        "format": m.format,
        "width": w,
        "height": h,
        "bits": m.info.get("bits"),
        "photometric": m.info.get("photometric"),
        "window": m.info.get("window"),
        "spacing_mm": list(m.spacing_mm) if m.spacing_mm else None,
        "laterality": m.laterality,
        "view": m.view,
        "lesions": lesions,
        "notes": list(m.notes),
        "info": info,
        "voi_available": m.info.get("voi_available"),
    }


def _window_text(win) -> str:
    text = _window_kind_text(win)
    if win and win.get("default_because"):
        text += f"; default: {win['default_because']}"
    return text


def _window_kind_text(win) -> str:
    if not win:
        return "-"
    kind = win.get("kind")
    if kind == "window":
        s = f"{win['function']} centre {win['center']:g} width {win['width']:g}"
        if "of" in win:
            s += f" (window {win['index'] + 1} of {win['of']})"
        return s + (f" '{win['explanation']}'" if win.get("explanation") else "")
    if kind == "VOI LUT":
        s = f"VOI LUT {win['index'] + 1} of {win['of']}"
        return s + (f" '{win['explanation']}'" if win.get("explanation") else "")
    if kind == "percentile":
        return f"percentile window {win['low']:g}..{win['high']:g} (breast region)"
    if "low" in win and "high" in win:
        return f"{kind} {win['low']:g}..{win['high']:g}"
    return str(kind)


def _counts(d: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (d or {}).items()) or "-"


def cmd_info_table(args) -> int:
    from ..core.readers.tables import summarize_table  # numpy: not for `info --help`

    t = summarize_table(args.file)
    lines = [f"file:        {t['file']}", f"table:       {t['table']}"]
    if "header" in t:
        lines.append(f"header:      {t['header']}")
    lines.append(f"records:     {t['records']}")
    if t.get("not_images"):
        lines.append(f"not images:  {t['not_images']} row(s) (summary rows, notes)")
    lines.append(
        f"patients:    {t['patients'] if t['patients'] is not None else 'not given (removed)'}"
    )
    if "images" in t:
        lines.append(f"images:      {t['images']}")
    if "lesions_by_type" in t:
        lines.append(f"lesions:     {_counts(t['lesions_by_type'])}")
        lines.append(f"pathology:   {_counts(t['lesions_by_pathology'])}")
        lines.append(f"by both:     {_counts(t['lesions_by_type_and_pathology'])}")
        cols = ", ".join(
            f"{c['role']} = '{c['column']}' (#{c['position']})" for c in t["path_columns"]
        )
        lines.append(f"paths:       {cols}")
    else:
        lines.append(f"laterality:  {_counts(t['laterality'])}")
        lines.append(f"view:        {_counts(t['view'])}")
        lines.append(f"BI-RADS:     {_counts(t['birads'])}")
        lines.append(f"ACR:         {_counts(t['acr_density'])}")
        if t["findings"]:
            lines.append(f"findings:    {_counts(t['findings'])}")
    missing = {k: v for k, v in t["missing"].items() if v}
    lines.append(f"missing:     {_counts(missing)}")
    emit(args, t, "\n".join(lines))
    return 0


def cmd_info(args) -> int:
    from ..core.readers.tables import is_table  # numpy: not for `info --help`

    if is_table(args.file):
        return cmd_info_table(args)
    m = _read(args)
    d = describe(m)
    i = m.info
    lines = [
        f"file:        {m.source}",
        f"format:      {m.format}",
        f"size:        {d['width']} x {d['height']} px"
        + (f", frame {i['frame'] + 1} of {i['frames']}" if i.get("frames", 1) > 1 else ""),
    ]
    bits = f"{d['bits']}"
    if "bits_allocated" in i:
        bits += f" stored in {i['bits_allocated']}, {'signed' if i.get('signed') else 'unsigned'}"
    lines.append(f"bits:        {bits}")
    if i.get("photometric"):
        ph = i["photometric"]
        if i.get("presentation_lut_shape"):
            ph += f", Presentation LUT Shape {i['presentation_lut_shape']}"
        lines.append(
            f"photometric: {ph}" + (" (inverted for display)" if i.get("inverted") else "")
        )
    if i.get("transfer_syntax_name"):
        lines.append(f"encoding:    {i['transfer_syntax_name']}")
    lines.append(f"window:      {_window_text(d['window'])}")
    sp = d["spacing_mm"]
    # "pixel size", not "spacing": that word is the frames' spacing along a continuum
    lines.append(f"pixel size:  {sp[0]:g} x {sp[1]:g} mm" if sp else "pixel size:  unknown")
    lines.append(f"view:        {m.laterality or '?'} {m.view or '?'}")
    if i.get("for_processing"):
        lines.append("intent:      FOR PROCESSING (not for viewing)")
    lines.append(f"lesions:     {len(m.lesions)}")
    for les in d["lesions"]:
        bb = les["bbox"]
        where = f"bbox ({bb[0]}, {bb[1]})-({bb[2]}, {bb[3]})" if bb else "no location"
        extra = ", ".join(
            f"{k}={v}" for k, v in les["attributes"].items() if isinstance(v, (str, int, float))
        )
        lines.append(
            f"  {les['number']}. {les['kind']}"
            + (f", {les['pathology']}" if les["pathology"] else "")
            + f", {where}"
            + (f", {extra}" if extra else "")
        )
    for n in m.notes:
        lines.append(f"note:        {n}")
    emit(args, d, "\n".join(lines))
    return 0


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "lesion"


def _encode(img: np.ndarray, suffix: str) -> bytes:
    import cv2  # ~0.6 s here: not for `convert --help`

    ok, buf = cv2.imencode(".tiff" if suffix == ".tif" else suffix, img)
    if not ok:
        raise ExportError(f"could not encode a {img.dtype} {suffix} image")
    return buf.tobytes()


def cmd_convert(args) -> int:
    import numpy as np  # not for `convert --help`

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise UserError(f"output must end in .png, .tif or .tiff, not {out.suffix or 'nothing'!r}")
    if not out.parent.is_dir():
        raise ExportError(f"output folder does not exist: {out.parent}")
    refuse_existing(out, args.force)
    mask_dir = Path(args.masks) if args.masks else None
    if mask_dir is not None and mask_dir.exists() and not mask_dir.is_dir():
        raise ExportError(f"--masks {mask_dir} is a file, not a folder")
    m = _read(args)
    src_bits = int(m.info.get("bits") or 8)
    bits = args.bits or (16 if src_bits > 8 else 8)
    px = np.clip(m.pixels, 0, 1)
    img = (
        np.round(px * 65535).astype(np.uint16)
        if bits == 16
        else np.round(px * 255).astype(np.uint8)
    )
    # plan every mask first, so that nothing is written when one of them would be refused
    masks: list[tuple[Path, object]] = []
    skipped = []
    if mask_dir is not None:
        stem = out.stem
        for i, les in enumerate(m.lesions, 1):
            if les.bbox() is None:
                skipped.append(f"lesion {i} ({les.kind}) has no location")
                continue
            masks.append((mask_dir / f"{stem}_lesion{i:02d}_{_safe(les.kind)}.png", les))
        for path, _ in masks:
            refuse_existing(path, args.force)
    data = _encode(img, suffix)
    atomic_write_bytes(out, data)
    written = []
    if masks:
        mask_dir.mkdir(parents=True, exist_ok=True)
        for path, les in masks:
            mk = les.to_mask(m.shape).astype(np.uint8) * 255
            atomic_write_bytes(path, _encode(mk, ".png"))
            written.append(
                {
                    "path": str(path),
                    "kind": les.kind,
                    "bbox": les.bbox(),
                    "pixels": int((mk > 0).sum()),
                }
            )
    result = {
        "source": m.source,
        "format": m.format,
        "output": str(out),
        "bits": bits,
        "width": m.shape[1],
        "height": m.shape[0],
        "masks": written,
        "skipped": skipped,
        "notes": list(m.notes),
    }
    text = [f"{m.source} ({m.format}) -> {out} ({m.shape[1]}x{m.shape[0]}, {bits}-bit)"]
    text += [f"mask: {w['path']} ({w['kind']}, {w['pixels']} px)" for w in written]
    text += [f"skipped: {s}" for s in skipped]
    text += [f"note: {n}" for n in m.notes]
    emit(args, result, "\n".join(text))
    return 0
