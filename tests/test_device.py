"""Precision by probing the hardware: "auto" never picks a precision slower than fp32."""

from __future__ import annotations

import warnings

import pytest
import torch

from stimstudio.cli.main import _show_warning
from stimstudio.core import device as dv
from stimstudio.core.errors import OptionError

CPU = torch.device("cpu")


def test_cpu_rule():
    # AVX2 EPYC: oneDNN has no bf16 at all -> emulated
    assert not dv._cpu_bf16("AVX2", False, {"avx2", "fma"}, "x86_64").native
    # AVX-512 without BF16 instructions: oneDNN says yes but converts in software
    s = dv._cpu_bf16("AVX512", True, {"avx512f", "avx512bw"}, "x86_64")
    assert not s.native and "avx512_bf16" in s.detail
    # Zen 4 / Sapphire Rapids: native
    assert dv._cpu_bf16("AVX512", True, {"avx512f", "avx512_bf16"}, "x86_64").native
    assert dv._cpu_bf16("AVX512", True, {"amx_bf16"}, "x86_64").native
    # ARM with bf16 (oneDNN decides), and x86 where flags cannot be read
    assert dv._cpu_bf16("SVE256", True, {"bf16"}, "aarch64").native
    assert dv._cpu_bf16("AVX512", True, None, "AMD64").native


def test_probe_on_this_machine_is_consistent():
    s = dv.bf16_support("cpu")
    assert isinstance(s.native, bool) and torch.backends.cpu.get_cpu_capability() in s.detail
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        assert not s.native


@pytest.fixture
def emulated(monkeypatch):
    monkeypatch.setattr(dv, "bf16_support", lambda t="cpu": dv.Bf16Support(False, "AVX2 test"))


@pytest.fixture
def native(monkeypatch):
    monkeypatch.setattr(dv, "bf16_support", lambda t="cpu": dv.Bf16Support(True, "bf16 test"))


def test_auto_for_inference_is_fp32_everywhere(emulated):
    c = dv.pick_compute("cpu", "auto")
    assert c.precision == "fp32" and "auto" in c.reason


def test_auto_for_training_follows_the_probe(emulated):
    c = dv.pick_compute("cpu", "auto", purpose="training")
    assert c.precision == "fp32" and "AVX2 test" in c.reason


def test_auto_for_training_is_bf16_where_native(native):
    c = dv.pick_compute("cpu", "auto", purpose="training")
    assert c.precision == "bf16" and "bf16 test" in c.reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dv.pick_compute("cpu", "bf16").precision == "bf16"  # no warning


def test_explicit_bf16_where_emulated_is_kept_with_a_warning(emulated):
    with pytest.warns(dv.PrecisionWarning, match="not native here.*fp32"):
        c = dv.pick_compute("cpu", "bf16")
    assert c.precision == "bf16"


def test_bad_choices_are_refused():
    with pytest.raises(OptionError, match="170x"):
        dv.pick_compute("cpu", "fp16")
    with pytest.raises(OptionError, match="unknown precision"):
        dv.pick_compute("cpu", "fp8")


def test_reason_does_not_change_equality_or_describe():
    assert dv.Compute(CPU, "fp32", "a") == dv.Compute(CPU, "fp32")
    assert dv.Compute(CPU, "bf16", "why").describe() == "cpu, bf16"


def test_cli_shows_a_precision_warning_as_one_line(capsys):
    _show_warning("bf16 is slow here", dv.PrecisionWarning, "x.py", 1)
    assert capsys.readouterr().err == "stimstudio: warning: bf16 is slow here\n"


@pytest.mark.parametrize("phase", [["gan"], ["encoder", "--weights", "w.safetensors"]])
def test_training_default_precision_follows_the_probe(phase, emulated, capsys):
    from stimstudio.cli.main import build_parser
    from stimstudio.cli.train import _compute_for

    argv = ["train", *phase, "--data", "train.npz"]
    args = build_parser(argv).parse_args(argv)
    assert args.precision == "auto"
    compute = _compute_for("cpu", args.precision)
    assert compute.precision == "fp32"
    assert "precision: fp32 (auto: fp32 (AVX2 test" in capsys.readouterr().err
