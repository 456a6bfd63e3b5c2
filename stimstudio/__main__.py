"""`stimstudio` opens the app; `stimstudio VERB ...` runs the command line.

This dispatcher lives outside `cli/` so that the command line never imports Qt (the import
contract) and the app's start never imports the CLI's verb modules (they pull in torch).
Anything that is not a verb or a CLI option — files, folders, a .stimproj, app flags such as
`--weights` or `--screenshot` — goes to the app.
"""

from __future__ import annotations

import difflib
import os
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
        "insert",
        "interpolate",
        "invert",
        "judge",
        "mix",
        "phantom",
        "regenerate",
        "searchset",
        "train",
    }
)
CLI_OPTIONS = frozenset({"-h", "--help", "--version", "--help-cli"})


def wants_cli(argv: list[str]) -> bool:
    return bool(argv) and (argv[0] in CLI_VERBS or argv[0] in CLI_OPTIONS)


def unknown_word(argv: list[str]) -> str | None:
    """The error line for a first word that is neither a verb, an option nor an existing file
    or folder (`stimstudio genrate`): it names the closest verbs. None when the word is fine."""
    if not argv or argv[0].startswith("-") or argv[0] in CLI_VERBS:
        return None
    word = argv[0]
    if os.path.exists(word):
        return None
    if "/" in word or os.sep in word or os.path.splitext(word)[1]:
        return f"stimstudio: error: {word}: no such file or folder"
    close = difflib.get_close_matches(word, sorted(CLI_VERBS), n=3, cutoff=0.5)
    if close:
        names = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
        verbs = f"did you mean {names}? `stimstudio --help` lists the verbs"
    else:
        verbs = f"the verbs are {', '.join(sorted(CLI_VERBS))}"
    return f"stimstudio: error: {word!r} is neither a verb nor a file or folder; {verbs}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = unknown_word(argv)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if not wants_cli(argv):
        from stimstudio.gui.app import run_app

        return run_app(argv)
    from stimstudio.cli.main import main as cli_main

    if argv[0] == "--help-cli":
        argv = ["--help"]
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
