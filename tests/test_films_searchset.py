"""Search sets (issue 41): a 10 + 10 set from small films, its truth on the inserted lesions,
byte-identical regeneration, resume."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from films_helpers import spec_text, write_films, write_lesion

from stimstudio.cli.main import main
from stimstudio.core.readers import read_mammogram


@pytest.fixture(scope="module")
def made(tmp_path_factory, tiny_weights):
    root = tmp_path_factory.mktemp("searchset")
    write_films(root / "films", 22, abnormal=(3,))
    write_lesion(root / "les")
    shutil.copy(tiny_weights, root / "tiny.safetensors")
    shutil.copy(Path(tiny_weights).with_suffix(".json"), root / "tiny.json")
    seed_lesion = "[[lesion]]\nseed = 3\nradius_mm = 4\ncontrast = 1.5\n"
    image_lesion = '[[lesion]]\nimage = "les/mass.png"\nmask = "les/mass_mask.png"\n'
    (root / "spec.toml").write_text(spec_text(lesion=image_lesion + seed_lesion))
    assert main(["searchset", str(root / "spec.toml"), "--quiet"]) == 0
    return root


def _grown(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def _truth(root: Path) -> list[dict]:
    with open(root / "set" / "truth.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_truth_columns_and_counts(made):
    text = (made / "set" / "truth.csv").read_text().splitlines()
    assert text[0] == "film,lesion,present,x,y,radius_px,radius_mm,contrast,mask_file,source_film"
    rows = _truth(made)
    assert sum(r["present"] == "1" for r in rows) == 10
    assert sum(r["present"] == "0" for r in rows) == 10
    assert len({r["film"] for r in rows}) == 20
    assert "mdb003.pgm" not in {r["source_film"] for r in rows}  # not a normal film
    for r in rows:
        if r["present"] == "0":
            assert r["lesion"] == r["x"] == r["mask_file"] == ""
    cond = (made / "set" / "conditions.csv").read_text().splitlines()
    assert cond[0].startswith("imageFile,filmFile,nLesions,lesion,present,x,y")
    assert len(cond) == 21


def test_lesions_found_by_difference_sit_in_their_outlines(made):
    films = made / "films"
    for r in _truth(made):
        new = read_mammogram(made / "set" / r["film"]).raw.astype(int)
        old = read_mammogram(films / r["source_film"]).raw.astype(int)
        diff = np.abs(new - old) > 0
        if r["present"] == "0":
            assert not diff.any(), r["film"]
            continue
        mask = cv2.imread(str(made / "set" / r["mask_file"]), cv2.IMREAD_GRAYSCALE) > 0
        assert mask.shape == new.shape
        # the difference lies in the outline; its feathered edge (compose's: a Gaussian of
        # sigma 2 model px = 4 film px here) reaches past it, and nothing beyond 4 sigma
        w = np.abs(new - old).astype(float)
        assert w[mask].sum() >= 0.5 * w.sum(), r["film"]
        assert w[_grown(mask, 12)].sum() >= 0.99 * w.sum(), r["film"]
        assert not (diff & ~_grown(mask, 16)).any(), r["film"]
        ys, xs = np.mgrid[0 : w.shape[0], 0 : w.shape[1]]
        cx, cy = (xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()
        assert mask[int(round(cy)), int(round(cx))]
        assert abs(cx - float(r["x"])) < 3 and abs(cy - float(r["y"])) < 3
        assert float(r["radius_mm"]) == pytest.approx(float(r["radius_px"]) * 0.2, rel=1e-3)


def test_regenerate_byte_for_byte_and_detects_a_change(made, capsys):
    assert main(["regenerate", str(made / "set"), "--quiet"]) == 0
    assert "made again byte for byte" in capsys.readouterr().out
    film = made / "set" / _truth(made)[0]["film"]
    keep = film.read_bytes()
    try:
        film.write_bytes(keep[:-1] + bytes([keep[-1] ^ 1]))
        assert main(["regenerate", str(made / "set"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "does not match its manifest" in err[0]
    finally:
        film.write_bytes(keep)


def test_interrupted_set_resumes(made, capsys):
    set_dir = made / "set"
    manifest = (set_dir / "manifest.json").read_bytes()
    gone = set_dir / _truth(made)[5]["film"]
    gone.unlink()
    (set_dir / "manifest.json").unlink()  # as if stopped before the end
    assert main(["searchset", str(made / "spec.toml"), "--quiet", "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["written"] == 1 and res["kept"] > 30
    assert (set_dir / "manifest.json").read_bytes() == manifest
    assert gone.is_file()


def test_dicom_films_give_dicom_without_identifiers(tmp_path, tiny_weights):
    import pydicom
    from readers_helpers import phantom, write_dicom

    films = tmp_path / "films"
    films.mkdir()
    for i in range(2):
        write_dicom(films / f"case{i}.dcm", phantom(300, 240, seed=i), PatientName="DOE^JANE")
    write_lesion(tmp_path / "les")
    shutil.copy(tiny_weights, tmp_path / "tiny.safetensors")
    shutil.copy(Path(tiny_weights).with_suffix(".json"), tmp_path / "tiny.json")
    (tmp_path / "spec.toml").write_text(spec_text(count=1))
    assert main(["searchset", str(tmp_path / "spec.toml"), "--quiet"]) == 0
    out = sorted((tmp_path / "set").glob("film*.dcm"))
    assert len(out) == 2
    for f in out:
        ds = pydicom.dcmread(str(f))
        assert ds.PatientID == "SYNTHETIC" and ds.BitsStored == 12
        assert b"DOE" not in f.read_bytes() and b"SYNTH-1" not in f.read_bytes()
    assert (tmp_path / "set" / "display" / "film001.png").is_file()
    assert main(["regenerate", str(tmp_path / "set"), "--quiet"]) == 0
