"""The model card's evaluation: write it, read its settings back, and compare a new run
with it.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

from ...core.errors import CheckpointError
from ...core.jsonable import to_jsonable
from ...core.model import atomic_write_bytes, sha256_file
from .settings import EvalSettings, targets_met


def update_card(weights: str | Path, evaluation: dict) -> Path:
    """Write `evaluation` into the model card beside `weights` (atomically).

    Only the JSON card changes; the tensor file is never written, so the sha256 the card
    records stays valid. Sections measured on the same file earlier and not re-run now are
    kept; an evaluation of another file replaces the old one.
    """
    path = Path(weights)
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise CheckpointError(f"no model file with a card at {path}")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"model card {card_path.name} is not valid JSON: {exc}") from exc
    digest = sha256_file(path)
    if card.get("sha256") not in (None, digest):
        raise CheckpointError(f"{path.name} does not match its model card (sha256 differs)")
    evaluated = (evaluation.get("model") or {}).get("sha256")
    if evaluated and evaluated != digest:
        raise CheckpointError(
            f"the evaluation is of another file (sha256 {evaluated[:12]}…), not {path.name}"
        )
    old = card.get("evaluation")
    new = dict(evaluation)
    ran = [sec for sec in (new.get("settings") or {}).get("sections", []) if sec in new]
    new["section_settings"] = {sec: new["settings"] for sec in ran}
    if isinstance(old, dict) and (old.get("model") or {}).get("sha256") == digest:
        merged = dict(old)
        merged.update(new)
        merged["section_settings"] = {**section_settings(old), **new["section_settings"]}
        new = merged
        new["targets"] = targets_met(new)
    card["evaluation"] = to_jsonable(_without_history(new))
    atomic_write_bytes(card_path, json.dumps(card, indent=2).encode())
    return card_path


def section_settings(card_eval: dict) -> dict[str, dict]:
    """The settings each section of a card's evaluation was measured with.

    Cards merge sections from several runs, so the top-level settings describe only the
    latest run; older cards without a per-section record give just that run's sections.
    """
    recorded = card_eval.get("section_settings")
    if isinstance(recorded, dict):
        return dict(recorded)
    latest = card_eval.get("settings") or {}
    return {sec: latest for sec in latest.get("sections", []) if sec in card_eval}


def settings_from_card(recorded: dict, sections) -> EvalSettings:
    """EvalSettings as a card recorded them, for the given sections."""
    known = {f.name for f in fields(EvalSettings)}
    kw = {k: v for k, v in recorded.items() if k in known and k != "sections"}
    # cards from before the classifier's detail channel were measured with the image alone
    kw.setdefault("c2st_detail_gain", 0.0)
    s = EvalSettings(**kw, sections=tuple(sections))
    s.validate()
    return s


def _numbers(obj, path: str = "") -> dict[str, float]:
    """Every number of a result section by its dotted path (list items by index)."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "history" and "seconds" not in k:  # timings are not results
                out.update(_numbers(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{path}[{i}]"))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[path] = float(obj)
    return out


def compare_with_card(card_eval: dict, result: dict, sections, tolerance: float = 0.01) -> dict:
    """Does a fresh evaluation reproduce the card? Every number of every checked section.

    A number agrees when |now - card| <= tolerance * max(1, |card|): seeded runs on the same
    machine give identical numbers; other thread counts or devices round differently.
    """
    card_n: dict[str, float] = {}
    now_n: dict[str, float] = {}
    for sec in sections:
        card_n.update(_numbers(card_eval.get(sec), sec))
        now_n.update(_numbers(result.get(sec), sec))
    rows = []
    for key, want in card_n.items():
        got = now_n.get(key)
        if got is None:
            rows.append({"number": key, "card": want, "now": None, "agrees": False})
            continue
        both_nan = math.isnan(want) and math.isnan(got)
        ok = both_nan or abs(got - want) <= tolerance * max(1.0, abs(want))
        rows.append({"number": key, "card": want, "now": got, "agrees": bool(ok)})
    worst = max(
        (r for r in rows if r["now"] is not None and not math.isnan(r["card"])),
        key=lambda r: abs(r["now"] - r["card"]) / max(1.0, abs(r["card"])),
        default=None,
    )
    return {
        "sections": list(sections),
        "tolerance": tolerance,
        "compared": len(rows),
        "agree": sum(r["agrees"] for r in rows),
        "identical": sum(r["now"] == r["card"] for r in rows),
        "reproduced": bool(rows) and all(r["agrees"] for r in rows),
        "differences": [r for r in rows if not r["agrees"]],
        "largest_difference": worst,
    }


def _without_history(obj):
    """The card keeps the numbers, not the classifier's per-epoch log."""
    if isinstance(obj, dict):
        return {k: _without_history(v) for k, v in obj.items() if k != "history"}
    return obj
