"""`stimstudio insert | searchset`: lesions in whole films (issue 41)."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import UserError, add_common, add_model_options, emit, refuse_existing, tqdm_bar


def register(sub) -> None:
    i = sub.add_parser("insert", help="put a lesion (a compose result) into a film")
    i.add_argument("lesion", help="a compose result folder (optimized.png + mask.png), or an image")
    i.add_argument("film", help="the film to put it in (any readable mammogram)")
    i.add_argument(
        "--at",
        required=True,
        help="'X,Y': the lesion's centre in film pixels; 'original': where its template was "
        "cut from (recorded by compose --template-at or the app)",
    )
    i.add_argument("--mask", help="the lesion's mask image (when LESION is an image)")
    i.add_argument("--method", default="optimized", help="which image of a compose result")
    i.add_argument(
        "--contrast", type=float, default=1.0, metavar="GAIN",
        help="gain of the lesion's contrast against its surround (1 = its own; 0..4)",
    )  # fmt: skip
    i.add_argument(
        "--feather-mm", type=float, default=2.0, metavar="MM",
        help="feather of the lesion's outline in the film (Gaussian sigma; default 2 mm: edges "
        "as busy as natural masses'; docs/FILMS.md)",
    )  # fmt: skip
    i.add_argument("--out", required=True, help="the film file to write (.dcm/.pgm/.png/.tiff)")
    i.add_argument("--mask-out", help="also write the lesion's outline in film pixels (PNG)")
    i.add_argument("--force", action="store_true")
    add_model_options(i)
    add_common(i)
    i.set_defaults(func=cmd_insert)

    s = sub.add_parser(
        "searchset", help="films with and without inserted lesions, truth file and manifest"
    )
    s.add_argument("spec", help="search set spec (.toml or .json; docs/FILMS.md)")
    s.add_argument("--force", action="store_true", help="replace a set made from another spec")
    add_model_options(s)
    add_common(s)
    s.set_defaults(func=cmd_searchset)


def _model(args, weights=None):
    from ..core.device import pick_compute
    from ..core.model import load_model

    compute = pick_compute(args.device or "cpu", args.precision or "fp32")
    return load_model(weights or args.weights, device=compute.device)


def _at(text: str):
    if text == "original":
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--at must be 'X,Y' in film pixels or 'original', got {text!r}") from None
    return x, y


def cmd_insert(args) -> int:
    import hashlib

    from ..core.export.job import _model_spacing
    from ..core.export.settings import DEFAULT_SPACING_MM
    from ..core.films import lesion as L
    from ..core.films.breast import allowed_tissue, film_spacing
    from ..core.films.cut import original_place
    from ..core.films.insert import place
    from ..core.films.save import save_film
    from ..core.films.truth import mask_png
    from ..core.model import atomic_write_bytes
    from ..core.readers import read_mammogram

    out = Path(args.out)
    refuse_existing(out, args.force)
    at = _at(args.at)
    model = _model(args)
    spacing = _model_spacing(model) or DEFAULT_SPACING_MM
    src = Path(args.lesion)
    if src.is_dir():
        les = L.from_result(src, model.resolution, spacing, args.method)
    elif args.mask:
        les = L.from_files(src, args.mask, model.resolution, spacing)
    else:
        raise UserError("an image lesion needs --mask (its outline)")
    mammo = read_mammogram(args.film)
    fmm = film_spacing(mammo)
    _breast, allowed, _notes = allowed_tissue(mammo, 0.0, 0.0, "none")
    if at is None:
        at = original_place(les, mammo)
    placed = place(mammo.pixels, fmm, les, at, args.contrast, args.feather_mm)
    if not (allowed[placed.outline]).all():
        print("stimstudio: warning: part of the lesion lies outside the breast", file=sys.stderr)
    key = hashlib.sha256(f"{args.film}|{args.lesion}|{at}|{args.contrast}".encode()).hexdigest()
    save_film(mammo, placed, out, key)
    if args.mask_out:
        atomic_write_bytes(Path(args.mask_out), mask_png(placed.outline))
    for n in placed.notes:
        print(f"stimstudio: note: {n}", file=sys.stderr)
    result = {
        "out": str(out),
        "x": placed.centre[0],
        "y": placed.centre[1],
        "radius_px": placed.radius_px,
        "radius_mm": placed.radius_mm,
        "contrast": placed.contrast,
        "seam": placed.seam,
        "edge": placed.edge,
        "kept": placed.kept,
        "notes": placed.notes,
    }
    text = (
        f"{les.name} -> {out} at ({placed.centre[0]:.1f}, {placed.centre[1]:.1f}), radius "
        f"{placed.radius_mm:.2f} mm; contrast {placed.contrast:+.3f}, seam {placed.seam:.2f} "
        f"(1 = as busy as the film there)"
    )
    emit(args, result, text)
    return 0


def cmd_searchset(args) -> int:
    from ..core.films.searchset import run_searchset
    from ..core.films.spec import load_spec

    spec = load_spec(args.spec)
    model = _model(args, spec.weights)
    gen = run_searchset(spec, model, force=args.force)
    bar = None
    while True:
        try:
            rec = next(gen)
        except StopIteration as end:
            res = end.value
            break
        if bar is None:
            bar = tqdm_bar(args, total=rec.total, desc="films", unit="film")
        bar.update(1)
    if bar is not None:
        bar.close()
    for n in res.notes:
        print(f"stimstudio: note: {n}", file=sys.stderr)
    n_les = sum(1 for f in res.films if f["lesions"])
    result = {
        "out": str(res.out),
        "films": len(res.films),
        "with_lesion": n_les,
        "written": res.written,
        "kept": res.kept,
        "manifest": str(res.manifest),
        "notes": res.notes,
    }
    text = (
        f"{len(res.films)} films ({n_les} with a lesion) -> {res.out}: truth.csv, "
        f"conditions.csv, manifest.json ({res.written} files written, {res.kept} kept)"
    )
    emit(args, result, text)
    return 0
