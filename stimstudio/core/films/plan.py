"""Which films, which lesion where: the search set's plan, decided before any file is written.

Everything follows from the spec's seed: the order films are taken in, the places (each film
its own generator, seeded by the set's seed and the film's position, so a place does not depend
on how many films came before it), and the order of the written films (so a file's number does
not tell whether it holds a lesion). A lesion's centre is drawn uniformly from the pixels where
its whole outline lies in the allowed tissue (`breast.allowed_tissue`), its patch inside the
film, and at least `separation_mm` from the outlines already placed in that film.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import OptionError
from ..readers import read_mammogram
from .breast import allowed_tissue, breast_mask, film_spacing
from .insert import footprint


@dataclass
class Placement:
    lesion: int  # index into the spec's lesions
    x: int
    y: int


@dataclass
class PlannedFilm:
    number: int  # 1-based, the written file's number
    source: int  # index into the spec's films
    placements: list[Placement] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return bool(self.placements)


@dataclass
class Plan:
    films: list[PlannedFilm]
    notes: list[str]


def _centres(allowed: np.ndarray, reach: float, lo: float, hi: float, n: float) -> np.ndarray:
    """Where an outline's centre may go: `reach` px from anything not allowed, its patch
    (`lo` px up/left, `hi` down/right) inside the film."""
    room = cv2.distanceTransform(allowed.astype(np.uint8), cv2.DIST_L2, 5) > reach
    h, w = allowed.shape
    edge = np.zeros_like(room)
    y0, x0 = int(np.ceil(lo)), int(np.ceil(lo))
    y1, x1 = int(h - np.ceil(hi)), int(w - np.ceil(hi))
    if y1 > y0 and x1 > x0:
        edge[y0:y1, x0:x1] = True
    return room & edge


def _place_in(mammo, spec, lesions, order: list[int], rng) -> tuple[list[Placement], list[str]]:
    name = Path(mammo.source).name
    spacing = film_spacing(mammo)
    _breast, allowed, notes = allowed_tissue(mammo, spec.skin_mm, spec.keep_away_mm, spec.pectoral)
    taken = np.zeros_like(allowed)
    out = []
    for k, li in enumerate(order):
        les = lesions[li]
        reach, lo, hi, _n = footprint(les, spacing, spec.feather_mm)
        ok = _centres(allowed & ~taken, reach, lo, hi, _n)
        if not ok.any() and k == 0:
            depth = cv2.distanceTransform(allowed.astype(np.uint8), cv2.DIST_L2, 5).max()
            raise OptionError(
                f"lesion {les.name!r} ({2 * reach * spacing:.1f} mm across at {name}'s "
                f"{spacing:g} mm pixels) is larger than the breast of {name} leaves for it "
                f"({2 * depth * spacing:.1f} mm across at most, inside skin_mm "
                f"{spec.skin_mm:g}, without the pectoral muscle and annotated lesions)"
            )
        if not ok.any():
            raise OptionError(
                f"{name} has no room for placement {k + 1} of {len(order)} ({les.name!r}): the "
                f"spec asks for more placements than fit inside its breast (skin_mm "
                f"{spec.skin_mm:g}, keep_away_mm {spec.keep_away_mm:g}, separation_mm "
                f"{spec.separation_mm:g}); ask for fewer or smaller lesions"
            )
        ys, xs = np.nonzero(ok)
        i = int(rng.integers(len(xs)))
        out.append(Placement(li, int(xs[i]), int(ys[i])))
        r = reach + spec.separation_mm / spacing
        cv2.circle(taken.view(np.uint8), (int(xs[i]), int(ys[i])), int(np.ceil(r)), 1, -1)
    return out, [f"{name}: {n}" for n in notes]


def open_film(spec, idx: int):
    """A film of the spec, its pixel size filled in from the spec where the file has none."""
    mammo = read_mammogram(spec.films[idx])
    if mammo.spacing_mm is None and spec.pixel_size_mm is not None:
        mammo.spacing_mm = (spec.pixel_size_mm, spec.pixel_size_mm)
        mammo.notes.append(f"pixel size {spec.pixel_size_mm:g} mm from the spec")
    return mammo


def make_plan(spec, lesions) -> Plan:
    """The plan of a search set (module doc). Films are read here, one at a time; a film that
    is not usable (no breast, too small for a lesion) stops the plan with one OptionError or
    ReaderError, before anything is written."""
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(spec.films))
    need = spec.count if spec.paired else 2 * spec.count
    chosen: list[int] = []
    notes: list[str] = []
    for idx in order:
        if len(chosen) == need:
            break
        if spec.normal_only:
            mammo = open_film(spec, idx)
            if mammo.lesions:
                continue
        chosen.append(int(idx))
    if chosen and len(chosen) < need and spec.reuse_films:
        notes.append(
            f"{len(chosen)} usable films for {need} places in the set: each is used again "
            "(reuse_films), with a lesion at a new place each time"
        )
        chosen = [chosen[i % len(chosen)] for i in range(need)]
    if len(chosen) < need:
        what = "normal films" if spec.normal_only else "films"
        raise OptionError(
            f"the spec asks for {need} {what} ({spec.count} with a lesion and {spec.count} "
            f"without{', the same films' if spec.paired else ''}) but the list has "
            f"{len(chosen)} (reuse_films = true takes films again)"
        )
    with_lesion = chosen[: spec.count]
    without = chosen[: spec.count] if spec.paired else chosen[spec.count :]
    planned: list[PlannedFilm] = []
    n_les = len(spec.lesions)
    k = 0
    for pos, idx in enumerate(with_lesion):
        mammo = open_film(spec, idx)
        wanted = [(k + j) % n_les for j in range(spec.lesions_per_film)]
        k += spec.lesions_per_film
        frng = np.random.default_rng([spec.seed, pos])
        places, film_notes = _place_in(mammo, spec, lesions, wanted, frng)
        notes += film_notes
        planned.append(PlannedFilm(0, idx, places))
    for idx in without:
        mammo = open_film(spec, idx)
        if not breast_mask(mammo.pixels).any():
            allowed_tissue(mammo, spec.skin_mm, spec.keep_away_mm, "none")  # says why
        planned.append(PlannedFilm(0, idx, []))
    numbers = rng.permutation(len(planned)) + 1
    for film, num in zip(planned, numbers):
        film.number = int(num)
    planned.sort(key=lambda f: f.number)
    return Plan(planned, list(dict.fromkeys(notes)))  # a film taken again says it once
