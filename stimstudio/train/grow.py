"""Grow a trained generator by one synthesis block: a 256-px model at 0.2 mm from a 128-px
model at 0.4 mm (the same 51.2-mm field), without training the lower layers again.

Why: mini-MIAS is digitised at 0.2 mm and a 128-px model at 0.4 mm throws half of it away, but a
256-px generator trained from nothing would cost this CPU weeks. The synthesis network is a
skip architecture (each block adds its grey image to the upsampled image of the blocks below),
so the 4-128-px blocks and the mapping network can be copied unchanged and a new 256-px block
added on top. Its grey output is started small (`new_gain`), so the grown generator first
renders the 128-px model's images upsampled, with a faint texture from the new block on top,
and training teaches that block the detail that lies between 0.4 mm and 0.2 mm (the progressive
growing of Karras et al. 2018 fades new layers in for the same reason).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch

from ..core.errors import CheckpointError
from ..core.model import Model, load_model
from ..core.model_catalog import card_spacing_mm
from ..core.nets import (
    Discriminator,
    DiscriminatorConfig,
    EncoderConfig,
    Generator,
    NoiseEncoderConfig,
)
from ..core.nets.grown import GrownEncoder, GrownNoiseEncoder


def can_grow(small: Generator, big: Generator) -> bool:
    """Whether `big` is `small` with one more block: twice the resolution, all else equal."""
    a, b = small.cfg.to_dict(), big.cfg.to_dict()
    ra, rb = a.pop("resolution"), b.pop("resolution")
    return rb == 2 * ra and a == b


@torch.no_grad()
def grow_generator(small: Generator, big: Generator, new_gain: float = 0.1) -> list[str]:
    """Copy every tensor of `small` into `big` (same names, same shapes); the new top block
    keeps its fresh weights with its grey output scaled by `new_gain`. Returns the names of
    the tensors that start fresh."""
    if not can_grow(small, big):
        raise CheckpointError(
            f"a {small.resolution}-px generator grows only into one of "
            f"{2 * small.resolution} px with the same widths and latent sizes, "
            f"not into this {big.resolution}-px configuration"
        )
    src = small.state_dict()
    dst = big.state_dict()
    fresh = []
    for name, t in dst.items():
        if name in src:
            if src[name].shape != t.shape:  # a width rule change would land here
                raise CheckpointError(f"{name}: {tuple(src[name].shape)} vs {tuple(t.shape)}")
            t.copy_(src[name])
        else:
            fresh.append(name)
    top = big.synthesis.blocks[-1]
    top.togray.weight.mul_(new_gain)
    return fresh


@dataclass
class Borrowed:
    """A grown model's parent's encoder, noise encoder and discriminator (the one its
    perceptual features come from), with where they came from for the card."""

    E: GrownEncoder
    D: Discriminator
    N: GrownNoiseEncoder | None
    source: dict

    def state(self) -> dict:
        """For a training state (runs/.../state.pt): configs, tensors and provenance."""
        out = {
            "E_cfg": self.E.cfg.to_dict(),
            "out_ws": self.E.out_ws,
            "E": self.E.state_dict(),
            "D_cfg": self.D.cfg.to_dict(),
            "D": self.D.state_dict(),
            "source": self.source,
        }
        if self.N is not None:
            out.update(N_cfg=self.N.cfg.to_dict(), N=self.N.state_dict())
        return out

    @classmethod
    def from_state(cls, st: dict) -> Borrowed:
        E = GrownEncoder(EncoderConfig(**st["E_cfg"]), out_ws=st["out_ws"])
        E.load_state_dict(st["E"])
        D = Discriminator(DiscriminatorConfig(**st["D_cfg"]))
        D.load_state_dict(st["D"])
        N = None
        if "N" in st:
            N = GrownNoiseEncoder(NoiseEncoderConfig(**st["N_cfg"]))
            N.load_state_dict(st["N"])
        return cls(E, D, N, dict(st["source"])).frozen()

    def frozen(self) -> Borrowed:
        for net in (self.E, self.D, self.N):
            if net is not None:
                net.eval().requires_grad_(False)
        return self

    def to(self, device) -> Borrowed:
        for net in (self.E, self.D, self.N):
            if net is not None:
                net.to(device)
        return self

    def model(self, G: Generator, card: dict | None = None, P=None, D=None) -> Model:
        """A model of the grown generator `G` with these borrowed parts (and the parent's D
        unless `D` is given); its card says so."""
        card = dict(card or {})
        card["encoder_from"] = dict(self.source)
        sp, res = self.source.get("spacing_mm"), self.source.get("resolution")
        if not card_spacing_mm(card) and sp and res:  # the same field at finer pixels
            card["spacing_mm"] = sp * res / G.resolution
        return Model(G, self.E, self.D if D is None else D, card=card, P=P, N=self.N)


def borrow_encoders(parent: Model, grown: Generator) -> Borrowed | None:
    """The parent's trained encoders for a generator grown from it (copies, frozen); None
    when the parent has no trained encoder (a GAN-phase file) to lend."""
    if not parent.has_encoder:
        return None
    ratio = grown.resolution // parent.resolution
    if ratio < 2 or grown.resolution != ratio * parent.resolution or grown.num_ws <= parent.num_ws:
        raise CheckpointError(
            f"a {parent.resolution}-px model lends its encoders only to a generator grown from "
            f"it, not to this {grown.resolution}-px one"
        )
    src_e = parent.E
    E = GrownEncoder(src_e.cfg, out_ws=grown.num_ws)
    E.load_state_dict(src_e.state_dict())
    N = None
    if parent.N is not None:
        N = GrownNoiseEncoder(parent.N.cfg)
        N.load_state_dict(parent.N.state_dict())
    D = copy.deepcopy(parent.D)
    card = parent.card or {}
    source = {
        "name": parent.short_name,
        "sha256": parent.sha256,
        "resolution": parent.resolution,
        "spacing_mm": card_spacing_mm(card),
        "encoder_resolution": E.cfg.resolution,
        "kimg": card.get("kimg"),
        "encoder_kimg": card.get("encoder_kimg"),
        "noise_encoder": N is not None,
        "noise_encoder_kimg": card.get("noise_encoder_kimg") if N is not None else None,
        "perceptual": card.get("perceptual"),
        "note": (
            f"the encoder{' and noise encoder' if N is not None else ''} of the "
            f"{parent.resolution}-px model this one was grown from, trained for that "
            f"generator: images are averaged down to {E.cfg.resolution} px, the grown layers "
            "take its last code (and the model's fixed noise maps)"
        ),
    }
    if isinstance(src_e, GrownEncoder):  # a grown model grown again: keep the first source
        source = dict(card.get("encoder_from") or source)
    return Borrowed(E, D, N, source).frozen()


def borrowed_of(model: Model) -> Borrowed | None:
    """The borrowed parts a grown model file already carries (a run resumed from it keeps
    them); None for a model with its own encoder."""
    if model.encoder_resolution is None:
        return None
    return Borrowed(model.E, model.D, model.N, dict(model.card.get("encoder_from") or {}))


def grow_model(parent: Model, new_gain: float = 0.1, seed: int = 0) -> Model:
    """The parent grown by one block (twice its resolution), carrying its encoders: what the
    trainer starts a grown run from, and what tests and `stimstudio bench` use. The new
    block's weights are drawn with `seed`."""
    cfg = dataclasses.replace(parent.G.cfg, resolution=2 * parent.resolution)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        G = Generator(cfg)
    grow_generator(parent.G, G, new_gain)
    G.to(next(parent.G.parameters()).device)
    borrowed = borrow_encoders(parent, G)
    card = {k: parent.card[k] for k in ("kimg",) if k in (parent.card or {})}
    spacing = card_spacing_mm(parent.card or {})
    if spacing:
        card["spacing_mm"] = spacing / 2
    card["grown_from"] = {"name": parent.short_name, "sha256": parent.sha256}
    if borrowed is None:
        model = Model.create(cfg)
        model.G = G
        model.card.update(card, phase="gan")
        return model.eval_mode()
    return borrowed.model(G, card).eval_mode()


def attach_borrowed(grown_path: str, parent_path: str, out: str) -> Model:
    """Write a copy of a grown model file (e.g. a snapshot of a grown run made before runs
    kept them) that carries its parent's encoders. The generator must be the parent's grown:
    twice its resolution, same widths and latent sizes."""
    grown = load_model(grown_path, with_projected=True)
    parent = load_model(parent_path)
    small = Generator(dataclasses.replace(grown.G.cfg, resolution=parent.resolution))
    if grown.encoder_resolution is not None:
        raise CheckpointError(f"{grown_path} carries borrowed encoders already")
    if small.cfg != parent.G.cfg or not can_grow(small, grown.G):
        raise CheckpointError(
            f"{grown_path} ({grown.resolution} px) was not grown from a model like "
            f"{parent_path} ({parent.resolution} px): another generator configuration"
        )
    borrowed = borrow_encoders(parent, grown.G)
    if borrowed is None:
        raise CheckpointError(f"{parent_path} has no trained encoder to lend")
    card = {k: v for k, v in grown.card.items() if k not in ("architecture", "sha256")}
    keep_d = grown.card.get("discriminator") == "stylegan2"  # then its D is trained, at its size
    model = borrowed.model(grown.G, card, P=grown.P, D=grown.D if keep_d else None)
    dtype = torch.float16 if grown.card.get("tensor_dtype") == "float16" else torch.float32
    model.save(out, dtype=dtype)
    return model


def main(argv: list[str] | None = None) -> int:
    """`python -m stimstudio.train.grow borrow GROWN PARENT OUT`: see `attach_borrowed`."""
    import argparse
    import sys

    from ..core.errors import StimStudioError

    p = argparse.ArgumentParser(prog="python -m stimstudio.train.grow")
    sub = p.add_subparsers(dest="verb", required=True)
    b = sub.add_parser("borrow", help="a grown model file with its parent's encoders")
    b.add_argument("grown", help="model file of a grown run (e.g. runs/grow256/model-gan...)")
    b.add_argument("parent", help="the model it was grown from (a file or a short name)")
    b.add_argument("out", help="the new model file (.safetensors; its card beside it)")
    args = p.parse_args(argv)
    try:
        m = attach_borrowed(args.grown, args.parent, args.out)
    except StimStudioError as exc:
        print(f"stimstudio: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{m.path}: {m.resolution} px with the {m.encoder_resolution}-px encoders of {args.parent}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
