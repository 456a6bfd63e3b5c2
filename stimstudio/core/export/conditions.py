"""PsychoPy conditions files: identifier headers, `imageFile` always an 8-bit image."""

from __future__ import annotations

import csv
import io

from .job import _Job
from .settings import CONDITIONS_COLUMNS, DISPLAY, STILLS_COLUMNS


def _image_kind(files: dict) -> str:
    """The file kind a frame shows on screen: its 8-bit display copy, else its PNG."""
    for k in (DISPLAY, "png"):
        if k in files:
            return k
    return _primary_format(list(files))  # an export made before display copies existed


def _primary_format(formats) -> str:
    for f in ("png", "tiff"):
        if f in formats:
            return f
    return formats[0]


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return format(v, ".10g")
    return str(v)


def conditions_csv(job: _Job, frames: list[dict]) -> str:
    """PsychoPy conditions text for one export's frames (identifier headers only)."""
    return conditions_text([(job.kind, job.loop, job.cid, frames, "")])


def conditions_text(groups) -> str:
    """PsychoPy conditions rows of one or more exports.

    `groups` holds (kind, loop, continuum id, frame records, folder prefix); the prefix (with a
    trailing "/") makes `imageFile` relative to a parent folder (a batch's `out/`).
    """
    groups = list(groups)
    kinds = {g[0] for g in groups}
    cols = list(CONDITIONS_COLUMNS) if "continuum" in kinds else list(STILLS_COLUMNS)
    if "continuum" in kinds and not any(g[1] for g in groups if g[0] == "continuum"):
        cols.remove("angle")
    if kinds == {"continuum", "stills"}:
        cols.insert(2, "stimulus")
    extra: dict[str, str] = {}  # file kind -> column, in order of appearance
    for g in groups:
        for f in g[3]:
            files = f["files"]
            for fmt in files:
                if fmt == _image_kind(files) or fmt in extra:
                    continue
                extra[fmt] = "png16File" if fmt == "png" and DISPLAY in files else f"{fmt}File"
    cols += list(dict.fromkeys(extra.values()))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for kind, _loop, cid, frames, prefix in groups:
        for f in frames:
            files = f["files"]
            row = {
                "imageFile": prefix + files[_image_kind(files)]["path"],
                "continuum": cid if kind == "continuum" else "",
                "stimulus": f.get("stimulus", ""),
                "frame": f["index"],
                "nFrames": len(frames),
                "segment": f.get("segment"),
                "segmentT": f.get("t"),
                "position": f.get("position"),
                "angle": f.get("angle"),
                "stepDistance": f.get("step_distance"),
                "cumulativeDistance": f.get("cumulative_distance"),
            }
            for fmt, col in extra.items():
                if fmt != _image_kind(files) and fmt in files:
                    row[col] = prefix + files[fmt]["path"]
            w.writerow([_fmt(row.get(c)) for c in cols])
    return buf.getvalue()
