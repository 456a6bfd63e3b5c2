"""The adjustment task as exported files: a loop export writes the PsychoPy script and the
browser experiment; the script's trial loop runs headless with simulated keys; the browser
experiment runs in headless Chromium (skipped where there is none) with simulated keys and
wheel; both write the columns `stimstudio judge adjustment` reads, in the plan's order."""

from __future__ import annotations

import csv
import importlib.util
import json
import py_compile
import re
import sys
from pathlib import Path

import pytest
from chromium_helpers import Chromium, find_chromium, wait_for_file

from stimstudio.cli.main import main
from stimstudio.core.errors import ExportError, OptionError
from stimstudio.core.experiments import (
    BROWSER_NAME,
    FILES_DIR,
    PSYCHOPY_NAME,
    VENDORED,
    AdjustmentTaskParams,
    adjustment_task_files,
    check_task,
)
from stimstudio.core.export import ExportSettings, export, load_manifest, verify_files
from stimstudio.core.generate import latent_for_seed
from stimstudio.core.interpolate import Anchor, Continuum
from stimstudio.core.judgements import (
    ADJUSTMENT_COLUMNS,
    adjustment_plan,
    default_seed,
    read_adjustment_results,
)
from stimstudio.core.model import load_model

N_FRAMES = 8
FAST = ExportSettings(formats=("png",), preview=None, contact_sheet=False)


@pytest.fixture(scope="module")
def model(tiny_weights):
    return load_model(tiny_weights)


def _anchors(model, seeds=(1, 2, 3)):
    return [Anchor(f"s{s}", latent_for_seed(model, s, noise_mode="seed")) for s in seeds]


@pytest.fixture(scope="module")
def loop_export(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "e"
    res = export(
        Continuum(_anchors(model), frames=N_FRAMES, loop=True, spacing="latent"),
        model,
        out,
        FAST,
        continuum_id="loopA",
    )
    return out, res


def test_loop_export_writes_the_task_files(loop_export):
    out, res = loop_export
    for rel in (PSYCHOPY_NAME, BROWSER_NAME, f"{FILES_DIR}/adjustment.js"):
        assert (out / rel).is_file()
        assert res.files[f"task:{rel}"] == rel
    for name in VENDORED:
        assert (out / FILES_DIR / "jspsych" / name).is_file()
    assert "MIT License" in (out / FILES_DIR / "jspsych" / "LICENSE").read_text()
    doc = load_manifest(out)
    assert doc["files_sha256"][PSYCHOPY_NAME]
    missing, changed, unverified = verify_files(doc)
    assert (missing, changed, unverified) == ([], [], [])
    # the browser copy lists the frames in conditions.csv's order
    html = (out / BROWSER_NAME).read_text()
    params = json.loads(re.search(r"STIMSTUDIO_PARAMS = (\{.*?\});", html, re.S).group(1))
    with open(out / "conditions.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["frame"]))
    assert params["frames"] == [r["imageFile"] for r in rows]
    assert params["n_frames"] == N_FRAMES and params["continuum"] == "loopA"


def test_task_files_are_the_same_bytes_every_time():
    frames = [f"png/c_{i:04d}.png" for i in range(6)]
    assert adjustment_task_files("c", frames, 64) == adjustment_task_files("c", frames, 64)


def test_open_path_is_refused_for_the_circular_task(model, tmp_path):
    path = Continuum(_anchors(model, (1, 2)), frames=4, loop=False, spacing="latent")
    from dataclasses import replace

    with pytest.raises(ExportError, match="needs a continuum that is a loop"):
        export(path, model, tmp_path / "open", replace(FAST, task="adjustment"))
    assert not (tmp_path / "open").exists()  # refused before anything was rendered
    res = export(path, model, tmp_path / "auto", FAST)  # auto: no task for an open path
    assert not any(k.startswith("task:") for k in res.files)
    assert not (tmp_path / "auto" / PSYCHOPY_NAME).exists()
    with pytest.raises(OptionError, match="unknown task"):
        replace(FAST, task="circle").validate()
    with pytest.raises(ExportError, match="keep the conditions file"):
        check_task("adjustment", "continuum", True, False)


def test_cli_open_path_refused_in_one_line(tiny_weights, tmp_path, capsys):
    rc = main(
        [
            "export",
            "seed:1",
            "seed:2",
            "--out",
            str(tmp_path / "o"),
            "--frames",
            "3",
            "--weights",
            tiny_weights,
            "--task",
            "adjustment",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("stimstudio: error: the adjustment task is circular")
    assert err.count("\n") == 1


def test_bad_task_params_refused():
    with pytest.raises(OptionError, match="mask must be"):
        adjustment_task_files("c", ["a.png"] * 5, 32, AdjustmentTaskParams(mask="grating"))
    with pytest.raises(OptionError, match="target"):
        AdjustmentTaskParams(target_s=0).validate()


# ------------------------------------------------------------------- the PsychoPy script


def _load_script(path: Path):
    py_compile.compile(str(path), doraise=True)
    spec = importlib.util.spec_from_file_location("ss_adjustment_task", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no PsychoPy needed: it is imported in main() only
    return mod


class FakeIO:
    """PsychoPyIO's stand-in: on trial k it presses Right k times, one wheel notch down,
    then Space; `quit_at` presses Esc and answers "quit" on that trial."""

    def __init__(self, quit_at=None):
        self.trial = 0
        self.quit_at = quit_at
        self.shown = []
        self.t = 0.0

    def clock(self):
        self.t += 0.25
        return self.t

    def show_target(self, frame, seconds):
        self.trial += 1
        self.shown.append(("target", frame))

    def show_mask(self, kind, seconds):
        self.shown.append(("mask", kind))

    def show_response(self, frame):
        self.shown.append(("response", frame))

    def blank(self, seconds):
        pass

    def clear_events(self):
        pass

    def events(self):
        if self.trial == self.quit_at:
            return ["escape"]
        return ["right"] * self.trial + ["wheel_down", "space"]

    def ask_quit(self):
        return True

    def ask_confidence(self, levels):
        return levels


def test_psychopy_script_trial_loop_runs_headless_and_resumes(loop_export, tmp_path):
    out, _ = loop_export
    mod = _load_script(out / PSYCHOPY_NAME)
    assert tuple(mod.COLUMNS) == ADJUSTMENT_COLUMNS
    frames = mod.read_frames(str(out / "conditions.csv"))
    assert len(frames) == N_FRAMES and all(Path(f).is_file() for f in frames)
    params = {**mod.PARAMS, "n_trials": 6}
    seed = mod.default_seed("P 1", 2)
    assert seed == default_seed("P 1", 2)
    results = tmp_path / "data" / "r.csv"
    assert mod.run_session(FakeIO(quit_at=4), "P 1", 2, seed, str(results), params) == "quit"
    assert len(read_adjustment_results(results)) == 3
    io = FakeIO()
    io.trial = 3  # the next run starts at trial 4
    assert mod.run_session(io, "P 1", 2, seed, str(results), params) == "done"
    rows = read_adjustment_results(results)
    plan = adjustment_plan(N_FRAMES, 6, seed)
    assert [r.trial for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [(r.target_frame, r.start_frame) for r in rows] == [
        (t.target_frame, t.start_frame) for t in plan
    ]
    for r in rows:  # k Right presses and one wheel notch down
        assert r.response_frame == (r.start_frame + r.trial - 1) % N_FRAMES
        assert r.participant == "P 1" and r.session == 2 and r.seed == seed
        assert r.continuum == "loopA" and r.rt_ms is not None and r.timestamp


def test_psychopy_script_with_confidence(loop_export, tmp_path):
    mod = _load_script(loop_export[0] / PSYCHOPY_NAME)
    params = {**mod.PARAMS, "n_trials": 2, "confidence_levels": 4}
    results = tmp_path / "c.csv"
    assert mod.run_session(FakeIO(), "p", 1, 5, str(results), params) == "done"
    assert [r.confidence for r in read_adjustment_results(results)] == [4, 4]


def test_psychopy_script_mouse_position_chooses_the_frame(loop_export, tmp_path):
    mod = _load_script(loop_export[0] / PSYCHOPY_NAME)

    class MouseIO(FakeIO):
        def events(self):
            return [("frame", 5), "space"]

    results = tmp_path / "m.csv"
    params = {**mod.PARAMS, "n_trials": 2, "mouse_x": True}
    assert mod.run_session(MouseIO(), "p", 1, 9, str(results), params) == "done"
    assert [r.response_frame for r in read_adjustment_results(results)] == [5, 5]


def test_psychopy_io_maps_keys_wheel_and_mouse(loop_export):
    """PsychoPyIO's input mapping with stand-ins for psychopy.event, the mouse and the
    window (the window itself needs a display)."""
    mod = _load_script(loop_export[0] / PSYCHOPY_NAME)

    class Event:
        keys: list = []

        def getKeys(self, keyList=None):  # noqa: N802, N803 - PsychoPy's names
            got = [k for k in self.keys if keyList is None or k in keyList]
            self.keys = [k for k in self.keys if k not in got]
            return got

        def clearEvents(self):  # noqa: N802
            self.keys = []

    class Mouse:
        wheel, moved, pos = (0, 0), False, (0, 0)

        def getWheelRel(self):  # noqa: N802
            w, self.wheel = self.wheel, (0, 0)
            return w

        def mouseMoved(self):  # noqa: N802
            return self.moved

        def getPos(self):  # noqa: N802
            return self.pos

    class Win:
        size = (800, 600)

    io = object.__new__(mod.PsychoPyIO)
    io.event, io.mouse, io.win, io.mouse_x, io.n_frames = Event(), Mouse(), Win(), True, 8
    io.event.keys = ["left", "escape", "space"]  # pressed during the target and mask
    io.clear_events()
    assert io.events() == ["escape"]  # only Esc survives, asked at once
    io.event.keys = ["right", "space"]
    io.mouse.wheel = (0, 2)
    assert io.events() == ["right", "space", "wheel_up", "wheel_up"]
    io.mouse.moved, io.mouse.pos = True, (-400 + 800 * 4.5 / 8, 0)  # pix, 0 at the centre
    assert io.events() == [("frame", 4)]


def test_psychopy_reads_the_conditions_as_the_script_does(loop_export):
    pytest.importorskip(
        "psychopy.data",
        reason="PsychoPy is not installed here (.ci/run installs it); the script's "
        "conditions reading through psychopy.data.importConditions is not checked",
    )
    out, _ = loop_export
    mod = _load_script(out / PSYCHOPY_NAME)
    frames = mod.read_frames(str(out / "conditions.csv"))  # through importConditions
    with open(out / "conditions.csv", newline="") as f:
        plain = {int(r["frame"]): r["imageFile"] for r in csv.DictReader(f)}
    assert frames == [str(out / plain[i]) for i in range(N_FRAMES)]


def test_the_psychopy_api_the_script_uses_exists():
    """PsychoPy's window needs a display and OpenGL; what can be checked headless is that
    every name PsychoPyIO and main() call is there in the installed PsychoPy."""
    core = pytest.importorskip(
        "psychopy.core", reason="PsychoPy is not installed here (.ci/run installs it)"
    )
    assert all(hasattr(core, n) for n in ("Clock", "CountdownTimer", "quit"))
    try:
        from psychopy import event
    except ImportError:  # without its display libraries (pyglet)
        event = None
    if event is not None:
        assert all(hasattr(event, n) for n in ("getKeys", "clearEvents", "waitKeys", "Mouse"))
        assert all(hasattr(event.Mouse, n) for n in ("getWheelRel", "mouseMoved", "getPos"))


# ------------------------------------------------------------------- the browser experiment

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or sys.platform != "linux",
    reason="no headless Chromium (/usr/bin/chromium; Debian: apt-get install chromium); the "
    "browser experiment is not run",
)


def _fast_copy(out: Path, name: str, **changes) -> Path:
    """A copy of the experiment page with short timings and few trials (its parameters are
    meant to be edited)."""
    html = (out / BROWSER_NAME).read_text()
    m = re.search(r"STIMSTUDIO_PARAMS = (\{.*?\});", html, re.S)
    params = json.loads(m.group(1))
    params.update(target_s=0.05, mask_s=0.05, iti_s=0.02, **changes)
    page = out / name
    page.write_text(html.replace(m.group(1), json.dumps(params)))
    return page


def _respond(c: Chromium, trial: int, rights: int) -> None:
    c.wait_for(
        f"window.stimstudio.state.phase === 'response' && window.stimstudio.state.trial === {trial}"
    )
    for _ in range(rights):
        c.key("ArrowRight")
    c.wheel(-120)  # one notch up: one frame forward
    c.key(" ")


@needs_chromium
def test_browser_experiment_runs_in_headless_chromium(loop_export, tmp_path):
    out, _ = loop_export
    page = _fast_copy(out, "fast.html", n_trials=4)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    c = Chromium(CHROMIUM, downloads)
    try:
        c.call("Page.navigate", url=page.as_uri() + "?participant=B1&session=1")
        c.wait_for("window.stimstudio && window.stimstudio.state.phase === 'instructions'")
        c.key(" ")
        for k in range(1, 5):
            _respond(c, k, k)
        c.wait_for("window.stimstudio.state.phase === 'done'")
        saved = wait_for_file(downloads, "adjustment_B1_session1.csv")
        link = "document.querySelector('a[download]')"
        assert c.evaluate(f"{link}.download") == "adjustment_B1_session1.csv"  # to click again
        errors = [e for e in c.events if e.get("method") == "Runtime.exceptionThrown"]
    finally:
        c.close()
    assert errors == []
    with open(saved, newline="") as f:
        assert tuple(next(csv.reader(f))) == ADJUSTMENT_COLUMNS
    rows = read_adjustment_results(saved)
    seed = default_seed("B1", 1)
    plan = adjustment_plan(N_FRAMES, 4, seed)
    assert [(r.trial, r.target_frame, r.start_frame) for r in rows] == [
        (t.index, t.target_frame, t.start_frame) for t in plan
    ]
    for r in rows:
        assert r.response_frame == (r.start_frame + r.trial + 1) % N_FRAMES
        assert r.seed == seed and r.continuum == "loopA" and r.n_frames == N_FRAMES
        assert r.rt_ms is not None and r.onset and r.timestamp


@needs_chromium
def test_browser_experiment_quits_and_resumes(loop_export, tmp_path):
    out, _ = loop_export
    page = _fast_copy(out, "resume.html", n_trials=3)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    c = Chromium(CHROMIUM, downloads)
    url = page.as_uri() + "?participant=B2&session=3&seed=77"
    try:
        c.call("Page.navigate", url=url)
        c.wait_for("window.stimstudio && window.stimstudio.state.phase === 'instructions'")
        c.key(" ")
        _respond(c, 1, 0)
        c.wait_for("window.stimstudio.state.phase === 'response'")
        c.key("Escape")
        c.wait_for("window.stimstudio.state.phase === 'quit'")
        c.key("y")
        c.wait_for("window.stimstudio.state.phase === 'done'")
        first = wait_for_file(downloads, "adjustment_B2_session3.csv")
        assert len(read_adjustment_results(first)) == 1
        first.unlink()
        c.call("Page.navigate", url=url)  # the same participant and session: resumes
        c.wait_for("window.stimstudio && window.stimstudio.state.phase === 'instructions'")
        c.key(" ")
        _respond(c, 2, 1)
        _respond(c, 3, 2)
        c.wait_for("window.stimstudio.state.phase === 'done'")
        saved = wait_for_file(downloads, "adjustment_B2_session3.csv")
    finally:
        c.close()
    rows = read_adjustment_results(saved)
    assert [r.trial for r in rows] == [1, 2, 3] and {r.seed for r in rows} == {77}
    plan = adjustment_plan(N_FRAMES, 3, 77)
    assert [r.target_frame for r in rows] == [t.target_frame for t in plan]


@needs_chromium
def test_browser_form_and_mouse_position(loop_export, tmp_path):
    out, _ = loop_export
    page = _fast_copy(out, "mouse.html", n_trials=2, mouse_x=True, confidence_levels=3)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    c = Chromium(CHROMIUM, downloads)
    try:
        c.call("Page.navigate", url=page.as_uri())  # no URL parameters: the form asks
        c.wait_for("!!document.querySelector('#jspsych-survey-html-form-next')")
        c.evaluate(
            "document.querySelector('input[name=participant]').value = 'F1';"
            "document.querySelector('input[name=session]').value = '2';"
            "document.querySelector('#jspsych-survey-html-form-next').click(); true"
        )
        c.wait_for("window.stimstudio.state.phase === 'instructions'")
        c.key(" ")
        width = c.evaluate("window.innerWidth")
        for k in (1, 2):
            c.wait_for(
                "window.stimstudio.state.phase === 'response' && "
                f"window.stimstudio.state.trial === {k}"
            )
            c.mouse_move(width * (4.5 / N_FRAMES), 20)  # the fifth eighth: frame 4
            c.key(" ")
            c.wait_for("window.stimstudio.state.phase === 'confidence'")
            c.key("y")  # not a confidence digit: ignored
            c.call("Input.dispatchKeyEvent", type="keyDown", key="2", code="Digit2", text="2")
        c.wait_for("window.stimstudio.state.phase === 'done'")
        saved = wait_for_file(downloads, "adjustment_F1_session2.csv")
    finally:
        c.close()
    rows = read_adjustment_results(saved)
    assert [(r.response_frame, r.confidence) for r in rows] == [(4, 2), (4, 2)]
    assert {r.seed for r in rows} == {default_seed("F1", 2)}


@needs_chromium
def test_browser_esc_during_the_target_asks_after_the_mask(loop_export, tmp_path):
    out, _ = loop_export
    page = _fast_copy(out, "esc.html", n_trials=1)
    html = page.read_text().replace('"target_s": 0.05', '"target_s": 1.5')
    page.write_text(html)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    c = Chromium(CHROMIUM, downloads)
    try:
        c.call("Page.navigate", url=page.as_uri() + "?participant=E1&session=1")
        c.wait_for("window.stimstudio && window.stimstudio.state.phase === 'instructions'")
        c.key(" ")
        c.wait_for("window.stimstudio.state.phase === 'target'")
        c.key("Escape")  # the target stays for its time; the question comes after the mask
        assert c.evaluate("window.stimstudio.state.phase") in ("target", "mask")
        c.wait_for("window.stimstudio.state.phase === 'quit'")
        c.key("ArrowRight")  # the question waits for Y or N
        c.key("n")
        c.wait_for("window.stimstudio.state.phase === 'response'")
        c.key(" ")
        c.wait_for("window.stimstudio.state.phase === 'done'")
        saved = wait_for_file(downloads, "adjustment_E1_session1.csv")
    finally:
        c.close()
    (row,) = read_adjustment_results(saved)
    assert row.response_frame == row.start_frame  # the Right press went to the question
