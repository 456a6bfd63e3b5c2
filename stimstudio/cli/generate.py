"""`stimstudio generate | invert | compose | interpolate`: the stimulus verbs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core.defaults import CONTINUUM, CONTRAST_RANGE, PLACEMENT, PLACEMENT_MODES, SEED
from ..core.inversion_settings import (
    COMPOSE_DEFAULTS,
    INVERT_DEFAULTS,
    PERCEPTUAL_KINDS,
    InversionSettings,
)
from ..core.noise_modes import NOISE_MODES
from .common import (
    UserError,
    add_common,
    add_continuum_options,
    add_model_options,
    add_orientation_option,
    emit,
    load_model_for,
    refuse_existing,
    tqdm_bar,
)


def register(sub) -> None:
    g = sub.add_parser("generate", help="random stimuli from seeds")
    g.add_argument("--seed", type=int, action="append", help="seed (repeatable); default 0")
    g.add_argument("--seeds", help="a range such as 0-15")
    g.add_argument(
        "--truncation", type=float, default=SEED.truncation, help="psi: 1 = none, 0 = w_avg"
    )
    g.add_argument(
        "--cutoff", type=int, default=SEED.cutoff, help="truncate only the first N layers"
    )
    g.add_argument(
        "--noise",
        choices=NOISE_MODES,
        default=SEED.noise,
        help="noise maps: each seed its own (seed, default), the model's fixed ones shared by "
        "every seed (const: different seeds then share fine texture), fresh random, or none; "
        "saved with each latent",
    )
    add_orientation_option(g)
    g.add_argument("--out-dir", required=True, help="folder for seedNNNN.png + .latent.npz")
    g.add_argument("--bits", type=int, default=8, choices=[8, 16])
    g.add_argument("--force", action="store_true")
    add_model_options(g)
    add_common(g)
    g.set_defaults(func=cmd_generate)

    i = sub.add_parser("invert", help="find the latent of an image (encoder + Eq. 4)")
    i.add_argument("image", help="image file (cropped to a centre square, resized to the model)")
    i.add_argument("--out", required=True, help="reconstruction .png/.tiff")
    i.add_argument("--latent-out", help="write the latent (.latent.npz) here")
    i.add_argument("--mask", help="optimise only inside this mask image")
    _add_inversion_options(i, INVERT_DEFAULTS)
    i.add_argument("--force", action="store_true")
    add_model_options(i)
    add_common(i)
    i.set_defaults(func=cmd_invert)

    c = sub.add_parser("compose", help="put a texture on a template: the four methods of Fig. 4")
    c.add_argument("--texture", required=True, help="image holding the tumor texture")
    c.add_argument("--template", required=True, help="shape-template image")
    c.add_argument(
        "--template-at",
        metavar="X,Y,SIZE",
        help="cut the template from this square of the --template film (film pixels; default: "
        "its centre square); recorded in metrics.json so `insert --at original` puts the lesion "
        "back there",
    )
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--mask", help="mask image on the texture (non-zero = texture)")
    src.add_argument("--polygon", help="lasso on the texture: 'x,y;x,y;x,y;...' in pixels")
    c.add_argument("--dx", type=float, default=0.0)
    c.add_argument("--dy", type=float, default=0.0)
    c.add_argument("--scale", type=float, default=1.0)
    c.add_argument("--angle", type=float, default=0.0, help="degrees, counter-clockwise")
    c.add_argument("--feather", type=float, default=2.0, help="edge feather radius (pixels)")
    c.add_argument(
        "--placement-mode",
        choices=PLACEMENT_MODES,
        default=PLACEMENT.mode,
        help="how the texture goes in: 'paste' its grey levels (the paper's stitch), add its "
        "'contrast' against its own surround to the template, so a lesion from a fatty film "
        "stays visible on a dense one, or 'blend' its edge away (a Poisson blend: its "
        "structure, the template's levels at the outline); every method starts from this "
        f"(default: {PLACEMENT.mode})",
    )
    c.add_argument(
        "--contrast",
        type=float,
        default=PLACEMENT.contrast,
        metavar="GAIN",
        help=f"contrast gain of --placement-mode contrast, {CONTRAST_RANGE[0]:g}.."
        f"{CONTRAST_RANGE[1]:g}: 1 = the lesion's own contrast; below 1 on a dense template "
        f"(default {PLACEMENT.contrast:g}; docs/PLACEMENT.md)",
    )
    c.add_argument("--out-dir", required=True)
    c.add_argument(
        "--stylemix-optimize",
        action="store_true",
        help="also run Eq. 4 from the style mix (a sixth result, 'stylemix+opt')",
    )
    _add_inversion_options(c, COMPOSE_DEFAULTS)
    c.add_argument("--force", action="store_true")
    add_model_options(c)
    add_common(c)
    c.set_defaults(func=cmd_compose)

    x = sub.add_parser("mix", help="per-layer style mixing of two latents")
    x.add_argument("a", help="latent A (.latent.npz): gives every layer not taken from B")
    x.add_argument("b", help="latent B (.latent.npz)")
    grp = x.add_mutually_exclusive_group(required=True)
    grp.add_argument("--fine-from", choices=["B"], help="fine layers (texture) from B")
    grp.add_argument("--coarse-from", choices=["B"], help="coarse layers (shape) from B")
    grp.add_argument("--middle-from", choices=["B"], help="middle layers from B")
    grp.add_argument("--layers", help="explicit layer indices/ranges from B, e.g. 0-3,7")
    x.add_argument("--out", required=True, help="image .png/.tiff")
    x.add_argument("--latent-out", help="write the mixed latent here")
    x.add_argument("--force", action="store_true")
    add_model_options(x)
    add_common(x)
    x.set_defaults(func=cmd_mix)

    p = sub.add_parser("interpolate", help="frames of a continuum through 2+ anchor latents")
    p.add_argument("anchors", nargs="+", help="anchor latents (.latent.npz), in continuum order")
    p.add_argument("--frames", type=int, default=CONTINUUM.frames)
    p.add_argument(
        "--loop", action="store_true", help="close the continuum back to the first anchor"
    )
    add_continuum_options(p, method=CONTINUUM.method, spacing=CONTINUUM.spacing)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--bits", type=int, default=8, choices=[8, 16])
    p.add_argument("--force", action="store_true")
    add_model_options(p)
    add_common(p)
    p.set_defaults(func=cmd_interpolate)


def _add_inversion_options(p, d: InversionSettings) -> None:
    """Eq. 4's options with `d`'s defaults: INVERT_DEFAULTS for `invert`, COMPOSE_DEFAULTS for
    `compose` (core.inversion_settings says why they differ from the paper's recipe)."""
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lambda-perceptual", type=float, default=d.lambda_perceptual, help="lambda3")
    p.add_argument("--lambda-encoder", type=float, default=d.lambda_encoder, help="lambda4")
    p.add_argument(
        "--outside-weight",
        type=float,
        default=d.outside_weight,
        help=f"pixel weight of the template outside the mask (default {d.outside_weight:g}; "
        "the paper's: 0)",
    )
    p.add_argument(
        "--seam-band",
        type=float,
        default=d.seam_band,
        metavar="PX",
        help=f"with a mask: a band this wide on either side of its outline is left to the "
        f"generator to draw the seam (default {d.seam_band:g}; the paper's: 0)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--paper-recipe",
        action="store_true",
        help="Eq. 4 exactly as the paper gives it (the other Eq. 4 options are ignored except "
        "--steps, --seed and --feature-network): faithful in the mask, hazy elsewhere",
    )
    p.add_argument(
        "--realism",
        type=float,
        default=d.realism,
        metavar="R",
        help="experimental, 0..1 (default 0, the paper's Eq. 4): hold each layer's code inside "
        "the generator's own latent distribution (W), tighter as R rises (recorded in the "
        "latent). Measured: 33.8 dB at 1 against 35.1 at 0 on 8 held-out patches; whether the "
        "results look more real is not measured yet (docs/INVERSION.md, Realism)",
    )
    p.add_argument(
        "--feature-network",
        "--perceptual",  # the older name, kept as an alias
        dest="perceptual",
        default=d.perceptual,
        choices=PERCEPTUAL_KINDS,
        help="F, the feature network of the perceptual term: the model's discriminator blocks, "
        "or frozen ImageNet EfficientNet-Lite0 (--perceptual is an alias)",
    )
    p.add_argument(
        "--optimize-noise",
        action=argparse.BooleanOptionalAction,
        default=d.optimize_noise,
        help="also optimise the per-layer noise maps (saved with the latent); "
        f"default {'on' if d.optimize_noise else 'off'} here",
    )
    p.add_argument(
        "--noise-regularize",
        type=float,
        default=d.noise_regularize,
        help=f"weight of the noise maps' autocorrelation penalty (default {d.noise_regularize:g})",
    )
    p.add_argument(
        "--encoder-noise",
        action=argparse.BooleanOptionalAction,
        default=d.encoder_noise,
        help="start from the noise encoder's maps where the model has one (fine texture kept; "
        "saved with the latent); --no-encoder-noise: the generator's fixed maps, the paper's "
        "recipe",
    )


def _settings(args):
    s = InversionSettings(
        steps=args.steps,
        lr=args.lr,
        lambda_perceptual=args.lambda_perceptual,
        lambda_encoder=args.lambda_encoder,
        outside_weight=args.outside_weight,
        seam_band=args.seam_band,
        seed=args.seed,
        perceptual=args.perceptual,
        optimize_noise=args.optimize_noise,
        encoder_noise=args.encoder_noise,
        realism=args.realism,
        noise_regularize=args.noise_regularize,
    )
    if args.paper_recipe:
        s = InversionSettings(steps=args.steps, seed=args.seed, perceptual=args.perceptual)
    s.validate()
    return s


def _out_dir(path: str, force: bool) -> Path:
    d = Path(path)
    if d.exists() and any(d.iterdir()) and not force:
        raise UserError(f"{d} exists and is not empty; pass --force to write into it")
    d.mkdir(parents=True, exist_ok=True)
    return d


def parse_seeds(args) -> list[int]:
    seeds = list(args.seed or [])
    if args.seeds:
        try:
            a, _, b = args.seeds.partition("-")
            seeds += list(range(int(a), int(b or a) + 1))
        except ValueError as exc:
            raise UserError(f"--seeds must look like 0-15, got {args.seeds!r}") from exc
    return seeds or [0]


def cmd_generate(args) -> int:
    from ..core.generate import check_seed, sample

    seeds = parse_seeds(args)
    for seed in seeds:
        check_seed(seed)
    model, compute = load_model_for(args)
    from ..core.imageio import save_image

    out = _out_dir(args.out_dir, args.force)
    files, turned = [], []
    for seed in tqdm_bar(args, iterable=seeds, desc="seeds", unit="img"):
        latent, img = sample(
            model, seed, args.truncation, args.cutoff, compute, args.noise, args.orientation
        )
        png = save_image(out / f"seed{seed:04d}.png", img, bits=args.bits)
        latent.save(out / f"seed{seed:04d}.latent.npz")
        files.append(str(png))
        turned.append(latent.orientation)
    emit(
        args,
        {
            "files": files,
            "seeds": seeds,
            "model": model.name,
            "truncation": args.truncation,
            "noise": args.noise,
            "orientation": args.orientation,
            "orientations": turned,  # each seed's, as its latent records it
        },
        "\n".join(files),
    )
    return 0


def _metrics(img, target, mask=None) -> dict:
    from ..core.metrics import detail_fidelity, psnr, ssim

    return {
        "psnr": psnr(img, target, mask),
        "ssim": ssim(img, target, mask),
        "detail": detail_fidelity(img, target, mask),
    }


def cmd_invert(args) -> int:
    from ..core.imageio import load_mask, load_patch, save_image
    from ..core.invert import run_inversion, synthesize

    out = Path(args.out)
    refuse_existing(out, args.force)
    if args.latent_out:
        refuse_existing(Path(args.latent_out), args.force)
    settings = _settings(args)
    model, compute = load_model_for(args)
    target, note = load_patch(args.image, model.resolution)
    mask = load_mask(args.mask, target.shape) if args.mask else None
    bar = tqdm_bar(args, total=settings.steps, desc="Eq. 4", unit="step")
    from ..core.invert import perceptual_for

    F = perceptual_for(model, args.vgg16, settings.perceptual)
    res = run_inversion(
        model,
        target,
        mask,
        settings,
        compute,
        F,
        on_step=lambda r: bar.update(1 if r.step else 0),
        source={"file": Path(args.image).name},
    )
    bar.close()
    save_image(out, res.image)
    if args.latent_out:
        res.latent.save(args.latent_out)
    enc = res.encoder_latent
    enc_img = synthesize(model, enc.wplus, compute, noise=enc.noise)[0]
    result = {
        "output": str(out),
        "latent": args.latent_out,
        "fitted": note,
        "perceptual": res.perceptual,
        "seconds": round(res.seconds, 2),
        "encoder": _metrics(enc_img, target, mask),
        "optimized": _metrics(res.image, target, mask),
        "final_losses": res.history[-1] if res.history else {},
    }
    text = (
        f"{out}: PSNR {result['optimized']['psnr']:.2f} dB, SSIM {result['optimized']['ssim']:.3f}, "
        f"detail {result['optimized']['detail']:.3f} (encoder only: "
        f"{result['encoder']['psnr']:.2f} dB) in {res.seconds:.1f} s"
    )
    emit(args, result, text)
    return 0


def _parse_polygon(text: str) -> np.ndarray:
    try:
        pts = [tuple(float(v) for v in p.split(",")) for p in text.split(";") if p.strip()]
        arr = np.asarray(pts, np.float64)
    except ValueError as exc:
        raise UserError(f"--polygon must look like 'x,y;x,y;x,y', got {text!r}") from exc
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise UserError(f"--polygon must look like 'x,y;x,y;x,y', got {text!r}")
    return arr


def cmd_compose(args) -> int:
    from ..core.compose import Mask, Placement, compose
    from ..core.imageio import load_mask, save_image, side_by_side

    settings = _settings(args)
    model, compute = load_model_for(args)
    from ..core.films.cut import parse_at, template_patch
    from ..core.imageio import load_patch

    texture, tnote = load_patch(args.texture, model.resolution)
    at = parse_at(args.template_at) if args.template_at else None
    template, pnote, template_cut = template_patch(args.template, model.resolution, at)
    if args.mask:
        mask = Mask.from_array(load_mask(args.mask, texture.shape), args.feather)
    else:
        mask = Mask.from_polygon(_parse_polygon(args.polygon), texture.shape, args.feather)
    placement = Placement(
        args.dx, args.dy, args.scale, args.angle, args.placement_mode, args.contrast
    )
    placement.validate()  # a bad gain is one line before the model runs
    passes = 2 if args.stylemix_optimize else 1
    bar = tqdm_bar(args, total=passes * settings.steps, desc="masked optimisation", unit="step")
    comp = compose(
        model,
        texture,
        template,
        mask,
        placement,
        settings,
        compute,
        vgg16_path=args.vgg16,
        stylemix_optimize=args.stylemix_optimize,
        on_step=lambda rec: bar.update(1 if rec.step else 0),
    )
    bar.close()
    for w in comp.warnings:
        print(f"stimstudio: warning: {w}", file=sys.stderr)
    out = _out_dir(args.out_dir, args.force)
    files = {}
    methods = list(comp.images)
    for name in methods:
        files[name] = str(save_image(out / f"{name}.png", comp.images[name]))
    save_image(out / "mask.png", comp.mask, model_range=False)
    sheet = side_by_side([texture, template] + [comp.images[m] for m in methods])
    files["sheet"] = str(save_image(out / "fig4-sheet.png", sheet))
    comp.latents["optimized"].save(out / "optimized.latent.npz")
    comp.latents["encoder"].save(out / "encoder.latent.npz")
    from ..core.model import atomic_write_bytes

    result = {
        "files": files,
        "metrics": comp.metrics,
        "perceptual": comp.perceptual,
        "placement": comp.placement,
        "texture_contrast": comp.texture_contrast,
        "warnings": comp.warnings,
        "fitted": {"texture": tnote, "template": pnote},
        "template_cut": template_cut,
        "model": model.tag(),  # which model made it: name, sha256, resolution, pixel size
    }
    from ..core.jsonable import dumps_strict

    atomic_write_bytes(out / "metrics.json", dumps_strict(result, indent=2).encode())
    lines = [
        f"{'method':13s} {'PSNR in':>8s} {'SSIM in':>8s} {'detail':>7s} {'seam':>6s} "
        f"{'shape':>6s} {'contrast':>8s}"
    ]
    for name in methods:
        m = comp.metrics[name]
        lines.append(
            f"{name:13s} {m['psnr_in_mask']:8.2f} {m['ssim_in_mask']:8.3f} "
            f"{m['detail_in_mask']:7.3f} {m['seam_strength']:6.2f} {m['shape_agreement']:6.3f} "
            f"{m['lesion_contrast']:+8.3f}"
        )
    mode = placement.mode + (
        f", gain {placement.contrast:g}" if placement.mode == "contrast" else ""
    )
    lines.append(
        f"placed by {mode}; contrast = mean inside the mask minus its surround "
        f"(the lesion on its own film: {comp.texture_contrast:+.3f})"
    )
    lines.append(f"-> {out} (sheet: texture | template | {' | '.join(methods)})")
    emit(args, result, "\n".join(lines))
    return 0


def cmd_interpolate(args) -> int:
    from ..core.imageio import save_image
    from ..core.interpolate import Anchor, Continuum, render_continuum
    from ..core.latent import load_latent

    model, compute = load_model_for(args)
    anchors = []
    for f in args.anchors:
        lat = load_latent(f)
        lat.check_model(model)
        anchors.append(Anchor(Path(f).name.split(".")[0], lat))
    continuum = Continuum(anchors, args.frames, args.loop, args.method, args.spacing)
    continuum.validate()
    out = _out_dir(args.out_dir, args.force)
    pf = render_continuum(continuum, model, compute)
    files = []
    rows = ["frame,position,segment,t,step_distance,cumulative_distance"]
    for fr in tqdm_bar(args, iterable=pf.frames, desc="frames", unit="frame"):
        files.append(str(save_image(out / f"frame{fr.index:04d}.png", fr.image, bits=args.bits)))
        rows.append(
            f"{fr.index},{fr.position:.6f},{fr.segment},{fr.t:.6f},"
            f"{fr.step_distance:.6f},{fr.cumulative_distance:.6f}"
        )
    from ..core.model import atomic_write_bytes

    atomic_write_bytes(out / "distances.csv", ("\n".join(rows) + "\n").encode())
    d = pf.distances
    result = {
        "frames": files,
        "spacing": pf.spacing,
        "metric": pf.metric,
        "step_distances": d.tolist(),
        "cv": pf.cv,
        "loop": args.loop,
    }
    text = (
        f"{len(files)} frames -> {out}; step distance ({pf.metric}) mean {d.mean():.4g}, "
        f"min {d.min():.4g}, max {d.max():.4g}, CV {pf.cv:.3f}"
    )
    emit(args, result, text)
    return 0


def parse_layers(text: str) -> list[int]:
    out = []
    try:
        for part in text.split(","):
            a, _, b = part.strip().partition("-")
            out += list(range(int(a), int(b or a) + 1))
    except ValueError as exc:
        raise UserError(f"--layers must look like 0-3,7, got {text!r}") from exc
    return out


def cmd_mix(args) -> int:
    from ..core.generate import mixing_presets, style_mix, weights_from_layers
    from ..core.imageio import save_image
    from ..core.invert import synthesize
    from ..core.latent import Latent, load_latent

    out = Path(args.out)
    refuse_existing(out, args.force)
    if args.latent_out:
        refuse_existing(Path(args.latent_out), args.force)
    model, compute = load_model_for(args)
    a, b = load_latent(args.a), load_latent(args.b)
    a.check_model(model)
    b.check_model(model)
    presets = mixing_presets(model)
    if args.layers:
        layers = parse_layers(args.layers)
    else:
        layers = presets["fine" if args.fine_from else "coarse" if args.coarse_from else "middle"]
    w = style_mix([a.wplus, b.wplus], weights_from_layers(model.num_ws, layers))
    # shown as A is (A gives every layer not taken from B)
    save_image(out, synthesize(model, w, compute, orientation=a.orientation)[0])
    src = {
        "method": "style-mix",
        "a": Path(args.a).name,
        "b": Path(args.b).name,
        "layers_from_b": layers,
    }
    if args.latent_out:
        mixed = Latent.of(model, w, src)
        mixed.orientation = a.orientation
        mixed.save(args.latent_out)
    result = {"output": str(out), "layers_from_b": layers, "presets": presets}
    emit(args, result, f"{out}: layers {layers} from B, the rest from A")
    return 0
