"""A continuum's records and its positions: anchors, the path through W+ (lerp / slerp), where
its frames sit (every anchor a frame, steps shared among segments)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..defaults import CONTINUUM
from ..errors import OptionError
from ..latent import Latent

if TYPE_CHECKING:
    from .spacing import SpacingResult

# "interpolation" is lerp/slerp (not a resize filter), "frame spacing" not mm per pixel
FRAME_SPACINGS = ("latent", "perceptual", "pixel")
INTERPOLATION_METHODS = ("lerp", "slerp")


@dataclass
class Anchor:
    name: str
    latent: Latent


@dataclass
class Continuum:
    """Frames through W+ from anchor to anchor (a loop returns to the first). method: the
    interpolation; spacing: the frame spacing (the field names are keys of the file formats).
    The defaults are core.defaults.CONTINUUM, as at every entry point."""

    anchors: list[Anchor]
    frames: int = CONTINUUM.frames
    loop: bool = CONTINUUM.loop
    method: str = CONTINUUM.method
    spacing: str = CONTINUUM.spacing
    # the last spacing computed (reused by export while its key matches); never compared/shown
    spacing_result: SpacingResult | None = field(default=None, repr=False, compare=False)

    def validate(self) -> None:
        if len(self.anchors) < 2:
            raise OptionError("a continuum needs at least 2 anchors")
        if self.frames < 2:
            raise OptionError(f"a continuum needs at least 2 frames, got {self.frames}")
        if self.frames < self.min_frames:
            raise OptionError(
                f"a {'loop' if self.loop else 'continuum'} through {len(self.anchors)} anchors needs "
                f"at least {self.min_frames} frames (every anchor is a frame), got {self.frames}"
            )
        if self.method not in INTERPOLATION_METHODS:
            raise OptionError(f"unknown interpolation {self.method!r}; choose lerp or slerp")
        if self.spacing not in FRAME_SPACINGS:
            raise OptionError(
                f"unknown frame spacing {self.spacing!r}; choose {', '.join(FRAME_SPACINGS)}"
            )
        shapes = {a.latent.wplus.shape for a in self.anchors}
        if len(shapes) != 1:
            raise OptionError(f"anchors have different latent shapes: {sorted(shapes)}")

    @property
    def segments(self) -> int:
        return len(self.anchors) if self.loop else len(self.anchors) - 1

    @property
    def steps(self) -> int:
        """Steps between frames (a loop's last frame steps back to the first)."""
        return self.frames if self.loop else self.frames - 1

    @property
    def min_frames(self) -> int:
        return len(self.anchors)

    def stack(self) -> np.ndarray:
        return np.stack([a.latent.wplus for a in self.anchors])

    @property
    def orientation(self) -> str:
        """The one orientation all its frames are shown in: its first anchor's (a still of
        another anchor keeps its own). Spacing is measured on the frames as generated."""
        return self.anchors[0].latent.orientation if self.anchors else "as-generated"

    @property
    def has_noise(self) -> bool:
        """Whether any anchor carries its own noise maps (the frames then blend them)."""
        return any(a.latent.noise is not None for a in self.anchors)


@dataclass
class Frame:
    index: int
    position: float  # s in [0, segments]
    segment: int
    t: float  # fraction within the segment
    wplus: np.ndarray
    image: np.ndarray | None = None
    step_distance: float = 0.0  # distance from the previous frame
    cumulative_distance: float = 0.0


@dataclass
class ContinuumFrames:
    frames: list[Frame]
    distances: np.ndarray  # consecutive-frame distances, len(frames) - 1 (+1 closing for loops)
    spacing: str
    metric: str
    extra: dict = field(default_factory=dict)

    @property
    def cv(self) -> float:
        """Coefficient of variation of the step distances (0 = perfectly even)."""
        d = self.distances
        return float(d.std() / d.mean()) if len(d) and d.mean() > 0 else 0.0


def _slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Per-layer spherical interpolation (falls back to lerp for near-parallel rows)."""
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        na, nb = np.linalg.norm(a[i]), np.linalg.norm(b[i])
        if na < 1e-8 or nb < 1e-8:
            out[i] = a[i] + (b[i] - a[i]) * t
            continue
        cos = np.clip(np.dot(a[i], b[i]) / (na * nb), -1, 1)
        omega = np.arccos(cos)
        if omega < 1e-4:
            out[i] = a[i] + (b[i] - a[i]) * t
            continue
        dirv = (np.sin((1 - t) * omega) * a[i] / na + np.sin(t * omega) * b[i] / nb) / np.sin(omega)
        out[i] = dirv * (na + (nb - na) * t)
    return out


def _segment_of(continuum: Continuum, s: float) -> tuple[int, float]:
    """(segment, fraction within it) of position s, clipped to the continuum."""
    s = float(np.clip(s, 0, continuum.segments))
    seg = min(int(np.floor(s)), continuum.segments - 1)
    return seg, s - seg


def latent_at(continuum: Continuum, s: float) -> np.ndarray:
    """w+ at position s on the continuum."""
    ws = continuum.stack()
    seg, t = _segment_of(continuum, s)
    a = ws[seg]
    b = ws[(seg + 1) % len(ws)]
    if continuum.method == "slerp":
        return _slerp(a, b, t)
    return (a + (b - a) * t).astype(np.float32)


def allocate_steps(lengths, steps: int) -> list[int]:
    """Share `steps` among segments of the given lengths, at least one each, so that the
    longest step (length / count) is as short as it can be (D'Hondt)."""
    lengths = [max(float(x), 0.0) for x in lengths]
    if steps < len(lengths):
        raise OptionError(f"{steps} steps cannot reach {len(lengths)} segments")
    counts = [1] * len(lengths)
    for _ in range(steps - len(lengths)):
        k = max(range(len(lengths)), key=lambda j: (lengths[j] / counts[j], -j))
        counts[k] += 1
    return counts


def _positions_from_counts(continuum: Continuum, counts: list[int]) -> np.ndarray:
    pos = [] if continuum.loop else [0.0]
    for k, n in enumerate(counts):
        js = range(0, n) if continuum.loop else range(1, n + 1)
        pos += [k + j / n for j in js]
    return np.asarray(pos, np.float64)


def uniform_positions(continuum: Continuum) -> np.ndarray:
    """Frame positions equally spaced in the latent parameter within each segment (the
    paper's lerp), every anchor a frame; steps are shared equally among the segments (when
    they do not divide evenly, the first segments get one more)."""
    return _positions_from_counts(
        continuum, allocate_steps([1.0] * continuum.segments, continuum.steps)
    )


def anchor_frames(positions) -> list[int]:
    """Indices of the frames that sit on an anchor (whole-number positions)."""
    return [i for i, s in enumerate(positions) if abs(s - round(s)) < 1e-9]
