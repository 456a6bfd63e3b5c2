"""Figures of the adjustment analysis (matplotlib, no Qt): the error distribution and the
serial-dependence curve, and writing them with the numbers as JSON."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..jsonable import dumps_strict
from .adjustment_analysis import AdjustmentAnalysis, AdjustmentSummary, dog
from .sessions import JudgementError, _atomic_write

FIGURE_NAMES = {"errors": "error_distribution.png", "serial": "serial_dependence.png"}
JSON_NAME = "adjustment.json"


def _figure(n_panels: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(n_panels, 3)
    rows = (n_panels + cols - 1) // cols
    fig = Figure(figsize=(3.6 * cols, 3.0 * rows), dpi=130)
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n_panels)]


def _png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _groups(a: AdjustmentAnalysis) -> list[AdjustmentSummary]:
    return [a.pooled, *a.participants] if len(a.participants) > 1 else list(a.participants)


def error_figure_bytes(a: AdjustmentAnalysis) -> bytes:
    """One histogram of signed errors (degrees) per group, pooled first."""
    groups = _groups(a)
    fig, axes = _figure(len(groups))
    step = 360.0 / a.n_frames
    for ax, s in zip(axes, groups):
        h = s.histogram
        ax.bar(h["error_deg"], h["count"], width=step * 0.9, color="0.35")
        sd = s.errors["circular_sd"]
        ax.set_title(f"{s.label}: circular SD {sd:.1f} deg", fontsize=9)
        ax.set_xlim(-180, 180)
        ax.set_xlabel("error (response - target, deg)", fontsize=8)
        ax.set_ylabel("trials", fontsize=8)
        ax.tick_params(labelsize=7)
    return _png(fig)


def serial_figure_bytes(a: AdjustmentAnalysis) -> bytes:
    """Binned mean error against previous - current target, with the fitted DoG."""
    groups = [s for s in _groups(a) if s.serial is not None]
    if not groups:
        raise JudgementError("no group has enough consecutive trials for serial dependence")
    fig, axes = _figure(len(groups))
    xs = np.linspace(-180, 180, 361)
    for ax, s in zip(axes, groups):
        sd = s.serial
        b = sd["binned"]
        sem = [0.0 if v is None else v for v in b["sem"]]
        ax.axhline(0, color="0.7", lw=0.8)
        ax.errorbar(b["center"], b["mean"], yerr=sem, fmt="o", ms=3, color="0.2", lw=0.8)
        ax.plot(xs, dog(xs, sd["amplitude"], sd["width"]), color="C3", lw=1.5)
        lo, hi = sd["amplitude_ci"]
        ax.set_title(
            f"{s.label}: amp {sd['amplitude']:.2f} [{lo:.2f}, {hi:.2f}] deg, p {sd['p']:.3f}",
            fontsize=8,
        )
        ax.set_xlim(-180, 180)
        ax.set_xlabel("previous - current target (deg)", fontsize=8)
        ax.set_ylabel("error (deg)", fontsize=8)
        ax.tick_params(labelsize=7)
    return _png(fig)


def write_adjustment_outputs(
    out_dir: str | os.PathLike, analysis: AdjustmentAnalysis, extra: dict | None = None
) -> dict[str, Path]:
    """adjustment.json, error_distribution.png and serial_dependence.png (when any group
    has a fit) in `out_dir`; returns kind -> path."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JudgementError(f"cannot create {out}: {exc.strerror or exc}") from None
    paths = {"json": out / JSON_NAME, "errors": out / FIGURE_NAMES["errors"]}
    _atomic_write(paths["errors"], error_figure_bytes(analysis))
    if any(s.serial is not None for s in _groups(analysis)):
        paths["serial"] = out / FIGURE_NAMES["serial"]
        _atomic_write(paths["serial"], serial_figure_bytes(analysis))
    doc = {**analysis.to_dict(), **(extra or {})}
    doc["figures"] = {k: p.name for k, p in paths.items() if k != "json"}
    _atomic_write(paths["json"], dumps_strict(doc, indent=1).encode("utf-8"))
    return paths
