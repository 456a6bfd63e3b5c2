"""The benchmark suite behind `stimstudio bench`: each section returns plain data; `run` takes
every section (or those named) at the chosen sizes (bench/sizes.py), and bench/report.py writes
BENCHMARKS.md from the result. Every ratio is taken against its baseline in the same run.

Not tests: nothing here asserts; goals are reported as met or missed with the numbers. The
test command runs every section at smoke size (tests/test_bench.py) so that none can rot.
The app's sections run in their own interpreter (bench/gui_sections.py): this package, like
the CLI, never imports Qt or the GUI (the import contracts in pyproject.toml).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from stimstudio.core.device import Compute
from stimstudio.core.invert import (
    InversionSettings,
    encode,
    invert,
    perceptual_for,
)
from stimstudio.core.metrics import psnr, ssim
from stimstudio.core.model import Model, load_model
from stimstudio.core.nets import GeneratorConfig
from stimstudio.core.projector import ProjectorSettings, project

from .harness import machine, time_it
from .sizes import FULL, Sizes

CPU32 = Compute(torch.device("cpu"), "fp32")
CPUBF = Compute(torch.device("cpu"), "bf16")


# -- data -------------------------------------------------------------------------------------


def heldout_patches(model: Model, n: int, data: str | None, seed: int = 0):
    """Held-out real patches (split by patient) when a data set is given, else phantoms."""
    if data and Path(data, "heldout.npz").exists():
        from stimstudio.train.dataset import load_patches

        ps = load_patches(Path(data, "heldout.npz"))
        rng = np.random.default_rng(seed)
        tissue = np.nonzero(ps.kind == 0)[0]
        idx = rng.choice(tissue, min(n, len(tissue)), replace=False)
        return ps.as_float(idx)[:, 0], f"held-out mini-MIAS tissue patches ({data})"
    from stimstudio.train.phantoms import phantom_patch_set

    p = phantom_patch_set(n, model.resolution, seed)
    return p.astype(np.float32) / 127.5 - 1, "phantom patches (no data set given)"


# -- 1. inversion quality per second -----------------------------------------------------------


def _curve(records, target, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, PSNR) after each step from a stream of InversionSteps with previews."""
    t, q = [0.0], []
    elapsed = 0.0
    for r in records:
        elapsed += r.ms_per_step / 1000
        if r.preview is not None:
            t.append(elapsed)
            q.append(psnr(r.preview, target, mask))
    return np.asarray(t[1:]), np.asarray(q)


def time_to(target_db: float, seconds: np.ndarray, quality: np.ndarray) -> float | None:
    hit = np.nonzero(quality >= target_db)[0]
    return float(seconds[hit[0]]) if len(hit) else None


def inversion_quality_per_second(
    model: Model,
    patches: np.ndarray,
    ours_steps: int,
    projector_steps: int,
    compute=CPU32,
    w_avg_samples: int = 2000,
) -> dict:
    F = perceptual_for(model)
    rows = []
    for i, x in enumerate(patches):
        t0 = time.perf_counter()
        w0 = encode(model, x, compute)[0].cpu().numpy()
        enc_s = time.perf_counter() - t0
        s = InversionSettings(steps=ours_steps, preview_every=1)
        ts, qs = _curve(invert(model, x, None, s, w0, compute, F), x)
        ts = ts + enc_s
        ps = ProjectorSettings(steps=projector_steps, preview_every=1, w_avg_samples=w_avg_samples)
        tp, qp = _curve(project(model, x, None, ps, compute, F), x)
        target = min(qs.max(), qp.max()) - 0.05  # a quality both reach
        t_ours, t_proj = time_to(target, ts, qs), time_to(target, tp, qp)
        rows.append(
            {
                "patch": i,
                "target_psnr": float(target),
                "ours_final_psnr": float(qs[-1]),
                "projector_final_psnr": float(qp[-1]),
                "ours_seconds_to_target": t_ours,
                "projector_seconds_to_target": t_proj,
                "speedup": (t_proj / t_ours) if t_ours and t_proj else None,
                "curve_ours": [ts.tolist()[::5], qs.tolist()[::5]],
                "curve_projector": [tp.tolist()[::20], qp.tolist()[::20]],
            }
        )
    sp = [r["speedup"] for r in rows if r["speedup"]]
    return {
        "rows": rows,
        "median_speedup": float(np.median(sp)) if sp else None,
        "goal": "ours >= 5x faster than the projector to equal PSNR",
        "met": bool(sp) and float(np.median(sp)) >= 5,
    }


def masked_vs_diffuse(model: Model, patches: np.ndarray, steps: int, compute=CPU32) -> dict:
    """Masked case: Eq. 4 with the encoder term vs idinvert's 'diffuse' recipe (square mask,
    no encoder term), both from the encoder's code of the stitched composite; quality inside
    the mask against the pasted texture and SSIM of the whole image."""
    from stimstudio.core.compose import Mask, Placement, place, stitch

    F = perceptual_for(model)
    R = model.resolution
    rows = []
    for i in range(0, len(patches) - 1, 2):
        tex, tmpl = patches[i], patches[i + 1]
        yy, xx = np.mgrid[:R, :R]
        disk = ((yy - R / 2) ** 2 + (xx - R / 2) ** 2) < (R / 5) ** 2
        mask = Mask.from_array(disk, feather=2.0)
        tex_p, soft = place(tex, mask, Placement(), (R, R))
        comp = stitch(tmpl, tex_p, soft)
        w0 = encode(model, comp, compute)[0].cpu().numpy()
        out = {}
        square = np.zeros((R, R), np.float32)
        r = int(R / 5) + 2
        square[R // 2 - r : R // 2 + r, R // 2 - r : R // 2 + r] = 1
        for name, m, lam in (("ours", soft, 2.0), ("diffuse", square, 0.0)):
            s = InversionSettings(steps=steps, lambda_encoder=lam, preview_every=steps)
            t0 = time.perf_counter()
            last = list(invert(model, comp, m, s, w0, compute, F))[-1]
            secs = time.perf_counter() - t0
            img = last.preview
            out[name] = {
                "psnr_in_mask": psnr(img, tex_p, soft),
                "ssim_whole_vs_composite": ssim(img, comp),
                "seconds": secs,
            }
        rows.append(out)
    agg = {
        name: {k: float(np.median([r[name][k] for r in rows])) for k in rows[0][name]}
        for name in ("ours", "diffuse")
    }
    return {"pairs": len(rows), "median": agg}


# -- 1c. style mixing vs masked optimisation (issue 9) -----------------------------------------


def lesion_pairs(model: Model, n: int, data: str | None, seed: int = 0):
    """(lesion patch, its mask, tissue patch of another film) from the held-out split."""
    from stimstudio.train.dataset import load_patches

    if not (data and Path(data, "heldout.npz").exists()):
        return []
    ps = load_patches(Path(data, "heldout.npz"))
    rng = np.random.default_rng(seed)
    lesions = rng.permutation(np.nonzero((ps.kind == 1) & (ps.masks.sum((1, 2)) > 50))[0])
    tissue = np.nonzero(ps.kind == 0)[0]
    pairs = []
    for i in lesions[:n]:
        others = tissue[ps.film[tissue] != ps.film[i]]
        j = rng.choice(others)
        pairs.append((ps.as_float([i])[0, 0], ps.masks[i], ps.as_float([j])[0, 0]))
    return pairs


def stylemix_vs_optimisation(model: Model, data: str | None, n: int, steps: int) -> dict:
    from stimstudio.core.compose import Composite, Mask, Placement, compose

    rows = []
    for tex, lmask, tmpl in lesion_pairs(model, n, data):
        t0 = time.perf_counter()
        comp, marks = None, {}
        for rec in compose(
            model,
            tex,
            tmpl,
            Mask.from_array(lmask, feather=2.0),
            Placement(),
            InversionSettings(steps=steps, preview_every=0),
            stylemix_optimize=True,
        ):
            if isinstance(rec, Composite):
                comp = rec
            elif rec.done:
                marks.setdefault("first_done", time.perf_counter() - t0)
        total = time.perf_counter() - t0
        row = {
            m: dict(comp.metrics[m]) for m in ("optimized", "stylemix", "stylemix+opt", "stitch")
        }
        row["optimized"]["seconds"] = marks.get("first_done")
        row["stylemix"]["seconds"] = (
            0.0  # one encoder pass + one G forward on top of compose's encode
        )
        row["stylemix+opt"]["seconds"] = total - marks.get("first_done", 0.0)
        rows.append(row)
    if not rows:
        return {"note": "needs --data with held-out lesion patches"}
    agg = {
        m: {
            k: float(np.median([r[m][k] for r in rows]))
            for k in rows[0][m]
            if rows[0][m][k] is not None
        }
        for m in rows[0]
    }
    return {"pairs": len(rows), "steps": steps, "median": agg}


# -- 2. step throughput ------------------------------------------------------------------------


def step_throughput(model: Model, x: np.ndarray, steps: int = 12, repeats: int = 3) -> dict:
    out = {}
    per = steps + 1  # the records of a run: its start and each step
    for name, compute in (("cpu fp32", CPU32), ("cpu bf16", CPUBF)):
        s = InversionSettings(steps=steps, preview_every=0)
        w0 = encode(model, x, compute)[0].cpu().numpy()

        def run(s=s, w0=w0, compute=compute):
            for _ in invert(model, x, None, s, w0, compute):
                pass

        t = time_it(run, repeats=repeats, warmup=1)
        out[name] = {
            "ms_per_step": t.median_ms / per,
            "steps_per_second": per * 1000 / t.median_ms,
        }
    if torch.cuda.is_available():
        m = load_model(model.path, device="cuda") if model.path else None
        if m is not None:
            cu = Compute(torch.device("cuda"), "fp32")
            w0 = encode(m, x, cu)[0].cpu().numpy()
            s = InversionSettings(steps=steps, preview_every=0)
            t = time_it(lambda: list(invert(m, x, None, s, w0, cu)), repeats=repeats, warmup=1)
            out["cuda fp32"] = {
                "ms_per_step": t.median_ms / per,
                "steps_per_second": per * 1000 / t.median_ms,
            }
    base = out["cpu fp32"]["ms_per_step"]
    for v in out.values():
        v["speedup_vs_cpu_fp32"] = base / v["ms_per_step"]
    return out


# -- 3. scrubbing (core part) ------------------------------------------------------------------


def scrubbing(model: Model, repeats: int = 15, cache_size: int = 32) -> dict:
    """Uncached frame = one G forward at the model resolution; cached = an LRU hit."""
    from collections import OrderedDict

    from stimstudio.core.generate import latent_for_seed
    from stimstudio.core.invert import synthesize

    a = latent_for_seed(model, 1).wplus
    b = latent_for_seed(model, 2).wplus
    ts = iter(np.linspace(0, 1, 10_000))

    def uncached():
        t = next(ts)
        synthesize(model, a + (b - a) * t)

    unc = time_it(uncached, repeats=repeats, warmup=min(3, repeats))
    cache: OrderedDict = OrderedDict()
    for i in range(cache_size):
        cache[i] = synthesize(model, a + (b - a) * (i / max(cache_size - 1, 1)))[0]

    def cached():
        k = cache_size // 2
        img = cache.pop(k)
        cache[k] = img
        np.ascontiguousarray(((img + 1) * 127.5).clip(0, 255).astype(np.uint8))

    c = time_it(cached, repeats=max(50 * repeats // 15, 1), warmup=min(5, repeats))
    return {
        "uncached_ms": unc.to_dict(),
        "cached_ms": c.to_dict(),
        "goals": "cached <= 16 ms, uncached <= 40 ms (CPU, 128 px)",
        "met": unc.median_ms <= 40 and c.median_ms <= 16,
    }


# -- 5. readers --------------------------------------------------------------------------------


def readers(
    tmp: Path, dicom: tuple[int, int] = (4600, 3100), pgm_side: int = 1024, repeats: int = 3
) -> dict:
    from PIL import Image

    from stimstudio.core.readers import read_mammogram

    out = {}
    dcm = tmp / "big.dcm"
    rows, cols = dicom
    _write_big_dicom(dcm, rows, cols)
    pgm = Path.home() / ".cache/stimstudio/mini-mias/mdb001.pgm"
    if not pgm.exists() or pgm_side != 1024:
        pgm = tmp / "mdb001.pgm"
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (pgm_side, pgm_side), np.uint8)).save(pgm)
    for name, path, nbytes in (
        (f"DICOM {rows}x{cols} 16-bit", dcm, rows * cols * 2),
        (f"mini-MIAS PGM {pgm_side}x{pgm_side} 8-bit", pgm, pgm_side**2),
    ):
        t = time_it(lambda p=path: read_mammogram(p), repeats=repeats, warmup=1)
        tracemalloc.start()
        read_mammogram(path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[name] = {
            "time": t.to_dict(),
            "peak_bytes": peak,
            "image_bytes": nbytes,
            "peak_over_image": peak / nbytes,
            "goal": "peak <= 3x the image's bytes",
            "met": peak <= 3 * nbytes,
        }
    return out


def _write_big_dicom(path: Path, rows: int, cols: int) -> None:
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality = "MG"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 14, 13
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelSpacing = [0.07, 0.07]
    ds.WindowCenter, ds.WindowWidth = 8000, 12000
    yy, xx = np.mgrid[:rows, :cols]
    img = (8000 + 4000 * np.sin(xx / 200.0) * np.cos(yy / 300.0)).astype(np.uint16)
    ds.PixelData = img.tobytes()
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)


# -- 6. export -------------------------------------------------------------------------------


def export_loop(model: Model, frames: int = 147) -> dict:
    """A 3-anchor loop of `frames` frames, latent spacing, PNG + manifest + conditions file."""
    import tempfile

    from stimstudio.core.export import ExportSettings, export
    from stimstudio.core.generate import latent_for_seed
    from stimstudio.core.interpolate import Anchor, Continuum

    anchors = [Anchor(f"seed{s}", latent_for_seed(model, s)) for s in (1, 2, 3)]
    path = Continuum(anchors, frames=frames, loop=True, spacing="latent")
    out = {}
    for name, st in (
        ("png only", ExportSettings(formats=("png",), preview=None, contact_sheet=False)),
        ("png + tiff + dicom + gif + sheet", ExportSettings(formats=("png", "tiff", "dicom"))),
    ):
        d = Path(tempfile.mkdtemp()) / "export"
        t0 = time.perf_counter()
        export(path, model, d, st)
        secs = time.perf_counter() - t0
        out[name] = {
            "frames": frames,
            "seconds": round(secs, 2),
            "frames_per_second": frames / secs,
        }
    return out


# -- 7. scaling --------------------------------------------------------------------------------


def scaling(
    resolutions=(64, 128, 256), batches=(1, 4, 8), steps: int = 4, repeats: int = 3
) -> dict:
    """Eq. 4 steps of random nets at each resolution; G forwards by batch at 128 px (or the
    largest resolution below it that was asked for)."""
    batch_res = max([r for r in resolutions if r <= 128] or [min(resolutions)])
    out = {"resolution": {}, "batch": {}, "batch_resolution": batch_res}
    for res in resolutions:
        torch.manual_seed(0)
        m = Model.create(GeneratorConfig(resolution=res))
        x = np.zeros((res, res), np.float32)
        s = InversionSettings(steps=steps, preview_every=0)

        def run(m=m, x=x, s=s):
            for _ in invert(m, x, None, s):
                pass

        t = time_it(run, repeats=repeats, warmup=1)
        out["resolution"][res] = {"ms_per_step": t.median_ms / (steps + 1)}
    torch.manual_seed(0)
    m = Model.create(GeneratorConfig(resolution=batch_res))
    for batch in batches:
        ws = m.G.map(torch.randn(batch, m.G.z_dim)).detach()

        def fwd(ws=ws):
            with torch.no_grad():
                m.G.synthesize(ws)

        t = time_it(fwd, repeats=repeats + 2, warmup=1)
        out["batch"][batch] = {"ms_per_batch": t.median_ms, "ms_per_image": t.median_ms / batch}
    return out


# -- driver ------------------------------------------------------------------------------------


def _plan(model: Model, data: str | None, z: Sizes) -> tuple[dict[str, Callable[[], dict]], str]:
    """Every section as a call at sizes `z`, and what the patches are."""
    import tempfile

    from . import cli_sections, grown_sections, gui_sections, train_sections

    patches, note = heldout_patches(model, z.patches, data)
    plan = {
        "inversion": lambda: inversion_quality_per_second(
            model, patches, z.inversion_steps, z.projector_steps, CPU32, z.w_avg_samples
        ),
        "masked": lambda: masked_vs_diffuse(model, patches, z.masked_steps),
        "stylemix": lambda: stylemix_vs_optimisation(
            model, data, z.stylemix_pairs, z.stylemix_steps
        ),
        "throughput": lambda: step_throughput(model, patches[0], z.throughput_steps, z.repeats),
        "scrubbing": lambda: scrubbing(model, z.scrub_repeats, z.scrub_cache),
        "readers": lambda: readers(Path(tempfile.mkdtemp()), z.dicom, z.pgm, z.repeats),
        "export": lambda: export_loop(model, z.export_frames),
        "scaling": lambda: scaling(
            z.scaling_resolutions, z.scaling_batches, z.scaling_steps, z.repeats
        ),
        "gui_scrubbing": lambda: gui_sections.run(model, "gui_scrubbing", z),
        "responsiveness": lambda: gui_sections.run(model, "responsiveness", z),
        "cli_startup": lambda: cli_sections.cli_startup(z),
        "precision": lambda: cli_sections.precision(model, z),
        "training_step": lambda: train_sections.training_step(z),
        "grown": lambda: grown_sections.grown_resolution(model, z),
    }
    return plan, note


SECTION_NAMES = (
    "inversion",
    "masked",
    "stylemix",
    "throughput",
    "scrubbing",
    "readers",
    "export",
    "scaling",
    "gui_scrubbing",
    "responsiveness",
    "cli_startup",
    "precision",
    "training_step",
    "grown",
)


def run(
    weights: str | None = None,
    data: str | None = None,
    sizes: Sizes = FULL,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the sections (all, or those in `only`) and return the report's data."""
    unknown = sorted(set(only or ()) - set(SECTION_NAMES))
    if unknown:
        from stimstudio.core.errors import OptionError

        raise OptionError(
            f"unknown bench section {unknown[0]!r}; choose from {', '.join(SECTION_NAMES)}"
        )
    model = load_model(weights)
    plan, patch_note = _plan(model, data, sizes)
    report = {"machine": machine(), "model": model.name, "model_kimg": model.card.get("kimg")}
    report["patches"] = patch_note
    report["sizes"] = sizes.name
    for name in SECTION_NAMES:
        if only and name not in only:
            continue
        if progress:
            progress(name)
        t0 = time.perf_counter()
        report[name] = plan[name]()
        report[name + "_seconds"] = round(time.perf_counter() - t0, 1)
    return report


def save_json(report: dict, path: Path) -> None:
    from stimstudio.core.model import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(report, indent=2, default=str).encode())
