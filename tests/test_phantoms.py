"""Procedural phantoms: spectra, determinism, ranges, masks, the patch set and the CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stimstudio.cli.main import main
from stimstudio.core.errors import OptionError
from stimstudio.train.phantoms import (
    MASS_KINDS,
    LumpyParams,
    MassSpec,
    lumpy_background,
    make_phantom,
    mass_profile,
    phantom_dataset,
    phantom_patch_set,
    power_law_background,
    power_spectrum_beta,
    save_phantom_dataset,
)

# ------------------------------------------------------------------------- backgrounds


@pytest.mark.parametrize("beta", [2.0, 3.0, 3.5])
def test_power_law_spectrum_slope_matches_beta(beta):
    # Average the fitted exponent over a few images: one image's fit is already close.
    fits = [power_spectrum_beta(power_law_background(256, beta, seed)) for seed in range(4)]
    assert abs(np.mean(fits) - beta) < 0.2
    assert all(abs(f - beta) < 0.3 for f in fits)


def test_power_law_single_image_beta3_within_tolerance():
    img = power_law_background(256, 3.0, seed=11)
    assert abs(power_spectrum_beta(img) - 3.0) < 0.2


def test_power_law_mean_and_std():
    img = power_law_background(128, 3.0, seed=2, mean=0.4, std=0.1)
    assert img.dtype == np.float32
    assert abs(float(img.mean()) - 0.4) < 0.01
    assert abs(float(img.std()) - 0.1) < 0.01


def test_lumpy_background_is_mammogram_like():
    img = lumpy_background(128, seed=3)
    assert img.shape == (128, 128) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    # Bochud et al.: the CLB matches the ~1/f^3 spectrum of mammographic texture.
    assert 2.3 < power_spectrum_beta(img) < 3.7
    # Clusters of one orientation: the texture is not white noise (strong neighbour correlation).
    a = img - img.mean()
    corr = float((a[:, 1:] * a[:, :-1]).mean() / (a * a).mean())
    assert corr > 0.9


def test_lumpy_scale_keeps_the_look():
    # At 256² with the automatic scale, the texture is the 128² one at twice the pixels:
    # its exponent stays in the same range.
    small = np.mean([power_spectrum_beta(lumpy_background(128, seed=s)) for s in range(3)])
    large = np.mean([power_spectrum_beta(lumpy_background(256, seed=s)) for s in range(3)])
    assert abs(small - large) < 0.5


def test_lumpy_parameters_are_bochud_1999():
    p = LumpyParams()
    assert (p.clusters, p.blobs, p.lx, p.ly, p.alpha, p.beta, p.sigma) == (
        150,
        20,
        5,
        2,
        2.1,
        0.5,
        12,
    )


@pytest.mark.parametrize("background", ["power", "lumpy"])
def test_backgrounds_are_deterministic_and_seed_dependent(background):
    a = make_phantom(64, 5, background=background).image
    b = make_phantom(64, 5, background=background).image
    c = make_phantom(64, 6, background=background).image
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(8, 70),
    w=st.integers(8, 70),
    seed=st.integers(0, 2**32),
    background=st.sampled_from(["power", "lumpy"]),
    mass=st.sampled_from([None, *MASS_KINDS]),
)
def test_any_size_gives_float32_in_unit_range(h, w, seed, background, mass):
    spec = None if mass is None else MassSpec(kind=mass, radius=0.2, contrast=0.3)
    ph = make_phantom((h, w), seed, background=background, mass=spec)
    assert ph.image.shape == (h, w) and ph.image.dtype == np.float32
    assert ph.mask.shape == (h, w) and ph.mask.dtype == bool
    assert np.isfinite(ph.image).all()
    assert ph.image.min() >= 0.0 and ph.image.max() <= 1.0
    assert ph.mask.any() == (mass is not None)


# ------------------------------------------------------------------------------ masses


@pytest.mark.parametrize("kind", MASS_KINDS)
def test_mass_mask_and_profile(kind):
    spec = MassSpec(kind=kind, radius=0.15, center=(0.5, 0.5), contrast=0.2)
    m = mass_profile(128, spec, seed=1)
    R = 0.15 * 128
    assert m.profile.dtype == np.float32 and m.mask.dtype == bool
    assert 0.0 <= m.profile.min() and m.profile.max() <= 1.0
    assert m.profile[64, 64] > 0.5  # peaks at the centre
    assert m.mask[64, 64]
    assert not m.mask[0, 0] and not m.mask[-1, -1]
    # The profile lives inside the mask (up to the faint spicule tails).
    assert float(m.profile[~m.mask].max(initial=0.0)) <= 0.1 + 1e-6
    area = m.mask.sum()
    if kind == "spiculated":
        core = np.pi * (0.55 * R) ** 2
        assert core * 0.7 < area < core * 4
    else:
        assert 0.6 * np.pi * R * R < area < 1.5 * np.pi * R * R


def test_spiculated_mass_reaches_beyond_its_core():
    m = mass_profile(128, MassSpec(kind="spiculated", radius=0.15, center=(0.5, 0.5)), seed=4)
    yy, xx = np.nonzero(m.mask)
    reach = np.sqrt((yy - 63.5) ** 2 + (xx - 63.5) ** 2).max()
    assert reach > 1.2 * 0.15 * 128


def test_lobulated_boundary_is_not_a_circle():
    m = mass_profile(128, MassSpec(kind="lobulated", radius=0.2, center=(0.5, 0.5)), seed=2)
    yy, xx = np.nonzero(m.mask)
    ang = np.arctan2(yy - 63.5, xx - 63.5)
    r = np.sqrt((yy - 63.5) ** 2 + (xx - 63.5) ** 2)
    edges = np.linspace(-np.pi, np.pi, 37)
    radii = [r[(ang >= a) & (ang < b)].max() for a, b in zip(edges[:-1], edges[1:])]
    assert (max(radii) - min(radii)) / np.mean(radii) > 0.1


def test_mass_is_added_where_the_mask_is():
    bg = make_phantom(96, 3, background="power").image
    ph = make_phantom(96, 3, background="power", mass=MassSpec(contrast=0.2, center=(0.5, 0.5)))
    diff = ph.image - bg
    assert np.allclose(diff[~ph.mask], 0.0, atol=1e-6)
    assert diff[ph.mask].mean() > 0.05  # dense = bright


def test_bad_options_are_one_sentence_errors():
    with pytest.raises(OptionError, match="at least 8x8"):
        power_law_background(4)
    with pytest.raises(OptionError, match="beta"):
        power_law_background(32, beta=-1)
    with pytest.raises(OptionError, match="mass kind"):
        mass_profile(32, MassSpec(kind="round"))
    with pytest.raises(OptionError, match="radius"):
        mass_profile(32, MassSpec(radius=0.9))
    with pytest.raises(OptionError, match="background must be"):
        make_phantom(32, 0, background="fractal")
    with pytest.raises(OptionError, match="seed"):
        make_phantom(32, -3)
    with pytest.raises(OptionError, match="lumpy-background parameter"):
        lumpy_background(32, 0, LumpyParams(sigma=0))


# --------------------------------------------------------------------------- patch set


def test_phantom_patch_set():
    a = phantom_patch_set(12, 32, seed=7)
    assert a.shape == (12, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, phantom_patch_set(12, 32, seed=7))
    # Patch i depends only on (seed, i): a smaller set is a prefix of a larger one.
    assert np.array_equal(a[:5], phantom_patch_set(5, 32, seed=7))
    assert not np.array_equal(a, phantom_patch_set(12, 32, seed=8))
    # Varied: not all alike, real contrast in each patch.
    assert len({p.tobytes() for p in a}) == 12
    assert (a.reshape(12, -1).std(axis=1) > 3).all()
    with pytest.raises(OptionError):
        phantom_patch_set(0, 32)
    with pytest.raises(OptionError):
        phantom_patch_set(4, 4)


def test_phantom_dataset_is_a_patch_file(tmp_path):
    from stimstudio.train.dataset import load_patches

    d = phantom_dataset(10, 16, seed=3)
    assert np.array_equal(d["patches"], phantom_patch_set(10, 16, seed=3))
    path = tmp_path / "train.npz"
    save_phantom_dataset(path, 10, 16, seed=3)
    ps = load_patches(path)
    assert np.array_equal(ps.patches, d["patches"])
    assert ps.masks.shape == (10, 16, 16)
    # Patches with a mass have a mask; plain backgrounds do not.
    assert (ps.masks.reshape(10, -1).any(axis=1) == (ps.kind == 1)).all()
    assert ps.as_float().shape == (10, 1, 16, 16)


# --------------------------------------------------------------------------------- CLI


def test_cli_writes_pngs_masks_and_manifest(tmp_path, capsys):
    out = tmp_path / "ph"
    rc = main(
        ["phantom", str(out), "--count", "3", "--size", "48x32", "--mass", "random", "--json"]
    )
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["count"] == 3
    for item in doc["items"]:
        img = cv2.imread(str(out / item["image"]), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / item["mask"]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (32, 48) and img.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255} and mask.any()
    manifest = json.loads((out / "phantoms.json").read_text())
    assert len(manifest["items"]) == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_cli_16_bit_and_deterministic(tmp_path, capsys):
    for name in ("a", "b"):
        assert (
            main(
                [
                    "phantom",
                    str(tmp_path / name),
                    "--bits",
                    "16",
                    "--size",
                    "40",
                    "--background",
                    "lumpy",
                    "--seed",
                    "9",
                ]
            )
            == 0
        )
    a = cv2.imread(str(tmp_path / "a" / "phantom-0000.png"), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(tmp_path / "b" / "phantom-0000.png"), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint16 and a.shape == (40, 40)
    assert np.array_equal(a, b)
    assert not (tmp_path / "a" / "phantom-0000-mask.png").exists()
    capsys.readouterr()


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "ph"
    assert main(["phantom", str(out), "--size", "16"]) == 0
    before = (out / "phantom-0000.png").read_bytes()
    capsys.readouterr()
    assert main(["phantom", str(out), "--size", "16", "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stimstudio: error:") and "--force" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (out / "phantom-0000.png").read_bytes() == before
    assert main(["phantom", str(out), "--size", "16", "--seed", "1", "--force"]) == 0
    assert (out / "phantom-0000.png").read_bytes() != before


@pytest.mark.parametrize(
    "argv",
    [
        ["--size", "4"],
        ["--size", "abc"],
        ["--beta", "9"],
        ["--mass", "square"],
        ["--mass", "spiculated", "--radius", "2"],
        ["--count", "0"],
        ["--bits", "12"],
        ["--seed", "-1"],
    ],
)
def test_cli_user_errors_exit_2_with_one_line(tmp_path, capsys, argv):
    assert main(["phantom", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stimstudio: error:")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["phantom", str(f)]) == 2
    assert "not a folder" in capsys.readouterr().err
