"""One console script: verbs go to the command line, everything else opens the app."""

from __future__ import annotations

import argparse

from stimstudio.__main__ import CLI_VERBS, wants_cli
from stimstudio.cli.main import build_parser


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
