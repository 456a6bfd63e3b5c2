"""Samples by seed (integer or fractional), truncation, and per-layer style mixing in W+.

StyleGAN's early layers set coarse structure (shape, layout), the late ones fine texture.
Presets for mixing are derived from the resolution each style acts on, never from fixed
indices, so they fit any model.

A seed gives a w and, by default, its own per-layer noise maps (noise mode "seed"). The
generator draws much of its fine texture from those maps: rendered with the model's one set
of fixed maps (noise mode "const", what every seed used before), the fine detail of two
different seeds correlates ~0.47 (`evaluate-model`, cue "shared texture"; real patches
~0.00), so a stimulus set drawn from seeds would share texture at the same places, which
observers can learn. The maps are drawn from the seed with numpy's frozen legacy generator,
on a stream apart from the seed's z, so a seed renders the same on every machine and two
seeds' maps are independent. A fractional seed blends the two neighbours' maps as
(a(1 - f) + b f) / sqrt((1 - f)^2 + f^2): unit variance all the way (a plain blend would
halve the noise's variance half-way and smooth the texture), and the seed's own maps at
f = 0 and the next seed's at f = 1.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .device import Compute
from .errors import LatentError, OptionError
from .latent import Latent
from .model import Model
from .noise_modes import NOISE_MODES
from .orientation import AS_GENERATED, resolve_orientation


def z_for_seed(seed: int, z_dim: int) -> torch.Tensor:
    """The z of an integer seed: numpy's RandomState, as the StyleGAN tools do."""
    return torch.from_numpy(np.random.RandomState(int(seed)).randn(1, z_dim).astype(np.float32))


MAX_SEED = 2**32 - 2  # numpy's RandomState takes 0 .. 2**32 - 1, and a fraction needs seed + 1


def check_seed(seed: float) -> None:
    """OptionError unless `seed` is a number numpy's RandomState can take (with its fraction)."""
    try:
        ok = math.isfinite(float(seed)) and 0 <= float(seed) <= MAX_SEED
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise OptionError(f"a seed must be a number from 0 to {MAX_SEED}, got {seed}")


@torch.no_grad()
def w_for_seed(model: Model, seed: float) -> torch.Tensor:
    """w [w_dim] for a seed; a fractional seed blends neighbouring seeds' w smoothly."""
    check_seed(seed)
    dev = next(model.G.parameters()).device
    lo = math.floor(seed)
    frac = seed - lo
    w_lo = model.G.mapping(z_for_seed(lo, model.G.z_dim).to(dev))[0]
    if frac == 0:
        return w_lo
    w_hi = model.G.mapping(z_for_seed(lo + 1, model.G.z_dim).to(dev))[0]
    return w_lo.lerp(w_hi, frac)


_NOISE_STREAM = 0x6E6F6973  # second word of the seed's RandomState key: apart from its z


def noise_shapes(model: Model) -> list[tuple[int, int]]:
    """The [r, r] shape of each of the generator's noise maps, in `Latent.noise` order."""
    from .invert import noise_layers

    return [tuple(layer.noise_const.shape) for layer in noise_layers(model.G)]


def _integer_seed_noise(shapes, seed: int) -> list[np.ndarray]:
    rs = np.random.RandomState([int(seed), _NOISE_STREAM])
    return [rs.standard_normal(shape).astype(np.float32) for shape in shapes]


def noise_for_seed(model: Model, seed: float) -> list[np.ndarray]:
    """The seed's own noise maps (see the module docstring), one [r, r] map per layer."""
    check_seed(seed)
    shapes = noise_shapes(model)
    lo = math.floor(seed)
    frac = seed - lo
    a = _integer_seed_noise(shapes, lo)
    if frac == 0:
        return a
    b = _integer_seed_noise(shapes, lo + 1)
    gain = 1 / math.sqrt((1 - frac) ** 2 + frac**2)
    return [((x * (1 - frac) + y * frac) * gain).astype(np.float32) for x, y in zip(a, b)]


def noise_for_mode(
    model: Model, seed: float, noise_mode: str = "seed", rng: np.random.Generator | None = None
) -> list[np.ndarray] | None:
    """The maps a seed's sample renders with in `noise_mode`: its own ("seed"), None for the
    model's fixed ones ("const"), fresh draws from `rng` ("random"), or zeros ("none").
    Every mode but "const" gives explicit maps, so a latent kept from it renders the same
    image later (an anchor, a path, an export)."""
    if noise_mode not in NOISE_MODES:
        raise OptionError(f"noise mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}")
    if noise_mode == "seed":
        return noise_for_seed(model, seed)
    if noise_mode == "const":
        return None
    shapes = noise_shapes(model)
    if noise_mode == "none":
        return [np.zeros(shape, np.float32) for shape in shapes]
    rng = rng or np.random.default_rng()
    return [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]


def noise_styles(model: Model) -> list[int]:
    """The W+ index of the style that each noise map's layer uses (`Latent.noise` order), so a
    style mix can take a layer's noise from the source it takes the layer's style from."""
    if hasattr(model.G, "noise_styles"):  # a detail stage: its refiner's layers too
        return model.G.noise_styles()
    out, w_idx = [], 0
    for block in model.G.synthesis.blocks:
        convs = [block.conv1] if block.conv0 is None else [block.conv0, block.conv1]
        for k, conv in enumerate(convs):
            if hasattr(conv, "noise_const"):
                out.append(w_idx + k)
        w_idx += block.num_conv
    return out


def mix_noise(
    model: Model, sources: list[list[np.ndarray] | None], mixing: list[int]
) -> list[np.ndarray] | None:
    """The noise maps of a one-hot style mix: each layer's map from the source its style
    comes from (`mixing[i]`: the source of W+ row i; a source None has the model's fixed
    maps). None when every layer's map is the model's fixed one."""
    from .invert import fixed_noise

    styles = noise_styles(model)
    if len(mixing) != model.num_ws:
        raise OptionError(f"a mix needs one source per layer ({model.num_ws}), got {len(mixing)}")
    picked = [sources[mixing[i]] for i in styles]
    if all(src is None for src in picked):
        return None
    fixed = fixed_noise(model.G)
    return [
        np.array(fixed[k] if src is None else src[k], np.float32) for k, src in enumerate(picked)
    ]


def truncate(
    model: Model, wplus: np.ndarray, psi: float = 1.0, cutoff: int | None = None
) -> np.ndarray:
    """Pull the first `cutoff` layers toward w_avg: psi = 1 is the identity, 0 gives w_avg."""
    if not (isinstance(psi, (int, float)) and math.isfinite(psi)):
        raise OptionError(f"truncation psi must be a number, got {psi!r}")
    cutoff = model.num_ws if cutoff is None else int(cutoff)
    if not 0 <= cutoff <= model.num_ws:
        raise OptionError(f"truncation cutoff must be in 0..{model.num_ws}, got {cutoff}")
    w = np.array(wplus, np.float32, copy=True)
    if psi != 1:  # exactly the identity at psi = 1, no rounding
        w_avg = model.G.w_avg.detach().cpu().numpy()
        w[:cutoff] = w_avg + (w[:cutoff] - w_avg) * psi
    return w


def latent_for_seed(
    model: Model,
    seed: float,
    psi: float = 1.0,
    cutoff: int | None = None,
    noise_mode: str = "seed",
    orientation: str = AS_GENERATED,
) -> Latent:
    """The seed's latent, carrying the noise maps of `noise_mode` (`noise_for_mode`) and the
    orientation `orientation` gives the seed (core.orientation: "random" draws one from it)."""
    turned = resolve_orientation(orientation, seed)
    noise = noise_for_mode(model, seed, noise_mode)
    w = w_for_seed(model, seed).cpu().numpy()
    wplus = truncate(model, np.repeat(w[None], model.num_ws, 0), psi, cutoff)
    src = {
        "method": "seed",
        "seed": seed,
        "truncation_psi": psi,
        "truncation_cutoff": cutoff,
        "noise_mode": noise_mode,
    }
    if orientation != AS_GENERATED:  # sources as generated stay as they were
        src["orientation_mode"] = orientation
    lat = Latent.of(model, wplus, src, noise)
    lat.orientation = turned
    return lat


def sample(
    model: Model,
    seed: float,
    psi: float = 1.0,
    cutoff: int | None = None,
    compute: Compute | None = None,
    noise_mode: str = "seed",
    orientation: str = AS_GENERATED,
):
    """(latent, image [R, R] in [-1, 1]) of a seed; the image renders with the latent's maps,
    in its orientation."""
    from .invert import synthesize

    lat = latent_for_seed(model, seed, psi, cutoff, noise_mode, orientation)
    return lat, synthesize(model, lat.wplus, compute, noise=lat.noise, orientation=lat.orientation)[
        0
    ]


# -- style mixing ----------------------------------------------------------------------------


def layer_resolutions(model: Model) -> list[int]:
    return model.G.synthesis.layer_resolutions()


def mixing_presets(model: Model) -> dict[str, list[int]]:
    """coarse / middle / fine layer indices from each style's resolution.

    The resolution levels 4, 8, ..., R are split in thirds (coarse: layout and shape; fine:
    texture). At 128 px that gives 4-8 / 16-32 / 64-128, StyleGAN's own split of the lower
    levels. Together the presets cover every layer exactly once.
    """
    res = layer_resolutions(model)
    levels = sorted(set(res))
    third = max(1, len(levels) // 3)
    coarse_levels, fine_levels = set(levels[:third]), set(levels[-third:])
    return {
        "coarse": [i for i, r in enumerate(res) if r in coarse_levels],
        "middle": [i for i, r in enumerate(res) if r not in coarse_levels | fine_levels],
        "fine": [i for i, r in enumerate(res) if r in fine_levels],
    }


def style_mix(latents: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Per-layer blend: weights [num_ws, n_sources], each row summing to 1.

    One-hot rows choose a source per layer; fractional rows blend.
    """
    ws = np.stack([np.asarray(w, np.float32) for w in latents])  # [S, L, D]
    shapes = {w.shape for w in ws}
    if len(shapes) != 1:
        raise LatentError("all latents in a mix must come from the same model")
    weights = np.asarray(weights, np.float32)
    if weights.shape != (ws.shape[1], ws.shape[0]):
        raise OptionError(
            f"mixing weights must be [{ws.shape[1]} layers x {ws.shape[0]} sources], "
            f"got {weights.shape}"
        )
    if not np.allclose(weights.sum(1), 1, atol=1e-5) or weights.min() < 0:
        raise OptionError("each layer's mixing weights must be >= 0 and sum to 1")
    return np.einsum("ls,sld->ld", weights, ws).astype(np.float32)


def weights_from_layers(num_ws: int, layers_from_b: list[int]) -> np.ndarray:
    """Two sources: the listed layers from B, the rest from A."""
    bad = [i for i in layers_from_b if not 0 <= i < num_ws]
    if bad:
        raise OptionError(f"layer {bad[0]} is outside this model's layers 0..{num_ws - 1}")
    w = np.zeros((num_ws, 2), np.float32)
    w[:, 0] = 1
    for i in layers_from_b:
        w[i] = (0, 1)
    return w
