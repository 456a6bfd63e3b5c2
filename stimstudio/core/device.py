"""Device and precision choice, in one place.

Measured on the 2-core CPU machines this project is built on (DESIGN.md): where the CPU has
native bf16 instructions (a Zen 4 with AVX-512 BF16) bf16 autocast is 1.4-1.8x faster than fp32
for the generator; where it has not (an AMD EPYC with AVX2 only) oneDNN emulates bf16 and a G
forward + backward is 25-30x *slower* than fp32. So the precision is chosen by probing the
hardware (`bf16_support`): "auto" never picks bf16 where it is emulated, and an explicit bf16
there is kept but warned about (`PrecisionWarning`). float16 layers are ~170x slower on CPU and
are never used there. An fp32 path is always kept for tests and bit-identical regeneration.
"""

from __future__ import annotations

import contextlib
import functools
import platform
import warnings
from dataclasses import dataclass, field

import torch

from .compute_choices import DEVICE_CHOICES, PRECISION_CHOICES
from .errors import OptionError


@dataclass(frozen=True)
class Compute:
    """Where and how numbers are computed; recorded in every result and manifest."""

    device: torch.device
    precision: str  # "fp32" | "bf16" | "fp16"
    reason: str = field(default="", compare=False)  # why this precision, in one sentence

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


class PrecisionWarning(UserWarning):
    """A precision the user asked for that is much slower here than fp32 (shown, not fatal)."""


@dataclass(frozen=True)
class Bf16Support:
    """Whether bf16 runs natively on a device, and the evidence, in words."""

    native: bool
    detail: str


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags (Linux /proc/cpuinfo); None where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def _cpu_bf16(capability: str, onednn: bool, flags: set[str] | None, machine: str) -> Bf16Support:
    """The CPU rule, on its inputs (testable without the hardware)."""
    where = f"CPU capability {capability}, oneDNN bf16 {'yes' if onednn else 'no'}"
    if not onednn:
        return Bf16Support(False, f"{where}: bf16 is emulated")
    x86 = machine.lower() in ("x86_64", "amd64", "i386", "i686", "x86")
    if x86 and flags is not None:
        # oneDNN also says yes for AVX-512 without BF16 instructions, where it converts in
        # software; only avx512_bf16 / AMX-BF16 compute bf16 natively.
        native = sorted(flags & {"avx512_bf16", "amx_bf16"})
        if not native:
            return Bf16Support(False, f"{where}, no avx512_bf16/amx_bf16: bf16 is emulated")
        return Bf16Support(True, f"{where}, {'+'.join(native)}: bf16 is native")
    return Bf16Support(True, f"{where}: bf16 is native")


@functools.lru_cache(maxsize=8)
def bf16_support(device_type: str = "cpu") -> Bf16Support:
    """Probe whether bf16 autocast runs natively (fast) or is emulated (many times slower)."""
    if device_type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        try:
            onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            onednn = False
        return _cpu_bf16(capability, onednn, _cpu_flags(), platform.machine())
    if device_type == "cuda":
        try:
            native = bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # older torch: no including_emulation
            native = bool(torch.cuda.is_bf16_supported())
        name = torch.cuda.get_device_name()
        return Bf16Support(native, f"{name}: bf16 {'native' if native else 'not native'}")
    return Bf16Support(False, f"{device_type}: bf16 not probed, fp32 assumed faster")


def resolve_precision(dev: torch.device, choice: str, purpose: str = "inference") -> Compute:
    """The precision for `choice` on `dev`, with the reason; warns on an emulated bf16.

    "auto" for inference is fp32 (exact and reproducible: exports regenerate bit for bit).
    "auto" for training is bf16 where bf16 is native and fp32 everywhere else, so "auto" never
    picks a precision slower than fp32 on the machine it runs on.
    """
    choice = (choice or "auto").lower()
    if choice not in PRECISION_CHOICES:
        raise OptionError(
            f"unknown precision {choice!r}; choose one of {', '.join(PRECISION_CHOICES)}"
        )
    if purpose not in ("inference", "training"):
        raise ValueError(f"purpose {purpose!r}")
    if choice == "fp16" and dev.type == "cpu":
        raise OptionError("fp16 is ~170x slower on CPU; use bf16 or fp32 there")
    bf16 = bf16_support(dev.type)
    if choice == "auto":
        if purpose == "inference":
            return Compute(dev, "fp32", "auto: fp32, exact and reproducible")
        if bf16.native:
            return Compute(dev, "bf16", f"auto: bf16 ({bf16.detail})")
        return Compute(dev, "fp32", f"auto: fp32 ({bf16.detail}; it would be slower than fp32)")
    if choice == "bf16" and not bf16.native:
        warnings.warn(
            f"bf16 was asked for but is not native here ({bf16.detail}); it runs many times "
            "slower than fp32 (25-30x measured on an AVX2-only CPU); --precision auto or fp32 "
            "is faster",
            PrecisionWarning,
            stacklevel=3,
        )
        return Compute(dev, "bf16", f"asked for ({bf16.detail})")
    return Compute(dev, choice, "asked for")


def pick_compute(
    device: str = "auto", precision: str = "auto", purpose: str = "inference"
) -> Compute:
    """Resolve user choices to a `Compute` (see `resolve_precision` for what "auto" means)."""
    return resolve_precision(pick_device(device), precision, purpose)
