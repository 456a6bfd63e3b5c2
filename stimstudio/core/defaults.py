"""The one record of defaults per setting, read by every entry point.

The `interpolate` and `export` verbs, `batch` specs, the app's new projects (core.project) and
the core records themselves (`Continuum`, `ExportSettings`) take their defaults from here, so
the same anchors give the same frames whichever way they are rendered (issue 40). Imports
nothing heavy: the CLI's parsers and the app's window read it at start, before torch.

Frame spacing defaults to "perceptual": equal steps in the model's perceptual features, which is
what psychophysics needs (DESIGN.md, Method notes). The paper's plain lerp stays one setting
away: `--frame-spacing latent` on the command line, `spacing = "latent"` in a batch spec, the
Spacing box in the app.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContinuumDefaults:
    """A continuum's path settings (keys of projects, batch specs and manifests)."""

    frames: int = 30
    loop: bool = False
    method: str = "lerp"  # the interpolation between anchors: lerp | slerp
    spacing: str = "perceptual"  # the frame spacing: latent | perceptual | pixel


@dataclass(frozen=True)
class SeedDefaults:
    """How a `seed:N` anchor (or the app's generator) draws its latent."""

    truncation: float = 1.0  # psi: 1 = none, 0 = w_avg
    cutoff: int | None = None  # truncate only the first N layers (None: all)
    noise: str = "seed"  # core.noise_modes.NOISE_MODES: each seed its own maps
    # core.orientation.ORIENTATION_MODES: "random" turns each seed by one drawn from it, so a
    # set's breast edges run every way as in real films (docs/MODEL.md, "Orientation")
    orientation: str = "random"


@dataclass(frozen=True)
class ExportDefaults:
    """What an export writes (the fields of core.export.ExportSettings that have a default
    a user sees; sizes and paths default to the model's own)."""

    formats: tuple[str, ...] = ("png",)
    bits: int = 8
    resize_filter: str = "area"  # ExportSettings.interpolation (the CLI's --resize-filter)
    preview: str | None = "gif"
    fps: float = 12.0  # the preview's and the app's playback frame rate
    contact_sheet: bool = True
    conditions: bool = True
    latents: str = "inline"


@dataclass(frozen=True)
class PlacementDefaults:
    """How a placed texture goes into the template (core.insertion): `mode` "paste" (the
    paper's stitch of grey levels), "contrast" (the lesion's difference from its own surround,
    added to the template) or "blend" (its gradients inside the outline, the template's levels
    on it: a Poisson blend), and the contrast gain (1 = the lesion's own contrast)."""

    # Not "blend", although a classifier told Compose results of pasted mini-MIAS lesions from
    # real film at 0.76 and of blended ones at 0.67, random samples at 0.63 (issue 37;
    # docs/INVERSION.md, "Composites"): those masks are discs with the lesion's own surround
    # inside; lassoed tight around a mass, a blend takes the template's level at its edge and
    # the mass vanishes (tests/test_insertion.py). So paste stays the default.
    mode: str = "paste"
    contrast: float = 1.0


PLACEMENT_MODES = ("paste", "contrast", "blend")
CONTRAST_RANGE = (0.0, 4.0)  # the contrast gain's allowed values (0: nothing added)


CONTINUUM = ContinuumDefaults()
SEED = SeedDefaults()
EXPORT = ExportDefaults()
PLACEMENT = PlacementDefaults()
