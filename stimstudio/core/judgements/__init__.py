"""The human judgement test: sessions, the results file, and its analysis.

A **session** is a balanced, shuffled list of real and generated images (the seed is recorded,
so the order can be rebuilt). A participant answers "real" or "fake" with a confidence
1..N; each answer is appended to the results CSV and flushed at once, so a crash loses
nothing (`ResultsWriter`, `JudgementRun`).

**Analysis.** The answer and its confidence make one rating on a 2N-point scale, from
1 = "fake, most confident" to 2N = "real, most confident". Real images are the signal:
a hit is "real" to a real image, a false alarm "real" to a generated one. From the ratings:
ROC points at every criterion (Ren, Yu & Whitney 2021, Fig. 5), the area under them (AUC,
0.5 = generated images indistinguishable from real ones) with a stratified bootstrap CI;
from the real/fake answers alone: d' and criterion c with the log-linear correction
(Hautus 1995: add 0.5 to hits and false alarms and 1 to the number of signal and noise
trials, so rates of 0 or 1 still give finite values). Test-retest agreement between two
sessions of one participant is the Sokal-Michener simple-matching coefficient (a + d) / n
over the images both sessions showed. (`scipy.spatial.distance.sokalmichener` is a
*dissimilarity*, a different quantity, and is not used.)

The package, by job:
    sessions   Trial, Session, build/save/load a session, PsychoPy conditions
    results    Response, ResultsWriter, JudgementRun, read_results
    measures   ROC, AUC (+ bootstrap CI), d', c, SDT, Sokal-Michener
    analysis   Summary, Analysis, analyze, format_table
    figures    roc_figure_bytes, write_roc_figure
    adjustment           the adjustment task on a loop: trial plan, results file, reading it
    adjustment_analysis  error distribution, circular SD, serial dependence (DoG, bootstrap,
                         permutation test)
    adjustment_figures   its plots, written with the numbers as JSON
    localisation         marks on whole films against a search set's truth: LL/NL, FROC,
                         AFROC, JAFROC and wAFROC FOM with bootstrap CI (docs/LOCALISATION.md)
    localisation_io      reading the truth and marks files
    localisation_report  the table, the FROC/AFROC figure, the JSON report
"""

from __future__ import annotations

from .adjustment import (
    ADJUSTMENT_COLUMNS,
    ADJUSTMENT_REQUIRED,
    AdjustmentResponse,
    AdjustmentRun,
    AdjustmentTrial,
    AdjustmentWriter,
    Mulberry32,
    adjustment_csv,
    adjustment_plan,
    circular_error,
    default_seed,
    read_adjustment_results,
)
from .adjustment_analysis import (
    AdjustmentAnalysis,
    AdjustmentSummary,
    analyze_adjustment,
    circular_summary,
    dog,
    fit_dog,
    format_adjustment_table,
    serial_pairs,
)
from .adjustment_figures import write_adjustment_outputs
from .analysis import Analysis, Summary, analyze, format_table, retest_agreement, summarize_group
from .display import (
    ImageSet,
    describe_display,
    image_set,
    largest_magnification,
    plan_display,
    spacing_problem,
    spacing_unknown,
)
from .figures import roc_figure_bytes, write_roc_figure
from .measures import (
    CORRECTIONS,
    SDT,
    RocCurve,
    auc,
    auc_bootstrap_ci,
    criterion,
    dprime,
    roc_points,
    sdt,
    sokal_michener,
)
from .results import (
    JudgementRun,
    Response,
    ResultsWriter,
    rating,
    read_results,
    read_results_lenient,
)
from .sessions import (
    IMAGE_SUFFIXES,
    PSYCHOPY_COLUMNS,
    REQUIRED_COLUMNS,
    RESPONSES,
    RESULT_COLUMNS,
    SESSION_FORMAT,
    SMALL_SAMPLE,
    TRUTHS,
    JudgementError,
    Session,
    Trial,
    build_session,
    list_images,
    load_session,
    psychopy_conditions,
    save_session,
    session_to_json,
    write_psychopy_conditions,
)

__all__ = [
    "ImageSet",
    "describe_display",
    "image_set",
    "largest_magnification",
    "plan_display",
    "spacing_problem",
    "spacing_unknown",
    "ADJUSTMENT_COLUMNS",
    "ADJUSTMENT_REQUIRED",
    "AdjustmentResponse",
    "AdjustmentRun",
    "AdjustmentTrial",
    "AdjustmentWriter",
    "Mulberry32",
    "adjustment_csv",
    "adjustment_plan",
    "circular_error",
    "default_seed",
    "read_adjustment_results",
    "AdjustmentAnalysis",
    "AdjustmentSummary",
    "analyze_adjustment",
    "circular_summary",
    "dog",
    "fit_dog",
    "format_adjustment_table",
    "serial_pairs",
    "write_adjustment_outputs",
    "TRUTHS",
    "RESPONSES",
    "IMAGE_SUFFIXES",
    "RESULT_COLUMNS",
    "REQUIRED_COLUMNS",
    "SESSION_FORMAT",
    "SMALL_SAMPLE",
    "JudgementError",
    "Trial",
    "Session",
    "list_images",
    "build_session",
    "session_to_json",
    "save_session",
    "load_session",
    "PSYCHOPY_COLUMNS",
    "psychopy_conditions",
    "write_psychopy_conditions",
    "Response",
    "rating",
    "ResultsWriter",
    "read_results",
    "JudgementRun",
    "read_results_lenient",
    "RocCurve",
    "roc_points",
    "auc",
    "auc_bootstrap_ci",
    "dprime",
    "criterion",
    "SDT",
    "CORRECTIONS",
    "sdt",
    "sokal_michener",
    "Summary",
    "retest_agreement",
    "summarize_group",
    "Analysis",
    "analyze",
    "format_table",
    "roc_figure_bytes",
    "write_roc_figure",
]
