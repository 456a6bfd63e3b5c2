"""The model card's evaluation: write it, read its settings back, and compare a new run
with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields
from pathlib import Path

from ...core.errors import CheckpointError
from ...core.jsonable import to_jsonable
from ...core.model import atomic_write_bytes, sha256_file
from .settings import EvalSettings, targets_met

# Sections that judge the generator's samples alone (no encoder, noise encoder or
# discriminator): they stay true of a file whose generator tensors are the same, so a card
# carries them over when only the encoder or noise encoder was trained again (an hour of
# classifier tests on a CPU saved each time). The sample grid is the generator's too.
GENERATOR_SECTIONS = ("swd", "c2st", "spectrum", "cues")


def generator_sha256(path: str | Path) -> str:
    """sha256 over a model file's generator tensors (names, dtypes, shapes and bytes, in name
    order): equal for two files whose generators are the same, whatever else they hold."""
    import torch
    from safetensors import safe_open

    h = hashlib.sha256()
    with safe_open(str(path), framework="pt") as f:
        for k in sorted(k for k in f.keys() if k.startswith("G.")):
            t = f.get_tensor(k).contiguous()
            h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


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
    generator = generator_sha256(path)
    new["model"] = {**(new.get("model") or {}), "generator_sha256": generator}
    ran = [sec for sec in (new.get("settings") or {}).get("sections", []) if sec in new]
    new["section_settings"] = {sec: new["settings"] for sec in ran}
    old_model = (old.get("model") or {}) if isinstance(old, dict) else {}
    if old_model.get("sha256") == digest:
        merged = dict(old)
        merged.update(new)
        merged["section_settings"] = {**section_settings(old), **new["section_settings"]}
        carried = (old.get("carried_over") or {}).get("sections") or []
        if carried:  # a section measured again on this file is no longer carried
            still = [sec for sec in carried if sec not in ran]
            if still:
                merged["carried_over"] = {**old["carried_over"], "sections": still}
            else:
                merged.pop("carried_over", None)
        new = merged
        new["targets"] = targets_met(new)
    elif old_model.get("generator_sha256") == generator:
        new = _carry_generator_sections(old, new)
    card["evaluation"] = to_jsonable(_without_history(new))
    atomic_write_bytes(card_path, json.dumps(card, indent=2).encode())
    return card_path


def _carry_generator_sections(old: dict, new: dict) -> dict:
    """`new` plus the generator-only sections `old` measured on another file with the same
    generator and `new` did not re-run; every other old section (reconstruction, compose:
    they use the encoder and the noise encoder) is dropped."""
    carried = [sec for sec in GENERATOR_SECTIONS if sec in old and sec not in new]
    if not carried:
        return new
    recorded = section_settings(old)
    out = dict(new)
    for sec in carried:
        out[sec] = old[sec]
    if "grid" in old and "grid" not in new:
        out["grid"] = old["grid"]
    out["section_settings"] = {
        **{sec: recorded[sec] for sec in carried if sec in recorded},
        **new["section_settings"],
    }
    out["carried_over"] = {
        "sections": carried,
        "from_sha256": old["model"]["sha256"],
        "evaluated_at": old.get("evaluated_at"),
        "why": "measured on a file with the same generator tensors (generator_sha256); these "
        "sections judge the generator's samples alone",
    }
    out["targets"] = targets_met(out)
    return out


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
