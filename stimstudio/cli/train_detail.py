"""`stimstudio train detail`: the detail stage of issue 38 (train/detail.py), a refiner that
takes the 128-px model's output to 256 px, trained on real 0.2-mm patches only."""

from __future__ import annotations

import argparse
import dataclasses

from ..core.compute_choices import DEVICE_CHOICES
from .common import add_common

DETAIL_HELP = {
    "data": "train.npz of patches at twice the base's resolution (0.2 mm), from `dataset build`",
    "base": "the model whose images are refined (a file or a short name, e.g. minimias-128)",
    "run_dir": "folder for state.pt, model files, sample grids and metrics.jsonl; a run "
    "resumes when it holds a state",
    "discriminator": "projected (the only kind: frozen EfficientNet-Lite0 features, as the "
    "grown run)",
    "disc_resolution": "the discriminator's input size in px; larger inputs are averaged down "
    "to it (128: 128-px crops judged at 0.2 mm)",
    "pixel_channels": "a fresh projected discriminator's pixel part (the base model's "
    "discriminator, when it judges --disc-resolution inputs, is used as it is)",
    "crop": "train on random output crops of this many px (0.2 mm) refined from crops of half "
    "that at 0.4 mm; 0 = whole patches",
    "full_every": "with --crop: every N-th step whole patches (0 = never)",
    "batch": "images per step",
    "lr": "Adam learning rate of the refiner and the discriminator",
    "consistency_weight": "weight of |2x2 average of the output - the input| (the refiner adds "
    "detail, it does not move what the base drew)",
    "augment": "DiffAugment policy: comma-separated color, translation, cutout (or none)",
    "ema_kimg": "half-life of the EMA refiner in kimg (the model files hold it)",
    "ema_rampup": "EMA half-life ramp-up as a fraction of the images seen (0 = none)",
    "total_kimg": "stop after this many thousand real patches (counted over resumes)",
    "snapshot_kimg": "write state, model file and sample grid every N kimg",
    "snapshot_cpu_minutes": "also snapshot every N minutes of CPU time, keeping each model file "
    "as model-detail-cpuNNNNmin (equal-CPU-time comparisons; 0 = off)",
    "keep_snapshots": "keep each --snapshot-kimg model file as model-detail-NNNNN.NNNkimg",
    "seed": "seed of the refiner's weights, batches and noise",
    "precision": "auto (bf16 where native, else fp32) | bf16 | fp16 (GPU only) | fp32",
    "divergence_limit": "a loss above this (or not finite) rolls back to the last good state",
    "low_channels": "refiner: features at the input's resolution",
    "low_layers": "refiner: 3x3 convs at the input's resolution",
    "high_channels": "refiner: features at the output's resolution",
    "high_layers": "refiner: 3x3 convs at the output's resolution, each with per-pixel noise",
    "upsample": "refiner: how the input is brought to the output size (bilinear | learned)",
    "residual_gain": "refiner: initial scale of its residual",
}


def register(tsub) -> None:
    from ..train.detail import DetailTrainConfig
    from .train import _add_time_limit

    p = tsub.add_parser(
        "detail",
        help="issue 38, arm 2: a refiner from the base model's output to twice its resolution",
    )
    for f in dataclasses.fields(DetailTrainConfig):
        flag = "--" + f.name.replace("_", "-")
        text = DETAIL_HELP[f.name]
        if f.name in ("data", "base"):
            p.add_argument(flag, required=True, help=text)
        elif isinstance(f.default, bool):
            p.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=f.default, help=text
            )
        else:
            p.add_argument(flag, type=type(f.default), default=f.default, help=text)
    _add_time_limit(p)
    p.add_argument("--device", default="auto", help=" | ".join(DEVICE_CHOICES))
    add_common(p)
    p.set_defaults(func=cmd_train_detail)


def cmd_train_detail(args) -> int:
    from ..train.detail import DetailTrainConfig, DetailTrainer
    from .train import train_phase

    return train_phase(
        args,
        DetailTrainConfig,
        DetailTrainer,
        lambda r: {"cons": f"{r.losses['consistency']:.4f}", "D": f"{r.losses['loss_d']:.3f}"},
        "detail stage",
    )
