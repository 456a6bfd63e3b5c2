"""The adjustment task on a circular continuum (a loop of N frames): its trial plan, its
results file, and reading that file back.

On each trial the observer sees a *target* frame, then a mask, then a *response* frame that
starts at a random frame and is moved through the loop until it matches; the signed circular
error is response - target wrapped into (-N/2, N/2] frames, and in degrees error * 360 / N.

The trial plan is the same in the app, the exported PsychoPy script and the browser
experiment: targets evenly spread over the loop (each frame equally often, as far as the number
of trials allows), shuffled, and random start frames, all drawn from one 32-bit seed with the
`mulberry32` generator, which is written the same way in Python here and in JavaScript in the
browser experiment (integer arithmetic modulo 2**32, so both give the same numbers). Without a
seed, the seed is the FNV-1a hash of "participant|session": each participant and session has
its own order, and it can be rebuilt.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .results import _check_participant, _csv_rows, _CsvAppender, _Run
from .sessions import JudgementError

# The results file, in order. The app, the PsychoPy script and the browser experiment all
# write exactly these columns; confidence, rt_ms, onset and timestamp may be empty.
ADJUSTMENT_COLUMNS = (
    "participant",
    "session",
    "trial",
    "continuum",
    "n_frames",
    "seed",
    "target_frame",
    "start_frame",
    "response_frame",
    "error_frames",
    "error_deg",
    "confidence",
    "rt_ms",
    "onset",
    "timestamp",
)
ADJUSTMENT_REQUIRED = (
    "participant",
    "session",
    "trial",
    "continuum",
    "n_frames",
    "target_frame",
    "response_frame",
)

_M32 = 0xFFFFFFFF


class Mulberry32:
    """A small 32-bit generator (Tommy Ettinger's mulberry32); uniform floats k / 2**32.

    The browser experiment carries the same generator in JavaScript; keep them in step."""

    def __init__(self, seed: int):
        self.state = int(seed) & _M32

    def random(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & _M32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & _M32
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & _M32)) & _M32) ^ t
        return ((t ^ (t >> 14)) & _M32) / 4294967296.0

    def below(self, n: int) -> int:
        """A whole number in 0..n-1."""
        return int(math.floor(self.random() * n))


def fnv1a32(text: str) -> int:
    """FNV-1a hash of the UTF-8 bytes of `text` (32 bits): the default seed."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & _M32
    return h


def default_seed(participant: str, session: int) -> int:
    return fnv1a32(f"{participant}|{int(session)}")


@dataclass(frozen=True)
class AdjustmentTrial:
    index: int  # 1-based
    target_frame: int
    start_frame: int


def adjustment_plan(n_frames: int, n_trials: int, seed: int) -> list[AdjustmentTrial]:
    """Targets evenly spread over the loop and shuffled; start frames uniform at random."""
    _check_frames(n_frames)
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise JudgementError(f"the number of trials must be 1 or more, not {n_trials!r}")
    rng = Mulberry32(seed)
    targets = [(i * n_frames) // n_trials for i in range(n_trials)]
    for i in range(n_trials - 1, 0, -1):  # Fisher-Yates
        j = rng.below(i + 1)
        targets[i], targets[j] = targets[j], targets[i]
    return [AdjustmentTrial(i + 1, t, rng.below(n_frames)) for i, t in enumerate(targets)]


def _check_frames(n_frames) -> int:
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 3:
        raise JudgementError(f"a loop needs 3 frames or more, not {n_frames!r}")
    return n_frames


def circular_error(response: int, target: int, n_frames: int) -> int:
    """Signed error in frames, wrapped into (-N/2, N/2]."""
    e = (int(response) - int(target)) % n_frames
    return e - n_frames if e > n_frames / 2 else e


def frames_to_deg(frames: float, n_frames: int) -> float:
    return float(frames) * 360.0 / n_frames


@dataclass(frozen=True)
class AdjustmentResponse:
    """One row of the results file."""

    participant: str
    session: int
    trial: int
    continuum: str
    n_frames: int
    target_frame: int
    response_frame: int
    start_frame: int | None = None
    seed: int | None = None
    confidence: int | None = None
    rt_ms: float | None = None
    onset: str = ""
    timestamp: str = ""

    @property
    def error_frames(self) -> int:
        return circular_error(self.response_frame, self.target_frame, self.n_frames)

    @property
    def error_deg(self) -> float:
        return frames_to_deg(self.error_frames, self.n_frames)

    @property
    def target_deg(self) -> float:
        return frames_to_deg(self.target_frame, self.n_frames)

    def check(self) -> AdjustmentResponse:
        _check_participant(self.participant)
        if self.session < 1:
            raise JudgementError(f"session number must be 1 or more, not {self.session}")
        if self.trial < 1:
            raise JudgementError(f"trial number must be 1 or more, not {self.trial}")
        if not self.continuum or any(c in self.continuum for c in "\r\n,"):
            raise JudgementError(f"continuum id {self.continuum!r} is empty or not one word")
        _check_frames(self.n_frames)
        for name in ("target_frame", "response_frame", "start_frame"):
            v = getattr(self, name)
            if v is not None and not 0 <= v < self.n_frames:
                raise JudgementError(f"{name} {v} is outside 0..{self.n_frames - 1}")
        if self.rt_ms is not None and not (math.isfinite(self.rt_ms) and self.rt_ms >= 0):
            raise JudgementError(f"response time must be >= 0 ms, not {self.rt_ms}")
        return self

    def row(self) -> list[str]:
        def s(v):
            return "" if v is None else str(v)

        return [
            self.participant,
            str(self.session),
            str(self.trial),
            self.continuum,
            str(self.n_frames),
            s(self.seed),
            str(self.target_frame),
            s(self.start_frame),
            str(self.response_frame),
            str(self.error_frames),
            f"{self.error_deg:.4f}",
            s(self.confidence),
            "" if self.rt_ms is None else f"{self.rt_ms:.1f}",
            self.onset,
            self.timestamp,
        ]


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def adjustment_csv(responses: Iterable[AdjustmentResponse]) -> str:
    """The results file's text (header + rows), as every runner writes it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ADJUSTMENT_COLUMNS)
    for r in responses:
        w.writerow(r.check().row())
    return buf.getvalue()


class AdjustmentWriter(_CsvAppender):
    """Append-only adjustment results CSV: each row is written, flushed and fsynced."""

    COLUMNS = ADJUSTMENT_COLUMNS

    def _repair_and_check(self) -> bool:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):  # a half-written last row: never recorded
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
            data = data[: data.rfind(b"\n") + 1]
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if not header:
            self.path.write_bytes(b"")
            return True
        if tuple(header.split(",")) != ADJUSTMENT_COLUMNS:
            raise JudgementError(f"{self.path} is not a StimStudio adjustment results file")
        return False

    def append(self, r: AdjustmentResponse) -> None:
        r = r.check()
        if not r.timestamp:
            r = replace(r, timestamp=now_iso())
        self._w.writerow(r.row())
        self._sync()


def _opt_int(text: str) -> int | None:
    return int(text) if text else None


def _parse(row: dict[str, str]) -> AdjustmentResponse:
    rt = row.get("rt_ms", "")
    r = AdjustmentResponse(
        participant=row["participant"],
        session=int(row["session"]),
        trial=int(row["trial"]),
        continuum=row["continuum"],
        n_frames=int(row["n_frames"]),
        target_frame=int(row["target_frame"]),
        response_frame=int(row["response_frame"]),
        start_frame=_opt_int(row.get("start_frame", "")),
        seed=_opt_int(row.get("seed", "")),
        confidence=_opt_int(row.get("confidence", "")),
        rt_ms=float(rt) if rt else None,
        onset=row.get("onset", ""),
        timestamp=row.get("timestamp", ""),
    ).check()
    given = row.get("error_frames", "")
    if given and int(float(given)) != r.error_frames:
        raise JudgementError(
            f"error_frames {given} is not the circular error of response {r.response_frame} "
            f"to target {r.target_frame} on a {r.n_frames}-frame loop ({r.error_frames})"
        )
    return r


def _whole_row(row: list[str], header: list[str]) -> bool:
    """Whether a last line without its newline is a complete, valid row (a file saved by
    hand often ends so) rather than one cut off by a crash."""
    if len(row) != len(header):
        return False
    try:
        _parse(dict(zip(header, (c.strip() for c in row))))
    except (ValueError, KeyError, JudgementError):
        return False
    return True


def read_adjustment_results(
    paths: str | os.PathLike | Iterable[str | os.PathLike], *, allow_empty: bool = False
) -> list[AdjustmentResponse]:
    """Read one or more adjustment results CSVs; every problem names its file and line.

    All rows must come from one continuum (one id, one number of frames); a participant's
    session may not hold a trial number twice."""
    out: list[AdjustmentResponse] = []
    where: dict[tuple, str] = {}
    for path, line, r in _csv_rows(
        paths,
        ADJUSTMENT_REQUIRED,
        "adjustment",
        _parse,
        lambda text, rows, header: _whole_row(rows[-1], header),
        csv_errors=True,
    ):
        if out and (r.continuum, r.n_frames) != (out[0].continuum, out[0].n_frames):
            raise JudgementError(
                f"{path} line {line}: continuum {r.continuum} ({r.n_frames} frames) mixed "
                f"with {out[0].continuum} ({out[0].n_frames} frames); analyse one "
                "continuum at a time"
            )
        key = (r.participant, r.session, r.trial)
        if key in where:
            raise JudgementError(
                f"{path} line {line}: participant {r.participant} session {r.session} "
                f"trial {r.trial} is also at {where[key]}"
            )
        where[key] = f"{path.name} line {line}"
        out.append(r)
    if not out and not allow_empty:
        raise JudgementError("the results files hold no responses")
    return out


class AdjustmentRun(_Run):
    """One participant working through the adjustment task on a loop; each answer is on disk
    (flushed) before the next trial. Rows of this participant and session already in the
    results file (an interrupted run) are kept and their trials skipped; the seed then must
    be the one they were made with."""

    def __init__(
        self,
        continuum: str,
        n_frames: int,
        n_trials: int,
        results: str | os.PathLike,
        participant: str,
        session: int = 1,
        seed: int | None = None,
    ):
        self.participant = str(participant).strip()
        _check_participant(self.participant)
        self.session = int(session)
        if self.session < 1:
            raise JudgementError(f"session number must be 1 or more, not {session}")
        self.continuum = continuum
        self.n_frames = _check_frames(n_frames)
        self.seed = default_seed(self.participant, self.session) if seed is None else int(seed)
        if not 0 <= self.seed <= _M32:
            raise JudgementError(f"the seed must lie in 0..{_M32}, not {self.seed}")
        self.plan = adjustment_plan(self.n_frames, n_trials, self.seed)
        self.results = Path(results)
        done: set[int] = set()
        if self.results.exists() and self.results.stat().st_size > 0:
            for r in read_adjustment_results(self.results, allow_empty=True):
                if (r.participant, r.session) != (self.participant, self.session):
                    continue
                if (r.continuum, r.n_frames) != (continuum, self.n_frames):
                    raise JudgementError(
                        f"{self.results} holds this participant's session {self.session} on "
                        f"another continuum ({r.continuum}); choose another results file"
                    )
                if r.seed is not None and r.seed != self.seed:
                    raise JudgementError(
                        f"{self.results} holds this session with seed {r.seed}, not "
                        f"{self.seed}: resume it with seed {r.seed}"
                    )
                done.add(r.trial)
        self._writer = AdjustmentWriter(self.results)
        self._todo = [t for t in self.plan if t.index not in done]
        self.answered = len(self.plan) - len(self._todo)

    @property
    def current(self) -> AdjustmentTrial | None:
        return self._todo[0] if self._todo else None

    def respond(
        self,
        response_frame: int,
        rt_ms: float | None = None,
        confidence: int | None = None,
        onset: str = "",
    ) -> AdjustmentResponse:
        """Record the answer to the current trial (written and flushed) and move on."""
        t = self.current
        if t is None:
            raise JudgementError("the session is finished; there is no trial to answer")
        r = AdjustmentResponse(
            participant=self.participant,
            session=self.session,
            trial=t.index,
            continuum=self.continuum,
            n_frames=self.n_frames,
            target_frame=t.target_frame,
            response_frame=int(response_frame) % self.n_frames,
            start_frame=t.start_frame,
            seed=self.seed,
            confidence=confidence,
            rt_ms=rt_ms,
            onset=onset,
            timestamp=now_iso(),
        ).check()
        return self._record(r)
