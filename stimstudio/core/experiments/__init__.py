"""Experiments that run as exported: the adjustment task on a loop, as files.

An export of a continuum that is a loop (A -> B -> ... -> A) gets, beside conditions.csv:

    adjustment_task.py          a PsychoPy Coder script (reads conditions.csv; results in data/)
    adjustment_task.html        the same task in a browser, offline from the folder or from any
    adjustment_task_files/      static host: the task's script and style, and jsPsych (MIT,
                                vendored from the npm registry, with its licence)

All three runners (and the app's own task) share the trial plan (`core.judgements.
adjustment_plan`: the same seed gives the same order everywhere) and write the columns
`ADJUSTMENT_COLUMNS`, which `stimstudio judge adjustment` analyses. The files are made from
templates in `templates/` with the export's parameters filled in; they hold no time or random
value, so the same export always writes the same bytes (regenerate compares them).

A continuum that is open (not a loop) has no circular task: `task="adjustment"` is refused for it
(the linear variant, a bounded slider, is not built); `"auto"` writes the task for loops only.
"""

from __future__ import annotations

import json
import math
import pprint
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ExportError, OptionError

TASKS = ("auto", "adjustment", "none")
PSYCHOPY_NAME = "adjustment_task.py"
BROWSER_NAME = "adjustment_task.html"
FILES_DIR = "adjustment_task_files"
MASKS = ("noise", "blank")

_HERE = Path(__file__).parent
_TEMPLATES = _HERE / "templates"
_VENDOR = _HERE / "vendor" / "jspsych"
# The vendored jsPsych files (npm: jspsych 8.3.0 and three plugins; see vendor/jspsych/README.md)
VENDORED = (
    "jspsych.min.js",
    "plugin-preload.min.js",
    "plugin-html-keyboard-response.min.js",
    "plugin-survey-html-form.min.js",
    "LICENSE",
)

INSTRUCTIONS = (
    "You will see an image for a moment, then a noise mask, then an image you can change. "
    "Change it with the Left and Right arrow keys (or the mouse wheel) until it looks like "
    "the first image, then press Space."
)


def default_trials(n_frames: int) -> int:
    """At least 100 trials, a whole number of passes over the loop (every frame equally
    often a target)."""
    return n_frames * max(1, math.ceil(100 / n_frames))


@dataclass(frozen=True)
class AdjustmentTaskParams:
    """The task's timing and options (the exported files carry them; edit them there)."""

    n_trials: int | None = None  # None: default_trials(n_frames)
    target_s: float = 0.5
    mask: str = "noise"  # "noise" | "blank"
    mask_s: float = 0.5
    iti_s: float = 0.5
    confidence_levels: int = 0  # 0: no confidence question; N: 1..N after each response
    mouse_x: bool = False  # the pointer's horizontal position also chooses the frame
    instructions: str = INSTRUCTIONS

    def validate(self) -> None:
        if self.n_trials is not None and (
            isinstance(self.n_trials, bool) or not isinstance(self.n_trials, int)
        ):
            raise OptionError(f"the number of trials must be a whole number, not {self.n_trials!r}")
        if self.n_trials is not None and not 1 <= self.n_trials <= 100_000:
            raise OptionError(f"the number of trials must be 1..100000, not {self.n_trials}")
        for name in ("target_s", "mask_s", "iti_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 60):
                raise OptionError(f"{name} must be 0..60 seconds, not {v!r}")
        if self.target_s <= 0:
            raise OptionError("the target must be shown for more than 0 seconds")
        if self.mask not in MASKS:
            raise OptionError(f"mask must be noise or blank, not {self.mask!r}")
        if not isinstance(self.mouse_x, bool):
            raise OptionError(f"mouse_x must be true or false, not {self.mouse_x!r}")
        if not (isinstance(self.confidence_levels, int) and 0 <= self.confidence_levels <= 9):
            raise OptionError(f"confidence levels must be 0..9, not {self.confidence_levels!r}")


def check_task(task: str, kind: str, loop: bool, conditions: bool) -> bool:
    """Whether an export writes the adjustment task; refuses what cannot be done."""
    if task not in TASKS:
        raise OptionError(f"unknown task {task!r}; choose {', '.join(TASKS)}")
    if task == "none":
        return False
    circular = kind == "continuum" and loop
    if task == "auto":
        return circular and conditions
    if kind != "continuum":
        raise ExportError("the adjustment task needs a continuum that is a loop, not stills")
    if not loop:
        raise ExportError(
            "the adjustment task is circular and needs a continuum that is a loop "
            "(A -> B -> ... -> A); this one is open (a linear variant is not available)"
        )
    if not conditions:
        raise ExportError("the adjustment task reads conditions.csv: keep the conditions file")
    return True


def _template(name: str) -> str:
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def task_params(
    continuum: str, n_frames: int, image_px: int, params: AdjustmentTaskParams | None = None
) -> dict:
    """The parameters the exported files carry (one dict for both runners)."""
    p = params or AdjustmentTaskParams()
    p.validate()
    d = asdict(p)
    d["n_trials"] = p.n_trials or default_trials(n_frames)
    return {
        "continuum": continuum,
        "n_frames": int(n_frames),
        "conditions": "conditions.csv",
        "image_px": int(image_px),
        **d,
    }


def adjustment_task_files(
    continuum: str,
    frame_files: list[str],
    image_px: int,
    params: AdjustmentTaskParams | None = None,
) -> dict[str, bytes]:
    """The task's files: relative path -> bytes. `frame_files`: each frame's 8-bit image,
    relative to the export folder, in frame order (conditions.csv's `imageFile`)."""
    n = len(frame_files)
    if n < 3:
        raise ExportError(f"the adjustment task needs a loop of 3 frames or more, not {n}")
    p = task_params(continuum, n, image_px, params)
    script = _template("adjustment_psychopy.py")
    marker = "PARAMS = {}  # @STIMSTUDIO_PARAMS@"
    if marker not in script:
        raise ExportError("the PsychoPy task template is damaged (no parameter line)")
    literal = pprint.pformat(p, indent=1, width=96, sort_dicts=False)
    script = script.replace(marker, "PARAMS = " + literal)
    js_params = {**p, "frames": list(frame_files)}
    js_params.pop("conditions")
    html = (
        _template("adjustment.html")
        .replace("@CONTINUUM@", continuum)
        .replace("@PARAMS@", json.dumps(js_params, indent=1).replace("</", "<\\/"))
    )
    files = {
        PSYCHOPY_NAME: script.encode("utf-8"),
        BROWSER_NAME: html.encode("utf-8"),
        f"{FILES_DIR}/adjustment.js": (_TEMPLATES / "adjustment.js").read_bytes(),
        f"{FILES_DIR}/adjustment.css": (_TEMPLATES / "adjustment.css").read_bytes(),
    }
    for name in VENDORED:
        files[f"{FILES_DIR}/jspsych/{name}"] = (_VENDOR / name).read_bytes()
    return files


@dataclass(frozen=True)
class LoopFrames:
    """A finished loop export, as the in-app task shows it: each frame's 8-bit image."""

    folder: Path
    continuum: str
    frames: tuple[Path, ...]  # in frame order

    @property
    def n_frames(self) -> int:
        return len(self.frames)


def loop_from_export(folder) -> LoopFrames:
    """The frames of the loop exported in `folder`; anything else is refused in one line."""
    from ..export import load_manifest  # core.export uses this module: imported when needed
    from ..export.conditions import _image_kind

    folder = Path(folder)
    doc = load_manifest(folder)
    c = doc.get("continuum") or {}
    if c.get("kind") != "continuum":
        raise ExportError(
            f"{folder} holds stills, not a continuum: the adjustment task needs a loop"
        )
    if not c.get("loop"):
        raise ExportError(
            f"{folder} holds an open continuum, not a loop: the adjustment task is circular "
            "(a linear variant is not available)"
        )
    if not doc.get("complete"):
        raise ExportError(f"{folder} holds an unfinished export; resume it first")
    frames = sorted(doc.get("frames") or [], key=lambda f: f["index"])
    paths = tuple(folder / f["files"][_image_kind(f["files"])]["path"] for f in frames)
    if len(paths) < 3:
        raise ExportError(f"the loop in {folder} has {len(paths)} frames; the task needs 3 or more")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ExportError(f"{missing[0]} is missing ({len(missing)} frame files in all)")
    return LoopFrames(folder, str(c.get("id") or folder.name), paths)


def noise_mask(side: int, seed: int | None = None):
    """A uniform gray-level noise image (uint8, side x side): the task's noise mask."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)


__all__ = [
    "noise_mask",
    "LoopFrames",
    "loop_from_export",
    "TASKS",
    "MASKS",
    "PSYCHOPY_NAME",
    "BROWSER_NAME",
    "FILES_DIR",
    "VENDORED",
    "INSTRUCTIONS",
    "AdjustmentTaskParams",
    "default_trials",
    "check_task",
    "task_params",
    "adjustment_task_files",
]
