"""Put a tumor texture on a shape template, four ways (the paper's Fig. 4).

texture image + Mask (lasso polygon or array, feathered) + Placement (dx, dy, scale, angle,
placement mode, contrast gain)
  -> stitch (the placed texture with a feathered edge: its grey levels pasted, the paper's way,
     or its contrast against its own surround added to the template; core.insertion)
  -> Poisson blend (cv2.seamlessClone)
  -> encoder output of the stitched composite (no optimisation)
  -> masked optimisation (Eq. 4 with the texture mask) from the encoder's code
Each with its metrics: fidelity to the placed texture inside the mask (PSNR, SSIM, detail; placed
by contrast, the reference is the template plus the lesion's contrast), seam strength along the
mask boundary relative to the template's own, and the lesion's contrast against its surround.
All four methods start from the stitch made in the chosen placement mode.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import cv2
import numpy as np

from .device import Compute
from .errors import MaskError, OptionError
from .insertion import (  # Mask and Placement live there (no torch), named here as before
    Mask,
    Placement,
    add_density,
    contrast_or_nan,
    kept_share,
    lesion_difference,
    placement_warnings,
)
from .invert import (
    InversionSettings,
    encode,
    encoder_noise,
    invert,
    perceptual_for,
    synthesize,
)
from .latent import Latent
from .metrics import image_metrics
from .model import Model

METHODS = ("stitch", "poisson", "encoder", "optimized", "stylemix")
# "stylemix": fine layers from the texture's latent, coarse + middle from the template's
# (generator controls beyond the paper); "stylemix+opt" adds Eq. 4 from that mix when asked.


@dataclass
class Composite:
    """Everything a compose run made; `images[method]` in [-1, 1] at model resolution."""

    template: np.ndarray
    texture_placed: np.ndarray
    mask: np.ndarray  # soft mask on the template, [0, 1]
    images: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)
    latents: dict[str, Latent] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    perceptual: str = ""
    placement: dict = field(default_factory=dict)  # Placement's fields, mode and gain included
    warnings: list[str] = field(default_factory=list)  # core.insertion.placement_warnings
    texture_contrast: float = float("nan")  # the lesion's own contrast on its film


def _warp(
    texture: np.ndarray, mask: Mask, placement: Placement, out_shape: tuple[int, int]
) -> np.ndarray:
    """The affine map (2x3) of the texture's pixels onto the template's grid, checked."""
    placement.validate()
    if mask.binary.shape != texture.shape:
        raise MaskError(
            f"the mask is {mask.binary.shape[::-1]} but the texture image is {texture.shape[::-1]}"
        )
    cx, cy = mask.centroid()
    ys, xs = np.nonzero(mask.binary)
    extent = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) * placement.scale
    if extent > max(out_shape):
        raise MaskError(
            f"the texture region ({extent:.0f} px after scaling) is larger than the template "
            f"({out_shape[1]}x{out_shape[0]}); lasso a smaller region or lower the scale"
        )
    tx = out_shape[1] / 2 + placement.dx
    ty = out_shape[0] / 2 + placement.dy
    M = cv2.getRotationMatrix2D((cx, cy), placement.angle, placement.scale)
    M[:, 2] += (tx - cx, ty - cy)
    return M


def place(
    texture: np.ndarray, mask: Mask, placement: Placement, out_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Warp the texture and its soft mask onto the template's pixel grid (grey levels as they
    are, whatever the placement mode: `insert` applies the mode)."""
    M = _warp(texture, mask, placement, out_shape)
    size = (out_shape[1], out_shape[0])
    tex = cv2.warpAffine(
        texture.astype(np.float32), M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    soft = cv2.warpAffine(mask.soft(), M, size, flags=cv2.INTER_LINEAR, borderValue=0)
    if soft.max() < 0.5:
        raise MaskError("the placed texture lies outside the template: move it back in")
    return tex, np.clip(soft, 0, 1)


@dataclass
class Inserted:
    """A texture placed on a template in a placement mode. `source` is what the stitch shows
    inside the mask (and what the methods are measured against): the warped texture (paste),
    or the template plus gain x the lesion's difference from its surround, saturating
    smoothly at the ends of the range (contrast; `core.insertion.add_density`). `soft`: the soft mask on the template; `texture`: the warped texture's own
    grey levels (= `source` when pasted); `warnings`: sentences for the user."""

    source: np.ndarray
    soft: np.ndarray
    texture: np.ndarray
    warnings: list[str]


def insert(template: np.ndarray, texture: np.ndarray, mask: Mask, placement: Placement) -> Inserted:
    """Place the texture (`place`) and apply the placement mode; `stitch(template,
    result.source, result.soft)` is then the composite the four methods start from."""
    template = np.asarray(template, np.float32)
    texture = np.asarray(texture, np.float32)
    tex_placed, soft = place(texture, mask, placement, template.shape)
    kept = 1.0
    if placement.mode == "contrast":
        diff = lesion_difference(texture, mask.binary)
        M = _warp(texture, mask, placement, template.shape)
        size = (template.shape[1], template.shape[0])
        diff_placed = cv2.warpAffine(
            diff, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        asked = np.float32(placement.contrast) * diff_placed
        source, got = add_density(template, asked)
        kept = kept_share(asked, got, soft)
    elif placement.mode == "blend":
        source = poisson_blend(template, tex_placed, soft)
    else:
        source = tex_placed
    warnings = placement_warnings(
        texture, mask.binary, template, soft, placement.mode, placement.contrast, kept
    )
    return Inserted(source, soft, tex_placed, warnings)


def stitch(template: np.ndarray, texture_placed: np.ndarray, soft_mask: np.ndarray) -> np.ndarray:
    """The placed texture (or an `Inserted.source`) inside the soft mask, the template outside."""
    return soft_mask * texture_placed + (1 - soft_mask) * template


def poisson_blend(template, texture_placed, soft_mask) -> np.ndarray:
    """cv2.seamlessClone (gradient-domain) of the placed texture into the template."""
    to8 = lambda a: np.clip((a + 1) * 127.5, 0, 255).astype(np.uint8)  # noqa: E731
    dst = cv2.cvtColor(to8(template), cv2.COLOR_GRAY2BGR)
    src = cv2.cvtColor(to8(texture_placed), cv2.COLOR_GRAY2BGR)
    m = (soft_mask >= 0.5).astype(np.uint8) * 255
    m[0, :] = m[-1, :] = m[:, 0] = m[:, -1] = 0  # seamlessClone needs a border
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return template.copy()
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    center = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
    out = cv2.seamlessClone(src, dst, m, center, cv2.NORMAL_CLONE)
    return cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(np.float32) / 127.5 - 1


@dataclass
class ComposeStep:
    """One Eq. 4 step inside a composition: what a progress bar, a loss plot and a live
    preview need. Steps count from 0 (the encoder's code, before any update) to `steps` in each
    pass; pass 2 (Eq. 4 again, from the style mix) runs only with `stylemix_optimize`."""

    step: int
    steps: int
    pass_no: int
    passes: int
    losses: dict[str, float]
    ms_per_step: float
    preview: np.ndarray | None  # [R, R] in [-1, 1], every `preview_every` steps

    @property
    def done(self) -> int:
        """Steps finished over all passes (step 0 of each pass counts: it is rendered too)."""
        return (self.pass_no - 1) * (self.steps + 1) + self.step + 1

    @property
    def total(self) -> int:
        return self.passes * (self.steps + 1)


def compose_steps(
    model: Model,
    texture: np.ndarray,
    template: np.ndarray,
    mask: Mask,
    placement: Placement | None = None,
    settings: InversionSettings | None = None,
    compute: Compute | None = None,
    vgg16_path: str | None = None,
    stylemix_optimize: bool = False,
    noise_from: str = "poisson",
) -> Generator[ComposeStep, None, Composite]:
    """Run a composition: yield a `ComposeStep` per Eq. 4 step, return the finished `Composite`.

    The one entry for the CLI (a progress bar), the app (a worker thread with a live preview)
    and evaluation (`compose`, no progress). Stopping is closing the generator: it stops at the
    step it is on, and nothing is returned (no half-made Composite).
    `texture` and `template` are [-1, 1] images; the template must be at model resolution.
    With a noise encoder (and `settings.encoder_noise`), the composite's noise maps are
    predicted from the Poisson blend (`noise_from="poisson"`) or from the stitch; they render
    the encoder's result and stay fixed in Eq. 4 (both passes).
    """
    placement = placement or Placement()
    if noise_from not in ("poisson", "stitch"):
        raise OptionError(
            f"noise maps come from the 'poisson' blend or the 'stitch', not {noise_from!r}"
        )
    R = model.resolution
    template = np.asarray(template, np.float32)
    texture = np.asarray(texture, np.float32)
    if template.shape != (R, R):
        raise OptionError(f"the template must be {R}x{R} (model resolution), got {template.shape}")
    ins = insert(template, texture, mask, placement)
    tex_placed, soft = ins.source, ins.soft
    comp = Composite(template, tex_placed, soft)
    comp.placement = dict(placement.__dict__)
    comp.warnings = list(ins.warnings)
    comp.texture_contrast = contrast_or_nan(texture, mask.binary)
    comp.images["stitch"] = stitch(template, tex_placed, soft)
    comp.images["poisson"] = poisson_blend(template, tex_placed, soft)
    w_enc = encode(model, comp.images["stitch"], compute)[0].cpu().numpy()
    noise_enc = None
    if settings is None or settings.encoder_noise:
        # The maps carry an image's fine structure, so a stitch's hard edge comes along
        # (held-out Fig. 4 task: seam 2.7 from the stitch vs 1.3 from the Poisson blend,
        # which keeps the texture's gradients without the edge; docs/INVERSION.md).
        if noise_from == "stitch":
            maps = encoder_noise(model, comp.images["stitch"], w_enc, compute)
        else:
            maps = encoder_noise(model, comp.images["poisson"], None, compute)
        noise_enc = [n[0].cpu().numpy() for n in maps] if maps is not None else None
    comp.images["encoder"] = synthesize(model, w_enc, compute, noise=noise_enc)[0]
    comp.latents["encoder"] = Latent.of(
        model, w_enc, {"method": "compose-encoder"}, noise=noise_enc
    )
    F = perceptual_for(model, vgg16_path, settings.perceptual if settings else "discriminator")
    comp.perceptual = F.name
    passes = 2 if stylemix_optimize else 1

    def optimise(init: np.ndarray, pass_no: int):
        """Eq. 4 inside the mask from `init`; yields the steps, returns the last w+ and its
        noise maps (None where they are the model's fixed ones, else part of the result)."""
        last = None
        stitch = comp.images["stitch"]
        for rec in invert(model, stitch, soft, settings, init, compute, F, noise=noise_enc):
            if pass_no == 1 and rec.losses:
                comp.history.append({"step": rec.step, **rec.losses})
            last = rec
            yield ComposeStep(
                rec.step,
                rec.total_steps,
                pass_no,
                passes,
                rec.losses,
                rec.ms_per_step,
                rec.preview,
            )
        return last.wplus, last.noise

    w_opt, noise_opt = yield from optimise(w_enc, 1)
    comp.latents["optimized"] = Latent.of(
        model,
        w_opt,
        {
            "method": "compose-masked-inversion",
            "placement": placement.__dict__,
            "perceptual": F.name,
        },
        noise=noise_opt,
    )
    comp.images["optimized"] = synthesize(model, w_opt, compute, noise=noise_opt)[0]
    # the texture's own code (its grey levels, whatever the mode) gives the fine layers
    w_tex = texture_latent(model, ins.texture, soft, compute)
    w_mix = stylemix_latent(model, w_tex, w_enc)
    comp.latents["stylemix"] = Latent.of(model, w_mix, {"method": "compose-stylemix"})
    comp.images["stylemix"] = synthesize(model, w_mix, compute)[0]
    if stylemix_optimize:
        w_mix_opt, noise_mix = yield from optimise(w_mix, 2)
        comp.latents["stylemix+opt"] = Latent.of(
            model, w_mix_opt, {"method": "compose-stylemix-opt"}, noise=noise_mix
        )
        comp.images["stylemix+opt"] = synthesize(model, w_mix_opt, compute, noise=noise_mix)[0]
    for name in comp.images:
        comp.metrics[name] = image_metrics(comp.images[name], tex_placed, template, soft)
        comp.metrics[name]["lesion_contrast"] = contrast_or_nan(comp.images[name], soft)
    return comp


def compose(*args, on_step: Callable[[ComposeStep], None] | None = None, **kwargs) -> Composite:
    """`compose_steps` run to the end (same arguments); `on_step` sees every step."""
    steps = compose_steps(*args, **kwargs)
    while True:
        try:
            rec = next(steps)
        except StopIteration as end:
            return end.value
        if on_step is not None:
            on_step(rec)


def texture_latent(model: Model, texture_placed: np.ndarray, soft_mask: np.ndarray, compute=None):
    """The texture's own latent: the encoder's code of the placed texture patch."""
    return encode(model, texture_placed, compute)[0].cpu().numpy()


def stylemix_latent(model: Model, w_texture: np.ndarray, w_template: np.ndarray) -> np.ndarray:
    """Fine layers from the texture, coarse and middle layers from the template."""
    from .generate import mixing_presets, style_mix, weights_from_layers

    fine = mixing_presets(model)["fine"]
    return style_mix([w_template, w_texture], weights_from_layers(model.num_ws, fine))
