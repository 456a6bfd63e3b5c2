"""The results file: one row per answer, appended and flushed at once; reading it back
(strictly, or leniently for a crashed run).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from .sessions import (
    REQUIRED_COLUMNS,
    RESPONSES,
    RESULT_COLUMNS,
    TRUTHS,
    JudgementError,
    Session,
    Trial,
    _check_levels,
    _relative,
)


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


_W = TypeVar("_W", bound="_CsvAppender")


class _CsvAppender:
    """An append-only CSV with the header `COLUMNS`: every row is written, flushed and
    fsynced. Opening a file that is not empty calls `_repair_and_check`, which says whether
    the header is still to be written."""

    COLUMNS: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            if not new:
                new = self._repair_and_check()
            self._f = open(self.path, "a", newline="", encoding="utf-8")
        except OSError as exc:
            raise JudgementError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        self._w = csv.writer(self._f, lineterminator="\n")
        if new:
            self._w.writerow(self.COLUMNS)
            self._sync()

    def _repair_and_check(self) -> bool:
        raise NotImplementedError

    def _sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ResultsWriter(_CsvAppender):
    """Append-only results CSV: every `append` writes one row, flushes and fsyncs it.

    Opening an existing file checks its header; a half-written last line (the machine died
    while writing it) is cut off, as that answer was never completely recorded.
    """

    COLUMNS = RESULT_COLUMNS

    def _repair_and_check(self) -> bool:
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
        return False

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


def _norm_label(value: str, allowed: Sequence[str], aliases: Mapping[str, str]) -> str:
    """Lower-cased label, aliases mapped; "" when it is not one of `allowed`."""
    v = value.strip().lower()
    v = aliases.get(v, v)
    return v if v in allowed else ""


def read_csv_text(path: Path, kind: str) -> str:
    """The text of a CSV file the analyses read, or one JudgementError naming the file and
    what is wrong with it (missing, a folder, unreadable)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise JudgementError(f"{path} ({kind}) does not exist") from None
    except IsADirectoryError:
        raise JudgementError(f"{path} is a folder, not a {kind} CSV") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JudgementError(f"{path} cannot be read ({exc})") from None


def _csv_rows(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    required: Sequence[str],
    verb: str,
    parse: Callable[[dict[str, str]], object],
    last_row_whole: Callable[[str, list[list[str]], list[str]], bool],
    *,
    csv_errors: bool = False,
) -> Iterator[tuple[Path, int, Any]]:
    """Yield (path, line, parse(row)) for every non-blank row of one or more results CSVs;
    every problem is a JudgementError naming its file and line.

    `last_row_whole(text, rows, header)` says whether a last row without its newline is whole
    (else it is dropped: a crash while writing it); with `csv_errors` a file the csv module
    cannot split is a JudgementError too. No paths at all is an error."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    any_path = False
    for path in paths:
        any_path = True
        path = Path(path)
        text = read_csv_text(path, "results")
        if csv_errors:
            try:
                rows = list(csv.reader(io.StringIO(text)))
            except csv.Error as exc:
                raise JudgementError(f"{path} is not a CSV file ({exc})") from None
        else:
            rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise JudgementError(f"{path} is empty")
        header = [h.strip() for h in rows[0]]
        if len(rows) > 1 and not text.endswith("\n") and not last_row_whole(text, rows, header):
            rows.pop()  # a crash while writing the last row: that answer was never given
        missing = [c for c in required if c not in header]
        if missing:
            raise JudgementError(
                f"{path} lacks the column(s) {', '.join(missing)} (needed: "
                f"{', '.join(required)}; see `stimstudio judge {verb} --help`)"
            )
        for line, row in enumerate(rows[1:], start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise JudgementError(
                    f"{path} line {line}: {len(row)} fields where the header has {len(header)}"
                )
            try:
                r = parse(dict(zip(header, (c.strip() for c in row))))
            except (ValueError, JudgementError) as exc:
                raise JudgementError(f"{path} line {line}: {exc}") from None
            yield path, line, r
    if not any_path:
        raise JudgementError("no results files given")


def read_results(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Response]:
    """Read one or more results CSVs. Every bad row is reported with its file and line."""
    out = [
        r
        for _, _, r in _csv_rows(
            paths,
            REQUIRED_COLUMNS,
            "analyze",
            _parse_row,
            lambda text, rows, header: _complete_row(text[text.rfind("\n") + 1 :], header),
        )
    ]
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


class _Run:
    """What both runs share: the trials still to answer (`_todo`), the writer, the count of
    answers on disk."""

    _todo: list
    _writer: _CsvAppender
    answered: int

    @property
    def current(self):
        return self._todo[0] if self._todo else None

    @property
    def finished(self) -> bool:
        return not self._todo

    def _record(self, r):
        """Write the answer to the current trial (flushed) and move on."""
        self._writer.append(r)
        self._todo.pop(0)
        self.answered += 1
        return r

    def close(self) -> None:
        self._writer.close()


class JudgementRun(_Run):
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
        return self._record(r)


def read_results_lenient(path: str | os.PathLike) -> list[Response]:
    """Like `read_results` but an empty file (header only) gives an empty list."""
    try:
        return read_results(path)
    except JudgementError as exc:
        if "hold no responses" in str(exc):
            return []
        raise
