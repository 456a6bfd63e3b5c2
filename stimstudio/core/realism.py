"""Terms that keep an inversion on the generator's side of the fidelity/realism trade-off.

Why: Eq. 4 fits the target's pixels, and a W+ code that fits them leaves the distribution of
codes the generator was trained on. Such codes render hazy images (strands smeared into clouds,
no grain, blobby bright regions) at 36 dB: faithful, and told from real film at a glance
(the classifier test scores encoder reconstructions 0.99 against 0.87-0.91 for random samples;
docs/INVERSION.md). Blau & Michaeli (2018) show that fidelity and realism trade against each
other; these two terms let the user move along that trade:

- `RealismCritic`: the model's own projected discriminator (frozen ImageNet features plus the
  scale, pixel and layout discriminators trained with the generator), used as the generator's
  loss is in training (hinge: the mean of -logits). It says how real the rendered image looks
  as a whole, whatever the target.
- `WPrior`: a Gaussian prior on each layer's w, fitted to the mapping network's own output after
  undoing its last leaky ReLU (Wulff & Torralba 2020, "Improving inversion and generation
  diversity in StyleGAN using a Gaussianized latent space"): in that space w is close to a
  Gaussian, so the Mahalanobis distance per dimension (1 for the generator's own codes) says
  how far a code has left the training distribution. Only the excess over the generator's own
  typical distance is penalised, so the prior does not pull codes toward the average image
  (which is what truncation does, and it costs variety).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from .errors import CheckpointError
from .model import Model

LRELU_SLOPE = 0.2


def gaussianize(w: torch.Tensor) -> torch.Tensor:
    """Undo the mapping network's last activation (leaky ReLU 0.2 times sqrt 2)."""
    v = w / math.sqrt(2.0)
    return torch.where(v >= 0, v, v / LRELU_SLOPE)


class WPrior:
    """Mahalanobis distance of each layer's w from the generator's own W, per dimension."""

    def __init__(self, model: Model, samples: int = 20000, seed: int = 0):
        G = model.G
        dev = next(G.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            z = torch.randn(samples, G.z_dim, generator=gen).to(dev)
            v = torch.cat([gaussianize(G.mapping(c).float()) for c in z.split(2000)])
        self.mean = v.mean(0)
        cov = torch.cov(v.T.double()) + 1e-6 * torch.eye(v.shape[1], dtype=torch.float64)
        evals, evecs = torch.linalg.eigh(cov)
        self.whiten = (evecs / evals.clamp_min(1e-8).sqrt()).float()  # x @ whiten: unit cov
        with torch.no_grad():
            d = torch.cat([self.distance(G.mapping(c).float()) for c in z.split(2000)])
        self.typical = float(torch.quantile(d, 0.5))  # the generator's own median distance

    def distance(self, w: torch.Tensor) -> torch.Tensor:
        """[..., w_dim] -> [...]: squared Mahalanobis distance per dimension (~1 in W)."""
        x = (gaussianize(w.float()) - self.mean.to(w.device)) @ self.whiten.to(w.device)
        return x.square().mean(-1)

    def project(self, wplus: torch.Tensor, radius: float) -> torch.Tensor:
        """w+ with every layer's w pulled in to at most `radius` times the generator's typical
        distance (in standard deviations), along the line to the prior's mean; layers inside
        that radius are left alone. A closed-form move toward the generator's domain: the
        cheap end of the trade (no optimisation), and a start for Eq. 4 with the prior."""
        w = wplus.float()
        u = (gaussianize(w) - self.mean.to(w.device)) @ self.whiten.to(w.device)
        dev = u.square().mean(-1, keepdim=True).sqrt()
        limit = radius * math.sqrt(self.typical)
        u = u * torch.clamp(limit / dev.clamp_min(1e-12), max=1.0)
        v = u @ torch.linalg.pinv(self.whiten.to(w.device)) + self.mean.to(w.device)
        return math.sqrt(2.0) * torch.where(v >= 0, v, v * LRELU_SLOPE)

    def penalty(self, wplus: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
        """[N, num_ws, w_dim] -> [N]: the mean over layers of how many standard deviations
        (root of the distance) a layer's w lies beyond `radius` times the generator's typical
        code; 0 for codes the mapping network itself gives. The root keeps the pull even:
        encoder codes lie ~100 typical distances out, and a squared distance would swamp
        every other term there and vanish near the distribution."""
        limit = radius * math.sqrt(self.typical)
        excess = self.distance(wplus).clamp_min(1e-12).sqrt() - limit
        return F.relu(excess).mean(-1)


class RealismCritic:
    """The model's projected discriminator, frozen, as a realism loss on rendered images."""

    def __init__(self, model: Model):
        from .nets.projected import ProjectedConfig, ProjectedDiscriminator

        arch = model.card.get("architecture", {})
        cfg = arch.get("projected_discriminator")
        if model.P is not None:
            self.P = model.P
        elif cfg is None or model.path is None:
            raise CheckpointError(
                f"{model.name} has no projected discriminator, so it cannot judge realism: "
                "set realism to 0, or use a model trained with --discriminator projected"
            )
        else:
            tensors = load_file(str(model.path))
            sub = {k[2:]: v.float() for k, v in tensors.items() if k.startswith("P.")}
            self.P = ProjectedDiscriminator(ProjectedConfig(**cfg))
            self.P.load_shipped_state_dict(sub)
        self.P = self.P.to(next(model.G.parameters()).device).eval().requires_grad_(False)
        self.size = self.P.cfg.resolution

    def loss(self, img: torch.Tensor) -> torch.Tensor:
        """[N, 1, R, R] -> [N]: the generator's hinge loss, the mean of -logits per image."""
        f = img.shape[-1] // self.size
        x = F.avg_pool2d(img, f) if f > 1 else img
        return -self.P(x.float()).mean(1)


def realism_terms(model: Model) -> tuple[RealismCritic, WPrior]:
    """Both terms for a model, built once (the prior's fit and the critic's load take ~1 s)."""
    cache = model.__dict__.setdefault("_realism_cache", {})
    if "terms" not in cache:
        cache["terms"] = (RealismCritic(model), WPrior(model))
    return cache["terms"]


def prior_distance_np(model: Model, wplus: np.ndarray) -> np.ndarray:
    """The prior's distance per layer of w+ arrays [..., num_ws, w_dim] (for reports)."""
    return realism_terms(model)[1].distance(torch.as_tensor(wplus)).numpy()
