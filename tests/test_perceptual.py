"""Perceptual features: local VGG16 file when given (never a download), else D's features."""

from __future__ import annotations

import pytest
import torch
from conftest import smooth_image

from stimstudio.core.errors import CheckpointError
from stimstudio.core.invert import InversionSettings, run_inversion
from stimstudio.core.nets import load_vgg16
from stimstudio.core.nets.perceptual import _vgg16_conv4_3


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    torch.manual_seed(0)
    net = _vgg16_conv4_3()
    state = {f"features.{k}": v for k, v in net.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full torchvision file has more keys
    path = tmp_path_factory.mktemp("vgg") / "vgg16.pth"
    torch.save(state, path)
    return path


def test_local_vgg16_is_used_and_recorded(tiny_model, vgg_file):
    F = load_vgg16(vgg_file)
    assert F.name == "vgg16-conv4_3"
    feats = F(torch.zeros(1, 1, 32, 32))
    assert feats[0].shape == (1, 512, 4, 4)
    res = run_inversion(tiny_model, smooth_image(1), None, InversionSettings(steps=2), perceptual=F)
    assert res.perceptual == "vgg16-conv4_3" == res.latent.source["perceptual"]


def test_bad_vgg16_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_vgg16(tmp_path / "none.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_vgg16(junk)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(CheckpointError, match="not a torchvision vgg16"):
        load_vgg16(other)
