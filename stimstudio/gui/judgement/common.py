"""Shared pieces of the judgement-test windows: defaults and number formatting."""

from __future__ import annotations

import inspect
import math
import re

from stimstudio.core.judgements import (
    build_session,
)

DEFAULT_LEVELS = inspect.signature(build_session).parameters["confidence_levels"].default
MAX_KEY_LEVELS = 9  # one digit key per confidence level
SCREEN_MAX_SIDE = 4096  # images are read at most this large; the screen is smaller anyway
CORRECTIONS = ("loglinear", "extreme", "none")
ROC_COLORS = ("#4aa3df", "#ff8c42", "#7bd389", "#e05d9b", "#c9b6ff", "#ffd24a", "#46c7c7")


def _file_stem(text: str) -> str:
    """A participant id made safe for a file name (the id itself is stored unchanged)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "participant"


def _num(v: float, fmt: str = ".3f") -> str:
    if v is None:
        return "—"
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return format(v, fmt)


def files_text(files) -> str:
    """The names of the first four files, then how many more."""
    names = ", ".join(f.name for f in files[:4])
    more = f" and {len(files) - 4} more" if len(files) > 4 else ""
    return names + more
