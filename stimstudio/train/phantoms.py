"""Procedural mammogram phantoms: the "artificial stimuli" of earlier perception studies.

- **Power-law noise** (Burgess et al. 2001): Gaussian noise whose power spectrum falls as
  1/f^beta; beta ≈ 3 matches mammographic anatomical noise.
- **Clustered lumpy backgrounds** (Bochud, Abbey & Eckstein 1999, Optics Express 4:33):
  K ~ Poisson(K̄) clusters placed uniformly, each with N ~ Poisson(N̄) blobs scattered around
  its centre with a Gaussian of width sigma; all blobs of one cluster share a random
  orientation theta and have the profile ``exp(-alpha * r**beta / L(phi - theta))``, where L
  is the radius in direction phi of an ellipse with half-axes Lx, Ly. Defaults are the paper's
  mammographic parameters (K̄ 150, N̄ 20, Lx 5, Ly 2, alpha 2.1, beta 0.5, sigma 12) for a
  128² region; other sizes scale the texture so that it looks like the 128² one resampled.
- **Masses** (circumscribed, lobulated, spiculated) with the "designer nodule" profile
  ``(1 - (r/R)^2)^nu`` (Burgess et al. 2001), a boundary radius R(phi) that is an ellipse
  (circumscribed), a sum of low harmonics (lobulated), or a small core with radiating
  spicules (spiculated). They are added to a background (dense = bright) and come back with
  their mask.

Everything is seeded and deterministic: the same arguments give the same array on every run.
Images are float32 in [0, 1], dense tissue bright, at any size (height, width).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.errors import OptionError

BACKGROUNDS = ("power", "lumpy")
MASS_KINDS = ("circumscribed", "lobulated", "spiculated")
LUMPY_REFERENCE_SIZE = 128  # the region size that Bochud et al.'s parameters describe


# ---------------------------------------------------------------------------------- helpers


def _shape(size) -> tuple[int, int]:
    """`size` as (height, width): an int for a square, or a pair."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        h = w = int(size)
    else:
        try:
            h, w = (int(v) for v in size)
        except (TypeError, ValueError):
            raise OptionError(f"size must be an integer or (height, width), not {size!r}") from None
    if h < 8 or w < 8:
        raise OptionError(f"phantom size must be at least 8x8 pixels, not {h}x{w}")
    if h * w > 8192 * 8192:
        raise OptionError(f"phantom size {h}x{w} is too large (at most 8192x8192 pixels)")
    return h, w


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool):
        raise OptionError("a phantom needs an integer seed")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise OptionError(f"seed must be a non-negative integer, not {seed!r}") from None


def _normalise(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Zero-mean, unit-variance field → the given mean and std, clipped to [0, 1]."""
    if not (0.0 <= mean <= 1.0):
        raise OptionError(f"background mean must lie in [0, 1], not {mean}")
    if not (0.0 <= std <= 0.5):
        raise OptionError(f"background std must lie in [0, 0.5], not {std}")
    x = x - x.mean()
    s = x.std()
    x = x / s if s > 0 else x
    return np.clip(mean + std * x, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------- power-law noise


def power_law_background(
    size, beta: float = 3.0, seed=0, *, mean: float = 0.5, std: float = 0.12
) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ 1/f^beta (f in cycles/pixel), float32 [0, 1].

    Made in the Fourier domain (white complex noise times f^(-beta/2), DC removed), so the
    field is periodic and its expected spectrum is an exact power law at every frequency.
    The image is scaled to the given mean and standard deviation and clipped to [0, 1]
    (at the defaults clipping needs a 4-sigma excursion and is rare).
    """
    h, w = _shape(size)
    beta = float(beta)
    if not (0.0 <= beta <= 6.0) or not math.isfinite(beta):
        raise OptionError(f"power-law exponent beta must lie in [0, 6], not {beta}")
    rng = _rng(seed)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    f[0, 0] = 1.0
    amplitude = f ** (-beta / 2.0)
    amplitude[0, 0] = 0.0
    noise = rng.standard_normal((h, w // 2 + 1)) + 1j * rng.standard_normal((h, w // 2 + 1))
    field_ = np.fft.irfft2(noise * amplitude, s=(h, w))
    return _normalise(field_, mean, std)


def radial_power_spectrum(image: np.ndarray, window: bool = False):
    """Radially averaged power spectrum: (frequencies in cycles/pixel, mean power)."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 8:
        raise OptionError("the power spectrum needs a 2-D image of at least 8x8 pixels")
    img = img - img.mean()
    if window:
        img = img * np.outer(np.hanning(img.shape[0]), np.hanning(img.shape[1]))
    p = np.abs(np.fft.fft2(img)) ** 2
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.fftfreq(img.shape[1])[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    n = min(img.shape)
    bins = np.rint(f * n).astype(int)  # rings one frequency step (1/n) wide
    sums = np.bincount(bins.ravel(), weights=p.ravel())
    counts = np.bincount(bins.ravel())
    k = np.arange(1, n // 2 + 1)
    k = k[counts[k] > 0]
    return k / n, sums[k] / counts[k]


def power_spectrum_beta(
    image: np.ndarray, fmin: float | None = None, fmax: float = 0.25, window: bool = False
) -> float:
    """The exponent beta of a 1/f^beta fit to the radial power spectrum (log-log, fmin..fmax).

    fmin defaults to 4 cycles per image. Use `window=True` for non-periodic images such as
    real patches, whose edges otherwise add a 1/f^2 leak.
    """
    f, p = radial_power_spectrum(image, window=window)
    lo = 4.0 / min(np.shape(image)) if fmin is None else fmin
    sel = (f >= lo) & (f <= fmax) & (p > 0)
    if sel.sum() < 3:
        raise OptionError("too few frequencies in the fit range to estimate beta")
    slope = np.polyfit(np.log(f[sel]), np.log(p[sel]), 1)[0]
    return float(-slope)


# ------------------------------------------------------------------ clustered lumpy texture


@dataclass(frozen=True)
class LumpyParams:
    """Clustered lumpy background parameters (Bochud et al. 1999), lengths in pixels at 128²."""

    clusters: float = 150.0  # K̄: mean number of clusters per 128x128 region
    blobs: float = 20.0  # N̄: mean number of blobs per cluster
    lx: float = 5.0  # Lx: blob characteristic length along the cluster orientation
    ly: float = 2.0  # Ly: across it
    alpha: float = 2.1  # profile slope
    beta: float = 0.5  # profile shape
    sigma: float = 12.0  # spread of blob positions around the cluster centre

    def check(self) -> None:
        for name in ("clusters", "blobs", "lx", "ly", "alpha", "beta", "sigma"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise OptionError(f"lumpy-background parameter {name} must be > 0, not {v!r}")
        if self.clusters * self.blobs > 1e6:
            raise OptionError("lumpy background: clusters x blobs must stay below one million")


def lumpy_background(
    size,
    seed=0,
    params: LumpyParams | None = None,
    *,
    scale: float | None = None,
    mean: float = 0.5,
    std: float = 0.12,
    angle_bins: int = 32,
) -> np.ndarray:
    """A clustered lumpy background, float32 [0, 1] (mean/std as `power_law_background`).

    `scale` multiplies the reference 128² geometry (default: the shorter side / 128, so any
    size looks like the 128² texture resampled). Blob positions are rounded to pixels and
    cluster orientations to `angle_bins` steps over 180° (the blob is symmetric under a half
    turn), which lets all blobs of one orientation be drawn with a single FFT convolution.
    Clusters are also placed in a margin of 2 sigma around the image, so its border has the
    same statistics as its centre.
    """
    h, w = _shape(size)
    p = params or LumpyParams()
    p.check()
    s = min(h, w) / LUMPY_REFERENCE_SIZE if scale is None else float(scale)
    if not (math.isfinite(s) and 0.05 <= s <= 64):
        raise OptionError(f"lumpy-background scale must lie in [0.05, 64], not {scale}")
    if not (1 <= int(angle_bins) <= 360):
        raise OptionError(f"angle_bins must lie in 1..360, not {angle_bins}")
    rng = _rng(seed)
    sigma = p.sigma * s
    # exp(-alpha r^beta / L) keeps its look under r -> s r only if L scales with s^beta.
    lx, ly = p.lx * s**p.beta, p.ly * s**p.beta
    pad = int(math.ceil(2 * sigma)) + 1
    H, W = h + 2 * pad, w + 2 * pad
    density = p.clusters / (LUMPY_REFERENCE_SIZE * s) ** 2
    k = int(rng.poisson(density * H * W))
    centres = rng.uniform(0, [H, W], size=(k, 2))
    counts = rng.poisson(p.blobs, size=k)
    theta = rng.uniform(0, math.pi, size=k)
    offsets = rng.standard_normal((int(counts.sum()), 2)) * sigma
    pos = np.repeat(centres, counts, axis=0) + offsets
    iy = np.rint(pos[:, 0]).astype(np.int64) % H
    ix = np.rint(pos[:, 1]).astype(np.int64) % W
    nb = int(angle_bins)
    cbin = np.floor(theta / math.pi * nb).astype(np.int64) % nb
    bbin = np.repeat(cbin, counts)
    impulses = np.zeros((nb, H, W), dtype=np.float64)
    np.add.at(impulses, (bbin, iy, ix), 1.0)
    used = np.unique(bbin)
    # Blob kernels on the periodic grid, centred at (0, 0).
    dy = np.fft.fftfreq(H, 1.0 / H)[:, None]
    dx = np.fft.fftfreq(W, 1.0 / W)[None, :]
    r = np.sqrt(dy * dy + dx * dx)
    phi = np.arctan2(dy, dx)
    out = np.zeros((H, W), dtype=np.float64)
    for b in used:
        th = (b + 0.5) * math.pi / nb
        a = phi - th
        ell = lx * ly / np.sqrt((ly * np.cos(a)) ** 2 + (lx * np.sin(a)) ** 2)
        kernel = np.exp(-p.alpha * r**p.beta / ell)
        out += np.fft.irfft2(np.fft.rfft2(impulses[b]) * np.fft.rfft2(kernel), s=(H, W))
    field_ = out[pad : pad + h, pad : pad + w]
    if field_.std() == 0:  # no blobs at all (tiny K̄): a flat field
        return np.full((h, w), np.clip(mean, 0, 1), dtype=np.float32)
    return _normalise(field_, mean, std)


# ---------------------------------------------------------------------------------- masses


@dataclass(frozen=True)
class MassSpec:
    """What mass to draw. Lengths are fractions of the image's shorter side; None = random."""

    kind: str = "circumscribed"
    radius: float = 0.12  # mean boundary radius of the (core of the) mass
    contrast: float = 0.15  # peak intensity added to the background
    center: tuple[float, float] | None = None  # (y, x) as fractions of height/width
    nu: float = 1.0  # profile exponent: (1 - (r/R)^2)^nu; small = sharp edge
    spicules: int | None = None  # spiculated: number of spicules (None: random 8..20)

    def check(self) -> None:
        if self.kind not in MASS_KINDS:
            raise OptionError(
                f"mass kind must be one of {', '.join(MASS_KINDS)}, not {self.kind!r}"
            )
        if not (0.01 <= self.radius <= 0.5):
            raise OptionError(
                f"mass radius must lie in [0.01, 0.5] of the image, not {self.radius}"
            )
        if not (0.0 <= self.contrast <= 1.0):
            raise OptionError(f"mass contrast must lie in [0, 1], not {self.contrast}")
        if not (0.05 <= self.nu <= 5.0):
            raise OptionError(f"mass profile exponent nu must lie in [0.05, 5], not {self.nu}")
        if self.center is not None:
            try:
                cy, cx = (float(v) for v in self.center)
            except (TypeError, ValueError):
                raise OptionError(
                    f"mass center must be (y, x) fractions, not {self.center!r}"
                ) from None
            if not (0.0 <= cy <= 1.0 and 0.0 <= cx <= 1.0):
                raise OptionError(f"mass center must lie inside the image, not {self.center}")
        if self.spicules is not None and not (1 <= self.spicules <= 200):
            raise OptionError(f"number of spicules must lie in 1..200, not {self.spicules}")


@dataclass
class MassProfile:
    """A mass drawn alone: profile float32 [0, 1] (peak 1) and its mask (bool)."""

    profile: np.ndarray
    mask: np.ndarray
    params: dict = field(default_factory=dict)


def _designer(rr: np.ndarray, nu: float) -> np.ndarray:
    """(1 - rr^2)^nu inside rr < 1, 0 outside (rr = r / R(phi))."""
    inside = rr < 1.0
    out = np.zeros_like(rr)
    out[inside] = (1.0 - rr[inside] ** 2) ** nu
    return out


def mass_profile(size, spec: MassSpec | None = None, seed=0) -> MassProfile:
    """Draw one mass of `spec.kind` on an empty image of `size`; random details from `seed`."""
    h, w = _shape(size)
    spec = spec or MassSpec()
    spec.check()
    rng = _rng(seed)
    n = min(h, w)
    R = spec.radius * n
    if spec.center is None:
        # Keep the core inside the image: centre at least R from every edge where possible.
        my, mx = min(R, h / 2), min(R, w / 2)
        cy, cx = rng.uniform(my, h - my), rng.uniform(mx, w - mx)
    else:
        cy, cx = spec.center[0] * (h - 1), spec.center[1] * (w - 1)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    dy, dx = y - cy, x - cx
    r = np.sqrt(dy * dy + dx * dx)
    phi = np.arctan2(dy, dx)
    params: dict = {"kind": spec.kind, "center_px": [float(cy), float(cx)], "radius_px": R}
    if spec.kind == "circumscribed":
        aspect = rng.uniform(0.75, 1.0)
        rot = rng.uniform(0, math.pi)
        a = phi - rot
        # Ellipse of equal area to the circle of radius R, axes R/sqrt(aspect), R*sqrt(aspect).
        ra, rb = R / math.sqrt(aspect), R * math.sqrt(aspect)
        boundary = ra * rb / np.sqrt((rb * np.cos(a)) ** 2 + (ra * np.sin(a)) ** 2)
        profile = _designer(r / boundary, spec.nu)
        mask = r < boundary
        params.update(aspect=aspect, rotation=rot)
    elif spec.kind == "lobulated":
        harmonics = np.arange(2, 7)
        amps = rng.uniform(0.04, 0.16, size=harmonics.size) / np.sqrt(harmonics - 1)
        phases = rng.uniform(0, 2 * math.pi, size=harmonics.size)
        wobble = sum(a * np.cos(k * phi + ph) for a, k, ph in zip(amps, harmonics, phases))
        boundary = R * (1.0 + wobble)
        boundary = np.maximum(boundary, 0.3 * R)
        profile = _designer(r / boundary, spec.nu)
        mask = r < boundary
        params.update(harmonics=harmonics.tolist(), amplitudes=amps.tolist())
    else:  # spiculated: a small irregular core and thin radiating spicules
        core_r = 0.55 * R
        k2 = np.array([3, 5])
        amps = rng.uniform(0.02, 0.08, size=2)
        ph = rng.uniform(0, 2 * math.pi, size=2)
        boundary = core_r * (
            1.0 + amps[0] * np.cos(k2[0] * phi + ph[0]) + amps[1] * np.cos(k2[1] * phi + ph[1])
        )
        core = _designer(r / boundary, spec.nu)
        mask = r < boundary
        count = int(spec.spicules) if spec.spicules is not None else int(rng.integers(8, 21))
        base = np.linspace(0, 2 * math.pi, count, endpoint=False) + rng.uniform(0, 2 * math.pi)
        angles = base + rng.normal(0, 0.5 * math.pi / count, size=count)
        lengths = R * rng.uniform(1.3, 2.6, size=count)
        width0 = max(0.6, 0.08 * R) * rng.uniform(0.7, 1.3, size=count)
        spic = np.zeros_like(r)
        for ang, length, w0 in zip(angles, lengths, width0):
            ux, uy = math.cos(ang), math.sin(ang)
            t = dx * ux + dy * uy  # distance along the spicule
            d = np.abs(dx * uy - dy * ux)  # distance across it
            frac = np.clip(t / length, 0.0, 1.0)
            sigma = w0 * (1.0 - frac) + 0.35
            amp = np.where((t >= 0) & (t <= length), 0.8 * (1.0 - frac) ** 0.7, 0.0)
            spic = np.maximum(spic, amp * np.exp(-0.5 * (d / sigma) ** 2))
        profile = np.maximum(core, spic)
        mask = mask | (spic > 0.1)
        params.update(spicules=count, spicule_lengths_px=lengths.tolist())
    params.update(nu=spec.nu, contrast=spec.contrast)
    return MassProfile(profile.astype(np.float32), mask.astype(bool), params)


def insert_mass(background: np.ndarray, profile: np.ndarray, contrast: float) -> np.ndarray:
    """Background + contrast x profile (a denser region is brighter), clipped to [0, 1]."""
    bg = np.asarray(background, dtype=np.float32)
    pr = np.asarray(profile, dtype=np.float32)
    if bg.shape != pr.shape:
        raise OptionError(f"mass profile {pr.shape} and background {bg.shape} differ in size")
    return np.clip(bg + np.float32(contrast) * pr, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- full phantoms


@dataclass
class Phantom:
    """One phantom: image float32 [0, 1] (dense bright), mass mask (all False if no mass)."""

    image: np.ndarray
    mask: np.ndarray
    params: dict


def make_phantom(
    size,
    seed=0,
    *,
    background: str = "power",
    beta: float = 3.0,
    lumpy: LumpyParams | None = None,
    mass: MassSpec | None = None,
    mean: float = 0.5,
    std: float = 0.12,
) -> Phantom:
    """A background (power-law or clustered lumpy) with an optional mass; mask returned."""
    h, w = _shape(size)
    if background not in BACKGROUNDS:
        raise OptionError(f"background must be one of {', '.join(BACKGROUNDS)}, not {background!r}")
    ss = np.random.SeedSequence(_seed_entropy(seed))
    bg_seed, mass_seed = ss.spawn(2)
    if background == "power":
        bg = power_law_background((h, w), beta, np.random.default_rng(bg_seed), mean=mean, std=std)
        params: dict = {"background": "power", "beta": float(beta)}
    else:
        lp = lumpy or LumpyParams()
        bg = lumpy_background((h, w), np.random.default_rng(bg_seed), lp, mean=mean, std=std)
        params = {"background": "lumpy", "lumpy": asdict(lp)}
    params.update(size=[h, w], seed=seed, mean=mean, std=std)
    if mass is None:
        params["mass"] = None
        return Phantom(bg, np.zeros((h, w), dtype=bool), params)
    m = mass_profile((h, w), mass, np.random.default_rng(mass_seed))
    params["mass"] = m.params
    return Phantom(insert_mass(bg, m.profile, mass.contrast), m.mask, params)


def _seed_entropy(seed):
    if isinstance(seed, bool) or seed is None:
        raise OptionError("a phantom needs an integer seed")
    if isinstance(seed, (int, np.integer)):
        if seed < 0:
            raise OptionError(f"seed must be a non-negative integer, not {seed}")
        return int(seed)
    try:
        vals = [int(v) for v in seed]
    except (TypeError, ValueError):
        raise OptionError(f"seed must be a non-negative integer, not {seed!r}") from None
    if any(v < 0 for v in vals):
        raise OptionError(f"seed must be non-negative, not {seed!r}")
    return vals


def phantom_patch_set(n: int, resolution: int, seed: int = 0) -> np.ndarray:
    """N varied phantom patches, uint8 [N, R, R] (dense bright): a synthetic training set.

    Half power-law (beta 2.6..3.4), half clustered lumpy; about half carry a mass of a random
    kind. Patch i depends only on (seed, i), so a larger set starts with the smaller one.
    """
    return phantom_dataset(n, resolution, seed)["patches"]


def phantom_dataset(n: int, resolution: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`phantom_patch_set` with the arrays of a patch file (`train.dataset.load_patches`):
    patches uint8 [N, R, R], kind uint8 (0 tissue, 1 with a mass), film int32 (= index),
    masks bit-packed along the last axis."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise OptionError(f"number of phantom patches must be a positive integer, not {n!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise OptionError(f"patch resolution must be an integer, not {resolution!r}")
    r = int(resolution)
    _shape(r)
    base = _seed_entropy(seed)
    patches = np.empty((int(n), r, r), dtype=np.uint8)
    masks = np.zeros((int(n), r, r), dtype=bool)
    kind = np.zeros(int(n), dtype=np.uint8)
    for i in range(int(n)):
        rng = np.random.default_rng([base, i] if isinstance(base, int) else [*base, i])
        background = BACKGROUNDS[i % 2]
        beta = float(rng.uniform(2.6, 3.4))
        mean = float(rng.uniform(0.35, 0.6))
        std = float(rng.uniform(0.08, 0.14))
        mass = None
        if rng.random() < 0.5:
            mass = MassSpec(
                kind=MASS_KINDS[int(rng.integers(len(MASS_KINDS)))],
                radius=float(rng.uniform(0.12, 0.25)),
                contrast=float(rng.uniform(0.1, 0.25)),
            )
        seed_i = int(rng.integers(2**63))
        ph = make_phantom(
            r, seed_i, background=background, beta=beta, mass=mass, mean=mean, std=std
        )
        patches[i] = np.rint(ph.image * 255.0).astype(np.uint8)
        masks[i] = ph.mask
        kind[i] = mass is not None
    return {
        "patches": patches,
        "kind": kind,
        "film": np.arange(int(n), dtype=np.int32),
        "masks": np.packbits(masks, axis=-1),
    }


def save_phantom_dataset(path, n: int, resolution: int, seed: int = 0) -> None:
    """Write `phantom_dataset` as a patch file (.npz) that GAN/encoder training can read."""
    import io
    from pathlib import Path

    from ..core.model import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, **phantom_dataset(n, resolution, seed))
    atomic_write_bytes(Path(path), buf.getvalue())


def to_uint(image: np.ndarray, bits: int = 8) -> np.ndarray:
    """float [0, 1] → uint8 (bits 8) or uint16 (bits 16), rounded."""
    if bits not in (8, 16):
        raise OptionError(f"bit depth must be 8 or 16, not {bits}")
    top = 255.0 if bits == 8 else 65535.0
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.rint(np.clip(image, 0.0, 1.0) * top).astype(dtype)
