"""Perceptually even frame spacing: render at the frames' positions, embed the images in the
model's features (or pixels), move the frames to equal chord distances, a few rounds
(`iter_spacing`, cancellable between batches); the result is kept on the continuum."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from ..device import Compute
from ..invert import perceptual_for, synthesize
from ..model import Model
from .continuum import Continuum, allocate_steps, latent_at, uniform_positions
from .noise import noise_batch


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
