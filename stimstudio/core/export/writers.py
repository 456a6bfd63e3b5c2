"""Image and file writers: PNG/TIFF/DICOM bytes labelled synthetic, previews, the contact
sheet, hashes, and atomic writes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

from ... import __version__
from ..errors import ExportError, OptionError
from ..model import atomic_write_bytes, sha256_file
from .settings import RESIZE_FILTERS, SYNTHETIC_LABEL

# ------------------------------------------------------------------------------ image files


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _png_with_text(png: bytes, items: dict[str, str]) -> bytes:
    """Insert tEXt chunks right after IHDR (always the first chunk, 25 bytes)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ExportError("the PNG encoder produced an unexpected stream")
    chunks = b"".join(
        _png_chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1"))
        for k, v in items.items()
    )
    return png[:33] + chunks + png[33:]


def quantize(img01: np.ndarray, bits: int) -> np.ndarray:
    a = np.clip(np.asarray(img01, np.float64), 0, 1)
    if bits == 8:
        return np.round(a * 255).astype(np.uint8)
    return np.round(a * 65535).astype(np.uint16)


def png_bytes(img01: np.ndarray, bits: int = 8, label: str = SYNTHETIC_LABEL) -> bytes:
    ok, buf = cv2.imencode(".png", quantize(img01, bits))
    if not ok:
        raise ExportError(f"could not encode a {bits}-bit PNG")
    return _png_with_text(buf.tobytes(), {"Description": label, "Software": _software()})


def tiff_bytes(img01: np.ndarray, label: str = SYNTHETIC_LABEL) -> bytes:
    """16-bit grayscale TIFF with the synthetic label in ImageDescription."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(quantize(img01, 16)).save(
        buf, format="TIFF", tiffinfo={270: label, 305: _software()}
    )
    return buf.getvalue()


def dicom_bytes(
    img01: np.ndarray,
    *,
    pixel_spacing_mm: float | None,
    study_uid: str,
    series_uid: str,
    instance_number: int,
    series_description: str = "SYNTHETIC stimulus",
    comments: str = "",
    sop_uid: str | None = None,
) -> bytes:
    """A DICOM Secondary Capture image (16-bit MONOCHROME2), labelled synthetic.

    Nothing here comes from any source image: patient fields hold SYNTHETIC or are empty
    (type 2), and there are no dates. The SOP instance UID is derived from the series UID and
    the instance number unless given, so the same request gives the same bytes (regenerate).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    arr = quantize(img01, 16)
    if sop_uid is None:
        sop_uid = derived_uid(series_uid, "instance", str(int(instance_number)))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "OT"
    ds.ConversionType = "SYN"  # Synthetic Image (Secondary Capture Equipment module)
    ds.Manufacturer = "StimStudio"
    ds.SoftwareVersions = __version__
    ds.PatientName = "SYNTHETIC^STIMULUS"
    ds.PatientID = "SYNTHETIC"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic image: no patient data and no source identifiers"
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.StudyDescription = "SYNTHETIC STIMULI (StimStudio)"
    ds.SeriesDescription = series_description[:64]
    ds.SeriesNumber = 1
    # General Series, Type 2C: required for a paired body part. A synthetic patch has no
    # side; "empty when actually unknown" is the standard's value for that (dciodvfy: valid).
    ds.Laterality = ""
    ds.InstanceNumber = int(instance_number)
    ds.DerivationDescription = SYNTHETIC_LABEL
    ds.ImageComments = (SYNTHETIC_LABEL + (". " + comments if comments else ""))[:10240]
    ds.BurnedInAnnotation = "NO"
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.WindowCenter = "32768"
    ds.WindowWidth = "65536"
    if pixel_spacing_mm is not None:
        sp = f"{pixel_spacing_mm:.6g}"
        ds.PixelSpacing = [sp, sp]
        ds.NominalScannedPixelSpacing = [sp, sp]
    ds.PixelData = arr.astype("<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def derived_uid(*parts: str) -> str:
    """A DICOM UID that depends only on `parts` (pydicom's root + a hash of them).

    Export UIDs are derived from the request's sha256, so exporting or regenerating the same
    request gives byte-identical DICOM files; a different request gives different UIDs.
    """
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["stimstudio-export", *map(str, parts)])


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """An exported frame (PNG/TIFF/DICOM) back as float [0, 1] (tests, previews, sheets)."""
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        import pydicom

        arr = pydicom.dcmread(str(path)).pixel_array
    else:
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ExportError(f"cannot read the exported frame {path}")
    if arr.ndim == 3:
        arr = arr[..., 0]
    return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)


def resize(img: np.ndarray, size: int | None, interpolation: str = "area") -> np.ndarray:
    """A square image to `size` px (None: unchanged) with the chosen interpolation."""
    if size is None or size == img.shape[0]:
        return np.asarray(img, np.float32)
    if interpolation not in RESIZE_FILTERS:
        raise OptionError(f"unknown interpolation {interpolation!r}")
    return cv2.resize(
        np.asarray(img, np.float32), (size, size), interpolation=RESIZE_FILTERS[interpolation]
    )


def _to01(img_model_range: np.ndarray) -> np.ndarray:
    return np.clip((np.asarray(img_model_range, np.float32) + 1.0) / 2.0, 0.0, 1.0)


def _software() -> str:
    return f"StimStudio {__version__}"


def gif_bytes(frames8: list[np.ndarray], fps: float, label: str = SYNTHETIC_LABEL) -> bytes:
    from PIL import Image

    ims = [Image.fromarray(f) for f in frames8]
    buf = io.BytesIO()
    ims[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=ims[1:],
        duration=max(int(round(1000 / fps)), 20),
        loop=0,
        comment=label.encode("latin-1"),
    )
    return buf.getvalue()


def write_mp4(path: Path, frames8: list[np.ndarray], fps: float) -> None:
    """MP4 (mp4v) via OpenCV, written to a temporary name and renamed."""
    h, w = frames8[0].shape
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        vw = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h), False)
        if not vw.isOpened():
            raise ExportError("OpenCV cannot write MP4 here; choose the GIF preview")
        for f in frames8:
            vw.write(f)
        vw.release()
        if os.path.getsize(tmp) == 0:
            raise ExportError("OpenCV wrote an empty MP4; choose the GIF preview")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def contact_sheet(
    frames01: list[np.ndarray], labels: list[str], columns: int | None = None, thumb: int = 128
) -> np.ndarray:
    """Frames on a grid, each labelled beneath; float [0, 1] on a mid-grey background."""
    n = len(frames01)
    cols = columns or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / cols))
    side = min(thumb, frames01[0].shape[0])
    gap, strip = 4, max(10, side // 8)
    cell_h = side + strip
    sheet = np.full((gap + rows * (cell_h + gap), gap + cols * (side + gap)), 128, np.uint8)
    scale = max(strip / 28.0, 0.25)
    for i, (f, lab) in enumerate(zip(frames01, labels)):
        r, c = divmod(i, cols)
        y, x = gap + r * (cell_h + gap), gap + c * (side + gap)
        t = f if f.shape[0] == side else cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA)
        sheet[y : y + side, x : x + side] = quantize(t, 8)
        cv2.putText(
            sheet, lab, (x + 1, y + side + strip - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1
        )
    return sheet.astype(np.float32) / 255.0


# ------------------------------------------------------------------------------ helpers


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_sha256(img: np.ndarray) -> str:
    """The fingerprint of a raw generator output (float32, C order): what regeneration checks."""
    return _sha256(np.ascontiguousarray(img, dtype=np.float32).tobytes())


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _write(path: Path, data: bytes) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return _sha256(data)


def _write_if_changed(path: Path, data: bytes) -> str:
    """Write unless the file already holds exactly these bytes (a frame written just before an
    interruption, not yet in the journal, stays untouched)."""
    digest = _sha256(data)
    if path.is_file() and path.stat().st_size == len(data) and sha256_file(path) == digest:
        return digest
    return _write(path, data)


def _ensure_dir(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    return p
