"""The app's benchmark sections, each run in a fresh interpreter (`python -m stimstudio.gui.bench`).

The benchmark suite sits under the CLI in the import layers and, like it, never imports Qt or
the GUI (pyproject.toml's contracts): the app's sections live in the GUI's own package, import
only what the GUI may (core and gui), and come back here as one JSON document on stdout. A
fresh interpreter also keeps Qt's event loop and threads out of the other sections' timings.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

from stimstudio.core.model import Model

from .harness import PYTHON, child_env
from .sizes import Sizes

GUI_MODULE = "stimstudio.gui.bench"


def run(model: Model, section: str, sizes: Sizes, timeout: float = 1800) -> dict:
    """One of the app's sections (`gui_scrubbing`, `responsiveness`) on the model's file."""
    if model.path is None:
        return {"error": "the app's sections need a model file (--weights)"}
    argv = [PYTHON, "-m", GUI_MODULE, section, str(model.path)]
    argv.append(json.dumps(dataclasses.asdict(sizes)))
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=child_env(QT_QPA_PLATFORM="offscreen"),
        timeout=timeout,
        check=False,
    )
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        tail = out.stderr.strip().splitlines()
        return {"error": tail[-1] if tail else f"exit status {out.returncode}"}
    return json.loads(lines[-1])
