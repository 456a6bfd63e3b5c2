"""Manifests and results are strict JSON: no NaN / Infinity tokens that other parsers refuse."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stimstudio.core.jsonable import dumps_strict, loads_strict


def test_loads_strict_refuses_what_python_accepts():
    text = '{"cv": NaN, "hi": Infinity, "lo": -Infinity}'
    assert math.isnan(json.loads(text)["cv"])  # why a json.loads check proves nothing
    with pytest.raises(ValueError, match="NaN"):
        loads_strict(text)
    with pytest.raises(ValueError, match="Infinity"):
        loads_strict('{"a": [1, -Infinity]}')


def test_dumps_strict_writes_missing_for_non_finite():
    doc = {
        "cv": float("nan"),
        "steps": np.array([1.0, np.inf]),
        "n": np.int64(3),
        "x": np.float32(-np.inf),
    }
    text = dumps_strict(doc, indent=1)
    assert loads_strict(text) == {"cv": None, "steps": [1.0, None], "n": 3, "x": None}


def test_phantom_manifest_is_strict_json(tmp_path, capsys):
    from stimstudio.cli.main import main

    rc = main(["phantom", str(tmp_path / "ph"), "--count", "1", "--size", "64", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    doc = loads_strict((tmp_path / "ph" / "phantoms.json").read_text())
    assert doc["format"] == "stimstudio-phantoms"
