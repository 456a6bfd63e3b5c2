"""W+ latents with provenance, and their file format (`.latent.npz`).

A latent only means something for the model that made it, so the file records the model's
sha256, name, resolution and pixel size (`model` in its metadata) and its shape; giving it to
another model is refused in one sentence that names both, and NaN/inf are refused.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes
from .errors import LatentError
from .orientation import AS_GENERATED, ORIENTATIONS, check_orientation


@dataclass
class Latent:
    """w+ `[num_ws, w_dim]` float32, and where it came from (seed, inversion of a file, ...)."""

    wplus: np.ndarray
    source: dict = field(default_factory=dict)
    model_sha256: str | None = None
    # Per-layer noise maps the latent renders with: a seed's own (core.generate), the noise
    # encoder's or fitted ones of an inversion (core.invert); None = the model's fixed maps.
    # Not part of W+: paths blend them beside w+, a style mix takes each layer's from its source.
    noise: list[np.ndarray] | None = None
    # Which model made it ({name, sha256, resolution, spacing_mm}: Model.tag()); {} for latents
    # saved before it was recorded (their sha256 above still identifies the model).
    model: dict = field(default_factory=dict)
    # The orientation its image is shown in (core.orientation: one of the square's 8
    # symmetries, applied to the rendered image); latents saved before it load as generated.
    orientation: str = AS_GENERATED

    @classmethod
    def of(cls, model, wplus, source: dict | None = None, noise=None) -> Latent:
        """A latent made by `model`, recording which model that was."""
        tag = model.tag() if hasattr(model, "tag") else {}
        return cls(wplus, dict(source or {}), getattr(model, "sha256", None), noise, tag)

    def __post_init__(self):
        self.wplus = np.asarray(self.wplus, dtype=np.float32)
        self.orientation = check_orientation(self.orientation or AS_GENERATED, allow_random=False)
        if self.noise is not None:
            self.noise = [np.asarray(n, dtype=np.float32) for n in self.noise]
            if not all(n.ndim == 2 and np.isfinite(n).all() for n in self.noise):
                raise LatentError("the latent's noise maps must be finite 2-D arrays")
        if self.wplus.ndim != 2:
            raise LatentError(f"a latent must be [num_ws, w_dim], got shape {self.wplus.shape}")
        if not np.isfinite(self.wplus).all():
            raise LatentError("the latent holds NaN or infinite values")

    @property
    def num_ws(self) -> int:
        return self.wplus.shape[0]

    def made_by(self) -> str:
        """The model that made it, in words: 'minimias-256 (256 px, 3f2a…)'."""
        name = self.model.get("name") or "a model"
        res = self.model.get("resolution") or wplus_resolution(self.num_ws)
        sha = f", {self.model_sha256[:8]}…" if self.model_sha256 else ""
        return f"{name} ({res} px{sha})" if res else f"{name}{sha}"

    def check_model(self, model, allow_other_model: bool = False) -> None:
        """Refuse, in one sentence, a latent made by another model: another shape (another
        resolution) always, another sha256 unless `allow_other_model`."""
        here = f"{getattr(model, 'short_name', 'the loaded model')} ({model.resolution} px"
        here += f", {model.sha256[:8]}…)" if model.sha256 else ")"
        if self.wplus.shape != (model.num_ws, model.w_dim):
            raise LatentError(
                f"this latent was made with model {self.made_by()} ({self.wplus.shape[0]} x "
                f"{self.wplus.shape[1]} styles), the loaded model {here} needs {model.num_ws} x "
                f"{model.w_dim}: it belongs to another model"
            )
        made_at = self.model.get("resolution")  # same shape: a detail stage's are its base's
        if made_at and made_at != model.resolution:
            raise LatentError(
                f"this latent was made with model {self.made_by()}, the loaded model {here} "
                f"renders {model.resolution} px: it belongs to another model"
            )
        if (
            not allow_other_model
            and self.model_sha256
            and model.sha256
            and self.model_sha256 != model.sha256
        ):
            raise LatentError(
                f"this latent was made with model {self.made_by()}, the loaded model is {here}: "
                "another model, so its image would be meaningless; load the model that made it"
            )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        buf = io.BytesIO()
        meta = {"source": self.source, "model_sha256": self.model_sha256, "format": "wplus-v1"}
        if self.model:
            meta["model"] = self.model
        if self.orientation != AS_GENERATED:  # files as generated stay as they were
            meta["orientation"] = self.orientation
        maps = {f"noise{i:02d}": n for i, n in enumerate(self.noise or [])}  # optional arrays
        meta_bytes = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        np.savez(buf, wplus=self.wplus, meta=meta_bytes, **maps)
        atomic_write_bytes(path, buf.getvalue())
        return path


def load_latent(path: str | Path) -> Latent:
    path = Path(path)
    if not path.is_file():
        raise LatentError(f"latent file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            wplus = z["wplus"]
            meta = json.loads(bytes(z["meta"]).decode()) if "meta" in z.files else {}
            noise = [z[k] for k in sorted(f for f in z.files if f.startswith("noise"))] or None
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise LatentError(f"{path.name} is not a StimStudio latent file: {exc}") from exc
    if not np.isfinite(wplus).all():
        raise LatentError(f"{path.name} holds NaN or infinite values")
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    orientation = meta.get("orientation", AS_GENERATED)
    if orientation not in ORIENTATIONS:
        raise LatentError(f"{path.name} records an unknown orientation {orientation!r}")
    return Latent(
        wplus, meta.get("source", {}), meta.get("model_sha256"), noise, model, orientation
    )


def wplus_resolution(num_ws: int) -> int | None:
    """The image size of a StyleGAN2 generator with `num_ws` styles (2 log2(res) - 2)."""
    return 2 ** ((num_ws + 2) // 2) if num_ws >= 2 and num_ws % 2 == 0 else None
