"""`stimstudio` with no verb opens the app; with a verb it runs the command line.

This dispatcher lives outside `cli/` so that the command line never imports Qt (the
import contract), while one console script serves both.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    gui_flags = {"--screenshot", "--project", "--weights-gui"}
    if not argv or argv[0] in gui_flags or argv[0].endswith(".stimproj"):
        from stimstudio.gui.app import run_app

        return run_app(argv)
    from stimstudio.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
