"""Issue 16: judgement analysis of results files as labs have them — no confidence_levels
column, participants on different confidence scales, retest sessions, small samples.

Expected values are computed here independently of stimstudio.core.judgements: AUC by
comparing every real/generated pair of answers, d' and c from the log-linear rates with
scipy, Sokal-Michener by counting equal answers per image."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.stats import norm

from stimstudio.cli.main import main
from stimstudio.core.judgements import JudgementError, analyze, format_table, read_results

HEADER = ["participant", "session", "trial", "image", "truth", "response", "confidence"]


def _answers(seed: int, scale: int, n: int = 24, skill: float = 1.0):
    """Two sessions over the same 2n images (a retest), answers from a noisy observer."""
    rng = np.random.default_rng(seed)
    images = [(f"r{i:02d}.png", "real") for i in range(n)] + [
        (f"g{i:02d}.png", "generated") for i in range(n)
    ]
    rows = []
    for session in (1, 2):
        order = rng.permutation(len(images))
        for trial, k in enumerate(order):
            image, truth = images[k]
            evidence = rng.normal(skill if truth == "real" else 0.0, 1.0)
            response = "real" if evidence > skill / 2 else "fake"
            conf = int(np.clip(1 + abs(evidence - skill / 2) * scale / 2, 1, scale))
            rows.append((session, trial, image, truth, response, conf))
    return rows


def _write(path, participants: dict, with_levels: dict | None = None):
    """A results CSV in the lab's own spelling (capitalised labels), without confidence_levels
    unless `with_levels` gives it per participant."""
    header = HEADER + (["confidence_levels"] if with_levels else [])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for p, rows in participants.items():
            for session, trial, image, truth, response, conf in rows:
                row = [p, session, trial, image, truth.capitalize(), response.upper(), conf]
                if with_levels:
                    row.append(with_levels[p])
                w.writerow(row)
    return path


def expected(rows):
    """Independent AUC, d', c, H, F of (session, trial, image, truth, response, conf) rows."""
    real = [r for r in rows if r[3] == "real"]
    gen = [r for r in rows if r[3] == "generated"]

    def key(r):  # order of "how real": surely fake ... surely real (no scale size needed)
        return (r[4] == "real", r[5] if r[4] == "real" else -r[5])

    wins = 0.0
    for a in real:
        for b in gen:
            wins += 1.0 if key(a) > key(b) else 0.5 if key(a) == key(b) else 0.0
    hits = sum(r[4] == "real" for r in real)
    fas = sum(r[4] == "real" for r in gen)
    zh = norm.ppf((hits + 0.5) / (len(real) + 1))
    zf = norm.ppf((fas + 0.5) / (len(gen) + 1))
    return {
        "auc": wins / (len(real) * len(gen)),
        "dprime": zh - zf,
        "c": -(zh + zf) / 2,
        "hit_rate": hits / len(real),
        "false_alarm_rate": fas / len(gen),
    }


def expected_sm(rows):
    by = {}
    for session, _t, image, _truth, response, _c in rows:
        by.setdefault(image, {})[session] = response
    return float(np.mean([v[1] == v[2] for v in by.values()]))


@pytest.fixture
def data():
    return {
        "ann": _answers(1, 4),
        "ben": _answers(2, 6, skill=1.5),
        "cy": _answers(3, 3, skill=0.7),
    }


def _check(summary, want):
    assert summary["auc"] == pytest.approx(want["auc"], abs=1e-12)
    for k in ("dprime", "c", "hit_rate", "false_alarm_rate"):
        assert summary[k] == pytest.approx(want[k], abs=1e-12), k


@pytest.mark.parametrize("session", [1, 2])
def test_mixed_scales_without_levels_per_session(tmp_path, capsys, data, session):
    path = _write(tmp_path / "results.csv", data)
    rc = main(["judge", "analyze", str(path), "--session", str(session), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    per = {p["label"]: p for p in doc["participants"]}
    assert sorted(per) == ["ann", "ben", "cy"]
    for p, rows in data.items():
        mine = [r for r in rows if r[0] == session]
        _check(per[p], expected(mine))
        assert per[p]["sessions"] == [session] and per[p]["n_trials"] == 48
        # test-retest across the sessions, whichever session the numbers are of
        assert per[p]["sokal_michener"] == pytest.approx(expected_sm(rows), abs=1e-12)
        assert per[p]["retest_pairs"][0]["n"] == 48
    # the scale of each participant: the highest confidence they gave
    assert per["ann"]["confidence_levels"] == max(r[5] for r in data["ann"] if r[0] == session)
    # pooled: only what can be pooled (real/fake answers), said so
    pooled = doc["pooled"]
    allrows = [r for rows in data.values() for r in rows if r[0] == session]
    want = expected(allrows)
    assert pooled["auc"] is None and pooled["auc_ci"] == [None, None]
    for k in ("dprime", "c", "hit_rate", "false_alarm_rate"):
        assert pooled[k] == pytest.approx(want[k], abs=1e-12)
    notes = " ".join(doc["notes"])
    assert "different confidence scales" in notes and "no AUC" in notes
    assert f"session {session} only" in notes
    assert "no confidence_levels recorded" in notes
    assert doc["mean_auc"] == pytest.approx(
        np.mean([expected([r for r in rows if r[0] == session])["auc"] for rows in data.values()])
    )


def test_sessions_pooled_is_stated(tmp_path, capsys, data):
    path = _write(tmp_path / "results.csv", data)
    assert main(["judge", "analyze", str(path), "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "note: sessions pooled" in text and "counts twice" in text
    a = analyze(read_results(path), n_boot=200)
    for s in a.participants:
        _check(s.to_dict(), expected(data[s.label]))  # both sessions together
        assert s.sessions == [1, 2]


def test_declared_levels_give_the_same_numbers(tmp_path, data):
    """A larger declared scale changes no number: only criteria nobody used are added."""
    inferred = analyze(read_results(_write(tmp_path / "a.csv", data)), n_boot=200, session=1)
    declared = analyze(
        read_results(_write(tmp_path / "b.csv", data, {"ann": 7, "ben": 9, "cy": 5})),
        n_boot=200,
        session=1,
    )
    for a, b in zip(inferred.participants, declared.participants):
        assert a.auc == b.auc and a.sdt.dprime == b.sdt.dprime
        pa = sorted(set(zip(a.roc.fpr.tolist(), a.roc.tpr.tolist())))
        pb = sorted(set(zip(b.roc.fpr.tolist(), b.roc.tpr.tolist())))
        assert pa == pb
    assert not any("no confidence_levels" in n for n in declared.notes)


def test_one_scale_is_pooled_with_an_auc(tmp_path):
    rows = {"a": _answers(5, 4), "b": _answers(6, 4)}
    a = analyze(read_results(_write(tmp_path / "r.csv", rows, {"a": 4, "b": 4})), n_boot=200)
    assert a.pooled.auc == pytest.approx(expected(rows["a"] + rows["b"])["auc"])
    assert not any("different confidence scales" in n for n in a.notes)


def test_small_sample_warning(tmp_path, capsys):
    rows = [
        (1, k, f"{t[0]}{k}.png", t, "real" if t == "real" else "fake", 2)
        for k, t in enumerate(["real", "generated"] * 3)
    ]
    path = _write(tmp_path / "r.csv", {"p": rows})
    a = analyze(read_results(path), n_boot=200)
    (p,) = a.participants
    assert p.auc == 1.0 and p.auc_ci == (1.0, 1.0)
    text = format_table(a)
    assert "only 3 real and 3 generated trials" in text and "zero width" in text
    assert main(["judge", "analyze", str(path), "--bootstrap", "200"]) == 0
    assert "unreliable" in capsys.readouterr().out


def test_session_errors(tmp_path, capsys, data):
    path = _write(tmp_path / "r.csv", data)
    with pytest.raises(JudgementError, match=r"no answers of session 3.*1, 2"):
        analyze(read_results(path), session=3)
    assert main(["judge", "analyze", str(path), "--session", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "session 3" in err
    assert main(["judge", "analyze", str(path), "--session", "0"]) == 2
    assert "--session" in capsys.readouterr().err


def test_missing_required_column_is_named(tmp_path):
    (tmp_path / "r.csv").write_text("participant,session,trial,image,truth,response\n")
    with pytest.raises(JudgementError, match="lacks the column.*confidence"):
        read_results(tmp_path / "r.csv")


def test_help_documents_the_format(capsys):
    with pytest.raises(SystemExit):
        main(["judge", "analyze", "--help"])
    text = capsys.readouterr().out
    for col in HEADER + ["confidence_levels", "rt_ms", "timestamp", "--session"]:
        assert col in text
    assert "optional" in text and "required" in text
