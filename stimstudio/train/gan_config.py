"""The GAN phase's settings and the checks on them, apart from the trainer (train/gan.py) so
that the command line can check a configuration before anything is built or written."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.errors import OptionError
from ..core.nets import GeneratorConfig


@dataclass(frozen=True)
class GanConfig:
    data: str = ""
    run_dir: str = "runs/gan"
    resolution: int = 128
    z_dim: int = 256
    w_dim: int = 256
    mapping_layers: int = 8
    channel_base: int = 4096
    channel_max: int = 256
    batch: int = 16
    lr: float = 0.0025
    r1_gamma: float = 0.2
    r1_interval: int = 16
    ema_kimg: float = 5.0
    ema_rampup: float = 0.05
    style_mixing: float = 0.9
    augment: str = "color,translation,cutout"
    total_kimg: float = 100.0
    snapshot_kimg: float = 2.0
    seed: int = 0
    precision: str = "auto"  # bf16 only where the hardware has it natively (core.device)
    divergence_limit: float = 1e4
    # Path-length regularisation (StyleGAN2): off by default — on this CPU its double backward
    # costs more than it gains for texture patches; StyleGAN2 used weight 2, interval 4.
    pl_weight: float = 0.0
    pl_interval: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    # "stylegan2" (the original recipe) or "projected" (Sauer et al. 2021)
    discriminator: str = "stylegan2"
    # extra snapshots every N minutes of CPU time (equal-CPU-time comparisons; 0 = off);
    # each keeps its model file as model-gan-cpuNNNNmin.safetensors
    snapshot_cpu_minutes: float = 0.0
    # keep every --snapshot-kimg snapshot's model file as model-gan-NNNNN.NNNkimg.safetensors, so
    # that `train select` can choose among them (a generator drifts from snapshot to snapshot)
    keep_snapshots: bool = False
    # training on crops: crop size in px (0 = off), and every N-th step on whole patches
    crop: int = 0
    full_every: int = 4
    # projected only: width of a small discriminator on the raw pixels beside the feature
    # scales (0 = none); it judges the grain and fine strands the stride-4 taps blur
    pixel_channels: int = 0
    # projected only: width of a small discriminator on the patch averaged to 16 x 16 cells
    # (0 = none); it judges the coarse density layout, where the held-out classifier's cue lies
    layout_channels: int = 0
    # projected only: real and generated images share the discriminator's BatchNorm
    # statistics (one batch) instead of each kind being normalised by its own
    joint_batch: bool = False
    # projected only: the discriminator's input size in px (0 = the model's resolution). A
    # larger input (a whole patch of a grown 256-px model) is averaged down to it, i.e. judged
    # at a coarser pixel size, while crops of this size are judged at the model's own
    disc_resolution: int = 0
    extra: dict = field(default_factory=dict)

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            resolution=self.resolution,
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            mapping_layers=self.mapping_layers,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
        )


ARCH_KEYS = (
    "resolution",
    "z_dim",
    "w_dim",
    "mapping_layers",
    "channel_base",
    "channel_max",
    "discriminator",
    "disc_resolution",
)
DISCRIMINATORS = ("stylegan2", "projected")
CROP_KEYS = ("crop", "full_every")


def random_crops(x: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """One random `size`-px window of each image in `x` [N, C, H, W]."""
    n, _, h, w = x.shape
    top = rng.integers(0, h - size + 1, n)
    left = rng.integers(0, w - size + 1, n)
    return torch.stack(
        [x[i, :, t : t + size, s : s + size] for i, (t, s) in enumerate(zip(top, left))]
    )


def check_crop(cfg: GanConfig, min_input: int | None) -> None:
    """One clear message for crop settings that cannot train (before anything is written)."""
    if not cfg.crop:
        return
    c, res = cfg.crop, cfg.resolution
    if c < 0 or c & (c - 1) or c >= res:
        raise OptionError(
            f"--crop must be a power of two smaller than the {res}-px patches (0 = off), not {c}"
        )
    if cfg.discriminator != "projected":
        raise OptionError(
            "--crop needs --discriminator projected (the stylegan2 discriminator ends in a "
            "fixed-size layer and judges whole patches only)"
        )
    if min_input is not None and c < min_input:
        raise OptionError(
            f"--crop {c} is too small: the projected discriminator's deepest scale needs "
            f"at least {min_input} px"
        )
    if c * 4 < res:
        raise OptionError(
            f"--crop {c} is too small: the generator renders crops of {res // 4} px or more"
        )
    if cfg.full_every < 1:
        raise OptionError(f"--full-every must be 1 or more, not {cfg.full_every}")


def check_disc_resolution(cfg: GanConfig) -> int:
    """The discriminator's input size; one message for a setting that cannot work."""
    r = cfg.disc_resolution or cfg.resolution
    if cfg.disc_resolution and cfg.discriminator != "projected":
        raise OptionError("--disc-resolution needs --discriminator projected")
    if r < 32 or r & (r - 1) or r > cfg.resolution:
        raise OptionError(
            f"--disc-resolution must be a power of two from 32 to the {cfg.resolution}-px "
            f"patches (0 = the same), not {cfg.disc_resolution}"
        )
    return r


def lazy_factor(interval: int) -> float:
    """Lazy regularisation scales lr and beta2 by interval / (interval + 1) (StyleGAN2,
    App. B); an interval of 0 means the regulariser is off, so nothing is scaled."""
    return interval / (interval + 1) if interval > 0 else 1.0


def _crop_words(settings: dict) -> str:
    if not settings["crop"]:
        return "no crops"
    return f"--crop {settings['crop']} --full-every {settings['full_every']}"
