"""`stimstudio phantom OUT`: procedural phantoms (power-law / clustered lumpy backgrounds with
optional masses) written as PNGs, with mass masks and a `phantoms.json` manifest."""

from __future__ import annotations

from pathlib import Path

from ..core.atomic import atomic_write_bytes
from .common import UserError, add_common, emit, refuse_existing, tqdm_bar

MASS_CHOICES = ("none", "circumscribed", "lobulated", "spiculated", "random")


def _size(text: str) -> tuple[int, int]:
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
        else:
            w = h = int(text)
    except ValueError:
        raise UserError(f"--size must be N or WIDTHxHEIGHT, not {text!r}") from None
    return h, w


def register(sub) -> None:
    p = sub.add_parser(
        "phantom",
        help="procedural phantoms: 1/f^beta or clustered lumpy backgrounds with masses",
        description="Write procedural mammogram phantoms (PNG, dense = bright) and mass masks.",
    )
    p.add_argument("out", help="output folder (created if missing)")
    p.add_argument("--count", type=int, default=1, help="number of phantoms (default 1)")
    p.add_argument("--size", default="256", help="N (square) or WIDTHxHEIGHT in pixels")
    p.add_argument("--background", choices=("power", "lumpy"), default="power")
    p.add_argument("--beta", type=float, default=3.0, help="power-law exponent (default 3)")
    p.add_argument("--mass", choices=MASS_CHOICES, default="none")
    p.add_argument("--radius", type=float, default=0.12, help="mass radius / shorter side")
    p.add_argument("--contrast", type=float, default=0.15, help="mass peak intensity added")
    p.add_argument("--mean", type=float, default=0.5, help="background mean in [0, 1]")
    p.add_argument("--std", type=float, default=0.12, help="background standard deviation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bits", type=int, choices=(8, 16), default=8, help="PNG bit depth")
    p.add_argument("--prefix", default="phantom", help="file name prefix (default phantom)")
    p.add_argument("--force", action="store_true", help="replace existing files")
    add_common(p)
    p.set_defaults(func=cmd_phantom)


def cmd_phantom(args) -> int:
    # cv2 and numpy (~1 s together here): imported by the command, not by `phantom --help`
    import cv2
    import numpy as np

    from ..core.jsonable import dumps_strict
    from ..train.phantoms import MASS_KINDS, MassSpec, make_phantom, to_uint

    h, w = _size(args.size)
    if not (1 <= args.count <= 100_000):
        raise UserError(f"--count must lie in 1..100000, not {args.count}")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, not {args.seed}")
    prefix = args.prefix
    if not prefix or any(c in prefix for c in '/\\:*?"<>|') or prefix.startswith("."):
        raise UserError(f"--prefix {prefix!r} is not a plain file name")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    names = [f"{prefix}-{i:04d}" for i in range(args.count)]
    with_mask = args.mass != "none"
    targets = [out / f"{n}.png" for n in names]
    if with_mask:
        targets += [out / f"{n}-mask.png" for n in names]
    manifest_path = out / f"{prefix}s.json"
    for t in [*targets, manifest_path]:
        refuse_existing(t, args.force)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror or exc}") from None

    items = []
    bar = tqdm_bar(args, total=args.count, desc="phantoms", unit="img")
    try:
        for i, name in enumerate(names):
            seed_i = [args.seed, i]
            mass = None
            if with_mask:
                kind = args.mass
                if kind == "random":
                    kind = MASS_KINDS[int(np.random.default_rng([args.seed, i, 1]).integers(3))]
                mass = MassSpec(kind=kind, radius=args.radius, contrast=args.contrast)
            ph = make_phantom(
                (h, w),
                seed_i,
                background=args.background,
                beta=args.beta,
                mass=mass,
                mean=args.mean,
                std=args.std,
            )
            png = cv2.imencode(".png", to_uint(ph.image, args.bits))[1].tobytes()
            _write(atomic_write_bytes, out / f"{name}.png", png)
            item = {"image": f"{name}.png", "seed": seed_i, "params": ph.params}
            if with_mask:
                m = cv2.imencode(".png", ph.mask.astype(np.uint8) * 255)[1].tobytes()
                _write(atomic_write_bytes, out / f"{name}-mask.png", m)
                item["mask"] = f"{name}-mask.png"
                item["mask_pixels"] = int(ph.mask.sum())
            items.append(item)
            bar.update(1)
    finally:
        bar.close()
    manifest = {
        "format": "stimstudio-phantoms",
        "version": 1,
        "size": [h, w],
        "background": args.background,
        "beta": args.beta if args.background == "power" else None,
        "mass": args.mass,
        "bits": args.bits,
        "seed": args.seed,
        "dense": "bright",
        "items": items,
    }
    _write(atomic_write_bytes, manifest_path, (dumps_strict(manifest, indent=2) + "\n").encode())
    result = {"out": str(out), "count": len(items), "manifest": str(manifest_path), **manifest}
    text = (
        f"{len(items)} {args.background} phantom(s) {w}x{h}, {args.bits}-bit"
        + (f", mass {args.mass}" if with_mask else "")
        + f" -> {out}"
    )
    emit(args, result, text)
    return 0


def _write(writer, path: Path, data: bytes) -> None:
    try:
        writer(path, data)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
