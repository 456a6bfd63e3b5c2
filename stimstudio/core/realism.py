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
        self.unwhiten = (evecs * evals.clamp_min(1e-8).sqrt()).T.float()  # its inverse
        with torch.no_grad():
            d = torch.cat([self.distance(G.mapping(c).float()) for c in z.split(2000)])
        self.typical = float(torch.quantile(d, 0.5))  # the generator's own median distance

    def distance(self, w: torch.Tensor) -> torch.Tensor:
        """[..., w_dim] -> [...]: squared Mahalanobis distance per dimension (~1 in W)."""
        x = (gaussianize(w.float()) - self.mean.to(w.device)) @ self.whiten.to(w.device)
        return x.square().mean(-1)

    def whitened(self, wplus: torch.Tensor) -> torch.Tensor:
        """Each layer's w in the prior's whitened coordinates (unit variance in W)."""
        w = wplus.float()
        return (gaussianize(w) - self.mean.to(w.device)) @ self.whiten.to(w.device)

    def clip_whitened(self, u: torch.Tensor, limit: float) -> torch.Tensor:
        """Whitened codes pulled into the generator's typical set: each coordinate clipped to
        +-`limit` standard deviations, then the vector shrunk to at most `limit` / 3 times the
        typical radius (the root of the generator's median squared distance) when beyond.

        Why both: encoder codes lie far outside W only along its low-variance directions
        (measured on held-out patches: ~250 deviations on the 32 narrowest, ~1.5 on the 32
        widest); clipping them leaves the directions that carry most of the image where they
        are, while shrinking alone would throw the image away with them (every patch becomes
        the average one). Clipping alone is not enough: a code with every coordinate at the
        edge of its box is a corner, far outside the shell where the generator's own codes
        lie."""
        u = u.clamp(-limit, limit)
        radius = max(limit / 3.0, 1.0) * math.sqrt(self.typical * u.shape[-1])
        norm = u.norm(dim=-1, keepdim=True)
        return u * torch.clamp(radius / norm.clamp_min(1e-12), max=1.0)

    def from_whitened(self, u: torch.Tensor) -> torch.Tensor:
        """Whitened coordinates back to w (the inverse of `whitened`)."""
        v = u @ self.unwhiten.to(u.device) + self.mean.to(u.device)
        return math.sqrt(2.0) * torch.where(v >= 0, v, v * LRELU_SLOPE)

    def project(self, wplus: torch.Tensor, limit: float) -> torch.Tensor:
        """w+ with every layer's w pulled into the generator's typical set (`clip_whitened`)."""
        return self.from_whitened(self.clip_whitened(self.whitened(wplus), limit))

    def penalty(self, wplus: torch.Tensor, limit: float | None = None) -> torch.Tensor:
        """[N, num_ws, w_dim] -> [N]: with `limit`, the mean over coordinates and layers of
        how far (in standard deviations) each whitened coordinate lies beyond +-limit (a
        barrier, 0 inside: no pull toward the average image, which is what truncation does
        and it costs variety); without, the mean squared Mahalanobis distance beyond the
        generator's typical one (the Gaussian prior of Wulff & Torralba)."""
        if limit is None:
            return F.relu(self.distance(wplus) - self.typical).mean(-1)
        return F.relu(self.whitened(wplus).abs() - limit).mean((-1, -2))


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
                "set the critic weight to 0, or use a model trained with --discriminator "
                "projected"
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


def w_prior(model: Model) -> WPrior:
    """The model's W prior, fitted once per model (~1 s)."""
    cache = model.__dict__.setdefault("_realism_cache", {})
    if "prior" not in cache:
        cache["prior"] = WPrior(model)
    return cache["prior"]


def realism_critic(model: Model) -> RealismCritic:
    """The model's projected discriminator as a realism loss, loaded once per model."""
    cache = model.__dict__.setdefault("_realism_cache", {})
    if "critic" not in cache:
        cache["critic"] = RealismCritic(model)
    return cache["critic"]
