"""Where file dialogs open: the folder the user last used for that kind of file.

Kinds: "images", "project", "latents", "results", "weights", "judgements" (results CSVs and
sessions), "judgement-images". A kind never used yet opens where the user last was for a
kind of the same family (making stimuli, or running a study with participants: the first Save
project dialog must not open among a study's results), then in the home folder — never in the
folder the app happened to be started from. The folders live in `folders.json` beside the
preferences, so they last between sessions.
"""

from __future__ import annotations

import json
from pathlib import Path

FILE = "folders.json"
STUDY_KINDS = frozenset({"judgements", "judgement-images"})


def family(kind: str) -> str:
    return "study" if kind in STUDY_KINDS else "stimuli"


def _path() -> Path:
    from .prefs import config_dir

    return config_dir() / FILE


def _load() -> dict:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def last_folder(kind: str) -> str:
    """The folder to open a `kind` dialog in (one that still exists)."""
    data = _load()
    fam = family(kind)
    kin = [k for k in data if not k.startswith("any") and family(k) == fam]
    for key in (kind, f"any:{fam}", *kin):  # then its family's other folders that still exist
        folder = data.get(key)
        if folder and Path(folder).is_dir():
            return folder
    return str(Path.home())


def start_path(kind: str, name: str = "") -> str:
    """The dialog's start: the last folder, with a suggested file name when given."""
    folder = last_folder(kind)
    return str(Path(folder) / name) if name else folder


def remember(kind: str, path) -> None:
    """Remember the folder of `path` (a file or a folder) for `kind` and as the last of any."""
    if not path:
        return
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    data = _load()
    data.pop("any", None)  # written by older versions, across families
    data[kind] = data[f"any:{family(kind)}"] = str(folder)
    try:
        from stimstudio.core.model import atomic_write_bytes

        atomic_write_bytes(_path(), json.dumps(data, indent=2).encode())
    except OSError:
        pass  # a dialog that opens elsewhere next time is no reason to stop the user
