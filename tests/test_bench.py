"""`stimstudio bench`: every section end to end at smoke size, a cheap section's report re-written
from its JSON with a note on the machine's load, and a broken JSON or an unknown section refused
in one line. Nothing here asserts a time: the suite reports its goals, tests only that it runs."""

from __future__ import annotations

import json

import pytest

from stimstudio.bench.suite import SECTION_NAMES
from stimstudio.cli.main import main


def _errors(value, where="") -> list[str]:
    """Every "error" a section (or one of its arms) reported."""
    if not isinstance(value, dict):
        return []
    found = [f"{where}: {value['error']}"] if "error" in value else []
    for k, v in value.items():
        found += _errors(v, f"{where}.{k}")
    return found


@pytest.mark.slow
def test_every_section_runs_at_smoke_size(tmp_path, capsys, tiny_weights):
    out = tmp_path / "B.md"
    code = main(["bench", "--weights", str(tiny_weights), "--smoke", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["sizes"] == "smoke"
    assert [k for k in SECTION_NAMES if k not in res] == []
    assert _errors({k: res[k] for k in SECTION_NAMES}) == []
    # the sections that need Qt ran in the app's own interpreter, through today's workers
    assert res["gui_scrubbing"]["requests"] >= 1 and "worst_stall_ms" in res["responsiveness"]
    assert res["machine"]["cpu"] and res["machine"]["cpu_capability"]
    md = out.read_text()
    assert "Smoke run" in md and "## 1. Inversion" in md and "## 4. Responsiveness" in md
    assert "## 10. Training step" in md and "CPU capability" in md
    assert (tmp_path / "benchmarks" / "figures" / "inversion.png").is_file()


def test_an_unknown_section_is_one_clear_error(tmp_path, capsys, tiny_weights):
    code = main(
        [
            "bench",
            "--weights",
            str(tiny_weights),
            "--only",
            "nonsense",
            "--out",
            str(tmp_path / "o.md"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "unknown bench section 'nonsense'" in err
    assert not (tmp_path / "o.md").exists()


def test_readers_section_writes_report_and_json(tmp_path, capsys, tiny_weights):
    out = tmp_path / "B.md"
    code = main(["bench", "--weights", str(tiny_weights), "--only", "readers", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    md = out.read_text()
    res = json.loads(out.with_suffix(".json").read_text())
    assert "## 5. Readers" in md and "DICOM 4600x3100" in md
    ratio = res["readers"]["DICOM 4600x3100 16-bit"]["peak_over_image"]
    assert 1.0 < ratio < 10.0  # measured, not a constant: the float32 output alone is 2x

    again = tmp_path / "again.md"
    code = main(
        [
            "bench",
            "--from-json",
            str(out.with_suffix(".json")),
            "--note",
            "GAN training on the other core",
            "--out",
            str(again),
        ]
    )
    assert code == 0
    text = again.read_text()
    assert "Conditions: GAN training on the other core" in text
    assert text.replace("Conditions: GAN training on the other core\n", "") == md


def test_broken_json_is_one_clear_error(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    code = main(["bench", "--from-json", str(bad), "--out", str(tmp_path / "o.md")])
    err = capsys.readouterr().err
    assert code == 2 and "not a readable benchmark result" in err
    assert not (tmp_path / "o.md").exists()


def test_grown_section_times_both_resolutions_in_one_run(tmp_path, capsys, tiny_weights):
    out = tmp_path / "G.md"
    args = ["bench", "--weights", str(tiny_weights), "--smoke", "--only", "grown"]
    code = main([*args, "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    sec = json.loads(out.with_suffix(".json").read_text())["grown"]
    small, grown = sec["small"], sec["grown"]
    assert (small["resolution"], grown["resolution"]) == (32, 64)
    assert grown["encoder_resolution"] == 32 and grown["perceptual"].endswith("avg32px")
    assert grown["num_ws"] == small["num_ws"] + 2 and grown["eq4_steps"] == 2
    assert sec["eq4_ratio"] == pytest.approx(grown["eq4_seconds"] / small["eq4_seconds"])
    md = out.read_text()
    assert "## 11. The grown model" in md and "| 64 px (10 styles) | 32 |" in md
