"""How a placed texture goes into the template: its grey levels, or its contrast.

Three placement modes (`PLACEMENT_MODES`):

- ``paste`` — the paper's stitch: inside the mask the template's pixels are replaced by the
  texture's (feathered edge). The lesion brings its own background level along, so a mass cut
  from a fatty film and pasted on a dense template is a dark patch with a bright core, and its
  contrast against the new surround can be negative (issue 39).
- ``contrast`` — the lesion is inserted by its contrast against its own surround, as
  radiology-perception studies insert lesions: the texture minus a smooth estimate of its local
  surround (`surround`) is added to the template, times a gain (1 = the lesion's own contrast,
  0 = nothing added).
- ``blend`` — gradient-domain (Poisson) blending, `core.compose.poisson_blend`: inside the
  outline the texture's gradients, on it the template's levels, so no edge is left where the
  two meet. Whatever contrast the lesion has against its own surround at the outline is lost
  with the edge; its inner structure (a mass's brighter core, spicules) stays. A classifier
  tells stitched composites of mini-MIAS lesions from real film far more easily than blended
  ones (docs/INVERSION.md, "Composites").

The domain of the difference: the patches are display values in [-1, 1], dense = bright, and
the readers map a film's stored grey levels linearly to them (mini-MIAS: a microdensitometer
linear in optical density). So a display value is an affine function of the film's density, and
an added difference is an added density, i.e. added attenuation along the ray (on the film's
straight part) — which is what a lesion does to the tissue it lies in. The difference is
therefore taken and added in display values (`add_density`). Near the ends of the range the
addition saturates smoothly, as a film does on the shoulder of its characteristic curve,
instead of clipping to a flat white disc: a difference up to half the room left towards the end
adds as it is, one as large as that room is kept at 88 %. On a very dense template a strong lesion is
compressed so, which `placement_warnings` says (lower the gain, or place it on less dense
tissue).

`lesion_contrast` is the measure: mean inside the mask minus the mean of a ring around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .defaults import CONTRAST_RANGE, PLACEMENT, PLACEMENT_MODES
from .errors import MaskError, OptionError

__all__ = [
    "CONTRAST_RANGE",
    "PLACEMENT_MODES",
    "Mask",
    "Placement",
    "add_density",
    "check_mode",
    "contrast_or_nan",
    "kept_share",
    "lesion_contrast",
    "lesion_difference",
    "placement_warnings",
    "surround",
    "surround_ring",
]
# Texture and template "differ much in brightness" when their surrounds' means differ by more
# than this on the [-1, 1] scale (an eighth of the range); mdb028 on mdb003 differs by ~0.6.
BRIGHTNESS_WARN = 0.25
KEPT_WARN = 0.8  # below this share of the asked contrast kept (`add_density`), say so


def check_mode(mode: str, contrast: float) -> None:
    """One OptionError for a placement mode or contrast gain out of range."""
    if mode not in PLACEMENT_MODES:
        raise OptionError(
            f"placement mode must be one of {', '.join(PLACEMENT_MODES)}, not {mode!r}"
        )
    lo, hi = CONTRAST_RANGE
    try:
        ok = bool(np.isfinite(contrast)) and lo <= float(contrast) <= hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise OptionError(
            f"the contrast gain must be a number in {lo:g}..{hi:g} "
            f"(1 = the lesion's own contrast), got {contrast!r}"
        )


@dataclass
class Mask:
    """A texture region: hard mask (bool) + feather radius in pixels; polygon if lassoed."""

    binary: np.ndarray
    feather: float = 2.0
    polygon: np.ndarray | None = None

    @classmethod
    def from_polygon(cls, points, shape: tuple[int, int], feather: float = 2.0) -> Mask:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        if len(pts) < 3:
            raise MaskError("a lasso needs at least 3 points")
        m = np.zeros(shape, np.uint8)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], 1)
        if not m.any():
            raise MaskError("the lasso polygon lies outside the image")
        return cls(m.astype(bool), feather, pts)

    @classmethod
    def from_array(cls, arr, feather: float = 2.0) -> Mask:
        a = np.asarray(arr)
        if a.ndim != 2:
            raise MaskError(f"a mask must be a 2-D array, got shape {a.shape}")
        return cls(a > (0.5 if a.dtype.kind == "f" else 0), feather)

    def fitted(self, shape: tuple[int, int]) -> Mask:
        """This mask on a texture of `shape`: itself, or its lasso filled again on that grid (a
        texture cut again at another size). MaskError when it cannot be (a painted mask of
        another size; a lasso that no longer covers any pixel)."""
        shape = tuple(int(n) for n in shape)
        if self.binary.shape == shape and (self.polygon is None or self.binary.any()):
            return self
        if self.polygon is not None:
            return Mask.from_polygon(self.polygon, shape, self.feather)
        raise MaskError(
            f"the mask was painted on a {self.binary.shape[1]}x{self.binary.shape[0]} texture, "
            f"not this {shape[1]}x{shape[0]} one: draw it again"
        )

    def soft(self) -> np.ndarray:
        """Float mask in [0, 1] with a Gaussian-feathered edge (inside stays 1 in the core)."""
        m = self.binary.astype(np.float32)
        if self.feather <= 0:
            return m
        return np.clip(cv2.GaussianBlur(m, (0, 0), self.feather), 0, 1)

    def centroid(self) -> tuple[float, float]:
        ys, xs = np.nonzero(self.binary)
        if len(xs) == 0:
            raise MaskError("the mask is empty: draw a texture region first")
        return float(xs.mean()), float(ys.mean())


@dataclass
class Placement:
    """Where the texture goes: its mask centroid lands at template centre + (dx, dy) pixels,
    scaled by `scale` and rotated by `angle` degrees (counter-clockwise) about that centroid.

    How it goes in: `mode` "paste" (the paper's stitch of grey levels), "contrast" (its
    difference from its own surround added to the template, times the gain `contrast`) or
    "blend" (a Poisson blend: its gradients, the template's levels at the outline);
    core.insertion."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    angle: float = 0.0
    mode: str = PLACEMENT.mode
    contrast: float = PLACEMENT.contrast

    def validate(self) -> None:
        for k in ("dx", "dy", "scale", "angle"):
            if not np.isfinite(getattr(self, k)):
                raise OptionError(f"placement {k} must be a finite number")
        if not 0.05 <= self.scale <= 20:
            raise OptionError(f"placement scale must be in 0.05..20, got {self.scale}")
        check_mode(self.mode, self.contrast)


def _binary(mask) -> np.ndarray:
    m = np.asarray(mask)
    b = m >= 0.5 if m.dtype.kind == "f" else m.astype(bool)
    if not b.any():
        raise MaskError("the mask is empty: draw a texture region first")
    return b


def _radius(binary: np.ndarray) -> float:
    """The radius of the disc with the mask's area (pixels)."""
    return float(np.sqrt(binary.sum() / np.pi))


def _distance_outside(binary: np.ndarray) -> np.ndarray:
    """Distance (px) of each pixel outside the mask to the mask; 0 inside."""
    outside = (~binary).astype(np.uint8)
    return cv2.distanceTransform(outside, cv2.DIST_L2, 5)


def surround_ring(mask, gap: float = 4.0, width: float | None = None) -> np.ndarray:
    """The ring around a mask where its surround is measured: pixels `gap` to `gap + width`
    px outside the mask (`width`: half the mask's equivalent radius, at least 4 px)."""
    b = _binary(mask)
    if width is None:
        width = max(4.0, 0.5 * _radius(b))
    d = _distance_outside(b)
    ring = (d > gap) & (d <= gap + width)
    if not ring.any():
        raise MaskError("the mask leaves no surround in the image to measure contrast against")
    return ring


def lesion_contrast(image: np.ndarray, mask, gap: float = 4.0) -> float:
    """Mean of `image` inside the mask (soft masks: where >= 0.5) minus its mean on the ring
    around it (`surround_ring`): > 0 for a lesion brighter (denser) than its surround."""
    b = _binary(mask)
    img = np.asarray(image, np.float64)
    return float(img[b].mean() - img[surround_ring(b, gap)].mean())


def contrast_or_nan(image: np.ndarray, mask) -> float:
    """`lesion_contrast`, or NaN where the mask leaves no surround (a metric, not an error)."""
    try:
        return lesion_contrast(image, mask)
    except MaskError:
        return float("nan")


def surround(image: np.ndarray, mask, gap: float = 4.0) -> np.ndarray:
    """A smooth estimate of the image's local surround under and around the mask.

    A normalised Gaussian average of the image outside the mask (pixels more than `gap` px from
    it, so the lesion's own blurred edge does not count), with sigma = the mask's equivalent
    radius (at least 4 px): a large blur that fills the masked region from its surroundings and
    follows a gradient across it. Where the surround is too far to reach, its plain mean.
    """
    b = _binary(mask)
    img = np.asarray(image, np.float32)
    if b.shape != img.shape:
        raise MaskError(f"the mask is {b.shape[::-1]} but the image is {img.shape[::-1]}")
    weight = (_distance_outside(b) > gap).astype(np.float32)
    if weight.sum() < 1:
        raise MaskError(
            "the mask covers the whole texture image: there is no surround to measure the "
            "lesion's contrast against; lasso the lesion only"
        )
    sigma = max(4.0, _radius(b))
    num = cv2.GaussianBlur(img * weight, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(weight, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    flat = float((img * weight).sum() / weight.sum())
    ok = den > 1e-3
    out = np.full_like(img, flat)
    out[ok] = num[ok] / den[ok]
    return out


def add_density(template: np.ndarray, added: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`template + added` kept inside [-1, 1] by a smooth shoulder. With `room` the distance
    from the template to the end the addition moves towards, an addition up to half the room
    is made as it is; beyond that it saturates smoothly towards the end (`knee + knee *
    tanh((a - knee) / knee)`, knee = room / 2: continuous with its slope, never past the end).
    Returns the image and the amount actually added."""
    t = np.clip(np.asarray(template, np.float32), -1.0, 1.0)
    a = np.asarray(added, np.float32)
    room = np.maximum(np.where(a >= 0, 1.0 - t, 1.0 + t), 1e-6)
    knee = room / 2
    mag = np.abs(a)
    got = np.where(mag <= knee, mag, knee + knee * np.tanh((mag - knee) / knee))
    got = np.sign(a) * got
    return (t + got).astype(np.float32), got.astype(np.float32)


def kept_share(asked: np.ndarray, got: np.ndarray, mask) -> float:
    """The share of the asked contrast (mean added inside the mask) that `add_density` kept;
    1 where nothing was asked."""
    b = _binary(mask)
    want = float(np.mean(np.asarray(asked, np.float64)[b]))
    if abs(want) < 1e-3:
        return 1.0
    return float(np.mean(np.asarray(got, np.float64)[b]) / want)


def lesion_difference(texture: np.ndarray, mask, gap: float = 4.0) -> np.ndarray:
    """The texture as its difference from its own local surround (display units)."""
    tex = np.asarray(texture, np.float32)
    return tex - surround(tex, mask, gap)


def placement_warnings(
    texture: np.ndarray,
    texture_mask,
    template: np.ndarray,
    placed_mask,
    mode: str = PLACEMENT.mode,
    contrast: float = PLACEMENT.contrast,
    kept: float = 1.0,
) -> list[str]:
    """Sentences for the user about this placement (empty: nothing to say).

    Says when the texture's surround and the template where the texture goes differ much in
    mean brightness (pasted grey levels then show the lesion's own background as a patch and
    can hide a mass), and, placed by contrast, when the template leaves the lesion too little
    room at the end of the range (`kept`: the share of its contrast `add_density` kept)."""
    out = []
    try:
        ring_t = surround_ring(texture_mask)
        ring_p = surround_ring(placed_mask)
    except MaskError:  # a region filling the image has no surround to compare: nothing to say
        ring_t = ring_p = None
    if ring_t is not None:
        a = float(np.mean(np.asarray(texture, np.float64)[ring_t]))
        b = float(np.mean(np.asarray(template, np.float64)[ring_p]))
    if ring_t is not None and abs(a - b) > BRIGHTNESS_WARN:
        what = "darker" if a < b else "brighter"
        level = f"(mean {a:+.2f} around the lesion vs {b:+.2f} where it goes, on -1..1)"
        if mode == "paste":
            out.append(
                f"The texture's surround is much {what} than the template where it goes {level}: "
                "pasted grey levels bring the lesion's own background along, and a mass can "
                "vanish or show as a ring. Placement by contrast inserts the lesion by its "
                "contrast against its own surround."
            )
        elif mode == "contrast":
            out.append(
                f"The texture's surround is much {what} than the template where it goes {level}; "
                f"the lesion is inserted by its contrast (gain {contrast:g}), so the difference "
                "in level is not carried over."
            )
    if mode == "contrast" and kept < KEPT_WARN:
        out.append(
            f"The template is near the end of the grey range here: the lesion keeps "
            f"{kept:.0%} of the contrast asked for (gain {contrast:g}) and its texture is "
            "compressed; lower the gain or place it on less dense tissue."
        )
    return out
