"""Model evaluation on held-out real patches: `stimstudio evaluate-model`.

Four questions, each answered with its recipe beside the numbers (DESIGN.md, Evaluation notes):

1. **Sliced Wasserstein distance** (Karras et al. 2018, the progressive-GAN recipe): Laplacian
   pyramid down to 16 px, 128 random 7x7 descriptors per image and level, each set normalised
   on its own, 4 x 128 random projections, x 10^3. Generated vs held-out real per pyramid level,
   each level as a ratio to the real-vs-real floor (train vs held-out) measured with the same
   recipe and the **same number of images on every side** (unequal sets give misaligned sorted
   quantiles; the larger set is subsampled). `swd_sanity` gives the ratios of two known fakes
   (Gaussian noise, real patches blurred with sigma = 3 px) to show the metric orders them.
2. **Classifier two-sample test**: a small CNN trained to tell generated from real *training*
   patches (validation split, early stopping on the validation loss, best epoch kept), then its
   accuracy on held-out real vs fresh generated patches (0.5 = indistinguishable). Beside it the
   same classifier recipe on real-vs-real (train vs held-out patients: what "chance" looks like
   with these patient groups) and on a known fake (blurred real patches) to prove it has power.
   Generated images are quantised to 8 bits exactly like the real patches first; otherwise
   the classifier could tell the sets apart by quantisation alone.
3. **Reconstruction** of held-out real patches: PSNR, SSIM and detail fidelity
   (`core.metrics`) for the encoder alone and after Eq. 4 steps (`core.invert.run_inversion`),
   a constant image at each patch's mean beside them; and the masked compose task (Fig. 4) on
   held-out lesion patches, inside the lesion mask, again with the constant baseline.
4. A real/generated **sample grid** PNG, and the power-spectrum exponent beta of both sets.

Nothing here downloads anything (no Inception/ImageNet weights). All sampling is seeded, so
the same model, data and settings give the same numbers (up to float rounding across thread
counts and devices).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

from ..core.compose import Composite, Mask, Placement, compose
from ..core.device import Compute
from ..core.errors import CheckpointError, DatasetError, OptionError
from ..core.invert import InversionSettings, encode, perceptual_for, run_inversion, synthesize
from ..core.jsonable import to_jsonable
from ..core.metrics import detail_fidelity, psnr, ssim
from ..core.model import Model, atomic_write_bytes, sha256_file
from .dataset import PatchSet, load_patches

Progress = Callable[[str, int, int], None]

SECTIONS = ("swd", "c2st", "reconstruction", "compose", "spectrum")

# The shipped default's targets (issue 3): (key path, comparison, target, goal).
TARGETS = {
    "swd_mean_ratio": ("<=", 1.5, 1.2),
    "swd_worst_ratio": ("<=", 3.0, 1.5),
    "c2st_accuracy": ("<=", 0.8, 0.6),
    "encoder_psnr": (">=", 28.0, None),
    "encoder_detail": (">=", 0.15, None),
    "inversion_psnr": (">=", 36.0, 40.0),
    "inversion_detail": (">=", 0.5, 0.8),
}


@dataclass
class EvalSettings:
    """Sizes and seeds of every measurement; `quick()` is the test-sized variant."""

    sections: tuple[str, ...] = SECTIONS
    kinds: str = "all"  # which real patches: all | tissue | lesion
    seed: int = 0
    psi: float = 1.0  # truncation of generated samples (1 = none: the model's distribution)
    gen_batch: int = 32
    # SWD
    swd_n: int = 512  # images per side
    swd_min_res: int = 16
    swd_nhood: int = 7
    swd_per_image: int = 128
    swd_repeats: int = 4
    swd_dirs: int = 128
    swd_sanity: bool = True
    blur_sigma: float = 3.0  # the known fake for SWD and the classifier
    # classifier two-sample test
    c2st_fit: int = 2000  # per side, incl. the validation split
    c2st_test: int = 1000  # per side
    c2st_val_fraction: float = 0.2
    c2st_max_epochs: int = 60
    c2st_patience: int = 6  # epochs without a better validation loss, counted after min_steps
    c2st_min_steps: int = 600  # optimiser steps before early stopping or lr decay may act
    c2st_batch: int = 64
    c2st_lr: float = 1e-3
    c2st_width: int = 16
    c2st_norm: str = "group"  # group | batch | none
    c2st_baselines: bool = True  # real-vs-real and known-fake runs beside the real test
    # reconstruction
    recon_n: int = 8
    compose_n: int = 4
    steps: int = 100
    # grid
    grid_rows: int = 4
    grid_cols: int = 4
    spectrum_n: int = 128

    @classmethod
    def quick(cls, **kw) -> EvalSettings:
        base = dict(
            swd_n=64,
            swd_per_image=32,
            swd_repeats=2,
            swd_dirs=64,
            c2st_fit=96,
            c2st_test=48,
            c2st_max_epochs=4,
            c2st_patience=2,
            c2st_min_steps=10,
            c2st_batch=32,
            recon_n=2,
            compose_n=1,
            steps=5,
            grid_rows=2,
            grid_cols=3,
            spectrum_n=16,
        )
        base.update(kw)
        return cls(**base)

    def validate(self) -> None:
        bad = [s for s in self.sections if s not in SECTIONS]
        if bad:
            raise OptionError(f"unknown section {bad[0]!r}; choose from {', '.join(SECTIONS)}")
        if self.kinds not in ("all", "tissue", "lesion"):
            raise OptionError(f"kinds must be all, tissue or lesion, not {self.kinds!r}")
        for name in ("swd_n", "c2st_fit", "c2st_test", "swd_per_image", "swd_dirs"):
            if getattr(self, name) < 8:
                raise OptionError(f"{name} must be at least 8, got {getattr(self, name)}")
        for name in ("recon_n", "compose_n", "steps", "grid_rows", "grid_cols"):
            if getattr(self, name) < 0:
                raise OptionError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.c2st_val_fraction < 0.5:
            raise OptionError("the classifier's validation fraction must be in (0, 0.5)")
        if self.swd_nhood % 2 != 1 or self.swd_nhood < 3:
            raise OptionError("the SWD neighbourhood must be an odd size >= 3")


# ---------------------------------------------------------------------------- data


def load_eval_data(data_dir: str | Path) -> tuple[PatchSet, PatchSet, dict]:
    """train.npz + heldout.npz + manifest.json of `stimstudio dataset build`."""
    d = Path(data_dir)
    if d.is_file():
        d = d.parent
    if not d.is_dir():
        raise DatasetError(f"data folder not found: {d}")
    for name in ("train.npz", "heldout.npz"):
        if not (d / name).is_file():
            raise DatasetError(
                f"{d} has no {name}; evaluation needs the folder written by "
                "`stimstudio dataset build` (train.npz, heldout.npz, manifest.json)"
            )
    manifest = {}
    if (d / "manifest.json").is_file():
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{d / 'manifest.json'} is not valid JSON: {exc}") from exc
    train, held = load_patches(d / "train.npz"), load_patches(d / "heldout.npz")
    if train.patches.shape[1:] != held.patches.shape[1:]:
        raise DatasetError("train.npz and heldout.npz hold patches of different sizes")
    return train, held, manifest


def _select(ps: PatchSet, kinds: str) -> np.ndarray:
    if kinds == "all":
        return np.arange(len(ps))
    idx = np.flatnonzero(ps.kind == (1 if kinds == "lesion" else 0))
    if len(idx) < 8:
        raise DatasetError(f"the data set holds only {len(idx)} {kinds} patches")
    return idx


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats -> uint8 exactly as the patch files store real patches."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


@torch.no_grad()
def generate_uint8(
    model: Model,
    n: int,
    seed: int,
    compute: Compute | None = None,
    psi: float = 1.0,
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """n samples of the generator (random z, random noise inputs, seeded) as uint8 [n, R, R]."""
    dev = next(model.G.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    out = np.empty((n, model.resolution, model.resolution), np.uint8)
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed) + 1)  # the noise inputs
        for i in range(0, n, batch):
            k = min(batch, n - i)
            z = torch.randn(k, model.G.z_dim, generator=gen).to(dev)
            with compute.autocast() if compute else contextlib.nullcontext():
                img = model.G.synthesize(model.G.map(z, psi), noise_mode="random")
            out[i : i + k] = to_uint8(img.float()[:, 0].cpu().numpy())
            if progress:
                progress(i + k)
    finally:
        torch.random.set_rng_state(torch_state)
    return out


def blur_uint8(images: np.ndarray, sigma: float) -> np.ndarray:
    out = np.empty_like(images)
    for i, im in enumerate(images):
        b = cv2.GaussianBlur(im.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        out[i] = np.clip(np.rint(b), 0, 255).astype(np.uint8)
    return out


def noise_like(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise images with the mean and standard deviation of `images`."""
    x = images.astype(np.float64)
    noise = rng.normal(x.mean(), x.std(), size=images.shape)
    return np.clip(np.rint(noise), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- SWD


def laplacian_pyramid(images: np.ndarray, min_res: int = 16) -> list[np.ndarray]:
    """Laplacian levels from fine to coarse; the last is the Gaussian level at min_res.

    cv2.pyrDown/pyrUp use the 5x5 binomial kernel with mirrored borders, as the reference.
    """
    cur = np.asarray(images, np.float32)
    if cur.shape[-1] < min_res:
        raise OptionError(f"images of {cur.shape[-1]} px are smaller than the {min_res} px level")
    levels = []
    while cur.shape[-1] // 2 >= min_res:
        h, w = cur.shape[-2:]
        down = np.stack([cv2.pyrDown(im) for im in cur])
        up = np.stack([cv2.pyrUp(d, dstsize=(w, h)) for d in down])
        levels.append(cur - up)
        cur = down
    levels.append(cur)
    return levels


def sample_descriptors(
    level: np.ndarray, per_image: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """per_image random size x size neighbourhoods of every image -> [N * per_image, size^2]."""
    n, h, w = level.shape
    half = size // 2
    ys = rng.integers(half, h - half, size=n * per_image)
    xs = rng.integers(half, w - half, size=n * per_image)
    off = np.arange(-half, half + 1)
    img = np.repeat(np.arange(n), per_image)[:, None, None]
    d = level[img, ys[:, None, None] + off[None, :, None], xs[:, None, None] + off[None, None, :]]
    return d.reshape(len(d), -1)


def normalise_descriptors(d: np.ndarray) -> np.ndarray:
    """Per-set normalisation (the reference's finalize_descriptors, one channel)."""
    d = d.astype(np.float32)
    d = d - d.mean()
    s = d.std()
    return d / s if s > 0 else d


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, dirs: list[np.ndarray]) -> float:
    """Mean over projection sets of the mean |sorted proj(a) - sorted proj(b)|."""
    if a.shape != b.shape:
        raise ValueError(
            f"SWD needs the same number of descriptors on both sides, got {a.shape} vs {b.shape}"
        )
    out = []
    for d in dirs:
        pa = np.sort(a @ d, axis=0)
        pb = np.sort(b @ d, axis=0)
        out.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(out))


def _directions(dim: int, repeats: int, per: int, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for _ in range(repeats):
        d = rng.standard_normal((dim, per))
        d /= np.sqrt((d * d).sum(0, keepdims=True))
        out.append(d.astype(np.float32))
    return out


class SWDReference:
    """Descriptors of one reference set (held-out real) and fixed projection directions,
    so that every comparison against it shares descriptors and directions."""

    def __init__(self, ref: np.ndarray, s: EvalSettings, seed: int = 0):
        self.s, self.n = s, len(ref)
        self.seed = seed
        rng = np.random.default_rng([seed, 1])
        self.levels = laplacian_pyramid(ref, s.swd_min_res)
        self.desc = [
            normalise_descriptors(sample_descriptors(lv, s.swd_per_image, s.swd_nhood, rng))
            for lv in self.levels
        ]
        dim = s.swd_nhood * s.swd_nhood
        self.dirs = [
            _directions(dim, s.swd_repeats, s.swd_dirs, np.random.default_rng([seed, 2, i]))
            for i in range(len(self.levels))
        ]
        self.resolutions = [lv.shape[-1] for lv in self.levels]

    def distance(self, images: np.ndarray, seed: int = 3) -> list[float]:
        """SWD x 10^3 per level (fine -> coarse) of `images` against the reference."""
        if len(images) != self.n:
            raise ValueError(f"SWD compares equal numbers of images; got {len(images)} vs {self.n}")
        rng = np.random.default_rng([self.seed, seed])
        out = []
        for lv, ref_desc, dirs in zip(
            laplacian_pyramid(images, self.s.swd_min_res), self.desc, self.dirs
        ):
            d = normalise_descriptors(
                sample_descriptors(lv, self.s.swd_per_image, self.s.swd_nhood, rng)
            )
            out.append(1e3 * sliced_wasserstein(d, ref_desc, dirs))
        return out


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(x) < n:
        raise DatasetError(f"a set of {len(x)} images cannot give {n} per side")
    return x[np.sort(rng.choice(len(x), n, replace=False))]


def _ratios(d: list[float], floor: list[float]) -> dict:
    r = [a / b if b > 0 else float("inf") for a, b in zip(d, floor)]
    return {"swd": d, "ratios": r, "mean_ratio": float(np.mean(r)), "worst_ratio": float(max(r))}


def swd_report(
    train: np.ndarray,
    heldout: np.ndarray,
    fakes: dict[str, np.ndarray],
    s: EvalSettings,
    sanity: bool = False,
) -> dict:
    """SWD of each named fake set vs held-out real, per level and as ratios to the floor.

    Every set is cut to the same n images (the smallest of swd_n and all set sizes).
    `sanity` adds the known fakes: white Gaussian noise and real training patches blurred
    with sigma = blur_sigma px.
    """
    n = min([s.swd_n, len(train), len(heldout), *(len(f) for f in fakes.values())])
    rng = np.random.default_rng([s.seed, 10])
    held = _subsample(heldout, n, rng)
    tr = _subsample(train, n, rng)
    ref = SWDReference(held, s, seed=s.seed)
    floor = ref.distance(tr, seed=100)
    out = {
        "recipe": {
            "images_per_side": n,
            "levels_px": ref.resolutions,
            "descriptors_per_image_and_level": s.swd_per_image,
            "neighbourhood": s.swd_nhood,
            "projections": f"{s.swd_repeats}x{s.swd_dirs}",
            "scale": "x1e3",
            "reference": "held-out real",
            "floor": "train real vs held-out real",
        },
        "floor": floor,
    }
    for i, (name, f) in enumerate(fakes.items()):
        out[name] = _ratios(ref.distance(_subsample(f, n, rng), seed=200 + i), floor)
    if sanity:
        known = {
            "gaussian_noise": noise_like(tr, np.random.default_rng([s.seed, 11])),
            f"blur_sigma{s.blur_sigma:g}": blur_uint8(tr, s.blur_sigma),
        }
        out["sanity"] = {
            name: _ratios(ref.distance(f, seed=300 + i), floor)
            for i, (name, f) in enumerate(known.items())
        }
    return out


# ---------------------------------------------------------------------------- classifier


class C2STNet(nn.Module):
    """Stride-2 3x3 conv stages (GroupNorm, LeakyReLU) down to 4x4, then one linear layer.

    ~17 MMAC per 128x128 image (about 2 ms per image and training step on one CPU core):
    cheap enough to train to convergence. GroupNorm, not BatchNorm: with few steps per
    epoch BatchNorm's running statistics lag and the validation loss (early stopping's
    signal) is noise.
    """

    def __init__(self, resolution: int, width: int = 16, max_channels: int = 128, norm="group"):
        super().__init__()
        layers, c_in, c, r = [], 1, width, resolution
        while r > 4:
            layers.append(nn.Conv2d(c_in, c, 3, 2, 1))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(c))
            elif norm == "group":
                layers.append(nn.GroupNorm(max(1, c // 8), c))
            layers.append(nn.LeakyReLU(0.2))
            c_in, c, r = c, min(2 * c, max_channels), r // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(c_in * r * r, 1))

    def forward(self, x):
        return self.head(self.features(x))[:, 0]


def _to_input(x: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32) / 127.5 - 1.0)[:, None].to(device)


@torch.no_grad()
def classifier_scores(net: C2STNet, x: np.ndarray, device, batch: int = 256) -> np.ndarray:
    """P(generated) per image."""
    net.eval()
    out = [
        torch.sigmoid(net(_to_input(x[i : i + batch], device))).cpu().numpy()
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def auc_score(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney), ties counted half."""
    from scipy.stats import rankdata

    pos, neg = labels == 1, labels == 0
    if not pos.any() or not neg.any():
        return float("nan")
    r = rankdata(scores)
    return float((r[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


def train_classifier(
    real: np.ndarray,
    fake: np.ndarray,
    s: EvalSettings,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[C2STNet, dict]:
    """Fit real (label 0) vs fake (label 1) with a held-back validation split; stop when
    the validation loss has not improved for `c2st_patience` epochs; keep the best epoch."""
    if real.shape[1:] != fake.shape[1:]:
        raise OptionError("real and generated patches differ in size")
    rng = np.random.default_rng([seed, 20])
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        x = np.concatenate([real, fake])
        y = np.concatenate([np.zeros(len(real)), np.ones(len(fake))]).astype(np.float32)
        val = np.concatenate(
            [
                rng.choice(len(real), max(2, round(len(real) * s.c2st_val_fraction)), False),
                len(real)
                + rng.choice(len(fake), max(2, round(len(fake) * s.c2st_val_fraction)), False),
            ]
        )
        fit = np.setdiff1d(np.arange(len(x)), val)
        net = C2STNet(x.shape[-1], s.c2st_width, norm=s.c2st_norm).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=s.c2st_lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
        yv = torch.from_numpy(y[val]).to(device)
        best, best_state, bad, history = math.inf, None, 0, []
        stop, steps = "max_epochs", 0
        for epoch in range(1, s.c2st_max_epochs + 1):
            net.train()
            order = rng.permutation(fit)
            tot, correct, seen = 0.0, 0, 0
            for i in range(0, len(order), s.c2st_batch):
                idx = order[i : i + s.c2st_batch]
                if len(idx) < 2:
                    continue
                xb = x[idx]
                xb = np.rot90(xb, int(rng.integers(4)), axes=(1, 2))
                if rng.integers(2):
                    xb = xb[:, :, ::-1]
                xb = _to_input(np.ascontiguousarray(xb), device)
                yb = torch.from_numpy(y[idx]).to(device)
                logit = net(xb)
                loss = Fn.binary_cross_entropy_with_logits(logit, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
                tot += float(loss.detach()) * len(idx)
                correct += int(((logit > 0).float() == yb).sum())
                seen += len(idx)
            p = torch.from_numpy(classifier_scores(net, x[val], device)).to(device)
            vloss = float(Fn.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), yv))
            vacc = float(((p > 0.5).float() == yv).float().mean())
            history.append(
                {
                    "epoch": epoch,
                    "loss": tot / max(seen, 1),
                    "accuracy": correct / max(seen, 1),
                    "val_loss": vloss,
                    "val_accuracy": vacc,
                }
            )
            if vloss < best - 1e-4:
                best, bad = vloss, 0
                best_state = copy.deepcopy(net.state_dict())
            elif steps >= s.c2st_min_steps:
                bad += 1
            if steps >= s.c2st_min_steps:
                sched.step(vloss)
            if progress:
                progress(epoch, s.c2st_max_epochs)
            if bad >= s.c2st_patience:
                stop = "early_stopping"
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        best_rec = min(history, key=lambda h: h["val_loss"])
        info = {
            "fit_per_side": [
                int(len(real) - (val < len(real)).sum()),
                int((val >= len(real)).sum()),
            ],
            "fit_images": int(len(fit)),
            "val_images": int(len(val)),
            "epochs": len(history),
            "steps": steps,
            "best_epoch": best_rec["epoch"],
            "stopped_by": stop,
            "train_accuracy": history[best_rec["epoch"] - 1]["accuracy"],
            "val_accuracy": best_rec["val_accuracy"],
            "val_loss": best_rec["val_loss"],
            "history": history,
        }
        return net.eval(), info
    finally:
        torch.random.set_rng_state(torch_state)


def wilson_interval(p: float, n: int, z: float = 1.96) -> list[float]:
    """95 % Wilson score interval of a proportion p out of n."""
    if n <= 0:
        return [0.0, 1.0]
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [max(0.0, mid - half), min(1.0, mid + half)]


def two_sample_test(
    fit_real: np.ndarray,
    fit_fake: np.ndarray,
    test_real: np.ndarray,
    test_fake: np.ndarray,
    s: EvalSettings,
    device="cpu",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Train on (fit_real, fit_fake); accuracy and AUC on the balanced (test_real, test_fake)."""
    n = min(len(test_real), len(test_fake))
    rng = np.random.default_rng([seed, 21])
    tr, tf = _subsample(test_real, n, rng), _subsample(test_fake, n, rng)
    net, info = train_classifier(fit_real, fit_fake, s, device, seed, progress)
    scores = np.concatenate(
        [classifier_scores(net, tr, device), classifier_scores(net, tf, device)]
    )
    labels = np.concatenate([np.zeros(n), np.ones(n)])
    acc = float(((scores > 0.5) == labels).mean())
    return {
        "accuracy": acc,
        "accuracy_ci95": wilson_interval(acc, 2 * n),
        "auc": auc_score(scores, labels),
        "test_per_side": n,
        **info,
    }


def _like(kind: np.ndarray, pool: np.ndarray, ref_kind: np.ndarray, n: int, rng) -> np.ndarray:
    """About n indices from `pool` with the lesion share of `ref_kind` (as far as it goes)."""
    lesion, tissue = pool[kind[pool] == 1], pool[kind[pool] == 0]
    n1 = min(round(n * float(np.mean(ref_kind == 1))), len(lesion))
    n0 = min(n - n1, len(tissue))
    pick = np.concatenate([rng.choice(lesion, n1, False), rng.choice(tissue, n0, False)])
    return rng.permutation(pick.astype(np.int64))


def _film_halves(ps: PatchSet, idx: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Split patch indices in two by film (no film on both sides)."""
    films = np.unique(ps.film[idx])
    if len(films) < 2:
        half = len(idx) // 2
        perm = rng.permutation(idx)
        return perm[:half], perm[half:]
    perm = rng.permutation(films)
    a = set(perm[: len(perm) // 2].tolist())
    in_a = np.array([f in a for f in ps.film[idx]])
    return idx[in_a], idx[~in_a]


# ---------------------------------------------------------------------------- reconstruction


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {}
    out = {}
    for k in rows[0]:
        vals = np.array([r[k] for r in rows], np.float64)
        vals = vals[np.isfinite(vals)]
        out[k] = float(vals.mean()) if len(vals) else float("nan")
    return out


def _quality(img, target, mask=None) -> dict:
    return {
        "psnr": psnr(img, target, mask),
        "ssim": ssim(img, target, mask),
        "detail": detail_fidelity(img, target, mask),
    }


def constant_baseline(target: np.ndarray, mask=None) -> dict:
    """A constant image at the target's (masked) mean: the floor any method must beat."""
    if mask is None:
        c = float(target.mean())
    else:
        m = np.asarray(mask, np.float64)
        c = float((m * target).sum() / m.sum())
    return _quality(np.full_like(target, c), target, mask)


def reconstruction_report(
    model: Model,
    targets: np.ndarray,
    s: EvalSettings,
    compute: Compute | None = None,
    vgg16_path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Encoder-only and Eq. 4 reconstructions of [N, R, R] targets in [-1, 1]."""
    F = perceptual_for(model, vgg16_path)
    settings = InversionSettings(steps=s.steps, preview_every=0, seed=s.seed)
    rows = {"constant": [], "encoder": [], "inversion": []}
    seconds = []
    for i, x in enumerate(targets):
        w_enc = encode(model, x, compute)[0].cpu().numpy()
        rec_enc = synthesize(model, w_enc, compute)[0]
        t0 = time.perf_counter()
        res = run_inversion(model, x, None, settings, compute, F)
        seconds.append(time.perf_counter() - t0)
        rows["constant"].append(constant_baseline(x))
        rows["encoder"].append(_quality(rec_enc, x))
        rows["inversion"].append(_quality(res.image, x))
        if progress:
            progress(i + 1, len(targets))
    return {
        "recipe": {
            "patches": len(targets),
            "steps": s.steps,
            "perceptual": F.name,
            "lambda_perceptual": settings.lambda_perceptual,
            "lambda_encoder": settings.lambda_encoder,
            "lr": settings.lr,
            "seconds_per_inversion": float(np.mean(seconds)) if seconds else None,
        },
        **{k: _summary(v) for k, v in rows.items()},
    }


def _compose_pairs(held: PatchSet, n: int, rng) -> list[tuple[int, int]]:
    """(lesion patch, tissue template from another film): masks with a boundary inside."""
    frac = held.masks.mean((1, 2))
    ok = np.flatnonzero((held.kind == 1) & (frac >= 0.01) & (frac <= 0.5))
    ok = [
        i
        for i in ok
        if not (held.masks[i, 0].any() and held.masks[i, -1].any())
        and not (held.masks[i, :, 0].any() and held.masks[i, :, -1].any())
    ]
    tissue = np.flatnonzero(held.kind == 0)
    if not ok or not len(tissue):
        return []
    # spread over lesions: one patch per film first, then the rest
    ok = list(rng.permutation(ok))
    by_film, rest = [], []
    seen = set()
    for i in ok:
        (rest if held.film[i] in seen else by_film).append(i)
        seen.add(held.film[i])
    chosen = (by_film + rest)[:n]
    pairs = []
    for i in chosen:
        cand = tissue[held.film[tissue] != held.film[i]]
        cand = cand if len(cand) else tissue
        pairs.append((int(i), int(rng.choice(cand))))
    return pairs


def compose_report(
    model: Model,
    held: PatchSet,
    s: EvalSettings,
    compute: Compute | None = None,
    vgg16_path: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """The Fig. 4 task: a held-out lesion (its mask) onto a held-out tissue template; each
    method's fidelity inside the mask and seam strength, plus the constant baseline."""
    pairs = _compose_pairs(held, s.compose_n, np.random.default_rng([s.seed, 30]))
    if not pairs:
        return {"skipped": "no held-out lesion patch with a usable lesion mask"}
    settings = InversionSettings(steps=s.steps, preview_every=0, seed=s.seed)
    rows: dict[str, list[dict]] = {}
    for k, (li, ti) in enumerate(pairs):
        texture = held.as_float([li])[0, 0]
        template = held.as_float([ti])[0, 0]
        mask = Mask.from_array(held.masks[li], feather=2.0)
        comp = None
        for rec in compose(
            model, texture, template, mask, Placement(), settings, compute, vgg16_path
        ):
            if isinstance(rec, Composite):
                comp = rec
        if comp is None:
            continue
        for method, m in comp.metrics.items():
            rows.setdefault(method, []).append(
                {
                    "psnr": m["psnr_in_mask"],
                    "ssim": m["ssim_in_mask"],
                    "detail": m["detail_in_mask"],
                    "seam": m["seam_strength"],
                }
            )
        rows.setdefault("constant", []).append(constant_baseline(comp.texture_placed, comp.mask))
        if progress:
            progress(k + 1, len(pairs))
    return {
        "recipe": {
            "pairs": len(pairs),
            "task": "held-out lesion (its mask, feather 2 px) onto a held-out tissue template "
            "of another film, centred; metrics inside the mask vs the placed lesion texture",
            "steps": s.steps,
        },
        **{k: _summary(v) for k, v in rows.items()},
    }


# ---------------------------------------------------------------------------- grid, spectrum


def _mosaic(images: np.ndarray, rows: int, cols: int, gap: int = 2) -> np.ndarray:
    r = images.shape[-1]
    out = np.full((rows * r + (rows - 1) * gap, cols * r + (cols - 1) * gap), 255, np.uint8)
    for i, im in enumerate(images[: rows * cols]):
        y, x = divmod(i, cols)
        out[y * (r + gap) : y * (r + gap) + r, x * (r + gap) : x * (r + gap) + r] = im
    return out


def sample_grid(
    real: np.ndarray,
    generated: np.ndarray,
    rows: int = 4,
    cols: int = 4,
    labels: tuple[str, str] = ("held-out real", "generated"),
) -> np.ndarray:
    """Real mosaic | generated mosaic, 1:1 pixels, a label band above each: uint8 image."""
    a, b = _mosaic(real, rows, cols), _mosaic(generated, rows, cols)
    sep, band = 16, 28
    h, w = a.shape
    canvas = np.full((h + band, 2 * w + sep), 255, np.uint8)
    canvas[band:, :w] = a
    canvas[band:, w + sep :] = b
    scale = 0.5 if w >= 300 else 0.35
    for x0, text in ((0, labels[0]), (w + sep, labels[1])):
        cv2.putText(
            canvas, text, (x0 + 2, band - 9), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, 1, cv2.LINE_AA
        )
    return canvas


def write_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OptionError(f"the sample grid is written as PNG; got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OptionError(f"could not encode {path.name}")
    atomic_write_bytes(path, buf.tobytes())
    return path


def spectrum_report(sets: dict[str, np.ndarray], n: int) -> dict:
    """Mean power-spectrum exponent beta (Hann window) of the first n images of each set."""
    from .phantoms import power_spectrum_beta

    out = {}
    for name, x in sets.items():
        b = [power_spectrum_beta(im.astype(np.float64), window=True) for im in x[:n]]
        out[name] = {"beta_mean": float(np.mean(b)), "beta_sd": float(np.std(b)), "n": len(b)}
    return out


# ---------------------------------------------------------------------------- the whole run


def targets_met(result: dict) -> dict:
    """Each target of the shipped default: value, target, goal, met (None if not measured)."""
    get = {
        "swd_mean_ratio": ("swd", "generated", "mean_ratio"),
        "swd_worst_ratio": ("swd", "generated", "worst_ratio"),
        "c2st_accuracy": ("c2st", "generated", "accuracy"),
        "encoder_psnr": ("reconstruction", "encoder", "psnr"),
        "encoder_detail": ("reconstruction", "encoder", "detail"),
        "inversion_psnr": ("reconstruction", "inversion", "psnr"),
        "inversion_detail": ("reconstruction", "inversion", "detail"),
    }
    out = {}
    for key, path in get.items():
        v = result
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        op, target, goal = TARGETS[key]
        ok = None
        if isinstance(v, (int, float)) and math.isfinite(v):
            ok = v <= target if op == "<=" else v >= target
        out[key] = {"value": v, "target": f"{op} {target}", "goal": goal, "met": ok}
    return out


@dataclass
class Evaluation:
    result: dict
    grid: np.ndarray | None = None
    samples: dict = field(default_factory=dict)


def evaluate_model(
    model: Model,
    data_dir: str | Path,
    settings: EvalSettings | None = None,
    compute: Compute | None = None,
    vgg16_path: str | None = None,
    progress: Progress | None = None,
) -> Evaluation:
    """Run the chosen sections; returns the JSON-able result and the sample grid."""
    s = settings or EvalSettings()
    s.validate()
    device = next(model.G.parameters()).device
    compute = compute or Compute(device, "fp32")
    train, held, manifest = load_eval_data(data_dir)
    R = train.patches.shape[-1]
    if R != model.resolution:
        raise DatasetError(
            f"the patches are {R}x{R} but the model works at {model.resolution}x{model.resolution}"
        )
    tr_idx, he_idx = _select(train, s.kinds), _select(held, s.kinds)

    def rng_for(section: int) -> np.random.Generator:
        # one stream per section: a section's numbers do not depend on which others ran
        return np.random.default_rng([s.seed, section])

    prog = progress or (lambda *_: None)
    t_all = time.perf_counter()
    card = model.card or {}
    recipe = manifest.get("recipe", {})
    result: dict = {
        "model": {
            "file": model.path.name if model.path else None,
            "sha256": model.sha256,
            "kimg": card.get("kimg"),
            "phase": card.get("phase"),
            "training_seconds": card.get("training_seconds"),
        },
        "data": {
            "source": manifest.get("source") or Path(data_dir).name,
            "resolution": R,
            "spacing_mm": recipe.get("spacing_mm"),
            "split": manifest.get("split", "train.npz / heldout.npz"),
            "kinds": s.kinds,
            "train_patches": int(len(tr_idx)),
            "heldout_patches": int(len(he_idx)),
            "train_films": int(len(np.unique(train.film))),
            "heldout_films": int(len(np.unique(held.film))),
        },
        "settings": {k.name: getattr(s, k.name) for k in fields(s)},
        "compute": compute.describe(),
        "software": _version(),
        "seconds": {},
    }
    result["settings"]["sections"] = list(s.sections)

    need_c2st = "c2st" in s.sections
    n_gen_test = max(
        s.swd_n if "swd" in s.sections else 0,
        s.c2st_test if need_c2st else 0,
        s.grid_rows * s.grid_cols,
        s.spectrum_n if "spectrum" in s.sections else 0,
    )
    t0 = time.perf_counter()
    gen_test = generate_uint8(
        model,
        n_gen_test,
        seed=s.seed * 1000 + 1,
        compute=compute,
        psi=s.psi,
        batch=s.gen_batch,
        progress=lambda i: prog("generate", i, n_gen_test),
    )
    result["seconds"]["generate"] = time.perf_counter() - t0
    real_train, real_held = train.patches[tr_idx], held.patches[he_idx]

    if "swd" in s.sections:
        t0 = time.perf_counter()
        prog("swd", 0, 1)
        result["swd"] = swd_report(
            real_train, real_held, {"generated": gen_test}, s, sanity=s.swd_sanity
        )
        result["swd"]["recipe"]["patch_spacing_mm"] = recipe.get("spacing_mm")
        result["swd"]["recipe"]["resolution"] = R
        result["swd"]["recipe"]["kinds"] = s.kinds
        prog("swd", 1, 1)
        result["seconds"]["swd"] = time.perf_counter() - t0

    if "spectrum" in s.sections:
        result["spectrum"] = spectrum_report(
            {
                "heldout_real": rng_for(5).permutation(real_held)[: s.spectrum_n],
                "generated": gen_test,
            },
            s.spectrum_n,
        )

    if need_c2st:
        t0 = time.perf_counter()
        c2: dict = {}
        n_fit = min(s.c2st_fit, len(tr_idx) // (2 if s.c2st_baselines else 1))
        fit_gen = generate_uint8(
            model,
            n_fit,
            seed=s.seed * 1000 + 2,
            compute=compute,
            psi=s.psi,
            batch=s.gen_batch,
            progress=lambda i: prog("generate (classifier)", i, n_fit),
        )
        rng = rng_for(2)
        perm = rng.permutation(tr_idx)
        fit_real = train.patches[perm[:n_fit]]
        other_real = train.patches[perm[n_fit : 2 * n_fit]]
        n_test = min(s.c2st_test, len(he_idx))
        test_real = held.patches[rng.choice(he_idx, n_test, replace=False)]
        c2["generated"] = two_sample_test(
            fit_real,
            fit_gen,
            test_real,
            gen_test[:n_test],
            s,
            device,
            s.seed,
            lambda e, m: prog("classifier: generated", e, m),
        )
        if s.c2st_baselines and len(other_real) >= 8:
            # known fake: real patches blurred; fit on disjoint train halves, test on
            # disjoint held-out halves (by film).
            ha, hb = _film_halves(held, he_idx, rng)
            ha, hb = rng.permutation(ha), rng.permutation(hb)
            nk = min(n_test, len(ha), len(hb))
            c2["known_fake_blur"] = two_sample_test(
                fit_real,
                blur_uint8(other_real, s.blur_sigma),
                held.patches[ha[:nk]],
                blur_uint8(held.patches[hb[:nk]], s.blur_sigma),
                s,
                device,
                s.seed,
                lambda e, m: prog("classifier: blurred real", e, m),
            )
            c2["known_fake_blur"]["blur_sigma_px"] = s.blur_sigma
            # real vs real: train patients vs held-out patients, tested on patches this
            # classifier never saw (other train patches, the other held-out films). The train
            # side is drawn with the held-out side's lesion share, so that a different mix of
            # patch kinds (e.g. 14 % vs 5 % lesion patches) does not pass for a patient effect.
            nb = min(n_fit, len(ha))
            rest = perm[2 * n_fit :]
            if len(rest) >= 2 * max(nb, 8):
                pool_fit, pool_test = rest[: len(rest) // 2], rest[len(rest) // 2 :]
            else:
                pool_fit, pool_test = perm[:n_fit], perm[n_fit : 2 * n_fit]
            fit1 = ha[:nb]
            test1 = hb[:n_test]
            c2["real_vs_real"] = two_sample_test(
                train.patches[_like(train.kind, pool_fit, held.kind[fit1], len(fit1), rng)],
                held.patches[fit1],
                train.patches[_like(train.kind, pool_test, held.kind[test1], len(test1), rng)],
                held.patches[test1],
                s,
                device,
                s.seed,
                lambda e, m: prog("classifier: real vs real", e, m),
            )
            c2["real_vs_real"]["note"] = (
                "class 0 = train patients (drawn with class 1's lesion share), class 1 = "
                "held-out patients (films split in two: one half to fit, the other to test)"
            )
        c2["recipe"] = {
            "fit": f"train-real vs generated, {n_fit} per side, "
            f"{s.c2st_val_fraction:.0%} of each held back for early stopping",
            "test": "held-out real vs fresh generated (other seeds), balanced",
            "network": "C2STNet: stride-2 3x3 conv stages "
            f"{s.c2st_width}..128 ch, {s.c2st_norm} norm, LeakyReLU, down to 4x4, linear",
            "optimiser": f"Adam lr {s.c2st_lr}, batch {s.c2st_batch}, rot90/flip augmentation, "
            f"patience {s.c2st_patience} epochs after {s.c2st_min_steps} steps, "
            f"max {s.c2st_max_epochs} epochs",
            "input": "8-bit patches (generated ones quantised like the real ones)",
            "patch_spacing_mm": recipe.get("spacing_mm"),
            "resolution": R,
            "kinds": s.kinds,
        }
        result["c2st"] = c2
        result["seconds"]["c2st"] = time.perf_counter() - t0

    if "reconstruction" in s.sections and s.recon_n > 0:
        t0 = time.perf_counter()
        idx = np.sort(rng_for(3).choice(he_idx, min(s.recon_n, len(he_idx)), replace=False))
        result["reconstruction"] = reconstruction_report(
            model,
            held.as_float(idx)[:, 0],
            s,
            compute,
            vgg16_path,
            lambda i, m: prog("reconstruction", i, m),
        )
        result["seconds"]["reconstruction"] = time.perf_counter() - t0

    if "compose" in s.sections and s.compose_n > 0:
        t0 = time.perf_counter()
        result["compose"] = compose_report(
            model, held, s, compute, vgg16_path, lambda i, m: prog("compose", i, m)
        )
        result["seconds"]["compose"] = time.perf_counter() - t0

    grid = None
    k = s.grid_rows * s.grid_cols
    if k > 0:
        pick = rng_for(4).choice(he_idx, min(k, len(he_idx)), replace=False)
        real_grid = held.patches[np.sort(pick)]
        kimg = card.get("kimg")
        grid = sample_grid(
            real_grid,
            gen_test[:k],
            s.grid_rows,
            s.grid_cols,
            (
                "held-out real",
                "generated" + (f" ({kimg:.1f} kimg)" if isinstance(kimg, (int, float)) else ""),
            ),
        )
    result["targets"] = targets_met(result)
    result["seconds"]["total"] = time.perf_counter() - t_all
    result["evaluated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return Evaluation(result, grid, {"generated": gen_test})


def _version() -> str:
    from .. import __version__

    return f"stimstudio {__version__}, torch {torch.__version__}"


# ---------------------------------------------------------------------------- model card


def update_card(weights: str | Path, evaluation: dict) -> Path:
    """Write `evaluation` into the model card beside `weights` (atomically).

    Only the JSON card changes; the tensor file is never written, so the sha256 the card
    records stays valid. Sections measured on the same file earlier and not re-run now are
    kept; an evaluation of another file replaces the old one.
    """
    path = Path(weights)
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise CheckpointError(f"no model file with a card at {path}")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"model card {card_path.name} is not valid JSON: {exc}") from exc
    digest = sha256_file(path)
    if card.get("sha256") not in (None, digest):
        raise CheckpointError(f"{path.name} does not match its model card (sha256 differs)")
    evaluated = (evaluation.get("model") or {}).get("sha256")
    if evaluated and evaluated != digest:
        raise CheckpointError(
            f"the evaluation is of another file (sha256 {evaluated[:12]}…), not {path.name}"
        )
    old = card.get("evaluation")
    new = dict(evaluation)
    ran = [sec for sec in (new.get("settings") or {}).get("sections", []) if sec in new]
    new["section_settings"] = {sec: new["settings"] for sec in ran}
    if isinstance(old, dict) and (old.get("model") or {}).get("sha256") == digest:
        merged = dict(old)
        merged.update(new)
        merged["section_settings"] = {**section_settings(old), **new["section_settings"]}
        new = merged
        new["targets"] = targets_met(new)
    card["evaluation"] = to_jsonable(_without_history(new))
    atomic_write_bytes(card_path, json.dumps(card, indent=2).encode())
    return card_path


def section_settings(card_eval: dict) -> dict[str, dict]:
    """The settings each section of a card's evaluation was measured with.

    Cards merge sections from several runs, so the top-level settings describe only the
    latest run; older cards without a per-section record give just that run's sections.
    """
    recorded = card_eval.get("section_settings")
    if isinstance(recorded, dict):
        return dict(recorded)
    latest = card_eval.get("settings") or {}
    return {sec: latest for sec in latest.get("sections", []) if sec in card_eval}


def settings_from_card(recorded: dict, sections) -> EvalSettings:
    """EvalSettings as a card recorded them, for the given sections."""
    known = {f.name for f in fields(EvalSettings)}
    kw = {k: v for k, v in recorded.items() if k in known and k != "sections"}
    s = EvalSettings(**kw, sections=tuple(sections))
    s.validate()
    return s


def _numbers(obj, path: str = "") -> dict[str, float]:
    """Every number of a result section by its dotted path (list items by index)."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "history" and "seconds" not in k:  # timings are not results
                out.update(_numbers(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{path}[{i}]"))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[path] = float(obj)
    return out


def compare_with_card(card_eval: dict, result: dict, sections, tolerance: float = 0.01) -> dict:
    """Does a fresh evaluation reproduce the card? Every number of every checked section.

    A number agrees when |now - card| <= tolerance * max(1, |card|): seeded runs on the same
    machine give identical numbers; other thread counts or devices round differently.
    """
    card_n: dict[str, float] = {}
    now_n: dict[str, float] = {}
    for sec in sections:
        card_n.update(_numbers(card_eval.get(sec), sec))
        now_n.update(_numbers(result.get(sec), sec))
    rows = []
    for key, want in card_n.items():
        got = now_n.get(key)
        if got is None:
            rows.append({"number": key, "card": want, "now": None, "agrees": False})
            continue
        both_nan = math.isnan(want) and math.isnan(got)
        ok = both_nan or abs(got - want) <= tolerance * max(1.0, abs(want))
        rows.append({"number": key, "card": want, "now": got, "agrees": bool(ok)})
    worst = max(
        (r for r in rows if r["now"] is not None and not math.isnan(r["card"])),
        key=lambda r: abs(r["now"] - r["card"]) / max(1.0, abs(r["card"])),
        default=None,
    )
    return {
        "sections": list(sections),
        "tolerance": tolerance,
        "compared": len(rows),
        "agree": sum(r["agrees"] for r in rows),
        "identical": sum(r["now"] == r["card"] for r in rows),
        "reproduced": bool(rows) and all(r["agrees"] for r in rows),
        "differences": [r for r in rows if not r["agrees"]],
        "largest_difference": worst,
    }


def _without_history(obj):
    """The card keeps the numbers, not the classifier's per-epoch log."""
    if isinstance(obj, dict):
        return {k: _without_history(v) for k, v in obj.items() if k != "history"}
    return obj


__all__ = [
    "EvalSettings",
    "Evaluation",
    "SWDReference",
    "C2STNet",
    "evaluate_model",
    "update_card",
    "compare_with_card",
    "section_settings",
    "settings_from_card",
]
