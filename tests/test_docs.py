"""The docs stay readable and their links stay whole (issue 40, item 7).

The README is the page a newcomer reads first: it stays short, it gives the two commands that
CI runs (.ci/run), and every relative link in it and in docs/ points at a file that exists
and, for a `#section` link into a Markdown file, at a heading that exists. Docs move (the
experiment log left docs/TRAINING.md for docs/experiments/); a moved section must not leave a
dead link behind.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Markdown links and images: [text](target) with no spaces in the target.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _docs() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.lstrip("#").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(md: Path) -> set[str]:
    lines = md.read_text(encoding="utf-8").splitlines()
    inside_code = False
    found = set()
    for line in lines:
        if line.startswith("```"):
            inside_code = not inside_code
        elif not inside_code and line.startswith("#"):
            found.add(_slug(line))
    return found


def test_readme_is_under_200_lines():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n < 200, f"README.md has {n} lines; move reference material into docs/"


def test_readme_gives_the_two_commands_ci_runs():
    text = README.read_text(encoding="utf-8")
    assert "pip install torch==2.13.0 -e . && stimstudio" in text
    assert 'pip install torch==2.13.0 -e ".[test]" && python -m pytest' in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install torch==2.13.0 -e ".[test]" && python -m pytest' in ci


def test_every_relative_link_in_the_docs_resolves():
    dead = []
    for md in _docs():
        for target in LINK.findall(md.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (md.parent / path).resolve() if path else md
            where = f"{md.relative_to(ROOT)} -> {target}"
            if not dest.exists():
                dead.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                dead.append(f"{where} (no such heading)")
    assert not dead, "dead links:\n" + "\n".join(dead)
