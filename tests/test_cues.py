"""Named cues (evaluate-model's `cues` section): each statistic responds to the property it
names, the two-sample test finds a planted difference and only that one, and the section runs
inside evaluate-model."""

from __future__ import annotations

import json

import numpy as np

from stimstudio.cli.main import main
from stimstudio.train.evaluate import CUE_NAMES, EvalSettings, cues_report, image_cues
from stimstudio.train.phantoms import phantom_patch_set


def _vignette(x: np.ndarray, strength: float) -> np.ndarray:
    n = x.shape[-1]
    yy, xx = np.mgrid[:n, :n] / (n - 1) - 0.5
    fall = 1 - strength * (yy**2 + xx**2) / 0.5
    return np.clip(x.astype(np.float32) * fall, 0, 255).astype(np.uint8)


def _stripes(n: int, angle_deg: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    t = np.deg2rad(angle_deg)
    wave = np.sin((xx * np.cos(t) + yy * np.sin(t)) * 2 * np.pi / 6)
    return np.clip(128 + 40 * wave + rng.normal(0, 3, (n, n)), 0, 255).astype(np.uint8)


def test_each_cue_follows_the_property_it_names():
    base = phantom_patch_set(16, 64, seed=0)
    flat, dark = image_cues(base)["rim"], image_cues(_vignette(base, 0.8))["rim"]
    names = CUE_NAMES["rim"]
    corner = names.index("darkest_corner")
    assert (dark[:, corner] < flat[:, corner]).all()
    assert dark[:, corner].mean() < flat[:, corner].mean() - 0.05
    assert dark[:, 0].mean() < flat[:, 0].mean()  # the outer ring darkens
    # strands along x vs along y: opposite sign of cos 2θ, both coherent
    along_x = image_cues(np.stack([_stripes(64, 0, s) for s in range(4)]))["orientation"]
    along_y = image_cues(np.stack([_stripes(64, 90, s) for s in range(4)]))["orientation"]
    assert (along_x[:, 0] > 0.5).all() and (along_y[:, 0] < -0.5).all()
    assert (along_x[:, 2] > 0.5).all()
    # a few bright specks raise the finest band's kurtosis
    specks = base.copy()
    specks[:, 20:22, 30:32] = 255
    k = CUE_NAMES["dots"].index("fine_kurtosis")
    assert (image_cues(specks)["dots"][:, k] > image_cues(base)["dots"][:, k]).all()
    # brightness: the mean and contrast are the patch's own
    b = image_cues(base)["brightness"]
    np.testing.assert_allclose(b[:, 0], base.reshape(16, -1).mean(1) / 255, atol=1e-4)


def test_the_report_finds_a_planted_difference_and_only_that_one():
    real = phantom_patch_set(240, 64, seed=1)
    train = phantom_patch_set(240, 64, seed=2)
    same = phantom_patch_set(240, 64, seed=3)
    vignetted = _vignette(phantom_patch_set(240, 64, seed=4), 0.9)
    rng = np.random.default_rng(0)
    planted = cues_report(train, real, vignetted, 200, 5, rng)
    assert planted["groups"]["rim"]["accuracy"] > 0.9
    assert planted["all"]["accuracy"] > 0.9
    assert planted["groups"]["rim"]["real_vs_real"] < 0.7
    means = planted["groups"]["rim"]["means"]["darkest_corner"]
    assert means["generated"] < means["heldout_real"]
    null = cues_report(train, real, same, 200, 5, np.random.default_rng(0))
    for group in CUE_NAMES:
        lo, hi = null["groups"][group]["accuracy_ci95"]
        assert null["groups"][group]["accuracy"] < 0.7, group
        assert lo < 0.5 + 0.15  # no cue "separates" two draws of one distribution
    json.dumps(planted)


def test_too_few_patches_is_said_not_guessed():
    x = phantom_patch_set(6, 32, seed=0)
    out = cues_report(x, x, x, 100, 5, np.random.default_rng(0))
    assert "at least 10" in out["skipped"]


def test_evaluate_model_runs_the_cues_section(tmp_path, tiny_weights, capsys):
    from stimstudio.train.phantoms import save_phantom_dataset

    d = tmp_path / "data"
    d.mkdir()
    save_phantom_dataset(d / "train.npz", 120, 32, seed=1)
    save_phantom_dataset(d / "heldout.npz", 80, 32, seed=2)
    (d / "manifest.json").write_text(json.dumps({"recipe": {"resolution": 32}}))
    argv = ["evaluate-model", "--weights", tiny_weights, "--data", str(d), "--quick"]
    assert main([*argv, "--sections", "cues", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["cues"]["groups"]) == set(CUE_NAMES)
    assert set(res["cues"]["symmetry"]) == {"generated", "heldout_real"}
    assert -1 <= res["cues"]["shared_texture"]["seeds"] <= 1
    assert -1 <= res["cues"]["shared_texture"]["seeds_const"] <= 1
    assert res["cues"]["recipe"]["per_side"] == EvalSettings.quick().cues_n
    assert main([*argv, "--sections", "cues"]) == 0
    text = capsys.readouterr().out
    assert "rim" in text and "real-vs-real" in text
    assert "symmetry" in text and "turned at random" in text
    assert "shared" in text and "different seeds" in text and "fixed maps (const)" in text


def _faint(x: np.ndarray) -> np.ndarray:
    """Phantom tissue at a third of its contrast, so that a planted blob shapes the layout."""
    t = x.astype(np.float32)
    return (128 + 0.3 * (t - t.mean((1, 2), keepdims=True))).astype(np.uint8)


def _blob(x: np.ndarray, delta: float, radius: float = 0.12) -> np.ndarray:
    """Add a soft disc of +delta (bright island) or -delta (dark hole) off the patch centre."""
    n = x.shape[-1]
    yy, xx = np.mgrid[:n, :n] / (n - 1)
    disc = np.exp(-((yy - 0.35) ** 2 + (xx - 0.6) ** 2) / (2 * radius**2))
    return np.clip(x.astype(np.float32) + delta * disc, 0, 255).astype(np.uint8)


def test_layout_cues_follow_islands_holes_and_gradients():
    base = _faint(phantom_patch_set(16, 64, seed=5))
    names = CUE_NAMES["layout"]
    sk, ramp = names.index("coarse_skew"), names.index("ramp")
    dark, bright = names.index("darkest_cells"), names.index("brightest_cells")
    plain = image_cues(base)["layout"]
    island = image_cues(_blob(base, 70))["layout"]
    hole = image_cues(_blob(base, -70))["layout"]
    assert (island[:, sk] > plain[:, sk]).all() and (hole[:, sk] < plain[:, sk]).all()
    assert (island[:, bright] > plain[:, bright]).all() and (hole[:, dark] < plain[:, dark]).all()
    yy, xx = np.mgrid[:64, :64]
    ramped = np.clip(base.astype(np.float32) + 0.8 * xx, 0, 255).astype(np.uint8)
    assert (image_cues(ramped)["layout"][:, ramp] > plain[:, ramp] + 0.1).all()
    flat = np.full((2, 32, 32), 100, np.uint8)
    assert np.isfinite(image_cues(flat)["layout"]).all()


def test_the_report_finds_dark_holes_in_the_layout():
    real = _faint(phantom_patch_set(240, 64, seed=1))
    train = _faint(phantom_patch_set(240, 64, seed=2))
    holed = _blob(_faint(phantom_patch_set(240, 64, seed=4)), -60)
    out = cues_report(train, real, holed, 200, 5, np.random.default_rng(0))
    assert out["groups"]["layout"]["accuracy"] > 0.85
    assert out["groups"]["layout"]["real_vs_real"] < 0.7
    skew_means = out["groups"]["layout"]["means"]["coarse_skew"]
    assert skew_means["generated"] < skew_means["heldout_real"]


def _ramp(x: np.ndarray, strength: float) -> np.ndarray:
    """Brighter at the top, darker at the bottom: a density gradient that always runs one way."""
    n = x.shape[-1]
    ramp = np.linspace(strength, -strength, n)[:, None]
    return np.clip(x.astype(np.float32) + 255 * ramp, 0, 255).astype(np.uint8)


def test_symmetry_finds_a_preferred_orientation_and_not_a_symmetric_one():
    from stimstudio.train.evaluate.cues import turn_at_random

    real = phantom_patch_set(240, 64, seed=1)
    train = phantom_patch_set(240, 64, seed=2)
    one_way = _ramp(phantom_patch_set(240, 64, seed=4), 0.25)
    out = cues_report(train, real, one_way, 240, 5, np.random.default_rng(0))
    # at most 0.875: 2 of the 8 turns (none, mirrored left-right) keep the bright side on top
    assert out["symmetry"]["generated"]["accuracy"] > 0.75
    assert out["symmetry"]["heldout_real"]["accuracy"] < 0.65
    # the same gradients turned every way: as likely in each orientation, so chance again
    every_way = turn_at_random(one_way, np.random.default_rng(1))
    out = cues_report(train, real, every_way, 240, 5, np.random.default_rng(0))
    assert out["symmetry"]["generated"]["accuracy"] < 0.65
    # each patch keeps its place and its pixels: one of its own 8 turns
    turned = turn_at_random(one_way[:8], np.random.default_rng(2))
    for im, t in zip(one_way[:8], turned):
        turns = [np.rot90(im, k)[:, ::m] for k in range(4) for m in (1, -1)]
        assert any(np.array_equal(t, u) for u in turns)


def test_shared_texture_finds_a_pattern_every_image_carries_and_not_independent_ones():
    from stimstudio.train.evaluate.cues import shared_texture

    own = phantom_patch_set(40, 64, seed=5).astype(np.float32)
    fixed = np.random.default_rng(0).normal(0, 12, (64, 64)).astype(np.float32)  # one grain map
    assert abs(shared_texture(own)) < 0.1
    assert shared_texture(own + fixed) > 0.3
    # the same for every image but shifted a little each time: no longer at the same places
    shifted = np.stack([im + np.roll(fixed, 5 * i, axis=1) for i, im in enumerate(own)])
    assert abs(shared_texture(shifted)) < 0.1
