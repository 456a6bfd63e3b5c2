"""A headless Chromium driven through the DevTools protocol over a pipe (no WebDriver, no
websocket library): `--remote-debugging-pipe` reads JSON commands on fd 3 and writes replies
and events on fd 4, each message ended by a NUL byte."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    for c in CHROMIUM_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return None


def _high_fd(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


KEYS = {
    "ArrowLeft": ("ArrowLeft", 37, None),
    "ArrowRight": ("ArrowRight", 39, None),
    " ": ("Space", 32, " "),
    "Escape": ("Escape", 27, None),
    "y": ("KeyY", 89, "y"),
    "n": ("KeyN", 78, "n"),
}


class Chromium:
    """One headless browser with one page; `call` sends a command to the page's session."""

    def __init__(self, binary: str, download_dir: str | os.PathLike):
        self.profile = tempfile.mkdtemp(prefix="ss-chromium-")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()
        # The child's ends moved above 3 and 4 (a pipe may have been given fd 3 or 4 itself,
        # and dup2 onto the same number would keep its close-on-exec flag).
        to_child_r, from_child_w = (_high_fd(fd) for fd in (to_child_r, from_child_w))

        def fds():  # the child's fd 3 reads our commands, fd 4 writes its replies
            os.dup2(to_child_r, 3)  # dup2 clears close-on-exec on 3 and 4
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [
                binary,
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--allow-file-access-from-files",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # fds 3 and 4 are made in the child; Python's own are CLOEXEC
            preexec_fn=fds,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.session = None
        self.browser_call(
            "Browser.setDownloadBehavior",
            behavior="allow",
            downloadPath=str(download_dir),
            eventsEnabled=True,
        )
        target = self.browser_call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.browser_call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _send(self, msg: dict) -> int:
        self._id += 1
        msg["id"] = self._id
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        return self._id

    def _read(self, timeout: float) -> dict | None:
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _wait_reply(self, mid: int, timeout: float = 30) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self._read(end - time.monotonic())
            if msg is None:
                break
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"DevTools error: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)
        raise TimeoutError(f"no DevTools reply to command {mid}")

    def browser_call(self, method: str, **params) -> dict:
        return self._wait_reply(self._send({"method": method, "params": params}))

    def call(self, method: str, **params) -> dict:
        return self._wait_reply(
            self._send({"method": method, "params": params, "sessionId": self.session})
        )

    def evaluate(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page error: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30, poll: float = 0.02):
        """Poll a JavaScript expression until it is truthy; returns its value."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.evaluate(expression)
            if v:
                return v
            time.sleep(poll)
        raise TimeoutError(f"the page never satisfied: {expression}")

    def key(self, key: str) -> None:
        code, vk, text = KEYS[key]
        down = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk}
        if text:
            down["text"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call(
            "Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=vk
        )

    def wheel(self, delta_y: float, x: float = 10, y: float = 10) -> None:
        self.call("Input.dispatchMouseEvent", type="mouseWheel", x=x, y=y, deltaX=0, deltaY=delta_y)

    def mouse_move(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    def close(self) -> None:
        try:
            self.browser_call("Browser.close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


def wait_for_file(folder: Path, pattern: str, timeout: float = 30) -> Path:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.05)
    raise TimeoutError(f"no file {pattern} appeared in {folder}")
