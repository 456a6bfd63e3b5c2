"""Phase 1: train the StyleGAN2 generator against a discriminator on mammogram patches.

Two discriminator kinds (`--discriminator`): "stylegan2" (residual D, non-saturating logistic
loss, lazy R1) and "projected" (frozen EfficientNet-Lite0 features, random mixing, scale
discriminators, hinge loss, no R1; see core/nets/projected.py for why). Common to both: EMA
generator, style-mixing regularisation, DiffAugment, bf16 autocast where native, resumable
atomic state, a divergence guard that rolls back to the last good state, sample grids and a
JSONL metrics log. Optional training on crops (`crop`, `full_every`): most steps
show G and D random `crop`-px windows (a quarter of the pixels at half the size, so each step
costs a fraction of a whole-patch step), every `full_every`-th step whole patches, so breast
edges and density gradients are still learned; see core/nets/generator.py for how G renders a
crop. Gradients are averaged across torchrun ranks
the way stylegan2-ada-pytorch does it (one flat all-reduce per step), which also covers the
lazy R1 pass that DDP's hooks cannot.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.device import Compute
from ..core.errors import CheckpointError, DatasetError, OptionError
from ..core.model import Model, load_model
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
    load_optimizer,
    load_state,
    rng_state,
    save_state,
    set_rng_state,
)
from .dataset import load_patches
from .distributed import Dist, all_reduce_grads, all_reduce_mean, barrier, broadcast_module
from .gan_config import (  # noqa: F401 (re-exported: the trainer's public names)
    ARCH_KEYS,
    CROP_KEYS,
    DISCRIMINATORS,
    GanConfig,
    _crop_words,
    check_crop,
    check_disc_resolution,
    lazy_factor,
    random_crops,
)
from .grow import Borrowed, borrow_encoders, borrowed_of, can_grow, grow_generator
from .loop import update_ema


@dataclass
class GanProgress:
    """One record per training step, yielded to the CLI (tqdm) or a test."""

    step: int
    kimg: float
    loss_g: float
    loss_d: float
    r1: float | None
    sec_per_kimg: float
    event: str | None = None  # "snapshot", "rollback", ...


def _batches(patches: np.ndarray, batch: int, rng: np.random.Generator, d: Dist) -> Iterator:
    """Endless shuffled batches with flips and 90-degree turns; each rank its own shard."""
    n = len(patches)
    while True:
        order = rng.permutation(n)[d.rank :: d.world_size]
        for i in range(0, len(order) - batch + 1, batch):
            x = patches[order[i : i + batch]].astype(np.float32) / 127.5 - 1.0
            k = rng.integers(4)
            x = np.rot90(x, k, axes=(1, 2))
            if rng.integers(2):
                x = x[:, :, ::-1]
            yield torch.from_numpy(np.ascontiguousarray(x)[:, None])


def _ws_with_mixing(G, z: torch.Tensor, prob: float) -> torch.Tensor:
    ws = G.map(z)
    if prob > 0 and torch.rand([]) < prob:
        cutoff = int(torch.randint(1, G.num_ws, ()))
        ws2 = G.map(torch.randn_like(z))
        ws[:, cutoff:] = ws2[:, cutoff:]
    return ws


def save_grid(img: torch.Tensor, path: Path, cols: int = 8) -> None:
    import cv2

    x = ((img.float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()[:, 0]
    n, h, w = x.shape
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h, cols * w), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = x[i]
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", grid)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)


class GanTrainer:
    def __init__(self, cfg: GanConfig, compute: Compute, d: Dist | None = None):
        self.cfg, self.compute, self.dist = cfg, compute, d or Dist()
        self.run_dir = Path(cfg.run_dir)
        self.state_path = self.run_dir / "state.pt"
        ps = load_patches(cfg.data)
        if ps.patches.shape[-1] != cfg.resolution:
            raise DatasetError(
                f"{cfg.data} holds {ps.patches.shape[-1]}px patches; the model is "
                f"{cfg.resolution}px (rebuild the data set or change --resolution)"
            )
        self.patches = ps.patches
        if len(self.patches) < cfg.batch * self.dist.world_size:
            raise DatasetError(
                f"{cfg.data} holds {len(self.patches)} patches, fewer than one batch of "
                f"{cfg.batch * self.dist.world_size}; lower --batch or build a larger data set"
            )
        if cfg.discriminator not in DISCRIMINATORS:
            raise OptionError(
                f"--discriminator must be one of {', '.join(DISCRIMINATORS)}, "
                f"not {cfg.discriminator!r}"
            )
        model = Model.create(cfg.generator_config(), seed=cfg.seed)
        # Model.create seeds globally for identical weights on every rank; from here on each
        # rank draws its own z, mixing, noise and augmentation.
        torch.manual_seed(cfg.seed + 7717 * self.dist.rank)
        self.device = compute.device
        model.to(self.device)
        self.G, self.D = model.G, model.D
        self.E = model.E
        self.projected = cfg.discriminator == "projected"
        self.P = None
        if self.projected:
            with torch.random.fork_rng():
                torch.manual_seed(cfg.seed + 1)  # the same random projection on every rank
                self.P = ProjectedDiscriminator(
                    ProjectedConfig(
                        resolution=cfg.disc_resolution or cfg.resolution,
                        pixel_channels=cfg.pixel_channels,
                        layout_channels=cfg.layout_channels,
                    )
                )
            self.P.to(self.device).train()
            self.P.learners().requires_grad_(True)
        elif cfg.pixel_channels or cfg.layout_channels:
            flag = "--pixel-channels" if cfg.pixel_channels else "--layout-channels"
            raise OptionError(f"{flag} needs --discriminator projected")
        elif cfg.joint_batch:
            raise OptionError(
                "--joint-batch needs --discriminator projected (the stylegan2 discriminator "
                "has no BatchNorm)"
            )
        check_crop(cfg, None if self.P is None else self.P.min_input)
        self.disc_res = check_disc_resolution(cfg)
        self.disc = self.P if self.projected else self.D  # the one this run trains
        self.disc_learns = self.P.learners() if self.projected else self.D  # its trainable part
        self.G.train().requires_grad_(True)
        if not self.projected:
            self.D.train().requires_grad_(True)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        gb = lazy_factor(cfg.pl_interval) if cfg.pl_weight > 0 else 1.0
        self.opt_g = torch.optim.Adam(
            self.G.parameters(), lr=cfg.lr * gb, betas=(0.0, 0.99**gb), eps=1e-8
        )
        self.pl_mean = torch.zeros([], device=compute.device)
        mb = 1.0 if self.projected else lazy_factor(cfg.r1_interval)
        self.opt_d = torch.optim.Adam(
            self.disc_learns.parameters(), lr=cfg.lr * mb, betas=(0.0, 0.99**mb), eps=1e-8
        )
        self.step, self.nimg, self.train_seconds = 0, 0, 0.0
        self.cpu_seconds = 0.0
        self.rng = np.random.default_rng(cfg.seed + 1000 * self.dist.rank)
        self.guard = DivergenceGuard(self.state_path, cfg.seed, "lower --lr or raise --r1-gamma")
        self.fixed_z = torch.randn(32, cfg.z_dim, generator=torch.Generator().manual_seed(123))
        self.crop_note = ""  # set by load() when the state had other crop settings
        self.part_note = ""  # set when a resumed projected discriminator gains a pixel/layout one
        self.lr_note = ""  # set by load() when this run's --lr differs from the state's
        self.borrowed: Borrowed | None = None  # a grown run's parent's encoders (train/grow.py)

    # -- state ------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "config": asdict(self.cfg),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "P": None if self.P is None else self.P.shipped_state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "nimg": self.nimg,
            "train_seconds": self.train_seconds,
            "cpu_seconds": self.cpu_seconds,
            "augment": self.cfg.augment,
            "pl_mean": float(self.pl_mean),
            "rng": rng_state(),
            "np_rng": self.rng.bit_generator.state,
            "borrowed": None if self.borrowed is None else self.borrowed.state(),
        }

    def load(self, state: dict) -> None:
        old = dict(state.get("config", {}))
        old.setdefault("discriminator", "stylegan2")
        diff = [k for k in ARCH_KEYS if k in old and old[k] != getattr(self.cfg, k)]
        if diff:
            k = diff[0]
            raise CheckpointError(
                f"the resume state was trained with {k}={old[k]}, this run asks for "
                f"{k}={getattr(self.cfg, k)}; use the same configuration or a new --run-dir"
            )
        was = {k: old.get(k, GanConfig.__dataclass_fields__[k].default) for k in CROP_KEYS}
        now = {k: getattr(self.cfg, k) for k in CROP_KEYS}
        if (was["crop"] or now["crop"]) and was != now:
            self.crop_note = (
                f"; the state was trained with {_crop_words(was)}, this run continues with "
                f"{_crop_words(now)}"
            )
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        fresh: list[str] = []
        if self.P is not None:
            fresh = self._load_projected(state["P"], old)
        self.G_ema.load_state_dict(state["G_ema"])
        if state.get("borrowed"):
            self.borrowed = Borrowed.from_state(state["borrowed"]).to(self.device)
        lr_note = load_optimizer(self.opt_g, state["opt_g"])
        # with a fresh pixel or layout discriminator, Adam's moments of the parts that were
        # there carry over and the new one starts without any
        load_optimizer(self.opt_d, state["opt_d"], positions=self._saved_positions(fresh))
        self.lr_note = f"; {lr_note}" if lr_note else ""
        self.step, self.nimg = state["step"], state["nimg"]
        self.train_seconds = state.get("train_seconds", 0.0)
        self.cpu_seconds = state.get("cpu_seconds", self.train_seconds)
        self.pl_mean.fill_(float(state.get("pl_mean", 0.0)))
        if self.dist.rank == 0 and "rng" in state:
            set_rng_state(state["rng"])
        if "np_rng" in state and self.dist.rank == 0:
            self.rng.bit_generator.state = state["np_rng"]

    def resume(self, weights: str | None = None) -> str:
        """Resume from runs/ state when present, else from a weights file, else start fresh."""
        if self.state_path.exists() or self.state_path.with_name("state-prev.pt").exists():
            state = load_state(self.state_path)
            self.load(state)
            msg = f"resumed from {state['loaded_from']} at {self.nimg / 1000:.1f} kimg"
            msg += self.crop_note + self.part_note + self.lr_note
            if state.get("unreadable"):
                msg += f" ({state['unreadable']}; the state before it was used)"
            if self.borrowed is None and weights:  # a state from before grown runs kept them
                m = load_model(weights)
                if can_grow(m.G, self.G) and m.has_encoder:
                    self.borrowed = borrow_encoders(m, self.G).to(self.device)
                    msg += f"; the encoders of {weights} are borrowed (model files carry them)"
        elif weights:
            m = load_model(weights, with_projected=self.projected)
            grow = m.G.cfg != self.cfg.generator_config() and can_grow(m.G, self.G)
            if m.G.cfg != self.cfg.generator_config() and not grow:
                raise CheckpointError(
                    f"{weights} has another generator configuration than this run asks for "
                    f"(a model of half this --resolution with the same widths can be grown)"
                )
            if grow:
                grow_generator(m.G, self.G)
                self.G_ema.load_state_dict(self.G.state_dict())
                self.borrowed = borrow_encoders(m, self.G)
            else:
                self.G.load_state_dict(m.G.state_dict())
                self.G_ema.load_state_dict(m.G.state_dict())
                self.borrowed = borrowed_of(m)  # a grown file's parent's D stays with them
                if m.D.cfg == self.D.cfg:
                    self.D.load_state_dict(m.D.state_dict())
            if self.borrowed is not None:
                self.borrowed.to(self.device)
            self.nimg = int(float(m.card.get("kimg", 0)) * 1000)
            self.train_seconds = float(m.card.get("training_seconds", 0.0))
            self.cpu_seconds = 0.0
            msg = (
                f"resumed networks from {weights} at {self.nimg / 1000:.1f} kimg (fresh optimizer)"
            )
            if grow:
                msg = (
                    f"grew the {m.G.resolution}-px generator of {weights} "
                    f"({self.nimg / 1000:.1f} kimg) by a {self.cfg.resolution}-px block "
                    "(fresh optimizer)"
                )
                msg += (
                    f"; its {self.borrowed.E.cfg.resolution}-px encoders are borrowed"
                    if self.borrowed is not None
                    else "; it has no trained encoder to lend"
                )
            p_fits = m.P is not None and m.P.cfg.resolution == self.disc_res
            if self.projected and m.P is not None and not p_fits:
                msg += (
                    f"; its projected discriminator judges {m.P.cfg.resolution}-px inputs, this "
                    f"run's {self.disc_res}-px ones, so it starts fresh"
                )
            elif self.projected and m.P is not None:
                self._load_projected(m.P.shipped_state_dict(), m.P.cfg.to_dict())
            elif self.projected:
                msg += "; its generator was trained with the stylegan2 discriminator, so the "
                msg += "projected discriminator starts fresh"
            msg += self.part_note
        else:
            msg = "starting a new run"
        broadcast_module(self.G, self.dist)
        broadcast_module(self.D, self.dist)
        broadcast_module(self.G_ema, self.dist)
        if self.P is not None:
            broadcast_module(self.P, self.dist)
        return msg

    def _load_projected(self, state: dict, old: dict) -> list[str]:
        """Load the projected discriminator's trained parts; a state from before the pixel or
        layout discriminator may gain one (it starts fresh and says so). Returns those that
        did ("pixel", "layout")."""
        for key, flag in (("pixel_channels", "--pixel"), ("layout_channels", "--layout")):
            had, want = old.get(key, 0), getattr(self.cfg, key)
            if had != want and had:
                raise CheckpointError(
                    f"the resume state's projected discriminator has {key}={had}, this run "
                    f"asks for {want}; use the same {flag}-channels or a new --run-dir"
                )
        fresh = self.P.load_shipped_state_dict(state, new_parts_ok=True)
        widths = {"pixel": self.cfg.pixel_channels, "layout": self.cfg.layout_channels}
        for name in fresh:
            self.part_note += f"; the {name} discriminator ({widths[name]} channels) starts fresh"
        return fresh

    def _saved_positions(self, fresh: list[str]) -> list[int] | None:
        """Where the saved discriminator optimizer's parameters sit among this run's (the
        fresh parts have no saved moments); None when nothing is new."""
        if not fresh:
            return None
        names = ["discs", *self.P.optional_parts()]  # the order of `learners()`
        positions, i = [], 0
        for name, part in zip(names, self.P.learners()):
            n = len(list(part.parameters()))
            if name not in fresh:
                positions.extend(range(i, i + n))
            i += n
        return positions

    # -- one step ---------------------------------------------------------------------------
    def _to_disc(self, x: torch.Tensor) -> torch.Tensor:
        """Average an image larger than the discriminator's input down to it."""
        f = x.shape[-1] // self.disc_res
        return F.avg_pool2d(x, f) if f > 1 else x

    def _crop_this_step(self) -> int | None:
        """The crop size of this step, or None on a whole-patch step (every full_every-th)."""
        if not self.cfg.crop or self.step % self.cfg.full_every == 0:
            return None
        return self.cfg.crop

    def _d_step(
        self, real: torch.Tensor, do_r1: bool, crop: int | None = None
    ) -> tuple[float, float | None]:
        cfg, G, D = self.cfg, self.G, self.disc
        z = torch.randn(real.shape[0], cfg.z_dim, device=self.device)
        self.opt_d.zero_grad(set_to_none=True)
        with self.compute.autocast():
            with torch.no_grad():
                ws = _ws_with_mixing(G, z, cfg.style_mixing)
                fake = G.synthesize(ws, noise_mode="random", crop=crop)
            fake, real = self._to_disc(fake), self._to_disc(real)
            if self.projected and cfg.joint_batch:
                both = torch.cat(
                    [diff_augment(fake.float(), cfg.augment), diff_augment(real, cfg.augment)]
                )
                logits_fake, logits_real = D(both).split([fake.shape[0], real.shape[0]])
            else:
                logits_fake = D(diff_augment(fake.float(), cfg.augment))
                logits_real = D(diff_augment(real, cfg.augment))
        if self.projected:
            loss = hinge_d_loss(logits_real.float(), logits_fake.float())
        else:
            loss = F.softplus(logits_fake.float()).mean() + F.softplus(-logits_real.float()).mean()
        loss.backward()
        r1_val = None
        if do_r1 and not self.projected:
            real_r1 = real.detach().requires_grad_(True)
            with self.compute.autocast():
                logits = D(diff_augment(real_r1, cfg.augment))
            (grad,) = torch.autograd.grad(logits.float().sum(), real_r1, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            (r1 * (cfg.r1_gamma / 2) * cfg.r1_interval).backward()
            r1_val = float(r1.detach())
        all_reduce_grads(self.disc_learns, self.dist)
        self.opt_d.step()
        return float(loss.detach()), r1_val

    def _g_step(
        self, batch: int, crop: int | None = None, real: torch.Tensor | None = None
    ) -> float:
        cfg, G, D = self.cfg, self.G, self.disc
        trained = self.disc_learns
        z = torch.randn(batch, cfg.z_dim, device=self.device)
        self.opt_g.zero_grad(set_to_none=True)
        trained.requires_grad_(False)
        with self.compute.autocast():
            ws = _ws_with_mixing(G, z, cfg.style_mixing)
            fake = self._to_disc(G.synthesize(ws, noise_mode="random", crop=crop))
            if real is not None:
                real = self._to_disc(real)
            if self.projected and cfg.joint_batch and real is not None:
                logits = D(
                    diff_augment(fake.float(), cfg.augment),
                    reference=diff_augment(real, cfg.augment),
                )
            else:
                logits = D(diff_augment(fake.float(), cfg.augment))
        if self.projected:
            loss = hinge_g_loss(logits.float())
        else:
            loss = F.softplus(-logits.float()).mean()
        loss.backward()
        trained.requires_grad_(True)
        if cfg.pl_weight > 0 and cfg.pl_interval > 0 and self.step % cfg.pl_interval == 0:
            self._path_length_penalty(batch).backward()
        all_reduce_grads(G, self.dist)
        self.opt_g.step()
        with torch.no_grad():  # every rank draws its own z: w_avg follows the mean over all
            batch_mean = all_reduce_mean(ws[:, 0].detach().float().mean(0), self.dist)
            G.mapping.w_avg.lerp_(batch_mean, 1 - 0.995)
        return float(loss.detach())

    def _path_length_penalty(self, batch: int) -> torch.Tensor:
        """StyleGAN2's path-length regulariser: a fixed-size step in W moves the image by a
        fixed amount, which makes latent paths (the morph continua) evenly paced."""
        cfg, G = self.cfg, self.G
        n = max(1, batch // cfg.pl_batch_shrink)
        ws = _ws_with_mixing(G, torch.randn(n, cfg.z_dim, device=self.device), cfg.style_mixing)
        with self.compute.autocast():
            img = G.synthesize(ws, noise_mode="random").float()
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grad.float().square().sum(2).mean(1).sqrt()
        mean = self.pl_mean.lerp(lengths.mean().detach(), cfg.pl_decay)
        self.pl_mean.copy_(mean)
        return (lengths - mean).square().mean() * (cfg.pl_weight * cfg.pl_interval)

    def _update_ema(self, batch_total: int) -> None:
        update_ema(
            self.G_ema, self.G, batch_total, self.nimg, self.cfg.ema_kimg, self.cfg.ema_rampup
        )

    # -- loop -------------------------------------------------------------------------------
    def snapshot(self, final: bool = False, cpu_minutes: float | None = None) -> None:
        if not self.dist.is_main:
            return
        save_state(self.state_path, self.state())
        with torch.no_grad():
            imgs = torch.cat([self.G_ema(z[None].to(self.device)) for z in self.fixed_z])
        save_grid(imgs, self.run_dir / f"samples-{self.nimg // 1000:05d}kimg.png")
        save_grid(imgs, self.run_dir / "samples-latest.png")
        if self.borrowed is not None:  # a grown run: its parent's encoders, labelled so
            # (a stylegan2-discriminator run ships the D it trains; F averages down only
            # where D is smaller than G)
            model = self.borrowed.model(self.G_ema, P=self.P, D=None if self.projected else self.D)
        else:
            model = Model(self.G_ema, self.E, self.D, P=self.P)
        card = dict(
            kimg=round(self.nimg / 1000, 3),
            training_seconds=round(self.train_seconds, 1),
            cpu_seconds=round(self.cpu_seconds, 1),
            discriminator=self.cfg.discriminator,
            phase="gan",
        )
        if self.cfg.crop:
            card.update(crop=self.cfg.crop, full_every=self.cfg.full_every)
        if self.cfg.disc_resolution:
            card.update(disc_resolution=self.cfg.disc_resolution)
        model.save(self.run_dir / "model-gan.safetensors", **card)
        if self.cfg.keep_snapshots and cpu_minutes is None:
            model.save(self.run_dir / f"model-gan-{self.nimg / 1000:09.3f}kimg.safetensors", **card)
        if cpu_minutes is not None:
            tag = (
                f"cpu{cpu_minutes:04.0f}min"
                if cpu_minutes == int(cpu_minutes)
                else (f"cpu{cpu_minutes:06.1f}min")
            )
            model.save(self.run_dir / f"model-gan-{tag}.safetensors", **card)
            save_grid(imgs, self.run_dir / f"samples-{tag}.png")

    def log(self, record: dict) -> None:
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def train(self, stop=None) -> Iterator[GanProgress]:
        cfg = self.cfg
        batches = _batches(self.patches, cfg.batch, self.rng, self.dist)
        batch_total = cfg.batch * self.dist.world_size
        next_snap = (self.nimg // int(cfg.snapshot_kimg * 1000) + 1) * int(cfg.snapshot_kimg * 1000)
        every_cpu = cfg.snapshot_cpu_minutes * 60
        next_cpu = (int(self.cpu_seconds // every_cpu) + 1) * every_cpu if every_cpu > 0 else None
        while self.nimg < cfg.total_kimg * 1000:
            if stop is not None and stop():
                break
            t0, c0 = time.perf_counter(), time.process_time()
            real = next(batches).to(self.device)
            crop = self._crop_this_step()
            if crop:
                real = random_crops(real, crop, self.rng)
            do_r1 = cfg.r1_interval > 0 and self.step % cfg.r1_interval == 0
            loss_d, r1 = self._d_step(real, do_r1, crop)
            loss_g = self._g_step(cfg.batch, crop, real)
            if diverged({"D": loss_d, "G": loss_g}, cfg.divergence_limit):
                event = self._rollback(loss_d, loss_g)
                yield GanProgress(self.step, self.nimg / 1000, loss_g, loss_d, r1, 0.0, event)
                continue
            self.step += 1
            self.nimg += batch_total
            self._update_ema(batch_total)
            dt = time.perf_counter() - t0
            self.train_seconds += dt
            self.cpu_seconds += time.process_time() - c0
            event = None
            if next_cpu is not None and self.cpu_seconds >= next_cpu:
                self.snapshot(cpu_minutes=round(next_cpu / 60, 1))
                next_cpu += every_cpu
                event = "snapshot"
            elif self.nimg >= next_snap:
                self.snapshot()
                event = "snapshot"
            if self.nimg >= next_snap:
                next_snap += int(cfg.snapshot_kimg * 1000)
            if self.step % 20 == 0 or event:
                self.log(
                    {
                        "step": self.step,
                        "kimg": round(self.nimg / 1000, 3),
                        "loss_g": round(loss_g, 4),
                        "loss_d": round(loss_d, 4),
                        "r1": r1,
                        "sec_per_kimg": round(dt * 1000 / batch_total, 1),
                        "time": round(self.train_seconds, 1),
                        "cpu": round(self.cpu_seconds, 1),
                    }
                )
            yield GanProgress(
                self.step, self.nimg / 1000, loss_g, loss_d, r1, dt * 1000 / batch_total, event
            )
        self.snapshot(final=True)
        barrier(self.dist)

    def _rollback(self, loss_d: float, loss_g: float) -> str:
        event = self.guard.rollback({"D": loss_d, "G": loss_g}, self.load)  # checkpoint.py
        self.log(
            {"event": "rollback", "loss_d": loss_d, "loss_g": loss_g, "kimg": self.nimg / 1000}
        )
        return event
