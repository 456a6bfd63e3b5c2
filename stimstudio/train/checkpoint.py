"""Resumable training state: written atomically, the previous one kept until the new one is whole.

`runs/<name>/state.pt` holds networks, optimizers, augmentation policy, counters and RNG
states; `state-prev.pt` is the one before. A diverged run never overwrites a good state: the
trainers check their losses before saving, and both follow one policy (`DivergenceGuard`):
roll back to the last good state and take another random path from there, at most three times.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import math
import os
import random
from collections.abc import Callable, Mapping
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


def has_state(path: str | Path) -> bool:
    """Whether `load_state(path)` has a state to read (state.pt or the one before it)."""
    path = Path(path)
    return path.exists() or path.with_name(path.stem + "-prev" + path.suffix).exists()


def load_optimizer(
    opt: torch.optim.Optimizer, saved: dict, positions: list[int] | None = None
) -> str:
    """Adam's moments from a resume state, its settings (lr, betas, eps) from this run.

    torch's `load_state_dict` also restores the saved learning rate, so a resumed run given a
    new `--lr` (the divergence guard's own advice) would silently train with the old one.
    `positions`: the optimizer has more parameters than were saved (a discriminator part
    added on resume); the saved parameters are, in order, those at these positions of its one
    group; they keep their moments, the others start without. Returns a note for the resume
    message when the learning rate changed, else "".
    """
    keys = ("lr", "betas", "eps")
    wanted = [{k: g[k] for k in keys if k in g} for g in opt.param_groups]
    if positions is not None:
        saved = copy.deepcopy(saved)
        (group,) = saved["param_groups"]
        if len(positions) != len(group["params"]):
            raise CheckpointError(
                f"the resume state's optimizer has {len(group['params'])} parameters, "
                f"{len(positions)} were expected"
            )
        have = len(opt.param_groups[0]["params"])
        ids = sorted(group["params"])  # saved ids follow the saved parameter order
        remap = dict(zip(ids, positions))
        saved["state"] = {remap[k]: v for k, v in saved["state"].items()}
        group["params"] = list(range(have))
    opt.load_state_dict(saved)
    was = [g["lr"] for g in opt.param_groups]
    for g, w in zip(opt.param_groups, wanted):
        g.update(w)
    now = [g["lr"] for g in opt.param_groups]
    if all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(was, now)):
        return ""
    return f"learning rate {was[0]:g} -> {now[0]:g}"


def diverged(losses: Mapping[str, float], limit: float) -> bool:
    """A loss that is not finite, or larger than `limit` in size."""
    return not all(math.isfinite(v) and abs(v) <= limit for v in losses.values())


class DivergenceGuard:
    """The trainers' one divergence policy: roll back, reseed, give up after `max_rollbacks`.

    A run whose losses blow up is not stopped at once (a single bad batch or an unlucky
    random draw would end a day's run): its networks, optimizers and counters go back to the
    last good state on disk, torch is reseeded so the run takes another random path from there
    (and `rng`, a numpy Generator the trainer draws batches from, when given), and training
    goes on. Only when that happens more than `max_rollbacks` times, or no state was saved yet,
    does the run end, with one message that says what to change (`advice`).
    """

    def __init__(
        self, state_path: str | Path, seed: int, advice: str, max_rollbacks: int = 3
    ) -> None:
        self.state_path = Path(state_path)
        self.seed, self.advice, self.max_rollbacks = seed, advice, max_rollbacks
        self.rollbacks = 0

    def rollback(
        self,
        losses: Mapping[str, float],
        load: Callable[[dict], None],
        rng: np.random.Generator | None = None,
        what: str = "training",
    ) -> str:
        """Load the last good state through `load` and reseed; the event text to report.

        losses: the losses that diverged, by the name to show ("D", "G", ...). The new seed
        counts the rollbacks, so each one draws anew. Raises CheckpointError when the run
        should end instead.
        """
        self.rollbacks += 1
        text = "loss " + ", ".join(f"{k} {v:.3g}" for k, v in losses.items())
        if self.rollbacks > self.max_rollbacks or not has_state(self.state_path):
            raise CheckpointError(
                f"{what} diverged ({text}) and no good state is left to roll back to; {self.advice}"
            )
        state = load_state(self.state_path)
        load(state)
        seed = self.seed + 7919 * self.rollbacks + state["step"]  # not the same path again
        torch.manual_seed(seed)
        if rng is not None:
            rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        return f"rollback to {state['nimg'] / 1000:.1f} kimg after {text}"
