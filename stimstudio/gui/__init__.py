"""The desktop app (PySide6 + pyqtgraph). No numerics here: every computation is a call into
`stimstudio.core`, run in a worker thread (see `workers.py`)."""
