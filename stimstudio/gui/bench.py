"""The app's benchmark sections (offscreen Qt): scrubbing through the live renderer
(`RenderQueue`), event-loop stalls while an Eq. 4 run works on a `Worker`, and launch time to
a usable window.

Run by `stimstudio bench` in a fresh interpreter (stimstudio/bench/gui_sections.py):

    python -m stimstudio.gui.bench SECTION WEIGHTS SIZES_JSON   -> one JSON document on stdout

The benchmark package, like the CLI, never imports the GUI; this module imports only what the
GUI may (core and gui), so the import contracts cover it.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _receiver(store: list):
    """A main-thread QObject with a real slot: cross-thread signals into bare lambdas crash
    PySide6 6.8+ (PYSIDE-3124, 'deallocating None'), so benchmarks connect like the app does."""
    from PySide6.QtCore import QObject, Slot

    class Receiver(QObject):
        @Slot(object)
        def take(self, item):
            store.append((time.perf_counter(), item))

        @Slot(str, str)
        def failed(self, message, detail):
            store.append((time.perf_counter(), {"error": message}))

        @Slot()
        def cancelled(self):
            store.append((time.perf_counter(), {"error": "cancelled"}))

    return Receiver()


def gui_scrubbing(model, requests: int = 180) -> dict:
    """A fast drag: one request every 8 ms (far faster than frames render), through the
    app's live renderer, which keeps only the newest request."""
    from stimstudio.core.generate import latent_for_seed
    from stimstudio.gui.workers import RenderQueue

    app = _app()
    a = latent_for_seed(model, 1).wplus
    b = latent_for_seed(model, 2).wplus
    worker = RenderQueue(cache_size=96)
    worker.set_model(model, None)
    got = []
    receiver = _receiver(got)
    worker.rendered.connect(receiver.take)
    worker.start()
    n = requests
    keys = np.linspace(0, 1, n)
    t_end = None
    for i, t in enumerate(keys):
        worker.request("scrub", ("drag", round(float(t), 4)), a + (b - a) * t)
        deadline = time.perf_counter() + 0.008
        while time.perf_counter() < deadline:
            app.processEvents()
        if i == n - 1:
            t_end = time.perf_counter()
    # wait for the final frame
    final_key = ("drag", round(float(keys[-1]), 4))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 10:
        app.processEvents()
        if got and got[-1][1]["key"] == final_key:
            break
        time.sleep(0.001)
    last_latency = (got[-1][0] - t_end) * 1000 if got else None
    rendered_ms = [r["ms"] for _, r in got if not r["cached"]]
    cached_ms = None
    if got:  # cached: request an already rendered key again (answered at once)
        t1 = time.perf_counter()
        worker.request("scrub", got[len(got) // 2][1]["key"], a)
        t0 = time.perf_counter()
        while got[-1][0] < t1 and time.perf_counter() - t0 < 10:
            app.processEvents()
        cached_ms = (got[-1][0] - t1) * 1000
    worker.stop()
    return {
        "requests": worker.request_count,
        "rendered": worker.render_count,
        "dropped_stale": worker.dropped_count,
        "backlog_after_drag_ms": last_latency,
        "uncached_render_ms_median": float(np.median(rendered_ms)) if rendered_ms else None,
        "cached_answer_ms": cached_ms,
        "goals": "no backlog (last frame within ~1 render after the drag), cached <= 16 ms, uncached <= 40 ms",
    }


def responsiveness(model, steps: int = 40) -> dict:
    """Worst event-loop stall while a composition (encoder + Eq. 4) runs on a `Worker`, as
    the Compose page runs it; launch time."""
    from PySide6.QtCore import QTimer

    from stimstudio.core.compose import Mask, Placement, compose_steps
    from stimstudio.core.inversion_settings import InversionSettings
    from stimstudio.gui.workers import Worker, warm_up

    app = _app()
    warm_up()  # as the app's model loader does: the first optimiser's imports hold the GIL
    R = model.resolution
    rng = np.random.default_rng(0)
    tex = rng.uniform(-0.5, 0.5, (R, R)).astype(np.float32)
    tmpl = rng.uniform(-0.5, 0.5, (R, R)).astype(np.float32)
    yy, xx = np.mgrid[:R, :R]
    mask = Mask.from_array(((yy - R / 2) ** 2 + (xx - R / 2) ** 2) < (R / 5) ** 2)
    settings = InversionSettings(steps=steps)
    worker = Worker(lambda: compose_steps(model, tex, tmpl, mask, Placement(), settings))
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    done = []
    receiver = _receiver(done)
    worker.returned.connect(receiver.take)
    worker.errored.connect(receiver.failed)
    worker.cancelled.connect(receiver.cancelled)
    timer.start()
    worker.start()
    t0 = time.perf_counter()
    while not done and time.perf_counter() - t0 < 600:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    worker.wait()
    stall = max(gaps) - 5 if gaps else None
    failed = [r["error"] for _, r in done if isinstance(r, dict) and "error" in r]

    shown_ms = launch_ms(str(model.path) if model.path else None)
    return {
        **({"error": failed[0]} if failed else {}),
        "worst_stall_ms": stall,
        "median_tick_gap_ms": float(np.median(gaps)) if gaps else None,
        "inversion_steps": steps,
        "window_shown_ms": shown_ms,
        "goals": "worst stall <= 50 ms; window usable <= 2000 ms (model loads in the background)",
        "met": stall is not None and shown_ms is not None and stall <= 50 and shown_ms <= 2000,
    }


LAUNCH = r"""
import os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from stimstudio.gui.app import make_app
from stimstudio.gui.main_window import MainWindow
app = make_app()
win = MainWindow(weights=sys.argv[1] or None, recovery=False)
win.show()
app.processEvents()
print("READY", flush=True)
win.force_close = True
win.close()
"""


def launch_ms(weights: str | None) -> float | None:
    """Wall time from starting a fresh Python process to a shown, event-processing window
    (imports included; the model itself loads in a background thread after that). None when
    the window never said it was ready."""
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, weights or ""], stdout=subprocess.PIPE, text=True
    )
    ready = False
    for line in proc.stdout:
        if line.startswith("READY"):
            ready = True
            break
    ms = (time.perf_counter() - t0) * 1000
    proc.wait(timeout=60)
    return ms if ready else None


SECTIONS = {
    "gui_scrubbing": lambda model, sizes: gui_scrubbing(model, sizes["drag_requests"]),
    "responsiveness": lambda model, sizes: responsiveness(model, sizes["compose_steps"]),
}


def main(argv: list[str]) -> int:
    """SECTION WEIGHTS SIZES_JSON: run one section, print its result as JSON."""
    from stimstudio.core.model import load_model

    section, weights, sizes = argv
    result = SECTIONS[section](load_model(weights), json.loads(sizes))
    print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
