"""Phase 3: the noise encoder (core.nets.noise_encoder), with G and E frozen.

    min_N  ||x - G(E(x), N(x, G(E(x))))||^2 + detail_weight ||hp(x) - hp(G(E(x), N(...)))||^2

on real patches only; hp is the image minus its Gaussian blur (sigma 2 px), the band the
evaluation's detail fidelity scores and the pixel loss alone weighs little (the fine residual is
~1 % of a patch's energy). Adam, lr 1e-3, batch 8. No adversarial term: the maps are normalised
to the statistics G was trained with, so the output stays in G's range by construction.

One process (no torchrun): on this project's CPU it learns most of what it can in ~200 steps
(docs/INVERSION.md).
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
from ..core.errors import CheckpointError, DatasetError, OptionError
from ..core.invert import noise_layers
from ..core.model import Model, check_noise_encoder, load_model
from ..core.nets import NoiseEncoder, NoiseEncoderConfig
from .checkpoint import has_state, load_optimizer, load_state, rng_state, save_state, set_rng_state
from .dataset import load_patches
from .distributed import Dist
from .gan import _batches, save_grid
from .loop import SnapshotClock, after_step


@dataclass
class NoiseEncoderTrainConfig:
    data: str = ""
    weights: str = ""  # a model with a trained encoder; N is trained into a copy of it
    run_dir: str = "runs/noise-encoder"
    batch: int = 8
    lr: float = 1e-3
    detail_weight: float = 1.0
    min_resolution: int = 32
    channels: int = 32
    total_kimg: float = 5.0
    snapshot_kimg: float = 0.4
    seed: int = 0
    precision: str = "auto"
    # start from another model file's noise encoder (e.g. the shipped one, after its generator
    # trained a few kimg further): it adapts in minutes where a fresh one needs half an hour
    init_noise_encoder: str = ""


@dataclass
class NoiseEncoderProgress:
    step: int
    kimg: float
    losses: dict
    sec_per_kimg: float
    event: str | None = None


def highpass(x: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """x minus its Gaussian blur (reflect borders): core.metrics.highpass on a tensor batch."""
    r = int(np.ceil(4 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    b = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    b = F.conv2d(F.pad(b, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1))
    return x - b


class NoiseEncoderTrainer:
    def __init__(self, cfg: NoiseEncoderTrainConfig, compute: Compute):
        if cfg.batch < 1:
            raise OptionError("--batch must be at least 1")
        if not cfg.lr > 0 or not cfg.detail_weight >= 0:
            raise OptionError("--lr must be > 0 and --detail-weight >= 0")
        self.cfg, self.compute = cfg, compute
        self.run_dir = Path(cfg.run_dir)
        self.state_path = self.run_dir / "state.pt"
        ps = load_patches(cfg.data)
        m = load_model(cfg.weights, device=compute.device, with_projected=True)
        refuse_detail_stage(m, cfg.weights)
        if not m.has_encoder:  # a grown model's borrowed encoder will do (core/nets/grown.py)
            raise CheckpointError(
                f"{cfg.weights} holds no trained encoder: train one first (`train encoder`)"
            )
        if ps.patches.shape[-1] != m.resolution:
            raise DatasetError(
                f"{cfg.data} holds {ps.patches.shape[-1]}px patches; the model is {m.resolution}px"
            )
        if len(ps.patches) < cfg.batch:
            raise DatasetError(f"{cfg.data} holds {len(ps.patches)} patches, fewer than a batch")
        self.patches, self.model = ps.patches, m
        try:
            n_cfg = NoiseEncoderConfig(
                resolution=m.resolution,
                min_resolution=cfg.min_resolution,
                channels=cfg.channels,
                img_channels=m.G.cfg.img_channels,
            )
            m.N = NoiseEncoder(n_cfg).to(compute.device)
        except ValueError as exc:
            raise OptionError(f"--min-resolution: {exc}") from exc
        try:
            check_noise_encoder(m.G, m.N, cfg.weights)
        except CheckpointError:
            raise OptionError(
                f"--min-resolution {cfg.min_resolution}: every predicted resolution needs "
                f"{m.N.cfg.maps_per_resolution} noise layers, and the generator's 4 px block has "
                "one; use 8 px or more"
            ) from None
        # a frozen copy of G whose finest noise maps are set to the prediction at every step
        self.G = copy.deepcopy(m.G).requires_grad_(False)
        layers = noise_layers(self.G)
        n_pred = len(m.N.cfg.resolutions) * m.N.cfg.maps_per_resolution
        self.predicted_layers = layers[len(layers) - n_pred :]
        m.N.train().requires_grad_(True)
        self.opt = torch.optim.Adam(m.N.parameters(), lr=cfg.lr)
        self.step, self.nimg, self.train_seconds = 0, 0, 0.0
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.fixed = torch.from_numpy(
            self.patches[
                np.random.default_rng(7).choice(
                    len(self.patches), min(8, len(self.patches)), replace=False
                )
            ].astype(np.float32)[:, None]
            / 127.5
            - 1
        )
        self.lr_note = ""

    def state(self) -> dict:
        return {
            "config": asdict(self.cfg),
            "N": self.model.N.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "nimg": self.nimg,
            "train_seconds": self.train_seconds,
            "rng": rng_state(),
            "np_rng": self.rng.bit_generator.state,
            "model_sha256": self.model.sha256,
        }

    def load(self, st: dict) -> None:
        if st.get("model_sha256") and st["model_sha256"] != self.model.sha256:
            raise CheckpointError(
                f"{self.state_path} belongs to another model than {self.cfg.weights}; "
                "use a new --run-dir"
            )
        try:
            self.model.N.load_state_dict(st["N"])
        except RuntimeError as exc:
            raise CheckpointError(
                f"{self.state_path} holds a noise encoder of another shape (--channels / "
                f"--min-resolution differ from its run): {str(exc).splitlines()[0]}"
            ) from exc
        note = load_optimizer(self.opt, st["opt"])
        self.lr_note = f"; {note}" if note else ""
        self.step, self.nimg = st["step"], st["nimg"]
        self.train_seconds = st.get("train_seconds", 0.0)
        set_rng_state(st["rng"])
        self.rng.bit_generator.state = st["np_rng"]

    def resume(self) -> str:
        if not has_state(self.state_path):
            msg = "starting a new noise-encoder run"
            if self.cfg.init_noise_encoder:
                msg += self._init_noise_encoder(self.cfg.init_noise_encoder)
            return msg
        st = load_state(self.state_path)
        self.load(st)
        msg = f"resumed noise encoder from {st['loaded_from']} at {self.nimg / 1000:.2f} kimg"
        if st.get("unreadable"):
            msg += f" ({st['unreadable']}; the state before it was used)"
        return msg + self.lr_note

    def _init_noise_encoder(self, path: str) -> str:
        """Copy the noise encoder of another model file (same shape) into this run."""
        src = load_model(path, device="cpu")
        if src.N is None:
            raise CheckpointError(f"{path} holds no noise encoder to start from")
        if src.N.cfg.to_dict() != self.model.N.cfg.to_dict():
            raise CheckpointError(
                f"the noise encoder in {path} has another shape than this run's "
                f"({src.N.cfg.to_dict()} vs {self.model.N.cfg.to_dict()}): pass its "
                "--channels / --min-resolution"
            )
        with torch.no_grad():
            self.model.N.load_state_dict(src.N.state_dict())
        return f", noise encoder initialised from {path}"

    def render(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        """G(E(x)) with the noise encoder's maps for x (in the graph while training)."""
        m = self.model
        with torch.no_grad(), self.compute.autocast():
            w = m.E(x)
            rec = m.G.synthesize(w, noise_mode="const").float()
        with torch.set_grad_enabled(train), self.compute.autocast():
            pred = m.N(x, rec)
            for layer, p in zip(self.predicted_layers, pred):
                layer.noise_const = p  # [N, 1, r, r]: one map per patch
            return self.G.synthesize(w, noise_mode="const").float()

    def _step(self, x: torch.Tensor) -> dict:
        img = self.render(x, train=True)
        pix = (img - x).square().mean()
        detail = (highpass(img) - highpass(x)).square().mean()
        loss = pix + self.cfg.detail_weight * detail
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"pixel": float(pix.detach()), "detail": float(detail.detach())}

    def snapshot(self) -> None:
        save_state(self.state_path, self.state())
        m = self.model
        m.N.eval()
        x = self.fixed.to(self.compute.device)
        with torch.no_grad():
            plain = m.G.synthesize(m.E(x), noise_mode="const").float()
            rec = self.render(x, train=False)
        m.N.train()
        save_grid(torch.cat([x, plain, rec]).cpu(), self.run_dir / "reconstructions-latest.png")
        out = Model(m.G, m.E, m.D, card=dict(m.card), P=m.P, N=m.N)
        out.save(
            self.run_dir / "model-noise-encoder.safetensors",
            noise_encoder_kimg=round(self.nimg / 1000, 3),
            noise_encoder_training_seconds=round(self.train_seconds, 1),
        )

    def _log(self, record: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def train(self, stop=None) -> Iterator[NoiseEncoderProgress]:
        cfg = self.cfg
        batches = _batches(self.patches, cfg.batch, self.rng, Dist())
        clock = SnapshotClock(self.nimg, max(int(cfg.snapshot_kimg * 1000), cfg.batch))
        while self.nimg < cfg.total_kimg * 1000:
            if stop is not None and stop():
                break
            t0 = time.perf_counter()
            losses = self._step(next(batches).to(self.compute.device))
            if not all(np.isfinite(v) for v in losses.values()):
                raise CheckpointError(
                    f"the noise encoder's loss became {losses} at step {self.step}: lower --lr "
                    f"(the last snapshot in {self.run_dir} is kept)"
                )
            dt = time.perf_counter() - t0
            event = after_step(self, clock, cfg.batch, dt, losses)
            yield NoiseEncoderProgress(
                self.step, self.nimg / 1000, losses, dt * 1000 / cfg.batch, event
            )
        self.snapshot()
