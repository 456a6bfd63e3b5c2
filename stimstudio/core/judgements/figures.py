"""ROC figures (matplotlib, no Qt)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

from .analysis import Analysis
from .measures import RocCurve
from .sessions import JudgementError, _atomic_write


def roc_figure_bytes(
    curves: Mapping[str, RocCurve],
    aucs: Mapping[str, float] | None = None,
    fmt: str = "png",
    title: str = "Real vs generated: rating ROC",
) -> bytes:
    """A figure of ROC curves (points and lines, one per label) as PNG or SVG bytes."""
    from matplotlib.figure import Figure

    if fmt not in ("png", "svg", "pdf"):
        raise JudgementError(f"figure format must be png, svg or pdf, not {fmt!r}")
    if not curves:
        raise JudgementError("no ROC curves to draw")
    fig = Figure(figsize=(5, 5), dpi=150)
    if fmt == "png":
        from matplotlib.backends.backend_agg import FigureCanvasAgg as Canvas
    elif fmt == "svg":
        from matplotlib.backends.backend_svg import FigureCanvasSVG as Canvas
    else:
        from matplotlib.backends.backend_pdf import FigureCanvasPdf as Canvas
    Canvas(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="chance")
    for label, c in curves.items():
        name = label if not aucs or label not in aucs else f"{label} (AUC {aucs[label]:.2f})"
        ax.plot(c.fpr, c.tpr, marker="o", ms=3, lw=1.2, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel('False-alarm rate (P "real" | generated)')
    ax.set_ylabel('Hit rate (P "real" | real)')
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()


def write_roc_figure(
    path: str | os.PathLike, analysis: Analysis, include_pooled: bool = True
) -> Path:
    """Write the per-participant (and pooled) ROC figure; the format follows the suffix."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise JudgementError(f"the figure must be a .png, .svg or .pdf file, not {path.name}")
    curves = {s.label: s.roc for s in analysis.participants}
    aucs = {s.label: s.auc for s in analysis.participants if s.auc is not None}
    if include_pooled and len(analysis.participants) > 1:
        curves["pooled"] = analysis.pooled.roc
        if analysis.pooled.auc is not None:
            aucs["pooled"] = analysis.pooled.auc
    _atomic_write(path, roc_figure_bytes(curves, aucs, fmt))
    return path
