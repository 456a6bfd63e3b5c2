"""The GPU-burst round trip: films and networks packed small, patches cut again, a training
state rebuilt from fp16 pieces and resumed."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open

from stimstudio.core.errors import CheckpointError
from stimstudio.train import burst
from stimstudio.train.dataset import load_patches
from stimstudio.train.gan import GanTrainer
from tests.test_train import CPU, tiny_gan_config, write_patches


def _film(seed: int, size: int = 160) -> np.ndarray:
    """A bright textured half-disc (the breast) on black film."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    breast = (xx - 0) ** 2 + (yy - size / 2) ** 2 < (0.9 * size) ** 2
    tex = cv2.GaussianBlur(rng.uniform(0, 1, (size, size)).astype(np.float32), (0, 0), 2)
    img = np.where(breast, 0.4 + 0.5 * tex, 0.0)
    img[:, -6:] = 0  # a padding band at the right, as mini-MIAS films have
    return np.round(img * 255).astype(np.uint8)


@pytest.fixture
def films(tmp_path):
    src = tmp_path / "films"
    src.mkdir()
    names = []
    for i in range(3):
        name = f"film{i}.png"
        cv2.imwrite(str(src / name), _film(i))
        names.append(name)
    recipe = {"resolution": 32, "spacing_mm": 0.4, "min_breast_fraction": 0.95, "seed": 0}
    man = tmp_path / "manifest.json"
    man.write_text(
        json.dumps({"recipe": recipe, "films": {"train": names[:2], "heldout": names[2:]}})
    )
    return src, man


def test_packed_films_are_lossless_and_cut_into_a_patch_file(tmp_path, films):
    src, man = films
    pack = tmp_path / "pack"
    assert burst.pack_films(src, man, pack) == 2
    packed = sorted(p.name for p in (pack / burst.FILMS).iterdir())
    assert packed == ["film0.webp", "film1.webp"]  # the held-out film stays home
    back = cv2.imread(str(pack / burst.FILMS / "film0.webp"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(back, _film(0))  # no rescale needed (no spacing): byte-exact
    info = json.loads((pack / burst.LESIONS).read_text())
    info["lesions"]["film1.png"] = [{"kind": "mass", "center": [50.0, 80.0], "radius": 6.0}]
    (pack / burst.LESIONS).write_text(json.dumps(info))
    counts = burst.cut_packed(pack, tmp_path / "train.npz", tissue=5, lesion=4, workers=1)
    ps = load_patches(tmp_path / "train.npz")
    assert counts["patches"] == len(ps) and counts["films"] == 2
    assert ps.patches.shape[1:] == (32, 32) and ps.patches.dtype == np.uint8
    assert set(ps.film.tolist()) == {0, 1} and (ps.kind == 0).sum() == 10
    lesion = ps.kind == 1
    assert 0 < lesion.sum() <= 4 and ps.masks[lesion].any(axis=(1, 2)).all()
    assert ps.patches[ps.kind == 0].mean() > 0.4 * 255  # tissue patches lie in the breast


def test_compact_pieces_restore_a_state_that_resumes(tmp_path):
    data = write_patches(tmp_path / "train.npz")
    cfg = tiny_gan_config(tmp_path, data, discriminator="projected")
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    pieces = burst.save_compact(tmp_path / "run" / "state.pt", tmp_path / "back", "final")
    assert [p.name for p in pieces] == [f"final-{n}.safetensors" for n in burst.NETWORKS]
    with safe_open(str(pieces[0]), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
        assert all(f.get_tensor(k).dtype != torch.float32 for k in f.keys())
    assert meta["nimg"] == t.nimg and meta["config"]["discriminator"] == "projected"

    d_before = {k: v.clone() for k, v in t.D.state_dict().items()}
    r = burst.restore_state(
        str(tmp_path / "back" / "final"), tmp_path / "home", data, snapshot=True
    )
    assert r.nimg == t.nimg and r.step == t.step
    for a, b in zip(t.G_ema.parameters(), r.G_ema.parameters()):
        assert torch.allclose(a, b, rtol=1e-2, atol=1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(r.G.parameters(), r.G_ema.parameters()))
    # D (the encoder's perceptual features) comes back as it went, not freshly initialised
    for k, v in r.D.state_dict().items():
        assert torch.allclose(v.float(), d_before[k].float(), rtol=1e-2, atol=1e-3), k
    assert (tmp_path / "home" / "model-gan.safetensors").is_file()
    again = GanTrainer(
        tiny_gan_config(
            tmp_path / "h",
            data,
            discriminator="projected",
            run_dir=str(tmp_path / "home"),
            total_kimg=0.05,
        ),
        CPU,
    )
    assert again.resume().startswith(f"resumed from {tmp_path / 'home' / 'state.pt'}")
    assert list(again.train())[-1].kimg > t.nimg / 1000


def test_restore_names_the_missing_piece(tmp_path):
    data = write_patches(tmp_path / "train.npz")
    with pytest.raises(CheckpointError, match="final-G_ema.safetensors is missing"):
        burst.restore_state(str(tmp_path / "final"), tmp_path / "run", data)
    cfg = tiny_gan_config(tmp_path, data, discriminator="projected")
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    burst.save_compact(tmp_path / "run" / "state.pt", tmp_path / "back", "mid1", ("G_ema",))
    with pytest.raises(CheckpointError, match="mid1-P.safetensors is missing"):
        burst.restore_state(str(tmp_path / "back" / "mid1"), tmp_path / "r2", data)
    burst.save_compact(tmp_path / "run" / "state.pt", tmp_path / "back", "old", ("G_ema", "P"))
    with pytest.raises(CheckpointError, match="old-D.safetensors is missing"):
        burst.restore_state(str(tmp_path / "back" / "old"), tmp_path / "r3", data)


def test_encoder_burst_without_the_feature_network(tmp_path, tiny_weights):
    """Encoder alone: G_ema and D travel (no P, so no Lite0 there), the encoder starts from
    a model file's, trains, and its E piece becomes an encoder run dir here."""
    from stimstudio.cli.main import main
    from stimstudio.core.model import load_model

    data = write_patches(tmp_path / "train.npz")
    cfg = tiny_gan_config(tmp_path, data, discriminator="projected")
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    pack = tmp_path / "pack"
    burst.save_compact(tmp_path / "run" / "state.pt", pack, burst.STATE, ("G_ema", "D"))
    src = burst.pack_encoder(tiny_weights, pack)
    assert src.name == "encoder-E.safetensors"
    there = burst.gan_model(pack, tmp_path / "there" / "model-gan.safetensors")
    m = load_model(there, with_projected=True)
    assert m.P is None and m.card["kimg"] == round(t.nimg / 1000, 3)
    enc = burst.encoder_state(
        str(pack / burst.ENCODER), tmp_path / "there" / "enc", there, data, batch=4
    )
    assert enc.nimg == 0
    code = main(["train", "encoder", "--data", data, "--weights", str(there), "--run-dir",
                 str(tmp_path / "there" / "enc"), "--batch", "4", "--total-kimg", "0.016",
                 "--precision", "fp32", "--quiet"])  # fmt: skip
    assert code == 0
    back = burst.save_compact(
        tmp_path / "there" / "enc" / "state.pt", tmp_path / "out", "enc", ("E",)
    )
    assert [p.name for p in back] == ["enc-E.safetensors"]
    # home: the generator with its projected discriminator, and the encoder from the piece
    home_g = tmp_path / "home" / "model-gan.safetensors"
    t.snapshot()
    home_g.parent.mkdir()
    home_g.write_bytes((tmp_path / "run" / "model-gan.safetensors").read_bytes())
    home_g.with_suffix(".json").write_bytes((tmp_path / "run" / "model-gan.json").read_bytes())
    e = burst.encoder_state(str(tmp_path / "out" / "enc"), tmp_path / "home" / "enc", home_g,
                            data, snapshot=True)  # fmt: skip
    assert e.nimg >= 16
    out = load_model(tmp_path / "home" / "enc" / "model-encoder.safetensors", with_projected=True)
    assert out.card["phase"] == "encoder" and out.P is not None
    trained = torch.load(tmp_path / "there" / "enc" / "state.pt", weights_only=False)["E"]
    for k, v in out.E.state_dict().items():
        if k != "w_avg":
            assert torch.allclose(v.float(), trained[k].float(), rtol=1e-2, atol=1e-3), k


def test_a_kept_snapshot_comes_back_as_a_piece_that_unpacks_at_its_own_kimg(tmp_path):
    """The slot's `train select` picks a kept snapshot; only its G_ema travels back."""
    from stimstudio.core.model import load_model

    data = write_patches(tmp_path / "train.npz")
    cfg = tiny_gan_config(tmp_path, data, discriminator="projected", keep_snapshots=True)
    t = GanTrainer(cfg, CPU)
    t.resume()
    list(t.train())
    run = tmp_path / "run"
    first = sorted(run.glob("model-gan-*kimg.safetensors"))[0]
    snap = load_model(first)
    assert snap.card["kimg"] * 1000 < t.nimg  # an earlier point than the state's
    piece = burst.export_model(first, run / "state.pt", tmp_path / "back", "best")
    assert piece.name == "best-G_ema.safetensors"
    burst.save_compact(run / "state.pt", tmp_path / "back", "state", ("P", "D"))
    r = burst.restore_state(
        str(tmp_path / "back" / "best"),
        tmp_path / "home",
        data,
        p_prefix=str(tmp_path / "back" / "state"),
    )
    assert r.nimg == round(snap.card["kimg"] * 1000)
    for k, v in snap.G.state_dict().items():
        assert torch.allclose(r.G_ema.state_dict()[k].float(), v.float(), rtol=1e-2, atol=1e-3), k
    other = tmp_path / "other"
    t2 = GanTrainer(tiny_gan_config(other, data, channel_max=16), CPU)
    t2.resume()
    list(t2.train())
    with pytest.raises(CheckpointError, match="not a snapshot of this run"):
        burst.export_model(other / "run" / "model-gan.safetensors", run / "state.pt", tmp_path, "x")
