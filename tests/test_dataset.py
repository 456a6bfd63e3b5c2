"""`dataset build`: patients never on both sides of the split, whatever the data set names them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stimstudio.cli.main import main
from stimstudio.core.errors import DatasetError
from stimstudio.train.dataset import NO_IDENTITY, PatchRecipe, build_dataset, patient_id
from tests.readers_helpers import write_dicom


@pytest.mark.parametrize(
    ("a", "b", "rule"),
    [
        ("all-mias/mdb001.pgm", "all-mias/mdb002.pgm", "mini-MIAS"),
        (
            "CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/07-20-2016-DDSM-74994/1.0-full-24515/1-1.dcm",
            "CBIS-DDSM/Calc-Test_P_00001_RIGHT_MLO/08-29-2017-DDSM-96009/1.0-full-95463/1-1.dcm",
            "CBIS-DDSM",
        ),
        ("cancers/cancer_01/case0001/A_0001_1.LEFT_CC.LJPEG", "x/A_0001_1.RIGHT_MLO.png", "DDSM"),
        (
            "AllDICOMs/22678622_61b13c59bcba149e_MG_R_CC_ANON.dcm",
            "AllDICOMs/22678646_61b13c59bcba149e_MG_L_MLO_ANON.dcm",
            "INbreast",
        ),
    ],
)
def test_views_of_one_patient_get_one_patient_id(a, b, rule):
    pa, ra = patient_id(Path(a))
    pb, rb = patient_id(Path(b))
    assert pa == pb and ra == rb and rule in ra


def test_other_patients_and_unknown_files_differ():
    assert patient_id(Path("mdb002.pgm"))[0] != patient_id(Path("mdb003.pgm"))[0]
    cbis = "Mass-Training_P_00001_LEFT_CC/1-1.dcm", "Mass-Training_P_00002_LEFT_CC/1-1.dcm"
    assert patient_id(Path(cbis[0]))[0] != patient_id(Path(cbis[1]))[0]
    assert patient_id(Path("A_0001_1.LEFT_CC.LJPEG"))[0] != patient_id(Path("B_0001_1.LEFT_CC"))[0]
    pid, rule = patient_id(Path("scans/film7.png"))
    assert rule == NO_IDENTITY and pid == "file-film7"


def breast(seed: int, rows: int = 240, cols: int = 180) -> np.ndarray:
    """A bright half-ellipse of textured 'tissue' on a dark background, 12-bit."""
    rng = np.random.default_rng(seed)
    img = np.full((rows, cols), 200.0)
    mask = np.zeros((rows, cols), np.uint8)
    cv2.ellipse(mask, (0, rows // 2), (cols - 10, rows // 2 - 6), 0, -90, 90, 1, -1)
    tissue = cv2.GaussianBlur(rng.normal(0, 1, (rows, cols)), (0, 0), 3)
    img[mask > 0] = 2400 + 600 * tissue[mask > 0] / tissue.std()
    return np.clip(img, 0, 4095).astype(np.uint16)


def test_dicom_views_of_a_patient_stay_on_one_side(tmp_path):
    src = tmp_path / "films"
    src.mkdir()
    for p in range(5):
        for view in ("CC", "MLO"):  # file names say nothing about the patient
            write_dicom(
                src / f"img{p * 2 + (view == 'MLO')}.dcm",
                breast(p * 2 + (view == "MLO")),
                PatientID=f"PAT{p}",
                ViewPosition=view,
                PixelSpacing=[0.4, 0.4],
            )
    recipe = PatchRecipe(resolution=32, tissue_per_image=4, heldout_fraction=0.4)
    m = build_dataset(src, tmp_path / "out", recipe)
    held = {n for n in m["films"]["heldout"]}
    train = set(m["films"]["train"])
    assert len(held) == 4 and len(train) == 6  # 2 of 5 patients, both views each
    pairs = [{f"img{2 * p}.dcm", f"img{2 * p + 1}.dcm"} for p in range(5)]
    assert all(pair <= held or pair <= train for pair in pairs)
    assert m["patients"] == {"train": 3, "heldout": 2, "identified_by": {"DICOM PatientID": 10}}
    assert "note" not in m
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["patients"]["heldout"] == 2


def test_files_without_identity_are_noted_and_broken_ones_named(tmp_path, capsys):
    src = tmp_path / "pngs"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"film{i}.png"), (breast(i) // 16).astype(np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    argv = ["dataset", "build", str(src), str(out), "--resolution", "32", "--quiet"]
    assert main([*argv, "--tissue-per-image", "4", "--spacing-mm", "0.4"]) == 0
    text = capsys.readouterr().out
    assert "3 of 3 images carry no patient identity" in text
    assert "skipped 1 unreadable: broken.png" in text
    only_broken = tmp_path / "broken"
    only_broken.mkdir()
    (only_broken / "a.png").write_bytes(b"nothing")
    with pytest.raises(DatasetError, match="none of the 1 images"):
        build_dataset(only_broken, tmp_path / "o2", PatchRecipe(resolution=32))


@pytest.mark.parametrize("within_film", [True, False])
def test_patches_never_reach_past_the_film(within_film):
    """A breast that fills the film to its edges (as at the chest wall), beside black padding
    columns (as mini-MIAS pads its films) and the image's edge: windows reaching either would
    show straight black bars, which a generator then learns to draw."""
    from stimstudio.core.mammogram import Lesion, Mammogram
    from stimstudio.train.dataset import cut_patches

    rng = np.random.default_rng(0)
    pixels = (0.4 + 0.4 * rng.random((96, 112))).astype(np.float32)  # no tissue is black
    pixels[:, 96:] = 0.0  # padding
    pixels[5, 100] = 0.3  # with a stray pixel, as mini-MIAS has
    near_corner = Lesion(kind="mass", center=(20.0, 22.0), radius=4.0)
    mammo = Mammogram(pixels=pixels, spacing_mm=(0.4, 0.4), lesions=[near_corner])
    recipe = PatchRecipe(
        resolution=32, tissue_per_image=40, lesion_per_lesion=40, within_film=within_film
    )
    cuts = list(cut_patches(mammo, recipe, np.random.default_rng(1)))
    assert any(kind == 0 for _, kind, _ in cuts) and any(kind == 1 for _, kind, _ in cuts)
    black = [float((p < 0.05).mean()) for p, _, _ in cuts]
    if within_film:
        assert max(black) == 0.0
    else:  # the old recipe: the test would have caught the black bars
        assert max(black) > 0.0
