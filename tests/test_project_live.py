"""core.project.Project as the live model: field changes as Qt-free events, edits as field
changes an undo stack can keep, snapshots that later edits leave alone (issue 40)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from stimstudio.core.events import EventEmitter
from stimstudio.core.insertion import Placement
from stimstudio.core.interpolate import Anchor
from stimstudio.core.latent import Latent
from stimstudio.core.project import Project


def _anchor(name: str, k: float) -> Anchor:
    return Anchor(name, Latent(np.full((4, 8), k, np.float32)))


def test_an_emitter_calls_each_callback_once_in_order_and_can_be_blocked():
    seen = []
    e = EventEmitter()
    first = e.connect(lambda x: seen.append(("a", x)))
    e.connect(first)  # connected once only
    e.connect(lambda x: seen.append(("b", x)))
    e.emit(1)
    with e.blocked():
        e.emit(2)
    e.disconnect(first)
    e.emit(3)
    assert seen == [("a", 1), ("b", 1), ("b", 3)]


def test_a_failing_callback_does_not_silence_the_others():
    seen = []
    e = EventEmitter()
    e.connect(lambda: 1 / 0)
    e.connect(lambda: seen.append("heard"))
    with pytest.raises(ZeroDivisionError):
        e.emit()
    assert seen == ["heard"]


def test_update_replaces_fields_emits_one_event_each_and_returns_the_old_values():
    p = Project()
    seen = []
    p.events.changed.connect(seen.append)
    before = p.placement
    old = p.update({"placement": Placement(dx=3.0), "current": "a.pgm"})
    assert seen == ["placement", "current"]
    assert p.placement.dx == 3.0 and old == {"placement": before, "current": None}
    p.update(old)  # what an undo does
    assert p.placement is before and p.current is None
    with pytest.raises(KeyError):
        p.update({"model": {}})  # the file's, not an edit


def test_adopt_takes_another_design_with_one_reset_event():
    p, other = Project(), Project(library=["x.pgm"], fps=24.0)
    events = []
    p.events.changed.connect(lambda name: events.append(name))
    p.events.reset.connect(lambda: events.append("reset"))
    p.adopt(other)
    assert events == ["reset"] and p.library == ["x.pgm"] and p.fps == 24.0
    assert p.events is not other.events


def test_anchor_edits_keep_the_continuum_in_step():
    p = Project()
    for name, k in (("one", 0.0), ("two", 1.0), ("one", 2.0)):
        p.update(p.keep_anchor_changes(_anchor(name, k)))
    assert [a.name for a in p.anchors.values()] == ["one", "two", "one (2)"]
    ids = list(p.anchors)
    p.update(p.continuum_changes([ids[2], ids[0]], frames=9))
    assert p.continuum_ids() == [ids[2], ids[0]] and p.continuum.frames == 9
    p.update(p.rename_anchor_changes(ids[0], "first"))
    assert [a.name for a in p.continuum.anchors] == ["one (2)", "first"]
    assert p.continuum_ids() == [ids[2], ids[0]]
    old = p.update(p.remove_anchors_changes([ids[2]]))
    assert list(p.anchors) == [ids[0], ids[1]] and p.continuum_ids() == [ids[0]]
    p.update(old)
    assert p.continuum_ids() == [ids[2], ids[0]]


def test_a_copy_is_a_snapshot_that_later_edits_leave_alone():
    p = Project(library=["a.pgm"])
    p.update(p.keep_anchor_changes(_anchor("one", 0.0)))
    snap = p.copy()
    p.update({"library": [*p.library, "b.pgm"]})
    p.update(p.keep_anchor_changes(_anchor("two", 1.0)))
    assert snap.library == ["a.pgm"] and len(snap.anchors) == 1
    seen = []
    snap.events.changed.connect(seen.append)
    p.update({"current": "a.pgm"})
    assert seen == []  # a snapshot has listeners of its own


def test_a_new_project_loads_no_torch():
    code = (
        "import sys\n"
        "from stimstudio.core.project import Project\n"
        "p = Project(); p.continuum.validate if p.placement else None\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
