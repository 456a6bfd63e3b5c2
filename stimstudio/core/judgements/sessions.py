"""Judgement sessions: a balanced, shuffled list of real and generated images, its file, and
its PsychoPy conditions.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import StimStudioError

TRUTHS = ("real", "generated")
RESPONSES = ("real", "fake")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pgm", ".dcm", ".dicom")
RESULT_COLUMNS = (
    "participant",
    "session",
    "trial",
    "image",
    "truth",
    "response",
    "confidence",
    "confidence_levels",
    "rt_ms",
    "timestamp",
)
# confidence_levels, rt_ms and timestamp are optional; the format is described for users in
# `stimstudio judge analyze --help` (cli/judge.py RESULTS_FORMAT) and docs/OBSERVERS.md.
REQUIRED_COLUMNS = RESULT_COLUMNS[:7]
SESSION_FORMAT = "stimstudio-judgement-session"

# Fewer trials of either kind than this and the AUC (and its bootstrap CI) is flagged.
SMALL_SAMPLE = 20


class JudgementError(StimStudioError):
    """A judgement session, results file or analysis input that cannot be used."""


@dataclass(frozen=True)
class Trial:
    """One trial: which image (absolute path, or as stored) and whether it is real."""

    index: int
    image: str
    truth: str  # "real" | "generated"


@dataclass
class Session:
    """A balanced, shuffled list of trials; `seed` rebuilds the same order from the same lists."""

    trials: list[Trial]
    seed: int
    confidence_levels: int = 4
    display_time_s: float | None = None  # None: the image stays until the answer
    iti_s: float | None = None  # inter-trial interval; None: next trial at once
    created: str = ""
    source: dict = field(default_factory=dict)
    # How the images are shown (core.judgements.display.plan_display): magnification, each
    # set's pixel spacing, mm per screen pixel; {} = fitted to the screen (older sessions).
    display: dict = field(default_factory=dict)

    @property
    def n_real(self) -> int:
        return sum(t.truth == "real" for t in self.trials)

    @property
    def n_generated(self) -> int:
        return sum(t.truth == "generated" for t in self.trials)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under `folder` (recursively, hidden files skipped), sorted by path."""
    root = Path(folder)
    if not root.is_dir():
        raise JudgementError(f"{root} is not a folder")
    found = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)


def _check_levels(levels) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
        raise JudgementError(f"confidence levels must be an integer, not {levels!r}")
    if not (1 <= int(levels) <= 20):
        raise JudgementError(f"confidence levels must lie in 1..20, not {levels}")
    return int(levels)


def _check_seconds(value, name: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise JudgementError(f"{name} must be a number of seconds, not {value!r}") from None
    if not (math.isfinite(v) and 0 < v <= 3600):
        raise JudgementError(f"{name} must lie between 0 and 3600 seconds, not {value}")
    return v


def build_session(
    real: Sequence[str | os.PathLike],
    generated: Sequence[str | os.PathLike],
    *,
    seed: int | None = None,
    per_class: int | None = None,
    confidence_levels: int = 4,
    display_time_s: float | None = None,
    iti_s: float | None = None,
    display: dict | None = None,
) -> Session:
    """A balanced, randomised trial list: `per_class` images of each kind (default: as many as
    the smaller list has), drawn without replacement and shuffled with `seed` (a fresh random
    seed is drawn and recorded when None). Paths are stored absolute."""
    real_p = [str(Path(p).resolve()) for p in real]
    gen_p = [str(Path(p).resolve()) for p in generated]
    if not real_p:
        raise JudgementError("the judgement session has no real images")
    if not gen_p:
        raise JudgementError("the judgement session has no generated images")
    for name, lst in (("real", real_p), ("generated", gen_p)):
        if len(set(lst)) != len(lst):
            dup = next(p for p in lst if lst.count(p) > 1)
            raise JudgementError(f"{dup} is listed twice among the {name} images")
    both = set(real_p) & set(gen_p)
    if both:
        raise JudgementError(f"{sorted(both)[0]} is listed as both real and generated")
    levels = _check_levels(confidence_levels)
    n_max = min(len(real_p), len(gen_p))
    if per_class is None:
        n = n_max
    else:
        if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)):
            raise JudgementError(f"images per class must be an integer, not {per_class!r}")
        if not (1 <= per_class <= n_max):
            raise JudgementError(
                f"images per class must lie in 1..{n_max} (real: {len(real_p)}, "
                f"generated: {len(gen_p)}), not {per_class}"
            )
        n = int(per_class)
    if seed is None:
        seed = secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise JudgementError(f"session seed must be a non-negative integer, not {seed!r}")
    rng = np.random.default_rng(int(seed))
    pick_r = rng.choice(len(real_p), size=n, replace=False)
    pick_g = rng.choice(len(gen_p), size=n, replace=False)
    items = [(real_p[i], "real") for i in pick_r] + [(gen_p[i], "generated") for i in pick_g]
    order = rng.permutation(len(items))
    trials = [Trial(k, items[j][0], items[j][1]) for k, j in enumerate(order)]
    return Session(
        trials=trials,
        seed=int(seed),
        confidence_levels=levels,
        display_time_s=_check_seconds(display_time_s, "display time"),
        iti_s=_check_seconds(iti_s, "inter-trial interval"),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        source={"real_available": len(real_p), "generated_available": len(gen_p)},
        display=dict(display or {}),
    )


def _relative(path: str, folder: Path) -> str:
    """`path` relative to `folder`, with forward slashes (as PsychoPy and other OSes want)."""
    try:
        rel = os.path.relpath(Path(path).resolve(), Path(folder).resolve())
    except ValueError:  # another drive on Windows
        raise JudgementError(
            f"{path} is on another drive than {folder}; put the images and the session together"
        ) from None
    return rel.replace(os.sep, "/")


def _atomic_write(path: Path, data: bytes) -> None:
    from ..model import atomic_write_bytes

    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise JudgementError(f"cannot write {path}: {exc.strerror or exc}") from None


def session_to_json(session: Session, folder: str | os.PathLike) -> dict:
    """The session as a JSON document, image paths relative to `folder` (forward slashes)."""
    folder = Path(folder)
    doc = {
        "format": SESSION_FORMAT,
        "version": 1,
        "seed": session.seed,
        "confidence_levels": session.confidence_levels,
        "display_time_s": session.display_time_s,
        "iti_s": session.iti_s,
        "created": session.created,
        "source": session.source,
        "trials": [
            {"trial": t.index, "image": _relative(t.image, folder), "truth": t.truth}
            for t in session.trials
        ],
    }
    if session.display:
        doc["display"] = session.display
    return doc


def save_session(session: Session, path: str | os.PathLike) -> Path:
    """Write the session JSON atomically; image paths are stored relative to its folder."""
    path = Path(path)
    doc = session_to_json(session, path.parent)
    _atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    return path


def load_session(path: str | os.PathLike) -> Session:
    """Read a session JSON; relative image paths are resolved against its folder."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JudgementError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JudgementError(f"{path} is not a readable session file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SESSION_FORMAT:
        raise JudgementError(f"{path} is not a StimStudio judgement session")
    try:
        trials = []
        for k, t in enumerate(doc["trials"]):
            truth = str(t["truth"])
            if truth not in TRUTHS:
                raise JudgementError(f"{path}: trial {k} has truth {truth!r}")
            img = Path(t["image"])
            trials.append(Trial(int(t["trial"]), str((path.parent / img).resolve()), truth))
        return Session(
            trials=trials,
            seed=int(doc["seed"]),
            confidence_levels=_check_levels(int(doc["confidence_levels"])),
            display_time_s=_check_seconds(doc.get("display_time_s"), "display time"),
            iti_s=_check_seconds(doc.get("iti_s"), "inter-trial interval"),
            created=str(doc.get("created", "")),
            source=dict(doc.get("source") or {}),
            display=dict(doc.get("display") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise JudgementError(f"{path} is a damaged session file ({exc!r})") from None


PSYCHOPY_COLUMNS = (
    "trialIndex",
    "imageFile",
    "truth",
    "isReal",
    "displayTime",
    "iti",
    "magnification",
)


def psychopy_conditions(session: Session, folder: str | os.PathLike) -> str:
    """PsychoPy conditions CSV text: identifier headers; `imageFile` relative to `folder`."""
    # Headers are identifiers (PsychoPy rejects anything else); optional columns are left
    # out rather than left empty.
    cols = list(PSYCHOPY_COLUMNS[:4])
    if session.display_time_s is not None:
        cols.append("displayTime")
    if session.iti_s is not None:
        cols.append("iti")
    # the integer magnification of every image (size = image pixels x magnification, in pix
    # units): real and generated at the same mm per screen pixel (core.judgements.display)
    mag = session.display.get("magnification")
    if mag:
        cols.append("magnification")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for t in session.trials:
        row = [t.index, _relative(t.image, Path(folder)), t.truth, int(t.truth == "real")]
        if session.display_time_s is not None:
            row.append(f"{session.display_time_s:g}")
        if session.iti_s is not None:
            row.append(f"{session.iti_s:g}")
        if mag:
            row.append(int(mag))
        w.writerow(row)
    return buf.getvalue()


def write_psychopy_conditions(session: Session, path: str | os.PathLike) -> Path:
    """Write the PsychoPy conditions CSV atomically (`$imageFile` works in a Builder loop)."""
    path = Path(path)
    _atomic_write(path, psychopy_conditions(session, path.parent).encode("utf-8"))
    return path
