"""Localisation scoring, the outputs: a plain-text table, the FROC/AFROC figure (matplotlib, no
Qt), and the JSON report."""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..jsonable import dumps_strict
from .localisation import LocalisationAnalysis, ReaderScore
from .sessions import JudgementError, _atomic_write


def _ci(ci) -> str:
    return "-" if ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def format_localisation_table(a: LocalisationAnalysis) -> str:
    """One row per reader and the pooled row: marks, LL, NL, JAFROC FOM with its CI, wAFROC."""
    head = (
        f"{'reader':<25}{'marks':>6}{'LL':>5}{'NL':>5}{'JAFROC':>8}{'95% CI':>17}"
        f"{'jk SE':>7}{'wAFROC':>8}"
    )
    lines = [head]

    def row(s: ReaderScore) -> str:
        c = s.counts
        se = "-" if s.jackknife_se is None else f"{s.jackknife_se:.3f}"
        return (
            f"{s.label[:24]:<25}{c.get('marks', ''):>6}{c.get('LL', ''):>5}{c.get('NL', ''):>5}"
            f"{s.fom:>8.3f}{_ci(s.ci):>17}{se:>7}{s.wafroc:>8.3f}"
        )

    lines += [row(s) for s in a.readers]
    if len(a.readers) > 1:
        lines.append(row(a.pooled))
    first = a.readers[0].counts
    lines.append(
        f"{first['lesions']} lesions on {first['abnormal_films']} films, "
        f"{first['normal_films']} normal films; a mark is on a lesion "
        f"{a.settings['acceptance']}; CI: {a.settings['ci']} ({a.settings['bootstrap']} "
        f"resamples, seed {a.settings['seed']}); jk SE: case jackknife"
    )
    lines.append(f"convention: {a.settings['convention']}")
    dup = sum(s.counts["NL_on_a_taken_lesion"] for s in a.readers)
    if dup:
        lines.append(f"note: {dup} mark(s) on a lesion a higher-rated mark had taken count as NL")
    return "\n".join(lines)


def localisation_figure_bytes(a: LocalisationAnalysis, fmt: str = "png") -> bytes:
    """FROC (LLF against NLs per film) and AFROC (LLF against the normal films' FPF) of every
    reader, side by side; the legend gives each reader's JAFROC FOM."""
    from matplotlib.figure import Figure

    if fmt not in ("png", "svg", "pdf"):
        raise JudgementError(f"figure format must be png, svg or pdf, not {fmt!r}")
    if fmt == "png":
        from matplotlib.backends.backend_agg import FigureCanvasAgg as Canvas
    elif fmt == "svg":
        from matplotlib.backends.backend_svg import FigureCanvasSVG as Canvas
    else:
        from matplotlib.backends.backend_pdf import FigureCanvasPdf as Canvas
    fig = Figure(figsize=(9, 4.4), dpi=150)
    Canvas(fig)
    froc, afroc = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for s in a.readers:
        c = s.curves
        (line,) = froc.plot(c["froc"]["nlf"], c["froc"]["llf"], marker="o", ms=3, lw=1.2)
        afroc.plot(
            c["afroc"]["fpf"][:-1],
            c["afroc"]["llf"][:-1],
            marker="o",
            ms=3,
            lw=1.2,
            color=line.get_color(),
            label=f"{s.label} (JAFROC {s.fom:.2f})",
        )
        # the end to (1, 1) that no threshold reaches: dashed, it is part of the FOM's area
        afroc.plot(
            c["afroc"]["fpf"][-2:], c["afroc"]["llf"][-2:], lw=1, ls=":", color=line.get_color()
        )
    froc.set_xlabel("NLF (non-lesion localisations per film)")
    froc.set_ylabel("LLF (fraction of lesions localised)")
    froc.set_ylim(0, 1)
    froc.set_xlim(left=0)
    froc.set_title("FROC", fontsize=10)
    afroc.set_xlim(0, 1)
    afroc.set_ylim(0, 1)
    afroc.set_aspect("equal")
    afroc.set_xlabel("FPF (normal films with a mark)")
    afroc.set_ylabel("LLF (fraction of lesions localised)")
    afroc.set_title("AFROC (area = JAFROC FOM)", fontsize=10)
    afroc.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return buf.getvalue()


def write_localisation_figure(path: str | os.PathLike, a: LocalisationAnalysis) -> Path:
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise JudgementError(f"the figure must be a .png, .svg or .pdf file, not {path.name}")
    _atomic_write(path, localisation_figure_bytes(a, fmt))
    return path


def write_localisation_report(
    path: str | os.PathLike, a: LocalisationAnalysis, extra: dict | None = None
) -> Path:
    """Every number (FOMs, CIs, counts, curve points, settings) as one JSON document."""
    path = Path(path)
    doc = {"format": "stimstudio-localisation", "version": 1, **a.to_dict(), **(extra or {})}
    _atomic_write(path, (dumps_strict(doc, indent=2) + "\n").encode())
    return path
