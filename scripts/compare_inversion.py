"""Eq. 4 on held-out patches: which perceptual F, and whether to optimise the noise maps.

Four arms, {discriminator F, Lite0 F} x {noise fixed, noise optimised}, each starting from the
encoder's w on the same held-out patches with the same seed, as the model card's "after 100
Eq. 4 steps" does. Fidelity is PSNR and the detail metric of `evaluate-model`'s
reconstruction section (its own `_quality`); CPU seconds per step are process time between
the first and the last step (encode and the final render excluded).

    python scripts/compare_inversion.py --n 16 --rows /work/scratch/me/rows.jsonl

Each (patch, arm) is appended to --rows as soon as it is done and skipped when the file
already has it, so a stopped run resumes; --table-only prints the table from the rows (several
files: the shards' rows together). The patches are the ones `evaluate-model` would pick for
--recon-n N (same seed stream), so with --n 8 they are the card's patches. --save-targets
writes them to a small .npz that --targets reads in place of the data folder, and --shard I/K
runs every K-th (patch, arm) job from the I-th, for K processes side by side:

    python scripts/compare_inversion.py --n 32 --save-targets t.npz --table-only --rows x
    for i in $(seq 0 15); do OMP_NUM_THREADS=1 python scripts/compare_inversion.py \
        --targets t.npz --shard $i/16 --rows rows_$i.jsonl & done; wait
    python scripts/compare_inversion.py --table-only --rows rows_*.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ARMS = {
    "discriminator / fixed": ("discriminator", False),
    "discriminator / noise": ("discriminator", True),
    "lite0 / fixed": ("lite0", False),
    "lite0 / noise": ("lite0", True),
}
BASE = "discriminator / fixed"
# The arms' names before issue 40 (one word per feature network): rows files and --arms that
# use them still work, read as the new names.
OLD_ARMS = {"disc / fixed": "discriminator / fixed", "disc / noise": "discriminator / noise"}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pick_patches(data: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The held-out patches `evaluate-model --recon-n n --seed seed` reconstructs."""
    from stimstudio.train.evaluate.data import _select, load_eval_data

    _, held, _ = load_eval_data(data)
    he_idx = _select(held, "all")
    idx = np.sort(np.random.default_rng([seed, 3]).choice(he_idx, min(n, len(he_idx)), False))
    return idx, held.as_float(idx)[:, 0]


def run_arms(args) -> None:
    import torch

    from stimstudio.core.device import Compute
    from stimstudio.core.invert import (
        InversionSettings,
        encode,
        perceptual_for,
        run_inversion,
        synthesize,
    )
    from stimstudio.core.model import load_model
    from stimstudio.train.evaluate.reconstruction import _quality

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    model = load_model(args.model)
    compute = Compute(torch.device("cpu"), "fp32")
    idx, targets = load_targets(args)
    rows_path = Path(args.rows[0])
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["patch"], r["arm"]) for r in read_rows([rows_path])}
    arms = [a for a in ARMS if a in args.arms]
    # arms interleaved per patch: a stopped run still pairs them
    jobs = [(k, arm) for k in range(len(idx)) for arm in arms]
    shard, shards = args.shard
    for k, arm in jobs[shard::shards]:
        i, x = idx[k], targets[k]
        if arm == arms[0] and (int(i), "encoder") not in done:
            w = encode(model, x, compute)[0].cpu().numpy()
            q = _quality(synthesize(model, w, compute)[0], x)
            append(rows_path, {"patch": int(i), "arm": "encoder", **q})
        if (int(i), arm) in done:
            continue
        kind, opt_noise = ARMS[arm]
        s = InversionSettings(
            steps=args.steps,
            preview_every=0,
            seed=args.seed,
            perceptual=kind,
            optimize_noise=opt_noise,
            noise_regularize=args.noise_regularize,
        )
        F = perceptual_for(model, kind=kind)
        marks: dict[int, float] = {}

        def on_step(rec, marks=marks, last=s.steps):
            if rec.step in (0, last):
                marks[rec.step] = time.process_time()

        res = run_inversion(model, x, None, s, compute, F, on_step=on_step)
        cpu = (marks[s.steps] - marks[0]) / max(s.steps, 1)
        row = {"patch": int(i), "arm": arm, **_quality(res.image, x), "cpu_s_per_step": cpu}
        if opt_noise:  # the weight, and the penalty the final maps have (0 = white)
            row["noise_regularize"] = s.noise_regularize
            row["noise_reg_final"] = res.history[-1]["noise_reg"] if s.noise_regularize else None
        append(rows_path, row)
        print(
            f"patch {i} {arm}: {row['psnr']:.2f} dB, detail {row['detail']:.3f}, "
            f"{cpu:.3f} CPU s/step",
            file=sys.stderr,
            flush=True,
        )


def load_targets(args) -> tuple[np.ndarray, np.ndarray]:
    if args.targets:
        with np.load(args.targets) as z:
            return z["idx"], z["targets"]
    return pick_patches(args.data, args.n, args.seed)


def read_rows(paths: list[Path]) -> list[dict]:
    rows = []
    for path in paths:
        if Path(path).is_file():
            text = Path(path).read_text()
            rows += [json.loads(line) for line in text.splitlines() if line.strip()]
    for r in rows:
        r["arm"] = OLD_ARMS.get(r.get("arm"), r.get("arm"))
    return rows


def append(path: Path, row: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def mean_ci(v: np.ndarray) -> tuple[float, float, float]:
    """Mean and its 95 % t interval."""
    from scipy import stats

    if len(v) < 2:
        return float(v.mean()), float("nan"), float("nan")
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    return float(v.mean()), float(lo), float(hi)


def table(rows: list[dict], steps: int) -> str:
    """Markdown: per arm mean [95 % CI] of PSNR and detail, the paired difference from the
    discriminator / fixed-noise arm (t interval over the patches both have), CPU s/step."""
    by: dict[str, dict[int, dict]] = {}
    for r in rows:  # noise arms are labelled with their penalty weight
        arm = r["arm"]
        if r.get("noise_regularize") is not None:
            arm = f"{arm}, weight {r['noise_regularize']:g}"
        by.setdefault(arm, {})[r["patch"]] = r
    # only patches every arm present has reached: the arms stay paired
    common = set.intersection(*(set(v) for v in by.values())) if by else set()
    pts = sorted(common)
    fmt = lambda m: f"{m[0]:.3f} [{m[1]:.3f}, {m[2]:.3f}]"  # noqa: E731
    out = [
        f"{len(pts)} held-out patches, {steps} Eq. 4 steps from the encoder's w; "
        f"mean [95 % t interval]; Δ = paired difference from {BASE}.",
        "",
        "| arm | PSNR dB | Δ PSNR | detail | Δ detail | CPU s/step |",
        "|---|---|---|---|---|---|",
    ]
    order = {a: n for n, a in enumerate(["encoder", *ARMS])}

    def sort_key(arm: str):
        name, _, weight = arm.partition(", weight ")
        return order.get(name, 99), -float(weight or 0)

    for arm in sorted(by, key=sort_key):
        p = np.array([by[arm][i]["psnr"] for i in pts])
        d = np.array([by[arm][i]["detail"] for i in pts])
        if arm in (BASE, "encoder") or BASE not in by:
            dp = dd = "–"
        else:
            dp = fmt(mean_ci(p - np.array([by[BASE][i]["psnr"] for i in pts])))
            dd = fmt(mean_ci(d - np.array([by[BASE][i]["detail"] for i in pts])))
        cpu = [by[arm][i].get("cpu_s_per_step") for i in pts]
        cpu_s = f"{np.mean(cpu):.3f}" if all(c is not None for c in cpu) else "–"
        out.append(f"| {arm} | {fmt(mean_ci(p))} | {dp} | {fmt(mean_ci(d))} | {dd} | {cpu_s} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="weights/stimstudio-minimias-128.safetensors")
    ap.add_argument("--data", default="/work/cache/data128", help="folder of `dataset build`")
    ap.add_argument("--n", type=int, default=16, help="held-out patches")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--noise-regularize",
        type=float,
        default=None,
        help="noise penalty weight (default: InversionSettings')",
    )
    ap.add_argument(
        "--arms",
        nargs="+",
        default=list(ARMS),
        choices=[*ARMS, *OLD_ARMS],
        metavar="ARM",
        help=f"subset of: {', '.join(repr(a) for a in ARMS)}",
    )
    ap.add_argument("--rows", nargs="+", required=True, help="JSON-lines file of per-patch results")
    ap.add_argument("--targets", help=".npz of --save-targets, in place of --data / --n")
    ap.add_argument("--save-targets", help="write the chosen patches (idx, targets) here")
    ap.add_argument("--shard", default="0/1", help="I/K: every K-th job from the I-th")
    ap.add_argument("--table-only", action="store_true", help="print the table from --rows")
    args = ap.parse_args(argv)
    args.arms = [OLD_ARMS.get(a, a) for a in args.arms]
    if args.n < 2 or args.steps < 1:
        ap.error("--n must be >= 2 and --steps >= 1")
    try:
        a, b = (int(v) for v in args.shard.split("/"))
        if not 0 <= a < b:
            raise ValueError
        args.shard = (a, b)
    except ValueError:
        ap.error(f"--shard must look like 3/16, got {args.shard!r}")
    if args.save_targets:
        idx, targets = pick_patches(args.data, args.n, args.seed)
        np.savez_compressed(args.save_targets, idx=idx, targets=targets)
    if args.noise_regularize is None:
        from stimstudio.core.invert import InversionSettings

        args.noise_regularize = InversionSettings().noise_regularize
    if not args.table_only:
        t0 = time.time()
        run_arms(args)
        print(f"wall {time.time() - t0:.0f} s", file=sys.stderr)
    print(
        f"Machine: {cpu_name()}, {os.cpu_count()} CPUs, torch threads "
        f"{os.environ.get('OMP_NUM_THREADS', '?')}, fp32; noise_regularize "
        f"{args.noise_regularize:g}\n"
    )
    print(table(read_rows([Path(r) for r in args.rows]), args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
