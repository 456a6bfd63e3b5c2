"""Signal-detection measures: ROC points, AUC with a bootstrap CI, d' and c (log-linear
correction), Sokal-Michener agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sessions import JudgementError, _check_levels


@dataclass
class RocCurve:
    """ROC points from the most to the least strict criterion, (0, 0) first and (1, 1) last.

    Point k (k = 1..2N) says "real" when the rating is at least 2N + 1 - k."""

    fpr: np.ndarray
    tpr: np.ndarray
    criteria: np.ndarray  # the rating threshold of each point (2N + 1 for the (0, 0) point)


def _arrays(truth_real, ratings) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(truth_real)
    s = np.asarray(ratings)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise JudgementError("truth and ratings must be two lists of the same length")
    if y.size == 0:
        raise JudgementError("no trials to analyse")
    if y.dtype.kind not in "biu" or not np.isin(y, (0, 1)).all():
        raise JudgementError("truth must be True (real) or False (generated) for every trial")
    if s.dtype.kind not in "iu" and not (
        s.dtype.kind == "f" and np.all(np.isfinite(s)) and np.all(s == np.round(s))
    ):
        raise JudgementError("ratings must be whole numbers")
    return y.astype(bool), s.astype(np.int64)


def roc_points(truth_real, ratings, levels: int | None = None) -> RocCurve:
    """ROC from ratings 1..2N at every criterion of the scale (not only the observed ones)."""
    y, s = _arrays(truth_real, ratings)
    if y.all() or not y.any():
        raise JudgementError("an ROC needs trials with real and with generated images")
    top = 2 * _check_levels(levels) if levels is not None else int(s.max())
    if s.min() < 1 or s.max() > top:
        raise JudgementError(f"ratings must lie in 1..{top}")
    crit = np.arange(top + 1, 0, -1)  # top+1 (nobody says real) ... 1 (everybody does)
    tpr = np.array([(s[y] >= c).mean() for c in crit])
    fpr = np.array([(s[~y] >= c).mean() for c in crit])
    return RocCurve(fpr=fpr, tpr=tpr, criteria=crit)


def auc(truth_real, ratings) -> float:
    """Area under the rating ROC (ties count one half): P(rating real > rating generated)."""
    from sklearn.metrics import roc_auc_score

    y, s = _arrays(truth_real, ratings)
    if y.all() or not y.any():
        raise JudgementError("the AUC needs trials with real and with generated images")
    return float(roc_auc_score(y, s))


def _auc_from_counts(cr: np.ndarray, cf: np.ndarray) -> np.ndarray:
    """AUC from per-rating counts of real (cr) and generated (cf) trials, [..., levels]."""
    below = np.cumsum(cf, axis=-1) - cf  # generated trials rated strictly lower
    num = (cr * (below + 0.5 * cf)).sum(axis=-1)
    return num / (cr.sum(axis=-1) * cf.sum(axis=-1))


def auc_bootstrap_ci(
    truth_real, ratings, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the AUC, resampling real and generated trials separately."""
    y, s = _arrays(truth_real, ratings)
    if y.all() or not y.any():
        raise JudgementError("the AUC needs trials with real and with generated images")
    if not (isinstance(n_boot, (int, np.integer)) and 100 <= n_boot <= 1_000_000):
        raise JudgementError(f"bootstrap resamples must lie in 100..1000000, not {n_boot}")
    if not (0.5 < level < 1):
        raise JudgementError(f"confidence level must lie between 0.5 and 1, not {level}")
    lo_r, hi_r = int(s.min()), int(s.max())
    cr = np.bincount(s[y] - lo_r, minlength=hi_r - lo_r + 1)
    cf = np.bincount(s[~y] - lo_r, minlength=hi_r - lo_r + 1)
    rng = np.random.default_rng(seed)
    br = rng.multinomial(cr.sum(), cr / cr.sum(), size=n_boot)
    bf = rng.multinomial(cf.sum(), cf / cf.sum(), size=n_boot)
    aucs = _auc_from_counts(br, bf)
    a = (1 - level) / 2
    lo, hi = np.quantile(aucs, [a, 1 - a])
    return float(lo), float(hi)


def dprime(hit_rate: float, fa_rate: float) -> float:
    """d' = z(H) - z(F) (infinite when a rate is 0 or 1; use `sdt` for the correction)."""
    from scipy.stats import norm

    _check_rate(hit_rate, "hit rate")
    _check_rate(fa_rate, "false-alarm rate")
    return float(norm.ppf(hit_rate) - norm.ppf(fa_rate))


def criterion(hit_rate: float, fa_rate: float) -> float:
    """c = -(z(H) + z(F)) / 2; negative = liberal (says "real" readily)."""
    from scipy.stats import norm

    _check_rate(hit_rate, "hit rate")
    _check_rate(fa_rate, "false-alarm rate")
    zh, zf = norm.ppf(hit_rate), norm.ppf(fa_rate)
    if np.isinf(zh) and np.isinf(zf) and zh != zf:
        return float("nan")  # H = 1 and F = 0 without a correction: c is undefined
    return float(-(zh + zf) / 2)


def _check_rate(v: float, name: str) -> None:
    if not (isinstance(v, (int, float, np.floating, np.integer)) and 0.0 <= v <= 1.0):
        raise JudgementError(f"{name} must lie in [0, 1], not {v!r}")


@dataclass
class SDT:
    """Signal-detection numbers from real/fake answers (real images are the signal)."""

    hits: int
    misses: int
    false_alarms: int
    correct_rejections: int
    hit_rate: float  # raw
    fa_rate: float  # raw
    dprime: float  # from the corrected rates
    c: float
    correction: str


CORRECTIONS = ("loglinear", "extreme", "none")


def sdt(
    hits: int, misses: int, false_alarms: int, correct_rejections: int, correction="loglinear"
) -> SDT:
    """d' and c from counts. `loglinear` (Hautus 1995): H = (hits + 0.5) / (signal + 1),
    F = (false alarms + 0.5) / (noise + 1), applied to every data set alike (the default, as
    Hautus recommends: it biases d' less than correcting only extreme rates). `extreme`: the
    same correction, only when a raw rate is 0 or 1. `none`: raw rates; d' is ±inf when a
    rate is 0 or 1, and c is NaN when H = 1 and F = 0 (or the reverse)."""
    counts = (hits, misses, false_alarms, correct_rejections)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in counts):
        raise JudgementError("hit, miss, false-alarm and correct-rejection counts must be >= 0")
    ns, nn = hits + misses, false_alarms + correct_rejections
    if ns == 0 or nn == 0:
        raise JudgementError("d' needs trials with real and with generated images")
    if correction not in CORRECTIONS:
        raise JudgementError(
            f"correction must be one of {', '.join(CORRECTIONS)}, not {correction!r}"
        )
    h, f = hits / ns, false_alarms / nn
    extreme = h in (0.0, 1.0) or f in (0.0, 1.0)
    if correction == "loglinear" or (correction == "extreme" and extreme):
        h, f = (hits + 0.5) / (ns + 1), (false_alarms + 0.5) / (nn + 1)
    return SDT(
        int(hits),
        int(misses),
        int(false_alarms),
        int(correct_rejections),
        hits / ns,
        false_alarms / nn,
        dprime(h, f),
        criterion(h, f),
        correction,
    )


def _binary(v) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind in "US":
        low = np.char.lower(a.astype(str))
        if not np.isin(low, ("real", "fake")).all():
            raise JudgementError('responses must be "real" or "fake"')
        return low == "real"
    if a.dtype.kind in "biuf":
        if not np.isin(a, (0, 1)).all():
            raise JudgementError("binary responses must be 0/1 or True/False")
        return a.astype(bool)
    raise JudgementError("responses must be booleans, 0/1 or real/fake")


def sokal_michener(first, second) -> float:
    """Simple matching (a + d) / n of two binary response vectors (same images, same order):
    1 = identical answers, 0 = every answer flipped."""
    a, b = _binary(first), _binary(second)
    if a.ndim != 1 or a.shape != b.shape:
        raise JudgementError("test and retest must answer the same images (equal lengths)")
    if a.size == 0:
        raise JudgementError("test and retest share no images")
    return float(np.mean(a == b))
