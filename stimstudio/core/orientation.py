"""The orientation a stimulus is shown in: one of the 8 symmetries of the square, or one drawn
from the seed.

The shipped generator has a preferred orientation: most of its breast edges run one way (the
model card's `symmetry` cue, docs/MODEL.md), while real films are seen in every orientation
(`dataset build` cuts training patches in all 8). A stimulus set drawn as generated would share
that direction, which observers can learn. So a latent carries an orientation, applied to its
image where a latent becomes an image (`core.invert.synthesize(..., orientation=...)`): the
generator itself is never asked for it, so grain and strand directions turn with the patch,
which is the point.

Names (the same on the command line, in files and in the app): first an optional mirror
(left <-> right), then a clockwise turn by 0, 90, 180 or 270 degrees. "random" is not an
orientation but a mode: each seed gets one of `RANDOM_POOL`, drawn from the seed itself with
numpy's frozen legacy generator on a stream of its own (apart from its z and its noise maps),
so a seed always gets the same one on every machine. The latent records the orientation drawn,
never "random", so `regenerate` reproduces it. A continuum shares one orientation: its first
anchor's (`Continuum.orientation`).

Imports nothing heavy: the CLI's parsers and the app's window list the names at start.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import OptionError

AS_GENERATED = "as-generated"
RANDOM = "random"
ORIENTATIONS = (
    AS_GENERATED,
    "turn-90",
    "turn-180",
    "turn-270",
    "mirror",
    "mirror-turn-90",
    "mirror-turn-180",
    "mirror-turn-270",
)
ORIENTATION_MODES = (*ORIENTATIONS, RANDOM)
LABELS = {
    AS_GENERATED: "as generated",
    "turn-90": "turned 90° clockwise",
    "turn-180": "turned 180°",
    "turn-270": "turned 90° anticlockwise",
    "mirror": "mirrored (left ↔ right)",
    "mirror-turn-90": "mirrored, turned 90° clockwise",
    "mirror-turn-180": "mirrored, turned 180° (upside down)",
    "mirror-turn-270": "mirrored, turned 90° anticlockwise",
    RANDOM: "random per seed",
}
# The orientations "random" draws from: all 8 (see docs/MODEL.md, "Orientation", for the grid
# of the shipped model's samples in each and why none is left out).
RANDOM_POOL = ORIENTATIONS
_ORIENT_STREAM = 0x6F726965  # second word of the seed's RandomState key: apart from z and noise


def check_orientation(value, allow_random: bool = True) -> str:
    """`value` if it names an orientation (or "random" where allowed), else OptionError."""
    ok = ORIENTATION_MODES if allow_random else ORIENTATIONS
    if value not in ok:
        raise OptionError(f"orientation must be one of {', '.join(ok)}, not {value!r}")
    return value


def orientation_for_seed(seed: float) -> str:
    """The orientation "random" gives a seed (a fractional seed: its integer part's)."""
    if not (isinstance(seed, (int, float)) and math.isfinite(seed) and seed >= 0):
        raise OptionError(f"a seed must be a number >= 0, got {seed!r}")
    k = np.random.RandomState([int(math.floor(seed)), _ORIENT_STREAM]).randint(len(RANDOM_POOL))
    return RANDOM_POOL[int(k)]


def resolve_orientation(mode: str, seed: float | None = None) -> str:
    """The concrete orientation of `mode` for a seed ("random" needs the seed)."""
    check_orientation(mode)
    if mode != RANDOM:
        return mode
    if seed is None:
        raise OptionError("orientation random is drawn from a seed; this latent has none")
    return orientation_for_seed(seed)


def orient(images: np.ndarray, orientation: str | None) -> np.ndarray:
    """Images [..., H, W] in `orientation`: mirrored left <-> right first if it says so, then
    turned clockwise. None and "as-generated" return the images unchanged."""
    if orientation in (None, AS_GENERATED):
        return images
    check_orientation(orientation, allow_random=False)
    x = np.asarray(images)
    if orientation.startswith("mirror"):
        x = x[..., :, ::-1]
    turn = orientation.rsplit("turn-", 1)[1] if "turn-" in orientation else "0"
    x = np.rot90(x, -(int(turn) // 90), axes=(-2, -1))
    return np.ascontiguousarray(x)
