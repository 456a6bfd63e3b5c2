"""Localisation scoring of free-response marks against a search set's truth: lesion and
non-lesion localisations, the FROC and AFROC curves, the JAFROC figure of merit with its CI.

**Classification.** A mark is a lesion localisation (LL) of a lesion on its film when it lies
within the lesion's radius of its centre (distance <= radius, the boundary counts), or within
a stated acceptance radius in pixels or mm instead, or, with `inside_mask`, inside the lesion's
mask when the truth gives one. One mark per lesion counts: on each film the marks are taken
from the highest rating down, and each takes the nearest lesion it lies on that no higher-rated
mark has taken. A further mark on an already-taken lesion is a non-lesion localisation (NL), the
convention of Chakraborty's FROC data format (RJafroc). Every other mark is an NL.

**Figure of merit** (Chakraborty & Berbaum 2004, the original JAFROC FOM, RJafroc's "JAFROC"):
the Wilcoxon statistic of each lesion's LL rating against the highest NL rating on each normal
film, ties counting one half, an unmarked lesion or a normal film without marks rated -inf:
    theta = 1 / (N_normal * N_lesions) * sum_i sum_j psi(X_i, Y_j),  psi = 1 if Y > X, 0.5 if
    Y = X, else 0.
It is the area under the AFROC curve (with its straight end to (1, 1)); 0.5 would be a reader
whose marks say nothing, 1 a reader who marks every lesion above every normal film's mark.
wAFROC weights each lesion by 1 / (lesions on its film), so every abnormal film counts once.
CIs: a percentile case bootstrap (normal and abnormal films resampled separately, seeded), and
the case jackknife's standard error. The pooled FOM is the mean of the readers' FOMs, its CI
from the same resampled cases for every reader (readers fixed, cases random).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .localisation_io import Lesion, Mark, Truth
from .sessions import JudgementError

CONVENTION = (
    "one LL per lesion: the highest-rated mark on it; further marks on it are NL "
    "(Chakraborty); an unmarked lesion or normal film is rated -inf; JAFROC FOM = "
    "Wilcoxon of LL ratings against each normal film's highest NL, ties 1/2"
)


@dataclass(frozen=True)
class Acceptance:
    """Where a mark counts as on a lesion: its radius (default), `px` or `mm` around the centre,
    or, with `inside_mask`, inside the lesion's mask where the truth gives one."""

    px: float | None = None
    mm: float | None = None
    inside_mask: bool = False

    def __post_init__(self):
        if self.px is not None and self.mm is not None:
            raise JudgementError("give the acceptance radius in px or in mm, not both")
        for name, v in (("px", self.px), ("mm", self.mm)):
            if v is not None and not (math.isfinite(v) and v > 0):
                raise JudgementError(f"the acceptance radius in {name} must be above 0, not {v}")

    def describe(self) -> str:
        base = (
            f"within {self.px:g} px of the centre"
            if self.px is not None
            else f"within {self.mm:g} mm of the centre"
            if self.mm is not None
            else "within the lesion's radius"
        )
        return base + (" (inside its mask where one is given)" if self.inside_mask else "")


@dataclass(frozen=True)
class Scored:
    """A mark and what it was: "LL" (with its lesion) or "NL" (`duplicate` = on a lesion that
    a higher-rated mark had taken)."""

    mark: Mark
    kind: str
    lesion: Lesion | None = None
    duplicate: bool = False


class _Masks:
    def __init__(self, truth: Truth):
        self.folder, self.cache = truth.folder, {}

    def inside(self, les: Lesion, x: float, y: float) -> bool:
        if les.mask_file not in self.cache:
            import cv2

            path = self.folder / les.mask_file
            arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
            if arr is None:
                raise JudgementError(f"mask {path} of lesion {les.lesion} cannot be read")
            self.cache[les.mask_file] = (arr[..., 0] if arr.ndim == 3 else arr) > 0
        m = self.cache[les.mask_file]
        r, c = math.floor(y + 0.5), math.floor(x + 0.5)
        return 0 <= r < m.shape[0] and 0 <= c < m.shape[1] and bool(m[r, c])


def classify(marks: list[Mark], truth: Truth, acceptance: Acceptance = Acceptance()) -> list:
    """Each mark as LL or NL (see the module's docstring); returned in the marks' order."""
    by_film: dict[str, list[Lesion]] = {}
    for les in truth.lesions:
        by_film.setdefault(les.film, []).append(les)
    masks = _Masks(truth)

    def on(les: Lesion, m: Mark) -> float | None:  # distance when the mark is on it
        d = math.hypot(m.x - les.x, m.y - les.y)
        if acceptance.inside_mask and les.mask_file:
            return d if masks.inside(les, m.x, m.y) else None
        if acceptance.mm is not None:
            if les.mm_per_px is None:
                raise JudgementError(
                    f"lesion {les.lesion} of {les.film} has no radius_mm, so an acceptance "
                    "radius in mm cannot be used"
                )
            limit = acceptance.mm / les.mm_per_px
        else:
            limit = acceptance.px if acceptance.px is not None else les.radius_px
        return d if d <= limit * (1 + 1e-12) else None

    out: list[Scored | None] = [None] * len(marks)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, m in enumerate(marks):
        groups.setdefault((m.reader, m.film), []).append(i)
    for (_, film), idx in groups.items():
        taken: set[str] = set()
        for i in sorted(idx, key=lambda i: -marks[i].rating):  # stable: file order on ties
            m = marks[i]
            near = [(d, les) for les in by_film.get(film, []) if (d := on(les, m)) is not None]
            free = [(d, les) for d, les in near if les.lesion not in taken]
            if free:
                les = min(free, key=lambda t: t[0])[1]
                taken.add(les.lesion)
                out[i] = Scored(m, "LL", les)
            else:
                out[i] = Scored(m, "NL", duplicate=bool(near))
    return out


@dataclass
class Reading:
    """One reader's marks reduced to what the FOM needs, in the truth's order."""

    label: str
    normal_nl: np.ndarray  # highest NL rating on each normal film (-inf: none)
    ll: np.ndarray  # each lesion's LL rating (-inf: unmarked)
    lesion_case: np.ndarray  # the abnormal film (0..N_abnormal-1) of each lesion
    nl: np.ndarray  # every NL rating, all films
    n_films: int
    n_marks: int
    n_duplicates: int

    @property
    def weights(self) -> np.ndarray:
        return 1.0 / np.bincount(self.lesion_case)[self.lesion_case]


def reading(label: str, scored: list[Scored], truth: Truth) -> Reading:
    normal = {f: i for i, f in enumerate(truth.normal)}
    abnormal = {f: i for i, f in enumerate(truth.abnormal)}
    lesion_ix = {(les.film, les.lesion): j for j, les in enumerate(truth.lesions)}
    normal_nl = np.full(len(normal), -np.inf)
    ll = np.full(len(lesion_ix), -np.inf)
    nl = []
    for s in scored:
        if s.kind == "LL":
            ll[lesion_ix[(s.lesion.film, s.lesion.lesion)]] = s.mark.rating
        else:
            nl.append(s.mark.rating)
            if s.mark.film in normal:
                k = normal[s.mark.film]
                normal_nl[k] = max(normal_nl[k], s.mark.rating)
    return Reading(
        label=label,
        normal_nl=normal_nl,
        ll=ll,
        lesion_case=np.array([abnormal[les.film] for les in truth.lesions]),
        nl=np.array(nl, float),
        n_films=len(truth.films),
        n_marks=len(scored),
        n_duplicates=sum(s.duplicate for s in scored),
    )


def _finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-inf (unmarked) -> one below every rating given, so that sklearn can rank it."""
    both = np.concatenate([x, y])
    floor = both[np.isfinite(both)].min() - 1.0 if np.isfinite(both).any() else 0.0
    return np.where(np.isfinite(x), x, floor), np.where(np.isfinite(y), y, floor)


def jafroc_fom(r: Reading, weighted: bool = False) -> float:
    """The JAFROC FOM (or wAFROC with `weighted`) as sklearn's Mann-Whitney AUC of lesions'
    LL ratings (weighted 1/lesions on the film for wAFROC) against normal films' highest NL."""
    from sklearn.metrics import roc_auc_score

    x, y = _finite(r.normal_nl, r.ll)
    w = np.concatenate([np.ones_like(x), r.weights if weighted else np.ones_like(y)])
    truth = np.concatenate([np.zeros(x.size), np.ones(y.size)])
    return float(roc_auc_score(truth, np.concatenate([x, y]), sample_weight=w))


def _psi(r: Reading) -> np.ndarray:
    """psi(X_i, Y_j) for every normal film i and lesion j: the Wilcoxon kernel."""
    x, y = r.normal_nl[:, None], r.ll[None, :]
    return (y > x) + 0.5 * (y == x)


def _fom_from_counts(psis, case_of_lesion, weights, cn, ca) -> np.ndarray:
    """The readers' mean FOM for case multiplicities cn [B, N_normal], ca [B, N_abnormal]."""
    cl = ca[:, case_of_lesion] * weights  # [B, N_lesions]
    denom = cn.sum(1) * cl.sum(1)
    return np.mean([np.einsum("bi,ij,bj->b", cn, p, cl) / denom for p in psis], axis=0)


def _multiplicity(idx: np.ndarray, n: int) -> np.ndarray:
    rows = idx.reshape(-1, idx.shape[-1])
    out = np.zeros((rows.shape[0], n))
    np.add.at(out, (np.arange(rows.shape[0])[:, None], rows), 1.0)
    return out


def fom_ci(
    readings: list[Reading],
    weighted: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Bootstrap percentile CI (normal and abnormal films resampled separately, scipy's
    `bootstrap`, seeded) and the case jackknife SE of the readers' mean FOM."""
    from scipy import stats

    r0 = readings[0]
    nn, na = r0.normal_nl.size, int(r0.lesion_case.max()) + 1
    psis = [_psi(r) for r in readings]
    w = r0.weights if weighted else np.ones(r0.ll.size)

    def stat(i_n, i_a, axis=-1):
        shape = i_n.shape[:-1]
        v = _fom_from_counts(
            psis, r0.lesion_case, w, _multiplicity(i_n, nn), _multiplicity(i_a, na)
        )
        return v.reshape(shape)

    out: dict = {"ci": [None, None], "jackknife_se": None, "ci_jackknife": [None, None]}
    if nn >= 2 and na >= 2:
        res = stats.bootstrap(
            (np.arange(nn), np.arange(na)),
            stat,
            n_resamples=n_boot,
            vectorized=True,
            paired=False,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        out["ci"] = [float(res.confidence_interval.low), float(res.confidence_interval.high)]
    # the case jackknife: leave each normal, then each abnormal film out
    k = nn + na
    cn = np.ones((k, nn))
    ca = np.ones((k, na))
    cn[np.arange(nn), np.arange(nn)] = 0
    ca[nn + np.arange(na), np.arange(na)] = 0
    ok = (cn.sum(1) > 0) & (ca.sum(1) > 0)
    if ok.all() and k > 2:
        loo = _fom_from_counts(psis, r0.lesion_case, w, cn, ca)
        se = float(np.sqrt((k - 1) / k * np.sum((loo - loo.mean()) ** 2)))
        full = float(
            _fom_from_counts(psis, r0.lesion_case, w, np.ones((1, nn)), np.ones((1, na)))[0]
        )
        t = float(stats.t.ppf(0.5 + level / 2, k - 1))
        out["jackknife_se"] = se
        out["ci_jackknife"] = [max(0.0, full - t * se), min(1.0, full + t * se)]
    return out


def froc_points(r: Reading) -> dict:
    """Empirical FROC (NLF = NLs per film, LLF = fraction of lesions) and AFROC (FPF =
    fraction of normal films with an NL at or above the threshold) at every rating given,
    from the strictest; the AFROC ends at (1, 1) and its area is the JAFROC FOM."""
    given = np.concatenate([r.ll, r.nl, r.normal_nl])
    ts = np.unique(given[np.isfinite(given)])[::-1]
    llf = [0.0] + [float((r.ll >= t).mean()) for t in ts]
    nlf = [0.0] + [float((r.nl >= t).sum() / r.n_films) for t in ts]
    fpf = [0.0] + [float((r.normal_nl >= t).mean()) for t in ts]
    return {
        "thresholds": [float(t) for t in ts],
        "froc": {"nlf": nlf, "llf": llf},
        "afroc": {"fpf": fpf + [1.0], "llf": llf + [1.0]},
    }


@dataclass
class ReaderScore:
    label: str
    reading: Reading | None
    fom: float
    ci: list
    jackknife_se: float | None
    ci_jackknife: list
    wafroc: float
    wafroc_ci: list
    counts: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "reader": self.label,
            "jafroc_fom": self.fom,
            "jafroc_ci": self.ci,
            "jackknife_se": self.jackknife_se,
            "jafroc_ci_jackknife": self.ci_jackknife,
            "wafroc_fom": self.wafroc,
            "wafroc_ci": self.wafroc_ci,
            "counts": self.counts,
            "curves": self.curves,
        }


@dataclass
class LocalisationAnalysis:
    readers: list[ReaderScore]
    pooled: ReaderScore
    settings: dict
    scored: list[Scored] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "readers": [r.to_dict() for r in self.readers],
            "pooled": self.pooled.to_dict(),
            "settings": self.settings,
        }


def analyze_localisation(
    marks: list[Mark],
    truth: Truth,
    acceptance: Acceptance = Acceptance(),
    n_boot: int = 2000,
    seed: int = 0,
) -> LocalisationAnalysis:
    """Score every reader's marks; the pooled row is the mean over readers."""
    if not (isinstance(n_boot, (int, np.integer)) and 100 <= n_boot <= 1_000_000):
        raise JudgementError(f"bootstrap resamples must lie in 100..1000000, not {n_boot}")
    scored = classify(marks, truth, acceptance)
    labels = list(dict.fromkeys(m.reader for m in marks)) or ["reader"]
    readings = [reading(lab, [s for s in scored if s.mark.reader == lab], truth) for lab in labels]
    out = []
    for r in readings:
        ci, wci = fom_ci([r], False, n_boot, seed), fom_ci([r], True, n_boot, seed)
        out.append(
            ReaderScore(
                label=r.label,
                reading=r,
                fom=jafroc_fom(r),
                ci=ci["ci"],
                jackknife_se=ci["jackknife_se"],
                ci_jackknife=ci["ci_jackknife"],
                wafroc=jafroc_fom(r, weighted=True),
                wafroc_ci=wci["ci"],
                counts={
                    "marks": r.n_marks,
                    "LL": int(np.isfinite(r.ll).sum()),
                    "NL": int(r.nl.size),
                    "NL_on_a_taken_lesion": r.n_duplicates,
                    "lesions": int(r.ll.size),
                    "normal_films": int(r.normal_nl.size),
                    "abnormal_films": len(truth.abnormal),
                },
                curves=froc_points(r),
            )
        )
    ci, wci = fom_ci(readings, False, n_boot, seed), fom_ci(readings, True, n_boot, seed)
    pooled = ReaderScore(
        label="pooled (mean of readers)" if len(out) > 1 else "pooled",
        reading=None,
        fom=float(np.mean([r.fom for r in out])),
        ci=ci["ci"],
        jackknife_se=ci["jackknife_se"],
        ci_jackknife=ci["ci_jackknife"],
        wafroc=float(np.mean([r.wafroc for r in out])),
        wafroc_ci=wci["ci"],
        counts={"readers": len(out)},
    )
    settings = {
        "acceptance": acceptance.describe(),
        "convention": CONVENTION,
        "bootstrap": n_boot,
        "seed": seed,
        "ci": "95% percentile case bootstrap, normal and abnormal films resampled separately",
        "truth": truth.path,
    }
    return LocalisationAnalysis(out, pooled, settings, scored)
