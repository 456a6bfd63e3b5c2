"""Localisation scoring, the files: a search set's truth file and an observer's marks.

Truth (written with a search set): CSV with the columns
`film,lesion,present,x,y,radius_px,radius_mm,contrast,mask_file,source_film`, one row per film
and lesion; a film without a lesion has one row with present=0 and the lesion fields empty.
Marks: CSV `film,x,y,rating` (+ optional reader/observer/participant and session columns), one
row per mark; a film nobody marked has no rows. Every bad value is a `JudgementError` naming
the file, its line and the column.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .results import read_csv_text
from .sessions import JudgementError

TRUTH_COLUMNS = (
    "film",
    "lesion",
    "present",
    "x",
    "y",
    "radius_px",
    "radius_mm",
    "contrast",
    "mask_file",
    "source_film",
)
TRUTH_REQUIRED = ("film", "lesion", "present", "x", "y", "radius_px")
MARK_COLUMNS = ("film", "x", "y", "rating")
READER_COLUMNS = ("reader", "observer", "participant")  # the first one present names the reader


@dataclass(frozen=True)
class Lesion:
    """One inserted lesion: its centre and radius in film pixels (radius_mm when known)."""

    film: str
    lesion: str
    x: float
    y: float
    radius_px: float
    radius_mm: float | None = None
    contrast: float | None = None
    mask_file: str = ""  # relative to the truth file's folder; "" = none

    @property
    def mm_per_px(self) -> float | None:
        return None if not self.radius_mm else self.radius_mm / self.radius_px


@dataclass(frozen=True)
class Truth:
    """The films of a search set in file order; which are normal; their lesions."""

    films: tuple[str, ...]
    lesions: tuple[Lesion, ...]
    folder: Path  # where mask files are looked up
    path: str = "truth"

    @property
    def normal(self) -> tuple[str, ...]:
        with_lesion = {les.film for les in self.lesions}
        return tuple(f for f in self.films if f not in with_lesion)

    @property
    def abnormal(self) -> tuple[str, ...]:
        with_lesion = {les.film for les in self.lesions}
        return tuple(f for f in self.films if f in with_lesion)


@dataclass(frozen=True)
class Mark:
    """One mark: where (film pixels), how confident (higher = surer), by whom; `where` = file
    and line, for messages."""

    film: str
    x: float
    y: float
    rating: float
    reader: str = "reader"
    where: str = ""
    session: int | None = None


def _read_csv(path: Path, kind: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    text = read_csv_text(path, kind)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise JudgementError(f"{path} is not a CSV file ({exc})") from None
    if not rows:
        raise JudgementError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise JudgementError(
                f"{path} line {line}: {len(row)} fields where the header has {len(header)}"
            )
        out.append((line, dict(zip(header, (c.strip() for c in row)))))
    return header, out


def _need(path: Path, header: list[str], needed: Iterable[str], kind: str) -> None:
    missing = [c for c in needed if c not in header]
    if missing:
        raise JudgementError(
            f"{path} lacks the column(s) {', '.join(missing)} (a {kind} file needs "
            f"{', '.join(needed)})"
        )


def _number(path, line, row, col, *, positive=False, optional=False) -> float | None:
    text = row.get(col, "")
    if text == "" and optional:
        return None
    try:
        v = float(text)
    except ValueError:
        v = math.nan
        if text == "":
            raise JudgementError(f"{path} line {line}, column {col}: empty") from None
    if not math.isfinite(v):
        raise JudgementError(f"{path} line {line}, column {col}: {text!r} is not a number")
    if positive and v <= 0:
        raise JudgementError(f"{path} line {line}, column {col}: {text} must be above 0")
    return v


def read_truth(path: str | os.PathLike) -> Truth:
    """Read a search set's truth file (one row per film and lesion)."""
    path = Path(path)
    header, rows = _read_csv(path, "truth")
    _need(path, header, TRUTH_REQUIRED, "truth")
    films: dict[str, bool] = {}  # film -> has a lesion
    lesions: list[Lesion] = []
    seen: set[tuple[str, str]] = set()
    for line, row in rows:
        film = row["film"]
        if not film:
            raise JudgementError(f"{path} line {line}, column film: empty")
        present = row["present"].lower()
        if present not in ("0", "1", "true", "false"):
            raise JudgementError(
                f"{path} line {line}, column present: {row['present']!r} is not 0 or 1"
            )
        has = present in ("1", "true")
        if film in films and films[film] != has:
            raise JudgementError(
                f"{path} line {line}, column present: film {film} is listed both with and "
                "without a lesion"
            )
        films[film] = has
        if not has:
            continue
        n = sum(les.film == film for les in lesions) + 1
        name = row["lesion"] or str(n)
        if (film, name) in seen:  # one lesion placed twice on a film: each copy its own
            name = f"{name}#{n}"
        seen.add((film, name))
        lesions.append(
            Lesion(
                film=film,
                lesion=name,
                x=_number(path, line, row, "x"),
                y=_number(path, line, row, "y"),
                radius_px=_number(path, line, row, "radius_px", positive=True),
                radius_mm=_number(path, line, row, "radius_mm", positive=True, optional=True),
                contrast=_number(path, line, row, "contrast", optional=True),
                mask_file=row.get("mask_file", ""),
            )
        )
    truth = Truth(tuple(films), tuple(lesions), path.parent, str(path))
    if not truth.lesions:
        raise JudgementError(f"{path} lists no film with a lesion (present=1)")
    if not truth.normal:
        raise JudgementError(f"{path} lists no film without a lesion (present=0)")
    return truth


def read_marks(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    truth: Truth,
    session: int | None = None,
) -> list[Mark]:
    """Read one or more marks CSVs; every film must be one of the truth file's. With
    `session`, only the rows of that session (the file needs a session column)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    known = set(truth.films)
    # a mark may name a film by its stem or its display copy (film001, display/film001.png)
    stems: dict[str, list[str]] = {}
    for f in truth.films:
        stems.setdefault(Path(f).stem, []).append(f)
    out: list[Mark] = []
    any_path = False
    for p in paths:
        any_path = True
        path = Path(p)
        header, rows = _read_csv(path, "marks")
        _need(path, header, MARK_COLUMNS, "marks")
        who = next((c for c in READER_COLUMNS if c in header), None)
        if session is not None and "session" not in header:
            raise JudgementError(f"{path} has no session column, so session {session} is unknown")
        for line, row in rows:
            s = _number(path, line, row, "session") if "session" in header else None
            if session is not None and s != session:
                continue
            film = row["film"]
            if film not in known and len(stems.get(Path(film).stem, ())) == 1:
                film = stems[Path(film).stem][0]
            if film not in known:
                raise JudgementError(
                    f"{path} line {line}, column film: {film!r} is not a film of {truth.path}"
                )
            reader = row[who] if who else "reader"
            if who and not reader:
                raise JudgementError(f"{path} line {line}, column {who}: empty")
            out.append(
                Mark(
                    film=film,
                    x=_number(path, line, row, "x"),
                    y=_number(path, line, row, "y"),
                    rating=_number(path, line, row, "rating"),
                    reader=reader,
                    where=f"{path} line {line}",
                    session=None if s is None else int(s),
                )
            )
    if not any_path:
        raise JudgementError("no marks files given")
    # a reader who read in several sessions: each session is a reading of its own
    sessions: dict[str, set] = {}
    for m in out:
        sessions.setdefault(m.reader, set()).add(m.session)
    return [
        replace(m, reader=f"{m.reader} session {m.session}") if len(sessions[m.reader]) > 1 else m
        for m in out
    ]


def is_marks_file(path: str | os.PathLike) -> bool:
    """Whether a CSV's header has the marks columns (film, x, y, rating)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return all(c in [h.strip() for h in header] for c in MARK_COLUMNS)
