"""The fidelity/realism control of Eq. 4 (issue 37): the prior on W, its projection and
barrier, the batch runner that the realism card uses, and the one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_image

from stimstudio.core.errors import CheckpointError, OptionError
from stimstudio.core.inversion_settings import realism_radius
from stimstudio.core.invert import InversionSettings, run_inversion
from stimstudio.core.invert_batch import invert_batch
from stimstudio.core.realism import RealismCritic, WPrior


@pytest.fixture(scope="module")
def prior(tiny_model):
    return WPrior(tiny_model, samples=4000)


def test_the_generators_own_codes_sit_at_the_typical_distance(tiny_model, prior):
    ws = tiny_model.G.map(torch.randn(500, tiny_model.G.z_dim))
    d = prior.distance(ws)
    assert 0.7 < float(d.median()) < 1.3  # whitened: ~1 per dimension
    assert float(prior.penalty(ws, 6.0).max()) == 0.0  # inside a generous limit: no pull
    # a code far along W's narrowest direction is far out, and penalised
    far = ws[:1].clone()
    narrow = torch.linalg.pinv(prior.whiten)[0]  # the lowest-variance direction, in W units
    far[0] += 50 * narrow / narrow.norm() * narrow.norm()  # moved 50 deviations along it
    assert float(prior.distance(far).max()) > 10 * float(d.median())
    assert float(prior.penalty(far, 6.0)[0]) > 0


def test_projection_clips_only_what_lies_outside_the_limit(tiny_model, prior):
    ws = tiny_model.G.map(torch.randn(20, tiny_model.G.z_dim))
    assert torch.allclose(prior.project(ws, 1e6), ws, atol=1e-3)  # identity inside
    wild = ws + 3.0 * torch.randn_like(ws)
    clipped = prior.project(wild, 2.0)
    assert float(prior.whitened(clipped).abs().max()) <= 2.0 + 1e-3


def test_realism_pulls_the_result_into_w_and_is_recorded(tiny_model):
    target = smooth_image(11)
    plain = run_inversion(tiny_model, target, settings=InversionSettings(steps=15))
    real = run_inversion(tiny_model, target, settings=InversionSettings(steps=15, realism=1.0))
    prior = WPrior(tiny_model)
    far = lambda r: float(prior.whitened(torch.as_tensor(r.latent.wplus)).abs().max())  # noqa: E731
    limit = realism_radius(1.0)
    assert far(real) <= limit + 1e-2  # held within the limit at every step
    assert far(real) < far(plain)
    assert real.latent.source["realism"] == 1.0 and plain.latent.source["realism"] == 0.0


def test_realism_limits_run_from_loose_to_the_generators_own_spread():
    assert realism_radius(0.0) is None  # the paper's recipe, untouched
    r = [realism_radius(v) for v in (0.01, 0.5, 1.0)]
    assert r[0] > r[1] > r[2] >= 1.0


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_a_realism_outside_its_range_is_one_sentence(bad):
    with pytest.raises(OptionError, match="realism must lie in 0..1"):
        InversionSettings(realism=bad).validate()


def test_a_model_without_a_projected_discriminator_says_so(tiny_model):
    with pytest.raises(CheckpointError, match="no projected discriminator"):
        RealismCritic(tiny_model)


def test_a_batch_inverts_each_target_as_a_lone_run_would(tiny_model):
    targets = np.stack([smooth_image(s) for s in (3, 4, 5)])
    s = InversionSettings(steps=8, realism=0.5)
    batch = invert_batch(tiny_model, targets, settings=s)
    lone = run_inversion(tiny_model, targets[1], settings=s)
    assert batch.images.shape == targets.shape
    np.testing.assert_allclose(batch.wplus[1], lone.latent.wplus, atol=1e-3)
    np.testing.assert_allclose(batch.images[1], lone.image, atol=1e-3)


def test_a_batch_with_fitted_noise_maps_matches_lone_runs(tiny_model):
    targets = np.stack([smooth_image(s) for s in (6, 7)])
    s = InversionSettings(steps=6, optimize_noise=True, noise_regularize=1.0)
    batch = invert_batch(tiny_model, targets, settings=s)
    lone = run_inversion(tiny_model, targets[1], settings=s)
    np.testing.assert_allclose(batch.images[1], lone.image, atol=1e-3)
