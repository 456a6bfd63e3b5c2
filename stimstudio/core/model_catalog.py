"""The models a user can choose: the files in weights/, their short names, and what each is.

A model is named on the command line by a path or by a short name: `minimias-128` resolves to
`weights/stimstudio-minimias-128.safetensors` (the full stem works too). The listing reads the
model cards only (no tensors, no torch), so the app's Settings can show it at once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
PREFIX = "stimstudio-"
DEFAULT_NAME = "stimstudio-minimias-128"  # the shipped model, the fast default


def default_weights_path() -> Path:
    """The shipped model; STIMSTUDIO_WEIGHTS overrides it (labs with their own model)."""
    env = os.environ.get("STIMSTUDIO_WEIGHTS")
    return Path(env) if env else WEIGHTS_DIR / f"{DEFAULT_NAME}.safetensors"


SUFFIXES = (".safetensors", ".json")


def short_name(path: str | Path) -> str:
    """`weights/stimstudio-minimias-128.safetensors` -> `minimias-128`."""
    stem = Path(path).stem
    return stem[len(PREFIX) :] if stem.startswith(PREFIX) and len(stem) > len(PREFIX) else stem


def card_spacing_mm(card: dict) -> float | None:
    """The model's pixel size in mm, as its card records it (top level or the data recipe)."""
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    recipe = data.get("recipe") if isinstance(data.get("recipe"), dict) else {}
    for section in (card, data, recipe):
        v = section.get("spacing_mm")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v)
    return None


def card_resolution(card: dict) -> int | None:
    gen = (card.get("architecture") or {}).get("generator") or {}
    res = gen.get("resolution") if isinstance(gen, dict) else None
    return int(res) if isinstance(res, int) and res > 0 else None


@dataclass(frozen=True)
class ModelEntry:
    """One model file with its card's headline facts."""

    path: Path
    name: str  # short name (what --weights accepts)
    resolution: int | None
    spacing_mm: float | None
    kimg: float | None
    card: dict

    def label(self) -> str:
        """'minimias-128 · 128 px at 0.4 mm (51.2 mm) · 428 kimg'."""
        parts = [self.name]
        if self.resolution:
            sp = self.spacing_mm
            fov = f" at {sp:g} mm ({self.resolution * sp:.1f} mm)" if sp else ""
            parts.append(f"{self.resolution} px{fov}")
        if self.kimg:
            parts.append(f"{self.kimg:.0f} kimg")
        return " · ".join(parts)


def read_entry(path: str | Path) -> ModelEntry:
    """The card beside a model file as a ModelEntry; one CheckpointError sentence if unreadable."""
    path = Path(path).with_suffix(".safetensors")
    card_path = path.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"model card {card_path.name} cannot be read: {exc}") from exc
    if not isinstance(card, dict):
        raise CheckpointError(f"model card {card_path.name} is not a JSON object")
    kimg = card.get("kimg")
    return ModelEntry(
        path=path,
        name=short_name(path),
        resolution=card_resolution(card),
        spacing_mm=card_spacing_mm(card),
        kimg=float(kimg) if isinstance(kimg, (int, float)) else None,
        card=card,
    )


def list_models(folder: str | Path | None = None) -> list[ModelEntry]:
    """Every model in `folder` (default weights/) that has its card beside it, by name."""
    folder = Path(folder) if folder is not None else WEIGHTS_DIR
    out = []
    for p in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        if p.with_suffix(".json").is_file():
            try:
                out.append(read_entry(p))
            except CheckpointError:
                continue  # a damaged card: loading that file says why
    return out


def resolve_weights(value: str | Path, folder: str | Path | None = None) -> Path:
    """A path as given, or a short model name resolved in weights/.

    An existing file wins; a bare word (no folder, no .safetensors/.json) is looked up as
    `NAME.safetensors` or `stimstudio-NAME.safetensors`. An unknown name is one sentence that
    lists the names there are; a path that does not exist is returned as it is (loading says so).
    """
    path = Path(value)
    if path.exists():
        return path
    text = str(value)
    bare = "/" not in text and "\\" not in text and path.suffix not in SUFFIXES
    if not bare:
        return path
    folder = Path(folder) if folder is not None else WEIGHTS_DIR
    for cand in (folder / f"{text}.safetensors", folder / f"{PREFIX}{text}.safetensors"):
        if cand.is_file():
            return cand
    names = ", ".join(e.name for e in list_models(folder)) or "none"
    raise CheckpointError(
        f"no model named '{text}' in {folder} (models there: {names}); give a .safetensors path "
        "or one of those names"
    )
