"""The model's status, computed from its card: status bar, Compose page, About the model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from stimstudio.gui.model_status import model_status

CARD = Path(__file__).resolve().parents[2] / "weights" / "stimstudio-minimias-128.json"


def _card(met: dict[str, bool], kimg: float = 52.0) -> dict:
    values = {"c2st_accuracy": 0.956, "swd_mean_ratio": 7.07, "inversion_detail": 0.02}
    ok = {"c2st_accuracy": 0.7, "swd_mean_ratio": 1.3, "inversion_detail": 0.6}
    targets = {"c2st_accuracy": "<= 0.8", "swd_mean_ratio": "<= 1.5", "inversion_detail": ">= 0.5"}
    return {
        "kimg": kimg,
        "sha256": "abc",
        "evaluation": {
            "model": {"sha256": "abc"},
            "c2st": {"real_vs_real": {"accuracy": 0.58}},
            "targets": {
                k: {"value": ok[k] if met[k] else values[k], "target": targets[k], "met": met[k]}
                for k in met
            },
        },
    }


def test_an_early_checkpoint_says_so_with_the_cards_numbers():
    s = model_status(_card({"c2st_accuracy": False, "swd_mean_ratio": False}), "m")
    assert not s.ready and (s.met, s.total) == (0, 2)
    assert s.short == "52.0 kimg · early: 0/2 targets met"
    assert "95.6 %" in s.brief and "chance: 50 %" in s.brief and "not for an experiment" in s.brief
    assert "≤ 80.0 %" in s.summary and "real vs real: 58 %" in s.summary
    assert "7.07×" in s.summary and "≤ 1.50×" in s.summary
    assert "<table" in s.html and s.html.count("✘") == 2


def test_the_status_follows_the_card():
    later = model_status(_card({"c2st_accuracy": True, "swd_mean_ratio": False}, kimg=400), "m")
    assert later.short == "400.0 kimg · early: 1/2 targets met"
    assert "7.07×" in later.brief and "1 of 2" in later.brief  # the unmet one is the evidence
    done = model_status(_card({"c2st_accuracy": True, "swd_mean_ratio": True}, kimg=900), "m")
    assert done.ready and done.short == "900.0 kimg · 2/2 targets met"
    assert "Early" not in done.summary
    # only reconstruction short of its target: realistic samples, but say what is weak
    recon = model_status(
        _card({"c2st_accuracy": True, "swd_mean_ratio": True, "inversion_detail": False}), "m"
    )
    assert not recon.ready and "pass the realism tests" in recon.summary


def test_numbers_measured_on_another_file_are_flagged():
    card = _card({"c2st_accuracy": True, "swd_mean_ratio": True})
    card["sha256"] = "other"
    s = model_status(card, "m")
    assert not s.ready and "another weights file" in s.summary


def test_a_card_without_evaluation_is_not_evaluated():
    s = model_status({"kimg": 0}, "tiny")
    assert not s.ready and s.short == "0.0 kimg · not evaluated"
    assert "unknown" in s.brief
    assert model_status(None, "x").short == "kimg ? · not evaluated"


def test_the_shipped_card_reads_as_its_numbers_say():
    card = json.loads(CARD.read_text())
    targets = card["evaluation"]["targets"]
    met = sum(t["met"] is True for t in targets.values())
    measured = sum(t["met"] is not None for t in targets.values())
    s = model_status(card, card["name"])
    assert f"{card['kimg']:.1f} kimg" in s.short and f"{met}/{measured}" in s.short
    assert s.ready == (met == measured)
    changed = copy.deepcopy(card)
    changed["kimg"] = card["kimg"] + 100
    assert f"{card['kimg'] + 100:.1f} kimg" in model_status(changed, "m").short


def test_status_bar_compose_page_and_about_show_it(window, qtbot):
    page = window.pages["compose"]
    # the tiny test model has no evaluation: said in all three places
    assert "not evaluated" in window.model_label.text()
    assert window.model_label.property("warning") is True
    assert page.model_notice.isVisibleTo(page) and "unknown" in page.model_notice.text()
    # the same window with an evaluated card: the text follows the card
    window.model.card = {**window.model.card, **_card({"c2st_accuracy": False}, kimg=12)}
    window.model.card["sha256"] = window.model.card["evaluation"]["model"]["sha256"]
    with qtbot.waitSignal(window.model_changed):
        window.model_loading.adopt(window.model, window.compute)
    assert "12.0 kimg · early: 0/1 targets met" in window.model_label.text()
    assert "95.6 %" in page.model_notice.text()
    assert "95.6 %" in window.model_label.toolTip()
    help_menu = next(a.menu() for a in window.menuBar().actions() if "Help" in a.text())
    about = next(a for a in help_menu.actions() if "About the" in a.text())
    from stimstudio.gui.panels.settings import ModelAboutDialog

    dlg = ModelAboutDialog(window.ctx)
    assert "95.6 %" in dlg.text.toPlainText() and "Quality target" in dlg.text.toPlainText()
    dlg.close()
    assert about.isEnabled()


def test_a_model_meeting_its_targets_has_no_notice(window, qtbot):
    window.model.card = {**window.model.card, **_card({"c2st_accuracy": True})}
    window.model.card["sha256"] = "abc"
    with qtbot.waitSignal(window.model_changed):
        window.model_loading.adopt(window.model, window.compute)
    page = window.pages["compose"]
    assert not page.model_notice.isVisibleTo(page)
    assert window.model_label.property("warning") is False


def test_the_fitted_noise_row_is_named_beside_the_unmet_eq4_detail():
    card = _card({"c2st_accuracy": True, "swd_mean_ratio": True, "inversion_detail": False})
    plain = model_status(copy.deepcopy(card), "m")
    assert "noise maps fitted" not in plain.html and "noise maps fitted" not in plain.summary
    card["evaluation"]["reconstruction"] = {
        "recipe": {"fitted_noise": {"noise_regularize": 0.0, "lambda_encoder": 0.0}},
        "inversion_fitted_noise": {"psnr": 40.86, "ssim": 0.94, "detail": 0.602},
    }
    s = model_status(card, "m")
    assert "Eq. 4 with the noise maps fitted too (penalty 0, λ4 0): 40.9 dB, detail 0.60." in (
        s.html
    )
    assert "Settings ▸ Noise maps" in s.summary and "40.9 dB, detail 0.60" in s.summary


def test_about_names_the_noise_encoder_and_counts_its_compute():
    card = _card({"c2st_accuracy": False})
    card.update(training_seconds=3600.0, encoder_training_seconds=1800.0, hardware="cpu")
    before = model_status(card, "m").html
    assert "noise encoder" not in before and "1.5 h of training in all" in before
    assert "generator 1.0 h, encoder 0.5 h;" in before and "cpu" in before
    card.update(noise_encoder_kimg=3.2, noise_encoder_training_seconds=1800.0)
    after = model_status(card, "m").html
    assert "noise encoder 3.2 kimg" in after and "2.0 h of training in all" in after
    assert "noise encoder 0.5 h" in after


def test_a_grown_models_borrowed_encoder_is_said():
    card = _card({"c2st_accuracy": False}, kimg=430)
    card["architecture"] = {"encoder_resolution": 128}
    card["encoder_from"] = {"name": "minimias-128", "noise_encoder": True}
    s = model_status(card, "grown")
    assert "encoder and noise encoder borrowed from minimias-128 (128 px)" in s.summary
    assert "borrowed" not in model_status(_card({"c2st_accuracy": False}), "m").summary
