"""Lint, format and the layer contract run inside the test command (DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint():
    out = _run(sys.executable, "-m", "ruff", "check", "stimstudio", "tests", "main.py")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format():
    out = _run(
        sys.executable,
        "-m",
        "ruff",
        "format",
        "--check",
        "stimstudio",
        "tests",
        "main.py",
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_contract_core_train_cli_never_import_qt():
    # Through the interpreter that runs the tests: a venv that is not activated has no
    # `lint-imports` on PATH, but its python has import-linter.
    try:
        import importlinter  # noqa: F401
    except ImportError:
        pytest.fail("import-linter is not installed (pip install -e '.[test]')")
    out = _run(
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())",
    )
    assert out.returncode == 0, out.stdout + out.stderr
