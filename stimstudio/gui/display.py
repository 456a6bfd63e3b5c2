"""Is there a display to open the app on? Asked before Qt starts, because Qt's answer to "no"
is an abort (exit 134) with a message about platform plugins that a user cannot act on.

No Qt imports here: this runs first, and fast.
"""

from __future__ import annotations

import ctypes
import os
import re
import socket
import sys

# Qt platforms that need no window system
HEADLESS = frozenset({"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb"})

# The libraries PySide6's xcb platform plugin (libqxcb.so + libQt6XcbQpa.so) loads from the
# system, with their Debian/Ubuntu packages (from `ldd` on the plugin and `dpkg -S`).
XCB_LIBS = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}

HEADLESS_HINT = (
    "use the command line (`stimstudio --help` lists its verbs) or render the "
    "app to a PNG: QT_QPA_PLATFORM=offscreen stimstudio --screenshot out.png"
)


def _platforms(env) -> list[str]:
    """The platform names QT_QPA_PLATFORM asks for, in order ("wayland;xcb", "vnc:size=...")."""
    value = env.get("QT_QPA_PLATFORM", "")
    return [p.split(":", 1)[0].strip().lower() for p in value.split(";") if p.strip()]


def missing_xcb_packages() -> list[str]:
    """The Debian/Ubuntu packages of the xcb plugin's libraries that cannot be loaded."""
    missing = []
    for lib, package in XCB_LIBS.items():
        try:
            ctypes.CDLL(lib)
        except OSError:
            missing.append(package)
    return missing


def x_server_reachable(display: str) -> bool:
    """Whether a local X display (":0", "unix:1.0") answers; remote ones count as reachable."""
    m = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display.strip())
    if not m:
        return True
    path = f"/tmp/.X11-unix/X{m.group(1)}"
    for address in ("\0" + path, path):  # Linux X servers listen on both
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            try:
                s.connect(address)
                return True
            except OSError:
                continue
    return False


def display_problem(env=None, platform: str | None = None) -> str | None:
    """Why the app cannot open a window here (one sentence), or None when it can."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None  # Windows and macOS always have their own platform
    wanted = _platforms(env)
    if any(p in HEADLESS for p in wanted):
        return None
    x11, wayland = env.get("DISPLAY", ""), env.get("WAYLAND_DISPLAY", "")
    if any(p.startswith("wayland") for p in wanted) and wayland:
        return None
    if wanted and "xcb" not in wanted:
        return None  # a platform we do not know how to check: let Qt try it
    if not x11:
        if wayland and not wanted:
            return None
        return f"no display to open the app on (DISPLAY is not set); without one, {HEADLESS_HINT}"
    if not x_server_reachable(x11):
        return f"the X display {x11} does not answer; without a display, {HEADLESS_HINT}"
    missing = missing_xcb_packages()
    if missing:
        return (
            "Qt's X11 plugin needs libraries that are not installed; on Debian/Ubuntu: "
            f"sudo apt install {' '.join(missing)}; or {HEADLESS_HINT}"
        )
    return None
