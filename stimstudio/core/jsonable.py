"""Plain JSON from results that hold numpy values, paths and non-finite floats."""

from __future__ import annotations

import json
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


def dumps_strict(obj, **kwargs) -> str:
    """JSON text that every JSON parser reads: non-finite floats become null (missing), and
    `allow_nan=False` guards that no NaN / Infinity token is ever written."""
    return json.dumps(to_jsonable(obj), allow_nan=False, **kwargs)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def loads_strict(text: str | bytes):
    """Parse JSON as strict parsers do: NaN, Infinity and -Infinity are refused."""
    return json.loads(text, parse_constant=_refuse_constant)
