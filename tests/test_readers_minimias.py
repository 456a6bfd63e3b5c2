"""mini-MIAS: the real data set (all 322 films) and Info.txt parsing.

The films come from ../shared/data/mini-mias/all-mias.tar.xz, extracted once into a cache
folder outside the repository (or an already extracted copy in ~/.cache/stimstudio/mini-mias).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stimstudio.cli.main import main
from stimstudio.core.errors import ReaderError
from stimstudio.core.readers import list_mammograms, read_mammogram
from stimstudio.core.readers.minimias import parse_info, parse_info_text

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "mini-mias" / "all-mias.tar.xz"
CACHE = Path(os.environ.get("STIMSTUDIO_CACHE", Path.home() / ".cache" / "stimstudio"))


@pytest.fixture(scope="session")
def mias() -> Path:
    folder = CACHE / "mini-mias"
    if len(list(folder.glob("mdb*.pgm"))) == 322 and (folder / "Info.txt").is_file():
        return folder
    if not ARCHIVE.is_file():
        pytest.skip(f"mini-MIAS not available: neither {folder} nor {ARCHIVE} exists")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(folder, filter="data")
    found = {p.name for p in folder.rglob("mdb*.pgm")}
    if len(found) != 322:
        pytest.fail(f"{ARCHIVE} extracted {len(found)} films, not 322")
    pgms = list(folder.rglob("mdb001.pgm"))
    return pgms[0].parent


def test_all_322_films_load(mias):
    files = list_mammograms(mias)
    assert len(files) == 322
    info = parse_info(mias / "Info.txt")
    located = sum(1 for rows in info.values() for r in rows if r["x"] is not None)
    n_located = 0
    for f in files:
        m = read_mammogram(f)
        assert m.format == "mini-MIAS" and m.shape == (1024, 1024)
        assert m.pixels.dtype == np.float32 and 0 <= m.pixels.min() and m.pixels.max() <= 1
        assert m.spacing_mm == (0.2, 0.2) and m.view == "MLO"
        assert m.laterality == ("R" if int(f.stem[3:]) % 2 else "L")
        n_located += sum(1 for les in m.lesions if les.center is not None)
    assert n_located == located
    assert len(info) == 322


def test_rows_without_coordinates_and_norm(mias):
    m = read_mammogram(mias / "mdb216.pgm")  # CALC, M, *NOTE 3*: no position
    assert m.lesions and m.lesions[0].center is None and m.lesions[0].bbox() is None
    assert any("no position" in n for n in m.notes)
    assert read_mammogram(mias / "mdb003.pgm").lesions == []  # NORM


def test_lesion_circles_land_on_the_lesions(mias):
    """Masses are brighter than the ring around them when y counts from the bottom (the
    data set's convention); read with y from the top they are not."""
    info = parse_info(mias / "Info.txt")
    yy, xx = np.ogrid[:1024, :1024]

    def contrast(p, cx, cy, r):
        d2 = (xx - cx) ** 2 + (yy - cy) ** 2
        ring = p[(d2 >= (1.5 * r) ** 2) & (d2 <= (2.5 * r) ** 2)]
        ring = ring[ring > 0.05]
        return p[d2 <= (0.5 * r) ** 2].mean() - (ring.mean() if ring.size else 0)

    good, flipped = [], []
    for ref, rows in info.items():
        masses = [r for r in rows if r["class"] in ("CIRC", "SPIC", "MISC") and r["x"]]
        if not masses:
            continue
        m = read_mammogram(mias / f"{ref}.pgm")
        for row, les in zip(masses, [le for le in m.lesions if le.center is not None]):
            assert les.radius == row["radius"]
            good.append(contrast(m.pixels, *les.center, les.radius))
            flipped.append(contrast(m.pixels, row["x"], row["y"], row["radius"]))
    assert len(good) >= 50
    assert np.mean(np.array(good) > 0) >= 0.95
    assert np.median(good) > 0.08
    assert np.mean(np.array(flipped) > 0) < 0.9 and np.median(flipped) < 0.05


def test_info_cli_on_a_real_film(mias, capsys):
    assert main(["info", str(mias / "mdb023.pgm"), "--json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "mini-MIAS" and d["lesions"][0]["kind"] == "mass"
    assert d["lesions"][0]["pathology"] == "malignant"


def test_parse_info_quirks():
    text = """free text header
mdb001 G CIRC B 535 425 197
mdb002 G CIRC B 522 280 69
mdb003 D NORM
mdb059 F CIRC B
mdb216 D CALC M *NOTE 3*
mdb223 D CALC B 523 482 29
mdb223 D CALC B 591 529 6
"""
    rows = parse_info_text(text)
    assert rows["mdb003"][0]["severity"] is None
    assert rows["mdb059"][0]["x"] is None and rows["mdb216"][0]["x"] is None
    assert len(rows["mdb223"]) == 2


def test_pgm_that_is_not_an_image(tmp_path):
    p = tmp_path / "mdb001.pgm"
    p.write_bytes(b"P5\n1024 1024\n255\n" + b"\x00" * 100)
    with pytest.raises(ReaderError, match="mdb001.pgm"):
        read_mammogram(p)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_info_parser(text):
    try:
        parse_info_text(text)
    except ReaderError:
        pass


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_info_file(tmp_path_factory, data):
    p = tmp_path_factory.getbasetemp() / "Info.txt"
    p.write_bytes(data)
    try:
        parse_info(p)
    except ReaderError:
        pass
