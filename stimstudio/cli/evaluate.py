"""`stimstudio evaluate-model`: SWD, classifier two-sample test, reconstruction, sample grid."""

from __future__ import annotations

from pathlib import Path

from .common import UserError, add_common, add_model_options, emit, refuse_existing, tqdm_bar


def register(sub) -> None:
    from ..train.evaluate import SECTIONS, EvalSettings

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
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--kinds", default=d.kinds, choices=["all", "tissue", "lesion"])
    p.add_argument("--swd-n", type=int, help=f"images per side for SWD (default {d.swd_n})")
    p.add_argument("--c2st-fit", type=int, help=f"classifier fit set per side ({d.c2st_fit})")
    p.add_argument("--c2st-test", type=int, help=f"classifier test set per side ({d.c2st_test})")
    p.add_argument("--c2st-max-epochs", type=int, help=f"({d.c2st_max_epochs})")
    p.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the classifier's real-vs-real and known-fake runs",
    )
    p.add_argument("--recon-n", type=int, help=f"held-out patches to invert ({d.recon_n})")
    p.add_argument("--compose-n", type=int, help=f"lesion compose pairs ({d.compose_n})")
    p.add_argument("--steps", type=int, help=f"Eq. 4 steps ({d.steps})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing grid file")
    add_model_options(p)
    add_common(p)
    p.set_defaults(func=cmd_evaluate)


def settings_from_args(args):
    from ..train.evaluate import EvalSettings

    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    over = {"sections": sections, "kinds": args.kinds, "seed": args.seed}
    for name in (
        "swd_n",
        "c2st_fit",
        "c2st_test",
        "c2st_max_epochs",
        "recon_n",
        "compose_n",
        "steps",
    ):
        v = getattr(args, name)
        if v is not None:
            over[name] = v
    if args.no_baselines:
        over["c2st_baselines"] = False
    s = EvalSettings.quick(**over) if args.quick else EvalSettings(**over)
    s.validate()
    return s


def cmd_evaluate(args) -> int:
    from ..core.model import default_weights_path
    from ..train.evaluate import evaluate_model, update_card, write_png
    from .generate import load_model_for

    grid_path = Path(args.grid) if args.grid else None
    if grid_path is not None:
        if grid_path.suffix.lower() != ".png":
            raise UserError(f"--grid must name a .png file, got {grid_path.name}")
        refuse_existing(grid_path, args.force)
    settings = settings_from_args(args)
    model, compute = load_model_for(args)
    weights = model.path or Path(args.weights or default_weights_path())

    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm_bar(args, desc=stage, total=total, leave=False)
        bar.total = total
        bar.update(done - bar.n)

    try:
        ev = evaluate_model(model, args.data, settings, compute, args.vgg16, progress)
    finally:
        for bar in bars.values():
            bar.close()
    res = ev.result
    if args.quick:
        res["note"] = "--quick: tiny sizes for a smoke test; these numbers are not a result"
    if grid_path is not None and ev.grid is not None:
        write_png(grid_path, ev.grid)
        res["grid"] = str(grid_path)
    if args.update_card:
        if args.quick:
            raise UserError("--update-card with --quick would put smoke-test numbers in the card")
        res["card"] = str(update_card(weights, res))
    emit(args, res, format_text(res))
    return 0


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
    if res.get("note"):
        lines.append(res["note"])
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
    c2 = res.get("c2st")
    if c2:
        lines.append(f"classifier two-sample test ({c2['recipe']['fit']}):")
        for name in ("generated", "real_vs_real", "known_fake_blur"):
            v = c2.get(name)
            if v:
                lo, hi = v["accuracy_ci95"]
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
        for k in ("constant", "encoder", "inversion"):
            v = rec.get(k) or {}
            lines.append(
                f"  {k:10s} {_f(v.get('psnr'))} / {_f(v.get('ssim'), 3)} / {_f(v.get('detail'), 3)}"
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
