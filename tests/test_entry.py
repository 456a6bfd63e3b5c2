"""One console script: verbs go to the command line, everything else opens the app."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stimstudio.__main__ import CLI_VERBS, unknown_word, wants_cli
from stimstudio.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_dispatch_table_matches_the_cli_parser():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == set(CLI_VERBS)


def test_dispatch():
    assert not wants_cli([])
    assert not wants_cli(["mdb001.pgm"])
    assert not wants_cli(["--weights", "w.safetensors", "film.dcm"])
    assert not wants_cli(["--screenshot", "out.png"])
    assert not wants_cli(["study.stimproj"])
    assert wants_cli(["generate", "--seed", "1"])
    assert wants_cli(["--help"])
    assert wants_cli(["--version"])


# -- a mistyped verb, and no display (issue 39) ---------------------------------------------


def _run(argv, cwd, **env_changes):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-m", "stimstudio", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_mistyped_verb_names_the_closest_verbs(tmp_path):
    line = unknown_word(["genrate", "--seed", "1"])
    assert line.startswith("stimstudio: error: 'genrate' is neither a verb nor a file")
    assert "generate" in line and "\n" not in line
    assert "dataset" in unknown_word(["datset"])  # ("searchset" is a verb now: issue 41)
    assert "the verbs are" in unknown_word(["zzzz"])  # nothing close: all of them
    assert "no such file or folder" in unknown_word(["missing.pgm"])
    assert unknown_word(["generate"]) is None and unknown_word(["--help"]) is None
    assert unknown_word([]) is None and unknown_word(["--weights", "w"]) is None
    (tmp_path / "genrate").mkdir()  # an existing folder of that name opens in the app
    assert unknown_word([str(tmp_path / "genrate")]) is None


@pytest.mark.parametrize("argv", [["genrate", "out.png"], ["nosuchverb", "--help"]])
def test_a_mistyped_verb_is_one_line_and_exit_2(argv, tmp_path):
    out = _run(argv, tmp_path, QT_QPA_PLATFORM="offscreen")
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""  # in particular not the app's help, as if the verb existed
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stimstudio: error: "), out.stderr


def test_no_display_says_how_to_run_headless(tmp_path):
    out = _run([], tmp_path, DISPLAY=None, WAYLAND_DISPLAY=None, QT_QPA_PLATFORM=None)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stimstudio: error: no display"), out.stderr
    assert "--screenshot" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0]
    assert "plugin" not in out.stderr


def test_display_problem_reads_the_environment():
    from stimstudio.gui.display import display_problem

    linux = "linux"
    assert "no display" in display_problem({}, linux)
    assert display_problem({}, "win32") is None and display_problem({}, "darwin") is None
    for qpa in ("offscreen", "minimal", "vnc:size=1280x720", "wayland;offscreen"):
        assert display_problem({"QT_QPA_PLATFORM": qpa}, linux) is None, qpa
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, linux) is None
    assert "no display" in display_problem({"QT_QPA_PLATFORM": "wayland;xcb"}, linux)
    assert "does not answer" in display_problem({"DISPLAY": ":97"}, linux)


def test_missing_xcb_libraries_are_named_as_packages(monkeypatch):
    """Qt's own message names only libxcb-cursor0; ours names every package that is missing."""
    import ctypes

    from stimstudio.gui import display

    def cdll(name):
        if name in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"):
            raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(display, "x_server_reachable", lambda d: True)
    line = display.display_problem({"DISPLAY": ":0"}, "linux")
    assert "apt install libxcb-icccm4 libxcb-keysyms1;" in line and "--screenshot" in line
