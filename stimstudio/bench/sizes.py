"""How big each benchmark section runs: the full run, `--quick`, and `--smoke`.

A smoke run takes every section end to end at sizes too small to mean anything (a few steps,
frames and pixels); the test command runs it so that no section can rot unseen. Its numbers
are never reported as measurements, and nothing asserts a time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    name: str
    patches: int = 6  # held-out (or phantom) patches for inversion and the masked case
    inversion_steps: int = 200  # ours (encoder + Eq. 4)
    projector_steps: int = 1000  # the baseline from w_avg
    w_avg_samples: int = 2000  # the projector's estimate of w_avg
    masked_steps: int = 100
    stylemix_pairs: int = 8
    stylemix_steps: int = 100
    throughput_steps: int = 12  # Eq. 4 steps per timed run
    repeats: int = 3  # timed repeats of the heavier sections (medians)
    scrub_repeats: int = 15  # uncached frames timed in the core scrubbing section
    scrub_cache: int = 32  # frames in the cached section's LRU
    dicom: tuple[int, int] = (4600, 3100)  # rows, columns of the large DICOM read
    pgm: int = 1024  # side of the mini-MIAS-like PGM (when the real one is not cached)
    export_frames: int = 147
    scaling_resolutions: tuple[int, ...] = (64, 128, 256)
    scaling_batches: tuple[int, ...] = (1, 4, 8)
    scaling_steps: int = 4
    drag_requests: int = 180  # slider requests in the app's scrubbing section
    compose_steps: int = 40  # Eq. 4 steps while the app's event loop is watched
    cli_repeats: int = 11  # fresh interpreters per command line
    precision_batch: int = 4
    # resolution, batch, timed steps per discriminator arm, toy widths (smoke: the shipped G's
    # widths cost seconds a step; the crop arms need 128 px for the projected D's deepest scale)
    train: tuple = (128, 16, 4, False)
    # the grown model beside its parent: Eq. 4 steps, timed repeats (bench/grown_sections.py)
    grown: tuple = (100, 2)


FULL = Sizes("full")
QUICK = Sizes(
    "quick",
    patches=2,
    inversion_steps=100,
    projector_steps=400,
    masked_steps=30,
    stylemix_pairs=3,
    export_frames=49,
    drag_requests=60,
    compose_steps=15,
    cli_repeats=5,
    precision_batch=2,
    repeats=2,
    train=(128, 16, 2, False),
    grown=(100, 1),
)
SMOKE = Sizes(
    "smoke",
    patches=2,
    inversion_steps=3,
    projector_steps=4,
    w_avg_samples=64,
    masked_steps=2,
    stylemix_pairs=1,
    stylemix_steps=2,
    throughput_steps=1,
    repeats=1,
    scrub_repeats=1,
    scrub_cache=2,
    dicom=(96, 64),
    pgm=64,
    export_frames=3,
    scaling_resolutions=(32,),
    scaling_batches=(1, 2),
    scaling_steps=1,
    drag_requests=6,
    compose_steps=2,
    cli_repeats=1,
    precision_batch=1,
    train=(128, 2, 1, True),
    grown=(2, 1),
)
SIZES = {s.name: s for s in (FULL, QUICK, SMOKE)}
