"""Plain JSON from results that hold numpy values, paths and non-finite floats."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def to_jsonable(obj):
    """Dicts, lists, numpy scalars/arrays and paths -> JSON types; NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
