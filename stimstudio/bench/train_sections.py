"""Training-step benchmark (issue 14): the two discriminator kinds, same generator, same batch,
and the projected kind trained on 64-px crops (`--crop 64 --full-every 4`).

Each kind runs in a fresh interpreter (so peak memory is its own): the shipped generator's
architecture at 128 px, batch 16, one thread, fp32 unless the machine has native bf16;
a warm-up step, then timed steps. Reported: CPU seconds per step and per kimg, peak resident
memory (goal: under 8 GiB at batch 16), and projected / stylegan2 as a ratio in the same run.
The crop arm always times 4 steps (3 on crops, 1 on whole patches: its real mix), and counts
a crop as one image in its kimg.
The data are phantom patches: the cost of a step does not depend on what the pixels show.
"""

from __future__ import annotations

import json
import subprocess

from .harness import PYTHON, child_env
from .sizes import FULL, Sizes

PEAK_GOAL_GIB = 8.0

CHILD = r"""
import io, json, resource, sys, tempfile, time
import numpy as np, torch
torch.set_num_threads(1)
from stimstudio.core.device import Compute
from stimstudio.train.gan import GanConfig, GanTrainer
from stimstudio.train.phantoms import phantom_patch_set
kind, steps, precision, crop = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
pixel, joint = int(sys.argv[5]), sys.argv[6] == "1"
res, batch, toy = int(sys.argv[7]), int(sys.argv[8]), sys.argv[9] == "1"
tmp = tempfile.mkdtemp()
n = max(4 * batch, 8)
patches = phantom_patch_set(n, res, 0)
masks = np.packbits(np.zeros((n, res, res), bool), axis=-1)
np.savez(f"{tmp}/train.npz", patches=patches, kind=np.zeros(n, np.uint8), film=np.arange(n),
         masks=masks)
small = {} if not toy else {"channel_base": 256, "channel_max": 16, "z_dim": 32,
                            "w_dim": 32, "mapping_layers": 2}  # smoke size only
cfg = GanConfig(data=f"{tmp}/train.npz", run_dir=f"{tmp}/run", batch=batch, precision=precision,
                discriminator=kind, total_kimg=1e9, snapshot_kimg=1e9, crop=crop, full_every=4,
                pixel_channels=pixel, joint_batch=joint, resolution=res, **small)
t = GanTrainer(cfg, Compute(torch.device("cpu"), precision))
t.resume()
it = t.train()
next(it)  # warm-up (first-step allocations)
c0 = time.process_time()
for _ in range(steps):
    next(it)
cpu = (time.process_time() - c0) / steps
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"cpu_s_per_step": cpu, "peak_gib": peak_kib / 2**20}))
"""


# arm: (discriminator, crop, pixel_channels, joint_batch); the last two are the recipe of the
# long run (`--pixel-channels 16`) without and with `--joint-batch`
ARMS = {"stylegan2": ("stylegan2", 0, 0, False), "projected": ("projected", 0, 0, False),
        "projected_crop64": ("projected", 64, 0, False),
        "crop64_pixel16": ("projected", 64, 16, False),
        "crop64_pixel16_joint": ("projected", 64, 16, True)}  # fmt: skip


def _one(
    kind: str,
    steps: int,
    precision: str,
    crop: int = 0,
    pixel: int = 0,
    joint: bool = False,
    res: int = 128,
    batch: int = 16,
    toy: bool = False,
) -> dict:
    argv = map(str, (kind, steps, precision, crop, pixel, int(joint), res, batch, int(toy)))
    out = subprocess.run(
        [PYTHON, "-c", CHILD, *argv],
        capture_output=True,
        text=True,
        env=child_env(OMP_NUM_THREADS="1"),
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def training_step(sizes: Sizes = FULL) -> dict:
    from stimstudio.core.device import bf16_support

    precision = "bf16" if bf16_support("cpu").native else "fp32"
    resolution, batch, steps, toy = sizes.train
    res = {"batch": batch, "resolution": resolution, "threads": 1, "precision": precision}
    res["steps"] = steps
    for arm, (kind, crop, pixel, joint) in ARMS.items():
        crop = crop * resolution // 128  # the same share of the patch at smoke size
        arm_steps = 4 if crop and steps > 1 else steps  # a crop arm: 3 crops + 1 whole
        r = _one(kind, arm_steps, precision, crop, pixel, joint, resolution, batch, toy)
        if "cpu_s_per_step" in r:
            r["cpu_s_per_kimg"] = r["cpu_s_per_step"] * 1000 / batch
        res[arm] = r
    a, b, c = res["stylegan2"], res["projected"], res["projected_crop64"]
    if "cpu_s_per_step" in a and "cpu_s_per_step" in b:
        res["projected_speedup"] = a["cpu_s_per_step"] / b["cpu_s_per_step"]
        res["peak_goal_gib"] = PEAK_GOAL_GIB
        peaks = [r["peak_gib"] for r in res.values() if isinstance(r, dict) and "peak_gib" in r]
        res["peak_met"] = max(peaks) < PEAK_GOAL_GIB
    if "cpu_s_per_step" in b and "cpu_s_per_step" in c:
        res["crop_speedup"] = b["cpu_s_per_step"] / c["cpu_s_per_step"]
    d, e = res["crop64_pixel16"], res["crop64_pixel16_joint"]
    if "cpu_s_per_step" in d and "cpu_s_per_step" in e:
        res["joint_batch_cost"] = e["cpu_s_per_step"] / d["cpu_s_per_step"]
    return res


def markdown(tr: dict) -> list[str]:
    lines = [
        "## 10. Training step: projected vs StyleGAN2 discriminator",
        "",
        f"Shipped G architecture, {tr['resolution']} px, batch {tr['batch']}, "
        f"{tr['threads']} thread, {tr['precision']}, median of {tr['steps']} steps after a "
        "warm-up, each kind in its own process.",
        "",
        "| discriminator | CPU s per step | CPU s per kimg | peak memory GiB |",
        "|---|---|---|---|",
    ]
    for kind in ARMS:
        r = tr.get(kind, {})
        if "error" in r:
            lines.append(f"| {kind} | error: {r['error']} | | |")
        elif r:
            lines.append(
                f"| {kind} | {r['cpu_s_per_step']:.2f} | {r['cpu_s_per_kimg']:.0f} | "
                f"{r['peak_gib']:.2f} |"
            )
    if "projected_speedup" in tr:
        lines += [
            "",
            f"Projected is {tr['projected_speedup']:.2f}x the stylegan2 step rate; peak memory "
            f"goal < {tr['peak_goal_gib']:.0f} GiB at batch 16: "
            f"{'met' if tr['peak_met'] else 'not met'}.",
        ]
    if "crop_speedup" in tr:
        lines += [
            "",
            f"Projected on 64-px crops (whole patches every 4th step; a crop counts as one "
            f"image) is {tr['crop_speedup']:.2f}x the projected step rate on whole patches.",
        ]
    if "joint_batch_cost" in tr:
        lines += [
            "",
            f"`--joint-batch` (real and generated through the discriminator as one batch; the "
            f"generator's step also runs the real batch) costs {tr['joint_batch_cost']:.2f}x "
            "the step of the same recipe (crops 64, pixel discriminator 16) without it.",
        ]
    lines.append("")
    return lines
