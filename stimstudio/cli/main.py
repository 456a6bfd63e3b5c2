"""`stimstudio VERB [options]`: the command line. One module per verb group registers its verbs.

Contract (DESIGN.md): results on stdout (`--json`: one JSON document), progress on stderr,
exit 0 done, 2 user error (one line `stimstudio: error: ...`), 1 bug (traceback), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import ast
import errno
import importlib
import sys
import warnings
from pathlib import Path

from .. import __version__
from ..core.errors import StimStudioError
from .common import UserError

# The verb groups, in the order `stimstudio --help` lists them. Registering some of them imports
# torch (the training flags come from the trainers' config dataclasses), which costs seconds, so
# a command line registers in full only the group of the verb it runs. The other verbs appear
# as placeholders whose names and help lines are read from the source of each group's
# `register` (no import); a group whose `register` cannot be read that way is imported.
VERB_MODULES = [
    "stimstudio.cli.readers",
    "stimstudio.cli.generate",
    "stimstudio.cli.train",
    "stimstudio.cli.bench",
    "stimstudio.cli.phantom",
    "stimstudio.cli.judge",
    "stimstudio.cli.export",
    "stimstudio.cli.evaluate",
    "stimstudio.cli.films",
]


def declared_verbs(module: str) -> list[tuple[str, str | None]] | None:
    """The (verb, help) pairs a verb module's `register(sub)` adds, read without importing it.

    Only the `register` function is parsed. None when a name or help is not a literal, or a
    verb has aliases (then the caller imports the module instead).
    """
    path = Path(__file__).with_name(module.rsplit(".", 1)[1] + ".py")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    lines = text.splitlines()
    try:
        first = lines.index(next(ln for ln in lines if ln.startswith("def register(")))
    except StopIteration:
        return None
    last = first + 1  # the function ends where the next top-level statement starts
    while last < len(lines) and (not lines[last] or lines[last][0] in " \t#)"):
        last += 1
    try:
        (fn,) = ast.parse("\n".join(lines[first:last])).body
    except (SyntaxError, ValueError):
        return None
    if not isinstance(fn, ast.FunctionDef) or not fn.args.args:
        return None
    sub = fn.args.args[0].arg
    calls = [
        n
        for n in ast.walk(fn)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "add_parser"
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == sub
    ]
    out = []
    for call in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
        kw = {k.arg: k.value for k in call.keywords}
        if len(call.args) != 1 or None in kw or "aliases" in kw:
            return None
        try:
            name = ast.literal_eval(call.args[0])
            help_text = ast.literal_eval(kw["help"]) if "help" in kw else None
        except ValueError:
            return None
        out.append((name, help_text))
    return out or None


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors follow the same contract
        raise UserError(message)


def _verb_of(argv: list[str] | None) -> str | None:
    """The verb a command line runs: its first word that is not an option (None: no verb)."""
    for word in argv or ():
        if not word.startswith("-"):
            return word
        if word == "--":
            return None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; with `argv`, only the group of the verb it runs is registered.

    Every other verb is a placeholder with its help line (enough for `stimstudio --help` and
    for argparse's "invalid choice" message), so that `--help`, `--version`, `info` and
    `convert` never import torch. Without `argv`, every group is registered in full.
    """
    parser = _Parser(
        prog="stimstudio",
        description="Realistic, controllable mammogram stimuli. Without a verb, `stimstudio` "
        "opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"stimstudio {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    verb = _verb_of(argv)
    for module in VERB_MODULES:
        declared = None if argv is None else declared_verbs(module)
        if declared is None or verb in {name for name, _ in declared}:
            importlib.import_module(module).register(sub)
        else:
            for name, help_text in declared:
                sub.add_parser(name, help=help_text, add_help=False)
    return parser


def describe_os_error(exc: OSError) -> str:
    """What went wrong with which file, in the words a user acts on."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full{where}; free some space and run again (finished files are kept)"
    return f"{exc.strerror or exc}{where}"


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings meant for users (a slow precision, ...) as one line each; others as usual."""
    device = sys.modules.get("stimstudio.core.device")  # not imported: not its warning
    if device is not None and issubclass(category, device.PrecisionWarning):
        print(f"stimstudio: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str]) -> int:
    try:
        parser = build_parser(argv)
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
