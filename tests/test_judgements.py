"""Judgement test: sessions, results file, analysis numbers against hand-computed answers."""

from __future__ import annotations

import csv
import json
import keyword
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from stimstudio.cli.main import main
from stimstudio.core.judgements import (
    RESULT_COLUMNS,
    JudgementError,
    JudgementRun,
    Response,
    ResultsWriter,
    analyze,
    auc,
    auc_bootstrap_ci,
    build_session,
    criterion,
    dprime,
    format_table,
    load_session,
    psychopy_conditions,
    rating,
    read_results,
    retest_agreement,
    roc_points,
    save_session,
    sdt,
    sokal_michener,
    write_psychopy_conditions,
    write_roc_figure,
)

# ------------------------------------------------------------------------ known answers


def test_dprime_and_c_known_values():
    assert dprime(0.84, 0.16) == pytest.approx(1.989, abs=0.005)
    assert criterion(0.84, 0.16) == pytest.approx(0.0, abs=1e-12)
    assert dprime(0.5, 0.5) == 0.0
    # Liberal observer (says "real" often): c < 0.
    assert criterion(0.9, 0.5) == pytest.approx(-norm.ppf(0.9) / 2)
    assert dprime(1.0, 0.0) == float("inf")


def test_loglinear_correction_hautus():
    # 20 real, 20 generated; all hits, no false alarms: finite d' from the correction.
    r = sdt(20, 0, 0, 20)
    h, f = 20.5 / 21, 0.5 / 21
    assert r.hit_rate == 1.0 and r.fa_rate == 0.0
    assert np.isfinite(r.dprime)
    assert r.dprime == pytest.approx(norm.ppf(h) - norm.ppf(f))
    assert r.c == pytest.approx(0.0, abs=1e-12)
    # Without the correction the same data give an infinite d'.
    assert sdt(20, 0, 0, 20, correction="none").dprime == float("inf")
    assert np.isnan(sdt(20, 0, 0, 20, correction="none").c)  # undefined, not an error
    # "extreme": corrected only when a rate is 0 or 1.
    assert sdt(20, 0, 0, 20, correction="extreme").dprime == pytest.approx(r.dprime)
    assert sdt(42, 8, 8, 42, correction="extreme").dprime == pytest.approx(2 * norm.ppf(0.84))
    with pytest.raises(JudgementError, match="correction"):
        sdt(1, 1, 1, 1, correction="yes")
    # The correction applies to every data set alike (not only extreme ones).
    r2 = sdt(42, 8, 8, 42)
    assert r2.dprime == pytest.approx(norm.ppf(42.5 / 51) - norm.ppf(8.5 / 51))
    assert sdt(42, 8, 8, 42, correction="none").dprime == pytest.approx(
        2 * norm.ppf(0.84), abs=1e-12
    )


def test_rating_scale():
    assert [rating("fake", c, 4) for c in (4, 3, 2, 1)] == [1, 2, 3, 4]
    assert [rating("real", c, 4) for c in (1, 2, 3, 4)] == [5, 6, 7, 8]


def test_auc_perfect_chance_and_inverted():
    y = np.array([1] * 5 + [0] * 5, bool)
    assert auc(y, [8, 7, 8, 6, 5, 1, 2, 3, 4, 2]) == 1.0
    assert auc(y, [1, 2, 3, 4, 4, 5, 6, 7, 8, 8]) == 0.0
    assert auc(y, [3] * 10) == 0.5
    # Hand-computed: pairs (real > generated) + 0.5 ties over 4 pairs.
    assert auc([1, 1, 0, 0], [3, 2, 2, 1]) == pytest.approx((1 + 1 + 0.5 + 1) / 4)


def test_roc_points_known_values():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    s = np.array([4, 4, 3, 1, 3, 2, 1, 1])  # levels = 2 → ratings 1..4
    c = roc_points(y, s, levels=2)
    assert c.criteria.tolist() == [5, 4, 3, 2, 1]
    assert c.tpr.tolist() == [0, 0.5, 0.75, 0.75, 1.0]
    assert c.fpr.tolist() == [0, 0, 0.25, 0.5, 1.0]
    # The trapezoid under these points is the AUC.
    assert np.trapezoid(c.tpr, c.fpr) == pytest.approx(auc(y, s))


def test_sokal_michener_known_values():
    a = ["real", "fake", "real", "real", "fake"]
    assert sokal_michener(a, a) == 1.0
    flipped = ["fake" if v == "real" else "real" for v in a]
    assert sokal_michener(a, flipped) == 0.0
    assert sokal_michener([1, 1, 0, 0], [1, 0, 0, 1]) == 0.5
    # Not scipy's sokalmichener dissimilarity: 2(b+c)/(n+b+c) would give 2/3 here.
    assert sokal_michener([1, 1, 0, 0], [1, 0, 0, 1]) != pytest.approx(2 / 3)
    with pytest.raises(JudgementError):
        sokal_michener([1, 0], [1])
    with pytest.raises(JudgementError):
        sokal_michener([], [])


def test_bootstrap_ci_brackets_auc_and_is_seeded():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40, bool), np.zeros(40, bool)]
    s = np.r_[rng.integers(3, 9, 40), rng.integers(1, 7, 40)]
    lo, hi = auc_bootstrap_ci(y, s, n_boot=2000, seed=1)
    a = auc(y, s)
    assert lo < a < hi and 0 <= lo and hi <= 1
    assert (lo, hi) == auc_bootstrap_ci(y, s, n_boot=2000, seed=1)
    # Perfect separation: every resample is perfect too.
    assert auc_bootstrap_ci([1, 1, 0, 0], [8, 7, 1, 2], n_boot=200) == (1.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(1, 8)), min_size=2, max_size=60).filter(
        lambda t: any(a for a, _ in t) and not all(a for a, _ in t)
    )
)
def test_auc_properties(trials):
    y = np.array([a for a, _ in trials])
    s = np.array([b for _, b in trials])
    a = auc(y, s)
    assert 0.0 <= a <= 1.0
    # Swapping the classes mirrors the AUC; reversing the scale too.
    assert auc(~y, s) == pytest.approx(1 - a)
    assert auc(y, 9 - s) == pytest.approx(1 - a)
    # The ROC trapezoid equals the (tie-corrected) Mann-Whitney AUC.
    c = roc_points(y, s, levels=4)
    assert np.trapezoid(c.tpr, c.fpr) == pytest.approx(a)
    assert (np.diff(c.tpr) >= 0).all() and (np.diff(c.fpr) >= 0).all()


@settings(max_examples=60, deadline=None)
@given(
    hits=st.integers(0, 50),
    misses=st.integers(0, 50),
    fas=st.integers(0, 50),
    crs=st.integers(0, 50),
)
def test_sdt_properties(hits, misses, fas, crs):
    if hits + misses == 0 or fas + crs == 0:
        with pytest.raises(JudgementError):
            sdt(hits, misses, fas, crs)
        return
    r = sdt(hits, misses, fas, crs)
    assert np.isfinite(r.dprime) and np.isfinite(r.c)
    # Swapping hits with false alarms (and misses with correct rejections) flips d', keeps c.
    m = sdt(fas, crs, hits, misses)
    assert m.dprime == pytest.approx(-r.dprime, abs=1e-9)
    assert m.c == pytest.approx(r.c, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=50), st.data())
def test_sokal_michener_properties(a, data):
    b = data.draw(st.lists(st.booleans(), min_size=len(a), max_size=len(a)))
    v = sokal_michener(a, b)
    assert 0 <= v <= 1
    assert v == sokal_michener(b, a)
    assert sokal_michener(a, [not x for x in b]) == pytest.approx(1 - v)


# ---------------------------------------------------------------------------- sessions


def _images(folder: Path, n: int, prefix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{prefix}{i:02d}.png"
        p.write_bytes(b"\x89PNG fake")
        paths.append(p)
    return paths


def test_build_session_balanced_and_seeded(tmp_path):
    real = _images(tmp_path / "real", 12, "r")
    gen = _images(tmp_path / "gen", 9, "g")
    s = build_session(real, gen, seed=3)
    assert s.n_real == s.n_generated == 9
    assert len({t.image for t in s.trials}) == 18
    assert [t.index for t in s.trials] == list(range(18))
    again = build_session(real, gen, seed=3)
    assert [t.image for t in again.trials] == [t.image for t in s.trials]
    other = build_session(real, gen, seed=4)
    assert [t.image for t in other.trials] != [t.image for t in s.trials]
    # A fresh seed is drawn and recorded when none is given; it rebuilds the same order.
    r = build_session(real, gen)
    assert [t.image for t in build_session(real, gen, seed=r.seed).trials] == [
        t.image for t in r.trials
    ]
    small = build_session(real, gen, seed=0, per_class=4, display_time_s=1.5, iti_s=0.5)
    assert small.n_real == small.n_generated == 4
    assert small.display_time_s == 1.5 and small.iti_s == 0.5


def test_build_session_bad_input(tmp_path):
    real = _images(tmp_path / "real", 3, "r")
    gen = _images(tmp_path / "gen", 3, "g")
    with pytest.raises(JudgementError, match="no real images"):
        build_session([], gen)
    with pytest.raises(JudgementError, match="both real and generated"):
        build_session(real, [real[0], *gen])
    with pytest.raises(JudgementError, match="listed twice"):
        build_session([real[0], real[0]], gen)
    with pytest.raises(JudgementError, match="per class"):
        build_session(real, gen, per_class=4)
    with pytest.raises(JudgementError, match="display time"):
        build_session(real, gen, display_time_s=-1)
    with pytest.raises(JudgementError, match="confidence levels"):
        build_session(real, gen, confidence_levels=0)


def test_session_round_trip_and_psychopy_conditions(tmp_path):
    real = _images(tmp_path / "img" / "real", 4, "r")
    gen = _images(tmp_path / "img" / "fake gen", 4, "g")
    s = build_session(real, gen, seed=1, display_time_s=2, iti_s=0.75)
    out = tmp_path / "session"
    out.mkdir()
    save_session(s, out / "session.json")
    doc = json.loads((out / "session.json").read_text())
    assert all(not Path(t["image"]).is_absolute() for t in doc["trials"])
    back = load_session(out / "session.json")
    assert back.trials == s.trials and back.seed == 1 and back.iti_s == 0.75

    path = write_psychopy_conditions(s, out / "conditions.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    headers = list(rows[0])
    assert headers == ["trialIndex", "imageFile", "truth", "isReal", "displayTime", "iti"]
    for h in headers:  # what PsychoPy's importConditions accepts
        assert h.isidentifier() and not keyword.iskeyword(h)
    for row, t in zip(rows, s.trials):
        assert "\\" not in row["imageFile"] and not row["imageFile"].startswith("/")
        assert (out / row["imageFile"]).resolve() == Path(t.image)
        assert row["isReal"] == str(int(t.truth == "real"))
        assert float(row["displayTime"]) == 2.0
    # No display time / ITI: the columns are left out rather than left empty.
    plain = psychopy_conditions(build_session(real, gen, seed=1), out)
    assert plain.splitlines()[0] == "trialIndex,imageFile,truth,isReal"


def test_load_session_errors(tmp_path):
    with pytest.raises(JudgementError, match="does not exist"):
        load_session(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(JudgementError, match="not a readable session"):
        load_session(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"format": "other"}')
    with pytest.raises(JudgementError, match="not a StimStudio judgement session"):
        load_session(tmp_path / "y.json")


# ----------------------------------------------------------------------- results file


def _resp(pid="p1", session=1, trial=0, image="a.png", truth="real", response="real", conf=3):
    return Response(pid, session, trial, image, truth, response, conf, 4, 812.5)


def test_results_writer_appends_and_flushes_each_row(tmp_path):
    path = tmp_path / "results.csv"
    w = ResultsWriter(path)
    w.append(_resp(trial=0))
    # Already on disk before the writer is closed (a crash now loses nothing).
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(RESULT_COLUMNS) and len(lines) == 2
    w.append(_resp(trial=1, truth="generated", response="fake", conf=4))
    assert len(path.read_text().splitlines()) == 3
    w.close()
    # Reopening appends (no second header), never truncates.
    with ResultsWriter(path) as w2:
        w2.append(_resp(trial=2))
    rs = read_results(path)
    assert [r.trial for r in rs] == [0, 1, 2]
    assert rs[1].rating == 1 and rs[0].rating == 7 and rs[0].rt_ms == 812.5


def test_results_writer_cuts_a_half_written_line(tmp_path):
    path = tmp_path / "results.csv"
    with ResultsWriter(path) as w:
        w.append(_resp(trial=0))
    with open(path, "a") as f:
        f.write("p1,1,1,b.png,rea")  # the machine died here
    assert len(read_results(path)) == 1  # the partial answer is not an answer
    with ResultsWriter(path) as w:
        w.append(_resp(trial=1))
    assert [r.trial for r in read_results(path)] == [0, 1]


def test_a_whole_last_row_without_newline_is_kept(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text(",".join(RESULT_COLUMNS) + "\np1,1,0,a.png,real,real,2,4,,")
    assert [r.trial for r in read_results(path)] == [0]
    with ResultsWriter(path) as w:  # completes the line instead of cutting the answer
        w.append(_resp(trial=1))
    assert [r.trial for r in read_results(path)] == [0, 1]


def test_results_writer_refuses_foreign_csv(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(JudgementError, match="not a StimStudio judgement results file"):
        ResultsWriter(path)
    assert path.read_text() == "a,b,c\n1,2,3\n"


def test_response_validation(tmp_path):
    with pytest.raises(JudgementError, match="confidence 5"):
        _resp(conf=5).check()
    with pytest.raises(JudgementError, match="response"):
        _resp(response="maybe").check()
    with pytest.raises(JudgementError, match="participant"):
        _resp(pid="").check()


@pytest.mark.parametrize(
    "row, message",
    [
        ("p1,1,0,a.png,real,real,9,4,,", "confidence 9"),
        ("p1,1,0,a.png,maybe,real,1,4,,", "truth"),
        ("p1,one,0,a.png,real,real,1,4,,", "line 2"),
        ("p1,1,0,a.png,real", "fields"),
    ],
)
def test_read_results_names_file_and_line(tmp_path, row, message):
    path = tmp_path / "r.csv"
    path.write_text(",".join(RESULT_COLUMNS) + "\n" + row + "\n")
    with pytest.raises(JudgementError, match=message) as exc:
        read_results(path)
    assert "r.csv line 2" in str(exc.value)


def test_read_results_missing_and_empty(tmp_path):
    with pytest.raises(JudgementError, match="does not exist"):
        read_results(tmp_path / "none.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(JudgementError, match="empty"):
        read_results(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text(",".join(RESULT_COLUMNS) + "\n")
    with pytest.raises(JudgementError, match="no responses"):
        read_results(tmp_path / "h.csv")
    (tmp_path / "c.csv").write_text("participant,truth\n")
    with pytest.raises(JudgementError, match="lacks the column"):
        read_results(tmp_path / "c.csv")


def test_run_writes_each_trial_as_it_happens_and_resumes(tmp_path):
    real = _images(tmp_path / "real", 3, "r")
    gen = _images(tmp_path / "gen", 3, "g")
    s = build_session(real, gen, seed=2)
    results = tmp_path / "results.csv"
    run = JudgementRun(s, results, "p7", 1, image_root=tmp_path)
    for k in range(2):
        t = run.current
        r = run.respond("real" if t.truth == "real" else "fake", 4, rt_ms=400)
        assert r.image == Path(t.image).relative_to(tmp_path).as_posix()
        assert len(read_results(results)) == k + 1  # on disk at once
    del run  # "crash": never closed
    run = JudgementRun(s, results, "p7", 1, image_root=tmp_path)
    assert run.answered == 2 and run.current == s.trials[2]
    while not run.finished:
        run.respond("fake", 1)
    run.close()
    rs = read_results(results)
    assert [r.trial for r in rs] == list(range(6))
    with pytest.raises(JudgementError, match="finished"):
        run.respond("real", 1)
    # A second session number starts from the beginning.
    assert JudgementRun(s, results, "p7", 2).answered == 0


# --------------------------------------------------------------------------- analysis


def _write_results(path: Path, rows: list[Response]) -> Path:
    with ResultsWriter(path) as w:
        for r in rows:
            w.append(r)
    return path


def _perfect_and_retest() -> list[Response]:
    rows = []
    images = [(f"r{i}.png", "real") for i in range(5)] + [
        (f"g{i}.png", "generated") for i in range(5)
    ]
    for session in (1, 2):
        for k, (img, truth) in enumerate(images):
            # p1: perfect discrimination, same answers in both sessions.
            rows.append(
                Response(
                    "p1",
                    session,
                    k,
                    img,
                    truth,
                    "real" if truth == "real" else "fake",
                    1 + k % 4,
                    4,
                )
            )
            # p2: says "real" to everything in session 1 and "fake" in session 2.
            rows.append(
                Response("p2", session, k, img, truth, "real" if session == 1 else "fake", 2, 4)
            )
    return rows


def test_analyze_hand_computed_example(tmp_path):
    a = analyze(_perfect_and_retest(), n_boot=500)
    p1, p2 = a.participants
    assert p1.label == "p1" and p2.label == "p2"
    assert p1.auc == 1.0 and p1.auc_ci == (1.0, 1.0)
    assert p1.sokal_michener == 1.0  # identical answers twice
    assert p2.sokal_michener == 0.0  # every answer flipped
    assert p2.auc == 0.5
    # p1: all hits, no false alarms over 10 + 10 trials: finite d' from the correction.
    h, f = 10.5 / 11, 0.5 / 11
    assert p1.sdt.dprime == pytest.approx(norm.ppf(h) - norm.ppf(f))
    assert p1.proportion_correct == 1.0 and p2.proportion_correct == 0.5
    assert a.pooled.n_trials == 40 and a.mean_auc == pytest.approx(0.75)
    d = a.to_dict()
    json.dumps(d)  # plain JSON
    assert d["participants"][0]["roc"]["tpr"][-1] == 1.0


def test_retest_pairs_by_image_not_by_order():
    rows = [
        Response("p", 1, 0, "a.png", "real", "real", 1, 2),
        Response("p", 1, 1, "b.png", "generated", "fake", 1, 2),
        Response("p", 2, 0, "b.png", "generated", "fake", 2, 2),
        Response("p", 2, 1, "a.png", "real", "fake", 2, 2),
    ]
    (pair,) = retest_agreement(rows)
    assert pair == {"sessions": [1, 2], "n": 2, "sokal_michener": 0.5}


def test_analyze_errors():
    with pytest.raises(JudgementError):
        analyze([])
    only_real = [Response("p", 1, i, f"{i}.png", "real", "real", 1, 2) for i in range(3)]
    with pytest.raises(JudgementError, match="every trial showed a real image"):
        analyze(only_real)
    mixed = [
        Response("p", 1, 0, "a.png", "real", "real", 1, 2),
        Response("p", 1, 1, "b.png", "generated", "real", 1, 4),
    ]
    a = analyze(mixed, n_boot=200)  # issue 16: mixed scales give what can be given, and say so
    assert a.participants[0].auc is None and a.pooled.auc is None and a.mean_auc is None
    assert a.participants[0].sdt.hit_rate == 1.0 and a.participants[0].sdt.fa_rate == 1.0
    assert any("different confidence scales" in n for n in a.notes)
    table = format_table(a)
    assert "p" in table and "note:" in table


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_roc_figure(tmp_path, suffix):
    a = analyze(_perfect_and_retest(), n_boot=200)
    path = write_roc_figure(tmp_path / f"roc{suffix}", a)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data[:2000]
    with pytest.raises(JudgementError, match=".png, .svg or .pdf"):
        write_roc_figure(tmp_path / "roc.gif", a)


# -------------------------------------------------------------------------------- CLI


def test_cli_build_and_analyze(tmp_path, capsys):
    _images(tmp_path / "real", 6, "r")
    _images(tmp_path / "gen", 5, "g")
    out = tmp_path / "s"
    argv = ["judge", "build", str(tmp_path / "real"), str(tmp_path / "gen"), str(out)]
    assert main([*argv, "--seed", "4", "--iti", "0.5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trials"] == 10 and doc["seed"] == 4
    assert (out / "session.json").exists() and (out / "conditions.csv").exists()
    # Never overwrites silently.
    assert main([*argv, "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stimstudio: error:") and err.count("\n") == 1
    assert main([*argv, "--seed", "5", "--force"]) == 0
    capsys.readouterr()

    results = _write_results(tmp_path / "results.csv", _perfect_and_retest())
    fig = tmp_path / "roc.png"
    rc = main(
        ["judge", "analyze", str(results), "--json", "--figure", str(fig), "--bootstrap", "300"]
    )
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["participants"][0]["auc"] == 1.0
    assert doc["participants"][0]["sokal_michener"] == 1.0
    assert fig.read_bytes().startswith(b"\x89PNG")
    # Text table, through the alias: the same table as the verb it stands for.
    assert main(["analyze-judgements", str(results), "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "p1" in text and "pooled" in text and "AUC" in text
    assert main(["judge", "analyze", str(results), "--bootstrap", "200"]) == 0
    assert capsys.readouterr().out == text
    # The figure is not replaced without --force.
    assert main(["judge", "analyze", str(results), "--figure", str(fig)]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["judge"], "build, analyze or adjustment"),
        (["judge", "build", "{missing}", "{gen}", "{out}"], "not a folder"),
        (["judge", "build", "{empty}", "{gen}", "{out}"], "holds no images"),
        (["judge", "build", "{real}", "{gen}", "{out}", "--per-class", "9"], "per class"),
        (["judge", "build", "{real}", "{gen}", "{out}", "--levels", "0"], "confidence levels"),
        (["judge", "analyze", "{missing}"], "does not exist"),
        (["judge", "analyze", "{bad}"], "line 2"),
        (["judge", "analyze", "{good}", "--figure", "{out}/roc.gif"], ".png, .svg or .pdf"),
        (["judge", "analyze", "{good}", "--bootstrap", "5"], "--bootstrap"),
        (["analyze-judgements"], "required"),
    ],
)
def test_cli_user_errors(tmp_path, capsys, argv, message):
    _images(tmp_path / "real", 3, "r")
    _images(tmp_path / "gen", 3, "g")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.csv").write_text(",".join(RESULT_COLUMNS) + "\np,1,0,a,real,real,7,4,,\n")
    _write_results(tmp_path / "good.csv", _perfect_and_retest())
    names = {
        "missing": tmp_path / "missing",
        "real": tmp_path / "real",
        "gen": tmp_path / "gen",
        "empty": tmp_path / "empty",
        "out": tmp_path,
        "bad": tmp_path / "bad.csv",
        "good": tmp_path / "good.csv",
    }
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stimstudio: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_analyze_judgements_is_listed_as_an_alias(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = " ".join(capsys.readouterr().out.split())
    assert "analyze-judgements alias of `judge analyze`" in listing
