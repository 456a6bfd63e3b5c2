"""Adjustment task on a circular continuum (a loop of frames), written by StimStudio's export.

Run it with PsychoPy: open it in PsychoPy Coder and press Run, or `python adjustment_task.py`
with PsychoPy's Python. It reads conditions.csv beside it (the loop's frames, `imageFile` by
`frame`) and writes one CSV per participant and session to data/ beside it, one row per
trial, each row written and flushed before the next trial; a session that was interrupted
continues at its first unanswered trial when started again with the same participant and
session.

Each trial: the target frame for `target_s` seconds, a mask (`noise` or `blank`) for `mask_s`,
then a response frame that starts at a random frame. Left/right arrow keys (or the mouse
wheel) move it one frame back/forward through the loop (with `mouse_x`, the mouse's horizontal
position chooses the frame too); Space confirms. Esc asks whether to
quit. Trial order: targets evenly spread over the loop and shuffled, start frames random,
all from one seed (by default a hash of participant and session, the same order as the
StimStudio app and the browser experiment give). The columns are those of
`stimstudio judge adjustment`, which analyses the files.

The parameters below may be edited.
"""

import csv
import datetime
import math
import os
import sys

PARAMS = {}  # @STIMSTUDIO_PARAMS@

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = (
    "participant",
    "session",
    "trial",
    "continuum",
    "n_frames",
    "seed",
    "target_frame",
    "start_frame",
    "response_frame",
    "error_frames",
    "error_deg",
    "confidence",
    "rt_ms",
    "onset",
    "timestamp",
)
M32 = 0xFFFFFFFF


# --------------------------------------------------------------------- trial logic (no PsychoPy)


class Mulberry32:
    """The same 32-bit generator as StimStudio and the browser experiment."""

    def __init__(self, seed):
        self.state = int(seed) & M32

    def random(self):
        self.state = (self.state + 0x6D2B79F5) & M32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & M32
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & M32)) & M32) ^ t
        return ((t ^ (t >> 14)) & M32) / 4294967296.0

    def below(self, n):
        return int(math.floor(self.random() * n))


def fnv1a32(text):
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & M32
    return h


def default_seed(participant, session):
    return fnv1a32(f"{participant}|{int(session)}")


def plan(n_frames, n_trials, seed):
    """[(trial 1.., target frame, start frame)]: targets evenly spread, shuffled."""
    rng = Mulberry32(seed)
    targets = [(i * n_frames) // n_trials for i in range(n_trials)]
    for i in range(n_trials - 1, 0, -1):
        j = rng.below(i + 1)
        targets[i], targets[j] = targets[j], targets[i]
    return [(i + 1, t, rng.below(n_frames)) for i, t in enumerate(targets)]


def circular_error(response, target, n_frames):
    e = (response - target) % n_frames
    return e - n_frames if e > n_frames / 2 else e


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def read_frames(path):
    """Image file of each frame (0..N-1), from the conditions file."""
    try:
        from psychopy.data import importConditions

        rows = importConditions(path)
    except ImportError:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    by_frame = {int(r["frame"]): r["imageFile"] for r in rows}
    base = os.path.dirname(os.path.abspath(path))
    return [os.path.join(base, by_frame[i]) for i in range(len(by_frame))]


class Results:
    """The results CSV: rows already there (resume), and one flushed row per trial."""

    def __init__(self, path, participant, session):
        self.path = path
        self.done = set()
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if not new:
            with open(path, "rb") as f:
                data = f.read()
            if not data.endswith(b"\n"):  # a crash mid-row: that trial was not answered
                with open(path, "r+b") as f:
                    f.truncate(data.rfind(b"\n") + 1)
            with open(path, newline="", encoding="utf-8") as f:
                for r in csv.DictReader(f):
                    if r["participant"] == participant and r["session"] == str(session):
                        self.done.add(int(r["trial"]))
        self.f = open(path, "a", newline="", encoding="utf-8")
        self.w = csv.writer(self.f, lineterminator="\n")
        if new:
            self.w.writerow(COLUMNS)
            self.flush()

    def flush(self):
        self.f.flush()
        os.fsync(self.f.fileno())

    def append(self, row):
        self.w.writerow([row.get(c, "") for c in COLUMNS])
        self.flush()

    def close(self):
        self.f.close()


def run_session(io, participant, session, seed, results_path, params=None):
    """The trial loop. `io` shows frames and reads input (PsychoPyIO, or a test's stand-in).

    Returns "done" or "quit"."""
    p = params or PARAMS
    n = int(p["n_frames"])
    results = Results(results_path, participant, session)
    try:
        for index, target, start in plan(n, int(p["n_trials"]), seed):
            if index in results.done:
                continue
            onset = now_iso()
            io.show_target(target, p["target_s"])
            io.show_mask(p["mask"], p["mask_s"])
            frame = start
            io.show_response(frame)
            t0 = io.clock()
            paused = 0.0  # time spent on the quit question: not part of the response time
            io.clear_events()
            while True:
                confirm = False
                for ev in io.events():
                    if isinstance(ev, tuple) and ev[0] == "frame":  # the mouse's x position
                        frame = int(ev[1]) % n
                    elif ev in ("left", "wheel_down"):
                        frame = (frame - 1) % n
                    elif ev in ("right", "wheel_up"):
                        frame = (frame + 1) % n
                    elif ev == "space":
                        confirm = True
                        break
                    elif ev == "escape":
                        asked = io.clock()
                        if io.ask_quit():
                            return "quit"
                        paused += io.clock() - asked
                if confirm:
                    break
                io.show_response(frame)
            rt_ms = (io.clock() - t0 - paused) * 1000.0
            confidence = ""
            if int(p.get("confidence_levels") or 0) > 0:
                confidence = io.ask_confidence(int(p["confidence_levels"]))
                if confidence is None:
                    return "quit"
            err = circular_error(frame, target, n)
            results.append(
                {
                    "participant": participant,
                    "session": session,
                    "trial": index,
                    "continuum": p["continuum"],
                    "n_frames": n,
                    "seed": seed,
                    "target_frame": target,
                    "start_frame": start,
                    "response_frame": frame,
                    "error_frames": err,
                    "error_deg": f"{err * 360.0 / n:.4f}",
                    "confidence": confidence,
                    "rt_ms": f"{rt_ms:.1f}",
                    "onset": onset,
                    "timestamp": now_iso(),
                }
            )
            io.blank(p["iti_s"])
        return "done"
    finally:
        results.close()


# --------------------------------------------------------------------- PsychoPy


class PsychoPyIO:
    """Full-screen window, the loop's frames, a noise or blank mask, keys and mouse wheel."""

    def __init__(self, frames, params):
        import numpy as np
        from psychopy import core, event, visual

        self.core, self.event = core, event
        self.win = visual.Window(fullscr=True, units="pix", color=(0, 0, 0), allowGUI=False)
        size = params.get("image_px")
        size = (size, size) if size else None
        self.images = [visual.ImageStim(self.win, image=f, size=size) for f in frames]
        side = int(size[0]) if size else 256
        noise = np.random.default_rng().uniform(-1, 1, (side, side))
        self.noise = visual.ImageStim(self.win, image=noise, size=(side, side))
        self.text = visual.TextStim(self.win, text="", height=24, wrapWidth=900)
        self.mouse = event.Mouse(win=self.win, visible=False)
        self.mouse_x = bool(params.get("mouse_x"))
        self.n_frames = int(params["n_frames"])
        self.clock_ = core.Clock()

    def clock(self):
        return self.clock_.getTime()

    def _hold(self, draw, seconds):
        timer = self.core.CountdownTimer(seconds)
        while timer.getTime() > 0:
            if draw is not None:
                draw()
            self.win.flip()

    def show_target(self, frame, seconds):
        self._hold(self.images[frame].draw, seconds)

    def show_mask(self, kind, seconds):
        self._hold(self.noise.draw if kind == "noise" else None, seconds)

    def show_response(self, frame):
        self.images[frame].draw()
        self.win.flip()

    def blank(self, seconds):
        self._hold(None, seconds)

    def clear_events(self):
        """Keys pressed during the target and the mask are dropped, except Esc: the
        question comes as soon as the response frame is up."""
        self.pending = ["escape"] if self.event.getKeys(keyList=["escape"]) else []
        self.event.clearEvents()
        self.mouse.getWheelRel()

    def events(self):
        out, self.pending = list(getattr(self, "pending", [])), []
        out += [
            k
            for k in self.event.getKeys(keyList=["left", "right", "space", "escape"])
            if k in ("left", "right", "space", "escape")
        ]
        dy = int(round(self.mouse.getWheelRel()[1]))
        out += ["wheel_up"] * max(dy, 0) + ["wheel_down"] * max(-dy, 0)
        if self.mouse_x and self.mouse.mouseMoved():
            width = float(self.win.size[0])
            x = (self.mouse.getPos()[0] + width / 2) / width  # 0 at the left edge, 1 right
            out.insert(0, ("frame", min(int(x * self.n_frames), self.n_frames - 1)))
        return out

    def message(self, text, keys):
        self.text.text = text
        self.text.draw()
        self.win.flip()
        return self.event.waitKeys(keyList=keys)[0]

    def ask_quit(self):
        return self.message("Quit the session?  Y = quit, N = go on", ["y", "n"]) == "y"

    def ask_confidence(self, levels):
        keys = [str(i) for i in range(1, levels + 1)]
        k = self.message(
            f"How sure are you?  1 = guessing ... {levels} = sure  (Esc: quit)",
            [*keys, "escape"],
        )
        return None if k == "escape" else int(k)

    def close(self):
        self.win.close()


def main():
    from psychopy import core, gui

    info = {"participant": "", "session": 1, "seed (empty: from participant)": ""}
    dlg = gui.DlgFromDict(info, title="Adjustment task: " + PARAMS["continuum"])
    if not dlg.OK:
        core.quit()
    participant = str(info["participant"]).strip()
    session = int(info["session"])
    if not participant:
        sys.exit("a participant id is needed")
    seed_text = str(info["seed (empty: from participant)"]).strip()
    seed = int(seed_text) if seed_text else default_seed(participant, session)
    frames = read_frames(os.path.join(HERE, PARAMS["conditions"]))
    if len(frames) != PARAMS["n_frames"]:
        sys.exit(f"conditions.csv lists {len(frames)} frames, not {PARAMS['n_frames']}")
    results = os.path.join(HERE, "data", f"adjustment_{participant}_session{session}.csv")
    io = PsychoPyIO(frames, PARAMS)
    try:
        io.message(PARAMS["instructions"] + "\n\nPress Space to start.", ["space"])
        outcome = run_session(io, participant, session, seed, results)
        if outcome == "done":
            io.message("Thank you! The session is finished.\n\nPress Space.", ["space"])
    finally:
        io.close()
    core.quit()


if __name__ == "__main__":
    main()
