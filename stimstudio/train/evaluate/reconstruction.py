"""Reconstruction of held-out real patches (encoder alone, then Eq. 4) and the masked
compose task, each beside a constant-image baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ...core.compose import Mask, Placement, compose
from ...core.device import Compute
from ...core.inversion_settings import COMPOSE_DEFAULTS
from ...core.invert import (
    InversionSettings,
    encode,
    encoder_noise,
    perceptual_for,
    run_inversion,
    synthesize,
)
from ...core.metrics import detail_fidelity, psnr, ssim
from ...core.model import Model
from ..dataset import PatchSet
from .settings import EvalSettings

# the compose section's row for Eq. 4 as the paper gives it, beside the app's Compose defaults
PAPER_ROW = "optimized, paper's recipe"


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {}
    out = {}
    for k in rows[0]:
        vals = np.array([r[k] for r in rows], np.float64)
        vals = vals[np.isfinite(vals)]
        out[k] = float(vals.mean()) if len(vals) else float("nan")
    return out


def _quality(img, target, mask=None) -> dict:
    return {
        "psnr": psnr(img, target, mask),
        "ssim": ssim(img, target, mask),
        "detail": detail_fidelity(img, target, mask),
    }


def borrowed_note(model: Model) -> dict:
    """A grown model's reconstructions use its parent's encoders: said beside its numbers."""
    if model.encoder_resolution is None:
        return {}
    src = (model.card or {}).get("encoder_from") or {}
    return {
        "encoder_resolution": model.encoder_resolution,
        "encoder_from": src.get("name"),
        "encoder": f"borrowed from {src.get('name', 'the parent model')}: the target averaged "
        f"down to {model.encoder_resolution} px, the grown layers take its last code",
    }


def constant_baseline(target: np.ndarray, mask=None) -> dict:
    """A constant image at the target's (masked) mean: the floor any method must beat."""
    if mask is None:
        c = float(target.mean())
    else:
        m = np.asarray(mask, np.float64)
        c = float((m * target).sum() / m.sum())
    return _quality(np.full_like(target, c), target, mask)


def reconstruction_report(
    model: Model,
    targets: np.ndarray,
    s: EvalSettings,
    compute: Compute | None = None,
    vgg16_path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Encoder-only and Eq. 4 reconstructions of [N, R, R] targets in [-1, 1].

    "encoder" and "inversion" are what the tool does by default: with a model that has a noise
    encoder, its noise maps render beside w+ (held fixed in Eq. 4). Such a model also gets the
    rows "encoder_w_only" and "inversion_model_noise": w+ alone with the generator's fixed maps,
    the paper's encoder and recipe as they were, so the noise encoder's share is in the card."""
    F = perceptual_for(model, vgg16_path)
    settings = InversionSettings(steps=s.steps, preview_every=0, seed=s.seed)
    variants = {"inversion": settings}
    has_n = model.N is not None
    if has_n:
        variants["inversion_model_noise"] = replace(settings, encoder_noise=False)
    if s.recon_fit_noise:
        variants["inversion_fitted_noise"] = replace(
            settings,
            optimize_noise=True,
            noise_regularize=s.recon_noise_penalty,
            lambda_encoder=s.recon_noise_lambda_encoder,
        )
    rows = {"constant": [], "encoder": [], **({"encoder_w_only": []} if has_n else {})}
    rows.update({k: [] for k in variants})
    seconds = []
    for i, x in enumerate(targets):
        w_enc = encode(model, x, compute)[0].cpu().numpy()
        maps = encoder_noise(model, x, w_enc, compute)
        noise = [n[0].cpu().numpy() for n in maps] if maps is not None else None
        rows["constant"].append(constant_baseline(x))
        rows["encoder"].append(_quality(synthesize(model, w_enc, compute, noise=noise)[0], x))
        if has_n:
            rows["encoder_w_only"].append(_quality(synthesize(model, w_enc, compute)[0], x))
        for name, v in variants.items():
            t0 = time.perf_counter()
            res = run_inversion(model, x, None, v, compute, F)
            if name == "inversion":
                seconds.append(time.perf_counter() - t0)
            rows[name].append(_quality(res.image, x))
        if progress:
            progress(i + 1, len(targets))
    recipe = {
        "patches": len(targets),
        "steps": s.steps,
        "perceptual": F.name,
        "lambda_perceptual": settings.lambda_perceptual,
        "lambda_encoder": settings.lambda_encoder,
        "lr": settings.lr,
        "noise_maps": "noise encoder" if has_n else "the generator's fixed maps",
        "seconds_per_inversion": float(np.mean(seconds)) if seconds else None,
        **borrowed_note(model),
    }
    if "inversion_fitted_noise" in variants:
        fitted = variants["inversion_fitted_noise"]
        recipe["fitted_noise"] = {
            "noise_regularize": fitted.noise_regularize,
            "lambda_encoder": fitted.lambda_encoder,
        }
    return {
        "recipe": recipe,
        **{k: _summary(v) for k, v in rows.items()},
    }


def _compose_pairs(held: PatchSet, n: int, rng) -> list[tuple[int, int]]:
    """(lesion patch, tissue template from another film): masks with a boundary inside."""
    frac = held.masks.mean((1, 2))
    ok = np.flatnonzero((held.kind == 1) & (frac >= 0.01) & (frac <= 0.5))
    ok = [
        i
        for i in ok
        if not (held.masks[i, 0].any() and held.masks[i, -1].any())
        and not (held.masks[i, :, 0].any() and held.masks[i, :, -1].any())
    ]
    tissue = np.flatnonzero(held.kind == 0)
    if not ok or not len(tissue):
        return []
    # spread over lesions: one patch per film first, then the rest
    ok = list(rng.permutation(ok))
    by_film, rest = [], []
    seen = set()
    for i in ok:
        (rest if held.film[i] in seen else by_film).append(i)
        seen.add(held.film[i])
    chosen = (by_film + rest)[:n]
    pairs = []
    for i in chosen:
        cand = tissue[held.film[tissue] != held.film[i]]
        cand = cand if len(cand) else tissue
        pairs.append((int(i), int(rng.choice(cand))))
    return pairs


def compose_report(
    model: Model,
    held: PatchSet,
    s: EvalSettings,
    compute: Compute | None = None,
    vgg16_path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """The Fig. 4 task: a held-out lesion (its mask) onto a held-out tissue template; each
    method's fidelity inside the mask and seam strength, plus the constant baseline."""
    pairs = _compose_pairs(held, s.compose_n, np.random.default_rng([s.seed, 30]))
    if not pairs:
        return {"skipped": "no held-out lesion patch with a usable lesion mask"}
    settings = replace(COMPOSE_DEFAULTS, steps=s.steps, preview_every=0, seed=s.seed)
    paper = InversionSettings(steps=s.steps, preview_every=0, seed=s.seed)
    rows: dict[str, list[dict]] = {}
    for k, (li, ti) in enumerate(pairs):
        texture = held.as_float([li])[0, 0]
        template = held.as_float([ti])[0, 0]
        mask = Mask.from_array(held.masks[li], feather=2.0)
        comp = compose(model, texture, template, mask, Placement(), settings, compute, vgg16_path)
        metrics = dict(comp.metrics)
        ref = compose(
            model, texture, template, mask, Placement(mode="paste"), paper, compute, vgg16_path
        )
        metrics[PAPER_ROW] = ref.metrics["optimized"]
        for method, m in metrics.items():
            rows.setdefault(method, []).append(
                {
                    "psnr": m["psnr_in_mask"],
                    "ssim": m["ssim_in_mask"],
                    "detail": m["detail_in_mask"],
                    "seam": m["seam_strength"],
                }
            )
        rows.setdefault("constant", []).append(constant_baseline(comp.texture_placed, comp.mask))
        if progress:
            progress(k + 1, len(pairs))
    return {
        "recipe": {
            "pairs": len(pairs),
            "task": "held-out lesion (its mask, feather 2 px) onto a held-out tissue template "
            "of another film, centred; metrics inside the mask vs the placed lesion texture",
            "steps": s.steps,
            "optimized": f"the app's Compose defaults (placement {Placement().mode}; core "
            "COMPOSE_DEFAULTS: noise maps fitted, template weight "
            f"{settings.outside_weight:g} outside the mask, seam band {settings.seam_band:g} px); "
            f"'{PAPER_ROW}': the paper's (pasted, Eq. 4 as the paper gives it); 'stitch': the "
            "placed texture on the template, what Eq. 4 fits",
            **borrowed_note(model),
        },
        **{k: _summary(v) for k, v in rows.items()},
    }
