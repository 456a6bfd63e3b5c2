"""CLI start-up and precision benchmarks (issue 15): timing goals live here, never in tests.

- cli_startup: wall time of `stimstudio --help`, `--version` and `info --help` in a fresh
  interpreter, beside a bare `python -c pass`, and which heavy modules each imported.
- precision: for each verb group, the precision "auto" picks on this machine and why, and the
  speed of bf16 autocast against fp32 (generate = one G forward, invert = one Eq. 4-style
  G forward + backward to w+, train = G forward + backward to the weights at a small batch).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

from .harness import PYTHON, child_env
from .sizes import FULL, Sizes

HEAVY = ("torch", "numpy", "scipy", "cv2", "PySide6", "stimstudio.train")


def _fresh(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], env=child_env(), capture_output=True, check=False)
    return time.perf_counter() - t0


def _imported(argv: list[str]) -> list[str]:
    code = (
        "import json, sys\n"
        "from stimstudio.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], env=child_env(), capture_output=True, text=True, check=False
    )
    return json.loads(out.stderr.strip().splitlines()[-1])


def cli_startup(sizes: Sizes = FULL) -> dict:
    repeats = sizes.cli_repeats
    commands = {
        "python -c pass": "pass",
        "stimstudio --help": "import sys; sys.argv=['stimstudio','--help']\n"
        "from stimstudio.__main__ import main\ntry: main()\nexcept SystemExit: pass",
        "stimstudio --version": "import sys; sys.argv=['stimstudio','--version']\n"
        "from stimstudio.__main__ import main\ntry: main()\nexcept SystemExit: pass",
        "stimstudio info --help": "import sys; sys.argv=['stimstudio','info','--help']\n"
        "from stimstudio.__main__ import main\ntry: main()\nexcept SystemExit: pass",
        "stimstudio convert --help": "import sys; sys.argv=['stimstudio','convert','--help']\n"
        "from stimstudio.__main__ import main\ntry: main()\nexcept SystemExit: pass",
    }
    out: dict = {}
    for name, code in commands.items():
        _fresh(code)  # warm the file cache
        times = [_fresh(code) for _ in range(repeats)]
        out[name] = {
            "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
            "repeats": repeats,
        }
    for argv in (["--help"], ["--version"], ["info", "--help"], ["convert", "--help"]):
        out["stimstudio " + " ".join(argv)]["imports"] = _imported(argv)
    out["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    out["goal"] = "stimstudio --help <= 0.3 s on the idle machine, no torch import"
    out["met"] = (
        out["stimstudio --help"]["median_s"] <= 0.3
        and "torch" not in (out["stimstudio --help"]["imports"])
    )
    return out


def precision(model, sizes: Sizes = FULL) -> dict:
    import numpy as np
    import torch

    from stimstudio.core.device import Compute, bf16_support, pick_compute
    from stimstudio.core.generate import latent_for_seed

    cpu = torch.device("cpu")
    support = bf16_support("cpu")
    chosen = {
        "generate / invert / compose / export (inference)": pick_compute("cpu", "auto"),
        "train gan / train encoder": pick_compute("cpu", "auto", purpose="training"),
    }
    out: dict = {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_native": support.native,
        "probe": support.detail,
        "torch_threads": torch.get_num_threads(),
        "auto": {k: {"precision": c.precision, "reason": c.reason} for k, c in chosen.items()},
        "speed": {},
    }
    wplus = torch.as_tensor(np.stack([latent_for_seed(model, s).wplus for s in range(2)]))
    batch = sizes.precision_batch
    repeats = sizes.repeats
    G = model.G

    def gen(c: Compute):
        with torch.no_grad(), c.autocast():
            G.synthesize(wplus[:1], noise_mode="const")

    def inv(c: Compute):
        w = wplus[:1].clone().requires_grad_(True)
        with c.autocast():
            img = G.synthesize(w, noise_mode="const")
        img.float().square().mean().backward()

    def train(c: Compute):
        params = [p for p in G.parameters() if not p.requires_grad]
        for p in params:  # the loaded model is frozen; a training step needs weight gradients
            p.requires_grad_(True)
        try:
            w = wplus[:1].repeat(batch, 1, 1)
            with c.autocast():
                img = G.synthesize(w, noise_mode="const")
            img.float().square().mean().backward()
        finally:
            G.zero_grad(set_to_none=True)
            for p in params:
                p.requires_grad_(False)

    for name, fn in (
        ("generate", gen),
        ("invert step", inv),
        (f"train step (batch {batch})", train),
    ):
        row = {}
        for prec in ("fp32", "bf16"):
            c = Compute(cpu, prec)
            fn(c)  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn(c)
                times.append(time.perf_counter() - t0)
            row[prec + "_ms"] = round(statistics.median(times) * 1000, 1)
        row["bf16_over_fp32"] = round(row["bf16_ms"] / row["fp32_ms"], 2)
        out["speed"][name] = row
    slower = [k for k, v in out["speed"].items() if v["bf16_over_fp32"] > 1.0]
    out["goal"] = '"auto" never picks a precision slower than fp32'
    picked_bf16 = any(c.precision == "bf16" for c in chosen.values())
    out["met"] = not (picked_bf16 and slower)
    return out
