"""A training burst on a borrowed GPU: what travels there, and what comes back.

Why a module: a GPU slot is minutes long and what travels is small (a 64 MiB copy with the
working tree, at most 16 MiB per returned file, no package index there). The patch set
(87 MB compressed for mini-MIAS film-only) and the full training state (104 MB: fp32 G,
G_ema, D and Adam's moments) do not fit. What does: the training films resampled to the
patch spacing as lossless WebP (12 MB for the 258 mini-MIAS training films) and the
networks in fp16 without optimiser moments (G, G_ema, the projected discriminator's
trainable parts, and the StyleGAN2 discriminator D: unused by a projected run, but the
encoder's and Eq. 4's perceptual features come from it, so it must come back unchanged:
31 MB). The patches are cut again there by the same `cut_patches`, more of them per film
since a GPU sees many more images per minute; Adam starts fresh there and again at home
(beta2 0.99 refills its moments within a few hundred steps).

The encoder can follow in the same slot or alone: `pack --encoder` adds the encoder to start
from (a model file's, or an encoder run's for this generator), and only E comes back.
An encoder-only pack leaves G and P behind (`--parts G_ema,D`): the generator is rebuilt
there without the projected discriminator, so the feature network's wheel need not travel.

    python -m stimstudio.train.burst pack RUN_DIR FILMS MANIFEST PACK   (here)
    python -m stimstudio.train.burst patches PACK OUT.npz                (there)
    python -m stimstudio.train.burst state PACK RUN_DIR --data OUT.npz   (there: GAN)
    python -m stimstudio.train.burst gan-model PACK MODEL.safetensors    (there: no GAN)
    python -m stimstudio.train.burst encoder-state PACK RUN_DIR --weights MODEL --data OUT.npz
    python -m stimstudio.train.burst export STATE.pt OUT TAG             (there)
    python -m stimstudio.train.burst export-model MODEL STATE.pt OUT TAG (there: a kept snapshot)
    python -m stimstudio.train.burst unpack PREFIX RUN_DIR --data X.npz  (here)
    python -m stimstudio.train.burst unpack-encoder PREFIX RUN_DIR --weights MODEL --data X.npz

`scripts/gpu_burst.sh` runs the middle ones with `train gan` / `train encoder` between them.
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
NETWORKS = ("G_ema", "G", "P", "D")
COUNTERS = ("step", "nimg", "train_seconds", "cpu_seconds", "pl_mean")
ENCODER = "encoder"  # PACK/encoder-E.safetensors


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
    return _save_pieces(st, out, tag, parts)


def _save_pieces(st: dict, out: str | Path, tag: str, parts) -> list:
    meta = {"meta": json.dumps({**{k: st[k] for k in COUNTERS if k in st}, "config": st["config"]})}
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


def export_model(model: str | Path, state_path: str | Path, out: str | Path, tag: str) -> Path:
    """A G_ema piece from a snapshot's model file (`train gan --keep-snapshots`, the one
    `train select` chose), with the run's configuration and counters from its state and the
    snapshot's own image count, so that `unpack` restores it like a state's G_ema."""
    from ..core.model import load_model

    st = torch.load(state_path, map_location="cpu", weights_only=False)
    m = load_model(model)
    g = m.G.state_dict()
    if set(g) != set(st["G_ema"]) or any(g[k].shape != v.shape for k, v in st["G_ema"].items()):
        raise CheckpointError(f"{Path(model).name} is not a snapshot of this run's generator")
    kimg = (m.card or {}).get("kimg")
    if kimg is None:
        raise CheckpointError(f"{Path(model).name} records no kimg (not a training snapshot)")
    st = {**st, "G_ema": g, "nimg": int(round(float(kimg) * 1000))}
    return _save_pieces(st, out, tag, ("G_ema",))[0]


def _piece(prefix: str, part: str) -> Path:
    return Path(f"{prefix}-{part}.safetensors")


def f32(path: Path) -> dict:
    return {k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()}


def _meta(path: Path) -> dict:
    with safe_open(str(path), "pt") as f:
        meta = json.loads((f.metadata() or {}).get("meta", "null") or "null")
    if not meta:
        raise CheckpointError(f"{path} carries no training counters (not a burst piece)")
    return meta


def pack_encoder(source: str | Path, pack: str | Path) -> Path:
    """The encoder a burst starts from: an encoder run's (RUN_DIR/state.pt, for this same
    generator: its counters go along) or a model file's (counters start at 0)."""
    source = Path(source)
    if source.is_dir():
        st = torch.load(source / "state.pt", map_location="cpu", weights_only=False)
    else:
        with safe_open(str(source), "pt") as f:
            e = {k[2:]: f.get_tensor(k) for k in f.keys() if k.startswith("E.")}
        if not e:
            raise CheckpointError(f"{source} holds no encoder")
        st = {"E": e, "step": 0, "nimg": 0, "train_seconds": 0.0, "config": {}}
    return _save_pieces(st, pack, ENCODER, ("E",))[0]


def gan_model(pack: str | Path, out: str | Path) -> Path:
    """A model file of the packed generator (G_ema) and D, without the projected
    discriminator: what `train encoder --weights` needs, with no feature network."""
    from ..core.model import Model
    from .gan import GanConfig

    ema = _piece(str(Path(pack) / STATE), "G_ema")
    meta = _meta(ema)
    cfg = GanConfig(**{**meta["config"], "extra": {}})
    m = Model.create(cfg.generator_config(), seed=cfg.seed)
    m.G.load_state_dict(f32(ema))
    d = _piece(str(Path(pack) / STATE), "D")
    if not d.is_file():
        raise CheckpointError(f"{d} is missing: the encoder's perceptual features come from D")
    m.D.load_state_dict(f32(d))
    card = {"kimg": round(meta["nimg"] / 1000, 3), "discriminator": cfg.discriminator}
    return m.save(out, phase="gan", training_seconds=round(meta["train_seconds"], 1), **card)


def encoder_state(
    prefix: str,
    run_dir: str | Path,
    weights: str | Path,
    data: str | Path,
    batch: int | None = None,
    snapshot: bool = False,
):
    """An encoder run's state (fresh Adam, D from the model file) from an E piece, for the
    generator in `weights`; with `snapshot` also its model-encoder.safetensors."""
    from ..core.device import pick_compute
    from .checkpoint import save_state
    from .encoder import EncoderTrainConfig, EncoderTrainer

    e = _piece(prefix, "E")
    if not e.is_file():
        raise CheckpointError(f"{e} is missing: no encoder to start from")
    meta = _meta(e)
    kw = {
        k: v
        for k, v in meta.get("config", {}).items()
        if k in EncoderTrainConfig.__dataclass_fields__
    }
    kw.update(data=str(data), weights=str(weights), run_dir=str(run_dir), precision="fp32")
    kw.update(init_encoder="")
    if batch:
        kw["batch"] = batch
    tr = EncoderTrainer(EncoderTrainConfig(**kw), pick_compute("cpu", "fp32", purpose="training"))
    with torch.no_grad():
        tr.model.E.load_state_dict(f32(e))
        tr.model.E.w_avg.copy_(tr.model.G.w_avg)  # offsets are from this G's w_avg
    tr.step, tr.nimg, tr.train_seconds = meta["step"], meta["nimg"], meta["train_seconds"]
    if snapshot:
        tr.snapshot()
    else:
        save_state(Path(run_dir) / "state.pt", tr.state())
    return tr


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
    the pieces that hold the projected discriminator and D when these do not. With `snapshot`,
    the trainer also writes model-gan.safetensors and a sample grid (for evaluation)."""
    from ..core.device import pick_compute
    from .gan import GanConfig, GanTrainer

    ema = _piece(prefix, "G_ema")
    if not ema.is_file():
        raise CheckpointError(f"{ema} is missing: nothing to restore")
    meta = _meta(ema)
    cfg = dict(meta["config"])
    cfg.update(data=str(data), run_dir=str(run_dir), snapshot_cpu_minutes=0.0, precision="fp32")
    if batch:
        cfg["batch"] = batch
    tr = GanTrainer(GanConfig(**cfg), pick_compute("cpu", "fp32", purpose="training"))

    tr.G_ema.load_state_dict(f32(ema))
    g = _piece(prefix, "G")
    tr.G.load_state_dict(f32(g if g.is_file() else ema))
    if tr.P is not None:
        p = _piece(p_prefix or prefix, "P")
        if not p.is_file():
            raise CheckpointError(f"{p} is missing: the projected discriminator did not come back")
        fresh = tr.P.load_shipped_state_dict(f32(p), new_parts_ok=True)
        if fresh:
            raise CheckpointError(
                f"{p} lacks the {' and '.join(fresh)} discriminator this run was trained with"
            )
    d = next(
        (q for q in (_piece(prefix, "D"), _piece(p_prefix or prefix, "D")) if q.is_file()), None
    )
    if d is None:
        raise CheckpointError(
            f"{_piece(prefix, 'D')} is missing: the encoder's and Eq. 4's perceptual features "
            "come from D, so a generator without it cannot be published"
        )
    tr.D.load_state_dict(f32(d))
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
    ap = argparse.ArgumentParser(
        prog="python -m stimstudio.train.burst",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="verb", required=True)
    a = sub.add_parser("pack", help="films + networks of a run, ready to travel")
    a.add_argument("run_dir")
    a.add_argument("films", help="folder of the source mammograms (the manifest's names)")
    a.add_argument("manifest", help="manifest.json of the data set the run trains on")
    a.add_argument("pack")
    a.add_argument("--parts", default=",".join(NETWORKS), help="networks to pack (%(default)s)")
    a.add_argument("--encoder", help="encoder to start from: a model file or an encoder run dir")
    a = sub.add_parser("patches", help="cut a patch file from packed films")
    a.add_argument("pack")
    a.add_argument("out")
    a.add_argument("--tissue", type=int, default=96, help="tissue patches per film (96)")
    a.add_argument("--lesion", type=int, default=48, help="patches per lesion (48)")
    a = sub.add_parser("state", help="a GAN training state from the packed networks")
    a.add_argument("pack")
    a.add_argument("run_dir")
    a.add_argument("--data", required=True)
    a.add_argument("--batch", type=int, default=64)
    a = sub.add_parser("gan-model", help="a model file of the packed G and D (no feature network)")
    a.add_argument("pack")
    a.add_argument("out")
    a = sub.add_parser("encoder-state", help="an encoder run's state from the packed encoder")
    a.add_argument("pack")
    a.add_argument("run_dir")
    a.add_argument("--weights", required=True, help="the generator's model file")
    a.add_argument("--data", required=True)
    a.add_argument("--batch", type=int)
    a = sub.add_parser("export", help="fp16 pieces of a training state")
    a.add_argument("state")
    a.add_argument("out")
    a.add_argument("tag")
    a.add_argument("--parts", default=",".join(NETWORKS), help="(%(default)s; encoder: E)")
    a = sub.add_parser("export-model", help="a G_ema piece from a kept snapshot's model file")
    a.add_argument("model")
    a.add_argument("state", help="the run's state.pt (configuration and counters)")
    a.add_argument("out")
    a.add_argument("tag")
    a = sub.add_parser("unpack", help="a GAN run dir (state.pt, model-gan) from returned pieces")
    a.add_argument("prefix", help="e.g. returned/final (final-G_ema.safetensors, ...)")
    a.add_argument("run_dir")
    a.add_argument("--data", required=True, help="the train.npz the CPU run continues on")
    a.add_argument("--p-prefix", help="pieces holding P when PREFIX has none")
    a.add_argument("--batch", type=int)
    a = sub.add_parser("unpack-encoder", help="an encoder run dir from a returned E piece")
    a.add_argument("prefix", help="e.g. returned/enc (enc-E.safetensors)")
    a.add_argument("run_dir")
    a.add_argument("--weights", required=True, help="the generator's model file here")
    a.add_argument("--data", required=True)
    args = ap.parse_args(argv)
    parts = tuple(p.strip() for p in getattr(args, "parts", "").split(",") if p.strip())
    if args.verb == "pack":
        n = pack_films(args.films, args.manifest, args.pack)
        save_compact(Path(args.run_dir) / "state.pt", args.pack, STATE, parts)
        if args.encoder:
            pack_encoder(args.encoder, args.pack)
        print(f"packed {n} films and the networks of {args.run_dir} into {args.pack}")
    elif args.verb == "patches":
        print(cut_packed(args.pack, args.out, args.tissue, args.lesion))
    elif args.verb == "state":
        tr = restore_state(str(Path(args.pack) / STATE), args.run_dir, args.data, args.batch)
        print(f"state at {tr.nimg / 1000:.1f} kimg, batch {tr.cfg.batch} in {args.run_dir}")
    elif args.verb == "gan-model":
        print(f"generator model {gan_model(args.pack, args.out)}")
    elif args.verb == "encoder-state":
        prefix = str(Path(args.pack) / ENCODER)
        tr = encoder_state(prefix, args.run_dir, args.weights, args.data, args.batch)
        print(f"encoder state at {tr.nimg / 1000:.1f} kimg in {args.run_dir}")
    elif args.verb == "export":
        print(f"exported {[p.name for p in save_compact(args.state, args.out, args.tag, parts)]}")
    elif args.verb == "export-model":
        print(f"exported {export_model(args.model, args.state, args.out, args.tag).name}")
    elif args.verb == "unpack":
        tr = restore_state(
            args.prefix, args.run_dir, args.data, args.batch, args.p_prefix, snapshot=True
        )
        print(f"unpacked {tr.nimg / 1000:.1f} kimg into {args.run_dir}")
    else:
        tr = encoder_state(args.prefix, args.run_dir, args.weights, args.data, snapshot=True)
        print(f"unpacked the encoder at {tr.nimg / 1000:.1f} kimg into {args.run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
