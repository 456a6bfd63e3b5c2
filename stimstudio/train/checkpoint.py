"""Resumable training state: written atomically, the previous one kept until the new one is whole.

`runs/<name>/state.pt` holds networks, optimizers, augmentation policy, counters and RNG
states; `state-prev.pt` is the one before. A diverged run never overwrites a good state: the
caller checks losses before saving.
"""

from __future__ import annotations

import contextlib
import errno
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
    """Write `state` whole or not at all; on failure the previous state.pt stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        torch.save(state, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as exc:  # torch's zip writer reports a full disk as RuntimeError
        with contextlib.suppress(OSError):
            tmp.unlink()
        kept = " (the previous state is kept)" if path.exists() else ""
        raise CheckpointError(f"could not write training state {path}{kept}: {_why(exc)}") from exc
    if path.exists():
        os.replace(path, path.with_name(path.stem + "-prev" + path.suffix))
    os.replace(tmp, path)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full; free some space and resume"
    text = str(exc)
    if "write" in text.lower() and isinstance(exc, RuntimeError):
        return f"{text.splitlines()[0]} (is the disk full?)"
    return text.splitlines()[0] if text else type(exc).__name__


def load_state(path: str | Path) -> dict:
    """The state at `path`, or the one before it when `path` is unreadable (then the returned
    dict's "loaded_from" names state-prev.pt and "unreadable" says what was wrong)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        state["loaded_from"] = str(path)
        return state
    except Exception as exc:  # a missing file or a truncated pickle raise several kinds
        prev = path.with_name(path.stem + "-prev" + path.suffix)
        if prev.exists():
            try:
                state = torch.load(prev, map_location="cpu", weights_only=False)
            except Exception as exc2:
                raise CheckpointError(
                    f"training states {path.name} and {prev.name} are both unreadable: {exc2}"
                ) from exc2
            state["loaded_from"] = str(prev)
            state["unreadable"] = f"{path.name}: {str(exc).splitlines()[0] if str(exc) else exc}"
            return state
        raise CheckpointError(f"training state {path} is unreadable: {exc}") from exc
