"""Paths through W+ between anchors, and perceptually even frame spacing.

The paper interpolates codes linearly. Equal latent steps are not equal visual steps, and
serial-dependence or adaptation studies need equal morph steps, so a path can be re-sampled
so consecutive frames are equally far apart in feature space (or pixel space). The per-step
distances are always reported, whichever spacing is used.

A path over anchors A, B, C has segments A->B, B->C (and C->A when it is a loop); a position
`s` in [0, n_segments] names a point on it: segment floor(s), fraction s - floor(s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from .device import Compute
from .errors import OptionError
from .latent import Latent
from .model import Model

SPACINGS = ("latent", "perceptual", "pixel")
METHODS = ("lerp", "slerp")


@dataclass
class Anchor:
    name: str
    latent: Latent


@dataclass
class Path:
    anchors: list[Anchor]
    frames: int = 30
    loop: bool = False
    method: str = "lerp"
    spacing: str = "latent"

    def validate(self) -> None:
        if len(self.anchors) < 2:
            raise OptionError("a path needs at least 2 anchors")
        if self.frames < 2:
            raise OptionError(f"a path needs at least 2 frames, got {self.frames}")
        if self.method not in METHODS:
            raise OptionError(f"unknown interpolation {self.method!r}; choose lerp or slerp")
        if self.spacing not in SPACINGS:
            raise OptionError(f"unknown spacing {self.spacing!r}; choose {', '.join(SPACINGS)}")
        shapes = {a.latent.wplus.shape for a in self.anchors}
        if len(shapes) != 1:
            raise OptionError(f"anchors have different latent shapes: {sorted(shapes)}")

    @property
    def segments(self) -> int:
        return len(self.anchors) if self.loop else len(self.anchors) - 1

    def stack(self) -> np.ndarray:
        return np.stack([a.latent.wplus for a in self.anchors])


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
class PathFrames:
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


def latent_at(path: Path, s: float) -> np.ndarray:
    """w+ at position s on the path."""
    ws = path.stack()
    n_seg = path.segments
    s = float(np.clip(s, 0, n_seg))
    seg = min(int(np.floor(s)), n_seg - 1)
    t = s - seg
    a = ws[seg]
    b = ws[(seg + 1) % len(ws)]
    if path.method == "slerp":
        return _slerp(a, b, t)
    return (a + (b - a) * t).astype(np.float32)


def uniform_positions(path: Path) -> np.ndarray:
    """Frame positions equally spaced in the latent parameter (the paper's lerp)."""
    n_seg = path.segments
    if path.loop:
        return np.arange(path.frames) * (n_seg / path.frames)
    return np.linspace(0, n_seg, path.frames)


class Renderer:
    """G(w+) -> image, and images -> a feature vector for distances; batched, no grad."""

    def __init__(self, model: Model, compute: Compute | None = None, metric: str = "perceptual"):
        from .invert import perceptual_for

        self.model = model
        self.compute = compute
        self.metric = metric
        self.F = perceptual_for(model) if metric == "perceptual" else None

    @torch.no_grad()
    def images(self, wplus: np.ndarray, batch: int = 16) -> np.ndarray:
        from .invert import synthesize

        out = [
            synthesize(self.model, wplus[i : i + batch], self.compute)
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
        # Pool to at most 8x8 per layer: keeps dense paths in memory (a 128px model's raw
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
    """The path's embedding, sampled densely and interpolated linearly in between."""

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


def even_positions(
    path: Path,
    renderer: Renderer,
    oversample: int = 8,
    sweeps: int = 60,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Positions whose rendered frames are equally far apart in the renderer's metric.

    Consecutive frames must be equal *chord* distances apart (what an observer compares),
    not equal arc length: in feature space a path curves, and the two differ. Start from equal
    arc length on a densely rendered path, then relax like a chain: each frame moves to the
    point equally far from its two neighbours (Gauss-Seidel sweeps). The first frame stays on
    the first anchor (and the last on the last anchor for an open path).
    """
    n_seg = path.segments
    dense = np.linspace(0, n_seg, max(path.frames * oversample, 64) + 1)
    ws = np.stack([latent_at(path, s) for s in dense])
    emb = renderer.embed(renderer.images(ws))
    if should_stop is not None and should_stop():
        return uniform_positions(path)
    seg_d = np.linalg.norm(np.diff(emb, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg_d)])
    if arc[-1] <= 0:
        return uniform_positions(path)
    n = path.frames
    targets = np.arange(n) * (arc[-1] / n) if path.loop else np.linspace(0, arc[-1], n)
    pos = np.interp(targets, arc, dense)
    curve = _DenseCurve(dense, emb)
    last = n if path.loop else n - 1  # frames 1..last-1 move; a loop closes on frame 0 at n_seg
    for _ in range(sweeps):
        if should_stop is not None and should_stop():
            break
        ext = np.concatenate([pos, [float(n_seg)]]) if path.loop else pos
        for i in range(1, last):
            ext[i] = _balance(curve, ext[i - 1], ext[i + 1])
        pos = ext[:n]
    return pos


def render_path(
    path: Path,
    model: Model,
    compute: Compute | None = None,
    metric: str | None = None,
    with_images: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> PathFrames:
    """Frames of the path at its spacing, with step distances in `metric`.

    metric defaults to "perceptual" (the model's F) unless spacing is "pixel".
    """
    path.validate()
    for a in path.anchors:
        a.latent.check_model(model, allow_other_model=True)
    metric = metric or ("pixel" if path.spacing == "pixel" else "perceptual")
    renderer = Renderer(model, compute, metric)
    if path.spacing == "latent":
        pos = uniform_positions(path)
    else:
        spacing_renderer = (
            renderer if path.spacing == metric else Renderer(model, compute, path.spacing)
        )
        pos = even_positions(path, spacing_renderer, should_stop=should_stop)
    ws = np.stack([latent_at(path, s) for s in pos])
    imgs = renderer.images(ws)
    dist = _distances(renderer.embed(imgs), path.loop)
    frames = []
    cum = 0.0
    for i, s in enumerate(pos):
        seg = min(int(np.floor(s)), path.segments - 1)
        step = float(dist[i - 1]) if i > 0 else 0.0
        cum += step
        frames.append(
            Frame(
                i, float(s), seg, float(s - seg), ws[i], imgs[i] if with_images else None, step, cum
            )
        )
    return PathFrames(frames, dist, path.spacing, metric)


def iter_frames(path: Path, positions: np.ndarray, model: Model, compute=None) -> Iterator[Frame]:
    """Render frames one at a time (export, scrubbing): cancellable between frames."""
    from .invert import synthesize

    for i, s in enumerate(positions):
        seg = min(int(np.floor(s)), path.segments - 1)
        w = latent_at(path, s)
        yield Frame(i, float(s), seg, float(s - seg), w, synthesize(model, w, compute)[0])
