"""Readers: one module per format, all returning a `Mammogram`; dispatch by content and name."""

from __future__ import annotations

from pathlib import Path

from ..errors import ReaderError
from ..mammogram import Lesion, Mammogram
from .minimias import is_minimias, read_minimias
from .plain import read_plain

__all__ = ["Lesion", "Mammogram", "read_mammogram", "list_mammograms"]

IMAGE_SUFFIXES = {".pgm", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dcm", ".dicom"}


def read_mammogram(path: str | Path) -> Mammogram:
    """Open any supported file; the format is decided from its content and name."""
    path = Path(path)
    if not path.exists():
        raise ReaderError(f"file not found: {path}")
    if path.is_dir():
        raise ReaderError(f"{path} is a folder, not an image file")
    with open(path, "rb") as f:
        head = f.read(132)
    if len(head) == 0:
        raise ReaderError(f"{path.name} is empty (0 bytes)")
    if head[128:132] == b"DICM" or path.suffix.lower() in {".dcm", ".dicom"}:
        try:
            from .dicom import read_dicom
        except ImportError as exc:  # pragma: no cover - dicom reader ships with the package
            raise ReaderError(f"{path.name}: DICOM support is not installed ({exc})") from exc
        return read_dicom(path)
    if is_minimias(path):
        return read_minimias(path)
    return read_plain(path)


def list_mammograms(folder: str | Path) -> list[Path]:
    """Image files under a folder, sorted, so data sets are built in a stable order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReaderError(f"not a folder: {folder}")
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
