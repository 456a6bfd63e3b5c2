"""`stimstudio insert` (issue 41): a lesion into one film; DICOM in gives DICOM out, derived,
without the source's identifiers, at the film's own bit depth, pixel size and grey mapping."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom
import pytest
from films_helpers import write_films, write_lesion
from readers_helpers import phantom, write_dicom

from stimstudio.cli.main import main
from stimstudio.core.readers import read_mammogram


@pytest.fixture
def lesion(tmp_path):
    return write_lesion(tmp_path / "les")


def test_dicom_in_dicom_out(tmp_path, lesion, tiny_weights, capsys):
    src = write_dicom(
        tmp_path / "film.dcm",
        phantom(400, 320, bits=12),
        WindowCenter="1500",
        WindowWidth="3000",
        PatientName="DOE^JANE",
        PatientID="SYNTH-1",
        StudyDate="20200102",
    )
    out = tmp_path / "out.dcm"
    argv = ["insert", str(lesion[0]), str(src), "--mask", str(lesion[1]), "--at", "80,200"]
    argv += ["--out", str(out), "--weights", tiny_weights, "--mask-out", str(tmp_path / "m.png")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "resampled from 0.4 mm to the film's 0.1 mm pixels (4x)" in captured.err
    before, after = read_mammogram(src), read_mammogram(out)
    assert after.spacing_mm == before.spacing_mm
    assert after.info["bits_stored"] == 12 and after.raw.max() <= 4095
    changed = after.raw != before.raw
    assert changed.any()
    ys, xs = np.nonzero(changed)
    assert abs(xs.mean() - 80) < 6 and abs(ys.mean() - 200) < 6
    ds = pydicom.dcmread(str(out))
    assert list(ds.ImageType)[0] == "DERIVED" and ds.PatientID == "SYNTHETIC"
    assert str(ds.WindowCenter) == "1500"
    data = out.read_bytes()
    for secret in (b"DOE", b"SYNTH-1", b"20200102"):
        assert secret not in data
    # the display mapping is kept: unchanged pixels show as before
    same = ~changed
    assert np.allclose(after.pixels[same], before.pixels[same], atol=1e-6)


def test_at_original_uses_the_recorded_cut(tmp_path, lesion, tiny_weights):
    films = write_films(tmp_path / "films", 1)
    res = tmp_path / "result"
    res.mkdir()
    shutil.copy(lesion[0], res / "optimized.png")
    shutil.copy(lesion[1], res / "mask.png")
    cut = {"file": "mdb001.pgm", "x": 40, "y": 60, "size": 64, "spacing_mm": [0.2, 0.2]}
    (res / "metrics.json").write_text(json.dumps({"template_cut": cut}))
    out = tmp_path / "out.pgm"
    argv = ["insert", str(res), str(films / "mdb001.pgm"), "--at", "original", "--out", str(out)]
    assert main(argv + ["--weights", tiny_weights, "--json"]) == 0
    before, after = read_mammogram(films / "mdb001.pgm"), read_mammogram(out)
    ys, xs = np.nonzero(after.raw != before.raw)
    # the mask's centre (15.5, 15.5 of 32 px) is film pixel 40 + 31.5, 60 + 31.5
    assert abs(xs.mean() - 71.5) < 2 and abs(ys.mean() - 91.5) < 2
    assert after.raw.dtype == np.uint8 and out.read_bytes().startswith(b"P5\n# DERIVED")


def test_at_original_without_a_record_is_refused(tmp_path, lesion, tiny_weights, capsys):
    films = write_films(tmp_path / "films", 1)
    res = tmp_path / "result"
    res.mkdir()
    shutil.copy(lesion[0], res / "optimized.png")
    shutil.copy(lesion[1], res / "mask.png")
    argv = ["insert", str(res), str(films / "mdb001.pgm"), "--at", "original"]
    assert main(argv + ["--out", str(tmp_path / "o.pgm"), "--weights", tiny_weights]) == 2
    assert "not recorded" in capsys.readouterr().err
    assert not (tmp_path / "o.pgm").exists()


def test_breast_mask_moved_to_core():
    from stimstudio.core.films.breast import breast_mask
    from stimstudio.train.dataset import breast_mask as re_exported

    assert re_exported is breast_mask


def test_compose_records_the_cut_and_insert_puts_it_back(tmp_path, lesion, tiny_weights, capsys):
    films = write_films(tmp_path / "films", 1)
    out = tmp_path / "comp"
    argv = ["compose", "--texture", str(lesion[0]), "--mask", str(lesion[1])]
    argv += ["--template", str(films / "mdb001.pgm"), "--template-at", "40,60,64"]
    argv += ["--placement-mode", "contrast", "--steps", "2", "--out-dir", str(out)]
    assert main(argv + ["--weights", tiny_weights, "--quiet"]) == 0, capsys.readouterr().err
    cut = json.loads((out / "metrics.json").read_text())["template_cut"]
    assert cut == {"file": "mdb001.pgm", "x": 40, "y": 60, "size": 64, "spacing_mm": [0.2, 0.2]}
    film = tmp_path / "back.pgm"
    argv = ["insert", str(out), str(films / "mdb001.pgm"), "--at", "original", "--out", str(film)]
    assert main(argv + ["--weights", tiny_weights]) == 0
    ys, xs = np.nonzero(read_mammogram(film).raw != read_mammogram(films / "mdb001.pgm").raw)
    assert abs(xs.mean() - 71.5) < 3 and abs(ys.mean() - 91.5) < 3
