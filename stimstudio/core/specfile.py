"""Spec files (TOML or JSON) as documents: one reader for `stimstudio batch` and `searchset`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import OptionError


def read_spec_document(path: str | os.PathLike, what: str = "batch spec") -> dict:
    """The top-level table of a .toml or .json file; every problem is one OptionError."""
    p = Path(path)
    if not p.is_file():
        raise OptionError(f"{what} not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"{p.name} is not a readable text file ({exc})") from None
    if p.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OptionError(f"{p.name} is not valid JSON: {exc}") from None
    elif p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib
            except ImportError:
                raise OptionError(
                    "TOML specs need Python 3.11+ (or the tomli package); use a .json spec"
                ) from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise OptionError(f"{p.name} is not valid TOML: {exc}") from None
    else:
        raise OptionError(f"{p.name}: a {what} must be a .toml or .json file")
    if not isinstance(doc, dict):
        raise OptionError(f"{p.name} must hold a table/object at the top level")
    return doc
