"""Localisation scoring (issue 41 part 3): marks against a search set's truth, known answers
worked out by hand in the comments, bad input, a fuzz, and `judge analyze --truth`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stimstudio.cli.main import main
from stimstudio.core.errors import StimStudioError
from stimstudio.core.judgements.localisation import (
    Acceptance,
    analyze_localisation,
    classify,
    fom_ci,
    jafroc_fom,
    reading,
)
from stimstudio.core.judgements.localisation_io import (
    TRUTH_COLUMNS,
    Lesion,
    Mark,
    Truth,
    read_marks,
    read_truth,
)
from stimstudio.core.judgements.sessions import JudgementError

# (film, lesion, x, y, radius_px, radius_mm, mask_file); a lesion of None = a normal film
SIX = [
    ("n1", None),
    ("n2", None),
    ("n3", None),
    ("a1", "L1", 100, 100, 10, 1.0, ""),
    ("a2", "L1", 200, 200, 10, 1.0, ""),
    ("a3", "L1", 50, 50, 10, 1.0, ""),
]


def write_truth(folder: Path, rows=SIX, name="truth.csv") -> Path:
    lines = [",".join(TRUTH_COLUMNS)]
    for r in rows:
        if r[1] is None:
            lines.append(f"{r[0]},,0,,,,,,,src_{r[0]}")
        else:
            film, les, x, y, rpx, rmm, mask = r
            lines.append(f"{film},{les},1,{x},{y},{rpx},{rmm},0.1,{mask},src_{film}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def write_marks(folder: Path, rows, header="film,x,y,rating", name="marks.csv") -> Path:
    path = folder / name
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def score(tmp_path, marks, truth_rows=SIX, acceptance=None, header="film,x,y,rating"):
    truth = read_truth(write_truth(tmp_path, truth_rows))
    m = read_marks(write_marks(tmp_path, marks, header), truth)
    return analyze_localisation(m, truth, acceptance or Acceptance(), n_boot=200, seed=0)


# The worked example, 3 normal + 3 abnormal films, one lesion each:
#   n1: one mark rated 2, n2: one mark rated 4, n3: no mark   -> X = (2, 4, -inf)
#   a1: mark 2 px from the centre, rated 5  -> LL 5
#   a2: mark 5 px from the centre, rated 3  -> LL 3
#   a3: mark far away (NL), rated 4         -> lesion unmarked, LL -inf
# psi(X, Y) = 1 if Y > X, 1/2 if equal:
#   Y=5:    1 + 1 + 1   = 3
#   Y=3:    1 + 0 + 1   = 2
#   Y=-inf: 0 + 0 + 1/2 = 1/2        FOM = 5.5 / 9 = 11/18
WORKED = [
    ("n1", 10, 10, 2),
    ("n2", 10, 10, 4),
    ("a1", 102, 100, 5),
    ("a2", 200, 205, 3),
    ("a3", 300, 300, 4),
]


def test_worked_example_gives_eleven_eighteenths(tmp_path):
    a = score(tmp_path, WORKED)
    (r,) = a.readers
    assert r.fom == pytest.approx(11 / 18)
    assert r.counts["LL"] == 2 and r.counts["NL"] == 3 and r.counts["marks"] == 5
    assert r.wafroc == pytest.approx(11 / 18)  # one lesion per film: the weights are all 1
    # the AFROC's area (with its end to (1, 1)) is the FOM
    c = r.curves["afroc"]
    assert np.trapezoid(c["llf"], c["fpf"]) == pytest.approx(r.fom)
    # FROC: thresholds 5, 4, 3, 2; NLs are rated 2, 4 (normals) and 4 (a3), over 6 films
    assert r.curves["thresholds"] == [5, 4, 3, 2]
    assert r.curves["froc"]["nlf"] == pytest.approx([0, 0, 2 / 6, 2 / 6, 3 / 6])
    assert r.curves["froc"]["llf"] == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 2 / 3])


def test_perfect_marks_give_one(tmp_path):
    marks = [("a1", 100, 100, 1), ("a2", 200, 200, 1), ("a3", 50, 50, 1)]
    assert score(tmp_path, marks).readers[0].fom == 1.0
    # marks on normal films rated below every lesion's mark: still 1
    marks += [("n1", 5, 5, 0.5), ("n3", 5, 5, 0.9)]
    assert score(tmp_path, marks).readers[0].fom == 1.0


def test_marks_all_outside_lesions_leave_only_the_normal_films_check(tmp_path):
    # every lesion unmarked (-inf): a pair scores 1/2 only against a normal film without marks,
    # so FOM = 1/2 * (normal films without marks) / (normal films) = 1/2 * 1/3
    marks = [("n1", 1, 1, 3), ("n2", 1, 1, 1), ("a1", 500, 500, 5), ("a2", 0, 0, 2)]
    r = score(tmp_path, marks).readers[0]
    assert r.counts["LL"] == 0
    assert r.fom == pytest.approx(0.5 * 1 / 3)
    # nobody marked anything: every pair is a tie
    none = [("n1", 1, 1, 3)]
    rows = [*SIX[:2], *SIX[3:]]
    r = score(tmp_path, none, truth_rows=rows).readers[0]
    assert r.fom == pytest.approx(0.5 * 1 / 2)


def test_ties_count_one_half(tmp_path):
    # X = (3, -inf, -inf); Y = (3, 4, -inf):
    #   Y=3: 1/2 + 1 + 1 = 2.5;  Y=4: 1 + 1 + 1 = 3;  Y=-inf: 0 + 1/2 + 1/2 = 1   -> 6.5 / 9
    marks = [("n1", 0, 0, 3), ("a1", 100, 100, 3), ("a2", 200, 200, 4)]
    assert score(tmp_path, marks).readers[0].fom == pytest.approx(6.5 / 9)


@pytest.mark.parametrize(
    "x, acceptance, kind",
    [
        (110.0, Acceptance(), "LL"),  # exactly on the radius (10 px): on the lesion
        (110.01, Acceptance(), "NL"),
        (105.0, Acceptance(px=5), "LL"),
        (105.01, Acceptance(px=5), "NL"),
        (120.0, Acceptance(px=20), "LL"),
        # 1.0 mm / 10 px = 0.1 mm per px: 0.5 mm is 5 px
        (105.0, Acceptance(mm=0.5), "LL"),
        (105.1, Acceptance(mm=0.5), "NL"),
    ],
)
def test_acceptance_radius_boundary(tmp_path, x, acceptance, kind):
    truth = read_truth(write_truth(tmp_path))
    (s,) = classify([Mark("a1", x, 100, 1)], truth, acceptance)
    assert s.kind == kind


def test_only_the_highest_rated_mark_on_a_lesion_counts(tmp_path):
    truth = read_truth(write_truth(tmp_path))
    marks = [Mark("a1", 101, 100, 2), Mark("a1", 99, 100, 4), Mark("a1", 100, 103, 4)]
    s = classify(marks, truth)
    # rated 4 twice: the first in the file takes the lesion; the others are NL on a taken lesion
    assert [x.kind for x in s] == ["NL", "LL", "NL"]
    assert [x.duplicate for x in s] == [True, False, True]
    r = reading("r", s, truth)
    assert r.ll[0] == 4 and sorted(r.nl) == [2, 4]


def test_two_lesions_within_reach_each_mark_takes_the_nearest_free_one(tmp_path):
    rows = [("n1", None), ("a1", "A", 100, 100, 10, 1, ""), ("a1", "B", 108, 100, 10, 1, "")]
    truth = read_truth(write_truth(tmp_path, rows))
    s = classify([Mark("a1", 106, 100, 5), Mark("a1", 102, 100, 3)], truth)
    assert [(x.kind, x.lesion.lesion) for x in s] == [("LL", "B"), ("LL", "A")]


def test_inside_mask_when_asked(tmp_path):
    import cv2

    mask = np.zeros((300, 300), np.uint8)
    mask[95:106, 100:106] = 255  # only the right half of the lesion
    cv2.imwrite(str(tmp_path / "m1.png"), mask)
    rows = [("n1", None), ("a1", "L1", 100, 100, 10, 1.0, "m1.png")]
    truth = read_truth(write_truth(tmp_path, rows))
    marks = [Mark("a1", 97, 100, 1), Mark("n1", 0, 0, 1)]
    assert classify(marks, truth)[0].kind == "LL"  # within the radius
    assert classify(marks, truth, Acceptance(inside_mask=True))[0].kind == "NL"
    assert classify([Mark("a1", 103, 100, 1)], truth, Acceptance(inside_mask=True))[0].kind == "LL"


def test_wafroc_weights_each_abnormal_film_once(tmp_path):
    # normals: n1 NL 2, n2 none -> X = (2, -inf); a1 has lesions A (marked 3) and B (unmarked),
    # a2 has C (marked 1). Y = (3, -inf, 1), weights (1/2, 1/2, 1).
    #   JAFROC: A: 1 + 1 = 2; B: 0 + 1/2; C: 0 + 1 = 1           -> 3.5 / (2 * 3) = 7/12
    #   wAFROC: 1/2 * 2 + 1/2 * 1/2 + 1 * 1 = 2.25 / (2 * 2 abnormal films) = 9/16
    rows = [
        ("n1", None),
        ("n2", None),
        ("a1", "A", 50, 50, 5, 1, ""),
        ("a1", "B", 150, 150, 5, 1, ""),
        ("a2", "C", 50, 50, 5, 1, ""),
    ]
    marks = [("n1", 0, 0, 2), ("a1", 50, 50, 3), ("a2", 50, 50, 1)]
    r = score(tmp_path, marks, truth_rows=rows).readers[0]
    assert r.fom == pytest.approx(7 / 12)
    assert r.wafroc == pytest.approx(9 / 16)


def test_bootstrap_ci_holds_the_fom_and_repeats_with_its_seed(tmp_path):
    rng = np.random.default_rng(3)
    rows = [(f"n{i}", None) for i in range(12)]
    rows += [(f"a{i}", "L", 100, 100, 10, 1.0, "") for i in range(12)]
    marks = [(f"n{i}", 10, 10, int(rng.integers(1, 4))) for i in range(12) if i % 3]
    marks += [(f"a{i}", 100, 100, int(rng.integers(2, 6))) for i in range(12) if i % 4]
    truth = read_truth(write_truth(tmp_path, rows))
    m = read_marks(write_marks(tmp_path, marks), truth)
    a = analyze_localisation(m, truth, n_boot=500, seed=7)
    r = a.readers[0]
    assert r.ci[0] < r.fom < r.ci[1]
    assert analyze_localisation(m, truth, n_boot=500, seed=7).readers[0].ci == r.ci
    assert analyze_localisation(m, truth, n_boot=500, seed=8).readers[0].ci != r.ci
    # the jackknife SE, against a brute-force leave-one-film-out with sklearn's FOM
    loo = []
    for drop in truth.films:
        t2 = Truth(
            tuple(f for f in truth.films if f != drop),
            tuple(les for les in truth.lesions if les.film != drop),
            truth.folder,
        )
        kept = [x for x in m if x.film != drop]
        loo.append(jafroc_fom(reading("r", classify(kept, t2), t2)))
    k = len(loo)
    assert r.jackknife_se == pytest.approx(math.sqrt((k - 1) / k * np.var(loo) * k))


def test_readers_and_pooled(tmp_path):
    marks = [("r1", *m) for m in WORKED] + [
        ("r2", "a1", 100, 100, 1),
        ("r2", "a2", 200, 200, 1),
        ("r2", "a3", 50, 50, 1),
    ]
    a = score(tmp_path, marks, header="observer,film,x,y,rating")
    assert [r.label for r in a.readers] == ["r1", "r2"]
    assert [r.fom for r in a.readers] == pytest.approx([11 / 18, 1.0])
    assert a.pooled.fom == pytest.approx((11 / 18 + 1) / 2)
    assert a.pooled.ci[0] <= a.pooled.fom <= a.pooled.ci[1]
    # the pooled CI comes from the same resampled films for both readers
    truth = read_truth(tmp_path / "truth.csv")
    reads = [
        reading(r.label, [s for s in a.scored if s.mark.reader == r.label], truth)
        for r in a.readers
    ]
    assert fom_ci(reads, n_boot=200)["ci"] == a.pooled.ci


def test_sessions_of_one_reader_are_separate_readings(tmp_path):
    marks = [("p1", 1, "a1", 100, 100, 3), ("p1", 2, "n1", 5, 5, 3), ("p2", 1, "a2", 200, 200, 1)]
    a = score(tmp_path, marks, header="participant,session,film,x,y,rating")
    assert [r.label for r in a.readers] == ["p1 session 1", "p1 session 2", "p2"]
    truth = read_truth(tmp_path / "truth.csv")
    only2 = read_marks(tmp_path / "marks.csv", truth, session=2)
    assert [m.film for m in only2] == ["n1"]


@pytest.mark.parametrize(
    "header, row, message",
    [
        ("film,x,y,rating", ("zz", 1, 1, 1), "marks.csv line 2, column film: 'zz' is not a film"),
        ("film,x,y", ("a1", 1, 1), "lacks the column(s) rating"),
        ("film,x,y,rating", ("a1", 1, 1, "sure"), "line 2, column rating: 'sure' is not a number"),
        ("film,x,y,rating", ("a1", "nan", 1, 2), "line 2, column x: 'nan' is not a number"),
        ("film,x,y,rating", ("a1", 1, "", 2), "line 2, column y: empty"),
        ("film,x,y,rating", ("a1", 1, 1, 2, 7), "line 2: 5 fields where the header has 4"),
    ],
)
def test_bad_marks_are_one_line_naming_file_line_and_column(tmp_path, header, row, message):
    truth = read_truth(write_truth(tmp_path))
    with pytest.raises(JudgementError, match=None) as exc:
        read_marks(write_marks(tmp_path, [row], header), truth)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert isinstance(exc.value, StimStudioError)


def test_bad_truth(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text("film,lesion,present,x,y\nn1,,0,,\n")
    with pytest.raises(JudgementError, match="lacks the column.s. radius_px"):
        read_truth(t)
    t.write_text("film,lesion,present,x,y,radius_px\nn1,,2,,,\n")
    with pytest.raises(JudgementError, match="line 2, column present: '2' is not 0 or 1"):
        read_truth(t)
    t.write_text("film,lesion,present,x,y,radius_px\nn1,,0,,,\na1,L,1,5,5,0\n")
    with pytest.raises(JudgementError, match="line 3, column radius_px: 0 must be above 0"):
        read_truth(t)
    t.write_text("film,lesion,present,x,y,radius_px\na1,L,1,5,5,3\n")
    with pytest.raises(JudgementError, match="no film without a lesion"):
        read_truth(t)
    with pytest.raises(JudgementError, match="does not exist"):
        read_truth(tmp_path / "nope.csv")
    # an acceptance radius in mm needs the lesion's size in mm
    t.write_text("film,lesion,present,x,y,radius_px\nn1,,0,,,\na1,L,1,5,5,3\n")
    with pytest.raises(JudgementError, match="no radius_mm"):
        classify([Mark("a1", 5, 5, 1)], read_truth(t), Acceptance(mm=1))
    with pytest.raises(JudgementError, match="not both"):
        Acceptance(px=1, mm=1)


# --- fuzz: the FOM lies in [0, 1] and depends only on the ratings' order ---------------------


@st.composite
def studies(draw):
    n_norm = draw(st.integers(1, 4))
    per_film = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    films = [f"n{i}" for i in range(n_norm)] + [f"a{i}" for i in range(len(per_film))]
    lesions = tuple(
        Lesion(f"a{i}", f"L{j}", 100.0 * j, 0.0, 10.0)
        for i, k in enumerate(per_film)
        for j in range(k)
    )
    truth = Truth(tuple(films), lesions, Path("."))
    marks = [
        Mark(
            draw(st.sampled_from(films)),
            draw(st.sampled_from([0.0, 100.0, 200.0, 55.0])),
            draw(st.sampled_from([0.0, 3.0, 50.0])),
            float(draw(st.integers(1, 5))),
            draw(st.sampled_from(["r1", "r2"])),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    return truth, marks


@settings(max_examples=60, deadline=None)
@given(studies(), st.sampled_from([lambda r: 3 * r - 100, lambda r: -1 / r, math.log, math.exp]))
def test_fom_in_unit_interval_and_invariant_to_monotone_rating_transforms(study, f):
    truth, marks = study
    a = analyze_localisation(marks, truth, n_boot=100)
    moved = [Mark(m.film, m.x, m.y, f(m.rating), m.reader) for m in marks]
    b = analyze_localisation(moved, truth, n_boot=100)
    for ra, rb in zip(a.readers, b.readers):
        assert 0.0 <= ra.fom <= 1.0 and 0.0 <= ra.wafroc <= 1.0
        assert rb.fom == pytest.approx(ra.fom) and rb.wafroc == pytest.approx(ra.wafroc)
        assert rb.ci == pytest.approx(ra.ci)


# --- the CLI ------------------------------------------------------------------------------------


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_scores_marks_against_the_truth(tmp_path, capsys):
    truth = write_truth(tmp_path)
    marks = write_marks(tmp_path, WORKED)
    report, figure = tmp_path / "loc.json", tmp_path / "froc.png"
    code, out, err = run(
        capsys, "judge", "analyze", marks, "--truth", truth, "--report", report, "--figure", figure
    )
    assert code == 0, err
    assert "0.611" in out and "JAFROC" in out and "report ->" in out
    doc = json.loads(report.read_text())
    assert doc["readers"][0]["jafroc_fom"] == pytest.approx(11 / 18)
    assert doc["files"] == [str(marks)]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --json: the same numbers on stdout; an existing report is kept without --force
    code, out, err = run(capsys, "judge", "analyze", marks, "--truth", truth, "--json")
    assert code == 0 and json.loads(out)["pooled"]["jafroc_fom"] == pytest.approx(11 / 18)
    code, out, err = run(capsys, "judge", "analyze", marks, "--truth", truth, "--report", report)
    assert code == 2 and "exists; pass --force" in err
    code, out, err = run(
        capsys, "judge", "analyze", marks, "--truth", truth, "--accept-px", 3, "--json"
    )
    assert (
        json.loads(out)["readers"][0]["counts"]["LL"] == 1
    )  # a1 (2 px off) counts, a2 (5 px off) not


def test_cli_errors_are_one_line(tmp_path, capsys):
    truth = write_truth(tmp_path)
    marks = write_marks(tmp_path, [("a9", 1, 1, 1)])
    code, _, err = run(capsys, "judge", "analyze", marks, "--truth", truth)
    assert code == 2 and "line 2, column film: 'a9'" in err and err.count("\n") == 1
    code, _, err = run(capsys, "judge", "analyze", marks)
    assert code == 2 and "is a marks file" in err and "--truth" in err
    code, _, err = run(capsys, "judge", "analyze", marks, "--report", tmp_path / "r.json")
    assert code == 2 and "--report needs --truth" in err
    code, _, err = run(
        capsys, "judge", "analyze", marks, "--truth", truth, "--accept-px", 1, "--accept-mm", 1
    )
    assert code == 2 and "not allowed with" in err


def test_films_named_as_a_search_set_writes_them(tmp_path):
    # a search set's films are film001.dcm ...; PsychoPy logs the display copy's path
    rows = [("film001.dcm", None), ("film002.dcm", "disc", 50, 50, 5, 0.5, "")]
    rows += [("film002.dcm", "disc", 150, 50, 5, 0.5, "")]  # one lesion placed twice
    truth = read_truth(write_truth(tmp_path, rows))
    assert [les.lesion for les in truth.lesions] == ["disc", "disc#2"]
    path = write_marks(tmp_path, [("display/film002.png", 150, 50, 2), ("film001", 1, 1, 1)])
    marks = read_marks(path, truth)
    assert [m.film for m in marks] == ["film002.dcm", "film001.dcm"]
    s = classify(marks, truth)
    assert s[0].kind == "LL" and s[0].lesion.lesion == "disc#2"


def test_a_bootstrap_resample_scores_as_the_resampled_films_would(tmp_path):
    # the bootstrap's fast statistic (case multiplicities through the Wilcoxon kernel) against
    # sklearn's FOM on the films actually drawn, duplicates included
    from sklearn.metrics import roc_auc_score

    from stimstudio.core.judgements.localisation import _fom_from_counts, _psi

    rows = [*SIX, ("a4", "A", 10, 10, 5, 1, ""), ("a4", "B", 90, 90, 5, 1, "")]
    truth = read_truth(write_truth(tmp_path, rows))
    marks = [Mark(*m[:3], m[3]) for m in WORKED] + [Mark("a4", 10, 10, 4)]
    r = reading("r", classify(marks, truth), truth)
    rng = np.random.default_rng(1)
    for _ in range(5):
        i_n = rng.integers(0, 3, 3)
        i_a = rng.integers(0, 4, 4)
        cn = np.bincount(i_n, minlength=3)[None].astype(float)
        ca = np.bincount(i_a, minlength=4)[None].astype(float)
        fast = _fom_from_counts([_psi(r)], r.lesion_case, np.ones(r.ll.size), cn, ca)[0]
        x = r.normal_nl[i_n]
        y = np.concatenate([r.ll[r.lesion_case == k] for k in i_a])
        x, y = np.where(np.isinf(x), -99, x), np.where(np.isinf(y), -99, y)
        labels = np.r_[np.zeros(x.size), np.ones(y.size)]
        assert fast == pytest.approx(roc_auc_score(labels, np.r_[x, y]))


def test_marks_on_a_real_search_set_and_its_masks(tmp_path, capsys, tiny_weights):
    # a 3 + 3 search set made by `stimstudio searchset`; marks at every truth centre (rated 3)
    # and one far corner mark on each normal film (rated 1): FOM 1, also inside the masks
    import csv
    import shutil

    from films_helpers import spec_text, write_films, write_lesion

    write_films(tmp_path / "films", 8)
    write_lesion(tmp_path / "les")
    shutil.copy(tiny_weights, tmp_path / "tiny.safetensors")
    shutil.copy(Path(tiny_weights).with_suffix(".json"), tmp_path / "tiny.json")
    (tmp_path / "spec.toml").write_text(spec_text(count=3))
    assert main(["searchset", str(tmp_path / "spec.toml"), "--quiet"]) == 0
    capsys.readouterr()
    truth = tmp_path / "set" / "truth.csv"
    with open(truth, newline="") as f:
        rows = list(csv.DictReader(f))
    marks = [
        (r["film"], r["x"], r["y"], 3) if r["present"] == "1" else (r["film"], 1, 1, 1)
        for r in rows
    ]
    path = write_marks(tmp_path, marks)
    for extra in ((), ("--inside-mask",)):
        code, out, err = run(capsys, "judge", "analyze", path, "--truth", truth, "--json", *extra)
        assert code == 0, err
        r = json.loads(out)["readers"][0]
        assert r["jafroc_fom"] == 1.0 and r["counts"]["LL"] == 3 and r["counts"]["NL"] == 3
