"""`train gan` / `train encoder` choose device and precision by core's one rule (pick_compute):
a choice core refuses is refused by training in core's own words, before any data is read,
and the choice is never silently changed (no quiet fall-back to fp32)."""

from __future__ import annotations

import pytest

from stimstudio.cli.main import main
from stimstudio.core.device import pick_compute
from stimstudio.core.errors import OptionError


def _core_message(device: str, precision: str) -> str:
    with pytest.raises(OptionError) as err:
        pick_compute(device, precision, purpose="training")
    return str(err.value)


@pytest.mark.parametrize("phase", ["gan", "encoder"])
@pytest.mark.parametrize(
    "device, precision", [("nonsense", "auto"), ("cpu", "fp16"), ("cpu", "fp64")]
)
def test_training_refuses_what_core_refuses_in_core_words(
    tmp_path, capsys, phase, device, precision
):
    argv = ["train", phase, "--data", str(tmp_path / "none.npz"), "--run-dir", str(tmp_path / "r")]
    if phase == "encoder":
        argv += ["--weights", str(tmp_path / "none.safetensors")]
    assert main([*argv, "--device", device, "--precision", precision]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"stimstudio: error: {_core_message(device, precision)}"]
    assert not (tmp_path / "r").exists()


def test_an_explicit_precision_is_kept_as_asked():
    from stimstudio.cli.train import _compute_for

    assert _compute_for("cpu", "fp32").precision == "fp32"
    assert _compute_for("cpu", "auto") == pick_compute("cpu", "auto", purpose="training")
