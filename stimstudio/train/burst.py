"""A training burst on a borrowed GPU: what travels there, and what comes back.

Why a module: a GPU slot is minutes long and what travels is small (a 64 MiB copy with the
working tree, at most 16 MiB per returned file, no package index there). The patch set
(87 MB compressed for mini-MIAS film-only) and the full training state (104 MB: fp32 G,
G_ema, D and Adam's moments) do not fit. What does: the training films resampled to the
patch spacing as lossless WebP (12 MB for the 258 mini-MIAS training films) and the
networks in fp16 without optimiser moments (G, G_ema and the projected discriminator's
trainable parts, 21 MB). The patches are cut again there by the same `cut_patches`, more
of them per film since a GPU sees many more images per minute; Adam starts fresh there and
again at home (beta2 0.99 refills its moments within a few hundred steps).

    python -m stimstudio.train.burst pack RUN_DIR FILMS MANIFEST PACK   (here)
    python -m stimstudio.train.burst patches PACK OUT.npz                (there)
    python -m stimstudio.train.burst state PACK RUN_DIR --data OUT.npz   (there)
    python -m stimstudio.train.burst export STATE.pt OUT TAG             (there)
    python -m stimstudio.train.burst unpack PREFIX RUN_DIR --data X.npz  (here)

`scripts/gpu_burst.sh` runs the middle three with `train gan` between them.
"""

from __future__ import annotations

import argparse
import json
import os
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..core.errors import CheckpointError, DatasetError
from ..core.mammogram import Lesion, Mammogram
from ..core.readers import read_mammogram
from .dataset import PatchRecipe, _rescaled, cut_patches

FILMS = "films"
LESIONS = "lesions.json"
STATE = "state"  # PACK/state-G_ema.safetensors, state-G..., state-P...
NETWORKS = ("G_ema", "G", "P")
COUNTERS = ("step", "nimg", "train_seconds", "cpu_seconds", "pl_mean")


def _find(source: Path, name: str) -> Path:
    direct = source / name
    if direct.is_file():
        return direct
    hits = sorted(source.rglob(name))
    if not hits:
        raise DatasetError(f"{name} (named in the manifest) is not under {source}")
    return hits[0]


def pack_films(source: str | Path, manifest: str | Path, out: str | Path, split="train") -> int:
    """The manifest's `split` films at the recipe's spacing, lossless, with their lesions.

    Stored as uint8: the patches are uint8 too, so rounding once here instead of once per
    patch changes a patch by at most one grey level."""
    man = json.loads(Path(manifest).read_text())
    spacing = float(man["recipe"]["spacing_mm"])
    out = Path(out)
    (out / FILMS).mkdir(parents=True, exist_ok=True)
    lesions = {}
    for name in man["films"][split]:
        m = read_mammogram(_find(Path(source), name))
        img, f = _rescaled(m, spacing)
        u8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
        ok, buf = cv2.imencode(".webp", u8, [cv2.IMWRITE_WEBP_QUALITY, 101])  # >100: lossless
        if not ok:
            raise DatasetError(f"could not encode {name} as WebP")
        (out / FILMS / f"{Path(name).stem}.webp").write_bytes(buf.tobytes())
        lesions[name] = [
            {
                "kind": le.kind,
                "center": [le.center[0] * f, le.center[1] * f],
                "radius": le.radius * f,
            }
            for le in m.lesions
            if le.center is not None and le.radius is not None
        ]
    (out / LESIONS).write_text(
        json.dumps({"spacing_mm": spacing, "recipe": man["recipe"], "lesions": lesions})
    )
    return len(lesions)


def _cut_one(args) -> list:
    pack, name, i, info, tissue, lesion = args
    u8 = cv2.imread(str(Path(pack) / FILMS / f"{Path(name).stem}.webp"), cv2.IMREAD_GRAYSCALE)
    if u8 is None:
        raise DatasetError(f"{name}: the packed film is missing or unreadable")
    spacing = info["spacing_mm"]
    m = Mammogram(
        pixels=u8.astype(np.float32) / 255,
        spacing_mm=(spacing, spacing),
        lesions=[
            Lesion(kind=le["kind"], center=tuple(le["center"]), radius=le["radius"])
            for le in info["lesions"][name]
        ],
    )
    keep = {k: v for k, v in info["recipe"].items() if k in PatchRecipe.__dataclass_fields__}
    recipe = PatchRecipe(**{**keep, "tissue_per_image": tissue, "lesion_per_lesion": lesion})
    res = recipe.resolution
    return [
        (
            np.round(np.clip(p, 0, 1) * 255).astype(np.uint8),
            kind,
            np.zeros((res, res), bool) if lm is None else lm,
        )
        for p, kind, lm in cut_patches(m, recipe, np.random.default_rng([recipe.seed, 7, i]))
    ]


def cut_packed(
    pack: str | Path, out_npz: str | Path, tissue: int = 96, lesion: int = 48, workers: int = 0
) -> dict:
    """A patch file (the `dataset build` format) cut from packed films, one process per core."""
    info = json.loads((Path(pack) / LESIONS).read_text())
    names = sorted(info["lesions"])
    jobs = [(str(pack), n, i, info, tissue, lesion) for i, n in enumerate(names)]
    with Pool(workers or os.cpu_count() or 1) as pool:
        cuts = pool.map(_cut_one, jobs)
    rows = [(p, k, i, lm) for i, film in enumerate(cuts) for p, k, lm in film]
    if not rows:
        raise DatasetError(f"no patches could be cut from the films in {pack}")
    patches, kind, film, masks = zip(*rows)
    np.savez(
        out_npz,
        patches=np.stack(patches),
        kind=np.asarray(kind, np.uint8),
        film=np.asarray(film, np.int32),
        masks=np.packbits(np.stack(masks), axis=-1),
    )
    return {"patches": len(rows), "lesion": int(np.sum(kind)), "films": len(names)}


def save_compact(state_path: str | Path, out: str | Path, tag: str, parts=NETWORKS) -> list:
    """fp16 pieces of a GAN training state, one file per network (each under 16 MB for
    the 128-px model), the counters and configuration in each file's metadata."""
    st = torch.load(state_path, map_location="cpu", weights_only=False)
    meta = {"meta": json.dumps({**{k: st[k] for k in COUNTERS}, "config": st["config"]})}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for part in parts:
        if st.get(part) is None:
            continue
        tensors = {
            k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in st[part].items()
        }
        tmp = out / f".{tag}-{part}.part"
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, out / f"{tag}-{part}.safetensors")
        written.append(out / f"{tag}-{part}.safetensors")
    return written


def _piece(prefix: str, part: str) -> Path:
    return Path(f"{prefix}-{part}.safetensors")


def restore_state(
    prefix: str,
    run_dir: str | Path,
    data: str | Path,
    batch: int | None = None,
    p_prefix: str | None = None,
    snapshot: bool = False,
):
    """A full training state (fp32, fresh Adam) in RUN_DIR/state.pt from fp16 pieces.

    G_ema stands in for G when only G_ema came back (a mid-burst export); `p_prefix` names
    the pieces that hold the projected discriminator when these do not. With `snapshot`,
    the trainer also writes model-gan.safetensors and a sample grid (for evaluation)."""
    from ..core.device import pick_compute
    from .gan import GanConfig, GanTrainer

    ema = _piece(prefix, "G_ema")
    if not ema.is_file():
        raise CheckpointError(f"{ema} is missing: nothing to restore")
    with safe_open(str(ema), "pt") as f:
        meta = json.loads((f.metadata() or {}).get("meta", "null") or "null")
    if not meta:
        raise CheckpointError(f"{ema} carries no training counters (not a burst piece)")
    cfg = dict(meta["config"])
    cfg.update(data=str(data), run_dir=str(run_dir), snapshot_cpu_minutes=0.0, precision="fp32")
    if batch:
        cfg["batch"] = batch
    tr = GanTrainer(GanConfig(**cfg), pick_compute("cpu", "fp32", purpose="training"))

    def f32(path: Path) -> dict:
        return {k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()}

    tr.G_ema.load_state_dict(f32(ema))
    g = _piece(prefix, "G")
    tr.G.load_state_dict(f32(g if g.is_file() else ema))
    if tr.P is not None:
        p = _piece(p_prefix or prefix, "P")
        if not p.is_file():
            raise CheckpointError(f"{p} is missing: the projected discriminator did not come back")
        if tr.P.load_shipped_state_dict(f32(p), new_pixel_ok=False):
            raise CheckpointError(f"{p} lacks the pixel discriminator this run was trained with")
    tr.step, tr.nimg = meta["step"], meta["nimg"]
    tr.train_seconds, tr.cpu_seconds = meta["train_seconds"], meta["cpu_seconds"]
    tr.pl_mean.fill_(float(meta.get("pl_mean", 0.0)))
    if snapshot:
        tr.snapshot()
    else:
        from .checkpoint import save_state

        save_state(Path(run_dir) / "state.pt", tr.state())
    return tr


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stimstudio.train.burst", description=__doc__)
    sub = ap.add_subparsers(dest="verb", required=True)
    a = sub.add_parser("pack", help="films + networks of a run, ready to travel")
    a.add_argument("run_dir")
    a.add_argument("films", help="folder of the source mammograms (the manifest's names)")
    a.add_argument("manifest", help="manifest.json of the data set the run trains on")
    a.add_argument("pack")
    a = sub.add_parser("patches", help="cut a patch file from packed films")
    a.add_argument("pack")
    a.add_argument("out")
    a.add_argument("--tissue", type=int, default=96, help="tissue patches per film (96)")
    a.add_argument("--lesion", type=int, default=48, help="patches per lesion (48)")
    a = sub.add_parser("state", help="a training state from the packed networks")
    a.add_argument("pack")
    a.add_argument("run_dir")
    a.add_argument("--data", required=True)
    a.add_argument("--batch", type=int, default=64)
    a = sub.add_parser("export", help="fp16 pieces of a training state")
    a.add_argument("state")
    a.add_argument("out")
    a.add_argument("tag")
    a.add_argument("--only-ema", action="store_true", help="G_ema alone (mid-burst exports)")
    a = sub.add_parser("unpack", help="a run dir (state.pt, model-gan) from returned pieces")
    a.add_argument("prefix", help="e.g. returned/final (final-G_ema.safetensors, ...)")
    a.add_argument("run_dir")
    a.add_argument("--data", required=True, help="the train.npz the CPU run continues on")
    a.add_argument("--p-prefix", help="pieces holding P when PREFIX has none")
    a.add_argument("--batch", type=int)
    args = ap.parse_args(argv)
    if args.verb == "pack":
        n = pack_films(args.films, args.manifest, args.pack)
        save_compact(Path(args.run_dir) / "state.pt", args.pack, STATE)
        print(f"packed {n} films and the networks of {args.run_dir} into {args.pack}")
    elif args.verb == "patches":
        print(cut_packed(args.pack, args.out, args.tissue, args.lesion))
    elif args.verb == "state":
        tr = restore_state(str(Path(args.pack) / STATE), args.run_dir, args.data, args.batch)
        print(f"state at {tr.nimg / 1000:.1f} kimg, batch {tr.cfg.batch} in {args.run_dir}")
    elif args.verb == "export":
        parts = ("G_ema",) if args.only_ema else NETWORKS
        print(f"exported {[p.name for p in save_compact(args.state, args.out, args.tag, parts)]}")
    else:
        tr = restore_state(
            args.prefix, args.run_dir, args.data, args.batch, args.p_prefix, snapshot=True
        )
        print(f"unpacked {tr.nimg / 1000:.1f} kimg into {args.run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
