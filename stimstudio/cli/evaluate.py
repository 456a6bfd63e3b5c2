"""`stimstudio evaluate-model`: SWD, classifier two-sample test, reconstruction, sample grid."""

from __future__ import annotations

import json
import os
from pathlib import Path

# All at the top: `register` needs train.evaluate's settings for its defaults, so this module
# is imported with torch whenever it is imported at all (only for `evaluate-model`).
from ..core.device import Compute
from ..core.model import default_weights_path
from ..core.orientation import ORIENTATION_MODES
from ..train.evaluate import (
    SECTIONS,
    EvalSettings,
    compare_with_card,
    evaluate_model,
    section_settings,
    settings_from_card,
    update_card,
    write_png,
)
from .common import (
    UserError,
    add_common,
    add_model_options,
    emit,
    load_model_for,
    refuse_existing,
    tqdm_bar,
)


def register(sub) -> None:
    d = EvalSettings()
    p = sub.add_parser(
        "evaluate-model",
        help="evaluate a model on held-out real patches (SWD, classifier test, reconstruction)",
        description="Sliced Wasserstein distance per pyramid level as ratios to the real-vs-real "
        "floor, a classifier two-sample test with its real-vs-real and known-fake baselines, "
        "reconstruction (encoder, Eq. 4, masked compose) beside a constant-image baseline, "
        "and a real/generated sample grid. Nothing is downloaded.",
    )
    p.add_argument("--data", required=True, help="folder from `stimstudio dataset build`")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a result")
    p.add_argument("--grid", help="write the real/generated sample grid here (.png)")
    p.add_argument(
        "--update-card", action="store_true", help="write the numbers into the model card JSON"
    )
    p.add_argument(
        "--check-card",
        action="store_true",
        help="re-measure the model card's numbers with the settings it records and compare "
        "(exit 1 when a number differs by more than --tolerance)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.01,
        help="--check-card: allowed difference, relative (absolute below 1); default 0.01",
    )
    p.add_argument(
        "--sections",
        default=None,
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all of those; with "
        "--check-card: every section the card holds), and the opt-in 'realism': the classifier "
        "test on what inversion outputs (encoder, Eq. 4, continuum frames, composites) beside "
        "random samples; hours of CPU at its default sizes",
    )
    p.add_argument(
        "--kinds", default=None, choices=["all", "tissue", "lesion"], help=f"({d.kinds})"
    )
    p.add_argument("--swd-n", type=int, help=f"images per side for SWD (default {d.swd_n})")
    p.add_argument("--c2st-fit", type=int, help=f"classifier fit set per side ({d.c2st_fit})")
    p.add_argument("--c2st-test", type=int, help=f"classifier test set per side ({d.c2st_test})")
    p.add_argument("--c2st-max-epochs", type=int, help=f"({d.c2st_max_epochs})")
    p.add_argument(
        "--c2st-repeats",
        type=int,
        help=f"independent draws of the generated-vs-real classifier test, averaged "
        f"({d.c2st_repeats}; one draw moves by ~0.07)",
    )
    p.add_argument(
        "--c2st-detail-gain",
        type=float,
        help=f"gain of the classifier's fine-detail input channel; 0 = the image alone "
        f"({d.c2st_detail_gain:g})",
    )
    p.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the classifier's real-vs-real and known-fake runs",
    )
    p.add_argument("--recon-n", type=int, help=f"held-out patches to invert ({d.recon_n})")
    p.add_argument(
        "--recon-fit-noise",
        action="store_true",
        default=None,
        help="reconstruction: a second Eq. 4 row with the noise maps fitted beside w",
    )
    p.add_argument(
        "--recon-noise-penalty",
        type=float,
        help=f"that row's noise-map penalty ({d.recon_noise_penalty:g})",
    )
    p.add_argument(
        "--recon-noise-lambda-encoder",
        type=float,
        help=f"that row's lambda4 ({d.recon_noise_lambda_encoder:g})",
    )
    p.add_argument("--compose-n", type=int, help=f"lesion compose pairs ({d.compose_n})")
    p.add_argument(
        "--realism-fit", type=int, help=f"realism: classifier fit set per side ({d.realism_fit})"
    )
    p.add_argument(
        "--realism-test", type=int, help=f"realism: classifier test set per side ({d.realism_test})"
    )
    p.add_argument(
        "--realism-kinds",
        type=lambda v: tuple(k.strip() for k in v.split(",") if k.strip()),
        help=f"realism: which outputs ({','.join(d.realism_kinds)})",
    )
    p.add_argument(
        "--realism-values",
        type=lambda v: tuple(float(k) for k in v.split(",") if k.strip()),
        help="realism: the Eq. 4 realism settings to measure, comma-separated "
        f"(default: the app's, {','.join(f'{v:g}' for v in d.realism_values)})",
    )
    p.add_argument(
        "--realism-fit-noise",
        action="store_true",
        default=None,
        help="realism: Eq. 4 with the noise maps fitted beside w (the app's 'Fit them too')",
    )
    p.add_argument(
        "--realism-noise-penalty",
        type=float,
        help=f"realism: the fitted maps' penalty ({d.realism_noise_penalty:g}, the app's)",
    )
    p.add_argument(
        "--realism-lambda-encoder",
        type=float,
        help=f"realism: lambda4 of Eq. 4 ({d.realism_lambda_encoder:g}, the app's)",
    )
    p.add_argument(
        "--realism-repeats",
        type=int,
        help=f"realism: classifiers trained per kind, pooled ({d.realism_repeats})",
    )
    p.add_argument(
        "--realism-placement",
        choices=("paste", "blend"),
        help="realism, composites: how the lesion's texture goes in (paste: the paper's stitch)",
    )
    p.add_argument(
        "--realism-outside-weight",
        type=float,
        help="realism, composites: the template's pixel weight outside the mask "
        f"({d.realism_outside_weight:g}, the paper's)",
    )
    p.add_argument(
        "--realism-seam-band",
        type=float,
        metavar="PX",
        help="realism, composites: the free band around the outline where the generator draws "
        f"the seam ({d.realism_seam_band:g}, the paper's: none)",
    )
    p.add_argument(
        "--realism-grid",
        metavar="PNG",
        help="realism: write a grid of the first held-out targets and each kind's outputs "
        "for them (one row per kind) here",
    )
    p.add_argument(
        "--realism-cache",
        metavar="DIR",
        help="realism: keep each finished batch of Eq. 4 outputs here, so that an interrupted "
        "run resumes (the folder is made; entries are keyed by model, settings and targets)",
    )
    p.add_argument("--steps", type=int, help=f"Eq. 4 steps ({d.steps})")
    p.add_argument("--cues-n", type=int, help=f"cues: patches per side ({d.cues_n})")
    p.add_argument(
        "--orientation",
        choices=ORIENTATION_MODES,
        help="the orientation the generated samples are shown in (default as-generated: the "
        "model itself; random: each as `generate --orientation random` turns its seed)",
    )
    p.add_argument("--seed", type=int, help="(0)")
    p.add_argument("--force", action="store_true", help="replace an existing grid file")
    add_model_options(p)
    add_common(p)
    p.set_defaults(func=cmd_evaluate)


SIZE_OPTIONS = (
    "kinds",
    "seed",
    "swd_n",
    "c2st_fit",
    "c2st_test",
    "c2st_max_epochs",
    "c2st_repeats",
    "c2st_detail_gain",
    "recon_n",
    "recon_fit_noise",
    "recon_noise_penalty",
    "recon_noise_lambda_encoder",
    "compose_n",
    "realism_fit",
    "realism_test",
    "realism_kinds",
    "realism_values",
    "realism_fit_noise",
    "realism_noise_penalty",
    "realism_lambda_encoder",
    "realism_repeats",
    "realism_placement",
    "realism_outside_weight",
    "realism_seam_band",
    "realism_cache",
    "steps",
    "cues_n",
    "orientation",
)


def _sections(args) -> tuple[str, ...] | None:
    if args.sections is None:
        return None
    return tuple(s.strip() for s in args.sections.split(",") if s.strip())


def settings_from_args(args):
    over = {"sections": _sections(args) or SECTIONS}
    for name in SIZE_OPTIONS:
        v = getattr(args, name)
        if v is not None:
            over[name] = v
    if args.no_baselines:
        over["c2st_baselines"] = False
    s = EvalSettings.quick(**over) if args.quick else EvalSettings(**over)
    s.validate()
    return s


def cmd_evaluate(args) -> int:
    if args.check_card:
        return cmd_check_card(args)
    grid_path = Path(args.grid) if args.grid else None
    if grid_path is not None:
        if grid_path.suffix.lower() != ".png":
            raise UserError(f"--grid must name a .png file, got {grid_path.name}")
        refuse_existing(grid_path, args.force)
    realism_grid_path = Path(args.realism_grid) if args.realism_grid else None
    if realism_grid_path is not None:
        if realism_grid_path.suffix.lower() != ".png":
            raise UserError(f"--realism-grid must name a .png file, got {realism_grid_path.name}")
        refuse_existing(realism_grid_path, args.force)
    settings = settings_from_args(args)
    if realism_grid_path is not None and "realism" not in settings.sections:
        raise UserError("--realism-grid needs the realism section (--sections realism)")
    model, compute = load_model_for(args)
    weights = model.path or Path(args.weights or default_weights_path())

    progress, close = _progress_bars(args)
    try:
        ev = evaluate_model(model, args.data, settings, compute, args.vgg16, progress)
    finally:
        close()
    res = ev.result
    if args.quick:
        res["note"] = "--quick: tiny sizes for a smoke test; these numbers are not a result"
    if grid_path is not None and ev.grid is not None:
        write_png(grid_path, ev.grid)
        res["grid"] = str(grid_path)
    if realism_grid_path is not None:
        from ..train.evaluate.realism import realism_grid

        write_png(realism_grid_path, realism_grid(ev.samples["realism"]))
        res["realism_grid"] = str(realism_grid_path)
    if args.update_card:
        if args.quick:
            raise UserError("--update-card with --quick would put smoke-test numbers in the card")
        res["card"] = str(update_card(weights, card_view(res, weights)))
    emit(args, res, format_text(res))
    return 0


def card_view(res: dict, weights: Path) -> dict:
    """What goes into the model card: the grid only as a path relative to the card, and only
    when it lies in the card's project (a temporary or personal path means nothing to the
    next reader of the card)."""
    out = dict(res)
    out.pop("realism_grid", None)  # a picture of one run, not a number of the model
    grid = out.pop("grid", None)
    if grid:
        root = Path(weights).resolve().parent.parent
        g = Path(grid).resolve()
        if g.is_relative_to(root):
            out["grid"] = os.path.relpath(g, Path(weights).resolve().parent)
    return out


def _progress_bars(args):
    """One tqdm bar per evaluation stage; returns (callback, close)."""
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm_bar(args, desc=stage, total=total, leave=False)
        bar.total = total
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return progress, close


def cmd_check_card(args) -> int:
    """Re-run the card's own measurements and say whether they come out the same."""
    for flag, bad in (("--quick", args.quick), ("--update-card", args.update_card)):
        if bad:
            raise UserError(f"--check-card re-measures the card's numbers; leave out {flag}")
    given = [n for n in SIZE_OPTIONS if getattr(args, n) is not None]
    if given:
        opt = "--" + given[0].replace("_", "-")
        raise UserError(f"--check-card uses the settings the card records; leave out {opt}")
    if not args.tolerance >= 0:
        raise UserError(f"--tolerance must be >= 0, got {args.tolerance}")
    if args.grid:
        raise UserError("--check-card writes no grid; leave out --grid")
    model, compute = load_model_for(args)
    card = model.card or {}
    card_eval = card.get("evaluation")
    name = model.path.name if model.path else "the model"
    if not isinstance(card_eval, dict):
        raise UserError(
            f"the model card of {name} holds no evaluation; run evaluate-model --update-card"
        )
    if (card_eval.get("model") or {}).get("sha256") not in (None, model.sha256):
        raise UserError(f"the card's evaluation is of another file than {name} (sha256 differs)")
    card_compute = str(card_eval.get("compute") or "")
    card_precision = card_compute.rpartition(", ")[2] or None
    if args.precision == "auto" and card_precision in ("fp32", "bf16", "fp16"):
        compute = Compute(compute.device, card_precision)  # measure as the card was measured
    recorded = section_settings(card_eval)
    wanted = _sections(args) or tuple(recorded)
    missing = [sec for sec in wanted if sec not in recorded]
    if missing:
        raise UserError(
            f"the card of {name} holds no {missing[0]} numbers with their settings to check"
        )
    groups: dict[str, list[str]] = {}
    for sec in wanted:
        groups.setdefault(json.dumps(recorded[sec], sort_keys=True), []).append(sec)
    progress, close = _progress_bars(args)
    merged: dict = {}
    try:
        for key, secs in groups.items():
            settings = settings_from_card(json.loads(key), secs)
            ev = evaluate_model(model, args.data, settings, compute, args.vgg16, progress)
            for sec in secs:
                merged[sec] = ev.result.get(sec)
            merged.setdefault("model", ev.result["model"])
            merged.setdefault("data", ev.result["data"])
    finally:
        close()
    check = compare_with_card(card_eval, merged, wanted, args.tolerance)
    res = {
        "model": merged.get("model"),
        "data": merged.get("data"),
        "compute": compute.describe(),
        "card_compute": card_compute,
        "card_evaluated_at": card_eval.get("evaluated_at"),
        "card_check": check,
        **{sec: merged.get(sec) for sec in wanted},
    }
    emit(args, res, format_check(res))
    return 0 if check["reproduced"] else 1


def format_check(res: dict) -> str:
    c = res["card_check"]
    lines = [
        f"card check of {res['model'].get('file')}: sections {', '.join(c['sections'])}; "
        f"this run {res['compute']}, the card {res['card_compute'] or '?'} "
        f"({res.get('card_evaluated_at') or 'date unknown'})",
        f"{c['agree']} of {c['compared']} numbers agree within {c['tolerance']:g} "
        f"(relative, absolute below 1): {'REPRODUCED' if c['reproduced'] else 'NOT reproduced'}",
    ]
    w = c.get("largest_difference")
    if c["identical"] == c["compared"]:
        lines.append("every number is identical to the card's")
    elif w:
        lines.append(f"largest difference: {w['number']} card {w['card']:.6g} now {w['now']:.6g}")
    for r in c["differences"][:12]:
        now = "missing" if r["now"] is None else f"{r['now']:.6g}"
        lines.append(f"  differs: {r['number']} card {r['card']:.6g} now {now}")
    if len(c["differences"]) > 12:
        lines.append(f"  … and {len(c['differences']) - 12} more (see --json)")
    return "\n".join(lines)


def _f(v, nd=2) -> str:
    return "n/a" if not isinstance(v, (int, float)) else f"{v:.{nd}f}"


def _levels(v) -> str:
    return "[" + ", ".join(_f(x) for x in v) + "]"


def format_text(res: dict) -> str:
    m, d = res["model"], res["data"]
    kimg = m.get("kimg")
    lines = [
        f"model {m.get('file')} ({'kimg ' + str(kimg) if kimg is not None else 'kimg ?'}), "
        f"sha256 {(m.get('sha256') or '?')[:12]}; {res['compute']}",
        f"data {d.get('source')}: {d['resolution']}px at {d.get('spacing_mm')} mm, "
        f"kinds {d['kinds']}; train {d['train_patches']} patches / {d['train_films']} films, "
        f"held-out {d['heldout_patches']} / {d['heldout_films']} films",
    ]
    for note in (res.get("note"), d.get("note")):
        if note:
            lines.append(note)
    swd = res.get("swd")
    if swd:
        r = swd["recipe"]
        lines.append(
            f"SWD x1e3, levels {r['levels_px']} px, {r['images_per_side']} images per side, "
            f"{r['descriptors_per_image_and_level']} {r['neighbourhood']}x{r['neighbourhood']} "
            f"descriptors/image/level, {r['projections']} projections"
        )
        lines.append(f"  floor (train vs held-out real)  {_levels(swd['floor'])}")
        g = swd["generated"]
        lines.append(
            f"  generated: ratios {_levels(g['ratios'])}  mean {_f(g['mean_ratio'])}  "
            f"worst {_f(g['worst_ratio'])}"
        )
        for name, v in (swd.get("sanity") or {}).items():
            lines.append(f"  sanity {name}: ratios {_levels(v['ratios'])}")
    sp = res.get("spectrum")
    if sp:
        lines.append(
            "power-spectrum beta: "
            + ", ".join(f"{k} {_f(v['beta_mean'])}±{_f(v['beta_sd'])}" for k, v in sp.items())
        )
        if all("anisotropy" in v for v in sp.values()):
            lines.append(
                "orientation anisotropy (max/min power per direction; 1 = none preferred): "
                + ", ".join(
                    f"{k} {_f(v['anisotropy'])} (most at {v['anisotropy_angle_deg']:.0f} deg)"
                    for k, v in sp.items()
                )
            )
    c2 = res.get("c2st")
    if c2:
        lines.append(f"classifier two-sample test ({c2['recipe']['fit']}):")
        for name in ("generated", "real_vs_real", "known_fake_blur"):
            v = c2.get(name)
            if v:
                lo, hi = v["accuracy_ci95"]
                if v.get("draws"):
                    lines.append(
                        f"  {name:16s} accuracy {_f(v['accuracy'], 3)} [{_f(lo, 3)}, {_f(hi, 3)}]"
                        f"  AUC {_f(v['auc'], 3)}  (mean of {v['draws']} draws, sd "
                        f"{_f(v['accuracy_sd'], 3)}: "
                        + ", ".join(_f(a, 3) for a in v["accuracy_draws"])
                        + f"; {v['test_per_side']} per side each)"
                    )
                    continue
                lines.append(
                    f"  {name:16s} accuracy {_f(v['accuracy'], 3)} [{_f(lo, 3)}, {_f(hi, 3)}]"
                    f"  AUC {_f(v['auc'], 3)}  ({v['test_per_side']} per side; "
                    f"{v['epochs']} epochs, best {v['best_epoch']}, {v['stopped_by']}, "
                    f"val acc {_f(v['val_accuracy'], 3)})"
                )
    rec = res.get("reconstruction")
    if rec:
        r = rec["recipe"]
        lines.append(
            f"reconstruction of {r['patches']} held-out patches (PSNR dB / SSIM / detail; "
            f"Eq. 4 {r['steps']} steps, F = {r['perceptual']}):"
        )
        if r.get("noise_maps") == "noise encoder":
            lines.append(
                "  (encoder and inversion render with the noise encoder's maps; "
                "encoder_w_only and inversion_model_noise with the generator's fixed maps)"
            )
        rows = (
            "constant",
            "encoder",
            "encoder_w_only",
            "inversion",
            "inversion_model_noise",
            "inversion_fitted_noise",
        )
        for k in (k for k in rows if k in rec):
            v = rec.get(k) or {}
            lines.append(
                f"  {k:22s} {_f(v.get('psnr'))} / {_f(v.get('ssim'), 3)} / {_f(v.get('detail'), 3)}"
            )
        fn = r.get("fitted_noise")
        if fn:
            lines.append(
                f"  (inversion_fitted_noise: noise maps fitted, penalty "
                f"{fn['noise_regularize']:g}, lambda4 {fn['lambda_encoder']:g})"
            )
    comp = res.get("compose")
    if comp:
        if comp.get("skipped"):
            lines.append(f"compose: skipped ({comp['skipped']})")
        else:
            lines.append(
                f"masked compose, {comp['recipe']['pairs']} held-out lesion pairs, inside the "
                "mask (PSNR / SSIM / detail / seam):"
            )
            methods = ["constant"] + [k for k in comp if k not in ("recipe", "constant")]
            for k in methods:
                v = comp.get(k) or {}
                lines.append(
                    f"  {k:10s} {_f(v.get('psnr'))} / {_f(v.get('ssim'), 3)} / "
                    f"{_f(v.get('detail'), 3)} / {_f(v.get('seam'))}"
                )
    lines += _cue_lines(res.get("cues"))
    t = res.get("targets") or {}
    measured = {k: v for k, v in t.items() if v["met"] is not None}
    if measured:
        lines.append(
            "targets: "
            + ", ".join(
                f"{k} {_f(v['value'])} {v['target']} {'met' if v['met'] else 'NOT met'}"
                for k, v in measured.items()
            )
        )
    if res.get("grid"):
        lines.append(f"grid: {res['grid']}")
    if res.get("card"):
        lines.append(f"model card updated: {res['card']}")
    lines.append(f"took {res['seconds']['total']:.0f} s")
    return "\n".join(lines)


def _cue_lines(cues: dict | None) -> list[str]:
    """One line per named cue group: how well it tells generated from real, beside real vs real,
    and the two sets' means (contrast, darkest corner, ...)."""
    if not cues:
        return []
    if cues.get("skipped"):
        return [f"cues: skipped ({cues['skipped']})"]
    r = cues["recipe"]
    lines = [
        f"cues ({r['per_side']} per side, {r['folds']}-fold; accuracy generated vs held-out "
        "real, [95 % CI], real vs real; means held-out real -> generated):"
    ]
    for name, g in cues["groups"].items():
        lo, hi = g["accuracy_ci95"]
        means = ", ".join(
            f"{k} {_f(v['heldout_real'], 3)}->{_f(v['generated'], 3)}"
            for k, v in g["means"].items()
        )
        lines.append(
            f"  {name:12s} {_f(g['accuracy'], 3)} [{_f(lo, 3)}, {_f(hi, 3)}]  "
            f"real-vs-real {_f(g['real_vs_real'], 3)}  {means}"
        )
    a = cues["all"]
    lines.append(
        f"  {'all':12s} {_f(a['accuracy'], 3)} [{_f(a['accuracy_ci95'][0], 3)}, "
        f"{_f(a['accuracy_ci95'][1], 3)}]  real-vs-real {_f(a['real_vs_real'], 3)}"
    )
    sym = cues.get("symmetry")  # absent in reports written before it was measured
    if sym:
        g, r = sym["generated"], sym["heldout_real"]
        lines.append(
            f"  {'symmetry':12s} {_f(g['accuracy'], 3)} [{_f(g['accuracy_ci95'][0], 3)}, "
            f"{_f(g['accuracy_ci95'][1], 3)}]  held-out real {_f(r['accuracy'], 3)}  "
            "(each set vs itself turned at random; 0.5 = no preferred orientation)"
        )
    shared = cues.get("shared_texture")
    if shared:
        const = shared.get("seeds_const")  # absent in cards from before seeds had maps
        fixed = "" if const is None else f"  with the fixed maps (const) {_f(const, 3)}"
        lines.append(
            f"  {'shared':12s} {_f(shared['seeds'], 3)}{fixed}  held-out real "
            f"{_f(shared['heldout_real'], 3)}  (fine detail correlated between different seeds "
            "as generate renders them; 0 = independent)"
        )
    return lines
