"""`stimstudio bench`: a cheap section end to end, the report re-written from its JSON with a note
on the machine's load, and a broken JSON refused in one line."""

from __future__ import annotations

import json

from stimstudio.cli.main import main


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
