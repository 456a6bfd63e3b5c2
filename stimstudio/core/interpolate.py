"""Continua through W+ between anchors, and perceptually even frame spacing.

The paper interpolates codes linearly, but equal latent steps are not equal visual steps, and
serial-dependence or adaptation studies need equal morph steps: a continuum can be re-sampled so
consecutive frames are equally far apart in feature (or pixel) space; the per-step distances are
always reported. Over anchors A, B, C it has segments A->B, B->C (and C->A as a loop); position
`s` in [0, n_segments] is segment floor(s), fraction s - floor(s). Every anchor is a frame: the
steps are shared among the segments (at least one each) and spaced within each. Even spacing
renders only at the frames' own positions, refined a few rounds (`iter_spacing`, cancellable
between batches); its result is kept on the continuum (`spacing_result`, checked against model,
anchors and settings), so an export of it reuses positions and distances instead of recomputing.

Anchors that carry noise maps (an inversion with the noise encoder or with fitted noise) keep
them along the path: each frame's maps are the two anchors' maps blended like w+ (an anchor
without maps brings the model's fixed ones), rescaled to the blend of their standard
deviations, so a midpoint is as grainy as its ends instead of a fainter average (`noise_at`).
A path whose anchors carry no maps renders with the model's fixed maps, as before.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from .defaults import CONTINUUM
from .device import Compute
from .errors import OptionError
from .invert import fixed_noise, perceptual_for, synthesize
from .latent import Latent
from .model import Model

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


def _anchor_noise(continuum: Continuum, model: Model) -> list[list[np.ndarray]]:
    """Each anchor's maps (the model's fixed ones for an anchor without), checked once."""
    fixed = fixed_noise(model.G)
    for anchor in continuum.anchors:
        maps = anchor.latent.noise
        if maps is not None and [m.shape for m in maps] != [f.shape for f in fixed]:
            raise OptionError(
                f"anchor {anchor.name!r} carries noise maps of another model "
                f"({len(maps)} maps, this model has {len(fixed)} noise layers of "
                f"{', '.join(str(f.shape[0]) for f in fixed)} px)"
            )
    return [a.latent.noise or fixed for a in continuum.anchors]


def _noise_between(maps: list[list[np.ndarray]], continuum: Continuum, s: float):
    seg, t = _segment_of(continuum, s)
    a, b = maps[seg], maps[(seg + 1) % len(maps)]
    if t == 0:
        return [np.array(n, np.float32) for n in a]
    if t == 1:
        return [np.array(n, np.float32) for n in b]
    out = []
    for na, nb in zip(a, b):
        m = (1 - t) * na + t * nb
        mean = (1 - t) * na.mean() + t * nb.mean()
        std = (1 - t) * na.std() + t * nb.std()
        m = (m - m.mean()) * (std / max(float(m.std()), 1e-12)) + mean
        out.append(m.astype(np.float32))
    return out


def noise_at(continuum: Continuum, s: float, model: Model) -> list[np.ndarray] | None:
    """The noise maps of the frame at position s, or None when no anchor carries maps (the
    frame renders with the model's fixed ones). See the module docstring."""
    if not continuum.has_noise:
        return None
    return _noise_between(_anchor_noise(continuum, model), continuum, s)


def noise_batch(continuum: Continuum, positions, model: Model) -> list[np.ndarray] | None:
    """`noise_at` for several positions: one [N, r, r] array per noise layer (or None)."""
    if not continuum.has_noise:
        return None
    maps = _anchor_noise(continuum, model)
    per_frame = [_noise_between(maps, continuum, s) for s in positions]
    return [np.stack(layer) for layer in zip(*per_frame)]


class Renderer:
    """G(w+) -> image, and images -> a feature vector for distances; batched, no grad."""

    def __init__(self, model: Model, compute: Compute | None = None, metric: str = "perceptual"):
        self.model = model
        self.compute = compute
        self.metric = metric
        self.F = perceptual_for(model) if metric == "perceptual" else None

    @torch.no_grad()
    def images(self, wplus: np.ndarray, batch: int = 16, noise=None) -> np.ndarray:
        """G(w+) per row; `noise`: one [N, r, r] array per noise layer (`noise_batch`)."""
        out = [
            synthesize(
                self.model,
                wplus[i : i + batch],
                self.compute,
                noise=None if noise is None else [n[i : i + batch] for n in noise],
            )
            for i in range(0, len(wplus), batch)
        ]
        return np.concatenate(out)

    @torch.no_grad()
    def embed(self, images: np.ndarray) -> np.ndarray:
        """A vector per image whose Euclidean distance is the metric's distance."""
        if self.F is None:
            return images.reshape(len(images), -1).astype(np.float64)
        dev = next(self.model.G.parameters()).device
        x = torch.from_numpy(images[:, None].astype(np.float32)).to(dev)
        feats = self.F(x)
        scale = np.sqrt(self.F.loss_scale)
        # Pool to at most 8x8 per layer: keeps dense continua in memory (a 128px model's raw
        # features are ~0.5 M numbers per frame) while still comparing local structure.
        pooled = [
            torch.nn.functional.adaptive_avg_pool2d(f.float(), 8) if f.shape[-1] > 8 else f.float()
            for f in feats
        ]
        parts = [f.flatten(1) / np.sqrt(f[0].numel()) for f in pooled]
        return (torch.cat(parts, 1) * scale).cpu().numpy()


def _distances(emb: np.ndarray, loop: bool) -> np.ndarray:
    e = np.concatenate([emb, emb[:1]]) if loop else emb
    return np.linalg.norm(np.diff(e, axis=0), axis=1)


class _DenseCurve:
    """The continuum's embedding, sampled densely and interpolated linearly in between."""

    def __init__(self, dense: np.ndarray, emb: np.ndarray):
        self.dense, self.emb = dense, emb

    def at(self, s: float) -> np.ndarray:
        k = int(np.clip(np.searchsorted(self.dense, s) - 1, 0, len(self.dense) - 2))
        a = (s - self.dense[k]) / (self.dense[k + 1] - self.dense[k])
        return self.emb[k] + (self.emb[k + 1] - self.emb[k]) * a


def _balance(curve: _DenseCurve, left: float, right: float, iters: int = 24) -> float:
    """The point between two frames that is equally far from both (bisection)."""
    el, er = curve.at(left), curve.at(right)
    lo, hi = left, right
    for _ in range(iters):
        mid = (lo + hi) / 2
        e = curve.at(mid)
        if np.linalg.norm(e - el) < np.linalg.norm(er - e):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


SPACING_VERSION = 2  # changes when the algorithm would give other positions


@dataclass
class SpacingResult:
    """Positions of a continuum's frames and the step distances between them, in `metric`.

    `key` names what they were computed from (model, anchors, frames, loop, method, spacing,
    metric); `matches` says whether they still belong to a continuum and model.
    """

    key: str
    positions: np.ndarray
    distances: np.ndarray  # frames - 1 steps (+ the closing step of a loop)
    metric: str
    spacing: str
    renders: int = 0  # images rendered to find them
    seconds: float = 0.0
    images: np.ndarray | None = field(default=None, repr=False)  # the frames, when kept

    @property
    def cv(self) -> float:
        d = self.distances
        return float(d.std() / d.mean()) if len(d) and d.mean() > 0 else 0.0

    def matches(self, continuum: Continuum, model: Model, metric: str) -> bool:
        return self.key is not None and self.key == spacing_key(continuum, model, metric)


@dataclass
class SpacingProgress:
    """One step of `iter_spacing`: `done` of `total` renders (total is an upper bound: the
    refinement may stop early), and on the last record `result`."""

    done: int
    total: int
    message: str = ""
    finished: bool = False
    cancelled: bool = False
    result: SpacingResult | None = None
    elapsed: float = 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the rate so far (None before the first renders)."""
        if self.done <= 0 or self.finished:
            return None
        return self.elapsed / self.done * max(self.total - self.done, 0)


def spacing_key(continuum: Continuum, model: Model, metric: str) -> str | None:
    """What a spacing result depends on; None for a model without a file hash (never reused)."""
    if getattr(model, "sha256", None) is None:
        return None
    doc = {
        "version": SPACING_VERSION,
        "model": model.sha256,
        "anchors": [
            hashlib.sha256(np.ascontiguousarray(a.latent.wplus, np.float32).tobytes()).hexdigest()
            for a in continuum.anchors
        ],
        "frames": continuum.frames,
        "loop": continuum.loop,
        "method": continuum.method,
        "spacing": continuum.spacing,
        "metric": metric,
    }
    if continuum.has_noise:  # keys of paths without noise maps stay what they were
        doc["noise"] = [
            hashlib.sha256(
                b"".join(np.ascontiguousarray(n, np.float32).tobytes() for n in a.latent.noise)
            ).hexdigest()
            if a.latent.noise is not None
            else None
            for a in continuum.anchors
        ]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def default_metric(continuum: Continuum) -> str:
    return "pixel" if continuum.spacing == "pixel" else "perceptual"


class _Samples:
    """Embeddings of rendered points of the continuum, by position (a loop's end is its start)."""

    def __init__(self, continuum: Continuum, renderer: Renderer):
        self.continuum, self.renderer = continuum, renderer
        self.emb: dict[float, np.ndarray] = {}
        self.images: dict[float, np.ndarray] = {}

    def key(self, s: float) -> float:
        s = float(s)
        if self.continuum.loop and abs(s - self.continuum.segments) < 1e-12:
            s = 0.0
        return round(s, 12)

    def missing(self, positions) -> list[float]:
        out = []
        for s in positions:
            k = self.key(s)
            if k not in self.emb and k not in out:
                out.append(k)
        return out

    def add(self, positions: list[float]) -> None:
        ws = np.stack([latent_at(self.continuum, s) for s in positions])
        imgs = self.renderer.images(
            ws, noise=noise_batch(self.continuum, positions, self.renderer.model)
        )
        for s, img, e in zip(positions, imgs, self.renderer.embed(imgs)):
            self.emb[s], self.images[s] = e, img

    def at(self, positions) -> np.ndarray:
        return np.stack([self.emb[self.key(s)] for s in positions])

    def curve(self) -> _DenseCurve:
        pos = sorted(self.emb)
        emb = [self.emb[s] for s in pos]
        if self.continuum.loop:
            pos.append(float(self.continuum.segments))
            emb.append(self.emb[0.0])
        return _DenseCurve(np.asarray(pos), np.stack(emb))


def _segment_lengths(curve: _DenseCurve, n_seg: int) -> list[float]:
    """Polyline length of each segment through the rendered samples."""
    out = []
    for k in range(n_seg):
        inside = (curve.dense >= k - 1e-12) & (curve.dense <= k + 1 + 1e-12)
        e = curve.emb[inside]
        out.append(float(np.linalg.norm(np.diff(e, axis=0), axis=1).sum()) if len(e) > 1 else 0.0)
    return out


def _relax(
    curve: _DenseCurve, continuum: Continuum, counts: list[int], old: np.ndarray
) -> np.ndarray:
    """Within each segment (anchors fixed), move frames until each is equally far from its two
    neighbours on the sampled curve (chords, what an observer compares; Gauss-Seidel sweeps).
    A segment whose step count changed starts again from equal arc length."""
    pos = [] if continuum.loop else [0.0]
    old_counts = _counts_of(old, continuum)
    for k, n in enumerate(counts):
        if n == old_counts[k]:
            inner = [s for s in old if k < s < k + 1 - 1e-12]
        else:
            inside = (curve.dense >= k) & (curve.dense <= k + 1)
            d = curve.dense[inside]
            seg = np.linalg.norm(np.diff(curve.emb[inside], axis=0), axis=1)
            arc = np.concatenate([[0.0], np.cumsum(seg)])
            targets = np.linspace(0, arc[-1], n + 1)[1:-1]
            inner = (
                list(np.interp(targets, arc, d))
                if arc[-1] > 0
                else [k + j / n for j in range(1, n)]
            )
        ext = [float(k), *map(float, inner), float(k + 1)]
        for _ in range(60):
            moved = 0.0
            for i in range(1, len(ext) - 1):
                new = _balance(curve, ext[i - 1], ext[i + 1])
                moved = max(moved, abs(new - ext[i]))
                ext[i] = new
            if moved < 1e-6:
                break
        pos += ext[:-1] if continuum.loop else ext[1:]
    return np.asarray(pos, np.float64)


def within_segment_cv(positions, distances, continuum: Continuum) -> float:
    """Mean CV of the step distances inside each segment (what the refinement evens out)."""
    d = np.asarray(distances, np.float64)
    segs = np.array([min(int(np.floor(s + 1e-9)), continuum.segments - 1) for s in positions])
    segs = segs[: len(d)]
    cvs = [
        float(d[segs == k].std() / d[segs == k].mean())
        for k in np.unique(segs)
        if (segs == k).sum() > 1 and d[segs == k].mean() > 0
    ]
    return float(np.mean(cvs)) if cvs else 0.0


def _counts_of(positions: np.ndarray, continuum: Continuum) -> list[int]:
    """Steps in each segment for positions that have every anchor as a frame."""
    counts = [0] * continuum.segments
    starts = positions if continuum.loop else positions[:-1]
    for a in starts:
        counts[min(int(np.floor(a + 1e-9)), continuum.segments - 1)] += 1
    return counts


def iter_spacing(
    continuum: Continuum,
    model: Model,
    compute: Compute | None = None,
    metric: str | None = None,
    rounds: int = 3,
    tolerance: float = 0.01,
    should_stop: Callable[[], bool] | None = None,
    keep_images: bool = False,
) -> Iterator[SpacingProgress]:
    """Find the frames' positions (and step distances in `metric`) for the continuum's spacing.

    Latent spacing: equal latent steps, rendered once for the distances. Even spacing
    ("perceptual" / "pixel"): render at the frames' own positions, share the steps among the
    segments by their length, and move each frame to equal chord distances on the curve through
    everything rendered so far; repeat while the steps' CV within segments is above
    `tolerance`, at most `rounds` rounds (so at most rounds x frames renders, vs. 1 x for
    latent spacing). Anchors stay frames, so steps differ between segments by the whole-number
    share of steps (segment length / its steps): with few frames per segment this, not the
    refinement, sets the overall CV.
    Yields `SpacingProgress` after every batch; the last record has the `SpacingResult`, also
    stored as `continuum.spacing_result`. Cancelled between batches (`cancelled=True`, no result).
    """
    continuum.validate()
    metric = metric or default_metric(continuum)
    t0 = time.perf_counter()
    renderer = Renderer(model, compute, metric)
    even = continuum.spacing != "latent"
    spacer = (
        renderer
        if not even or continuum.spacing == metric
        else Renderer(model, compute, continuum.spacing)
    )
    samples = _Samples(continuum, spacer)
    total = continuum.frames * (rounds if even else 1)
    done = 0
    batch = 8

    def stopped() -> bool:
        return should_stop is not None and should_stop()

    def render(positions, label):
        nonlocal done
        todo = samples.missing(positions)
        for i in range(0, len(todo), batch):
            if stopped():
                return False
            samples.add(todo[i : i + batch])
            done += len(todo[i : i + batch])
            yield SpacingProgress(min(done, total), total, label, elapsed=time.perf_counter() - t0)
        return True

    def chords(positions) -> np.ndarray:
        return _distances(samples.at(positions), continuum.loop)

    pos = uniform_positions(continuum)
    for r in range(rounds if even else 1):
        label = f"round {r + 1} of {rounds}" if even else "rendering frames"
        ok = yield from render(pos, label)
        if not ok:
            yield SpacingProgress(done, total, "cancelled", finished=True, cancelled=True)
            return
        if not even:
            break
        if within_segment_cv(pos, chords(pos), continuum) <= tolerance or r == rounds - 1:
            break
        curve = samples.curve()
        counts = allocate_steps(_segment_lengths(curve, continuum.segments), continuum.steps)
        pos = _relax(curve, continuum, counts, pos)
    if stopped():
        yield SpacingProgress(done, total, "cancelled", finished=True, cancelled=True)
        return
    if spacer is renderer:
        dist = chords(pos)
    else:  # spaced in one metric, measured in another
        imgs = np.stack([samples.images[samples.key(s)] for s in pos])
        dist = _distances(renderer.embed(imgs), continuum.loop)
    images = np.stack([samples.images[samples.key(s)] for s in pos]) if keep_images else None
    result = SpacingResult(
        spacing_key(continuum, model, metric),
        pos,
        np.asarray(dist, np.float64),
        metric,
        continuum.spacing,
        renders=len(samples.emb),
        seconds=time.perf_counter() - t0,
        images=images,
    )
    continuum.spacing_result = result
    yield SpacingProgress(
        total, total, "done", finished=True, result=result, elapsed=result.seconds
    )


def compute_spacing(
    continuum: Continuum, model: Model, compute=None, metric=None, **kw
) -> SpacingResult | None:
    """`iter_spacing` run to the end; None when cancelled."""
    last = None
    for rec in iter_spacing(continuum, model, compute, metric, **kw):
        last = rec
    return last.result if last is not None else None


def render_path(
    continuum: Continuum,
    model: Model,
    compute: Compute | None = None,
    metric: str | None = None,
    with_images: bool = True,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[SpacingProgress], None] | None = None,
) -> ContinuumFrames:
    """Frames of the continuum at its spacing, with step distances in `metric`.

    metric defaults to "perceptual" (the model's F) unless spacing is "pixel". A spacing
    result already on the continuum for the same model and settings is used as it is (no renders
    beyond the frames themselves when images are asked for).
    """
    continuum.validate()
    for a in continuum.anchors:
        a.latent.check_model(model, allow_other_model=True)
    metric = metric or default_metric(continuum)
    res = continuum.spacing_result
    if (
        res is None
        or not res.matches(continuum, model, metric)
        or (with_images and res.images is None)
    ):
        res = None
        for rec in iter_spacing(
            continuum, model, compute, metric, should_stop=should_stop, keep_images=with_images
        ):
            if on_progress is not None:
                on_progress(rec)
            if rec.finished:
                res = rec.result
    if res is None:  # cancelled
        return ContinuumFrames([], np.zeros(0), continuum.spacing, metric, {"cancelled": True})
    pos, dist = res.positions, res.distances
    frames = []
    cum = 0.0
    for i, s in enumerate(pos):
        seg = min(int(np.floor(s)), continuum.segments - 1)
        step = float(dist[i - 1]) if i > 0 else 0.0
        cum += step
        img = res.images[i] if with_images and res.images is not None else None
        frames.append(
            Frame(i, float(s), seg, float(s - seg), latent_at(continuum, s), img, step, cum)
        )
    return ContinuumFrames(
        frames, dist, continuum.spacing, metric, {"renders": res.renders, "seconds": res.seconds}
    )


def iter_frames(
    continuum: Continuum, positions: np.ndarray, model: Model, compute=None
) -> Iterator[Frame]:
    """Render frames one at a time (export, scrubbing): cancellable between frames."""
    for i, s in enumerate(positions):
        seg = min(int(np.floor(s)), continuum.segments - 1)
        w = latent_at(continuum, s)
        img = synthesize(model, w, compute, noise=noise_at(continuum, s, model))[0]
        yield Frame(i, float(s), seg, float(s - seg), w, img)
