"""Defaults from one place: the app's Eq. 4 preferences and its device and precision lists are
core's, not copies that can drift apart (issue 17: preview_every was 10 in core, 5 here)."""

from __future__ import annotations

from stimstudio.core.compute_choices import DEVICE_CHOICES, PRECISION_CHOICES
from stimstudio.core.invert import InversionSettings


def test_default_preferences_give_cores_inversion_settings():
    from stimstudio.gui.prefs import Preferences

    assert Preferences().inversion_settings() == InversionSettings()


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
