"""`stimstudio VERB [options]`: the command line. One module per verb group registers its verbs.

Contract (DESIGN.md): results on stdout (`--json`: one JSON document), progress on stderr,
exit 0 done, 2 user error (one line `stimstudio: error: ...`), 1 bug (traceback), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from ..core.errors import StimStudioError
from .common import UserError

VERB_MODULES = [
    "stimstudio.cli.readers",
    "stimstudio.cli.generate",
    "stimstudio.cli.train",
    "stimstudio.cli.bench",
    "stimstudio.cli.phantom",
    "stimstudio.cli.judge",
    "stimstudio.cli.export",
    "stimstudio.cli.evaluate",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors follow the same contract
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stimstudio",
        description="Realistic, controllable mammogram stimuli. Without a verb, `stimstudio` "
        "opens the app.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"stimstudio {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name in VERB_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def describe_os_error(exc: OSError) -> str:
    """What went wrong with which file, in the words a user acts on."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full{where}; free some space and run again (finished files are kept)"
    return f"{exc.strerror or exc}{where}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except (StimStudioError, UserError) as exc:
        print(f"stimstudio: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a vanished folder, no permission: one line, no trace
        print(f"stimstudio: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stimstudio: interrupted", file=sys.stderr)
        return 130
