"""The adjustment task's analysis against known answers: simulated observers with a chosen
serial-dependence amplitude and noise; the trial plan; the results file and its bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from stimstudio.cli.main import main
from stimstudio.core.judgements import (
    ADJUSTMENT_COLUMNS,
    AdjustmentResponse,
    AdjustmentWriter,
    JudgementError,
    Mulberry32,
    adjustment_csv,
    adjustment_plan,
    analyze_adjustment,
    circular_error,
    circular_summary,
    default_seed,
    dog,
    fit_dog,
    read_adjustment_results,
    serial_pairs,
)
from stimstudio.core.judgements.adjustment import fnv1a32
from stimstudio.core.judgements.adjustment_analysis import simulate_observer

N_BOOT = 500  # enough for a 95% CI in a test; the CLI default is 1000


def _observers(amplitude, n=3, noise=12.0, width=20.0, trials=400, seed0=0):
    rs = []
    for i in range(n):
        rs += simulate_observer(
            participant=f"p{i + 1}",
            amplitude=amplitude,
            width=width,
            noise_sd=noise,
            n_trials=trials,
            seed=seed0 + i,
        )
    return rs


def test_mulberry32_matches_the_javascript_generator():
    # Reference values from the JavaScript mulberry32 the browser experiment carries (node).
    r = Mulberry32(42)
    assert [r.random() for _ in range(3)] == [
        0.6011037519201636,
        0.44829055899754167,
        0.8524657934904099,
    ]
    r = Mulberry32(4294967295)
    assert r.random() == 0.8964226141106337
    assert fnv1a32("a") == 3826002220
    assert default_seed("P1", 1) == fnv1a32("P1|1")


def test_plan_spreads_targets_evenly_and_is_reproducible():
    plan = adjustment_plan(24, 48, seed=7)
    assert [t.index for t in plan] == list(range(1, 49))
    assert np.bincount([t.target_frame for t in plan], minlength=24).tolist() == [2] * 24
    assert plan == adjustment_plan(24, 48, seed=7)
    assert plan != adjustment_plan(24, 48, seed=8)
    assert all(0 <= t.start_frame < 24 for t in plan)
    uneven = adjustment_plan(10, 7, seed=1)
    assert len({t.target_frame for t in uneven}) == 7
    with pytest.raises(JudgementError, match="3 frames or more"):
        adjustment_plan(2, 5, seed=1)


@pytest.mark.parametrize(
    "resp,target,n,want",
    [(5, 3, 10, 2), (1, 9, 10, 2), (9, 1, 10, -2), (8, 3, 10, 5), (3, 8, 10, 5)],
)
def test_circular_error_wraps_into_half_open_interval(resp, target, n, want):
    assert circular_error(resp, target, n) == want


def test_circular_sd_known_answer():
    rng = np.random.default_rng(0)
    e = rng.normal(0, 15, 20000)
    s = circular_summary(e)
    assert abs(s["circular_sd"] - 15) < 0.5  # for small spreads the circular SD is the SD
    assert abs(s["mean"]) < 0.5
    assert circular_summary([170, -170])["mean"] == pytest.approx(180, abs=1e-9)


def test_fit_recovers_noiseless_curve():
    x = np.repeat(np.arange(-175.0, 180.0, 5.0), 3)
    amp, width, resid = fit_dog(x, dog(x, 4.0, 23.3), (10, 90))
    assert amp == pytest.approx(4.0, abs=1e-3)
    assert width == pytest.approx(23.3, abs=1e-2)
    assert resid < 1e-3


def test_simulated_observer_amplitude_recovered_within_ci():
    true_amp, noise = 5.0, 12.0
    a = analyze_adjustment(_observers(true_amp, noise=noise), n_boot=N_BOOT, n_perm=N_BOOT)
    for s in [a.pooled, *a.participants]:
        lo, hi = s.serial["amplitude_ci"]
        assert lo < true_amp < hi, (s.label, lo, hi)
        # noise 12 deg plus rounding to 5-deg frames and the serial pull
        assert 10.5 < s.errors["circular_sd"] < 14.5
    assert a.pooled.serial["p"] < 0.01 and a.pooled.serial["amplitude_ci"][0] > 0
    assert a.pooled.serial["amplitude"] == pytest.approx(true_amp, abs=1.5)
    assert a.pooled.n_trials == 1200 and a.pooled.serial["n_pairs"] == 1197


def test_repulsive_observer_has_negative_amplitude():
    a = analyze_adjustment(_observers(-4.0, noise=8.0, seed0=20), n_boot=N_BOOT, n_perm=N_BOOT)
    lo, hi = a.pooled.serial["amplitude_ci"]
    assert lo < -4.0 < hi and hi < 0


def test_zero_amplitude_observer_not_significant():
    a = analyze_adjustment(_observers(0.0, seed0=0), n_boot=N_BOOT, n_perm=N_BOOT, seed=3)
    assert a.pooled.serial["p"] > 0.05
    lo, hi = a.pooled.serial["amplitude_ci"]
    assert lo < 0 < hi


def test_permutation_test_holds_its_level():
    # 40 zero-amplitude observers: about 5% of p values below 0.05 (binomial: 6 or fewer of
    # 40 has probability > 0.99 at the nominal rate)
    ps = []
    for k in range(40):
        rs = simulate_observer(amplitude=0.0, noise_sd=12.0, n_trials=300, seed=500 + k)
        a = analyze_adjustment(rs, n_boot=100, n_perm=200, seed=k)
        ps.append(a.pooled.serial["p"])
    assert sum(p < 0.05 for p in ps) <= 6
    assert np.median(ps) > 0.25


def test_serial_pairs_skip_gaps_and_sessions():
    def r(trial, target, session=1, resp=None):
        return AdjustmentResponse("p", session, trial, "c", 36, target, resp or target)

    rows = [r(1, 0), r(2, 9), r(4, 18), r(5, 0), r(1, 9, session=2)]
    x, y = serial_pairs(rows, demean=False)
    # pairs (1->2) and (4->5); trial 3 is missing, session 2 starts afresh
    assert sorted(x.tolist()) == [-90.0, 180.0]
    assert y.tolist() == [0.0, 0.0]


def test_bias_is_removed_before_the_fit():
    rs = simulate_observer(amplitude=0.0, bias=20.0, noise_sd=8.0, seed=5)
    a = analyze_adjustment(rs, n_boot=200, n_perm=200)
    assert a.pooled.errors["mean"] == pytest.approx(20, abs=2)
    assert abs(a.pooled.serial["amplitude"]) < 2.5


def test_results_round_trip_and_writer(tmp_path):
    rs = simulate_observer(n_trials=20, seed=1)
    path = tmp_path / "r.csv"
    with AdjustmentWriter(path) as w:
        for r in rs[:10]:
            w.append(r)
    with open(path, "a", encoding="utf-8") as f:
        f.write("sim,1,11,loop")  # a crash mid-row
    with AdjustmentWriter(path) as w:  # resumes: the partial row is cut
        for r in rs[10:]:
            w.append(r)
    back = read_adjustment_results(path)
    assert [(b.trial, b.target_frame, b.response_frame) for b in back] == [
        (r.trial, r.target_frame, r.response_frame) for r in rs
    ]
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == ADJUSTMENT_COLUMNS
    assert all(row["timestamp"] for row in rows)
    assert float(rows[0]["error_deg"]) == pytest.approx(rs[0].error_deg)


def test_last_row_without_newline(tmp_path):
    text = adjustment_csv(simulate_observer(n_trials=4, seed=3))
    whole = tmp_path / "whole.csv"
    whole.write_text(text.rstrip("\n"))  # saved by hand: a complete last row, no newline
    assert len(read_adjustment_results(whole)) == 4
    cut = tmp_path / "cut.csv"
    cut.write_text(text.rstrip("\n")[:-30])  # cut off by a crash mid-row
    assert len(read_adjustment_results(cut)) == 3


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_input_is_one_line(tmp_path):
    good = adjustment_csv(simulate_observer(n_trials=5, seed=2))
    missing = _write(tmp_path / "m.csv", "participant,session,trial\np,1,1\n")
    with pytest.raises(JudgementError, match="lacks the column"):
        read_adjustment_results(missing)
    other = adjustment_csv(simulate_observer(n_trials=5, continuum="other", participant="q"))
    a, b = _write(tmp_path / "a.csv", good), _write(tmp_path / "b.csv", other)
    with pytest.raises(JudgementError, match="mixed"):
        read_adjustment_results([a, b])
    lines = good.splitlines()
    cells = lines[1].split(",")
    cells[ADJUSTMENT_COLUMNS.index("error_frames")] = str(int(cells[9]) + 1)
    bad = _write(tmp_path / "e.csv", "\n".join([lines[0], ",".join(cells)]) + "\n")
    with pytest.raises(JudgementError, match="line 2: error_frames"):
        read_adjustment_results(bad)
    dup = _write(tmp_path / "d.csv", good + lines[1] + "\n")
    with pytest.raises(JudgementError, match="also at"):
        read_adjustment_results(dup)


def test_cli_writes_plots_and_json(tmp_path, capsys):
    res = _write(tmp_path / "r.csv", adjustment_csv(_observers(5.0, n=2)))
    out = tmp_path / "out"
    args = ["judge", "adjustment", str(res), "--out", str(out), "--bootstrap", "200"]
    assert main([*args, "--permutations", "200", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pooled"]["serial_dependence"]["n_pairs"] == 798
    saved = json.loads((out / "adjustment.json").read_text())
    assert saved["pooled"]["serial_dependence"]["amplitude"] == pytest.approx(
        doc["pooled"]["serial_dependence"]["amplitude"]
    )
    for name in ("error_distribution.png", "serial_dependence.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # outputs are not replaced without --force
    assert main([*args, "--permutations", "200"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--permutations", "200", "--force"]) == 0
    assert "serial_dependence.png" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content,message",
    [
        ("participant,session\np,1\n", "lacks the column(s) trial, continuum"),
        (None, "mixed with"),
        ("", "is empty"),
    ],
)
def test_cli_bad_input_exit_2(tmp_path, capsys, content, message):
    if content is None:
        a = _write(tmp_path / "a.csv", adjustment_csv(simulate_observer(n_trials=5)))
        b = _write(tmp_path / "b.csv", adjustment_csv(simulate_observer(n_trials=5, n_frames=36)))
        files = [str(a), str(b)]
    else:
        files = [str(_write(tmp_path / "x.csv", content))]
    assert main(["judge", "adjustment", *files]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stimstudio: error: ") and message in err
    assert err.count("\n") == 1
