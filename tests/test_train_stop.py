"""A training run stopped by SIGTERM (kill, a scheduler, the end of a session) keeps its steps:
it is handled like Ctrl-C, with a snapshot before the run ends."""

from __future__ import annotations

import os
import signal
import types

import pytest

from stimstudio.cli.train import _drive
from stimstudio.train.distributed import Dist


class _Trainer:
    """The part of a trainer `_drive` uses; the second step sends this process a SIGTERM."""

    def __init__(self):
        self.nimg, self.snapshots, self.steps = 0, 0, 0

    def train(self, stop=None):
        while True:
            self.steps += 1
            self.nimg += 16
            if self.steps == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            yield types.SimpleNamespace(kimg=self.nimg / 1000, event=None, loss=0.0)
            if self.steps > 50:  # the signal never came: fail below, do not hang
                return

    def snapshot(self):
        self.snapshots += 1


def test_sigterm_snapshots_like_ctrl_c_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    trainer = _Trainer()
    args = types.SimpleNamespace(quiet=True, json=False)
    with pytest.raises(KeyboardInterrupt):
        _drive(args, trainer, Dist(), 1.0, lambda r: {})
    assert trainer.snapshots == 1
    assert trainer.steps == 2  # stopped at the signal, not after the loop ran out
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_run_already_past_total_kimg_says_so_instead_of_training_nothing():
    """Resuming the shipped 428-kimg file with the default --total-kimg 100 used to end at once
    with "trained to 428 kimg": a researcher would think it had trained."""
    from stimstudio.core.errors import OptionError

    trainer = _Trainer()
    trainer.nimg = 428_000
    args = types.SimpleNamespace(quiet=True, json=False)
    with pytest.raises(OptionError, match=r"already at 428 kimg.*--total-kimg is 100"):
        _drive(args, trainer, Dist(), 100.0, lambda r: {})
    assert trainer.steps == 0 and trainer.snapshots == 0  # nothing trained, nothing written
