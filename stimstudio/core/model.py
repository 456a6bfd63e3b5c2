"""The model bundle (G_ema, E, D + model card) and its file format.

`weights/<name>.safetensors` holds every tensor under `G.`, `E.`, `D.` (and `P.`, `N.` where the
model has a projected discriminator or a noise encoder; fp16 when shipped,
loaded as fp32); `weights/<name>.json` is the model card: architecture, training data and
licence, kimg, hardware, evaluation numbers, software version, and the sha256 of the tensor
file. Loading checks the hash, each tensor name and each shape, and names what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .atomic import atomic_write_bytes, public_mode
from .errors import CheckpointError
from .model_catalog import (  # noqa: F401 - DEFAULT_NAME, WEIGHTS_DIR: this module's API
    DEFAULT_NAME,
    WEIGHTS_DIR,
    default_weights_path,
    short_name,
)
from .nets import (
    Discriminator,
    DiscriminatorConfig,
    Encoder,
    EncoderConfig,
    Generator,
    GeneratorConfig,
    NoiseEncoder,
    NoiseEncoderConfig,
)
from .nets.detail import DetailStageGenerator
from .nets.grown import GrownEncoder, GrownNoiseEncoder
from .nets.projected import ProjectedConfig, ProjectedDiscriminator


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class Model:
    """Generator (EMA), encoder and discriminator that belong together, plus their card.

    `P` is the projected discriminator a generator was trained against (its random projections
    and scale discriminators; the ImageNet feature network comes from its wheel). It is stored
    under `P.` so that a run resumes from the shipped file on a new machine; `D` stays the
    StyleGAN2 discriminator that the encoder phase and the perceptual fallback use.
    """

    G: Generator
    E: Encoder
    D: Discriminator
    card: dict = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None
    P: ProjectedDiscriminator | None = None
    # The noise encoder (core.nets.noise_encoder), stored under `N.`; models trained before
    # it, or without it, have none and render with the generator's fixed noise maps.
    N: NoiseEncoder | None = None

    @classmethod
    def create(
        cls,
        g_cfg: GeneratorConfig,
        d_cfg: DiscriminatorConfig | None = None,
        e_cfg: EncoderConfig | None = None,
        seed: int = 0,
    ) -> Model:
        """Fresh random networks (tests, and the start of training)."""
        torch.manual_seed(seed)
        G = Generator(g_cfg)
        d_cfg = d_cfg or DiscriminatorConfig(
            resolution=g_cfg.resolution,
            channel_base=g_cfg.channel_base,
            channel_max=g_cfg.channel_max,
        )
        e_cfg = e_cfg or EncoderConfig(
            resolution=g_cfg.resolution, num_ws=G.num_ws, w_dim=g_cfg.w_dim
        )
        model = cls(G, Encoder(e_cfg), Discriminator(d_cfg))
        model.card = {"architecture": model.architecture()}
        return model.eval_mode()

    @property
    def resolution(self) -> int:
        return self.G.resolution

    @property
    def num_ws(self) -> int:
        return self.G.num_ws

    @property
    def w_dim(self) -> int:
        return self.G.w_dim

    @property
    def name(self) -> str:
        return self.path.stem if self.path else "unsaved model"

    @property
    def short_name(self) -> str:
        """What `--weights` accepts for it: `minimias-128` for stimstudio-minimias-128."""
        return short_name(self.path) if self.path else "unsaved model"

    def tag(self) -> dict:
        """Which model made something: recorded in latents, projects, exports and results."""
        from .model_catalog import card_spacing_mm

        return {
            "name": self.short_name,
            "sha256": self.sha256,
            "resolution": self.resolution,
            "spacing_mm": card_spacing_mm(self.card or {}),
        }

    @property
    def encoder_resolution(self) -> int | None:
        """The resolution of a borrowed encoder (a grown model's parent's: core/nets/grown.py);
        None when the encoder is the model's own."""
        return self.E.cfg.resolution if isinstance(self.E, GrownEncoder) else None

    @property
    def has_encoder(self) -> bool:
        """Whether E is a trained encoder for this generator (its own, or a borrowed one): a
        GAN-phase file carries the random encoder it was created with."""
        return self.encoder_resolution is not None or (self.card or {}).get("phase") != "gan"

    def require_encoder(self) -> None:
        """One CheckpointError sentence when the model has no trained encoder."""
        if not self.has_encoder:
            raise CheckpointError(
                f"model {self.short_name} ({self.resolution} px) has no trained encoder (a "
                "GAN-phase file): train one (`stimstudio train encoder`), or use a grown model "
                "that carries its parent's (its card says encoder_resolution)"
            )

    @property
    def is_detail(self) -> bool:
        """A detail-stage model (core/detail_model.py): a refiner on a base model's output."""
        return isinstance(self.G, DetailStageGenerator)

    def architecture(self) -> dict:
        arch = {
            "generator": self.G.cfg.to_dict(),
            "discriminator": self.D.cfg.to_dict(),
            "encoder": self.E.cfg.to_dict(),
            "num_ws": self.G.num_ws,
        }
        if self.encoder_resolution is not None:
            # the explicit mark of a borrowed encoder (and noise encoder): loading builds the
            # grown wrappers from it, and nothing else lets an encoder's resolution differ
            arch["encoder_resolution"] = self.encoder_resolution
        if self.P is not None:
            arch["projected_discriminator"] = self.P.cfg.to_dict()
        if self.N is not None:
            arch["noise_encoder"] = self.N.cfg.to_dict()
        if self.is_detail:  # its base model's file, which loading finds and checks
            arch["detail_base"] = dict(self.G.base_source)
        return arch

    def _nets(self) -> list[nn.Module]:
        return [n for n in (self.G, self.E, self.D, self.P, self.N) if n is not None]

    def eval_mode(self) -> Model:
        for net in self._nets():
            net.eval().requires_grad_(False)
        return self

    def to(self, device) -> Model:
        for net in self._nets():
            net.to(device)
        return self

    def _parts(self) -> list[tuple[str, nn.Module | None]]:
        """The networks a model file holds, by prefix (P and N where the model has them); a
        detail-stage file holds its refiner only (`R.`): the rest is its base model's."""
        if self.is_detail:
            return [("R", self.G.refiner), ("P", self.P)]
        return [("G", self.G), ("E", self.E), ("D", self.D), ("P", self.P), ("N", self.N)]

    def state_dict(self) -> dict[str, torch.Tensor]:
        out = {}
        for prefix, net in self._parts():
            if net is None:
                continue
            sd = net.shipped_state_dict() if prefix == "P" else net.state_dict()
            out.update({f"{prefix}.{k}": v for k, v in sd.items()})
        return out

    def save(self, path: str | Path, dtype: torch.dtype = torch.float16, **card_extra) -> Path:
        """Write tensors + card atomically; the card records the tensor file's sha256."""
        path = Path(path).with_suffix(".safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {
            k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu())
            .contiguous()
            .clone()
            for k, v in self.state_dict().items()
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"format": "stimstudio-model-v1"})
            digest = sha256_file(Path(tmp))
            card = dict(self.card)
            card.update(card_extra)
            card["architecture"] = self.architecture()
            card["w_avg"] = [float(x) for x in self.G.w_avg.float().cpu()]
            card["tensor_dtype"] = str(dtype).replace("torch.", "")
            card["sha256"] = digest
            public_mode(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(card, indent=2).encode())
        self.card, self.path, self.sha256 = card, path, digest
        return path


def _read_card(path: Path) -> dict:
    card_path = path.with_suffix(".json")
    if not card_path.is_file():
        raise CheckpointError(f"model card {card_path.name} is missing beside {path.name}")
    try:
        return json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"model card {card_path.name} is not valid JSON: {exc}") from exc


def _build(card: dict, name: str, with_projected: bool = False) -> Model:
    arch = card.get("architecture")
    if not isinstance(arch, dict):
        raise CheckpointError(f"model card of {name} has no 'architecture' section")
    try:
        g_cfg = GeneratorConfig(**arch["generator"])
        d_cfg = DiscriminatorConfig(**arch["discriminator"])
        e_cfg = EncoderConfig(**arch["encoder"])
        n_cfg = NoiseEncoderConfig(**arch["noise_encoder"]) if "noise_encoder" in arch else None
        p_cfg = None
        if with_projected and "projected_discriminator" in arch:
            p_cfg = ProjectedConfig(**arch["projected_discriminator"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"model card of {name} has an invalid architecture: {exc}") from exc
    P = ProjectedDiscriminator(p_cfg) if p_cfg is not None else None
    G = Generator(g_cfg)
    borrowed = arch.get("encoder_resolution")
    if borrowed is None:
        if e_cfg.resolution != g_cfg.resolution or e_cfg.num_ws != G.num_ws:
            raise CheckpointError(
                f"the encoder of {name} works at {e_cfg.resolution} px ({e_cfg.num_ws} "
                f"styles), its generator at {g_cfg.resolution} px ({G.num_ws}), and the card "
                "does not mark it as borrowed (encoder_resolution): they belong to different models"
            )
        E = Encoder(e_cfg)
        N = NoiseEncoder(n_cfg) if n_cfg is not None else None
    else:
        E, N = _borrowed_encoders(G, e_cfg, n_cfg, borrowed, name)
    if N is not None:
        check_noise_encoder(G, N, name, borrowed=isinstance(N, GrownNoiseEncoder))
    return Model(G, E, Discriminator(d_cfg), card=card, P=P, N=N)


def _borrowed_encoders(G: Generator, e_cfg, n_cfg, res, name: str):
    """A grown model's parent's encoders (core/nets/grown.py), checked against the mark."""
    r = e_cfg.resolution
    ratio = G.resolution // r if isinstance(res, int) and r > 0 else 0
    fits = (
        res == r
        and ratio > 1
        and G.resolution == r * ratio
        and ratio & (ratio - 1) == 0
        and e_cfg.num_ws < G.num_ws
        and (n_cfg is None or n_cfg.resolution in (r, G.resolution))
    )
    if not fits:
        raise CheckpointError(
            f"the card of {name} marks a borrowed {res}-px encoder, but its encoder works at "
            f"{r} px ({e_cfg.num_ws} styles) and its generator at {G.resolution} px "
            f"({G.num_ws}): the card and the file disagree"
        )
    N = None  # the parent's (at its resolution), or one trained for this generator
    if n_cfg is not None:
        N = GrownNoiseEncoder(n_cfg) if n_cfg.resolution == r else NoiseEncoder(n_cfg)
    return GrownEncoder(e_cfg, out_ws=G.num_ws), N


def check_noise_encoder(
    G: Generator, N: NoiseEncoder, name: str = "the model", borrowed: bool = False
) -> None:
    """The noise encoder must predict exactly the generator's finest noise layers; a borrowed
    one (`borrowed`: a grown model's parent's, marked so in its card) exactly the finest
    layers up to its own resolution, the parent's finest (the grown layers keep fixed maps)."""
    have = [m.noise_const.shape[-1] for m in G.modules() if hasattr(m, "noise_const")]
    want = sorted(r for r in N.cfg.resolutions for _ in range(N.cfg.maps_per_resolution))
    if borrowed:
        if not isinstance(N, GrownNoiseEncoder) or N.cfg.resolution >= G.resolution:
            raise CheckpointError(
                f"the noise encoder of {name} is not a grown model's borrowed one"
            )
        have = [r for r in have if r <= N.cfg.resolution]
    if len(want) > len(have) or have[len(have) - len(want) :] != want:
        raise CheckpointError(
            f"the noise encoder of {name} predicts maps of {want} px, the generator's finest "
            f"noise layers are {have[-len(want) :]} px: they belong to different models"
        )


def load_model(
    path: str | Path | None = None,
    device: torch.device | str = "cpu",
    expect_resolution: int | None = None,
    verify_hash: bool = True,
    with_projected: bool = False,
) -> Model:
    """Load and validate a model; every problem becomes one CheckpointError sentence.

    The projected discriminator (`P.` tensors) is only built when asked for (training
    resumes): using a model never needs the feature network.
    """
    from .model_catalog import resolve_weights  # a short name: weights/stimstudio-NAME

    path = resolve_weights(path) if path is not None else default_weights_path()
    if path.suffix == ".json":
        path = path.with_suffix(".safetensors")
    if not path.is_file():
        raise CheckpointError(
            f"weights file not found: {path} (pass --weights with a file or a model name, or "
            "train one with `stimstudio train gan`)"
        )
    card = _read_card(path)
    digest = sha256_file(path)
    if verify_hash and card.get("sha256") and card["sha256"] != digest:
        raise CheckpointError(
            f"{path.name} does not match its model card (sha256 {digest[:12]}… vs "
            f"{card['sha256'][:12]}…): the file is truncated, corrupted or from another model"
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a readable safetensors file: {exc}") from exc
    from .detail_model import build_detail, is_detail_card

    if is_detail_card(card):
        model = build_detail(card, path, with_projected)
    else:
        model = _build(card, path.name, with_projected)
    if model.P is None:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("P.")}
    if expect_resolution is not None and model.resolution != expect_resolution:
        raise CheckpointError(
            f"{path.name} is a {model.resolution}x{model.resolution} model; "
            f"{expect_resolution}x{expect_resolution} is needed here"
        )
    want = {k: v.shape for k, v in model.state_dict().items()}
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (first: {extra[0]})")
        raise CheckpointError(f"{path.name} does not fit its architecture: " + ", ".join(parts))
    for k, shape in want.items():
        if tuple(tensors[k].shape) != tuple(shape):
            raise CheckpointError(
                f"{path.name}: tensor {k} has shape {tuple(tensors[k].shape)}, "
                f"the architecture needs {tuple(shape)}"
            )
    for prefix, net in model._parts():
        if net is None:
            continue
        sub = {
            k[len(prefix) + 1 :]: (v.float() if v.is_floating_point() else v)
            for k, v in tensors.items()
            if k.startswith(prefix + ".")
        }
        if prefix == "P":
            net.load_shipped_state_dict(sub)
        else:
            net.load_state_dict(sub)
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path.name}: tensor {k} holds NaN or infinite values")
    model.path, model.sha256 = path, digest
    return model.eval_mode().to(device)
