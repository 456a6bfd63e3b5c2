"""The `.stimproj` file: a design's plain state (its records as dicts of plain values and numpy
arrays) as a zip, written atomically; core.project turns records into that state and back.

    project.stimproj  (a zip)
      project.json    format, app version, model, and the state with arrays as references
      arrays.npz      every array of the state
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np

from .. import __version__
from .atomic import atomic_write_bytes
from .errors import ProjectFileError

__all__ = ["FORMAT", "SUFFIX", "read_state", "state_bytes", "write_state"]

FORMAT = "stimstudio-project-v1"
SUFFIX = ".stimproj"


def _encode(obj, arrays: dict):
    if isinstance(obj, np.ndarray):
        name = f"a{len(arrays):04d}"
        arrays[name] = obj
        return {"__array__": name}
    if isinstance(obj, dict):
        return {str(k): _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a project")


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def state_bytes(state: dict, model: dict | None = None, original: str | None = None) -> bytes:
    """The `.stimproj` bytes of a design's plain state (the one writer of the format)."""
    arrays: dict[str, np.ndarray] = {}
    doc = {
        "format": FORMAT,
        "app_version": __version__,
        "saved": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model": dict(model or {}),
        "original_path": str(original) if original else None,
        "state": _encode(state, arrays),
    }
    abuf = io.BytesIO()
    np.savez_compressed(abuf, **arrays)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("project.json", json.dumps(doc, indent=1))
        z.writestr("arrays.npz", abuf.getvalue())
    return out.getvalue()


def write_state(path, state: dict, model: dict | None = None, original=None) -> Path:
    """Write a design's plain state as a `.stimproj` atomically (never half a file)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ProjectFileError(f"folder does not exist: {path.parent}")
    data = state_bytes(state, model, str(original) if original else None)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ProjectFileError(f"could not write {path.name}: {exc.strerror or exc}") from exc
    return path


def read_state(path) -> tuple[dict, dict]:
    """(state, meta) of a `.stimproj`: a design's plain state and format/app_version/saved/
    model/original_path. A damaged or foreign file is one ProjectFileError."""
    path = Path(path)
    if not path.is_file():
        raise ProjectFileError(f"project file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            for part in ("project.json", "arrays.npz"):
                if part not in names:
                    raise ProjectFileError(
                        f"{path.name} is not a readable StimStudio project: it holds no {part}"
                    )
            doc = json.loads(z.read("project.json"))
            with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except ProjectFileError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise ProjectFileError(f"{path.name} is not a readable StimStudio project: {exc}") from None
    if not isinstance(doc, dict):
        raise ProjectFileError(f"{path.name} is not a StimStudio project")
    if doc.get("format") != FORMAT:
        raise ProjectFileError(
            f"{path.name} has an unknown project format {doc.get('format')!r} "
            f"(this StimStudio reads {FORMAT})"
        )
    try:
        state = _decode(doc.get("state", {}), arrays)
    except KeyError as exc:
        raise ProjectFileError(f"{path.name} refers to a missing array {exc}") from None
    if not isinstance(state, dict):
        raise ProjectFileError(f"{path.name}: the project state is not a record")
    meta = {k: v for k, v in doc.items() if k != "state"}
    return state, meta
