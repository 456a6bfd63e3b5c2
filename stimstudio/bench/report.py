"""BENCHMARKS.md from a suite report: tables, goals met or missed, and a PSNR-vs-time plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _f(v, fmt="{:.1f}"):
    return "–" if v is None else fmt.format(v)


def plot_inversion(report: dict, path: Path) -> str | None:
    inv = report.get("inversion")
    if not inv:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=110)
    ax = fig.add_subplot(111)
    for i, row in enumerate(inv["rows"]):
        ax.plot(
            *row["curve_ours"],
            color="C0",
            alpha=0.8,
            label="encoder + Eq. 4 (ours)" if i == 0 else None,
        )
        ax.plot(
            *row["curve_projector"],
            color="C3",
            alpha=0.8,
            label="projector from w_avg" if i == 0 else None,
        )
    ax.set_xscale("log")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Inversion quality per second, held-out patches")
    ax.legend()
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path.name


def _cpu(m: dict) -> str:
    """The CPU by name and by what torch uses of it (AVX2, AVX512, ...)."""
    cap = m.get("cpu_capability")
    return f"{m['cpu']}, torch CPU capability {cap}" if cap else m["cpu"]


def markdown(report: dict, figures: Path) -> str:
    """The report; the inversion plot goes to `figures` (linked as benchmarks/figures/)."""
    m = report["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `stimstudio bench`; every ratio is against its baseline measured in the same run.",
        f"Machine: {m['device']}, {m['cores']} cores ({_cpu(m)}), torch {m['torch']} "
        f"with {m['torch_threads']} threads. Model: {report['model']} at {report.get('model_kimg')} kimg. "
        f"Patches: {report['patches']}.",
        "",
    ]
    if report.get("note"):
        lines[3:3] = [f"Conditions: {report['note']}"]
    if report.get("sizes") == "smoke":
        lines[3:3] = ["**Smoke run**: every section at toy sizes; no number here is a measurement."]
    inv = report.get("inversion")
    if inv:
        fig = plot_inversion(report, figures / "inversion.png")
        lines += [
            "## 1. Inversion quality per second",
            "",
            "Time for each method to reach the same PSNR (the lower of the two finals, minus 0.05 dB).",
            "",
            "| patch | target dB | ours s | projector s | speed-up | ours final dB | projector final dB |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in inv["rows"]:
            lines.append(
                f"| {r['patch']} | {r['target_psnr']:.2f} | {_f(r['ours_seconds_to_target'], '{:.2f}')} | "
                f"{_f(r['projector_seconds_to_target'], '{:.2f}')} | {_f(r['speedup'])}x | "
                f"{r['ours_final_psnr']:.2f} | {r['projector_final_psnr']:.2f} |"
            )
        lines += [
            "",
            f"Median speed-up: **{_f(inv['median_speedup'])}x** — goal {inv['goal']}: "
            f"**{'met' if inv['met'] else 'missed'}**.",
            "",
        ]
        if fig:
            lines += [f"![PSNR against time](benchmarks/figures/{fig})", ""]
    mk = report.get("masked")
    if mk:
        lines += [
            "## 1b. Masked case: Eq. 4 with encoder term vs idinvert's diffuse recipe",
            "",
            f"{mk['pairs']} texture/template pairs, disc mask (radius R/5); medians.",
            "",
            "| recipe | PSNR in mask (dB) | SSIM whole image vs composite | seconds |",
            "|---|---|---|---|",
        ]
        for name, v in mk["median"].items():
            lines.append(
                f"| {name} | {v['psnr_in_mask']:.2f} | {v['ssim_whole_vs_composite']:.3f} | {v['seconds']:.1f} |"
            )
        lines.append("")
    sm = report.get("stylemix")
    if sm and "median" in sm:
        lines += [
            "## 1c. Style mixing vs masked optimisation (held-out lesion patches)",
            "",
            f"{sm['pairs']} held-out lesion patches (their own lesion masks) onto held-out tissue of another "
            f"film; {sm['steps']} Eq. 4 steps; medians. Inside the mask against the lesion texture; shape = SSIM "
            "of the low-passed image outside the mask against the template; seam 1 = no visible edge.",
            "",
            "| method | PSNR in mask | detail in mask | seam | shape outside | seconds |",
            "|---|---|---|---|---|---|",
        ]
        for name, v in sm["median"].items():
            secs = v.get("seconds")
            lines.append(
                f"| {name} | {v['psnr_in_mask']:.2f} | {v['detail_in_mask']:.3f} | {v['seam_strength']:.2f} | "
                f"{v['shape_agreement']:.3f} | {'–' if secs is None else f'{secs:.1f}'} |"
            )
        lines.append("")
    th = report.get("throughput")
    if th:
        lines += [
            "## 2. Eq. 4 step throughput",
            "",
            "| compute | ms / step | steps / s | vs CPU fp32 |",
            "|---|---|---|---|",
        ]
        for k, v in th.items():
            lines.append(
                f"| {k} | {v['ms_per_step']:.1f} | {v['steps_per_second']:.1f} | {v['speedup_vs_cpu_fp32']:.2f}x |"
            )
        lines.append("")
    sc = report.get("scrubbing")
    if sc:
        u, c = sc["uncached_ms"], sc["cached_ms"]
        lines += [
            "## 3. Slider scrubbing (core)",
            "",
            f"Uncached frame (one G forward): {u['median_ms']:.1f} ms (min {u['min_ms']:.1f}, max {u['max_ms']:.1f}); "
            f"cached: {c['median_ms']:.3f} ms. Goals {sc['goals']}: **{'met' if sc['met'] else 'missed'}**.",
            "",
        ]
    ex = report.get("export")
    if ex:
        lines += [
            "## 6. Export of a loop",
            "",
            "| outputs | frames | seconds | frames / s |",
            "|---|---|---|---|",
        ]
        for k, v in ex.items():
            lines.append(
                f"| {k} | {v['frames']} | {v['seconds']:.1f} | {v['frames_per_second']:.1f} |"
            )
        lines.append("")
    for key, title in (
        ("gui_scrubbing", "3b. Slider scrubbing in the app"),
        ("responsiveness", "4. Responsiveness"),
    ):
        sec = report.get(key)
        if sec:
            lines += [f"## {title}", "", "```", *[f"{k}: {v}" for k, v in sec.items()], "```", ""]
    rd = report.get("readers")
    if rd:
        lines += [
            "## 5. Readers",
            "",
            "| file | median ms | peak / image bytes | goal met |",
            "|---|---|---|---|",
        ]
        for k, v in rd.items():
            lines.append(
                f"| {k} | {v['time']['median_ms']:.0f} | {v['peak_over_image']:.2f} | {'yes' if v['met'] else 'no'} |"
            )
        lines.append("")
    s = report.get("scaling")
    if s:
        lines += [
            "## 7. Scaling",
            "",
            "| resolution | ms per Eq. 4 step (random nets, shipped widths) |",
            "|---|---|",
        ]
        for k, v in s["resolution"].items():
            lines.append(f"| {k} | {v['ms_per_step']:.1f} |")
        lines += [
            "",
            f"| batch | ms per batch (G forward, {s.get('batch_resolution', 128)} px) | ms per image |",
            "|---|---|---|",
        ]
        for k, v in s["batch"].items():
            lines.append(f"| {k} | {v['ms_per_batch']:.1f} | {v['ms_per_image']:.1f} |")
        lines.append("")
    cs = report.get("cli_startup")
    if cs:
        lines += [
            "## 8. CLI start-up",
            "",
            f"Goal: {cs['goal']}; met: {'yes' if cs['met'] else 'no'}"
            + (f" (load average {cs['load_average'][0]:.2f})" if cs.get("load_average") else ""),
            "",
            "| command | median s | min s | max s | heavy modules imported |",
            "|---|---|---|---|---|",
        ]
        for k, v in cs.items():
            if isinstance(v, dict):
                imp = ", ".join(v.get("imports", [])) or ("-" if "imports" in v else "")
                lines.append(
                    f"| `{k}` | {v['median_s']:.3f} | {v['min_s']:.3f} | {v['max_s']:.3f} | {imp} |"
                )
        lines.append("")
    pr = report.get("precision")
    if pr:
        lines += [
            "## 9. Precision per verb",
            "",
            f"CPU capability {pr['cpu_capability']}; bf16 native: "
            f"{'yes' if pr['bf16_native'] else 'no'} ({pr['probe']}); "
            f"{pr['torch_threads']} torch threads. Goal: {pr['goal']}; met: "
            f"{'yes' if pr['met'] else 'no'}.",
            "",
            "| verbs | auto picks | why |",
            "|---|---|---|",
        ]
        for k, v in pr["auto"].items():
            lines.append(f"| {k} | {v['precision']} | {v['reason']} |")
        lines += [
            "",
            "| operation (shipped G) | fp32 ms | bf16 ms | bf16 / fp32 |",
            "|---|---|---|---|",
        ]
        for k, v in pr["speed"].items():
            lines.append(
                f"| {k} | {v['fp32_ms']:.1f} | {v['bf16_ms']:.1f} | {v['bf16_over_fp32']:.2f} |"
            )
        lines.append("")
    if report.get("training_step"):
        from .train_sections import markdown as training_markdown

        lines += training_markdown(report["training_step"])
    if report.get("grown"):
        from .grown_sections import markdown as grown_markdown

        lines += grown_markdown(report["grown"])
    notes = Path(__file__).with_name("NOTES.md")
    if notes.is_file():
        lines += [notes.read_text().strip(), ""]
    secs = {k[:-8]: v for k, v in report.items() if k.endswith("_seconds")}
    lines += ["Section run times (s): " + ", ".join(f"{k} {v}" for k, v in secs.items()), ""]
    _ = np
    return "\n".join(lines)
