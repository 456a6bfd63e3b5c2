"""The adjustment-task figures of docs/OBSERVERS.md (issue 42).

    python docs/make_adjustment_figures.py [LOOP_EXPORT_DIR]

Writes docs/adjustment-serial-dependence.png: `stimstudio judge adjustment`'s serial-dependence
plot of one simulated observer (576 trials on a 72-frame loop, a derivative-of-Gaussian pull of
5 degrees peaking at 20 degrees, 12 degrees of response noise). With a loop export folder and
headless Chromium: docs/adjustment-browser.png, the exported browser experiment during a
response (the DevTools driver of tests/chromium_helpers.py).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def serial_dependence_figure() -> Path:
    from stimstudio.core.judgements import analyze_adjustment, format_adjustment_table
    from stimstudio.core.judgements.adjustment_analysis import simulate_observer
    from stimstudio.core.judgements.adjustment_figures import serial_figure_bytes

    rs = simulate_observer(
        participant="simulated", n_frames=72, n_trials=576, amplitude=5.0, width=20.0, seed=3
    )
    analysis = analyze_adjustment(rs, n_boot=2000, n_perm=2000)
    out = DOCS / "adjustment-serial-dependence.png"
    out.write_bytes(serial_figure_bytes(analysis))
    print(format_adjustment_table(analysis))
    return out


def browser_screenshot(export_dir: Path) -> Path | None:
    import base64
    import json

    sys.path.insert(0, str(DOCS.parent / "tests"))
    from chromium_helpers import Chromium, find_chromium

    binary = find_chromium()
    if binary is None:
        print("no Chromium: the browser screenshot is skipped")
        return None
    html = (export_dir / "adjustment_task.html").read_text()
    m = re.search(r"STIMSTUDIO_PARAMS = (\{.*?\});", html, re.S)
    params = json.loads(m.group(1))
    params.update(target_s=0.05, mask_s=0.05, image_px=384)
    page = export_dir / "screenshot.html"
    page.write_text(html.replace(m.group(1), json.dumps(params)))
    out = DOCS / "adjustment-browser.png"
    with tempfile.TemporaryDirectory() as downloads:
        c = Chromium(binary, downloads)
        try:
            c.call(
                "Emulation.setDeviceMetricsOverride",
                width=760,
                height=520,
                deviceScaleFactor=1,
                mobile=False,
            )
            c.call("Page.navigate", url=page.as_uri() + "?participant=demo&session=1")
            c.wait_for("window.stimstudio && window.stimstudio.state.phase === 'instructions'")
            c.key(" ")
            c.wait_for("window.stimstudio.state.phase === 'response'")
            for _ in range(3):
                c.key("ArrowRight")
            c.wait_for("document.querySelector('#ss-img').complete")
            shot = c.call("Page.captureScreenshot", format="png")["data"]
        finally:
            c.close()
            page.unlink()
    out.write_bytes(base64.b64decode(shot))
    return out


if __name__ == "__main__":
    print(serial_dependence_figure())
    if len(sys.argv) > 1:
        print(browser_screenshot(Path(sys.argv[1])))
