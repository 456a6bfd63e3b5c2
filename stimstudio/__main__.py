"""`stimstudio` opens the app; `stimstudio VERB ...` runs the command line.

This dispatcher lives outside `cli/` so that the command line never imports Qt (the import
contract) and the app's start never imports the CLI's verb modules (they pull in torch).
Anything that is not a verb or a CLI option — files, folders, a .stimproj, app flags such as
`--weights` or `--screenshot` — goes to the app.
"""

from __future__ import annotations

import sys

# Kept in step with the CLI parser by tests/test_entry.py.
CLI_VERBS = frozenset(
    {
        "analyze-judgements",
        "batch",
        "bench",
        "compose",
        "convert",
        "dataset",
        "evaluate-model",
        "export",
        "generate",
        "info",
        "interpolate",
        "invert",
        "judge",
        "mix",
        "phantom",
        "regenerate",
        "train",
    }
)
CLI_OPTIONS = frozenset({"-h", "--help", "--version", "--help-cli"})


def wants_cli(argv: list[str]) -> bool:
    return bool(argv) and (argv[0] in CLI_VERBS or argv[0] in CLI_OPTIONS)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not wants_cli(argv):
        from stimstudio.gui.app import run_app

        return run_app(argv)
    from stimstudio.cli.main import main as cli_main

    if argv[0] == "--help-cli":
        argv = ["--help"]
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
