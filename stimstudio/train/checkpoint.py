"""Resumable training state: written atomically, the previous one kept until the new one is whole.

`runs/<name>/state.pt` holds networks, optimizers, augmentation policy, counters and RNG
states; `state-prev.pt` is the one before. A diverged run never overwrites a good state: the
caller checks losses before saving.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ..core.errors import CheckpointError


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - legacy global state is what we save
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])


def save_state(path: str | Path, state: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        torch.save(state, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    except OSError as exc:
        if tmp.exists():
            tmp.unlink()
        raise CheckpointError(f"could not write training state to {path}: {exc}") from exc
    if path.exists():
        os.replace(path, path.with_name(path.stem + "-prev" + path.suffix))
    os.replace(tmp, path)


def load_state(path: str | Path) -> dict:
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated pickle raises several kinds
        prev = path.with_name(path.stem + "-prev" + path.suffix)
        if prev.exists():
            return torch.load(prev, map_location="cpu", weights_only=False)
        raise CheckpointError(f"training state {path} is unreadable: {exc}") from exc
