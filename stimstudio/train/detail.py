"""The detail stage's trainer (issue 38, second arm): `stimstudio train detail`.

The refiner (core/nets/detail.py) learns from real films only: each real patch at the films'
0.2 mm (256 px) is averaged 2x2 to its 0.4-mm version (128 px, what the base model renders),
and the refiner takes that back to 0.2 mm. Pairs are free, but a regression on them would give
the mean of the possible details (haze); so the refiner is trained adversarially against the
projected discriminator the grown run uses (`--disc-resolution 128`: 128-px crops judged at
0.2 mm; the base model's trained discriminator when its file carries one of that input size),
plus a consistency term: its output averaged 2x2 must give back its input (L1, weight
`consistency_weight`), so that it adds detail and does not move what the base drew. At sample
time the input is the base generator's image (`DetailStageGenerator`).

Bookkeeping is the other trainers': atomic state.pt with resume (train/checkpoint.py), the
snapshot clocks of train/loop.py (kimg and `--snapshot-cpu-minutes`), metrics.jsonl with wall
and CPU seconds, an EMA refiner that the model files hold, the divergence guard.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.detail_model import detail_model
from ..core.device import Compute
from ..core.errors import CheckpointError, DatasetError, OptionError
from ..core.model import load_model
from ..core.nets.detail import DetailConfig, DetailRefiner
from ..core.nets.projected import (
    ProjectedConfig,
    ProjectedDiscriminator,
    hinge_d_loss,
    hinge_g_loss,
)
from .augment import diff_augment
from .checkpoint import (
    DivergenceGuard,
    diverged,
    has_state,
    load_optimizer,
    load_state,
    rng_state,
    save_state,
    set_rng_state,
)
from .dataset import load_patches
from .distributed import Dist
from .gan import _batches, save_grid
from .gan_config import random_crops
from .loop import CpuClock, SnapshotClock, after_step, update_ema

REFINER_KEYS = (
    "low_channels",
    "low_layers",
    "high_channels",
    "high_layers",
    "upsample",
    "residual_gain",
)


@dataclass
class DetailTrainConfig:
    data: str = ""  # train.npz of patches at twice the base model's resolution (0.2 mm)
    base: str = ""  # the model whose output is refined (e.g. minimias-128)
    run_dir: str = "runs/detail256"
    discriminator: str = "projected"  # the only kind: the grown run's setup
    disc_resolution: int = 128
    pixel_channels: int = 16  # a fresh projected discriminator's pixel part (0 = none)
    crop: int = 128  # output crops in px (0.2 mm) from crops of half that at 0.4 mm; 0 = whole
    full_every: int = 0  # with --crop: every N-th step whole patches (0 = never)
    batch: int = 16
    lr: float = 0.002
    consistency_weight: float = 10.0
    augment: str = "color,translation,cutout"
    ema_kimg: float = 2.0
    ema_rampup: float = 0.05
    total_kimg: float = 100.0
    snapshot_kimg: float = 2.0
    snapshot_cpu_minutes: float = 0.0
    keep_snapshots: bool = False
    seed: int = 0
    precision: str = "auto"
    divergence_limit: float = 1e4
    low_channels: int = 32
    low_layers: int = 2
    high_channels: int = 16
    high_layers: int = 3
    upsample: str = "bilinear"
    residual_gain: float = 0.1

    def refiner_config(self, resolution: int) -> DetailConfig:
        return DetailConfig(resolution=resolution, **{k: getattr(self, k) for k in REFINER_KEYS})


@dataclass
class DetailProgress:
    step: int
    kimg: float
    losses: dict
    sec_per_kimg: float
    event: str | None = None


def consistency(out: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Mean |2x2 average of the output - the input|, per image [N]."""
    return (F.avg_pool2d(out, 2) - lr).abs().mean((1, 2, 3))


class DetailTrainer:
    def __init__(self, cfg: DetailTrainConfig, compute: Compute):
        self.cfg, self.compute, self.dist = cfg, compute, Dist()
        self.device = compute.device
        self.run_dir = Path(cfg.run_dir)
        self.state_path = self.run_dir / "state.pt"
        if cfg.discriminator != "projected":
            raise OptionError(
                f"the detail stage trains against the projected discriminator only, not "
                f"{cfg.discriminator!r}"
            )
        if cfg.batch < 1 or cfg.consistency_weight < 0 or cfg.full_every < 0:
            raise OptionError("--batch must be >= 1, --consistency-weight and --full-every >= 0")
        self.base = load_model(cfg.base, with_projected=True)
        if self.base.is_detail:
            raise CheckpointError(f"{cfg.base} is a detail stage itself; give its base model")
        res = 2 * self.base.resolution
        ps = load_patches(cfg.data)
        if ps.patches.shape[-1] != res:
            raise DatasetError(
                f"{cfg.data} holds {ps.patches.shape[-1]}px patches; a detail stage on the "
                f"{self.base.resolution}-px model {self.base.short_name} learns from {res}-px "
                "patches (`dataset build --resolution 256 --pixel-size 0.2`)"
            )
        if len(ps.patches) < cfg.batch:
            raise DatasetError(f"{cfg.data} holds fewer patches than one batch of {cfg.batch}")
        self.patches, self.resolution = ps.patches, res
        torch.manual_seed(cfg.seed)
        try:
            self.R = DetailRefiner(cfg.refiner_config(res)).to(self.device)
        except ValueError as exc:
            raise OptionError(str(exc)) from exc
        self.R_ema = copy.deepcopy(self.R).eval().requires_grad_(False)
        self.P, self.p_note = self._projected()
        self._check_sizes()
        self.R.train().requires_grad_(True)
        self.opt_r = torch.optim.Adam(self.R.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8)
        self.opt_d = torch.optim.Adam(
            self.P.learners().parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8
        )
        self.step, self.nimg, self.train_seconds, self.cpu_seconds = 0, 0, 0.0, 0.0
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.guard = DivergenceGuard(self.state_path, cfg.seed, "lower --lr")
        self.fixed_z = torch.randn(
            16, self.base.G.z_dim, generator=torch.Generator().manual_seed(123)
        )

    def _projected(self) -> tuple[ProjectedDiscriminator, str]:
        """The base model's projected discriminator when it judges this run's input size
        (its trained parts load), else a fresh one."""
        cfg, bp = self.cfg, self.base.P
        if bp is not None and bp.cfg.resolution == cfg.disc_resolution:
            P = ProjectedDiscriminator(bp.cfg)
            P.load_shipped_state_dict(bp.shipped_state_dict())
            note = f"the projected discriminator of {self.base.short_name}"
        else:
            with torch.random.fork_rng():
                torch.manual_seed(cfg.seed + 1)
                P = ProjectedDiscriminator(
                    ProjectedConfig(
                        resolution=cfg.disc_resolution, pixel_channels=cfg.pixel_channels
                    )
                )
            note = "a fresh projected discriminator"
        P.to(self.device).train()
        P.learners().requires_grad_(True)
        return P, note

    def _check_sizes(self) -> None:
        cfg, res, d = self.cfg, self.resolution, self.cfg.disc_resolution
        if cfg.crop and (cfg.crop & (cfg.crop - 1) or not 8 <= cfg.crop <= res):
            raise OptionError(f"--crop must be a power of two from 8 to {res} px, not {cfg.crop}")
        if d < 8 or d & (d - 1) or d > res:
            raise OptionError(f"--disc-resolution must be a power of two from 8 to {res} px")
        whole = not cfg.crop or cfg.full_every
        sizes = {min(cfg.crop or res, d)} | ({min(res, d)} if whole else set())
        small = [s for s in sizes if s < self.P.min_input]
        if small:
            raise OptionError(
                f"the projected discriminator needs inputs of at least {self.P.min_input} px, "
                f"not {small[0]}: raise --crop or --disc-resolution"
            )

    # -- state ------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "config": asdict(self.cfg),
            "R": self.R.state_dict(),
            "R_ema": self.R_ema.state_dict(),
            "P": self.P.shipped_state_dict(),
            "opt_r": self.opt_r.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "nimg": self.nimg,
            "train_seconds": self.train_seconds,
            "cpu_seconds": self.cpu_seconds,
            "base_sha256": self.base.sha256,
            "rng": rng_state(),
            "np_rng": self.rng.bit_generator.state,
        }

    def load(self, st: dict) -> None:
        if st.get("base_sha256") and st["base_sha256"] != self.base.sha256:
            raise CheckpointError(
                f"{self.state_path} refines another base model than {self.cfg.base}; use the "
                "same --base or a new --run-dir"
            )
        old = st.get("config", {})
        for k in (*REFINER_KEYS, "disc_resolution"):
            if k in old and old[k] != getattr(self.cfg, k):
                raise CheckpointError(
                    f"the resume state was trained with {k}={old[k]}, this run asks for "
                    f"{k}={getattr(self.cfg, k)}; use the same configuration or a new --run-dir"
                )
        self.R.load_state_dict(st["R"])
        self.R_ema.load_state_dict(st["R_ema"])
        self.P.load_shipped_state_dict(st["P"])
        note = load_optimizer(self.opt_r, st["opt_r"])
        load_optimizer(self.opt_d, st["opt_d"])
        self.lr_note = f"; {note}" if note else ""
        self.step, self.nimg = st["step"], st["nimg"]
        self.train_seconds = st.get("train_seconds", 0.0)
        self.cpu_seconds = st.get("cpu_seconds", 0.0)
        set_rng_state(st["rng"])
        self.rng.bit_generator.state = st["np_rng"]

    def resume(self) -> str:
        if not has_state(self.state_path):
            return (
                f"starting a detail stage on {self.base.short_name} ({self.base.resolution} -> "
                f"{self.resolution} px) against {self.p_note}"
            )
        st = load_state(self.state_path)
        self.load(st)
        msg = f"resumed detail stage from {st['loaded_from']} at {self.nimg / 1000:.3f} kimg"
        msg += self.lr_note
        if st.get("unreadable"):
            msg += f" ({st['unreadable']}; the state before it was used)"
        return msg

    # -- one step ---------------------------------------------------------------------------
    def _to_disc(self, x: torch.Tensor) -> torch.Tensor:
        f = x.shape[-1] // self.cfg.disc_resolution
        return F.avg_pool2d(x, f) if f > 1 else x

    def _judge(self, x: torch.Tensor) -> torch.Tensor:
        return self.P(diff_augment(self._to_disc(x).float(), self.cfg.augment)).float()

    def _step(self, real: torch.Tensor) -> dict:
        cfg = self.cfg
        lr = F.avg_pool2d(real, 2)  # the 0.4-mm version: what the base model renders
        self.opt_d.zero_grad(set_to_none=True)
        with self.compute.autocast():
            with torch.no_grad():
                fake = self.R(lr, noise_mode="random")
            loss_d = hinge_d_loss(self._judge(real), self._judge(fake))
        loss_d.backward()
        self.opt_d.step()
        learners = self.P.learners()
        learners.requires_grad_(False)
        self.opt_r.zero_grad(set_to_none=True)
        with self.compute.autocast():
            fake = self.R(lr, noise_mode="random").float()
            adv = hinge_g_loss(self._judge(fake))
        cons = consistency(fake, lr).mean()
        loss_r = adv + cfg.consistency_weight * cons
        loss_r.backward()
        learners.requires_grad_(True)
        self.opt_r.step()
        return {
            "loss_r": float(loss_r.detach()),
            "loss_d": float(loss_d.detach()),
            "adv": float(adv.detach()),
            "consistency": float(cons.detach()),
        }

    def _update_ema(self, images: int) -> None:
        update_ema(self.R_ema, self.R, images, self.nimg, self.cfg.ema_kimg, self.cfg.ema_rampup)

    # -- snapshots --------------------------------------------------------------------------
    def model(self):
        """The detail-stage model of the EMA refiner (what the model files hold)."""
        card = dict(
            kimg=(self.base.card or {}).get("kimg"),
            detail_kimg=round(self.nimg / 1000, 3),
            detail_training_seconds=round(self.train_seconds, 1),
            detail_cpu_seconds=round(self.cpu_seconds, 1),
            discriminator="projected",
            disc_resolution=self.cfg.disc_resolution,
            consistency_weight=self.cfg.consistency_weight,
        )
        if self.cfg.crop:
            card.update(crop=self.cfg.crop, full_every=self.cfg.full_every)
        return detail_model(self.base, self.R_ema, card, P=self.P)

    def snapshot(self, cpu_minutes: float | None = None) -> None:
        save_state(self.state_path, self.state())
        model = self.model()
        with torch.no_grad():
            imgs = model.G(self.fixed_z.to(self.device))
        save_grid(imgs, self.run_dir / "samples-latest.png", cols=4)
        model.save(self.run_dir / "model-detail.safetensors")
        tag = None
        if cpu_minutes is not None:
            tag = f"cpu{cpu_minutes:04.0f}min" if cpu_minutes == int(cpu_minutes) else None
            tag = tag or f"cpu{cpu_minutes:06.1f}min"
        elif self.cfg.keep_snapshots:
            tag = f"{self.nimg / 1000:09.3f}kimg"
        if tag:
            model.save(self.run_dir / f"model-detail-{tag}.safetensors")
            save_grid(imgs, self.run_dir / f"samples-{tag}.png", cols=4)

    def _log(self, record: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _real_batch(self, batches) -> torch.Tensor:
        real = next(batches).to(self.device)
        whole = not self.cfg.crop or (self.cfg.full_every and self.step % self.cfg.full_every == 0)
        return real if whole else random_crops(real, self.cfg.crop, self.rng)

    def train(self, stop=None) -> Iterator[DetailProgress]:
        cfg = self.cfg
        batches = _batches(self.patches, cfg.batch, self.rng, self.dist)
        clock = SnapshotClock(self.nimg, int(cfg.snapshot_kimg * 1000))
        cpu_clock = CpuClock(self.cpu_seconds, cfg.snapshot_cpu_minutes * 60)
        while self.nimg < cfg.total_kimg * 1000:
            if stop is not None and stop():
                break
            t0, c0 = time.perf_counter(), time.process_time()
            losses = self._step(self._real_batch(batches))
            watched = {"R": losses["loss_r"], "D": losses["loss_d"]}
            if diverged(watched, cfg.divergence_limit):
                event = self.guard.rollback(watched, self.load, self.rng, what="detail training")
                self._log({"event": "rollback", **watched, "kimg": self.nimg / 1000})
                yield DetailProgress(self.step, self.nimg / 1000, losses, 0.0, event)
                continue
            self._update_ema(cfg.batch)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            event = after_step(self, clock, cfg.batch, dt, losses, dc, cpu_clock)
            yield DetailProgress(self.step, self.nimg / 1000, losses, dt * 1000 / cfg.batch, event)
        self.snapshot()
