"""Model files: round trip, and one clear error for each way a file can be wrong."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from stimstudio.core.errors import CheckpointError
from stimstudio.core.model import load_model


def test_roundtrip_is_exact_in_fp32_and_close_in_fp16(tmp_path, tiny_model, tiny_weights):
    m = load_model(tiny_weights)
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, m.state_dict()[k]), k
    assert m.sha256 and m.card["sha256"] == m.sha256
    p16 = tiny_model.save(tmp_path / "half.safetensors")  # default fp16
    m16 = load_model(p16)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = tiny_model.G(z)
        b = m16.G(z)
    assert (a - b).abs().max() < 0.05
    assert m16.G.mapping.w_avg.dtype == torch.float32


def _copy(tiny_weights, tmp_path, name="m"):
    dst = tmp_path / f"{name}.safetensors"
    shutil.copy(tiny_weights, dst)
    shutil.copy(tiny_weights.replace(".safetensors", ".json"), dst.with_suffix(".json"))
    return dst


def test_truncated_file_is_named(tmp_path, tiny_weights):
    dst = _copy(tiny_weights, tmp_path)
    data = dst.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_model(dst)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model(dst, verify_hash=False)


def test_missing_file_and_missing_card(tmp_path, tiny_weights):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nothing.safetensors")
    dst = _copy(tiny_weights, tmp_path)
    dst.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="model card"):
        load_model(dst)


def test_wrong_architecture_names_the_tensor(tmp_path, tiny_weights):
    dst = _copy(tiny_weights, tmp_path)
    card = json.loads(dst.with_suffix(".json").read_text())
    card["architecture"]["generator"]["channel_max"] = 16
    card.pop("sha256")
    dst.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"tensor G\.\S+ has shape"):
        load_model(dst)


def test_other_resolution_is_refused(tiny_weights):
    with pytest.raises(CheckpointError, match="32x32 model; 128x128 is needed"):
        load_model(tiny_weights, expect_resolution=128)


def test_nan_weights_are_refused(tmp_path, tiny_model):
    from stimstudio.core.model import Model

    bad = Model(tiny_model.G, tiny_model.E, tiny_model.D)
    import copy

    bad = copy.deepcopy(bad)
    with torch.no_grad():
        next(bad.G.parameters()).fill_(float("nan"))
    path = bad.save(tmp_path / "nan.safetensors", dtype=torch.float32)
    with pytest.raises(CheckpointError, match="NaN"):
        load_model(path)
