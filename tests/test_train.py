"""Tiny end-to-end training on phantoms (32x32): both phases, resume, guards, DDP."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from stimstudio.core.device import Compute
from stimstudio.core.errors import CheckpointError, DatasetError
from stimstudio.core.model import load_model
from stimstudio.train.encoder import EncoderTrainConfig, EncoderTrainer
from stimstudio.train.gan import GanConfig, GanTrainer
from stimstudio.train.phantoms import phantom_patch_set

CPU = Compute(torch.device("cpu"), "fp32")


def write_patches(path, n=48, res=32, seed=0):
    patches = phantom_patch_set(n, res, seed)
    masks = np.packbits(np.zeros((n, res, res), bool), axis=-1)
    buf = io.BytesIO()
    np.savez(buf, patches=patches, kind=np.zeros(n, np.uint8), film=np.arange(n), masks=masks)
    path.write_bytes(buf.getvalue())
    return str(path)


TINY_CLI = ["--resolution", "32", "--z-dim", "32", "--w-dim", "32", "--mapping-layers", "2",
            "--channel-base", "256", "--channel-max", "32", "--batch", "4",
            "--precision", "fp32"]  # fmt: skip


def tiny_gan_config(tmp_path, data, **kw):
    base = dict(
        data=data,
        run_dir=str(tmp_path / "run"),
        resolution=32,
        z_dim=32,
        w_dim=32,
        mapping_layers=2,
        channel_base=256,
        channel_max=32,
        batch=4,
        total_kimg=0.032,
        snapshot_kimg=0.016,
        precision="fp32",
        r1_interval=4,
    )
    base.update(kw)
    return GanConfig(**base)


@pytest.fixture(scope="module")
def phantom_data(tmp_path_factory):
    return write_patches(tmp_path_factory.mktemp("data") / "train.npz")


def test_gan_phase_trains_snapshots_and_resumes(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data)
    trainer = GanTrainer(cfg, CPU)
    assert trainer.resume() == "starting a new run"
    g0 = [p.clone() for p in trainer.G.parameters()]
    records = list(trainer.train())
    assert records[-1].kimg >= cfg.total_kimg
    assert all(np.isfinite(r.loss_g) and np.isfinite(r.loss_d) for r in records)
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()))
    run = tmp_path / "run"
    assert (run / "state.pt").exists() and (run / "samples-latest.png").exists()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines and "loss_g" in lines[-1]
    model = load_model(run / "model-gan.safetensors")  # a valid model file
    assert model.resolution == 32
    # Resume continues from the saved counter instead of starting over.
    cfg2 = tiny_gan_config(tmp_path, phantom_data, total_kimg=0.048)
    t2 = GanTrainer(cfg2, CPU)
    assert "resumed" in t2.resume()
    assert t2.nimg == trainer.nimg
    for a, b in zip(t2.G_ema.parameters(), trainer.G_ema.parameters()):
        assert torch.equal(a, b)
    list(t2.train())
    assert t2.nimg > trainer.nimg


def test_resume_with_other_configuration_is_refused(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data)
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    other = GanTrainer(tiny_gan_config(tmp_path, phantom_data, w_dim=16), CPU)
    with pytest.raises(CheckpointError, match="w_dim"):
        other.resume()


def test_divergence_rolls_back_and_never_overwrites_a_good_state(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data)
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    good = (tmp_path / "run" / "state.pt").read_bytes()
    # every loss now counts as diverged
    t.cfg = replace(t.cfg, total_kimg=1.0, divergence_limit=1e-9)
    with pytest.raises(CheckpointError, match="diverged"):
        for rec in t.train():
            assert rec.event and rec.event.startswith("rollback")
    assert (tmp_path / "run" / "state.pt").read_bytes() == good


def test_tiny_or_missing_dataset_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        GanTrainer(tiny_gan_config(tmp_path, str(tmp_path / "none.npz")), CPU)
    small = write_patches(tmp_path / "small.npz", n=3)
    with pytest.raises(DatasetError, match="only 3 patches"):
        GanTrainer(tiny_gan_config(tmp_path, small), CPU)
    with pytest.raises(DatasetError, match="64px"):
        GanTrainer(tiny_gan_config(tmp_path, write_patches(tmp_path / "r64.npz", res=64)), CPU)


def tiny_encoder_config(tmp_path, data, **kw) -> EncoderTrainConfig:
    """A GAN phase trained on the phantoms, and an encoder run against its model file."""
    gan = GanTrainer(tiny_gan_config(tmp_path, data), CPU)
    gan.resume()
    list(gan.train())
    base = dict(
        data=data,
        weights=str(tmp_path / "run" / "model-gan.safetensors"),
        run_dir=str(tmp_path / "enc"),
        lr=1e-3,
        precision="fp32",
    )
    base.update(kw)
    return EncoderTrainConfig(**base)


def test_encoder_phase_lowers_reconstruction_loss(tmp_path, phantom_data):
    cfg = tiny_encoder_config(tmp_path, phantom_data, batch=8, total_kimg=0.24, snapshot_kimg=0.12)
    trainer = EncoderTrainer(cfg, CPU)
    trainer.resume()
    recs = list(trainer.train())
    first = np.mean([r.losses["pixel"] for r in recs[:3]])
    last = np.mean([r.losses["pixel"] for r in recs[-3:]])
    assert last < first
    model = load_model(tmp_path / "enc" / "model-encoder.safetensors")
    assert model.card["phase"] == "encoder"
    # G is frozen in phase 2: its weights equal the phase-1 file's.
    g1 = load_model(cfg.weights).G.state_dict()
    for k, v in model.G.state_dict().items():
        assert torch.allclose(v, g1[k], atol=1e-2), k
    # D was fine-tuned for Eq. 3, but the file ships the phase-1 D whose features the encoder
    # was trained against (inversion uses them as "discriminator-blocks1-3")
    d1 = load_model(cfg.weights).D.state_dict()
    assert any(not torch.equal(v, d1[k]) for k, v in trainer.model.D.state_dict().items())
    for k, v in model.D.state_dict().items():
        assert torch.equal(v, d1[k]), k

    # A new run warm-started from that encoder begins with its weights, not random ones.
    warm = EncoderTrainer(
        dataclasses.replace(
            cfg,
            run_dir=str(tmp_path / "enc2"),
            init_encoder=str(tmp_path / "enc" / "model-encoder.safetensors"),
        ),
        CPU,
    )
    assert "initialised from" in warm.resume()
    e1 = model.E.state_dict()
    for k, v in warm.model.E.state_dict().items():
        if v.dtype.is_floating_point and k != "w_avg":
            assert torch.allclose(v, e1[k].float(), atol=1e-2), k
    cold = EncoderTrainer(dataclasses.replace(cfg, run_dir=str(tmp_path / "enc3")), CPU)
    cold.resume()
    assert not all(
        torch.allclose(v, e1[k].float(), atol=1e-2)
        for k, v in cold.model.E.state_dict().items()
        if v.dtype.is_floating_point
    )
    # a phase-1 file has no trained encoder: refused, not silently used
    with pytest.raises(CheckpointError, match="no trained encoder"):
        EncoderTrainer(
            dataclasses.replace(cfg, run_dir=str(tmp_path / "enc4"), init_encoder=cfg.weights),
            CPU,
        ).resume()


DDP_SCRIPT = r"""
import hashlib, os, sys, torch
from stimstudio.core.device import Compute
from stimstudio.train.distributed import init_distributed, cleanup
from stimstudio.train.gan import GanConfig, GanTrainer
torch.set_num_threads(1)
d = init_distributed(torch.device("cpu"))
cfg = GanConfig(data=sys.argv[1], run_dir=sys.argv[2], resolution=32, z_dim=32, w_dim=32,
                mapping_layers=2, channel_base=256, channel_max=32, batch=4, total_kimg=0.024,
                snapshot_kimg=1.0, precision="fp32", r1_interval=2)
t = GanTrainer(cfg, Compute(torch.device("cpu"), "fp32"), d)
t.resume()
for _ in t.train():
    pass
h = hashlib.sha256()
for net in (t.G, t.D, t.G_ema):
    for p in net.state_dict().values():
        h.update(p.detach().numpy().tobytes())
with open(f"{sys.argv[2]}-rank{d.rank}.txt", "w") as f:  # not stdout: ranks' lines interleave
    f.write(f"{h.hexdigest()} {t.nimg}")
cleanup(d)
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_cpu_ranks_end_with_identical_weights(tmp_path, phantom_data):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_port", str(free_port()), str(script), phantom_data, str(tmp_path / "ddp"),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    digests = [(tmp_path / f"ddp-rank{r}.txt").read_text().split() for r in (0, 1)]
    assert digests[0][0] == digests[1][0]
    assert int(digests[0][1]) >= 24  # both ranks counted the global batch


def test_train_cli_both_phases_and_publish(tmp_path, phantom_data, capsys):
    from stimstudio.cli.main import main

    tiny = TINY_CLI
    run = tmp_path / "gan"
    code = main(["train", "gan", "--data", phantom_data, "--run-dir", str(run), *tiny,
                 "--total-kimg", "0.016", "--snapshot-kimg", "0.008", "--quiet", "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["kimg"] >= 0.016  # stdout: the JSON only
    code = main(["train", "encoder", "--data", phantom_data, "--weights",
                 str(run / "model-gan.safetensors"), "--run-dir", str(tmp_path / "enc"),
                 "--batch", "4", "--total-kimg", "0.016", "--precision", "fp32", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    out = tmp_path / "weights" / "shipped.safetensors"
    out.parent.mkdir()
    code = main(["train", "publish", str(tmp_path / "enc" / "model-encoder.safetensors"),
                 "--out", str(out), "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    m = load_model(out)
    assert m.card["name"] == "shipped" and m.card["phase"] == "encoder"
    assert m.card["software"]["stimstudio"]
    # a second publish without --force is refused with one line
    code = main(
        ["train", "publish", str(tmp_path / "enc" / "model-encoder.safetensors"), "--out", str(out)]
    )
    assert code == 2 and "--force" in capsys.readouterr().err


def test_path_length_regularisation_runs_and_resumes(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data, pl_weight=2.0, pl_interval=2)
    t = GanTrainer(cfg, CPU)
    t.resume()
    assert t.opt_g.param_groups[0]["lr"] < cfg.lr  # lazy regularisation scales the lr
    recs = list(t.train())
    assert recs and all(np.isfinite(r.loss_g) for r in recs)
    pl = float(t.pl_mean)
    assert pl > 0  # the running mean of |J^T y| is tracked
    again = GanTrainer(cfg, CPU)
    again.resume()
    assert float(again.pl_mean) == pytest.approx(pl)


def test_full_disk_keeps_the_previous_state_and_says_so_in_one_line(
    tmp_path, phantom_data, capsys, monkeypatch
):
    from stimstudio.cli.main import main

    tiny = TINY_CLI
    run = tmp_path / "gan"
    argv = ["train", "gan", "--data", phantom_data, "--run-dir", str(run), *tiny, "--quiet"]
    assert main([*argv, "--total-kimg", "0.008", "--snapshot-kimg", "0.008"]) == 0
    good = (run / "state.pt").read_bytes()
    real_save = torch.save

    def full_disk(obj, f, *a, **k):  # half a file, then what torch's zip writer raises
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data/3: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    capsys.readouterr()
    assert main([*argv, "--total-kimg", "0.016", "--snapshot-kimg", "0.008"]) == 2
    err = capsys.readouterr().err
    assert "previous state is kept" in err and "disk" in err and err.count("\n") == 1
    assert (run / "state.pt").read_bytes() == good
    assert not (run / "state.pt.part").exists()
    monkeypatch.setattr(torch, "save", real_save)
    # a model file that cannot be written: one line, no half file left behind
    import errno

    import stimstudio.core.model as model_mod

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", a[1] if len(a) > 1 else None)

    monkeypatch.setattr(model_mod, "save_file", no_space)
    out = tmp_path / "w" / "m.safetensors"
    out.parent.mkdir()
    code = main(["train", "publish", str(run / "model-gan.safetensors"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "the disk is full" in err and err.count("\n") == 1
    assert list(out.parent.iterdir()) == []


def test_unreadable_state_resumes_from_the_one_before_and_says_so(tmp_path, phantom_data):
    cfg = tiny_gan_config(tmp_path, phantom_data, snapshot_kimg=0.008, total_kimg=0.016)
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    run = tmp_path / "run"
    assert (run / "state-prev.pt").exists()
    (run / "state.pt").write_bytes(b"truncated")
    msg = GanTrainer(cfg, CPU).resume()
    assert "state-prev.pt" in msg and "state.pt" in msg and "the state before it was used" in msg


def test_each_rank_draws_its_own_noise_after_identical_weights(tmp_path, phantom_data):
    """Model.create seeds globally; a rank's own seed must come after it, or every rank
    trains on the same z, mixing, noise and augmentation (the world size buys nothing)."""
    from stimstudio.train.distributed import Dist

    draws, weights = [], []
    for rank in (0, 1):
        t = GanTrainer(tiny_gan_config(tmp_path, phantom_data), CPU, Dist(rank, 2, rank))
        weights.append(next(t.G.parameters()).clone())
        draws.append(torch.randn(8))
    assert torch.equal(weights[0], weights[1])  # same start on every rank
    assert not torch.equal(draws[0], draws[1])  # different random streams


@pytest.mark.parametrize("flag", ["r1_interval", "pl_interval"])
def test_interval_zero_turns_the_regulariser_off(tmp_path, phantom_data, flag):
    cfg = tiny_gan_config(tmp_path, phantom_data, pl_weight=2.0, **{flag: 0})
    t = GanTrainer(cfg, CPU)
    t.resume()
    assert t.opt_d.param_groups[0]["lr"] > 0 and t.opt_g.param_groups[0]["lr"] > 0
    recs = list(t.train())
    assert recs and all(np.isfinite(r.loss_g) for r in recs)
    if flag == "r1_interval":
        assert all(r.r1 is None for r in recs)


def test_time_limit_stops_early_and_saves_the_state(tmp_path, phantom_data, capsys):
    from stimstudio.cli.main import main

    tiny = TINY_CLI
    run = tmp_path / "gan"
    code = main(["train", "gan", "--data", phantom_data, "--run-dir", str(run), *tiny,
                 "--total-kimg", "100", "--time-limit-minutes", "1e-6", "--quiet", "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["kimg"] < 1  # stopped long before 100 kimg
    assert (run / "state.pt").exists() and (run / "model-gan.safetensors").exists()
    # the encoder phase too (a GPU slot for the encoder after the generator)
    enc = tmp_path / "enc"
    code = main(["train", "encoder", "--data", phantom_data, "--weights",
                 str(run / "model-gan.safetensors"), "--run-dir", str(enc), "--batch", "4",
                 "--total-kimg", "100", "--precision", "fp32", "--time-limit-minutes", "1e-6",
                 "--quiet", "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["kimg"] < 1
    assert (enc / "state.pt").exists() and (enc / "model-encoder.safetensors").exists()


@pytest.mark.parametrize("flag", ["--r1-interval", "--pl-interval"])
def test_negative_interval_is_one_line(tmp_path, phantom_data, capsys, flag):
    from stimstudio.cli.main import main

    code = main(["train", "gan", "--data", phantom_data, "--run-dir", str(tmp_path / "g"),
                 flag, "-1", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and flag in err


def test_resume_with_a_new_learning_rate_uses_it_and_says_so(tmp_path, phantom_data):
    # torch's Optimizer.load_state_dict restores the saved lr; the divergence guard's advice
    # ("lower --lr") would otherwise be silently ignored on resume.
    t = GanTrainer(tiny_gan_config(tmp_path, phantom_data, lr=0.002), CPU)
    t.resume()
    list(t.train())
    moments = [t.opt_g.state[p]["exp_avg"].clone() for p in t.G.parameters()]
    more = GanTrainer(tiny_gan_config(tmp_path, phantom_data, lr=0.0005, total_kimg=0.048), CPU)
    msg = more.resume()
    assert "learning rate 0.002 -> 0.0005" in msg
    assert all(g["lr"] == pytest.approx(0.0005) for g in more.opt_g.param_groups)
    assert all(g["lr"] == pytest.approx(0.0005 * 4 / 5) for g in more.opt_d.param_groups)
    for p, m in zip(more.G.parameters(), moments):  # the moments still come from the state
        torch.testing.assert_close(more.opt_g.state[p]["exp_avg"], m)
    list(more.train())  # its state now holds the new rate: resuming with it is no change
    same = GanTrainer(tiny_gan_config(tmp_path, phantom_data, lr=0.0005), CPU)
    assert "learning rate" not in same.resume()


def test_encoder_resume_with_a_new_learning_rate_uses_it(tmp_path, phantom_data):
    cfg = tiny_encoder_config(
        tmp_path, phantom_data, batch=4, total_kimg=0.008, snapshot_kimg=0.008
    )
    t = EncoderTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    more = EncoderTrainer(dataclasses.replace(cfg, lr=2e-4, total_kimg=0.016), CPU)
    assert "learning rate 0.001 -> 0.0002" in more.resume()
    assert [g["lr"] for g in more.opt_e.param_groups + more.opt_d.param_groups] == [2e-4, 2e-4]


def test_resume_at_or_past_total_kimg_is_one_line_and_keeps_the_state(
    tmp_path, phantom_data, capsys
):
    from stimstudio.cli.main import main

    run = tmp_path / "gan"
    argv = ["train", "gan", "--data", phantom_data, "--run-dir", str(run), *TINY_CLI, "--quiet"]
    assert main([*argv, "--total-kimg", "0.016", "--snapshot-kimg", "0.008"]) == 0
    state = (run / "state.pt").read_bytes()
    capsys.readouterr()
    assert main([*argv, "--total-kimg", "0.008"]) == 2
    err = capsys.readouterr().err
    assert "already at 0.016 kimg" in err and "raise --total-kimg" in err
    assert err.count("\n") == 1
    assert (run / "state.pt").read_bytes() == state
