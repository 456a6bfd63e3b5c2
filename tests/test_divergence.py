"""One divergence policy for both trainers (train/checkpoint.py): roll back, reseed, give up."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stimstudio.core.errors import CheckpointError
from stimstudio.train.checkpoint import DivergenceGuard, diverged, load_state, save_state
from stimstudio.train.encoder import EncoderTrainConfig, EncoderTrainer
from stimstudio.train.gan import GanTrainer
from tests.test_train import CPU, tiny_gan_config, write_patches


def test_diverged_means_not_finite_or_too_large():
    assert not diverged({"D": 1.5, "G": -3.0}, 10.0)
    assert diverged({"D": 1.5, "G": 11.0}, 10.0)
    assert diverged({"D": -11.0}, 10.0)
    assert diverged({"D": math.nan}, 10.0)
    assert diverged({"G": math.inf}, 1e30)


def test_guard_without_a_saved_state_ends_the_run_in_one_message(tmp_path):
    guard = DivergenceGuard(tmp_path / "state.pt", seed=0, advice="lower --lr")
    with pytest.raises(CheckpointError) as err:
        guard.rollback({"E": math.nan, "D": 0.5}, lambda st: None, what="encoder training")
    msg = str(err.value)
    assert msg == (
        "encoder training diverged (loss E nan, D 0.5) and no good state is left to roll back "
        "to; lower --lr"
    )


def test_guard_loads_the_last_good_state_reseeds_and_gives_up_after_the_limit(tmp_path):
    save_state(tmp_path / "state.pt", {"nimg": 1500, "step": 375, "w": torch.ones(2)})
    loaded = []
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    guard = DivergenceGuard(tmp_path / "state.pt", seed=5, advice="x", max_rollbacks=2)
    event = guard.rollback({"D": 1e9}, loaded.append, rng=rng)
    assert event == "rollback to 1.5 kimg after loss D 1e+09"
    assert torch.equal(loaded[0]["w"], torch.ones(2))
    assert rng.bit_generator.state != before  # another random path from the same state
    draws_after_first = torch.rand(3)
    guard.rollback({"D": 1e9}, loaded.append, rng=rng)
    assert not torch.equal(torch.rand(3), draws_after_first)  # each rollback draws anew
    with pytest.raises(CheckpointError, match="no good state is left"):
        guard.rollback({"D": 1e9}, loaded.append, rng=rng)
    assert len(loaded) == 2


@pytest.fixture(scope="module")
def gan_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gan")
    data = write_patches(tmp / "train.npz")
    gan = GanTrainer(tiny_gan_config(tmp, data, total_kimg=0.016, snapshot_kimg=0.016), CPU)
    gan.resume()
    list(gan.train())
    return data, str(tmp / "run" / "model-gan.safetensors")


def _encoder(tmp_path, gan_model, **kw):
    data, weights = gan_model
    cfg = EncoderTrainConfig(
        data=data,
        weights=weights,
        run_dir=str(tmp_path / "enc"),
        batch=4,
        total_kimg=0.016,
        snapshot_kimg=0.008,
        precision="fp32",
        **kw,
    )
    trainer = EncoderTrainer(cfg, CPU)
    trainer.resume()
    list(trainer.train())  # a good state on disk
    return trainer


def test_encoder_rolls_back_one_diverged_step_and_trains_on(tmp_path, gan_model):
    t = _encoder(tmp_path, gan_model)
    state_path = tmp_path / "enc" / "state.pt"
    saved = load_state(state_path)
    real_step, calls = t._step, []

    def one_bad_step(x):
        losses = real_step(x)  # the weights do move on this step
        calls.append(1)
        return {**losses, "loss_e": math.nan} if len(calls) == 1 else losses

    t._step = one_bad_step
    t.cfg.total_kimg = 0.032
    records = iter(t.train())
    first = next(records)
    assert first.event == f"rollback to {saved['nimg'] / 1000:.1f} kimg after loss E nan, D " + (
        f"{first.losses['loss_d']:.3g}"
    )
    assert t.nimg == saved["nimg"] and t.step == saved["step"]
    for name, value in t.model.E.state_dict().items():
        assert torch.equal(value, saved["E"][name]), name  # back to the good state
    rest = list(records)
    assert rest and all(r.event != "rollback" for r in rest)
    assert t.nimg >= 32  # trained on to the end instead of stopping
    assert all(torch.isfinite(p).all() for p in t.model.E.parameters())
    log = (tmp_path / "enc" / "metrics.jsonl").read_text()
    assert '"event": "rollback"' in log


def test_encoder_that_keeps_diverging_stops_and_keeps_the_good_state(tmp_path, gan_model):
    t = _encoder(tmp_path, gan_model)
    good = (tmp_path / "enc" / "state.pt").read_bytes()
    t.cfg.total_kimg = 1.0
    t.cfg.divergence_limit = 1e-12  # every loss now counts as diverged
    events = []
    with pytest.raises(CheckpointError, match="encoder training diverged .* lower --lr"):
        for rec in t.train():
            events.append(rec.event)
    assert len(events) == 3 and all(e.startswith("rollback") for e in events)
    assert (tmp_path / "enc" / "state.pt").read_bytes() == good
