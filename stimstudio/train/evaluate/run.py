"""The whole evaluation: every section in turn, with progress, its settings and targets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ...core.device import Compute
from ...core.errors import DatasetError
from ...core.generate import sample
from ...core.model import Model
from ...core.model_catalog import card_spacing_mm
from .c2st import c2st_report
from .cues import cues_report, shared_texture
from .data import _select, generate_uint8, load_eval_data, to_uint8
from .realism import realism_report
from .reconstruction import compose_report, reconstruction_report
from .settings import EvalSettings, Progress, targets_met
from .spectrum_grid import sample_grid, spectrum_report
from .swd import swd_report


@dataclass
class Evaluation:
    result: dict
    grid: np.ndarray | None = None
    samples: dict = field(default_factory=dict)


def evaluate_model(
    model: Model,
    data_dir: str | Path,
    settings: EvalSettings | None = None,
    compute: Compute | None = None,
    vgg16_path: str | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Run the chosen sections; returns the JSON-able result and the sample grid."""
    s = settings or EvalSettings()
    s.validate()
    device = next(model.G.parameters()).device
    compute = compute or Compute(device, "fp32")
    train, held, manifest = load_eval_data(data_dir)
    R = train.patches.shape[-1]
    if R != model.resolution:
        raise DatasetError(
            f"the patches are {R}x{R} but the model works at {model.resolution}x{model.resolution}"
        )
    have, want = manifest.get("recipe", {}).get("spacing_mm"), card_spacing_mm(model.card or {})
    if have and want and abs(float(have) - want) > 1e-6:
        raise DatasetError(
            f"the patches are at {float(have):g} mm per pixel but the model works at {want:g} "
            "mm: build the data set at the model's spacing (`dataset build --pixel-size`)"
        )
    tr_idx, he_idx = _select(train, s.kinds), _select(held, s.kinds)

    def rng_for(section: int) -> np.random.Generator:
        # one stream per section: a section's numbers do not depend on which others ran
        return np.random.default_rng([s.seed, section])

    prog = progress or (lambda *_: None)
    t_all = time.perf_counter()
    card = model.card or {}
    recipe = manifest.get("recipe", {})
    result = _result_header(model, data_dir, manifest, s, compute, train, held, tr_idx, he_idx)
    result["settings"]["sections"] = list(s.sections)

    need_c2st = "c2st" in s.sections
    n_gen_test = max(
        s.swd_n if "swd" in s.sections else 0,
        s.c2st_test if need_c2st else 0,
        s.grid_rows * s.grid_cols,
        s.spectrum_n if "spectrum" in s.sections else 0,
        s.cues_n if "cues" in s.sections else 0,
    )
    t0 = time.perf_counter()
    gen_test = generate_uint8(
        model,
        n_gen_test,
        seed=s.seed * 1000 + 1,
        compute=compute,
        psi=s.psi,
        batch=s.gen_batch,
        progress=lambda i: prog("generate", i, n_gen_test),
    )
    gen_test = _oriented(gen_test, s.orientation, s.seed * 1000 + 1)
    result["seconds"]["generate"] = time.perf_counter() - t0
    real_train, real_held = train.patches[tr_idx], held.patches[he_idx]

    if "swd" in s.sections:
        t0 = time.perf_counter()
        prog("swd", 0, 1)
        result["swd"] = swd_report(
            real_train, real_held, {"generated": gen_test}, s, sanity=s.swd_sanity
        )
        result["swd"]["recipe"]["patch_spacing_mm"] = recipe.get("spacing_mm")
        result["swd"]["recipe"]["resolution"] = R
        result["swd"]["recipe"]["kinds"] = s.kinds
        prog("swd", 1, 1)
        result["seconds"]["swd"] = time.perf_counter() - t0

    if "spectrum" in s.sections:
        result["spectrum"] = spectrum_report(
            {
                "heldout_real": rng_for(5).permutation(real_held)[: s.spectrum_n],
                "generated": gen_test,
            },
            s.spectrum_n,
        )

    if "cues" in s.sections:
        t0 = time.perf_counter()
        prog("cues", 0, 1)
        result["cues"] = cues_report(
            real_train, real_held, gen_test, s.cues_n, s.cues_folds, rng_for(6)
        )
        if "skipped" not in result["cues"]:
            result["cues"]["shared_texture"] = _shared_texture(model, real_held, compute)
        prog("cues", 1, 1)
        result["seconds"]["cues"] = time.perf_counter() - t0

    if need_c2st:
        t0 = time.perf_counter()
        result["c2st"] = c2st_report(
            model, train, held, tr_idx, he_idx, gen_test, s, compute, rng_for(2), recipe, prog
        )
        result["seconds"]["c2st"] = time.perf_counter() - t0

    if "reconstruction" in s.sections and s.recon_n > 0:
        t0 = time.perf_counter()
        idx = np.sort(rng_for(3).choice(he_idx, min(s.recon_n, len(he_idx)), replace=False))
        result["reconstruction"] = reconstruction_report(
            model,
            held.as_float(idx)[:, 0],
            s,
            compute,
            vgg16_path,
            lambda i, m: prog("reconstruction", i, m),
        )
        result["seconds"]["reconstruction"] = time.perf_counter() - t0

    if "compose" in s.sections and s.compose_n > 0:
        t0 = time.perf_counter()
        result["compose"] = compose_report(
            model, held, s, compute, vgg16_path, lambda i, m: prog("compose", i, m)
        )
        result["seconds"]["compose"] = time.perf_counter() - t0

    if "realism" in s.sections:
        t0 = time.perf_counter()
        realism_shown: dict = {}
        result["realism"] = realism_report(
            model, train, held, tr_idx, he_idx, s, compute, rng_for(7), prog, realism_shown
        )
        result["seconds"]["realism"] = time.perf_counter() - t0

    grid = None
    k = s.grid_rows * s.grid_cols
    if k > 0:
        pick = rng_for(4).choice(he_idx, min(k, len(he_idx)), replace=False)
        real_grid = held.patches[np.sort(pick)]
        kimg = card.get("kimg")
        grid = sample_grid(
            real_grid,
            gen_test[:k],
            s.grid_rows,
            s.grid_cols,
            (
                "held-out real",
                "generated" + (f" ({kimg:.1f} kimg)" if isinstance(kimg, (int, float)) else ""),
            ),
        )
    result["targets"] = targets_met(result)
    result["seconds"]["total"] = time.perf_counter() - t_all
    result["evaluated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    shown = {"generated": gen_test}
    if "realism" in s.sections:
        shown["realism"] = realism_shown
    return Evaluation(result, grid, shown)


def _detail_stage(card: dict) -> dict:
    """A detail-stage model's own training (issue 38's second arm; `kimg` is its base's)."""
    keys = ("detail_kimg", "detail_training_seconds", "detail_cpu_seconds")
    return {k: card[k] for k in keys if k in card}


def _result_header(model, data_dir, manifest, s, compute, train, held, tr_idx, he_idx) -> dict:
    """What was evaluated, on which data, with which settings and software."""
    card = model.card or {}
    recipe = manifest.get("recipe", {})
    R = train.patches.shape[-1]
    return {
        "model": {
            "file": model.path.name if model.path else None,
            "sha256": model.sha256,
            "kimg": card.get("kimg"),
            "phase": card.get("phase"),
            "training_seconds": card.get("training_seconds"),
            "cpu_seconds": card.get("cpu_seconds"),
            **_detail_stage(card),
        },
        "data": {
            "source": manifest.get("source") or Path(data_dir).name,
            "resolution": R,
            "spacing_mm": recipe.get("spacing_mm"),
            "split": manifest.get("split", "train.npz / heldout.npz"),
            "kinds": s.kinds,
            "train_patches": int(len(tr_idx)),
            "heldout_patches": int(len(he_idx)),
            "train_films": int(len(np.unique(train.film))),
            "heldout_films": int(len(np.unique(held.film))),
            **_film_only(recipe),
        },
        "settings": {k.name: getattr(s, k.name) for k in fields(s)},
        "compute": compute.describe(),
        "software": _version(),
        "seconds": {},
    }


def _oriented(images: np.ndarray, mode: str, first_seed: int) -> np.ndarray:
    """The samples in `mode` (core.orientation); "random": sample i as seed first_seed + i."""
    from ...core.orientation import orient, resolve_orientation

    if mode == "as-generated":
        return images
    return np.stack(
        [orient(im, resolve_orientation(mode, first_seed + i)) for i, im in enumerate(images)]
    )


SHARED_TEXTURE_SEEDS = 64


def _shared_texture(model: Model, real_held: np.ndarray, compute: Compute) -> dict:
    """Shared fine texture between seeds 0..63 rendered as the app renders a seed (each with
    its own noise maps), and with the model's one set of fixed maps (noise mode const, what
    every seed used before), beside as many held-out real patches."""
    n = min(SHARED_TEXTURE_SEEDS, len(real_held))

    def seeds(mode: str) -> np.ndarray:
        return np.stack(
            [to_uint8(sample(model, s, compute=compute, noise_mode=mode)[1]) for s in range(n)]
        )

    return {
        "seeds": shared_texture(seeds("seed")),
        "seeds_const": shared_texture(seeds("const")),
        "heldout_real": shared_texture(real_held[:n]),
        "recipe": f"seeds 0-{n - 1} as `generate` and the app render them (noise mode seed: "
        "each seed its own noise maps; seeds_const: the model's fixed maps) and the first "
        f"{n} held-out real patches: mean correlation of fine detail (patch minus its 2-px "
        "blur) between every two",
    }


def _film_only(recipe: dict) -> dict:
    """Whether `dataset build` cut the patches from the film only; a folder built before that
    rule holds padding bars (10-12 % of mini-MIAS patches), which change every number."""
    if "within_film" in recipe:
        ok = bool(recipe["within_film"])
    elif "min_breast_fraction" in recipe:  # written by `dataset build` before the rule
        ok = False
    else:
        return {}
    out: dict = {"film_only": ok}
    if not ok:
        out["note"] = (
            "these patches were cut before `dataset build` kept to the film: some show the "
            "black padding of the films (10-12 % of mini-MIAS patches did); rebuild the folder "
            "for numbers comparable with cards measured since"
        )
    return out


def _version() -> str:
    from ... import __version__

    return f"stimstudio {__version__}, torch {torch.__version__}"
