"""The analysis of a results file: per-group summaries, test-retest agreement, the table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .measures import (
    CORRECTIONS,
    SDT,
    RocCurve,
    auc,
    auc_bootstrap_ci,
    roc_points,
    sdt,
    sokal_michener,
)
from .results import Response
from .sessions import SMALL_SAMPLE, JudgementError


@dataclass
class Summary:
    """Everything the analysis reports for one group of responses.

    `auc`, `auc_ci` and `confidence_levels` are None when the group mixes confidence scales
    (ratings of different scales cannot be pooled); `roc` is then the single real/fake point.
    """

    label: str
    n_trials: int
    n_real: int
    n_generated: int
    sessions: list[int]
    confidence_levels: int | None
    auc: float | None
    auc_ci: tuple[float | None, float | None]
    sdt: SDT
    roc: RocCurve
    proportion_correct: float
    sokal_michener: float | None = None  # test-retest (first two sessions), participants only
    retest_pairs: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader must know (small samples)

    def to_dict(self) -> dict:
        d = {
            "label": self.label,
            "n_trials": self.n_trials,
            "n_real": self.n_real,
            "n_generated": self.n_generated,
            "sessions": self.sessions,
            "confidence_levels": self.confidence_levels,
            "auc": self.auc,
            "auc_ci": list(self.auc_ci),
            "dprime": self.sdt.dprime,
            "c": self.sdt.c,
            "hit_rate": self.sdt.hit_rate,
            "false_alarm_rate": self.sdt.fa_rate,
            "counts": {
                "hits": self.sdt.hits,
                "misses": self.sdt.misses,
                "false_alarms": self.sdt.false_alarms,
                "correct_rejections": self.sdt.correct_rejections,
            },
            "correction": self.sdt.correction,
            "proportion_correct": self.proportion_correct,
            "roc": {
                "fpr": self.roc.fpr.tolist(),
                "tpr": self.roc.tpr.tolist(),
                "criteria": self.roc.criteria.tolist(),
            },
            "sokal_michener": self.sokal_michener,
            "retest_pairs": self.retest_pairs,
            "notes": self.notes,
        }
        return d


def retest_agreement(responses: Sequence[Response]) -> list[dict]:
    """Sokal-Michener agreement for every pair of sessions of one participant.

    Trials are paired by (image, truth, k-th showing within the session)."""
    by_session: dict[int, dict[tuple, bool]] = defaultdict(dict)
    seen: dict[tuple, int] = defaultdict(int)
    for r in sorted(responses, key=lambda r: (r.session, r.trial)):
        key = (r.image, r.truth)
        k = seen[(r.session, *key)]
        seen[(r.session, *key)] += 1
        by_session[r.session][(*key, k)] = r.response == "real"
    sessions = sorted(by_session)
    pairs = []
    for i, s1 in enumerate(sessions):
        for s2 in sessions[i + 1 :]:
            common = sorted(set(by_session[s1]) & set(by_session[s2]))
            if not common:
                continue
            a = [by_session[s1][c] for c in common]
            b = [by_session[s2][c] for c in common]
            pairs.append(
                {"sessions": [s1, s2], "n": len(common), "sokal_michener": sokal_michener(a, b)}
            )
    return pairs


def summarize_group(
    responses: Sequence[Response],
    label: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    correction: str = "loglinear",
    retest: bool = True,
    retest_from: Sequence[Response] | None = None,
) -> Summary:
    """ROC, AUC (+ bootstrap CI), d', c and proportion correct of one group of responses.

    Mixed confidence scales: d', c, the rates and the real/fake ROC point only (the ratings
    of different scales are not comparable), with a note. Test-retest agreement comes from
    `retest_from` when given (all sessions, when the numbers are of one session only).
    """
    if not responses:
        raise JudgementError(f"{label}: no responses")
    notes: list[str] = []
    levels = sorted({r.confidence_levels for r in responses})
    y = np.array([r.truth == "real" for r in responses])
    if y.all() or not y.any():
        kind = "real" if y.all() else "generated"
        raise JudgementError(f"{label}: every trial showed a {kind} image; an ROC needs both")
    said_real = np.array([r.response == "real" for r in responses])
    hits = int((said_real & y).sum())
    fas = int((said_real & ~y).sum())
    d = sdt(hits, int(y.sum()) - hits, fas, int((~y).sum()) - fas, correction)
    n_real, n_gen = int(y.sum()), int((~y).sum())
    if len(levels) == 1:
        n_levels: int | None = levels[0]
        s = np.array([r.rating for r in responses])
        the_auc: float | None = auc(y, s)
        ci: tuple = auc_bootstrap_ci(y, s, n_boot=n_boot, seed=seed)
        roc = roc_points(y, s, n_levels)
    else:
        n_levels, the_auc, ci = None, None, (None, None)
        roc = roc_points(y, said_real.astype(np.int64) + 1, 1)  # the real/fake point
        notes.append(
            f"{label}: answers on different confidence scales ({', '.join(map(str, levels))} "
            "levels): no AUC or rating ROC for this group; d', c, hit and false-alarm rates "
            "come from the real/fake answers"
        )
    if min(n_real, n_gen) < SMALL_SAMPLE:
        msg = (
            f"{label}: only {n_real} real and {n_gen} generated trials (fewer than "
            f"{SMALL_SAMPLE} of a kind): the AUC, d' and their CI are unreliable"
        )
        if the_auc is not None and ci[0] == ci[1]:
            msg += (
                f"; the bootstrap CI [{ci[0]:.3f}, {ci[1]:.3f}] has zero width only because "
                "every resample of so few trials gives the same AUC"
            )
        notes.append(msg)
    pairs = (
        retest_agreement(retest_from if retest_from is not None else responses) if retest else []
    )
    return Summary(
        label=label,
        n_trials=len(responses),
        n_real=n_real,
        n_generated=n_gen,
        sessions=sorted({r.session for r in responses}),
        confidence_levels=n_levels,
        auc=the_auc,
        auc_ci=ci,
        sdt=d,
        roc=roc,
        proportion_correct=float(np.mean(said_real == y)),
        sokal_michener=pairs[0]["sokal_michener"] if pairs else None,
        retest_pairs=pairs,
        notes=notes,
    )


@dataclass
class Analysis:
    participants: list[Summary]
    pooled: Summary
    mean_auc: float | None  # over participants with an AUC
    mean_dprime: float
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # sessions, scales, small samples

    def to_dict(self) -> dict:
        return {
            "participants": [p.to_dict() for p in self.participants],
            "pooled": self.pooled.to_dict(),
            "mean_auc": self.mean_auc,
            "mean_dprime": self.mean_dprime,
            "settings": self.settings,
            "notes": self.notes,
        }


def analyze(
    responses: Sequence[Response],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    correction: str = "loglinear",
    session: int | None = None,
) -> Analysis:
    """Per-participant summaries and a pooled summary of all trials, plus the mean of the
    per-participant AUCs and d's.

    Each participant's numbers pool all their sessions (a retest image counts once per
    session), or only session `session`; test-retest agreement (Sokal-Michener) always
    compares their sessions. `notes` says how sessions were treated, which scales were
    inferred or could not be pooled, and which groups have too few trials.
    """
    if not responses:
        raise JudgementError("no responses to analyse")
    if correction not in CORRECTIONS:
        raise JudgementError(
            f"correction must be one of {', '.join(CORRECTIONS)}, not {correction!r}"
        )
    all_sessions = sorted({r.session for r in responses})
    notes: list[str] = []
    groups: dict[str, list[Response]] = defaultdict(list)
    for r in responses:
        groups[r.participant].append(r)
    chosen = list(responses)
    if session is not None:
        if isinstance(session, bool) or not isinstance(session, (int, np.integer)):
            raise JudgementError(f"session must be a whole number, not {session!r}")
        chosen = [r for r in responses if r.session == session]
        if not chosen:
            raise JudgementError(
                f"no answers of session {session}; the files hold session(s) "
                f"{', '.join(map(str, all_sessions))}"
            )
        absent = sorted(p for p in groups if all(r.session != session for r in groups[p]))
        notes.append(
            f"session {session} only (the files hold session(s) "
            f"{', '.join(map(str, all_sessions))}); test-retest agreement compares all "
            "sessions" + (f"; without session {session}: {', '.join(absent)}" if absent else "")
        )
    elif any(len({r.session for r in g}) > 1 for g in groups.values()):
        notes.append(
            "sessions pooled: each participant's (and the pooled row's) AUC, d', c, H and F "
            "count every session's answers (an image shown in two sessions counts twice); "
            "--session N analyses one "
            "session; SM is Sokal-Michener test-retest agreement between the first two "
            "sessions over the images both showed"
        )
    inferred = sorted({r.participant for r in responses if r.levels_inferred})
    if inferred:
        scales = {
            p: max(r.confidence_levels for r in groups[p] if r.levels_inferred) for p in inferred
        }
        notes.append(
            "no confidence_levels recorded for "
            + ", ".join(f"{p} (taken as {n})" for p, n in scales.items())
            + ": the scale is the highest confidence given; AUC, ROC points, d' and c do not "
            "depend on it"
        )
    per = []
    for p in sorted(groups):
        mine = [r for r in chosen if r.participant == p]
        if not mine:
            continue
        per.append(
            summarize_group(
                mine,
                p,
                n_boot=n_boot,
                seed=seed,
                correction=correction,
                retest_from=groups[p],
            )
        )
    pooled = summarize_group(
        chosen, "pooled", n_boot=n_boot, seed=seed, correction=correction, retest=False
    )
    if pooled.auc is None:
        # Replace the generic note: say who used which scale.
        by_scale: dict[int, list[str]] = defaultdict(list)
        for p in per:
            if p.confidence_levels is not None:
                by_scale[p.confidence_levels].append(p.label)
        pooled.notes[0] = (
            "pooled: participants used different confidence scales ("
            + "; ".join(f"{n} levels: {', '.join(ps)}" for n, ps in sorted(by_scale.items()))
            + "): the pooled row has d', c, hit and false-alarm rates from the real/fake "
            "answers and no AUC; the mean of the participants' AUCs is given instead"
        )
    for sm in per + [pooled]:
        notes += sm.notes
    aucs = [p.auc for p in per if p.auc is not None]
    return Analysis(
        participants=per,
        pooled=pooled,
        mean_auc=float(np.mean(aucs)) if aucs else None,
        mean_dprime=float(np.mean([p.sdt.dprime for p in per])),
        settings={
            "bootstrap": n_boot,
            "seed": seed,
            "correction": correction,
            "ci_level": 0.95,
            "signal": "real images; rating 2N = surely real",
            "session": session,
            "small_sample": SMALL_SAMPLE,
        },
        notes=notes,
    )


def _f(v, fmt: str = ".3f") -> str:
    if v is None:
        return "-"
    return format(v, fmt)


def format_table(a: Analysis) -> str:
    """The analysis as a plain-text table, followed by its notes."""
    head = f"{'participant':<14}{'trials':>7}{'AUC':>7}{'95% CI':>16}{'d_prime':>9}{'c':>8}"
    head += f"{'H':>7}{'F':>7}{'SM':>7}"
    lines = [head]

    def row(s: Summary) -> str:
        ci = "-" if s.auc_ci[0] is None else f"[{s.auc_ci[0]:.3f}, {s.auc_ci[1]:.3f}]"
        return (
            f"{s.label[:13]:<14}{s.n_trials:>7}{_f(s.auc):>7}{ci:>16}{s.sdt.dprime:>9.3f}"
            f"{s.sdt.c:>8.3f}{s.sdt.hit_rate:>7.3f}{s.sdt.fa_rate:>7.3f}"
            f"{_f(s.sokal_michener):>7}"
        )

    lines += [row(s) for s in a.participants]
    lines.append(row(a.pooled))
    lines.append(
        f"mean over participants: AUC {_f(a.mean_auc)}, d' {a.mean_dprime:.3f} "
        f"(d', c: {a.settings.get('correction')} correction; SM: Sokal-Michener test-retest)"
    )
    lines += [f"note: {n}" for n in a.notes]
    return "\n".join(lines)
