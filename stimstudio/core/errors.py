"""The only errors a user ever sees.

Every problem caused by input (a file, an option, a checkpoint) is a `StimStudioError` with one
sentence that names the problem. The CLI prints it as one line and exits 2; the app shows it
in a dialog. Anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations


class StimStudioError(Exception):
    """Base class: a problem with what the user gave us, explained in one sentence."""


class ReaderError(StimStudioError):
    """An image file that cannot be read, or that is not what it claims to be."""


class CheckpointError(StimStudioError):
    """A weights file that is missing, truncated, or made for another architecture."""


class MaskError(StimStudioError):
    """A texture mask that is empty, out of bounds, or the wrong shape."""


class LatentError(StimStudioError):
    """A latent (w+) that has the wrong shape, belongs to another model, or holds NaN."""


class OptionError(StimStudioError):
    """An option value that is out of range or of the wrong kind."""


class DatasetError(StimStudioError):
    """A data set that is empty, too small, or has no readable images."""


class ProjectFileError(StimStudioError):
    """A project file (.stimproj) that is missing, damaged, or of an unknown format."""


class ExportError(StimStudioError):
    """An export that would overwrite files or cannot be written."""


class Cancelled(StimStudioError):
    """The user stopped a long computation; nothing partial was kept."""
