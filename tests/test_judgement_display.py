"""Judged at the size people see (issue 38 item 3): real and generated images at the same mm
per screen pixel, at an integer magnification the session states; sets of different pixel
spacing are refused in one line."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from stimstudio.cli.main import main
from stimstudio.core.judgements import (
    JudgementError,
    build_session,
    describe_display,
    image_set,
    largest_magnification,
    list_images,
    load_session,
    plan_display,
    psychopy_conditions,
    save_session,
    spacing_unknown,
)


def pngs(folder, n, size, dpi=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n + size)
    for i in range(n):
        im = Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8))
        im.save(folder / f"{i:02d}.png", **({"dpi": (dpi, dpi)} if dpi else {}))
    return folder


def test_largest_integer_magnification_that_fits():
    assert largest_magnification((128, 128), (1920, 1080)) == 8
    assert largest_magnification((256, 256), (1920, 1080)) == 4
    assert largest_magnification((256, 200), (700, 1000)) == 2
    assert largest_magnification((4000, 3000), (1920, 1080)) == 1  # never below 1×


def test_spacing_from_png_resolution_dicom_and_manifest(tmp_path):
    from stimstudio.core.export.writers import dicom_bytes

    real = pngs(tmp_path / "real", 3, 64, dpi=127)  # 25.4 / 127 = 0.2 mm
    s = image_set(list_images(real), real)
    assert s.spacing_mm == pytest.approx(0.2) and s.spacing_from == "PNG resolution"
    assert s.largest == (64, 64)
    screen_default = pngs(tmp_path / "dpi72", 2, 64, dpi=72)  # a tool's default: unknown
    assert image_set(list_images(screen_default), screen_default).spacing_mm is None
    gen = pngs(tmp_path / "export" / "frames", 3, 32)
    (tmp_path / "export" / "manifest.json").write_text(
        json.dumps({"output": {"pixel_spacing_mm": 0.4}})
    )
    g = image_set(list_images(gen), gen)
    assert g.spacing_mm == 0.4 and g.spacing_from == "manifest.json"
    dcm = tmp_path / "dcm"
    dcm.mkdir()
    img = np.random.default_rng(0).random((48, 40))
    kw = dict(study_uid="1.2.3", series_uid="1.2.3.4", instance_number=1)
    (dcm / "a.dcm").write_bytes(dicom_bytes(img, pixel_spacing_mm=0.1, **kw))
    d = image_set(list_images(dcm), dcm)
    assert d.spacing_mm == pytest.approx(0.1) and d.sizes == {(40, 48): 1}
    assert d.spacing_from == "DICOM PixelSpacing"
    assert image_set(list_images(gen), gen, stated_mm=0.2).spacing_mm == 0.2


def test_sets_of_different_spacing_are_refused_in_one_sentence(tmp_path):
    real = pngs(tmp_path / "real", 2, 64, dpi=127)
    gen = pngs(tmp_path / "gen", 2, 64, dpi=63.5)  # 0.4 mm
    r, g = image_set(list_images(real), real), image_set(list_images(gen), gen)
    with pytest.raises(JudgementError) as exc:
        plan_display(r, g, (1920, 1080))
    assert "\n" not in str(exc.value) and "0.2 mm" in str(exc.value)
    assert "0.4 mm" in str(exc.value)
    # the same pixel size alone is not enough: spacing is what makes mm per screen pixel
    assert r.largest == g.largest


def test_the_session_records_magnification_and_spacing(tmp_path):
    real = pngs(tmp_path / "real", 3, 128, dpi=63.5)
    gen = pngs(tmp_path / "gen", 3, 128)
    r = image_set(list_images(real), real)
    g = image_set(list_images(gen), gen, stated_mm=0.4)
    assert spacing_unknown(r, image_set(list_images(gen), gen)).startswith(
        "the pixel spacing of the generated images"
    )
    display = plan_display(r, g, (1920, 1080))
    assert display["magnification"] == 8 and display["fits_screen"]
    assert display["mm_per_screen_pixel"] == pytest.approx(0.05)
    assert display["pixel_spacing_mm"] == {"real": 0.4, "generated": 0.4}
    assert describe_display(display) == (
        "shown at 8× (largest that fits the screen, 0.05 mm per screen pixel)"
    )
    stated = plan_display(r, g, (1920, 1080), magnification=3)
    assert stated["magnification"] == 3 and stated["magnification_chosen"] == "stated"
    with pytest.raises(JudgementError, match="magnification must lie in 1..32"):
        plan_display(r, g, (1920, 1080), magnification=0)
    session = build_session(list_images(real), list_images(gen), seed=1, display=stated)
    again = load_session(save_session(session, tmp_path / "s.json"))
    assert again.display == stated
    rows = list(csv.DictReader(io.StringIO(psychopy_conditions(session, tmp_path))))
    assert {row["magnification"] for row in rows} == {"3"}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_judge_build_refuses_other_spacings_and_records_the_display(tmp_path, capsys):
    real = pngs(tmp_path / "real", 3, 128, dpi=127)  # 0.2 mm
    gen = pngs(tmp_path / "gen", 3, 128, dpi=63.5)  # 0.4 mm
    code, out, err = run(capsys, "judge", "build", real, gen, tmp_path / "s1")
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("stimstudio: error: the real images are at 0.2 mm per pixel")
    assert not (tmp_path / "s1").exists()
    # the generated images stated at 0.2 mm: built, at the largest magnification for the screen
    code, out, err = run(capsys, "judge", "build", real, gen, tmp_path / "s2",
                         "--generated-spacing", "0.2", "--screen", "1280x720", "--seed", "1")  # fmt: skip
    assert code == 0, err
    assert "shown at 5× (largest that fits the screen, 0.04 mm per screen pixel)" in out
    doc = json.loads((tmp_path / "s2" / "session.json").read_text())
    assert doc["display"]["magnification"] == 5
    assert doc["display"]["spacing_from"] == {"real": "PNG resolution", "generated": "stated"}
    code, out, err = run(capsys, "judge", "build", real, gen, tmp_path / "s3",
                         "--generated-spacing", "0.2", "--magnification", "2")  # fmt: skip
    assert code == 0 and "shown at 2× (stated" in out
    assert "magnification" in (tmp_path / "s3" / "conditions.csv").read_text().splitlines()[0]
    for bad, fragment in ((["--screen", "big"], "--screen must be"),
                          (["--magnification", "0"], "magnification must lie"),
                          (["--real-spacing", "-1"], "--real-spacing must be")):  # fmt: skip
        ok = ["--generated-spacing", "0.2"]
        code, out, err = run(capsys, "judge", "build", real, gen, tmp_path / "s4", *ok, *bad)
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    # a spacing nobody knows: a warning, the session is still built
    plain = pngs(tmp_path / "plain", 3, 128)
    code, out, err = run(capsys, "judge", "build", real, plain, tmp_path / "s5")
    assert code == 0 and "warning: the pixel spacing of the generated images" in err
