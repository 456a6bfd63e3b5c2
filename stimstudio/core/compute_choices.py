"""The device and precision a user may choose, the one list of each.

Kept apart from `core.device` (which imports torch) so that the app's argument parser and its
Settings dialog can list them before torch is loaded; `core.device` re-exports them.
"""

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
