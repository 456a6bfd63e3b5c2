"""The records of a design one at a time, as the `.stimproj` file keeps them (plain values)
and as core records: the `Patch` record, and the converters `core.project.Project` reads and
writes its file with (`*_from_record` / `*_record`). No Qt, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .defaults import PLACEMENT_MODES
from .errors import ProjectFileError, StimStudioError

if TYPE_CHECKING:
    from .insertion import Mask, Placement
    from .interpolate import Anchor, Continuum

DEFAULT_FEATHER = 2.0


def _records():
    """The core record classes, imported on first use: none needs torch (the app's window
    holds a project before torch loads, tests/gui/test_window.py), but OpenCV takes a while."""
    from .insertion import Mask, Placement
    from .interpolate import Anchor, Continuum
    from .latent import Latent

    return Mask, Placement, Anchor, Continuum, Latent


# The app's new-project settings of the continuum: core.defaults, as at every entry point

# -- records -----------------------------------------------------------------------------------


@dataclass
class Patch:
    """A square cut from a film, resampled to the model's resolution, values in [-1, 1].

    `source` says where it was cut (file, x, y, size, spacing_mm); `lesion_mask` is the data
    set's annotation inside the square, when it had one (uint8, same shape as `image`).
    """

    image: np.ndarray
    source: dict = field(default_factory=dict)
    lesion_mask: np.ndarray | None = None

    @property
    def resolution(self) -> int:
        return int(self.image.shape[0])


def new_anchor_id(anchors) -> str:
    """The first free id `a<n>` among the given ids (n counts from the number kept + 1)."""
    used = set(anchors)
    i = len(used) + 1
    while f"a{i}" in used:
        i += 1
    return f"a{i}"


# -- one record at a time ---------------------------------------------------------------------

_PLACEMENT_KEYS = ("dx", "dy", "scale", "angle", "contrast")  # numbers; and "mode", a word


def placement_from_record(d: dict) -> Placement:
    """The state's placement dict as a core `Placement` (missing keys: the neutral value; a
    project saved before placement modes existed places by paste, as it did)."""
    Placement = _records()[1]
    neutral = Placement()
    mode = d.get("mode", "paste")
    if mode not in PLACEMENT_MODES:
        raise ProjectFileError(
            f"the placement is damaged: mode {mode!r} is not one of {', '.join(PLACEMENT_MODES)}"
        )
    try:
        nums = {k: float(d.get(k, getattr(neutral, k))) for k in _PLACEMENT_KEYS}
    except (TypeError, ValueError) as exc:
        raise ProjectFileError(f"the placement is damaged: {exc}") from None
    return Placement(**nums, mode=str(mode))


def placement_record(p: Placement) -> dict:
    """A core `Placement` as the state's plain dict (the inverse of `placement_from_record`)."""
    return {**{k: float(getattr(p, k)) for k in _PLACEMENT_KEYS}, "mode": str(p.mode)}


def continuum_from_record(path: dict, anchors: dict[str, Anchor]) -> Continuum:
    """The state's path record ({anchors: ids, frames, loop, method, spacing}) as a core
    `Continuum` through the kept `anchors` (id -> Anchor); ids no longer kept are skipped.
    Not validated: a continuum being designed may have fewer than 2 anchors."""
    Continuum = _records()[3]
    p = _record(path, "path")
    ids = _list(p.get("anchors"), "path anchors")
    try:
        return Continuum(
            [anchors[i] for i in ids if i in anchors],
            frames=int(p["frames"]),
            loop=bool(p["loop"]),
            method=str(p["method"]),
            spacing=str(p["spacing"]),
        )
    except KeyError as exc:
        raise ProjectFileError(f"the continuum has no {exc} setting") from None
    except (TypeError, ValueError) as exc:
        raise ProjectFileError(f"the continuum settings are damaged: {exc}") from None


def mask_from_record(
    rec: dict, texture: Patch | np.ndarray | tuple | None, strict: bool = False
) -> Mask:
    """The state's mask record as a core `Mask` on the texture patch.

    A lasso keeps its polygon; its pixels are filled on the texture's grid. A polygon that no
    longer fits the texture (a patch cut again at another size) raises MaskError when
    `strict` (the mask page checking a new lasso); otherwise it gives an empty mask with the
    polygon kept, so the file still opens and compose says the mask is empty.
    """
    Mask = _records()[0]
    rec = _record(rec, "mask")
    try:
        feather = float(rec.get("feather", DEFAULT_FEATHER))
    except (TypeError, ValueError):
        raise ProjectFileError(
            f"the mask's feather is not a number: {rec.get('feather')!r}"
        ) from None
    if isinstance(texture, Patch):
        shape = texture.image.shape
    elif isinstance(texture, np.ndarray):
        shape = texture.shape
    else:
        shape = tuple(texture) if texture is not None else None
    if rec.get("polygon") is not None:
        try:
            pts = np.asarray(rec["polygon"], np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise ProjectFileError("the mask polygon is not a list of (x, y) points") from None
        if shape is None:  # no texture: the grid the polygon spans
            shape = (
                int(np.ceil(pts[:, 1].max(initial=0))) + 1,
                int(np.ceil(pts[:, 0].max(initial=0))) + 1,
            )
        try:
            return Mask.from_polygon(pts, shape, feather)
        except StimStudioError:
            if strict:
                raise
            return Mask(np.zeros(shape, bool), feather, pts)
    arr = rec.get("array")
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        raise ProjectFileError("the mask has neither a polygon nor a 2-D array")
    return Mask.from_array(arr, feather)


def mask_record(mask: Mask, source: str = "polygon") -> dict:
    """A core `Mask` as the state's record (polygon when lassoed, else the pixels)."""
    if mask.polygon is not None:
        return {
            "polygon": np.asarray(mask.polygon, np.float64).reshape(-1, 2),
            "array": None,
            "feather": float(mask.feather),
            "source": source,
        }
    return {"polygon": None, "array": mask.binary, "feather": float(mask.feather), "source": source}


def anchor_from_record(rec: dict) -> Anchor:
    """A kept anchor of the state as a core `Anchor` (name + `Latent` with provenance)."""
    _, _, Anchor, _, Latent = _records()
    rec = _record(rec, "anchor")
    name = rec.get("name", rec.get("id", "?"))
    kw = {}
    if rec.get("noise") is not None:  # inversions with optimised noise maps
        kw["noise"] = list(rec["noise"])
    kw["orientation"] = rec.get("orientation") or "as-generated"  # older projects: as generated
    try:
        lat = Latent(rec["wplus"], dict(rec.get("source") or {}), rec.get("model_sha256"), **kw)
    except KeyError:
        raise ProjectFileError(f"anchor {name!r} has no latent (wplus)") from None
    except (StimStudioError, TypeError, ValueError) as exc:
        raise ProjectFileError(f"anchor {name!r}: {exc}") from None
    return Anchor(str(name), lat)


def anchor_record(anchor_id: str, anchor: Anchor, image: np.ndarray | None = None) -> dict:
    lat = anchor.latent
    rec = {
        "id": anchor_id,
        "name": anchor.name,
        "wplus": lat.wplus,
        "source": dict(lat.source),
        "model_sha256": lat.model_sha256,
        "image": image,
    }
    if getattr(lat, "noise", None) is not None:
        rec["noise"] = list(lat.noise)
    if getattr(lat, "orientation", "as-generated") != "as-generated":
        rec["orientation"] = lat.orientation
    return rec


def patch_from_record(rec: dict | None, which: str = "patch") -> Patch | None:
    """The state's texture/template record as a `Patch` (None stays None)."""
    return _patch(rec, which)


def _patch(rec, which: str) -> Patch | None:
    if rec is None:
        return None
    rec = _record(rec, which)
    img = rec.get("image")
    if not isinstance(img, np.ndarray) or img.ndim != 2 or img.shape[0] != img.shape[1]:
        raise ProjectFileError(f"the {which} patch has no square image")
    lesion = rec.get("lesion_mask")
    return Patch(img, dict(rec.get("source") or {}), lesion)


def patch_record(p: Patch | None) -> dict | None:
    """A `Patch` as the state's texture/template record (None stays None)."""
    if p is None:
        return None
    rec = {"image": p.image, "resolution": p.resolution, "source": dict(p.source)}
    if p.lesion_mask is not None:
        rec["lesion_mask"] = p.lesion_mask
    return rec


def _anchors(items) -> tuple[dict[str, Anchor], dict[str, np.ndarray]]:
    anchors, images = {}, {}
    for k, rec in enumerate(_list(items, "anchors")):
        rec = _record(rec, f"anchor #{k + 1}")
        aid = str(rec.get("id") or new_anchor_id(anchors))
        if aid in anchors:
            raise ProjectFileError(f"anchor id {aid!r} is used twice")
        anchors[aid] = anchor_from_record(rec)
        if rec.get("image") is not None:
            images[aid] = rec["image"]
    return anchors, images


def _record(v, what: str) -> dict:
    if not isinstance(v, dict):
        raise ProjectFileError(f"the {what} is not a record (got {type(v).__name__})")
    return v


def _list(v, what: str) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ProjectFileError(f"the {what} is not a list (got {type(v).__name__})")
    return v
