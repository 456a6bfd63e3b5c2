"""Shared fixtures: tiny random-weight models, synthetic images, offscreen Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One thread: the test nets are tiny, and a busy machine with 2 OpenMP threads per process
# stalls at every parallel-region barrier (measured: >10x slower steps under load).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stimstudio.core.model import Model  # noqa: E402
from stimstudio.core.nets import GeneratorConfig  # noqa: E402

torch.set_num_threads(1)

TINY = GeneratorConfig(
    resolution=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32
)


def make_tiny_model(seed: int = 0) -> Model:
    model = Model.create(TINY, seed=seed)
    with torch.no_grad():
        # Give w_avg a realistic value so truncation and the encoder offset are exercised.
        model.G.mapping.w_avg.copy_(model.G.mapping(torch.randn(256, TINY.z_dim)).mean(0))
        model.E.w_avg.copy_(model.G.mapping.w_avg)
        for m in model.G.modules():
            if hasattr(m, "noise_strength"):
                m.noise_strength.fill_(0.1)
    return model


@pytest.fixture(scope="session")
def tiny_model() -> Model:
    return make_tiny_model()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_model) -> str:
    """The tiny model saved as a weights file (fp32 so results match the in-memory model)."""
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    tiny_model.save(path, dtype=torch.float32, kimg=0, note="random weights for tests")
    return str(path)


def smooth_image(seed: int, size: int = 32) -> np.ndarray:
    """A mammogram-ish 1/f^3 texture in [-1, 1]."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1
    spec = (rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))) / f**1.5
    img = np.real(np.fft.ifft2(spec))
    img = (img - img.mean()) / (img.std() + 1e-8)
    return np.clip(img * 0.4, -1, 1).astype(np.float32)
