"""What the loaded model is good for, in words, from its model card (no Qt, no numerics).

Every sentence here is computed from the card's numbers (`kimg`, `evaluation`, and the
targets `evaluation.targets` records for the shipped default), so a retrained model with a new
card reads differently without a code change. Three places show it: the status bar (short),
the Compose page (one paragraph) and Help ▸ About the model (the full table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

# How each target of the card is named for a user, and how its value is printed.
TARGET_LABELS = {
    "swd_mean_ratio": ("Texture statistics (SWD), mean of 4 scales", "× floor"),
    "swd_worst_ratio": ("Texture statistics (SWD), worst scale", "× floor"),
    "c2st_accuracy": ("Classifier tells generated from real", "accuracy"),
    "spectrum_beta_gap": ("Power spectrum slope, gap to real", "|Δβ|"),
    "encoder_psnr": ("Encoder reconstruction", "dB PSNR"),
    "encoder_detail": ("Encoder: fine detail kept", "detail"),
    "inversion_psnr": ("Eq. 4 reconstruction", "dB PSNR"),
    "inversion_detail": ("Eq. 4: fine detail kept", "detail"),
}
# The targets that say whether generated images pass for real ones.
REALISM_TARGETS = ("swd_mean_ratio", "swd_worst_ratio", "c2st_accuracy", "spectrum_beta_gap")


@dataclass
class ModelStatus:
    """The model's status in three lengths; `ready` is False for an early or unknown model."""

    ready: bool
    short: str  # status bar, after the model's name
    summary: str  # tooltips, logs (plain text, every unmet target's evidence)
    html: str  # Help ▸ About the model
    brief: str = ""  # the Compose page's notice (plain text, the most telling evidence)
    met: int = 0
    total: int = 0
    unmet: list[str] = field(default_factory=list)


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _fmt(key: str, v) -> str:
    v = _num(v)
    if v is None:
        return "—"
    if key.endswith("psnr"):
        return f"{v:.1f} dB"
    if key.endswith("ratio"):
        return f"{v:.2f}×"
    if key == "c2st_accuracy":
        return f"{100 * v:.1f} %"
    return f"{v:.2f}"


def _fmt_target(key: str, target) -> str:
    """'<= 0.8' -> '≤ 80 %' for the accuracy, '≤ 1.5×' for ratios, '≥ 36 dB' for PSNR."""
    if not isinstance(target, str) or " " not in target:
        return str(target) if target is not None else "—"
    op, value = target.split(" ", 1)
    sign = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}.get(op, op)
    try:
        return f"{sign} {_fmt(key, float(value))}"
    except ValueError:
        return f"{sign} {value}"


def _targets(card: dict) -> dict:
    ev = card.get("evaluation")
    t = ev.get("targets") if isinstance(ev, dict) else None
    return {k: v for k, v in (t or {}).items() if isinstance(v, dict)}


def _kimg_text(card: dict) -> str:
    kimg = _num(card.get("kimg"))
    enc = _num(card.get("encoder_kimg"))
    if kimg is None:
        return "training length unknown"
    text = f"generator trained {kimg:.1f} kimg"
    if enc is not None:
        text += f", encoder {enc:.1f} kimg"
    noise = _num(card.get("noise_encoder_kimg"))
    if noise is not None:
        text += f", noise encoder {noise:.1f} kimg"
    src = card.get("encoder_from")
    res = (card.get("architecture") or {}).get("encoder_resolution")
    if isinstance(src, dict) and res:  # a grown model on its parent's encoders
        what = "encoder and noise encoder" if src.get("noise_encoder") else "encoder"
        text += f"; {what} borrowed from {src.get('name', 'its parent')} ({res} px)"
    return text


def _evaluation_is_of_this_file(card: dict) -> bool | None:
    ev = card.get("evaluation")
    ev_sha = ((ev or {}).get("model") or {}).get("sha256") if isinstance(ev, dict) else None
    if not ev_sha or not card.get("sha256"):
        return None
    return ev_sha == card.get("sha256")


def _evidence(card: dict, targets: dict) -> list[tuple[str, str]]:
    """(full, short) sentences for the targets that are not met, most telling first."""
    out = []
    c2st = targets.get("c2st_accuracy")
    if c2st and c2st.get("met") is False and _num(c2st.get("value")) is not None:
        rr = ((card.get("evaluation") or {}).get("c2st") or {}).get("real_vs_real") or {}
        base = _num(rr.get("accuracy"))
        base_text = f"; real vs real: {100 * base:.0f} %" if base is not None else ""
        acc = _fmt("c2st_accuracy", c2st["value"])
        out.append(
            (
                f"a classifier tells its images from real patches {acc} of the time (target "
                f"{_fmt_target('c2st_accuracy', c2st.get('target'))}, chance 50 %{base_text})",
                f"a classifier tells its images from real ones {acc} of the time (chance: 50 %)",
            )
        )
    swd = targets.get("swd_mean_ratio")
    if swd and swd.get("met") is False and _num(swd.get("value")) is not None:
        ratio = _fmt("swd_mean_ratio", swd["value"])
        target = _fmt_target("swd_mean_ratio", swd.get("target"))
        text = f"texture statistics (SWD) are {ratio} the real-vs-real floor (target {target})"
        out.append((text, text))
    det = targets.get("inversion_detail")
    if det and det.get("met") is False and _num(det.get("value")) is not None:
        text = (
            f"Eq. 4 keeps little fine detail of a texture (detail {_fmt('x', det['value'])}, "
            f"target {_fmt_target('inversion_detail', det.get('target'))})"
        )
        fitted = _fitted_noise(card)
        if fitted:
            text += f"; with the noise maps fitted too (Settings ▸ Noise maps) {fitted}"
        out.append((text, text))
    return out


def _fitted_noise(card: dict) -> str:
    """'40.9 dB, detail 0.60' from the card's Eq. 4 row with fitted noise maps, or ''."""
    rec = (card.get("evaluation") or {}).get("reconstruction") or {}
    row = rec.get("inversion_fitted_noise") or {}
    psnr, detail = _num(row.get("psnr")), _num(row.get("detail"))
    if psnr is None or detail is None:
        return ""
    return f"{psnr:.1f} dB, detail {detail:.2f}"


def model_status(card: dict | None, name: str = "model") -> ModelStatus:
    """The status of a model from its card (an empty or missing card: not evaluated)."""
    card = card if isinstance(card, dict) else {}
    targets = _targets(card)
    kimg = _num(card.get("kimg"))
    kimg_short = f"{kimg:.1f} kimg" if kimg is not None else "kimg ?"
    measured = {k: v for k, v in targets.items() if v.get("met") is not None}
    met = [k for k, v in measured.items() if v.get("met") is True]
    unmet = [k for k, v in measured.items() if v.get("met") is False]
    same_file = _evaluation_is_of_this_file(card)
    table = _html_table(card, targets)
    about = _html_about(card, name)

    if not measured:
        summary = (
            f"{name}: {_kimg_text(card)}; its card has no evaluation, so how realistic its "
            "images are is unknown. Evaluate it (stimstudio evaluate-model) before using its "
            "images as stimuli."
        )
        return ModelStatus(
            ready=False,
            short=f"{kimg_short} · not evaluated",
            summary=summary,
            html=f"<p><b>Not evaluated.</b> {escape(summary)}</p>{about}",
            brief=f"Not evaluated ({kimg_short}): how realistic this model's images are is "
            "unknown.",
            met=0,
            total=0,
        )

    n, k = len(measured), len(met)
    stale = (
        " These numbers were measured on another weights file than the one loaded."
        if same_file is False
        else ""
    )
    if not unmet:
        summary = (
            f"{name}: {_kimg_text(card)}; it meets all {n} of its quality targets.{stale}"
            " Still check its images by eye and with a judgement test before an experiment."
        )
        return ModelStatus(
            ready=same_file is not False,
            short=f"{kimg_short} · {k}/{n} targets met",
            summary=summary,
            html=f"<p>{escape(summary)}</p>{table}{about}",
            brief=f"{name} ({kimg_short}) meets all {n} of its quality targets.{stale}",
            met=k,
            total=n,
            unmet=[],
        )
    evidence = _evidence(card, targets)
    why = (": " + "; ".join(full for full, _ in evidence) + ".") if evidence else "."
    if any(key in REALISM_TARGETS for key in unmet):
        meaning = (
            "Its images are still easy to tell from real mammograms: use it to learn the "
            "workflow, not for an experiment."
        )
        brief_meaning = "Learn the workflow with it, not for an experiment."
    else:
        meaning = (
            "Its samples pass the realism tests, but results lose fine detail of the texture: "
            "check every result by eye."
        )
        brief_meaning = "Its results lose fine detail: check each by eye."
    body = (
        f"{name}: {_kimg_text(card)}; it meets {k} of its {n} quality targets{why} {meaning}{stale}"
    )
    summary = f"Early checkpoint — {body}"
    return ModelStatus(
        ready=False,
        short=f"{kimg_short} · early: {k}/{n} targets met",
        summary=summary,
        html=f"<p><b>Early checkpoint.</b> {escape(body)}</p>{table}{about}",
        brief=f"Early checkpoint ({kimg_short}): meets {k} of {n} quality targets"
        + (f" — {evidence[0][1]}. " if evidence else ". ")
        + brief_meaning
        + stale,
        met=k,
        total=n,
        unmet=unmet,
    )


def _html_table(card: dict, targets: dict) -> str:
    rows = []
    for key, t in targets.items():
        label, unit = TARGET_LABELS.get(key, (key.replace("_", " "), ""))
        met = t.get("met")
        mark = "✔" if met is True else ("✘" if met is False else "not measured")
        colour = "#5ad17a" if met is True else ("#ff8a65" if met is False else "#aab3bd")
        goal = t.get("goal")
        goal_text = _fmt(key, goal) if _num(goal) is not None else "—"
        rows.append(
            f"<tr><td>{escape(label)}</td><td align=right>{_fmt(key, t.get('value'))}</td>"
            f"<td>{escape(_fmt_target(key, t.get('target')))}</td><td>{goal_text}</td>"
            f"<td style='color:{colour}'>{mark}</td></tr>"
        )
    ev = card.get("evaluation") or {}
    notes = []
    swd = (ev.get("swd") or {}).get("recipe") or {}
    if swd:
        notes.append(
            f"SWD: ratio to the real-vs-real floor (train vs held-out real patches), "
            f"{swd.get('images_per_side', '?')} patches per side at "
            f"{swd.get('patch_spacing_mm', '?')} mm, levels {swd.get('levels_px', '?')} px."
        )
    c2st = ev.get("c2st") or {}
    if c2st:
        rr = _num((c2st.get("real_vs_real") or {}).get("accuracy"))
        kf = _num((c2st.get("known_fake_blur") or {}).get("accuracy"))
        parts = []
        if rr is not None:
            parts.append(f"real vs real {100 * rr:.1f} %")
        if kf is not None:
            parts.append(f"blurred real (a known fake) {100 * kf:.1f} %")
        if parts:
            notes.append("Classifier baselines: " + ", ".join(parts) + " (50 % = chance).")
    spec = ev.get("spectrum") or {}
    g = _num((spec.get("generated") or {}).get("beta_mean"))
    r = _num((spec.get("heldout_real") or {}).get("beta_mean"))
    if g is not None and r is not None:
        notes.append(f"Power-spectrum exponent β: generated {g:.2f}, real {r:.2f}.")
    fitted = _fitted_noise(card)
    if fitted:
        how = ((ev.get("reconstruction") or {}).get("recipe") or {}).get("fitted_noise") or {}
        recipe = (
            f" (penalty {how['noise_regularize']:g}, λ4 {how['lambda_encoder']:g})"
            if {"noise_regularize", "lambda_encoder"} <= set(how)
            else ""
        )
        notes.append(f"Eq. 4 with the noise maps fitted too{recipe}: {fitted}.")
    if ev.get("evaluated_at"):
        notes.append(f"Evaluated {escape(str(ev['evaluated_at']))}.")
    head = (
        "<tr><th align=left>Quality target</th><th>measured</th><th>target</th>"
        "<th>goal</th><th></th></tr>"
    )
    note_html = "".join(f"<br>{escape(n)}" for n in notes)
    return (
        f"<table cellpadding=3>{head}{''.join(rows)}</table>"
        f"<p style='color:#aab3bd'>{note_html[4:]}</p>"
    )


def _html_about(card: dict, name: str) -> str:
    items = [("Model", name), ("Training", _kimg_text(card))]
    secs = _num(card.get("training_seconds"))
    if secs is not None:
        # each network's own wall clock over all its phases, the machines named apart: one
        # total "on" the hardware line read as hours on its first machine (docs/MODEL.md counts
        # one phase of the generator on the CPU)
        parts = [("generator", secs)]
        for what, key in (
            ("encoder", "encoder_training_seconds"),
            ("noise encoder", "noise_encoder_training_seconds"),
        ):
            if _num(card.get(key)):
                parts.append((what, _num(card.get(key))))
        total = sum(s for _, s in parts) / 3600
        each = ", ".join(f"{what} {s / 3600:.1f} h" for what, s in parts)
        items.append(("Compute", f"{total:.1f} h of training in all ({each}; wall clock)"))
        items.append(("Hardware", str(card.get("hardware", "?"))))
    arch = (card.get("architecture") or {}).get("generator") or {}
    if arch.get("resolution"):
        sp = card.get("spacing_mm")
        fov = f", {arch['resolution'] * sp:.1f} mm field of view at {sp} mm" if sp else ""
        items.append(("Resolution", f"{arch['resolution']} px{fov}"))
    data = card.get("data") or {}
    if data.get("dataset"):
        counts = (data.get("counts") or {}).get("train") or {}
        extra = (
            f" ({counts.get('films')} films, {counts.get('patches')} patches)"
            if counts.get("films")
            else ""
        )
        items.append(("Data", f"{data['dataset']}{extra}; {data.get('licence', '')}"))
    if card.get("perceptual"):
        items.append(("Perceptual features", str(card["perceptual"])))
    rows = "".join(
        f"<tr><td><b>{escape(k)}</b></td><td>{escape(str(v))}</td></tr>" for k, v in items
    )
    return f"<table cellpadding=2>{rows}</table>"
