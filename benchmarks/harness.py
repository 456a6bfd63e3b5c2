"""Timing helpers: medians of repeated runs with min/max, and the machine they ran on."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

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


def time_it(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> Timing:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return Timing(statistics.median(times), min(times), max(times), repeats)


def machine() -> dict:
    dev = "cpu"
    if torch.cuda.is_available():
        dev = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        "device": dev,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
