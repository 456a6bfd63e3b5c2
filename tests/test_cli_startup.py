"""The CLI starts without torch: `--help`, `--version`, `info` and `convert` never import it.

Speed itself is measured by `stimstudio bench` (section cli_startup), not here: a test that
asserts milliseconds fails on a busy machine. What makes the start fast is asserted instead:
which modules a command imports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stimstudio.cli.main import VERB_MODULES, build_parser, declared_verbs, main

HEAVY = ("torch", "scipy", "stimstudio.train", "PySide6")


def _subparsers(parser) -> argparse._SubParsersAction:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub


def test_declared_verbs_match_what_the_modules_register():
    full = _subparsers(build_parser())
    registered = [(a.dest, a.help) for a in full._choices_actions]
    declared = []
    for module in VERB_MODULES:
        found = declared_verbs(module)
        assert found, f"{module}: register() could not be read without importing it"
        declared += found
    assert declared == registered


def test_only_the_verb_run_is_registered():
    sub = _subparsers(build_parser(["info", "x.dcm"]))
    assert sub.choices["info"].add_help and sub.choices["convert"].add_help
    assert not sub.choices["train"].add_help  # a placeholder: help line only
    full = _subparsers(build_parser())
    assert [(a.dest, a.help) for a in sub._choices_actions] == [
        (a.dest, a.help) for a in full._choices_actions
    ]
    for verb in full.choices:
        lazy = _subparsers(build_parser([verb]))
        assert lazy.choices[verb].add_help, f"{verb} is a placeholder in its own parse"


def test_a_register_that_cannot_be_read_is_imported(tmp_path, monkeypatch):
    import stimstudio.cli.main as cli_main

    monkeypatch.setattr(cli_main, "declared_verbs", lambda module: None)
    sub = _subparsers(cli_main.build_parser(["info"]))
    assert sub.choices["bench"].add_help  # registered in full, as before


def test_unknown_verb_is_one_line(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stimstudio: error:") and "frobnicate" in err[0]


def _imports_after(argv: list[str], cwd) -> dict:
    code = (
        "import json, sys\n"
        "from stimstudio.cli.main import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        f"print(json.dumps({{'rc': rc, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}),"
        " file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    return json.loads(out.stderr.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def png(tmp_path_factory):
    path = tmp_path_factory.mktemp("startup") / "film.png"
    Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(64, 48) * 20).save(path)
    return path


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["info", "--help"], ["convert", "--help"], ["nonsense-verb"]],
)
def test_help_and_version_never_import_torch(tmp_path, argv):
    res = _imports_after(argv, tmp_path)
    assert res["heavy"] == []
    assert res["rc"] in (0, 2, None)


def test_info_and_convert_never_import_torch(tmp_path, png):
    res = _imports_after(["info", str(png), "--json"], tmp_path)
    assert res == {"rc": 0, "heavy": []}
    res = _imports_after(["convert", str(png), str(tmp_path / "out.png")], tmp_path)
    assert res == {"rc": 0, "heavy": []}
    assert (tmp_path / "out.png").is_file()


def test_every_verb_module_is_in_the_independence_contract():
    # A new verb group must join the contract, or it could import another verb unseen.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    doc = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    (contract,) = [
        c for c in doc["tool"]["importlinter"]["contracts"] if c["type"] == "independence"
    ]
    assert sorted(contract["modules"]) == sorted(VERB_MODULES)
