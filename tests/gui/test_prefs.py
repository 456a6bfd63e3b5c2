"""Defaults from one place: the app's Eq. 4 preferences and its device and precision lists are
core's, not copies that can drift apart (issue 17: preview_every was 10 in core, 5 here)."""

from __future__ import annotations

from stimstudio.core.compute_choices import DEVICE_CHOICES, PRECISION_CHOICES
from stimstudio.core.inversion_settings import COMPOSE_DEFAULTS
from stimstudio.core.invert import InversionSettings


def test_default_preferences_give_cores_inversion_settings():
    from stimstudio.gui.prefs import Preferences

    assert Preferences().inversion_settings() == COMPOSE_DEFAULTS


def test_settings_dialog_and_arguments_list_cores_choices(qtbot):
    from stimstudio.gui.app import make_app, parse_args
    from stimstudio.gui.panels.settings import SettingsDialog
    from stimstudio.gui.prefs import Preferences

    make_app()
    dlg = SettingsDialog(Preferences())
    qtbot.addWidget(dlg)
    assert [dlg.device.itemText(i) for i in range(dlg.device.count())] == list(DEVICE_CHOICES)
    assert [dlg.precision.itemText(i) for i in range(dlg.precision.count())] == list(
        PRECISION_CHOICES
    )
    for choice in DEVICE_CHOICES:
        assert parse_args(["--device", choice]).device == choice


def test_settings_dialog_turns_on_noise_map_fitting(qtbot):
    """The Settings dialog reaches Eq. 4's noise-map option, its penalty is editable only while
    the option is on, the paper's recipe is one button away (issue 37: the defaults are
    COMPOSE_DEFAULTS, not the paper's) and Restore Defaults puts core's defaults back."""
    from stimstudio.gui.app import make_app
    from stimstudio.gui.panels.settings import SettingsDialog
    from stimstudio.gui.prefs import Preferences

    make_app()
    dlg = SettingsDialog(Preferences())
    qtbot.addWidget(dlg)
    assert dlg.optimize_noise.isChecked() and dlg.noise_regularize.isEnabled()
    assert dlg.seam_band.value() == COMPOSE_DEFAULTS.seam_band > 0
    dlg.paper.click()
    assert dlg.result_prefs().inversion_settings() == InversionSettings()
    assert not dlg.optimize_noise.isChecked() and not dlg.noise_regularize.isEnabled()
    dlg.optimize_noise.setChecked(True)
    assert dlg.noise_regularize.isEnabled()
    dlg.noise_regularize.setValue(0.0)
    dlg.seam_band.setValue(6.0)
    s = dlg.result_prefs().inversion_settings()
    assert s.optimize_noise and s.noise_regularize == 0.0 and s.seam_band == 6.0
    assert dlg.encoder_noise.isChecked() and s.encoder_noise  # the noise encoder: on
    dlg.encoder_noise.setChecked(False)
    assert not dlg.result_prefs().inversion_settings().encoder_noise
    dlg._defaults()
    assert dlg.result_prefs().inversion_settings() == COMPOSE_DEFAULTS


def test_noise_map_preferences_survive_a_restart(tmp_path, monkeypatch):
    from stimstudio.gui import prefs as prefs_mod

    monkeypatch.setattr(prefs_mod, "config_dir", lambda: tmp_path)
    p = prefs_mod.Preferences(optimize_noise=True, noise_regularize=0.5, encoder_noise=False)
    p.save()
    back = prefs_mod.Preferences.load()
    assert back.optimize_noise is True and back.noise_regularize == 0.5
    assert back.encoder_noise is False


def test_the_fidelity_realism_control_reaches_eq4_and_survives_a_restart(
    qtbot, tmp_path, monkeypatch
):
    """Issue 37: the realism setting, CLI-only before, is in the Compose settings; it goes into
    the InversionSettings every inversion of the app uses (and so into each latent's source),
    Restore Defaults puts back core's default, and a bad stored value is clamped to 0..1."""
    from stimstudio.gui import prefs as prefs_mod
    from stimstudio.gui.app import make_app
    from stimstudio.gui.panels.settings import SettingsDialog

    make_app()
    dlg = SettingsDialog(prefs_mod.Preferences())
    qtbot.addWidget(dlg)
    assert dlg.realism.value() == InversionSettings().realism
    dlg.realism.setValue(0.7)
    chosen = dlg.result_prefs()
    assert chosen.inversion_settings().realism == 0.7
    monkeypatch.setattr(prefs_mod, "config_dir", lambda: tmp_path)
    chosen.save()
    assert prefs_mod.Preferences.load().inversion_settings().realism == 0.7
    dlg._defaults()
    assert dlg.result_prefs().inversion_settings() == COMPOSE_DEFAULTS
    assert prefs_mod.Preferences(realism=7.0).inversion_settings().realism == 1.0


def test_anchors_from_images_fit_their_own_texture_unless_turned_off(qtbot):
    """Issue 37: "Invert as anchor" uses core's INVERT_DEFAULTS for the noise maps and lambda4
    (the rest from the Compose settings); the checkbox turns it back to the Compose settings."""
    from stimstudio.core.inversion_settings import INVERT_DEFAULTS
    from stimstudio.gui.app import make_app
    from stimstudio.gui.panels.settings import SettingsDialog
    from stimstudio.gui.prefs import Preferences

    p = Preferences(steps=7, optimize_noise=False, noise_regularize=1.0, lambda_encoder=2.0)
    a = p.anchor_settings()
    assert (a.optimize_noise, a.noise_regularize, a.lambda_encoder) == (
        INVERT_DEFAULTS.optimize_noise,
        INVERT_DEFAULTS.noise_regularize,
        INVERT_DEFAULTS.lambda_encoder,
    )
    assert a.steps == 7 and p.inversion_settings().optimize_noise is False
    make_app()
    dlg = SettingsDialog(p)
    qtbot.addWidget(dlg)
    assert dlg.anchor_fit_texture.isChecked()
    dlg.anchor_fit_texture.setChecked(False)
    off = dlg.result_prefs()
    assert off.anchor_settings() == off.inversion_settings()
    dlg._defaults()
    assert dlg.anchor_fit_texture.isChecked()
