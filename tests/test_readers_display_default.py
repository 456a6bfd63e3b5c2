"""Display defaults beyond mammograms: the breast-region percentile window is for mammograms
only; a test pattern with a Modality LUT and no window keeps every grey step, and `info` says
which default was used and why."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from readers_helpers import phantom, write_dicom

from stimstudio.cli.main import main
from stimstudio.core.readers import read_mammogram

OT_SOP = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture


def _pattern() -> np.ndarray:
    """Ten vertical grey steps 0..4095: a test pattern, no breast anywhere."""
    return np.repeat(np.linspace(0, 4095, 10).astype(np.uint16), 16)[None].repeat(120, 0)


def _with_modality_lut(tmp_path, arr, **tags):
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.ModalityLUTType = "US"
    item.add_new(0x00283006, "US", (np.arange(4096, dtype=np.uint16) * 2).tolist())
    return write_dicom(tmp_path / "p.dcm", arr, ModalityLUTSequence=Sequence([item]), **tags)


def test_test_pattern_keeps_every_grey_step(tmp_path, capsys):
    p = _with_modality_lut(tmp_path, _pattern(), sop_class=OT_SOP, Modality="OT")
    m = read_mammogram(p)
    w = m.info["window"]
    assert w["kind"] == "full range" and "not a mammogram" in w["default_because"]
    assert m.info["mammogram"] is False
    steps = m.pixels[0, ::16]
    assert np.all(np.diff(steps) > 0.05)  # ten distinct greys; nothing blacked out
    assert steps[0] == 0 and steps[-1] == 1
    assert any("not a mammogram" in n and "full value range" in n for n in m.notes)
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "full range" in out and "default: no VOI LUT or window, and not a mammogram" in out
    assert "Modality OT" in out


def test_mammogram_keeps_the_breast_percentiles(tmp_path, capsys):
    p = write_dicom(tmp_path / "mg.dcm", phantom())  # Modality MG
    m = read_mammogram(p)
    assert m.info["window"]["kind"] == "percentile" and m.info["mammogram"] is True
    assert main(["info", str(p)]) == 0
    assert "default: no VOI LUT or window, and a mammogram (Modality MG)" in capsys.readouterr().out


def test_breast_body_part_counts_as_mammogram(tmp_path):
    p = write_dicom(
        tmp_path / "dx.dcm", phantom(), sop_class=OT_SOP, Modality="DX", BodyPartExamined="BREAST"
    )
    assert read_mammogram(p).info["window"]["kind"] == "percentile"


def test_a_window_in_the_file_wins_whatever_the_modality(tmp_path):
    p = _with_modality_lut(
        tmp_path, _pattern(), sop_class=OT_SOP, Modality="OT", WindowCenter=4000, WindowWidth=8000
    )
    w = read_mammogram(p).info["window"]
    assert w["kind"] == "window" and "default_because" not in w
