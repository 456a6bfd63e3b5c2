"""The analysis of adjustment results: error distribution, circular SD, serial dependence.

Per participant and pooled:

- **Error distribution**: the signed circular errors (degrees), their circular mean, the
  circular SD sqrt(-2 ln R) (R = mean resultant length, Fisher 1993), the mean absolute error,
  and a histogram with one bin per frame step.
- **Serial dependence**: each trial's error against the previous target's offset from the
  current one (previous - current, wrapped into (-180, 180] degrees; only when the previous
  trial of the same session is the trial just before). Errors are first centred on each
  participant's circular mean error (a constant bias is not serial dependence). The curve is a
  derivative of Gaussian written so that its two parameters read directly:

      y(x) = amplitude * (x / width) * exp((1 - (x / width)**2) / 2)

  whose peak is `amplitude` degrees at an offset of `width` degrees (the usual DoG, a*w*c*x*
  exp(-(w x)**2) with c = sqrt(2e), has the same shape with width = 1 / (w sqrt 2)). Positive
  amplitude = attraction towards the previous target. Fitted by least squares: for a given
  width the amplitude has a closed form, the width is searched on a grid and refined with
  scipy.optimize.minimize_scalar. A percentile bootstrap over (offset, error) pairs gives the
  CI, and a permutation test (errors shuffled against offsets, which keeps both
  distributions) the two-sided p value of the amplitude. Both are seeded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .adjustment import AdjustmentResponse
from .sessions import JudgementError

MAX_WIDTH = 90.0  # degrees: the DoG's peak offset is searched up to here
SMALL_PAIRS = 50  # fewer (offset, error) pairs than this and the fit is flagged
_CHUNK = 128


def default_width_range(n_frames: int) -> tuple[float, float]:
    """Where the DoG's peak offset is searched: from two frame steps (a narrower peak rests
    on the nearest offsets alone and its amplitude is not defined) to 90 degrees."""
    return (max(2.0 * 360.0 / n_frames, 4.0), MAX_WIDTH)


def _width_grid(width_range) -> np.ndarray:
    lo, hi = (float(v) for v in width_range)
    if not (0 < lo < hi <= 180):
        raise JudgementError(
            f"the width range must lie in (0, 180] deg, low < high, not {lo}..{hi}"
        )
    return np.linspace(lo, hi, max(int(round((hi - lo) / 0.5)) + 1, 2))


def dog(x, amplitude: float, width: float):
    """The derivative-of-Gaussian curve: peak `amplitude` at offset `width` (degrees)."""
    u = np.asarray(x, dtype=np.float64) / width
    return amplitude * u * np.exp(0.5 * (1.0 - u * u))


def wrap_deg(d):
    """Angles wrapped into (-180, 180]."""
    d = np.asarray(d, dtype=np.float64)
    w = np.mod(d + 180.0, 360.0) - 180.0
    return np.where(w == -180.0, 180.0, w)


def circular_summary(err_deg) -> dict:
    """Circular mean, circular SD (deg), mean resultant length, mean |error|."""
    e = np.radians(np.asarray(err_deg, dtype=np.float64))
    if e.size == 0:
        return {"n": 0, "mean": None, "circular_sd": None, "R": None, "mean_abs": None}
    c, s = np.cos(e).mean(), np.sin(e).mean()
    r = float(np.hypot(c, s))
    sd = float(np.degrees(np.sqrt(-2.0 * np.log(r)))) if r > 0 else float("inf")
    return {
        "n": int(e.size),
        "mean": float(np.degrees(np.arctan2(s, c))),
        "circular_sd": sd,
        "R": r,
        "mean_abs": float(np.degrees(np.abs(e)).mean()),
    }


class _Design:
    """The DoG of every distinct offset at every grid width: fits of many resampled data
    sets reduce to per-offset counts and sums (offsets are whole frame steps)."""

    def __init__(self, x: np.ndarray, widths: np.ndarray):
        self.ux, self.inv = np.unique(x, return_inverse=True)
        self.widths = widths
        self.G = dog(self.ux[:, None], 1.0, widths[None, :])  # (offsets, widths)
        self.G2 = self.G * self.G

    def fits(self, xi: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best (amplitude, width) on the grid for each row of offset indices / errors."""
        k, nu = Y.shape[0], len(self.ux)
        flat = (xi + nu * np.arange(k)[:, None]).ravel()
        C = np.bincount(flat, minlength=k * nu).reshape(k, nu).astype(np.float64)
        S = np.bincount(flat, weights=Y.ravel(), minlength=k * nu).reshape(k, nu)
        gg = C @ self.G2
        yg = S @ self.G
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(gg > 0, yg / gg, 0.0)
        sse = (Y * Y).sum(1)[:, None] - a * yg
        j = np.argmin(sse, axis=1)
        return a[np.arange(k), j], self.widths[j]


def fit_dog(x, y, width_range=(4.0, MAX_WIDTH)) -> tuple[float, float, float]:
    """Least-squares DoG fit: (amplitude, width, residual SD); the width is searched on a
    0.5-degree grid within `width_range` and refined with scipy."""
    from scipy.optimize import minimize_scalar

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 3:
        raise JudgementError(f"serial dependence needs 3 or more trial pairs, not {x.size}")
    grid = _width_grid(width_range)

    def cost(w):
        g = dog(x, 1.0, w)
        gg = float(g @ g)
        return float(y @ y - (y @ g) ** 2 / gg) if gg > 0 else float(y @ y)

    costs = np.array([cost(w) for w in grid])
    k = int(np.argmin(costs))
    best_w, best = float(grid[k]), float(costs[k])
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    if res.success and res.fun <= best:
        best_w, best = float(res.x), float(res.fun)
    g = dog(x, 1.0, best_w)
    amp = float((y @ g) / (g @ g)) if float(g @ g) > 0 else 0.0
    return amp, best_w, float(np.sqrt(max(best, 0.0) / max(x.size - 2, 1)))


def bootstrap_dog(x, y, n_boot: int, seed: int, width_range, level: float = 0.95) -> dict:
    """Percentile bootstrap CIs of amplitude and width, resampling (offset, error) pairs."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = _Design(x, _width_grid(width_range))
    rng = np.random.default_rng(seed)
    amps, widths = [], []
    for start in range(0, n_boot, _CHUNK):
        idx = rng.integers(0, x.size, size=(min(_CHUNK, n_boot - start), x.size))
        a, w = d.fits(d.inv[idx], y[idx])
        amps.append(a)
        widths.append(w)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {
        "amplitude_ci": [float(v) for v in np.percentile(np.concatenate(amps), q)],
        "width_ci": [float(v) for v in np.percentile(np.concatenate(widths), q)],
        "n_boot": int(n_boot),
        "level": level,
    }


def permutation_dog(x, y, n_perm: int, seed: int, width_range) -> dict:
    """Two-sided permutation p of the amplitude: errors shuffled against the offsets (the
    statistic is the grid fit's amplitude, the same fit for the data and for the null)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = _Design(x, _width_grid(width_range))
    rng = np.random.default_rng(seed)
    obs, _ = d.fits(d.inv[None, :], y[None, :])
    null = []
    for start in range(0, n_perm, _CHUNK):
        k = min(_CHUNK, n_perm - start)
        Y = rng.permuted(np.broadcast_to(y, (k, y.size)), axis=1)
        a, _ = d.fits(np.broadcast_to(d.inv, (k, y.size)), Y)
        null.append(a)
    null = np.concatenate(null)
    p = (1 + int(np.sum(np.abs(null) >= abs(obs[0]) - 1e-12))) / (1 + n_perm)
    return {"p": float(p), "n_perm": int(n_perm), "null_sd": float(null.std())}


def serial_pairs(
    responses: Sequence[AdjustmentResponse], demean: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(previous - current target offset, error) in degrees, over consecutive trials."""
    by_run: dict[tuple, list[AdjustmentResponse]] = defaultdict(list)
    for r in responses:
        by_run[(r.participant, r.session)].append(r)
    bias: dict[str, float] = {}
    if demean:
        by_p: dict[str, list[float]] = defaultdict(list)
        for r in responses:
            by_p[r.participant].append(r.error_deg)
        bias = {p: circular_summary(v)["mean"] for p, v in by_p.items()}
    xs, ys = [], []
    for (pid, _s), rows in by_run.items():
        rows = sorted(rows, key=lambda r: r.trial)
        for prev, cur in zip(rows, rows[1:]):
            if cur.trial != prev.trial + 1:
                continue
            xs.append(prev.target_deg - cur.target_deg)
            ys.append(cur.error_deg - bias.get(pid, 0.0))
    return wrap_deg(np.asarray(xs)), wrap_deg(np.asarray(ys))


def binned_means(x, y, bin_deg: float = 20.0) -> dict:
    """Mean error (and SEM) in offset bins, for plots."""
    x, y = np.asarray(x), np.asarray(y)
    edges = np.arange(-180.0, 180.0 + 1e-9, bin_deg)
    centers, means, sems, ns = [], [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (x > lo) & (x <= hi)
        if not m.any():
            continue
        centers.append((lo + hi) / 2)
        means.append(float(y[m].mean()))
        sems.append(float(y[m].std(ddof=1) / np.sqrt(m.sum())) if m.sum() > 1 else None)
        ns.append(int(m.sum()))
    return {"center": centers, "mean": means, "sem": sems, "n": ns}


@dataclass
class AdjustmentSummary:
    label: str
    n_trials: int
    sessions: list[int]
    errors: dict  # circular_summary
    histogram: dict  # error (frames) -> count
    serial: dict | None  # the DoG fit, CI, p, binned means; None with too few pairs
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "n_trials": self.n_trials,
            "sessions": self.sessions,
            "errors": self.errors,
            "histogram": self.histogram,
            "serial_dependence": self.serial,
            "notes": self.notes,
        }


@dataclass
class AdjustmentAnalysis:
    continuum: str
    n_frames: int
    participants: list[AdjustmentSummary]
    pooled: AdjustmentSummary
    settings: dict

    def to_dict(self) -> dict:
        return {
            "continuum": self.continuum,
            "n_frames": self.n_frames,
            "step_deg": 360.0 / self.n_frames,
            "model": "error = amplitude * (x / width) * exp((1 - (x / width)^2) / 2), "
            "x = previous target - current target (deg)",
            "settings": self.settings,
            "participants": [s.to_dict() for s in self.participants],
            "pooled": self.pooled.to_dict(),
        }


def summarize_adjustment(
    responses: Sequence[AdjustmentResponse],
    label: str,
    *,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int = 0,
    demean: bool = True,
    width_range: tuple[float, float] | None = None,
) -> AdjustmentSummary:
    """Error distribution and serial dependence of one group of responses."""
    if not responses:
        raise JudgementError(f"{label}: no responses")
    n = responses[0].n_frames
    wr = tuple(width_range) if width_range is not None else default_width_range(n)
    err_f = np.array([r.error_frames for r in responses])
    errs = circular_summary(err_f * 360.0 / n)
    values, counts = np.unique(err_f, return_counts=True)
    hist = {
        "error_frames": list(range(-((n - 1) // 2), n // 2 + 1)),
        "count": [0] * n,
    }
    for v, c in zip(values, counts):
        hist["count"][hist["error_frames"].index(int(v))] = int(c)
    hist["error_deg"] = [v * 360.0 / n for v in hist["error_frames"]]
    notes = []
    x, y = serial_pairs(responses, demean=demean)
    serial = None
    if x.size < 3:
        notes.append(f"only {x.size} consecutive trial pairs: no serial-dependence fit")
    else:
        amp, width, resid = fit_dog(x, y, wr)
        boot = bootstrap_dog(x, y, n_boot, seed, wr)
        perm = permutation_dog(x, y, n_perm, seed + 1, wr)
        serial = {
            "n_pairs": int(x.size),
            "amplitude": amp,
            "width": width,
            "residual_sd": resid,
            **boot,
            **perm,
            "width_at_bound": bool(min(abs(width - b) for b in wr) < 0.26),
            "binned": binned_means(x, y),
        }
        if x.size < SMALL_PAIRS:
            notes.append(f"only {x.size} trial pairs: the fit and its CI are rough")
        if serial["width_at_bound"]:
            notes.append(
                f"the fitted width lies at the edge of {wr[0]:g}..{wr[1]:g} "
                "deg: the curve is not well defined by these data"
            )
    return AdjustmentSummary(
        label=label,
        n_trials=len(responses),
        sessions=sorted({r.session for r in responses}),
        errors=errs,
        histogram=hist,
        serial=serial,
        notes=notes,
    )


def analyze_adjustment(
    responses: Sequence[AdjustmentResponse],
    *,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int = 0,
    demean: bool = True,
    session: int | None = None,
    width_range: tuple[float, float] | None = None,
) -> AdjustmentAnalysis:
    """Per participant and pooled summaries (`session`: that session only)."""
    if session is not None:
        responses = [r for r in responses if r.session == session]
        if not responses:
            raise JudgementError(f"no responses of session {session}")
    if not responses:
        raise JudgementError("no responses to analyse")
    for name, v, lo in (("bootstrap resamples", n_boot, 100), ("permutations", n_perm, 100)):
        if not lo <= v <= 1_000_000:
            raise JudgementError(f"{name} must lie in {lo}..1000000, not {v}")
    wr = tuple(width_range) if width_range else default_width_range(responses[0].n_frames)
    _width_grid(wr)
    kw = {"n_boot": n_boot, "n_perm": n_perm, "seed": seed, "demean": demean, "width_range": wr}
    by_p: dict[str, list[AdjustmentResponse]] = defaultdict(list)
    for r in responses:
        by_p[r.participant].append(r)
    parts = [summarize_adjustment(rs, pid, **kw) for pid, rs in sorted(by_p.items())]
    pooled = summarize_adjustment(list(responses), "pooled", **kw)
    return AdjustmentAnalysis(
        continuum=responses[0].continuum,
        n_frames=responses[0].n_frames,
        participants=parts,
        pooled=pooled,
        settings={**kw, "session": session, "width_range": list(wr)},
    )


def _f(v, spec=".1f") -> str:
    return "-" if v is None else format(v, spec)


def format_adjustment_table(a: AdjustmentAnalysis) -> str:
    step = 360.0 / a.n_frames
    lines = [
        f"Adjustment task on {a.continuum} ({a.n_frames} frames, {step:.3g} deg each)",
        f"{'group':<16}{'trials':>7}{'mean':>7}{'circSD':>8}{'|err|':>7}{'pairs':>7}"
        f"{'amp':>7}{'95% CI':>16}{'width':>7}{'p':>8}",
    ]
    groups = list(a.participants) + ([a.pooled] if len(a.participants) > 1 else [])
    for s in groups:
        e, sd = s.errors, s.serial or {}
        ci = sd.get("amplitude_ci")
        ci_txt = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-"
        lines.append(
            f"{s.label:<16}{s.n_trials:>7}{_f(e['mean']):>7}{_f(e['circular_sd']):>8}"
            f"{_f(e['mean_abs']):>7}{sd.get('n_pairs', 0):>7}{_f(sd.get('amplitude'), '.2f'):>7}"
            f"{ci_txt:>16}{_f(sd.get('width')):>7}{_f(sd.get('p'), '.3f'):>8}"
        )
    lines.append(
        "errors in degrees; amp: peak of the derivative-of-Gaussian fit of error against "
        "previous - current target (positive = towards the previous target), width: its offset"
    )
    for s in groups:
        for n in s.notes:
            lines.append(f"note ({s.label}): {n}")
    return "\n".join(lines)


def simulate_observer(
    *,
    participant: str = "sim",
    session: int = 1,
    continuum: str = "loop",
    n_frames: int = 72,
    n_trials: int = 400,
    amplitude: float = 0.0,
    width: float = 25.0,
    noise_sd: float = 12.0,
    bias: float = 0.0,
    seed: int = 0,
) -> list[AdjustmentResponse]:
    """A simulated observer: each response is the target plus `bias`, plus the DoG pull
    towards the previous target, plus Gaussian noise (degrees), rounded to the nearest frame.
    The trial plan is the task's own (`adjustment_plan`), so the targets are evenly spread."""
    from .adjustment import adjustment_plan

    rng = np.random.default_rng(seed)
    plan = adjustment_plan(n_frames, n_trials, seed)
    step = 360.0 / n_frames
    out, prev = [], None
    for t in plan:
        target = t.target_frame * step
        pull = 0.0 if prev is None else float(dog(wrap_deg(prev - target), amplitude, width))
        resp = target + bias + pull + rng.normal(0.0, noise_sd)
        frame = int(np.round(resp / step)) % n_frames
        out.append(
            AdjustmentResponse(
                participant=participant,
                session=session,
                trial=t.index,
                continuum=continuum,
                n_frames=n_frames,
                target_frame=t.target_frame,
                response_frame=frame,
                start_frame=t.start_frame,
                seed=seed,
            )
        )
        prev = target
    return out
