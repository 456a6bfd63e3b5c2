"""The app's three sample films give a 10 + 10 search set (issue 41's done-when): with
`reuse_films` each film is taken again with its lesion at a new place; a lesion may sit near the
edge of these small crops (its patch hangs over the film's edge, its outline does not); every
lesion is found by difference inside its outline, and regenerate reproduces the set byte for
byte."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
from films_helpers import write_lesion

from stimstudio.cli.main import main
from stimstudio.core.readers import read_mammogram
from stimstudio.gui.prefs import sample_files


def test_a_10_plus_10_set_from_the_three_sample_films(tmp_path, tiny_weights, capsys):
    samples = sample_files()
    assert len(samples) == 3
    les = write_lesion(tmp_path / "les")
    shutil.copy(tiny_weights, tmp_path / "tiny.safetensors")
    shutil.copy(Path(tiny_weights).with_suffix(".json"), tmp_path / "tiny.json")
    spec = (
        f'out = "set"\nseed = 5\nfilms = ["{samples[0].parent}/"]\nnormal_only = false\n'
        'count = 10\npaired = true\ncontrast = 1.0\nweights = "tiny.safetensors"\n'
        f'[[lesion]]\nimage = "{les[0]}"\nmask = "{les[1]}"\n'
    )
    (tmp_path / "spec.toml").write_text(spec)
    assert main(["searchset", str(tmp_path / "spec.toml"), "--quiet"]) == 2
    assert "reuse_films = true" in capsys.readouterr().err  # 3 films for 10: said how
    (tmp_path / "spec.toml").write_text("reuse_films = true\n" + spec)
    assert main(["searchset", str(tmp_path / "spec.toml"), "--quiet"]) == 0
    rows = list(csv.DictReader((tmp_path / "set" / "truth.csv").open()))
    assert len(rows) == 20 and sum(r["present"] == "1" for r in rows) == 10
    sources = {r["source_film"] for r in rows}
    assert sources == {p.name for p in samples}
    by_name = {p.name: p for p in samples}
    places = set()
    for r in rows:
        new = read_mammogram(tmp_path / "set" / r["film"]).raw.astype(float)
        old = read_mammogram(by_name[r["source_film"]]).raw.astype(float)
        w = np.abs(new - old)
        if r["present"] == "0":
            assert not w.any(), r["film"]
            continue
        mask = cv2.imread(str(tmp_path / "set" / r["mask_file"]), cv2.IMREAD_GRAYSCALE) > 0
        assert w.sum() > 0 and w[mask].sum() >= 0.5 * w.sum(), r["film"]
        places.add((r["source_film"], r["x"], r["y"]))
    assert len(places) == 10  # a film taken again gets its lesion at a new place
    capsys.readouterr()
    assert main(["regenerate", str(tmp_path / "set")]) == 0
    assert "byte for byte" in capsys.readouterr().out
