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
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import StimStudioError

TRUTHS = ("real", "generated")
RESPONSES = ("real", "fake")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".pgm", ".dcm", ".dicom")
RESULT_COLUMNS = (
    "participant",
    "session",
    "trial",
    "image",
    "truth",
    "response",
    "confidence",
    "confidence_levels",
    "rt_ms",
    "timestamp",
)
# confidence_levels, rt_ms and timestamp are optional; the format is described for users in
# `stimstudio judge analyze --help` (cli/judge.py RESULTS_FORMAT) and the README.
REQUIRED_COLUMNS = RESULT_COLUMNS[:7]
SESSION_FORMAT = "stimstudio-judgement-session"

# Fewer trials of either kind than this and the AUC (and its bootstrap CI) is flagged.
SMALL_SAMPLE = 20


class JudgementError(StimStudioError):
    """A judgement session, results file or analysis input that cannot be used."""


# ------------------------------------------------------------------------------ sessions


@dataclass(frozen=True)
class Trial:
    """One trial: which image (absolute path, or as stored) and whether it is real."""

    index: int
    image: str
    truth: str  # "real" | "generated"


@dataclass
class Session:
    """A balanced, shuffled list of trials; `seed` rebuilds the same order from the same lists."""

    trials: list[Trial]
    seed: int
    confidence_levels: int = 4
    display_time_s: float | None = None  # None: the image stays until the answer
    iti_s: float | None = None  # inter-trial interval; None: next trial at once
    created: str = ""
    source: dict = field(default_factory=dict)

    @property
    def n_real(self) -> int:
        return sum(t.truth == "real" for t in self.trials)

    @property
    def n_generated(self) -> int:
        return sum(t.truth == "generated" for t in self.trials)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under `folder` (recursively, hidden files skipped), sorted by path."""
    root = Path(folder)
    if not root.is_dir():
        raise JudgementError(f"{root} is not a folder")
    found = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)


def _check_levels(levels) -> int:
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
        raise JudgementError(f"confidence levels must be an integer, not {levels!r}")
    if not (1 <= int(levels) <= 20):
        raise JudgementError(f"confidence levels must lie in 1..20, not {levels}")
    return int(levels)


def _check_seconds(value, name: str) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise JudgementError(f"{name} must be a number of seconds, not {value!r}") from None
    if not (math.isfinite(v) and 0 < v <= 3600):
        raise JudgementError(f"{name} must lie between 0 and 3600 seconds, not {value}")
    return v


def build_session(
    real: Sequence[str | os.PathLike],
    generated: Sequence[str | os.PathLike],
    *,
    seed: int | None = None,
    per_class: int | None = None,
    confidence_levels: int = 4,
    display_time_s: float | None = None,
    iti_s: float | None = None,
) -> Session:
    """A balanced, randomised trial list: `per_class` images of each kind (default: as many as
    the smaller list has), drawn without replacement and shuffled with `seed` (a fresh random
    seed is drawn and recorded when None). Paths are stored absolute."""
    real_p = [str(Path(p).resolve()) for p in real]
    gen_p = [str(Path(p).resolve()) for p in generated]
    if not real_p:
        raise JudgementError("the judgement session has no real images")
    if not gen_p:
        raise JudgementError("the judgement session has no generated images")
    for name, lst in (("real", real_p), ("generated", gen_p)):
        if len(set(lst)) != len(lst):
            dup = next(p for p in lst if lst.count(p) > 1)
            raise JudgementError(f"{dup} is listed twice among the {name} images")
    both = set(real_p) & set(gen_p)
    if both:
        raise JudgementError(f"{sorted(both)[0]} is listed as both real and generated")
    levels = _check_levels(confidence_levels)
    n_max = min(len(real_p), len(gen_p))
    if per_class is None:
        n = n_max
    else:
        if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)):
            raise JudgementError(f"images per class must be an integer, not {per_class!r}")
        if not (1 <= per_class <= n_max):
            raise JudgementError(
                f"images per class must lie in 1..{n_max} (real: {len(real_p)}, "
                f"generated: {len(gen_p)}), not {per_class}"
            )
        n = int(per_class)
    if seed is None:
        seed = secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise JudgementError(f"session seed must be a non-negative integer, not {seed!r}")
    rng = np.random.default_rng(int(seed))
    pick_r = rng.choice(len(real_p), size=n, replace=False)
    pick_g = rng.choice(len(gen_p), size=n, replace=False)
    items = [(real_p[i], "real") for i in pick_r] + [(gen_p[i], "generated") for i in pick_g]
    order = rng.permutation(len(items))
    trials = [Trial(k, items[j][0], items[j][1]) for k, j in enumerate(order)]
    return Session(
        trials=trials,
        seed=int(seed),
        confidence_levels=levels,
        display_time_s=_check_seconds(display_time_s, "display time"),
        iti_s=_check_seconds(iti_s, "inter-trial interval"),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        source={"real_available": len(real_p), "generated_available": len(gen_p)},
    )


def _relative(path: str, folder: Path) -> str:
    """`path` relative to `folder`, with forward slashes (as PsychoPy and other OSes want)."""
    try:
        rel = os.path.relpath(Path(path).resolve(), Path(folder).resolve())
    except ValueError:  # another drive on Windows
        raise JudgementError(
            f"{path} is on another drive than {folder}; put the images and the session together"
        ) from None
    return rel.replace(os.sep, "/")


def _atomic_write(path: Path, data: bytes) -> None:
    from .model import atomic_write_bytes

    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise JudgementError(f"cannot write {path}: {exc.strerror or exc}") from None


def session_to_json(session: Session, folder: str | os.PathLike) -> dict:
    """The session as a JSON document, image paths relative to `folder` (forward slashes)."""
    folder = Path(folder)
    return {
        "format": SESSION_FORMAT,
        "version": 1,
        "seed": session.seed,
        "confidence_levels": session.confidence_levels,
        "display_time_s": session.display_time_s,
        "iti_s": session.iti_s,
        "created": session.created,
        "source": session.source,
        "trials": [
            {"trial": t.index, "image": _relative(t.image, folder), "truth": t.truth}
            for t in session.trials
        ],
    }


def save_session(session: Session, path: str | os.PathLike) -> Path:
    """Write the session JSON atomically; image paths are stored relative to its folder."""
    path = Path(path)
    doc = session_to_json(session, path.parent)
    _atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    return path


def load_session(path: str | os.PathLike) -> Session:
    """Read a session JSON; relative image paths are resolved against its folder."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JudgementError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JudgementError(f"{path} is not a readable session file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SESSION_FORMAT:
        raise JudgementError(f"{path} is not a StimStudio judgement session")
    try:
        trials = []
        for k, t in enumerate(doc["trials"]):
            truth = str(t["truth"])
            if truth not in TRUTHS:
                raise JudgementError(f"{path}: trial {k} has truth {truth!r}")
            img = Path(t["image"])
            trials.append(Trial(int(t["trial"]), str((path.parent / img).resolve()), truth))
        return Session(
            trials=trials,
            seed=int(doc["seed"]),
            confidence_levels=_check_levels(int(doc["confidence_levels"])),
            display_time_s=_check_seconds(doc.get("display_time_s"), "display time"),
            iti_s=_check_seconds(doc.get("iti_s"), "inter-trial interval"),
            created=str(doc.get("created", "")),
            source=dict(doc.get("source") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise JudgementError(f"{path} is a damaged session file ({exc!r})") from None


PSYCHOPY_COLUMNS = ("trialIndex", "imageFile", "truth", "isReal", "displayTime", "iti")


def psychopy_conditions(session: Session, folder: str | os.PathLike) -> str:
    """PsychoPy conditions CSV text: identifier headers; `imageFile` relative to `folder`."""
    # Headers are identifiers (PsychoPy rejects anything else); optional columns are left
    # out rather than left empty.
    cols = list(PSYCHOPY_COLUMNS[:4])
    if session.display_time_s is not None:
        cols.append("displayTime")
    if session.iti_s is not None:
        cols.append("iti")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for t in session.trials:
        row = [t.index, _relative(t.image, Path(folder)), t.truth, int(t.truth == "real")]
        if session.display_time_s is not None:
            row.append(f"{session.display_time_s:g}")
        if session.iti_s is not None:
            row.append(f"{session.iti_s:g}")
        w.writerow(row)
    return buf.getvalue()


def write_psychopy_conditions(session: Session, path: str | os.PathLike) -> Path:
    """Write the PsychoPy conditions CSV atomically (`$imageFile` works in a Builder loop)."""
    path = Path(path)
    _atomic_write(path, psychopy_conditions(session, path.parent).encode("utf-8"))
    return path


# ------------------------------------------------------------------------------ responses


@dataclass(frozen=True)
class Response:
    """One answer as stored in the results CSV."""

    participant: str
    session: int
    trial: int
    image: str
    truth: str  # "real" | "generated"
    response: str  # "real" | "fake"
    confidence: int  # 1..confidence_levels
    confidence_levels: int
    rt_ms: float | None = None
    timestamp: str = ""
    levels_inferred: bool = False  # the file had no confidence_levels: the highest rating seen

    @property
    def rating(self) -> int:
        return rating(self.response, self.confidence, self.confidence_levels)

    def check(self) -> Response:
        _check_participant(self.participant)
        if self.truth not in TRUTHS:
            raise JudgementError(f"truth must be real or generated, not {self.truth!r}")
        if self.response not in RESPONSES:
            raise JudgementError(f"response must be real or fake, not {self.response!r}")
        _check_levels(self.confidence_levels)
        if not (1 <= self.confidence <= self.confidence_levels):
            raise JudgementError(
                f"confidence {self.confidence} is outside 1..{self.confidence_levels}"
            )
        if self.session < 1:
            raise JudgementError(f"session number must be 1 or more, not {self.session}")
        if self.rt_ms is not None and not (math.isfinite(self.rt_ms) and self.rt_ms >= 0):
            raise JudgementError(f"response time must be >= 0 ms, not {self.rt_ms}")
        return self


def _check_participant(pid: str) -> None:
    if not isinstance(pid, str) or not pid.strip():
        raise JudgementError("the participant id is empty")
    if pid != pid.strip() or any(c in pid for c in "\r\n"):
        raise JudgementError(f"participant id {pid!r} must be one line without outer spaces")


def rating(response: str, confidence: int, levels: int) -> int:
    """Answer + confidence → 1..2N: 1 = surely fake, N = guessing fake, N+1 = guessing real,
    2N = surely real."""
    if response == "real":
        return levels + confidence
    if response == "fake":
        return levels + 1 - confidence
    raise JudgementError(f"response must be real or fake, not {response!r}")


class ResultsWriter:
    """Append-only results CSV: every `append` writes one row, flushes and fsyncs it.

    Opening an existing file checks its header; a half-written last line (the machine died
    while writing it) is cut off, as that answer was never completely recorded.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            if not new:
                self._repair_and_check()
            self._f = open(self.path, "a", newline="", encoding="utf-8")
        except OSError as exc:
            raise JudgementError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        self._w = csv.writer(self._f, lineterminator="\n")
        if new:
            self._w.writerow(RESULT_COLUMNS)
            self._sync()

    def _repair_and_check(self) -> None:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            last = data[cut:].decode("utf-8", "replace")
            with open(self.path, "r+b") as f:
                if cut and _complete_row(last, list(RESULT_COLUMNS)):
                    f.seek(0, os.SEEK_END)  # a whole row that only lacks its newline
                    f.write(b"\n")
                    data += b"\n"
                else:
                    f.truncate(cut)
                    data = data[:cut]
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if header and tuple(header.split(",")) != RESULT_COLUMNS:
            raise JudgementError(f"{self.path} is not a StimStudio judgement results file")
        if not header:  # only a partial header had been written
            with open(self.path, "r+b") as f:
                f.truncate(0)

    def _sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def append(self, r: Response) -> None:
        r.check()
        self._w.writerow(
            [
                r.participant,
                r.session,
                r.trial,
                r.image,
                r.truth,
                r.response,
                r.confidence,
                r.confidence_levels,
                "" if r.rt_ms is None else f"{r.rt_ms:.1f}",
                r.timestamp
                or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            ]
        )
        self._sync()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _norm_label(value: str, allowed: Sequence[str], aliases: Mapping[str, str]) -> str:
    """Lower-cased label, aliases mapped; "" when it is not one of `allowed`."""
    v = value.strip().lower()
    v = aliases.get(v, v)
    return v if v in allowed else ""


def read_results(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Response]:
    """Read one or more results CSVs. Every bad row is reported with its file and line."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Response] = []
    any_path = False
    for path in paths:
        any_path = True
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise JudgementError(f"{path} does not exist") from None
        except IsADirectoryError:
            raise JudgementError(f"{path} is a folder, not a results CSV") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise JudgementError(f"{path} cannot be read ({exc})") from None
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise JudgementError(f"{path} is empty")
        header = [h.strip() for h in rows[0]]
        if len(rows) > 1 and not text.endswith("\n"):
            # A crash during the last write leaves a partial row: that answer was never given.
            if not _complete_row(text[text.rfind("\n") + 1 :], header):
                rows.pop()
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise JudgementError(
                f"{path} lacks the column(s) {', '.join(missing)} (needed: "
                f"{', '.join(REQUIRED_COLUMNS)}; see `stimstudio judge analyze --help`)"
            )
        for line, row in enumerate(rows[1:], start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise JudgementError(
                    f"{path} line {line}: {len(row)} fields where the header has {len(header)}"
                )

            try:
                r = _parse_row(dict(zip(header, (c.strip() for c in row))))
            except (ValueError, JudgementError) as exc:
                raise JudgementError(f"{path} line {line}: {exc}") from None
            out.append(r)
    if not any_path:
        raise JudgementError("no results files given")
    if not out:
        raise JudgementError("the results files hold no responses")
    return _infer_levels(out)


def _infer_levels(responses: list[Response]) -> list[Response]:
    """Rows without confidence_levels get their participant's highest confidence seen."""
    top: dict[str, int] = defaultdict(int)
    for r in responses:
        if r.levels_inferred:
            top[r.participant] = max(top[r.participant], r.confidence)
    if not top:
        return responses
    return [
        replace(r, confidence_levels=_check_levels(top[r.participant])) if r.levels_inferred else r
        for r in responses
    ]


def _complete_row(line: str, header: list[str]) -> bool:
    """Whether one CSV line is a whole, valid results row for `header`."""
    try:
        (row,) = list(csv.reader([line]))
        if len(row) != len(header):
            return False
        _parse_row(dict(zip(header, (c.strip() for c in row))))
        return True
    except (ValueError, KeyError, JudgementError, csv.Error):
        return False


def _parse_row(row: dict[str, str]) -> Response:
    truth = _norm_label(row["truth"], TRUTHS, {"fake": "generated", "gan": "generated"})
    resp = _norm_label(row["response"], RESPONSES, {"generated": "fake"})
    if not truth:
        raise JudgementError(f"truth {row['truth']!r} is not real or generated")
    if not resp:
        raise JudgementError(f"response {row['response']!r} is not real or fake")
    rt = row.get("rt_ms", "")
    levels_text = row.get("confidence_levels", "")
    if not levels_text:  # not recorded: filled in from the participant's ratings
        conf = int(row["confidence"])
        if conf < 1:
            raise JudgementError(f"confidence {conf} is below 1")
        return Response(
            participant=row["participant"],
            session=int(row["session"]),
            trial=int(row["trial"]),
            image=row["image"],
            truth=truth,
            response=resp,
            confidence=conf,
            confidence_levels=max(conf, 1),
            rt_ms=float(rt) if rt else None,
            timestamp=row.get("timestamp", ""),
            levels_inferred=True,
        ).check()
    return Response(
        participant=row["participant"],
        session=int(row["session"]),
        trial=int(row["trial"]),
        image=row["image"],
        truth=truth,
        response=resp,
        confidence=int(row["confidence"]),
        confidence_levels=int(row["confidence_levels"]),
        rt_ms=float(rt) if rt else None,
        timestamp=row.get("timestamp", ""),
    ).check()


class JudgementRun:
    """One participant working through a session; each answer is on disk before the next.

    If the results file already holds answers of this participant and session number (the
    app crashed), the run resumes at the first trial not yet answered.
    """

    def __init__(
        self,
        session: Session,
        results: str | os.PathLike,
        participant: str,
        session_number: int = 1,
        image_root: str | os.PathLike | None = None,
    ):
        self.session = session
        self.participant = str(participant).strip()
        self.session_number = int(session_number)
        self.image_root = Path(image_root) if image_root is not None else None
        _check_participant(self.participant)
        if self.session_number < 1:
            raise JudgementError(f"session number must be 1 or more, not {session_number}")
        done: set[int] = set()
        if Path(results).exists() and Path(results).stat().st_size > 0:
            for r in read_results_lenient(results):
                if r.participant == self.participant and r.session == self.session_number:
                    done.add(r.trial)
        self._writer = ResultsWriter(results)
        self._todo = [t for t in session.trials if t.index not in done]
        self.answered = len(session.trials) - len(self._todo)

    @property
    def current(self) -> Trial | None:
        return self._todo[0] if self._todo else None

    @property
    def finished(self) -> bool:
        return not self._todo

    def image_id(self, trial: Trial) -> str:
        return _relative(trial.image, self.image_root) if self.image_root else trial.image

    def respond(self, response: str, confidence: int, rt_ms: float | None = None) -> Response:
        """Record the answer to the current trial (written and flushed) and move on."""
        trial = self.current
        if trial is None:
            raise JudgementError("the session is finished; there is no trial to answer")
        r = Response(
            participant=self.participant,
            session=self.session_number,
            trial=trial.index,
            image=self.image_id(trial),
            truth=trial.truth,
            response=response,
            confidence=int(confidence),
            confidence_levels=self.session.confidence_levels,
            rt_ms=None if rt_ms is None else float(rt_ms),
        ).check()
        self._writer.append(r)
        self._todo.pop(0)
        self.answered += 1
        return r

    def close(self) -> None:
        self._writer.close()


def read_results_lenient(path: str | os.PathLike) -> list[Response]:
    """Like `read_results` but an empty file (header only) gives an empty list."""
    try:
        return read_results(path)
    except JudgementError as exc:
        if "hold no responses" in str(exc):
            return []
        raise


# ------------------------------------------------------------------------------ analysis


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


# -------------------------------------------------------------------------------- figure


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
