"""`train select`: snapshots ranked by the classifier test on the training films alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stimstudio.cli.main import main
from stimstudio.core.errors import DatasetError
from stimstudio.train.dataset import PatchSet
from stimstudio.train.evaluate.data import blur_uint8
from stimstudio.train.evaluate.select import selection_score, selection_split
from stimstudio.train.evaluate.settings import EvalSettings
from stimstudio.train.phantoms import phantom_dataset, phantom_patch_set, save_phantom_dataset


def patch_set(n: int, res: int = 32, seed: int = 1, films: int | None = None) -> PatchSet:
    d = phantom_dataset(n, res, seed)
    film = d["film"] if films is None else d["film"] % films
    return PatchSet(d["patches"], d["kind"], film, np.zeros((n, res, res), bool))


def test_the_two_halves_share_no_film():
    n, films = 240, 24
    ps = patch_set(n, films=films)
    ps.patches[:] = (ps.film * 10)[:, None, None]  # each patch shows its film's number
    split = selection_split(ps, 60, 60, seed=3)
    fit = set(np.unique(split.fit_real[:, 0, 0] // 10))
    test = set(np.unique(split.test_real[:, 0, 0] // 10))
    assert fit and test and not fit & test
    assert split.fit_films + split.test_films == films
    with pytest.raises(DatasetError, match="smaller --fit"):
        selection_split(ps, 200, 200)


def test_a_generator_like_the_real_patches_ranks_before_a_blurred_one():
    """The ranking has power: fresh phantoms (the training set's own distribution) against
    the same phantoms blurred by 3 px, the card's known fake."""
    ps = patch_set(400)
    s = EvalSettings.quick(c2st_max_epochs=12, c2st_min_steps=60)
    split = selection_split(ps, 150, 100)

    def like(n, seed):
        return phantom_patch_set(n, 32, seed=10_000 + seed)

    def blurred(n, seed):
        return blur_uint8(like(n, seed), 3.0)

    good = selection_score(like, split, s)
    bad = selection_score(blurred, split, s)
    assert bad["accuracy"] > 0.8 and good["accuracy"] < 0.7, (good, bad)
    # every generator meets the same draw: the same sampler scores the same, bit for bit
    assert selection_score(like, split, s) == good
    two = selection_score(like, split, s, draws=2)
    assert len(two["accuracy_draws"]) == 2 and two["accuracy_draws"][0] == good["accuracy"]
    assert two["accuracy_ci95"][0] <= two["accuracy"] <= two["accuracy_ci95"][1]


def test_select_cli_ranks_files_without_a_held_out_set(tmp_path, capsys, tiny_weights):
    from conftest import make_tiny_model

    d = tmp_path / "data"
    d.mkdir()
    save_phantom_dataset(d / "train.npz", 120, 32, seed=1)  # no heldout.npz: never read
    other = tmp_path / "other.safetensors"
    make_tiny_model(seed=4).save(other)
    argv = ["train", "select", tiny_weights, str(other), "--data", str(d), "--quick"]
    argv += ["--fit", "32", "--test", "16", "--quiet"]
    assert main([*argv, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    acc = [r["accuracy"] for r in res["ranking"]]
    assert len(acc) == 2 and acc == sorted(acc)
    assert {r["model"] for r in res["ranking"]} == {tiny_weights, str(other)}
    assert res["split"]["fit_films"] + res["split"]["test_films"] == 120
    assert main(argv) == 0
    assert "best first" in capsys.readouterr().out
    # a file at another resolution: one line, exit 2, before any test runs
    save_phantom_dataset(tmp_path / "p64.npz", 40, 64, seed=1)
    code = main(["train", "select", tiny_weights, "--data", str(tmp_path / "p64.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "works at 32 px" in err and len(err.strip().splitlines()) == 1
