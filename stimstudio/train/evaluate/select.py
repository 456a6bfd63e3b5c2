"""Choosing a snapshot to ship without touching the held-out patients.

A GAN's generator drifts from snapshot to snapshot: along one recipe the classifier test has
moved by 0.07 within a few kimg (docs/experiments/2026-12-01-the-classifier-cue.md). Picking
the best of several snapshots by the card's held-out number, and then reporting that number,
reports the luck of the pick too. So the choice is made here, on the training patients alone, and the held-out card is
measured afterwards, once, for the one chosen.

The training films are split in two halves (no film on both sides): the classifier learns
real from generated on patches of one half and is tested on the other half's, as the card's
test does with training and held-out patients. Every snapshot meets the same real patches,
the same z and noise seeds and the same classifier seed, so differences between snapshots
are not differences of draw. The generator saw these patients in training, so a generator
that copied its training patches would look better here than on the card; at these data
sizes a copying generator is not what the card has shown, and the card, measured after the
choice, would show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...core.device import Compute
from ...core.errors import DatasetError
from ...core.model import Model
from ..dataset import PatchSet
from .c2st import _film_halves, pool_draws, two_sample_test
from .data import generate_uint8
from .settings import EvalSettings

# a sampler: (n, seed) -> n patches uint8 [n, R, R]; a model's is `generate_uint8`
Sampler = Callable[[int, int], np.ndarray]


@dataclass
class SelectionSplit:
    """The real patches every snapshot is judged against: two halves of the training films."""

    fit_real: np.ndarray
    test_real: np.ndarray
    fit_films: int
    test_films: int


def selection_split(train: PatchSet, n_fit: int, n_test: int, seed: int = 0) -> SelectionSplit:
    """`n_fit` patches from one half of the training films, `n_test` from the other half."""
    rng = np.random.default_rng([seed, 31])
    a, b = _film_halves(train, np.arange(len(train)), rng)
    if len(a) < n_fit or len(b) < n_test:
        raise DatasetError(
            f"the training films give {len(a)} and {len(b)} patches in their two halves; the "
            f"selection needs {n_fit} and {n_test} (use smaller --fit / --test)"
        )
    fit = rng.choice(a, n_fit, replace=False)
    test = rng.choice(b, n_test, replace=False)
    return SelectionSplit(
        train.patches[fit],
        train.patches[test],
        len(np.unique(train.film[a])),
        len(np.unique(train.film[b])),
    )


def selection_score(
    sampler: Sampler,
    split: SelectionSplit,
    s: EvalSettings,
    device="cpu",
    draws: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """The classifier test of one generator on the training films: mean accuracy over
    `draws` (each a fresh classifier and fresh samples; the same seeds for every generator)."""
    runs = []
    for d in range(draws):
        base = 7_000_000 + 1000 * d  # apart from the card's generated seeds
        fit_gen = sampler(len(split.fit_real), base + 2)
        test_gen = sampler(len(split.test_real), base + 3)
        runs.append(
            two_sample_test(
                split.fit_real, fit_gen, split.test_real, test_gen, s, device, s.seed + d, progress
            )
        )
    pooled = runs[0] if draws == 1 else pool_draws(runs)  # Student t over the draws
    return {
        "accuracy": float(pooled["accuracy"]),
        "accuracy_draws": [r["accuracy"] for r in runs],
        "accuracy_ci95": pooled["accuracy_ci95"],
        "auc": float(pooled["auc"]),
        "test_per_side": runs[0]["test_per_side"],
    }


def model_sampler(model: Model, s: EvalSettings, compute: Compute | None = None) -> Sampler:
    """The sampler the card's classifier test uses: random z, random noise inputs, seeded."""

    def sample(n: int, seed: int) -> np.ndarray:
        return generate_uint8(model, n, seed, compute=compute, psi=s.psi, batch=s.gen_batch)

    return sample
