"""Timing helpers: medians of repeated runs with min/max, and the machine they ran on."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch


@dataclass
class Timing:
    median_ms: float
    min_ms: float
    max_ms: float
    repeats: int

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def __str__(self) -> str:
        return f"{self.median_ms:.1f} ms ({self.min_ms:.1f}–{self.max_ms:.1f}, n={self.repeats})"


# The folder that holds the `stimstudio` package these benchmarks belong to: child processes
# (fresh interpreters for start-up, training and the app) import the same code.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


def child_env(**extra: str) -> dict:
    """The environment of a benchmark's child interpreter: this package first on its path."""
    path = os.environ.get("PYTHONPATH")
    pythonpath = str(PACKAGE_PARENT) + (os.pathsep + path if path else "")
    return {**os.environ, "PYTHONPATH": pythonpath, **extra}


PYTHON = sys.executable


def time_it(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> Timing:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return Timing(statistics.median(times), min(times), max(times), repeats)


def cpu_model() -> str:
    """The CPU's model name (what `lscpu` calls it), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """Where a run measured: every timing is stated with this (DESIGN.md: machines differ)."""
    dev = "cpu"
    if torch.cuda.is_available():
        dev = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        "device": dev,
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
