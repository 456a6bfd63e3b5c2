"""Detail-stage model files (issue 38, second arm): a refiner on top of a base model.

A detail-stage file holds the refiner's tensors (`R.`) and the projected discriminator it was
trained against (`P.`, for resuming), not the base model: its card names the base (short
name, file name, sha256, resolution) and loading finds it beside the file or in weights/, checks
its sha256 and resolution, and refuses in one sentence when it is missing or another model. The
generator is `DetailStageGenerator(base.G, refiner)` (core/nets/detail.py); the encoder, noise
encoder and discriminator are the base's, used as a grown model uses its parent's
(core/nets/grown.py): the 256-px image averaged down to 128 px, which the refiner's consistency
term makes (nearly) the base's own image.
"""

from __future__ import annotations

from pathlib import Path

from .errors import CheckpointError
from .model_catalog import card_spacing_mm, resolve_weights
from .nets.detail import (
    DETAIL_KIND,
    DetailRefiner,
    DetailStageConfig,
    DetailStageGenerator,
)
from .nets.grown import GrownEncoder, GrownNoiseEncoder


def is_detail_card(card: dict) -> bool:
    arch = card.get("architecture")
    gen = arch.get("generator") if isinstance(arch, dict) else None
    return isinstance(gen, dict) and gen.get("kind") == DETAIL_KIND


def refuse_detail_stage(model, given: str) -> None:
    """One sentence where an encoder is to be trained for a detail-stage model: its encoders
    are its base model's (the file holds only the refiner), so they are trained there."""
    if getattr(model, "is_detail", False):
        base = model.G.base_source.get("name")
        raise CheckpointError(
            f"{given} is a detail stage: it borrows the encoders of its base model {base}; "
            "train them on that model"
        )


def base_source(base) -> dict:
    """What a detail-stage file records of its base model (arch["detail_base"])."""
    return {
        "name": base.short_name,
        "file": base.path.name if base.path else None,
        "path": str(base.path.resolve()) if base.path else None,  # where it was, last resort
        "sha256": base.sha256,
        "resolution": base.resolution,
        "spacing_mm": card_spacing_mm(base.card or {}),
    }


def detail_model(base, refiner: DetailRefiner, card: dict | None = None, P=None):
    """A `Model` of `base` refined by `refiner`, with the base's encoders borrowed (labelled
    in the card's `encoder_from`) and its pixel size halved."""
    from .model import Model

    G = DetailStageGenerator(base.G, refiner)
    G.base_source = base_source(base)
    card = dict(card or {})
    spacing = card_spacing_mm(base.card or {})
    if spacing:
        card["spacing_mm"] = spacing * base.resolution / G.resolution
    card["detail_base"] = dict(G.base_source)
    E, N = base.E, None
    if not base.has_encoder:
        card["phase"] = "gan"  # nothing to lend: encode refuses as on any GAN-phase file
    elif isinstance(base.E, GrownEncoder):
        raise CheckpointError(
            f"{base.short_name} carries borrowed encoders itself; a detail stage needs a base "
            "model with an encoder of its own"
        )
    else:
        E = GrownEncoder(base.E.cfg, out_ws=G.num_ws)
        E.load_state_dict(base.E.state_dict())
        if base.N is not None:
            N = GrownNoiseEncoder(base.N.cfg)
            N.load_state_dict(base.N.state_dict())
        card["phase"] = "detail"
        card["encoder_from"] = {
            **G.base_source,
            "encoder_resolution": base.E.cfg.resolution,
            "kimg": (base.card or {}).get("kimg"),
            "encoder_kimg": (base.card or {}).get("encoder_kimg"),
            "noise_encoder": N is not None,
            "perceptual": (base.card or {}).get("perceptual"),
            "note": (
                f"the encoder{' and noise encoder' if N is not None else ''} of the "
                f"{base.resolution}-px base model this detail stage refines: images are "
                f"averaged down to {base.E.cfg.resolution} px; the refiner's noise layers keep "
                "the model's fixed maps"
            ),
        }
    for net in (E, N):  # the copies are frozen; a trainer's live P and refiner stay as they are
        if net is not None and net is not base.E:
            net.eval().requires_grad_(False)
    return Model(G, E, base.D, card=card, P=P, N=N)


def _find_base(path: Path, src: dict) -> Path | None:
    """The base model file: beside the detail file, else by its short name in weights/, else
    where it was when the detail stage was trained."""
    if src.get("file") and (path.parent / src["file"]).is_file():
        return path.parent / src["file"]
    if src.get("name"):
        try:
            found = resolve_weights(src["name"])
        except CheckpointError:
            found = None
        if found is not None and found.is_file():
            return found
    if src.get("path") and Path(src["path"]).is_file():
        return Path(src["path"])
    return None


def build_detail(card: dict, path: Path, with_projected: bool = False):
    """The detail-stage model a card describes, on its base model (loaded and checked);
    every problem one CheckpointError sentence. Its tensors are loaded by `load_model`."""
    from .model import load_model
    from .nets.projected import ProjectedConfig, ProjectedDiscriminator

    arch = card["architecture"]
    src = arch.get("detail_base")
    try:
        cfg = DetailStageConfig.from_dict(arch["generator"])
        cfg.refiner.validate()
        if not isinstance(src, dict):
            raise KeyError("detail_base")
        p_cfg = None
        if with_projected and "projected_discriminator" in arch:
            p_cfg = ProjectedConfig(**arch["projected_discriminator"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"model card of {path.name} has an invalid detail-stage architecture: {exc}"
        ) from exc
    want = f"{src.get('name')} ({cfg.resolution // 2} px, sha256 {str(src.get('sha256'))[:8]}…)"
    base_path = _find_base(path, src)
    if base_path is None:
        raise CheckpointError(
            f"{path.name} is a detail stage on the model {want}, which is missing: put "
            f"{src.get('file') or src.get('name')} beside it or in weights/"
        )
    base = load_model(base_path)
    if base.resolution * 2 != cfg.resolution or base.G.cfg != cfg.base:
        raise CheckpointError(
            f"{path.name} refines {cfg.resolution // 2}-px images of the model {want}; "
            f"{base_path.name} is a {base.resolution}-px model of another configuration"
        )
    if src.get("sha256") and base.sha256 != src["sha256"]:
        raise CheckpointError(
            f"{path.name} was trained on the model {want}; {base_path.name} is another version "
            f"(sha256 {base.sha256[:8]}…): use the base it was trained on"
        )
    P = ProjectedDiscriminator(p_cfg) if p_cfg is not None else None
    model = detail_model(base, DetailRefiner(cfg.refiner), card, P=P)
    model.card = dict(card)  # the file's card as it is (detail_model's is the same, fresh)
    return model
