"""`stimstudio judge build|analyze|adjustment`: the human judgement test (real vs generated) —
building a session and analysing its results — and the analysis of the adjustment task on a
loop. `stimstudio analyze-judgements` is an alias of `judge analyze`, kept for scripts written
before the `judge` group."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .common import UserError, add_common, emit, refuse_existing

# The results format read by core.judgements.read_results (kept here so that --help does not
# import numpy; docs/OBSERVERS.md, "Judgement results", says the same).
RESULTS_FORMAT = """\
Results file: CSV, UTF-8, one row per answer, a header row naming the columns (any order;
other columns are ignored). Several files may be given; rows are pooled by participant.
  participant        participant id (one line)                           required
  session            session number, 1, 2, ... (a retest is session 2)   required
  trial              trial number within the session                     required
  image              image id or path; a retest is paired by this        required
  truth              real | generated (also: fake, gan)                  required
  response           real | fake (also: generated)                       required
  confidence         1..N, 1 = guessing, N = sure                        required
  confidence_levels  N, the size of the confidence scale                 optional
  rt_ms              response time in ms                                 optional
  timestamp          ISO 8601 time of the answer                         optional
Without confidence_levels (or with it empty) a participant's scale is taken as 1..the highest
confidence they gave; the AUC, ROC points, d' and c do not depend on it. Answer + confidence
give a rating 1..2N (1 = surely fake, 2N = surely real); real images are the signal.
Participants may use different scales: each is analysed on their own; the pooled row then has
d', c, hit and false-alarm rates (from real/fake answers) but no AUC or ROC over ratings.
Sessions: each participant's numbers pool all their sessions unless --session N is given;
Sokal-Michener test-retest agreement always compares sessions over the images both showed."""

# Localisation scoring (core.judgements.localisation; docs/LOCALISATION.md says more).
MARKS_FORMAT = """\
Localisation (with --truth TRUTH.csv, the truth file of a search set): the results files are
marks files instead, CSV with a header row, one row per mark (a film with no marks has none):
  film      the film's name as in the truth file                         required
  x, y      the mark in film pixels (x to the right, y down)             required
  rating    confidence, higher = surer (any numbers)                     required
  reader | observer | participant   who marked (the first one present)   optional
  session   session number; --session N keeps only that session         optional
A mark on a lesion (within its radius, or --accept-px / --accept-mm of its centre, or inside
its mask with --inside-mask) is a lesion localisation (LL), the highest-rated one per lesion;
every other mark is a non-lesion localisation (NL). Per reader and pooled (mean of readers):
the JAFROC figure of merit (Chakraborty & Berbaum 2004) with a bootstrap CI over films
(normal and abnormal resampled separately) and the jackknife SE, wAFROC, and with --figure the
FROC and AFROC curves; --report writes every number as JSON."""

ADJUSTMENT_FORMAT = """\
Results file of the adjustment task (written by the app, the exported PsychoPy script and the
browser experiment): CSV, one row per trial, a header row naming the columns (any order).
  participant      participant id                                       required
  session          session number, 1, 2, ...                            required
  trial            trial number within the session, 1, 2, ...           required
  continuum        the loop's id (one continuum per analysis)           required
  n_frames         frames in the loop                                   required
  target_frame     frame shown (0..n_frames-1)                          required
  response_frame   frame chosen                                         required
  start_frame, seed, error_frames, error_deg, confidence, rt_ms, onset, timestamp: optional
  (error_frames, when given, must be the circular error response - target in
  (-n_frames/2, n_frames/2]; error_deg = error_frames * 360 / n_frames).
Serial dependence: error against previous - current target (deg) on consecutive trials,
each participant's errors centred on their circular mean, fitted with
  error = amplitude * (x / width) * exp((1 - (x / width)^2) / 2)
(peak `amplitude` at offset `width`; positive = towards the previous target); percentile
bootstrap CI over trial pairs, two-sided permutation test of the amplitude."""


def register(sub) -> None:
    j = sub.add_parser("judge", help="judgement test: build a session, analyse the results")
    jsub = j.add_subparsers(dest="judge_verb", metavar="ACTION")

    b = jsub.add_parser(
        "build",
        help="balanced, shuffled session from folders of real and generated images",
        description="Write OUT/session.json and OUT/conditions.csv (PsychoPy conditions).",
    )
    b.add_argument("real", help="folder of real images (searched recursively)")
    b.add_argument("generated", help="folder of generated images (searched recursively)")
    b.add_argument("out", help="session folder (created if missing)")
    b.add_argument(
        "--seed", type=int, default=None, help="shuffle seed (default: random, recorded)"
    )
    b.add_argument("--per-class", type=int, default=None, help="images of each kind (default: all)")
    b.add_argument("--levels", type=int, default=4, help="confidence levels 1..N (default 4)")
    b.add_argument("--display-time", type=float, default=None, help="seconds each image shows")
    b.add_argument("--iti", type=float, default=None, help="inter-trial interval in seconds")
    b.add_argument(
        "--magnification",
        type=int,
        default=None,
        help="integer magnification of every image, real and generated alike (default: the "
        "largest at which the largest image fits --screen)",
    )
    b.add_argument(
        "--screen",
        default="1920x1080",
        metavar="WxH",
        help="the test screen in pixels, for the default magnification (default 1920x1080)",
    )
    for kind in ("real", "generated"):
        b.add_argument(
            f"--{kind}-spacing",
            type=float,
            default=None,
            metavar="MM",
            help=f"pixel spacing of the {kind} images in mm (default: from DICOM PixelSpacing, "
            "the PNG/TIFF resolution, or a manifest.json in or above the folder); sets of "
            "different spacing are refused",
        )
    b.add_argument("--force", action="store_true", help="replace an existing session")
    add_common(b)
    b.set_defaults(func=cmd_build)

    a = jsub.add_parser(
        "analyze",
        help="ROC, AUC (bootstrap CI), d', c and Sokal-Michener test-retest from results CSVs",
        description="Per participant and pooled: AUC with a bootstrap CI, ROC points, d', c, "
        "hit and false-alarm rates; Sokal-Michener test-retest between sessions. Notes below "
        "the table say how sessions were treated, which scales were inferred or not pooled, "
        "and which numbers rest on too few trials.",
        epilog=RESULTS_FORMAT + "\n\n" + MARKS_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _analyze_args(a)

    ad = jsub.add_parser(
        "adjustment",
        help="adjustment task on a loop: error distribution, circular SD, serial dependence",
        description="Per participant and pooled: signed circular errors, their circular SD, "
        "and serial dependence (a derivative-of-Gaussian fit of error against the previous "
        "target's offset, with a bootstrap CI and a permutation test). With --out: the plots "
        "(PNG) and every number (adjustment.json) in that folder.",
        epilog=ADJUSTMENT_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ad.add_argument("results", nargs="+", help="adjustment results CSV file(s)")
    ad.add_argument("--out", help="folder for adjustment.json and the plots (created if missing)")
    ad.add_argument("--session", type=int, default=None, metavar="N", help="session N only")
    ad.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)"
    )
    ad.add_argument("--permutations", type=int, default=1000, help="permutations (default 1000)")
    ad.add_argument("--seed", type=int, default=0, help="bootstrap/permutation seed (default 0)")
    ad.add_argument(
        "--width-range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="degrees where the curve's peak is searched (default: two frame steps (at least "
        "4) to 90)",
    )
    ad.add_argument(
        "--no-demean",
        action="store_true",
        help="keep each participant's mean error (default: centre errors on it)",
    )
    ad.add_argument("--force", action="store_true", help="replace existing outputs in --out")
    add_common(ad)
    ad.set_defaults(func=cmd_adjustment)
    j.set_defaults(func=lambda args: _missing_action(j))

    aj = sub.add_parser(
        "analyze-judgements",
        help="alias of `judge analyze` (kept for older scripts)",
        description="An alias of `stimstudio judge analyze`, with the same options; use that.",
        epilog=RESULTS_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    aj.epilog = RESULTS_FORMAT + "\n\n" + MARKS_FORMAT
    _analyze_args(aj)


def _missing_action(parser) -> int:
    raise UserError("judge needs an action: build, analyze or adjustment")


def _analyze_args(a) -> None:
    a.add_argument(
        "results", nargs="+", help="results CSV file(s) of the judgement test, or marks files"
    )
    a.add_argument(
        "--figure",
        help="write the ROC curves (with --truth: FROC and AFROC) to this .png, .svg or .pdf",
    )
    a.add_argument(
        "--session",
        type=int,
        default=None,
        metavar="N",
        help="analyse session N only (default: each participant's sessions pooled); "
        "test-retest agreement still compares all sessions",
    )
    a.add_argument(
        "--bootstrap", type=int, default=2000, help="bootstrap resamples for AUC CI (default 2000)"
    )
    a.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    a.add_argument(
        "--correction",
        choices=("loglinear", "extreme", "none"),
        default="loglinear",
        help="d'/c rate correction: Hautus 1995 log-linear on all data (default), "
        "only when a rate is 0 or 1 (extreme), or none",
    )
    a.add_argument("--force", action="store_true", help="replace an existing figure or report")
    loc = a.add_argument_group("localisation (marks scored against a search set's truth)")
    loc.add_argument("--truth", help="truth.csv of a search set: score the marks files against it")
    loc.add_argument("--report", help="write every number as JSON to this file (with --truth)")
    acc = loc.add_mutually_exclusive_group()
    acc.add_argument(
        "--accept-px",
        type=float,
        metavar="R",
        help="a mark within R pixels of a lesion's centre is on it (default: its radius)",
    )
    acc.add_argument(
        "--accept-mm",
        type=float,
        metavar="R",
        help="a mark within R mm of a lesion's centre is on it (the film's spacing from the "
        "truth's radius_px and radius_mm)",
    )
    loc.add_argument(
        "--inside-mask",
        action="store_true",
        help="a mark on a lesion with a mask_file must lie inside that mask",
    )
    add_common(a)
    a.set_defaults(func=cmd_analyze)


def _screen_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*", text or "")
    if not m:
        raise UserError(f"--screen must be WIDTHxHEIGHT in pixels, e.g. 1920x1080, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def cmd_build(args) -> int:
    # core.judgements imports numpy (~0.3 s here): imported by the command, not by --help
    from ..core.judgements import (
        build_session,
        describe_display,
        image_set,
        list_images,
        plan_display,
        save_session,
        spacing_unknown,
    )
    from ..core.judgements import write_psychopy_conditions as write_conditions

    real, generated = Path(args.real), Path(args.generated)
    for folder, kind in ((real, "real"), (generated, "generated")):
        if not folder.is_dir():
            raise UserError(f"{folder} (the {kind} images) is not a folder")
    real_imgs, gen_imgs = list_images(real), list_images(generated)
    if not real_imgs:
        raise UserError(f"{real} holds no images")
    if not gen_imgs:
        raise UserError(f"{generated} holds no images")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    session_path, conditions_path = out / "session.json", out / "conditions.csv"
    refuse_existing(session_path, args.force)
    refuse_existing(conditions_path, args.force)
    screen = _screen_size(args.screen)
    for value, kind in ((args.real_spacing, "real"), (args.generated_spacing, "generated")):
        if value is not None and not (value > 0 and value < 100):
            raise UserError(f"--{kind}-spacing must be a positive number of mm, not {value:g}")
    sets = (
        image_set(real_imgs, real, args.real_spacing),
        image_set(gen_imgs, generated, args.generated_spacing),
    )
    display = plan_display(*sets, screen, args.magnification)  # other spacings: refused
    session = build_session(
        real_imgs,
        gen_imgs,
        seed=args.seed,
        per_class=args.per_class,
        confidence_levels=args.levels,
        display_time_s=args.display_time,
        iti_s=args.iti,
        display=display,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror or exc}") from None
    save_session(session, session_path)
    write_conditions(session, conditions_path)
    unknown = spacing_unknown(*sets)  # after every check: an error stays one line
    if unknown:
        print(f"stimstudio: warning: {unknown}", file=sys.stderr)
    result = {
        "session": session_path,
        "conditions": conditions_path,
        "seed": session.seed,
        "trials": len(session.trials),
        "per_class": session.n_real,
        "real_available": len(real_imgs),
        "generated_available": len(gen_imgs),
        "confidence_levels": session.confidence_levels,
        "display_time_s": session.display_time_s,
        "iti_s": session.iti_s,
        "display": session.display,
    }
    text = (
        f"{len(session.trials)} trials ({session.n_real} real + {session.n_generated} "
        f"generated), seed {session.seed}, {describe_display(session.display)} -> "
        f"{session_path}, {conditions_path}"
    )
    emit(args, result, text)
    return 0


def _figure_path(args) -> Path | None:
    figure = Path(args.figure) if args.figure else None
    if figure is not None:
        if figure.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise UserError(f"--figure must end in .png, .svg or .pdf, not {figure.name}")
        if not figure.parent.is_dir():
            raise UserError(f"the folder of {figure} does not exist")
        refuse_existing(figure, args.force)
    return figure


def cmd_analyze(args) -> int:
    if not (100 <= args.bootstrap <= 1_000_000):
        raise UserError(f"--bootstrap must lie in 100..1000000, not {args.bootstrap}")
    if args.truth:
        return cmd_localisation(args)
    for name in ("report", "accept_px", "accept_mm"):
        if getattr(args, name) is not None:
            raise UserError(f"--{name.replace('_', '-')} needs --truth (localisation scoring)")
    if args.inside_mask:
        raise UserError("--inside-mask needs --truth (localisation scoring)")
    # numpy (and matplotlib for --figure): imported by the command, not by --help
    from ..core.judgements import analyze, format_table, read_results, write_roc_figure
    from ..core.judgements.localisation_io import is_marks_file

    figure = _figure_path(args)
    marks = [p for p in args.results if is_marks_file(p)]
    if marks:
        raise UserError(f"{marks[0]} is a marks file (film, x, y, rating): give --truth TRUTH.csv")
    responses = read_results(args.results)
    if args.session is not None and args.session < 1:
        raise UserError(f"--session must be 1 or more, not {args.session}")
    analysis = analyze(
        responses,
        n_boot=args.bootstrap,
        seed=args.seed,
        correction=args.correction,
        session=args.session,
    )
    result = analysis.to_dict()
    result["files"] = [str(p) for p in args.results]
    text = format_table(analysis)
    if figure is not None:
        write_roc_figure(figure, analysis)
        result["figure"] = str(figure)
        text += f"\nROC figure -> {figure}"
    emit(args, result, text)
    return 0


def cmd_localisation(args) -> int:
    """`judge analyze MARKS... --truth TRUTH.csv`: localisation scoring."""
    from ..core.judgements.localisation import Acceptance, analyze_localisation
    from ..core.judgements.localisation_io import read_marks, read_truth
    from ..core.judgements.localisation_report import (
        format_localisation_table,
        write_localisation_figure,
        write_localisation_report,
    )

    figure = _figure_path(args)
    report = Path(args.report) if args.report else None
    if report is not None:
        if report.suffix.lower() != ".json":
            raise UserError(f"--report must end in .json, not {report.name}")
        if not report.parent.is_dir():
            raise UserError(f"the folder of {report} does not exist")
        refuse_existing(report, args.force)
    if args.session is not None and args.session < 1:
        raise UserError(f"--session must be 1 or more, not {args.session}")
    acceptance = Acceptance(px=args.accept_px, mm=args.accept_mm, inside_mask=args.inside_mask)
    truth = read_truth(args.truth)
    marks = read_marks(args.results, truth, session=args.session)
    analysis = analyze_localisation(marks, truth, acceptance, n_boot=args.bootstrap, seed=args.seed)
    result = analysis.to_dict()
    result["files"] = [str(p) for p in args.results]
    text = format_localisation_table(analysis)
    if report is not None:
        write_localisation_report(report, analysis, {"files": result["files"]})
        result["report"] = str(report)
        text += f"\nreport -> {report}"
    if figure is not None:
        write_localisation_figure(figure, analysis)
        result["figure"] = str(figure)
        text += f"\nFROC/AFROC figure -> {figure}"
    emit(args, result, text)
    return 0


def cmd_adjustment(args) -> int:
    # numpy, scipy and matplotlib: imported by the command, not by --help
    from ..core.judgements import (
        analyze_adjustment,
        format_adjustment_table,
        read_adjustment_results,
        write_adjustment_outputs,
    )
    from ..core.judgements.adjustment_figures import FIGURE_NAMES, JSON_NAME

    for name, v in (("--bootstrap", args.bootstrap), ("--permutations", args.permutations)):
        if not (100 <= v <= 1_000_000):
            raise UserError(f"{name} must lie in 100..1000000, not {v}")
    if args.session is not None and args.session < 1:
        raise UserError(f"--session must be 1 or more, not {args.session}")
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise UserError(f"{out} exists and is not a folder")
        for name in (JSON_NAME, *FIGURE_NAMES.values()):
            refuse_existing(out / name, args.force)
    responses = read_adjustment_results(args.results)
    analysis = analyze_adjustment(
        responses,
        n_boot=args.bootstrap,
        n_perm=args.permutations,
        seed=args.seed,
        demean=not args.no_demean,
        session=args.session,
        width_range=tuple(args.width_range) if args.width_range else None,
    )
    result = analysis.to_dict()
    result["files"] = [str(p) for p in args.results]
    text = format_adjustment_table(analysis)
    if out is not None:
        paths = write_adjustment_outputs(out, analysis, {"files": result["files"]})
        result["outputs"] = {k: str(p) for k, p in paths.items()}
        text += "\n" + "\n".join(f"{k} -> {p}" for k, p in paths.items())
    emit(args, result, text)
    return 0
