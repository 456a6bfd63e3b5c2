"""The classifier two-sample test: a small CNN trained to tell generated from real patches,
with its real-vs-real baseline and a known fake to prove its power.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

from ...core.device import Compute
from ...core.errors import OptionError
from ...core.model import Model
from ..dataset import PatchSet
from .data import blur_uint8, generate_uint8
from .settings import EvalSettings
from .swd import _subsample


class C2STNet(nn.Module):
    """Stride-2 3x3 conv stages (GroupNorm, LeakyReLU) down to 4x4, then one linear layer.

    ~17 MMAC per 128x128 image (about 2 ms per image and training step on one CPU core):
    cheap enough to train to convergence. GroupNorm, not BatchNorm: with few steps per
    epoch BatchNorm's running statistics lag and the validation loss (early stopping's
    signal) is noise.

    `detail_gain` > 0 adds a second input channel: the image minus its 3x3 binomial blur,
    times the gain. Film-only mammogram patches are smooth; their fine grain is a couple of
    grey levels on a density range of ~200, and from the image alone this net did not learn
    to see it: blurred real patches (sigma 3 px) scored chance (0.49) against real ones,
    train accuracy included. With the detail channel at gain 8 the same test scores 1.0, so
    a generator that lacks (or overdoes) fine texture cannot pass unseen. 0 = image alone.
    """

    def __init__(
        self,
        resolution: int,
        width: int = 16,
        max_channels: int = 128,
        norm: str = "group",
        detail_gain: float = 0.0,
    ):
        super().__init__()
        self.detail_gain = float(detail_gain)
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("blur", ((k[:, None] * k[None]) / 16)[None, None], persistent=False)
        layers, c_in, c, r = [], 2 if self.detail_gain > 0 else 1, width, resolution
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

    def detail(self, x: torch.Tensor) -> torch.Tensor:
        """The fine-detail residual: x minus its 3x3 binomial blur (reflected border)."""
        return x - Fn.conv2d(Fn.pad(x, (1, 1, 1, 1), mode="reflect"), self.blur)

    def forward(self, x):
        if self.detail_gain > 0:
            x = torch.cat([x, self.detail_gain * self.detail(x)], 1)
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
        net = C2STNet(
            x.shape[-1], s.c2st_width, norm=s.c2st_norm, detail_gain=s.c2st_detail_gain
        ).to(device)
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


def pool_draws(runs: list[dict]) -> dict:
    """One result from independent draws: mean accuracy and AUC, and a 95 % interval
    over the draws (Student t), which holds what one draw's binomial interval leaves out:
    the classifier's own training and which patches were drawn."""
    from scipy import stats

    acc = np.array([r["accuracy"] for r in runs])
    mean, sd = float(acc.mean()), float(acc.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(acc) - 1)) * sd / math.sqrt(len(acc))
    return {
        **runs[0],
        "accuracy": mean,
        "accuracy_ci95": [max(0.0, mean - half), min(1.0, mean + half)],
        "accuracy_sd": sd,
        "auc": float(np.mean([r["auc"] for r in runs])),
        "draws": len(runs),
        "accuracy_draws": acc.tolist(),
        "auc_draws": [r["auc"] for r in runs],
        "ci95_over": "draws (Student t)",
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


def c2st_report(
    model: Model,
    train: PatchSet,
    held: PatchSet,
    tr_idx: np.ndarray,
    he_idx: np.ndarray,
    gen_test: np.ndarray,
    s: EvalSettings,
    compute: Compute,
    rng: np.random.Generator,
    recipe: dict,
    prog: Callable[[str, int, int], None],
) -> dict:
    """The classifier two-sample test section: generated vs real, and with `c2st_baselines`
    a known fake (blurred real patches) and real vs real (train vs held-out patients).

    `gen_test` are the fresh generated test patches; the classifier's own generated training
    patches are drawn here (seed * 1000 + 2).
    """
    device = next(model.G.parameters()).device
    R = train.patches.shape[-1]
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
    if s.c2st_repeats > 1:
        runs = [c2["generated"]]
        for r in range(1, s.c2st_repeats):
            base = 10**6 + s.seed * 1000 + 10 * r  # apart from every single-draw seed
            gen = [
                generate_uint8(
                    model,
                    n,
                    seed=base + k,
                    compute=compute,
                    psi=s.psi,
                    batch=s.gen_batch,
                    progress=lambda i, n=n, r=r: prog(f"generate (classifier draw {r + 1})", i, n),
                )
                for k, n in ((2, n_fit), (3, n_test))
            ]
            runs.append(
                two_sample_test(
                    train.patches[rng.permutation(tr_idx)[:n_fit]],
                    gen[0],
                    held.patches[rng.choice(he_idx, n_test, replace=False)],
                    gen[1],
                    s,
                    device,
                    s.seed + r,
                    lambda e, m, r=r: prog(f"classifier: generated (draw {r + 1})", e, m),
                )
            )
        c2["generated"] = pool_draws(runs)
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
        f"{s.c2st_width}..128 ch, {s.c2st_norm} norm, LeakyReLU, down to 4x4, linear; "
        + (
            f"input image + {s.c2st_detail_gain:g} x (image - 3x3 binomial blur)"
            if s.c2st_detail_gain > 0
            else "input image alone"
        ),
        "optimiser": f"Adam lr {s.c2st_lr}, batch {s.c2st_batch}, rot90/flip augmentation, "
        f"patience {s.c2st_patience} epochs after {s.c2st_min_steps} steps, "
        f"max {s.c2st_max_epochs} epochs",
        "input": "8-bit patches (generated ones quantised like the real ones)",
        "draws": f"generated vs real: mean of {s.c2st_repeats} independent draws"
        if s.c2st_repeats > 1
        else "one draw",
        "patch_spacing_mm": recipe.get("spacing_mm"),
        "resolution": R,
        "kinds": s.kinds,
    }
    return c2
