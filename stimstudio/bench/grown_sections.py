"""The grown model beside its parent (issue 38, "Bad input and limits"): a G forward and 100
Eq. 4 steps at twice the resolution (256 px at 0.2 mm from the 128-px model at 0.4 mm), beside
the same at the parent's resolution, in the same run; goal: 100 steps at 256 px take at most 4x
the 128-px time.

The grown model is the loaded one grown by one block in memory (train/grow.py: its 4-128-px
layers the parent's, the new block fresh; a trained grown model costs the same per step), with
the parent's encoders borrowed, as a grown model file carries them: Eq. 4 then runs exactly as
it does on such a file (the encoder term through the borrowed encoder, F on the parent's
discriminator blocks with the image averaged down). When the loaded model is itself a grown
one, it is timed as it is and its parent is looked up by the name its card records (in
weights/); without it there is no ratio. fp32, one image, the model's fixed noise maps; the
target is a phantom patch (the cost of a step does not depend on what the pixels show).
"""

from __future__ import annotations

import numpy as np
import torch

from stimstudio.core.device import Compute
from stimstudio.core.errors import StimStudioError
from stimstudio.core.invert import InversionSettings, invert, perceptual_for
from stimstudio.core.model import Model, load_model

from .harness import time_it
from .sizes import FULL, Sizes

CPU32 = Compute(torch.device("cpu"), "fp32")
GOAL_RATIO = 4.0


def _target(res: int) -> np.ndarray:
    from stimstudio.train.phantoms import phantom_patch_set

    return phantom_patch_set(1, res, 0)[0].astype(np.float32) / 127.5 - 1


def _time_model(model: Model, steps: int, repeats: int) -> dict:
    x = _target(model.resolution)
    ws = model.G.map(torch.randn(1, model.G.z_dim, generator=torch.Generator().manual_seed(0)))

    def forward():
        with torch.no_grad():
            model.G.synthesize(ws)

    fwd = time_it(forward, repeats=max(5, repeats), warmup=1)
    s = InversionSettings(steps=steps, preview_every=0)
    F = perceptual_for(model)
    last = {}

    def eq4():
        for rec in invert(model, x, None, s, None, CPU32, F):
            last["rec"] = rec

    t = time_it(eq4, repeats=repeats, warmup=0)
    rec = last["rec"]
    return {
        "resolution": model.resolution,
        "num_ws": model.num_ws,
        "encoder_resolution": model.encoder_resolution or model.E.cfg.resolution,
        "perceptual": F.name,
        "g_forward_ms": fwd.median_ms,
        "eq4_steps": steps,
        "eq4_seconds": t.median_ms / 1000,
        "eq4_ms_per_step": t.median_ms / (steps + 1),
        "eq4_loss_end": float(rec.losses["total"]),
    }


def _parent_of(model: Model) -> Model | None:
    src = (model.card or {}).get("encoder_from") or {}
    try:
        parent = load_model(src.get("name") or "") if src.get("name") else None
    except StimStudioError:
        return None
    return parent if parent is not None and parent.sha256 == src.get("sha256") else None


def grown_resolution(model: Model, z: Sizes = FULL) -> dict:
    """G forward and Eq. 4 at the model's resolution and at its grown one, same run."""
    from stimstudio.train.grow import grow_model

    steps, repeats = z.grown
    if model.encoder_resolution is not None:
        small, big = _parent_of(model), model
        how = "the loaded grown model; its parent " + ("found" if small else "not in weights/")
    else:
        small, big = model, grow_model(model)
        how = "the loaded model grown by one block in memory (new block untrained)"
    out = {"how": how, "threads": torch.get_num_threads(), "precision": "fp32"}
    if small is not None:
        out["small"] = _time_model(small, steps, repeats)
    out["grown"] = _time_model(big, steps, repeats)
    if small is not None:
        ratio = out["grown"]["eq4_seconds"] / out["small"]["eq4_seconds"]
        out["eq4_ratio"] = ratio
        out["g_forward_ratio"] = out["grown"]["g_forward_ms"] / out["small"]["g_forward_ms"]
        out["goal"] = f"{steps} Eq. 4 steps at the grown size <= {GOAL_RATIO:g}x the parent's"
        out["met"] = bool(ratio <= GOAL_RATIO)
    return out


def markdown(sec: dict) -> list[str]:
    lines = [
        "## 11. The grown model: G forward and Eq. 4 at twice the resolution",
        "",
        f"{sec['how']}; {sec['precision']}, {sec['threads']} torch thread(s), one image, the "
        "grown model on its parent's borrowed encoders (encoder resolution below).",
        "",
        "| model | encoder px | F | G forward ms | Eq. 4 steps | Eq. 4 s | ms per step |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in ("small", "grown"):
        r = sec.get(key)
        if r:
            lines.append(
                f"| {r['resolution']} px ({r['num_ws']} styles) | {r['encoder_resolution']} | "
                f"{r['perceptual']} | {r['g_forward_ms']:.1f} | {r['eq4_steps']} | "
                f"{r['eq4_seconds']:.2f} | {r['eq4_ms_per_step']:.1f} |"
            )
    if "eq4_ratio" in sec:
        lines += [
            "",
            f"Grown / parent: G forward {sec['g_forward_ratio']:.2f}x, Eq. 4 "
            f"{sec['eq4_ratio']:.2f}x. Goal: {sec['goal']}: "
            f"{'met' if sec['met'] else 'not met'}.",
        ]
    return lines + [""]
