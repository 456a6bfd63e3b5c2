"""Readers: one module per format, all returning a `Mammogram`; dispatch by content and name.

| format | recognised by | module |
|---|---|---|
| DICOM (MG, DX, CR) | 'DICM' at byte 128, a DICOM group at byte 0, or .dcm | dicom |
| INbreast | DICOM named `<id>_<hash>_MG_L_CC_ANON.dcm` (+ AllXML/<id>.xml) | inbreast |
| CBIS-DDSM | DICOM inside a `Mass-Training_P_00001_LEFT_CC` case folder | cbis_ddsm |
| DDSM | `A_1234_1.LEFT_CC.LJPEG` / `.LJPEG.1` / converted image with its `.ics` | ddsm |
| mini-MIAS | `mdbNNN.pgm` (+ Info.txt) | minimias |
| PNG / TIFF / JPEG / PGM | anything else Pillow opens | plain |
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ReaderError
from ..mammogram import Lesion, Mammogram
from .minimias import is_minimias, read_minimias
from .plain import read_plain

__all__ = ["Lesion", "Mammogram", "read_mammogram", "list_mammograms", "DICOM_OPTIONS"]

IMAGE_SUFFIXES = {".pgm", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".dcm", ".dicom", ".ljpeg"}
DICOM_OPTIONS = ("frame", "voi", "voi_index", "window", "partial")
# PNG, JPEG, TIFF (both byte orders), binary/ASCII PGM: a file with these first bytes is read
# as an image whatever its name says
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"P5", b"P2")
DDSM_OPTIONS = ("calibrate", "institution", "partial")
ANNOTATION_SUFFIXES = {
    ".ics": "a DDSM case description (.ics); open one of the view images beside it",
    ".overlay": "a DDSM overlay; open the view image beside it",
    ".xml": "an annotation file (XML); open the image it belongs to",
    ".csv": "a table (CSV); open an image of the data set",
}


def _looks_like_dicom(head: bytes) -> bool:
    if head[128:132] == b"DICM":
        return True
    # no preamble: the first element is (0002,xxxx) or (0008,xxxx), little endian
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00"


def read_mammogram(path: str | Path, **options) -> Mammogram:
    """Open any supported file; the format is decided from its content and name.

    options: frame, voi, voi_index, window (DICOM); calibrate, institution (DDSM); partial
    (DICOM and DDSM: read a truncated compressed stream's complete rows instead of refusing
    it). Options a format does not have are ignored.
    """
    path = Path(path)
    if not path.exists():
        raise ReaderError(f"file not found: {path}")
    if path.is_dir():
        raise ReaderError(f"{path} is a folder, not an image file")
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError as exc:
        raise ReaderError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    if len(head) == 0:
        raise ReaderError(f"{path.name} is empty (0 bytes)")
    dicom_opts = {k: v for k, v in options.items() if k in DICOM_OPTIONS and v is not None}
    lower = path.name.lower()
    for suffix, what in ANNOTATION_SUFFIXES.items():
        if lower.endswith(suffix) or lower.endswith(suffix + ".gz"):
            raise ReaderError(f"{path.name} is {what}")

    from .ddsm import is_ddsm, read_ddsm

    if not _looks_like_dicom(head) and is_ddsm(path):
        ddsm_opts = {k: v for k, v in options.items() if k in DDSM_OPTIONS and v is not None}
        return read_ddsm(path, **ddsm_opts)
    plain_magic = head.startswith(IMAGE_MAGIC)
    if _looks_like_dicom(head) or (path.suffix.lower() in {".dcm", ".dicom"} and not plain_magic):
        try:
            from .dicom import read_dicom
        except ImportError as exc:  # pragma: no cover - dicom reader ships with the package
            raise ReaderError(f"{path.name}: DICOM support is not installed ({exc})") from exc
        from .cbis_ddsm import is_cbis, read_cbis_file
        from .inbreast import is_inbreast, read_inbreast

        if is_inbreast(path):
            return read_inbreast(path, **dicom_opts)
        if is_cbis(path):
            return read_cbis_file(path, **dicom_opts)
        return read_dicom(path, **dicom_opts)
    if is_minimias(path):
        return read_minimias(path)
    return read_plain(path)


def list_mammograms(folder: str | Path) -> list[Path]:
    """Image files under a folder, sorted, so data sets are built in a stable order.

    CBIS-DDSM cropped images and ROI masks (case folders ending in _1, _2, ...) are left out:
    they are not mammograms.
    """
    from .cbis_ddsm import CASE_RE

    folder = Path(folder)
    if not folder.is_dir():
        raise ReaderError(f"not a folder: {folder}")
    out = []
    for p in folder.rglob("*"):
        if not p.is_file():
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES and not p.name.upper().endswith(".LJPEG.1"):
            continue
        rel = p.relative_to(folder).parts[:-1]
        if any((m := CASE_RE.match(d)) and m.group(6) for d in rel):
            continue
        if p.name.upper().endswith(".LJPEG") and p.with_name(p.name + ".1").is_file():
            continue  # the decoded raw file beside it is the one to read
        out.append(p)
    return sorted(out)
