"""Synthetic mammogram fixtures for the reader tests (DICOM written with pydicom)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MG_SOP = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image - For Presentation
MG_SOP_PROC = "1.2.840.10008.5.1.4.1.1.1.2.1"
LESION = (120, 90, 14)  # x, y, radius of the dense blob in `phantom`


def phantom(rows: int = 200, cols: int = 160, bits: int = 12, seed: int = 0) -> np.ndarray:
    """A breast-like image (MONOCHROME2 sense): dark background at the right, tissue on the
    left as a half ellipse, textured, with a bright dense blob at LESION. uint16."""
    rng = np.random.default_rng(seed)
    top = 2**bits - 1
    yy, xx = np.mgrid[0:rows, 0:cols]
    breast = ((xx / (0.85 * cols)) ** 2 + ((yy - rows / 2) / (0.48 * rows)) ** 2) <= 1
    img = np.full((rows, cols), 0.03 * top)
    tissue = 0.35 * top + 0.08 * top * rng.standard_normal((rows, cols))
    img[breast] = tissue[breast]
    lx, ly, lr = LESION
    blob = (xx - lx) ** 2 + (yy - ly) ** 2 <= lr**2
    img[blob & breast] = 0.75 * top
    return np.clip(np.round(img), 0, top).astype(np.uint16)


def write_dicom(
    path: Path,
    arr: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    bits_allocated: int | None = None,
    signed: bool = False,
    transfer_syntax=ExplicitVRLittleEndian,
    compress=None,
    sop_class: str = MG_SOP,
    **tags,
) -> Path:
    """Write `arr` ([rows, cols] or [frames, rows, cols]) as an MG DICOM file.

    compress: a transfer-syntax UID to encode with pydicom (RLE Lossless, JPEG 2000 ...).
    tags: extra data elements by keyword (None deletes a default one).
    """
    arr = np.asarray(arr)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientID = "SYNTH-1"
    ds.ImageLaterality = "L"
    ds.ViewPosition = "MLO"
    ds.PixelSpacing = [0.1, 0.1]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = arr.shape[-2:]
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.BitsAllocated = bits_allocated or (8 if arr.dtype.itemsize == 1 else 16)
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    for k, v in tags.items():
        if v is None:
            if k in ds:
                delattr(ds, k)
        else:
            setattr(ds, k, v)
    ds.PixelData = arr.tobytes()
    if compress is not None:
        ds.compress(compress, arr)
    path = Path(path)
    ds.save_as(path, enforce_file_format=True)
    return path
