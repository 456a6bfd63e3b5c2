"""Phase 2: the in-domain encoder (Eq. 2 and Eq. 3 of the paper, after Zhu et al. 2020).

G is frozen. E learns from real patches only:
    min_E  ||x - G(E(x))||^2 + lambda1 ||F(x) - F(G(E(x)))||^2 - lambda2 E[log D(G(E(x)))]
and D keeps telling reconstructions from real patches:
    min_D  E[log D(G(E(x)))] - E[log D(x)] + gamma/2 E[||grad_x D(x)||^2]
(as softplus losses), Adam(0.9, 0.99), lr 1e-4, lambda1 = 5e-5, lambda2 = 0.1, gamma = 10.
F is a frozen copy of the GAN-phase discriminator unless a VGG16 file is given.
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

from ..core.detail_model import refuse_detail_stage
from ..core.device import Compute
from ..core.errors import CheckpointError, DatasetError
from ..core.invert import perceptual_for
from ..core.model import Model, load_model
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
from .distributed import Dist, all_reduce_grads, barrier, broadcast_module
from .gan import _batches, save_grid
from .loop import SnapshotClock, after_step


@dataclass
class EncoderTrainConfig:
    data: str = ""
    weights: str = ""  # the phase-1 model (G, D); E is trained into a copy of it
    run_dir: str = "runs/encoder"
    batch: int = 16
    lr: float = 1e-4
    lambda_perceptual: float = 5e-5  # lambda1
    lambda_adv: float = 0.1  # lambda2
    r1_gamma: float = 10.0
    total_kimg: float = 50.0
    snapshot_kimg: float = 2.0
    seed: int = 0
    precision: str = "auto"  # bf16 only where the hardware has it natively (core.device)
    vgg16: str = ""
    divergence_limit: float = 1e4
    # A model file whose encoder starts this run (when the run has no state yet): after the
    # generator trained further, the previous encoder is a far better start than random.
    init_encoder: str = ""


@dataclass
class EncoderProgress:
    step: int
    kimg: float
    losses: dict
    sec_per_kimg: float
    event: str | None = None


class EncoderTrainer:
    def __init__(self, cfg: EncoderTrainConfig, compute: Compute, d: Dist | None = None):
        self.cfg, self.compute, self.dist = cfg, compute, d or Dist()
        self.run_dir = Path(cfg.run_dir)
        self.state_path = self.run_dir / "state.pt"
        ps = load_patches(cfg.data)
        # with_projected: the GAN's projected discriminator travels on to the encoder's model
        # file, so a later GAN resume from it keeps its trained discriminator
        self.model: Model = load_model(cfg.weights, device=compute.device, with_projected=True)
        refuse_detail_stage(self.model, cfg.weights)
        if ps.patches.shape[-1] != self.model.resolution:
            raise DatasetError(
                f"{cfg.data} holds {ps.patches.shape[-1]}px patches; the model is "
                f"{self.model.resolution}px"
            )
        self.patches = ps.patches
        self.F = perceptual_for(self.model, cfg.vgg16 or None)  # frozen copy of phase-1 D
        m = self.model
        # The model file ships the phase-1 discriminator, not the one fine-tuned here for
        # Eq. 3: inversion uses D's features as "discriminator-blocks1-3", and those must be
        # the features the encoder was trained against (the frozen copy in self.F).
        self.D_phase1 = copy.deepcopy(m.D).eval().requires_grad_(False)
        if m.encoder_resolution is not None:
            self._own_encoder(compute.device)
        m.G.eval().requires_grad_(False)
        m.E.train().requires_grad_(True)
        m.D.train().requires_grad_(True)
        with torch.no_grad():
            m.E.w_avg.copy_(m.G.w_avg)
        self.opt_e = torch.optim.Adam(m.E.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.opt_d = torch.optim.Adam(m.D.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        self.step, self.nimg, self.train_seconds = 0, 0, 0.0
        torch.manual_seed(cfg.seed + self.dist.rank)
        self.rng = np.random.default_rng(cfg.seed + 1000 * self.dist.rank)
        # the GAN trainer's policy: a diverged step rolls back to the last good state
        self.guard = DivergenceGuard(
            self.state_path, cfg.seed + 1000 * self.dist.rank, "lower --lr or raise --r1-gamma"
        )
        self.fixed = torch.from_numpy(
            self.patches[
                np.random.default_rng(7).choice(len(self.patches), 8, replace=False)
            ].astype(np.float32)[:, None]
            / 127.5
            - 1
        )

    def _own_encoder(self, device) -> None:
        """A grown model carries its parent's encoders (core/nets/grown.py); its own encoder
        is trained at its resolution from a fresh start, against a fresh discriminator of that
        size for Eq. 3. F stays the parent's discriminator blocks on images averaged down (the
        file keeps that D), and the borrowed noise encoder is left out: it belongs to them."""
        from ..core.nets import Discriminator, DiscriminatorConfig, Encoder, EncoderConfig

        m = self.model
        e = dict(m.E.cfg.to_dict(), resolution=m.resolution, num_ws=m.num_ws)
        d = dict(m.D.cfg.to_dict(), resolution=m.resolution)
        m.E, m.D, m.N = Encoder(EncoderConfig(**e)), Discriminator(DiscriminatorConfig(**d)), None
        m.E.to(device), m.D.to(device)
        m.card = {k: v for k, v in m.card.items() if k != "encoder_from"}

    def state(self) -> dict:
        m = self.model
        return {
            "config": asdict(self.cfg),
            "E": m.E.state_dict(),
            "D": m.D.state_dict(),
            "opt_e": self.opt_e.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "nimg": self.nimg,
            "train_seconds": self.train_seconds,
            "rng": rng_state(),
            "np_rng": self.rng.bit_generator.state,
            "g_sha256": m.sha256,
        }

    def load(self, st: dict) -> None:
        """Networks, optimizers, counters and random state from a saved state."""
        if st.get("g_sha256") and st["g_sha256"] != self.model.sha256:
            raise CheckpointError(
                f"{self.state_path} belongs to another generator than {self.cfg.weights}; "
                "use a new --run-dir"
            )
        m = self.model
        m.E.load_state_dict(st["E"])
        m.D.load_state_dict(st["D"])
        lr_note = load_optimizer(self.opt_e, st["opt_e"])
        load_optimizer(self.opt_d, st["opt_d"])
        self.lr_note = f"; {lr_note}" if lr_note else ""
        self.step, self.nimg = st["step"], st["nimg"]
        self.train_seconds = st.get("train_seconds", 0.0)
        if self.dist.is_main:
            set_rng_state(st["rng"])
            self.rng.bit_generator.state = st["np_rng"]

    def resume(self) -> str:
        if not has_state(self.state_path):
            msg = "starting a new encoder run"
            if self.cfg.init_encoder:
                msg += self._init_encoder(self.cfg.init_encoder)
        else:
            st = load_state(self.state_path)
            self.load(st)
            msg = f"resumed encoder from {st['loaded_from']} at {self.nimg / 1000:.1f} kimg"
            msg += self.lr_note
            if st.get("unreadable"):
                msg += f" ({st['unreadable']}; the state before it was used)"
        broadcast_module(self.model.E, self.dist)
        broadcast_module(self.model.D, self.dist)
        return msg

    def _init_encoder(self, path: str) -> str:
        """Copy the encoder of another model file (same architecture) into this run."""
        src = load_model(path, device="cpu")
        if src.E is None or (src.card or {}).get("phase") == "gan":
            raise CheckpointError(f"{path} holds no trained encoder to start from")
        mine, theirs = self.model.E.state_dict(), src.E.state_dict()
        bad = [k for k in mine if k not in theirs or theirs[k].shape != mine[k].shape]
        if bad or len(theirs) != len(mine):
            raise CheckpointError(
                f"the encoder in {path} has another architecture than this model's "
                f"(first difference: {(bad or sorted(set(theirs) - set(mine)))[0]})"
            )
        with torch.no_grad():
            self.model.E.load_state_dict(
                {k: v.float() if v.is_floating_point() else v for k, v in theirs.items()}
            )
            self.model.E.w_avg.copy_(self.model.G.w_avg)  # offsets are from this G's w_avg
        return f", encoder initialised from {path}"

    def _step(self, x: torch.Tensor) -> dict:
        cfg, m = self.cfg, self.model
        # -- D step (Eq. 3) --
        with torch.no_grad(), self.compute.autocast():
            rec = m.G.synthesize(m.E(x), noise_mode="const").float()
        x_r1 = x.detach().requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.compute.autocast():
            logit_fake = m.D(rec)
            logit_real = m.D(x_r1)
        loss_d = F.softplus(logit_fake.float()).mean() + F.softplus(-logit_real.float()).mean()
        (grad,) = torch.autograd.grad(logit_real.float().sum(), x_r1, create_graph=True)
        r1 = grad.square().sum(dim=[1, 2, 3]).mean()
        (loss_d + r1 * cfg.r1_gamma / 2).backward()
        all_reduce_grads(m.D, self.dist)
        self.opt_d.step()
        # -- E step (Eq. 2) --
        m.D.requires_grad_(False)
        self.opt_e.zero_grad(set_to_none=True)
        with self.compute.autocast():
            rec = m.G.synthesize(m.E(x), noise_mode="const")
        rec = rec.float()
        pix = (x - rec).square().mean()
        with self.compute.autocast():
            perc = self.F.distance(self.F(x), self.F(rec)).mean()
            adv = F.softplus(-m.D(rec).float()).mean()
        loss_e = pix + cfg.lambda_perceptual * perc + cfg.lambda_adv * adv
        loss_e.backward()
        m.D.requires_grad_(True)
        all_reduce_grads(m.E, self.dist)
        self.opt_e.step()
        return {
            "pixel": float(pix.detach()),
            "perceptual": float(perc.detach()),
            "adv": float(adv.detach()),
            "loss_e": float(loss_e.detach()),
            "loss_d": float(loss_d.detach()),
            "r1": float(r1.detach()),
        }

    def snapshot(self) -> None:
        if not self.dist.is_main:
            return
        save_state(self.state_path, self.state())
        m = self.model
        m.E.eval()
        with torch.no_grad():
            rec = m.G.synthesize(m.E(self.fixed.to(self.compute.device)), noise_mode="const").cpu()
        m.E.train()
        save_grid(torch.cat([self.fixed, rec]), self.run_dir / "reconstructions-latest.png")
        card = dict(m.card)
        for key in ("noise_encoder_kimg", "noise_encoder_training_seconds"):
            card.pop(key, None)  # a noise encoder belongs to the encoder it was trained with
        out = Model(m.G, m.E, self.D_phase1, card=card, P=m.P)
        out.save(
            self.run_dir / "model-encoder.safetensors",
            encoder_kimg=round(self.nimg / 1000, 3),
            encoder_training_seconds=round(self.train_seconds, 1),
            perceptual=self.F.name,
            phase="encoder",
        )

    def _log(self, record: dict) -> None:
        """One line of metrics.jsonl (the main process only)."""
        if not self.dist.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def train(self, stop=None) -> Iterator[EncoderProgress]:
        cfg = self.cfg
        batches = _batches(self.patches, cfg.batch, self.rng, self.dist)
        total = cfg.batch * self.dist.world_size
        clock = SnapshotClock(self.nimg, int(cfg.snapshot_kimg * 1000))
        while self.nimg < cfg.total_kimg * 1000:
            if stop is not None and stop():
                break
            t0 = time.perf_counter()
            losses = self._step(next(batches).to(self.compute.device))
            watched = {"E": losses["loss_e"], "D": losses["loss_d"]}
            if diverged(watched, cfg.divergence_limit):
                event = self.guard.rollback(watched, self.load, self.rng, what="encoder training")
                self._log(
                    {
                        "event": "rollback",
                        "loss_e": watched["E"],
                        "loss_d": watched["D"],
                        "kimg": self.nimg / 1000,
                    }
                )
                yield EncoderProgress(self.step, self.nimg / 1000, losses, 0.0, event)
                continue
            dt = time.perf_counter() - t0
            event = after_step(self, clock, total, dt, losses)
            yield EncoderProgress(self.step, self.nimg / 1000, losses, dt * 1000 / total, event)
        self.snapshot()
        barrier(self.dist)
