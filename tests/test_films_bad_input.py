"""Bad input to `stimstudio searchset` (issue 41): one line on stderr, exit 2, nothing written.
And the one note that is not an error: a lesion resampled to the film's pixel size."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from films_helpers import spec_text, write_films, write_lesion

from stimstudio.cli.main import main


@pytest.fixture
def root(tmp_path, tiny_weights):
    write_films(tmp_path / "films", 4)
    write_lesion(tmp_path / "les")
    shutil.copy(tiny_weights, tmp_path / "tiny.safetensors")
    shutil.copy(Path(tiny_weights).with_suffix(".json"), tmp_path / "tiny.json")
    return tmp_path


def _refused(root: Path, spec: str, capsys, words: str) -> None:
    (root / "spec.toml").write_text(spec)
    assert main(["searchset", str(root / "spec.toml"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stimstudio: error: "), err
    assert words in err[0], err[0]
    assert not (root / "set").exists()  # nothing half-written


def test_lesion_larger_than_the_breast(root, capsys):
    big = write_lesion(root / "big", size=32, radius=15.0, name="big")
    spec = spec_text(count=1, lesion=f'[[lesion]]\nimage = "{big[0]}"\nmask = "{big[1]}"\n')
    # a 15-px radius at 0.4 mm is 30 px at 0.2 mm; an 18-mm skin band leaves less than that
    spec = spec.replace("skin_mm = 2", "skin_mm = 18")
    _refused(root, spec, capsys, "larger than the breast")


def test_more_placements_than_fit(root, capsys):
    spec = spec_text(count=1, extra="lesions_per_film = 20\n").replace(
        "separation_mm = 2", "separation_mm = 10"
    )
    _refused(root, spec, capsys, "more placements than fit")


def test_too_few_films(root, capsys):
    _refused(root, spec_text(count=3), capsys, "asks for 6 normal films")


def test_film_without_a_breast(root, capsys):
    write_films(root / "films", 4, blank=2)
    spec = spec_text(count=2, extra="normal_only = false\n")
    _refused(root, spec, capsys, "no breast found")


def test_unknown_key_and_missing_lesion_file(root, capsys):
    _refused(root, spec_text(extra="colour = 1\n"), capsys, "unknown key 'colour'")
    bad = '[[lesion]]\nimage = "les/nothing.png"\nmask = "les/mass_mask.png"\n'
    _refused(root, spec_text(lesion=bad), capsys, "nothing.png not found")


def test_resampling_is_said(root, capsys):
    (root / "spec.toml").write_text(spec_text(count=1))
    assert main(["searchset", str(root / "spec.toml"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "resampled from 0.4 mm to the film's 0.2 mm pixels (2x)" in err
    assert "error" not in err


def test_other_spec_in_the_same_folder_is_refused(root, capsys):
    (root / "spec.toml").write_text(spec_text(count=1))
    assert main(["searchset", str(root / "spec.toml"), "--quiet"]) == 0
    (root / "spec.toml").write_text(spec_text(count=1).replace("seed = 5", "seed = 6"))
    assert main(["searchset", str(root / "spec.toml"), "--quiet"]) == 2
    assert "another spec" in capsys.readouterr().err
