"""Device and precision choice, in one place.

Measured on the 2-core CPU machines this project is built on (DESIGN.md): bf16 autocast is
1.4-1.8x faster than fp32 for the generator; float16 layers are ~170x slower on CPU and are
never used there. CUDA prefers fp16/bf16 autocast. An fp32 path is always kept for tests and
bit-identical regeneration.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from .errors import OptionError

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Compute:
    """Where and how numbers are computed; recorded in every result and manifest."""

    device: torch.device
    precision: str  # "fp32" | "bf16" | "fp16"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self):
        """Context manager for autocast at this precision (a no-op for fp32)."""
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def describe(self) -> str:
        name = self.device.type
        if name == "cuda":
            name = f"cuda ({torch.cuda.get_device_name(self.device)})"
        return f"{name}, {self.precision}"


def pick_device(choice: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU, unless the user names one."""
    choice = (choice or "auto").lower()
    if choice not in DEVICE_CHOICES:
        raise OptionError(f"unknown device {choice!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise OptionError("device 'cuda' was asked for but no CUDA GPU is available")
    if choice == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise OptionError("device 'mps' was asked for but Apple MPS is not available")
    return torch.device(choice)


def pick_compute(device: str = "auto", precision: str = "auto") -> Compute:
    """Resolve user choices to a `Compute`; 'auto' precision is fp32 (exact, reproducible)."""
    dev = pick_device(device)
    precision = (precision or "auto").lower()
    if precision not in PRECISION_CHOICES:
        raise OptionError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}"
        )
    if precision == "auto":
        precision = "fp32"
    if precision == "fp16" and dev.type == "cpu":
        raise OptionError("fp16 is ~170x slower on CPU; use bf16 or fp32 there")
    return Compute(dev, precision)
