"""What the window says about the app's state: the status bar (running tasks, the model and its
status, the device, memory) and the notice banner across the top for things to act on."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QStatusBar


def memory_text(compute=None) -> str:
    rss = None
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError, IndexError):
        try:
            import resource

            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except (ImportError, OSError):
            rss = None
    parts = [f"RAM {rss / 2**30:.2f} GB"] if rss else []
    if compute is not None and compute.device.type == "cuda":
        import torch

        parts.append(f"GPU {torch.cuda.memory_allocated(compute.device) / 2**30:.2f} GB")
    return "Memory: " + (" · ".join(parts) if parts else "n/a")


class Notice(QFrame):
    """A banner across the top of the window for something the user should act on."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("notice")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.button = QPushButton()
        self.close_button = QPushButton("✕")
        self.close_button.setObjectName("flat")
        self.close_button.setFixedWidth(28)
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 6, 6)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.button)
        lay.addWidget(self.close_button)
        self._slot = None
        self.hide()

    def show_message(self, text: str, button: str | None = None, slot=None) -> None:
        self.text.setText(text)
        if self._slot is not None:
            self.button.clicked.disconnect(self._slot)
            self._slot = None
        self.button.setVisible(bool(button))
        if button:
            self.button.setText(button)
            self._slot = slot
            self.button.clicked.connect(slot)
        self.show()


class StatusWidgets:
    """The permanent widgets of the status bar: tasks, model, device, memory."""

    def __init__(self, bar: QStatusBar, on_model_clicked):
        self.task_label = QLabel("")
        self.task_label.setMaximumWidth(280)  # a long task name never widens the window
        self.task_bar = QProgressBar()
        self.task_bar.setMaximumWidth(140)
        self.task_bar.setTextVisible(False)
        self.task_bar.setRange(0, 0)
        self.task_bar.hide()
        self.device_label = QLabel("Device: …")
        self.device_label.setToolTip("Where the model computes; change it in Settings (Ctrl+,)")
        self.model_label = QPushButton("Model: loading…")
        self.model_label.setObjectName("statusButton")
        self.model_label.setToolTip("The generator + encoder in use. Click for its status.")
        self.model_label.clicked.connect(on_model_clicked)
        self.memory_label = QLabel(memory_text())
        for w in (self.task_label, self.task_bar, self.model_label, self.device_label):
            bar.addPermanentWidget(w)
        bar.addPermanentWidget(self.memory_label)

    def show_tasks(self, labels: list[str]) -> None:
        self.task_bar.setVisible(bool(labels))
        more = f" (+{len(labels) - 1})" if len(labels) > 1 else ""
        self.task_label.setText(labels[0] + more if labels else "")

    def show_loading(self) -> None:
        self.model_label.setText("Model: loading…")
        self.device_label.setText("Device: …")

    def show_model(self, model, status, compute) -> None:
        self.model_label.setText(f"Model: {model.name} · {status.short}")
        self.model_label.setToolTip(
            f"{status.summary}\n\n{model.resolution} px. Click for the model's "
            "evaluation (Help ▸ About the model)."
        )
        self._warn(not status.ready)
        self.device_label.setText(f"Device: {compute.describe()}")

    def show_no_model(self, device: str) -> None:
        self.model_label.setText("No model — choose one in Settings…")
        self._warn(True)
        self.device_label.setText(f"Device: {device}")

    def show_memory(self, compute) -> None:
        self.memory_label.setText(memory_text(compute))

    def _warn(self, on: bool) -> None:
        self.model_label.setProperty("warning", on)
        self.model_label.style().polish(self.model_label)
