"""Encoder and in-domain inversion (Eq. 4 of the paper, recipe of Zhu et al. 2020).

    w* = argmin_w  ||x - G(w)||^2 + lambda3 ||F(x) - F(G(w))||^2 + lambda4 ||w - E(G(w))||^2

starting at w = E(x), w in W+. (The paper prints ||x - G(E(x))|| in the first term; the
intended term, as in idinvert, is ||x - G(w)||.) With a mask, the pixel and perceptual terms
see only the masked part (soft masks weight pixels); both are means over the mask, so their
balance does not depend on the lasso's size; the encoder term keeps the rest on the manifold.
An optional small weight on the template outside the mask is a user setting, off by default as
in the paper.

Three options beyond the paper (the first two off by default; the third only acts with a model
that has a noise encoder, so a model without one gives the paper's recipe bit for bit):

- `perceptual`: F is the model's discriminator blocks (in-domain, the default) or a frozen
  ImageNet EfficientNet-Lite0 (`"lite0"`; frozen ImageNet features, as the paper's VGG conv4_3).
- `optimize_noise`: the per-layer noise maps are optimised beside w, as the StyleGAN2
  projector does: trainable maps starting from the model's fixed ones, renormalised to zero
  mean / unit variance after every step, and `noise_regularize` times the projector's
  penalty on their autocorrelation over a downsampled pyramid (so they cannot smuggle the
  image in as low-frequency structure). Fine texture that W+ cannot express may be carried
  by the noise inputs instead.

  The rendered image then depends on the maps as well as on w+, so a result with optimised
  noise carries them: `InversionStep.noise` (on preview, done and cancelled steps),
  `InversionResult.latent.noise` (saved in the `.latent.npz`; files without noise maps load
  as before), and `synthesize(..., noise=...)` renders them. The maps are not part of W+:
  operations that combine latents (mixing, interpolation) use w+ alone and render with the
  model's fixed noise.
- `encoder_noise` (on): where the model has a noise encoder (core.nets.noise_encoder), the
  noise maps start as its prediction for the target instead of the model's fixed maps; they
  stay fixed while w moves (or are the start of the fit with `optimize_noise`), and the result
  carries them as above. The noise encoder sees the whole target, mask or not.

Long computations are generators: each step yields an `InversionStep`, and a `should_stop`
callable is checked before every step, so a GUI can cancel within one step.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .device import Compute
from .errors import MaskError, OptionError
from .inversion_settings import (
    PERCEPTUAL_KINDS,
    REALISM_LR_SCALE,
    InversionSettings,
    realism_radius,
)
from .latent import Latent
from .model import Model
from .nets import PerceptualFeatures, discriminator_features, load_vgg16
from .nets.perceptual import lite0_features
from .orientation import orient


@dataclass
class InversionStep:
    """One optimisation step: each loss term, the current w+, and now and then a preview."""

    step: int
    total_steps: int
    losses: dict[str, float]
    wplus: np.ndarray
    preview: np.ndarray | None = None  # [R, R] float32 in [-1, 1]
    ms_per_step: float = 0.0
    done: bool = False
    cancelled: bool = False
    # With optimize_noise: the noise maps of this step (on preview, done and cancelled steps),
    # one [r, r] float32 array per noise layer; render with synthesize(..., noise=...).
    noise: list[np.ndarray] | None = None


@dataclass
class InversionResult:
    latent: Latent
    image: np.ndarray  # [R, R] float32 in [-1, 1]
    encoder_latent: Latent
    history: list[dict] = field(default_factory=list)
    perceptual: str = ""
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0
    cancelled: bool = False


# -- helpers ---------------------------------------------------------------------------------


def perceptual_for(
    model: Model, vgg16_path: str | None = None, kind: str = "discriminator"
) -> PerceptualFeatures:
    """F: VGG16 conv4_3 from a local file when given, else the model's discriminator blocks
    (`kind="discriminator"`) or frozen ImageNet EfficientNet-Lite0 features (`kind="lite0"`).
    Built once per model and kind.

    The discriminator blocks judge images at the discriminator's own resolution: a grown
    model's D is its parent's (128 px at 0.4 mm, the one its borrowed encoder was trained
    against), and a 256-px image is averaged down to it (`discriminator_features`, why there)."""
    if kind not in PERCEPTUAL_KINDS:
        raise OptionError(f"perceptual must be one of {', '.join(PERCEPTUAL_KINDS)}, got {kind!r}")
    if vgg16_path and kind != "discriminator":
        raise OptionError(f"give either a VGG16 file or perceptual {kind!r}, not both")
    cache = model.__dict__.setdefault("_perceptual_cache", {})
    key = str(vgg16_path or "") if kind == "discriminator" else kind
    if key not in cache:
        if kind == "lite0":
            F = lite0_features()
        else:
            F = load_vgg16(vgg16_path) if vgg16_path else _discriminator_features(model)
        device = next(model.G.parameters()).device
        cache[key] = F.to(device)
    return cache[key]


def _discriminator_features(model: Model) -> PerceptualFeatures:
    """The discriminator blocks as F; averaged down when D is smaller than G (a grown model)."""
    r = model.D.cfg.resolution
    return discriminator_features(model.D, resolution=r if r < model.resolution else None)


def seam_band(m: torch.Tensor, width: float) -> torch.Tensor:
    """1 within `width` pixels of the outline of mask batch `m` [N, 1, R, R] (its 0.5 level),
    on either side; 0 elsewhere."""
    k = 2 * int(round(width)) + 1
    inside = (m > 0.5).float()
    grown = torch.nn.functional.max_pool2d(inside, k, stride=1, padding=k // 2)
    shrunk = 1 - torch.nn.functional.max_pool2d(1 - inside, k, stride=1, padding=k // 2)
    return grown - shrunk


def own_noise_in_band(G: torch.nn.Module, maps, band: torch.Tensor) -> list[torch.Tensor]:
    """`maps` (one [N, r, r] tensor per noise layer) with the model's own fixed noise inside
    `band` [N, 1, R, R], at each layer's resolution: a pasted edge the noise encoder saw in
    the target is not handed to the generator as a start."""
    out = []
    for n, layer in zip(maps, noise_layers(G)):
        r = layer.noise_const.shape[-1]
        b = torch.nn.functional.adaptive_max_pool2d(band, r)[:, 0].to(n.device)
        own = layer.noise_const.float().to(n.device).expand_as(n)
        out.append(torch.where(b > 0, own, n.float()))
    return out


def noise_layers(G: torch.nn.Module) -> list[torch.nn.Module]:
    """The generator's layers with a fixed noise map (`noise_const`), in module order: the
    order in which `InversionStep.noise` and `Latent.noise` list the maps."""
    return [mod for mod in G.modules() if hasattr(mod, "noise_const")]


def fixed_noise(G: torch.nn.Module) -> list[np.ndarray]:
    """The generator's own fixed noise maps as float32 arrays, in `noise_layers` order."""
    return [layer.noise_const.detach().float().cpu().numpy() for layer in noise_layers(G)]


def with_noise(G: torch.nn.Module, noise, trainable: bool = False):
    """A copy of G whose fixed noise maps are `noise` (arrays or tensors, one per layer:
    [r, r] for all images, or [N, r, r] with one map per image of the batch).

    A copy, so a GUI rendering with the shared G at the same time never sees these maps.
    With `trainable`, the maps are Parameters (returned too) and G's own weights are frozen.
    """
    layers = noise_layers(G)
    if len(noise) != len(layers):
        raise OptionError(
            f"{len(noise)} noise maps given, the model has {len(layers)} noise layers"
        )
    for n, layer in zip(noise, layers):
        if n.ndim not in (2, 3) or tuple(n.shape[-2:]) != tuple(layer.noise_const.shape):
            raise OptionError(
                f"a noise map of shape {tuple(n.shape)} where the model's layer needs "
                f"{tuple(layer.noise_const.shape)}: the maps belong to another model"
            )
    G = copy.deepcopy(G)
    G.requires_grad_(False)
    params = []
    for n, layer in zip(noise, noise_layers(G)):
        dev, dt = layer.noise_const.device, layer.noise_const.dtype
        t = torch.as_tensor(np.asarray(n) if not torch.is_tensor(n) else n).to(dev, dt).clone()
        if t.ndim == 3:  # one map per image of a batch: [N, 1, r, r] broadcasts over channels
            t = t[:, None]
        if trainable:
            t = torch.nn.Parameter(t)
            params.append(t)
        layer.noise_const = t
    return G, params


def noise_regularizer(noise: list[torch.Tensor]) -> torch.Tensor:
    """The StyleGAN2 projector's noise penalty: squared autocorrelation at one-pixel shifts
    (both axes) of each map and of its 2x-downsampled pyramid down to 8x8. Keeps optimised
    noise maps white, so they carry fine texture rather than the image's layout."""
    reg = noise[0].new_zeros(())
    for n in noise:
        v = n[None, None]
        while True:
            reg = (
                reg + (v * torch.roll(v, 1, 3)).mean() ** 2 + (v * torch.roll(v, 1, 2)).mean() ** 2
            )
            if v.shape[2] <= 8:
                break
            v = torch.nn.functional.avg_pool2d(v, 2)
    return reg


@torch.no_grad()
def normalize_noise_(noise: list[torch.Tensor]) -> None:
    """Zero mean, unit variance for each map, in place (after every optimiser step)."""
    for n in noise:
        if n.ndim == 4:  # a batch's maps [N, 1, r, r]: each image's own
            n -= n.mean((-2, -1), keepdim=True)
            n *= n.square().mean((-2, -1), keepdim=True).rsqrt()
            continue
        n -= n.mean()
        n *= n.square().mean().rsqrt()


def as_batch(img, resolution: int, device) -> torch.Tensor:
    """[R, R] or [N, 1, R, R] array in [-1, 1] -> float tensor [N, 1, R, R] on device."""
    t = torch.as_tensor(np.asarray(img, np.float32))
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[:, None]
    if t.shape[-2:] != (resolution, resolution):
        raise OptionError(
            f"image is {t.shape[-1]}x{t.shape[-2]}, the model works at {resolution}x{resolution}"
        )
    if not torch.isfinite(t).all():
        raise OptionError("image holds NaN or infinite values")
    return t.to(device)


def mask_batch(mask, resolution: int, device) -> torch.Tensor | None:
    if mask is None:
        return None
    m = np.asarray(mask, np.float32)
    if m.shape != (resolution, resolution):
        raise MaskError(f"mask is {m.shape}, the image is {resolution}x{resolution}")
    if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise MaskError("mask values must lie in [0, 1]")
    if m.sum() < 1:
        raise MaskError("the mask is empty: draw a texture region first")
    return torch.from_numpy(m)[None, None].to(device)


def _device(model: Model) -> torch.device:
    return next(model.G.parameters()).device


@torch.no_grad()
def encode(model: Model, img, compute: Compute | None = None) -> torch.Tensor:
    """E(x): image(s) in [-1, 1] -> w+ tensor [N, num_ws, w_dim] (float32).

    A grown model's borrowed encoder (core/nets/grown.py) sees the image averaged down to its
    own resolution and fills the grown layers with its last code; a model without a trained
    encoder is refused in one sentence."""
    model.require_encoder()
    x = as_batch(img, model.resolution, _device(model))
    ctx = compute.autocast() if compute else torch.autocast("cpu", enabled=False)
    with ctx:
        return model.E(x).float()


@torch.no_grad()
def encoder_noise(
    model: Model, img, wplus=None, compute: Compute | None = None
) -> list[torch.Tensor] | None:
    """The noise maps for image(s): one float32 tensor [N, r, r] per noise layer, the noise
    encoder's prediction from the image and G(w+) (w+ = E(x) unless given) for the layers it
    covers and the model's fixed maps for the others (the coarser ones; with a grown model's
    borrowed noise encoder also the grown layers above its resolution). None when the model
    has no noise encoder."""
    if model.N is None:
        return None
    dev = _device(model)
    x = as_batch(img, model.resolution, dev)
    w = encode(model, x, compute) if wplus is None else torch.as_tensor(wplus).float().to(dev)
    if w.ndim == 2:
        w = w[None]
    ctx = compute.autocast() if compute else torch.autocast("cpu", enabled=False)
    with ctx:
        rec = model.G.synthesize(w, noise_mode="const").float()
        pred = model.N(x, rec)
    layers = noise_layers(model.G)
    top = model.N.cfg.resolution  # its finest layers: the model's, or a grown model's parent's
    end = max(i for i, layer in enumerate(layers) if layer.noise_const.shape[-1] <= top) + 1
    covered = range(end - len(pred), end)
    n = x.shape[0]
    out = [layer.noise_const.float().expand(n, -1, -1).clone() for layer in layers]
    for i, p in zip(covered, pred):
        out[i] = p.float()[:, 0]
    return out


@torch.no_grad()
def synthesize(model: Model, wplus, compute=None, noise_mode="const", noise=None, orientation=None):
    """G(w+) -> images [N, R, R] float32 numpy in [-1, 1] (not clamped).

    `noise`: the maps a latent carries (`Latent.noise`: [r, r] each, or [N, r, r] for a
    batch), used in place of the model's fixed ones; None renders with the model's fixed maps.
    `orientation`: the one a latent is shown in (`Latent.orientation`, core.orientation),
    applied here to the image, the one place a latent becomes a stimulus; None: as generated."""
    w = torch.as_tensor(np.asarray(wplus, np.float32)).to(_device(model))
    if w.ndim == 2:
        w = w[None]
    if noise is not None and any(np.ndim(n) == 3 and len(n) != len(w) for n in noise):
        raise OptionError(f"noise maps for another number of images than the {len(w)} latents")
    G = model.G if noise is None else with_noise(model.G, noise)[0]
    ctx = compute.autocast() if compute else torch.autocast("cpu", enabled=False)
    with ctx:
        img = G.synthesize(w, noise_mode=noise_mode)
    return orient(img.float()[:, 0].cpu().numpy(), orientation)


# -- Eq. 4 -----------------------------------------------------------------------------------


class Eq4:
    """Eq. 4's terms for a batch of targets, per image, so that a batch of independent
    inversions (evaluation, batch export) optimises each w exactly as a lone one would
    (Adam's steps are per element)."""

    def __init__(self, model: Model, x, m, s: InversionSettings, F, compute: Compute):
        self.band = None if m is None or s.seam_band <= 0 else seam_band(m, s.seam_band)
        self.weight = None
        if m is not None:
            self.weight = m + s.outside_weight * (1 - m)
            if self.band is not None:
                self.weight = self.weight * (1 - self.band)
                m = m * (1 - self.band)  # the perceptual term does not see the band either
        self.model, self.x, self.m, self.s, self.F, self.compute = model, x, m, s, F, compute
        with torch.no_grad(), compute.autocast():
            x_in = x if m is None else x * m
            self.feat_x = [f.detach() for f in F(x_in)] if s.lambda_perceptual > 0 else None
        self.critic = self.prior = None
        self.radius = realism_radius(s.realism)
        if s.lambda_prior > 0 or self.radius is not None:
            from .realism import w_prior

            self.prior = w_prior(model)
        if s.lambda_critic > 0:
            from .realism import realism_critic

            self.critic = realism_critic(model)

    def variable(self, w0: torch.Tensor) -> torch.Tensor:
        """What Adam moves, starting at E(x): w+ itself, or, with a realism limit, each
        layer's whitened coordinates (core.realism), clipped into the generator's typical set.
        Why the whitened coordinates: W is very narrow along some directions and wide along
        others, so steps of one size in w either stall along the wide ones or leave the set
        along the narrow ones; measured on 8 held-out patches at realism 1, 100 steps reach
        19.7 dB moving w and projecting back, 33.8 dB moving the whitened coordinates (lr 5x)."""
        if self.radius is None:
            return w0.clone()
        return self.prior.clip_whitened(self.prior.whitened(w0), self.radius)

    def to_w(self, var: torch.Tensor) -> torch.Tensor:
        """The w+ that `variable`'s value stands for."""
        return var if self.radius is None else self.prior.from_whitened(var)

    @property
    def lr_scale(self) -> float:
        """Whitened coordinates have unit spread: Adam takes larger steps there."""
        return 1.0 if self.radius is None else REALISM_LR_SCALE

    @torch.no_grad()
    def constrain_(self, var: torch.Tensor) -> None:
        """After each step: back inside the realism limit (nothing without one)."""
        if self.radius is not None:
            var.copy_(self.prior.clip_whitened(var, self.radius))

    def losses(self, img: torch.Tensor, w: torch.Tensor, fitted=()) -> dict[str, torch.Tensor]:
        """Each term [N] and their weighted sum "total" [N]."""
        s, x, m, F = self.s, self.x, self.m, self.F
        dims = (1, 2, 3)
        if m is None:
            pix = (x - img).square().mean(dims)
        else:
            wgt = self.weight
            pix = (wgt * (x - img).square()).sum(dims) / wgt.sum(dims).clamp_min(1e-8)
        losses = {"pixel": pix}
        total = s.lambda_pixel * pix
        if self.feat_x is not None:
            with self.compute.autocast():
                feat = F(img if m is None else img * m)
            perc = F.distance(self.feat_x, feat, m)
            losses["perceptual"] = perc
            total = total + s.lambda_perceptual * perc
        # with a realism limit the encoder term is left out: the encoder's codes lie outside
        # W (that is what the limit is for), so its term pulls against the limit; measured with
        # it (lambda4 2) it made up ~90 % of the loss and the results went flat grey
        if s.lambda_encoder > 0 and self.radius is None:
            with self.compute.autocast():
                w_rec = self.model.E(img)
            enc = (w - w_rec.float()).square().mean((1, 2))
            losses["encoder"] = enc
            total = total + s.lambda_encoder * enc
        if fitted and s.noise_regularize > 0:
            if fitted[0].ndim == 4:  # a batch: one set of maps per image, each its own penalty
                reg = torch.stack(
                    [noise_regularizer([f[i, 0] for f in fitted]) for i in range(len(img))]
                )
            else:
                reg = noise_regularizer(list(fitted)).expand(len(img))
            losses["noise_reg"] = reg
            total = total + s.noise_regularize * reg
        if s.lambda_critic > 0:
            crit = self.critic.loss(img)
            losses["critic"] = crit
            total = total + s.lambda_critic * crit
        if s.lambda_prior > 0:
            prior = self.prior.penalty(w)
            losses["prior"] = prior
            total = total + s.lambda_prior * prior
        losses["total"] = total
        return losses


def invert(
    model: Model,
    target,
    mask=None,
    settings: InversionSettings | None = None,
    init: np.ndarray | None = None,
    compute: Compute | None = None,
    perceptual: PerceptualFeatures | None = None,
    should_stop: Callable[[], bool] | None = None,
    noise: list | None = None,
) -> Iterator[InversionStep]:
    """Yield one `InversionStep` per Eq. 4 step; the last one has done=True.

    `noise`: the start maps when the caller has them already (one [r, r] map per noise layer,
    e.g. the noise encoder's for the target); else they are found as described below.

    F is `perceptual` when given, else the one `settings.perceptual` names. The noise maps
    start as the noise encoder's (with `settings.encoder_noise` and a model that has one) or
    the model's fixed ones; with `settings.optimize_noise` they are optimised with w (see the
    module docstring). Whenever they are not the model's fixed maps the steps carry them."""
    s = settings or InversionSettings()
    s.validate()
    dev = _device(model)
    compute = compute or Compute(dev, "fp32")
    x = as_batch(target, model.resolution, dev)
    m = mask_batch(mask, model.resolution, dev)
    F = perceptual if perceptual is not None else perceptual_for(model, kind=s.perceptual)
    torch.manual_seed(s.seed)
    G = model.G
    w0 = encode(model, x, compute) if init is None else torch.as_tensor(init).float().to(dev)
    if w0.ndim == 2:
        w0 = w0[None]
    objective = Eq4(model, x, m, s, F, compute)
    var = objective.variable(w0).requires_grad_(True)
    w0 = objective.to_w(var).detach()  # where Eq. 4 starts: E(x), or E(x) held in W
    maps = None
    if noise is not None:
        maps = [torch.as_tensor(np.asarray(n, np.float32)).to(dev)[None] for n in noise]
    elif s.encoder_noise:
        maps = encoder_noise(model, x, w0, compute)
    if maps is not None and objective.band is not None:
        maps = own_noise_in_band(G, maps, objective.band)
    start = [n[0] for n in maps] if maps is not None else None
    fitted: list[torch.Tensor] = []
    fixed_noise = None
    if s.optimize_noise:
        G, fitted = with_noise(
            G, start or [layer.noise_const for layer in noise_layers(G)], trainable=True
        )
    elif start is not None:
        G = with_noise(G, start)[0]
        fixed_noise = [torch.as_tensor(n).float().cpu().numpy().copy() for n in start]
    opt = torch.optim.Adam([var, *fitted], lr=s.lr * objective.lr_scale)

    def noise_now() -> list[np.ndarray] | None:
        if fitted:
            return [n.detach().cpu().numpy().copy() for n in fitted]
        return [n.copy() for n in fixed_noise] if fixed_noise is not None else None

    for step in range(s.steps + 1):
        if should_stop is not None and should_stop():
            yield InversionStep(
                step,
                s.steps,
                {},
                objective.to_w(var.detach())[0].cpu().numpy(),
                cancelled=True,
                noise=noise_now(),
            )
            return
        t0 = time.perf_counter()
        w = objective.to_w(var)
        with compute.autocast():
            img = G.synthesize(w, noise_mode="const")
        img = img.float()
        per_image = objective.losses(img, w, fitted)
        losses = {k: v.mean() for k, v in per_image.items()}
        total = losses["total"]
        done = step == s.steps
        # the step reports w_k with its own losses and preview (taken before Adam moves it)
        w_k = w.detach()[0].cpu().numpy().copy()
        preview = None
        if done or (s.preview_every and step % s.preview_every == 0):
            preview = img.detach()[0, 0].cpu().numpy()
        noise_k = noise_now() if preview is not None else None
        if not done:
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            objective.constrain_(var)
            if fitted:
                normalize_noise_(fitted)
        ms = (time.perf_counter() - t0) * 1000
        yield InversionStep(
            step,
            s.steps,
            {k: float(v.detach()) for k, v in losses.items()},
            w_k,
            preview=preview,
            ms_per_step=ms,
            done=done,
            noise=noise_k,
        )


def run_inversion(
    model: Model,
    target,
    mask=None,
    settings: InversionSettings | None = None,
    compute: Compute | None = None,
    perceptual: PerceptualFeatures | None = None,
    should_stop=None,
    on_step: Callable[[InversionStep], None] | None = None,
    source: dict | None = None,
) -> InversionResult:
    """Consume `invert` and package the outcome; the encoder's own guess is kept beside it.

    With optimised noise, `latent.noise` holds the maps and `image` is rendered with them."""
    s = settings or InversionSettings()
    s.validate()
    F = perceptual if perceptual is not None else perceptual_for(model, kind=s.perceptual)
    t0 = time.perf_counter()
    w_enc = encode(model, target, compute)[0].cpu().numpy()
    enc_noise = encoder_noise(model, target, w_enc, compute) if s.encoder_noise else None
    enc_noise = [n[0].cpu().numpy() for n in enc_noise] if enc_noise is not None else None
    history, last = [], None
    # with a realism radius Eq. 4 starts from a code pulled toward W, and the noise encoder
    # predicts the maps for that start, not for E(x)
    start_noise = enc_noise if realism_radius(s.realism) is None else None
    for rec in invert(model, target, mask, s, w_enc, compute, F, should_stop, start_noise):
        if on_step:
            on_step(rec)
        if rec.losses:
            history.append({"step": rec.step, **rec.losses})
        last = rec
    src = dict(source or {})
    src.update(
        {"method": "masked-inversion" if mask is not None else "inversion", "perceptual": F.name}
    )
    if last.noise is not None:
        src["noise"] = "optimized" if s.optimize_noise else "noise encoder"
        if s.optimize_noise:
            src["noise_penalty"] = s.noise_regularize
    src["lambda_encoder"] = s.lambda_encoder  # invert and compose differ (INVERT_DEFAULTS)
    if mask is not None:
        src["outside_weight"] = s.outside_weight
        src["seam_band"] = s.seam_band
    src["realism"] = s.realism
    image = synthesize(model, last.wplus, compute, noise=last.noise)[0]
    return InversionResult(
        latent=Latent.of(model, last.wplus, src, noise=last.noise),
        image=image,
        encoder_latent=Latent.of(model, w_enc, {"method": "encoder"}, noise=enc_noise),
        history=history,
        perceptual=F.name,
        settings=asdict(s),
        seconds=time.perf_counter() - t0,
        cancelled=last.cancelled,
    )
