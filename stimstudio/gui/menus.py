"""The menu bar and the tool bar of the main window, and the small dialogs of the Help menu."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMessageBox, QToolBar

from .pages import PAGE_TITLES, PAGES
from .prefs import sample_files, sample_title
from .widgets import icon


def make_action(parent, text, slot, shortcut=None, tip=None, icon_name=None) -> QAction:
    """A menu/tool-bar action whose tooltip and status tip name its shortcut."""
    act = QAction(text, parent)
    if shortcut:
        act.setShortcut(QKeySequence(shortcut))
    if icon_name:
        act.setIcon(icon(icon_name))
    tip = tip or text.replace("…", "").replace("&", "")
    if shortcut:
        seq = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
        tip = f"{tip} ({seq})"
    act.setToolTip(tip)
    act.setStatusTip(tip)
    act.triggered.connect(slot)
    return act


def build_menus(win) -> None:
    """The menu bar and the tool bar; the actions become attributes of the window (act_save,
    ...), which owns the slots they call."""
    mb = win.menuBar()
    win.act_open = make_action(
        win, "&Open images…", win.open_files_dialog, "Ctrl+O", "Open image files", "open"
    )
    win.act_open_folder = make_action(
        win,
        "Open &folder…",
        win.open_folder_dialog,
        "Ctrl+Shift+O",
        "Open every mammogram in a folder (mini-MIAS, CBIS-DDSM, INbreast, …)",
        "folder",
    )
    win.act_open_project = make_action(
        win, "Open &project…", win.open_project_dialog, "Ctrl+Shift+P", icon_name="project"
    )
    win.act_save = make_action(win, "&Save project", win.save_project, "Ctrl+S", icon_name="save")
    win.act_save_as = make_action(win, "Save project &as…", win.save_project_as, "Ctrl+Shift+S")
    win.act_new = make_action(win, "&New project", win.new_project, "Ctrl+N")
    win.act_quit = make_action(win, "&Quit", win.close, "Ctrl+Q")
    win.recent_menu = None

    file_menu = mb.addMenu("&File")
    file_menu.addAction(win.act_new)
    file_menu.addAction(win.act_open)
    file_menu.addAction(win.act_open_folder)
    win.recent_menu = file_menu.addMenu("Open &recent")
    win.recent_menu.aboutToShow.connect(lambda: fill_recent(win))
    file_menu.addSeparator()
    file_menu.addAction(win.act_open_project)
    file_menu.addAction(win.act_save)
    file_menu.addAction(win.act_save_as)
    file_menu.addSeparator()
    file_menu.addAction(win.act_quit)

    win.act_undo = win.session.undo.createUndoAction(win, "&Undo")
    win.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
    win.act_undo.setIcon(icon("undo"))
    win.act_redo = win.session.undo.createRedoAction(win, "&Redo")
    win.act_redo.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Y")])
    win.act_redo.setIcon(icon("redo"))
    win.act_settings = make_action(
        win, "&Settings…", win.open_settings, "Ctrl+,", icon_name="settings"
    )
    edit = mb.addMenu("&Edit")
    edit.addAction(win.act_undo)
    edit.addAction(win.act_redo)
    edit.addSeparator()
    edit.addAction(win.act_settings)

    win.view_menu = mb.addMenu("&View")
    for i, name in enumerate(PAGES):
        act = make_action(
            win, PAGE_TITLES[name], lambda _=False, n=name: win.show_page(n), f"Ctrl+{i + 1}"
        )
        win.view_menu.addAction(act)
    win.view_menu.addSeparator()
    for dock in win.findChildren(QDockWidget):
        win.view_menu.addAction(dock.toggleViewAction())

    tools = mb.addMenu("&Tools")
    tools.addAction(
        make_action(
            win,
            "&Judgement test…",
            win.open_judgement_test,
            tip="Real/fake judgement test: a participant rates real and generated images "
            "full screen; every answer is saved at once",
        )
    )
    tools.addAction(
        make_action(
            win,
            "A&djustment task…",
            lambda _=False: _open_adjustment_task(win),
            tip="Adjustment task on an exported loop: a target frame, a mask, then the "
            "participant turns the loop to match it; every answer is saved at once",
        )
    )
    tools.addAction(
        make_action(
            win,
            "&Analyze judgements…",
            win.open_judgement_analysis,
            tip="ROC, AUC (bootstrap CI), d', c and test-retest agreement from results CSVs",
        )
    )

    tools.addAction(
        make_action(
            win,
            "Analyze adjust&ment…",
            lambda _=False: _open_adjustment_analysis(win),
            tip="Error distribution, circular SD and serial dependence (derivative-of-Gaussian "
            "fit, bootstrap CI, permutation test) from adjustment results CSVs",
        )
    )

    tools.addSeparator()
    tools.addAction(
        make_action(
            win,
            "&Search set…",
            lambda _=False: _open_searchset(win),
            tip="Films with and without an inserted lesion, with a truth file, a PsychoPy "
            "conditions file and a manifest (docs/FILMS.md)",
        )
    )

    help_menu = mb.addMenu("&Help")
    samples = help_menu.addMenu("&Samples")
    for path in sample_files():
        samples.addAction(
            make_action(win, sample_title(path), lambda _=False, p=path: win.open_paths([p]))
        )
    samples.addSeparator()
    samples.addAction(make_action(win, "Open all samples", lambda: win.open_paths(sample_files())))
    help_menu.addAction(make_action(win, "&Keyboard shortcuts", lambda: show_shortcuts(win), "F1"))
    help_menu.addAction(
        make_action(
            win,
            "About the &model…",
            win.show_model_about,
            tip="What the loaded model was trained on and how it measures against its "
            "quality targets",
        )
    )
    help_menu.addAction(make_action(win, "&About StimStudio", lambda: show_about(win)))

    tb = QToolBar("Main")
    tb.setObjectName("main-toolbar")
    tb.setMovable(False)
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for act in (win.act_open, win.act_open_folder, win.act_save):
        tb.addAction(act)
    tb.addSeparator()
    tb.addAction(win.act_undo)
    tb.addAction(win.act_redo)
    tb.addSeparator()
    tb.addAction(win.act_settings)
    win.addToolBar(tb)


def fill_recent(win) -> None:
    """File ▸ Open recent, filled each time it opens."""
    win.recent_menu.clear()
    for p in win.prefs.recent:
        win.recent_menu.addAction(
            make_action(win, p, lambda _=False, path=p: win.open_paths([path]))
        )
    if not win.prefs.recent:
        act = win.recent_menu.addAction("(none yet)")
        act.setEnabled(False)


def show_shortcuts(parent) -> None:
    rows = [
        ("Ctrl+O / Ctrl+Shift+O", "open images / a folder"),
        ("Ctrl+S", "save the project"),
        ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo"),
        ("Ctrl+1 … Ctrl+6", "go to a page"),
        ("F", "fit the image to the view"),
        ("T / M", "View: cut the ROI as texture / as template"),
        ("L / P", "Mask: freehand lasso / polygon lasso"),
        ("Enter / Esc", "Mask: close / cancel a polygon"),
        ("E / B / X / V", "Mask: edit corners / brush add / brush erase / pan"),
        ("[ / ]", "Mask: smaller / larger brush"),
        ("Arrows, + / −, [ / ]", "Placement: move, scale, rotate (Shift: 5x)"),
        ("Ctrl+Enter / Esc", "Compose: run / cancel"),
        ("Space, ← / →", "Interpolate: play/pause, previous/next frame"),
        ("K", "keep the shown image as an anchor"),
    ]
    html = "<table cellpadding=4>" + "".join(
        f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows
    )
    QMessageBox.information(parent, "Keyboard shortcuts", html + "</table>")


def show_about(parent) -> None:
    from stimstudio import __version__

    QMessageBox.about(
        parent,
        "About StimStudio",
        f"<b>StimStudio {__version__}</b><br>Realistic, controllable mammogram stimuli "
        "for vision science.<br>Method: Ren, Yu &amp; Whitney (2021); in-domain GAN "
        "inversion (Zhu et al. 2020); StyleGAN2 (Karras et al.).<br>Sample images: "
        "mini-MIAS (Suckling et al. 1994), research use only.",
    )


def _open_adjustment_task(win) -> None:
    from .judgement import open_adjustment_task  # Qt widgets of the task: loaded when asked

    open_adjustment_task(win)


def _open_searchset(win) -> None:
    from .searchset_dialog import open_searchset_dialog

    open_searchset_dialog(win)


def _open_adjustment_analysis(win) -> None:
    from .judgement import open_adjustment_analysis

    open_adjustment_analysis(win)
