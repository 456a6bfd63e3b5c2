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


def encode_lossless_jpeg(
    img: np.ndarray, precision: int = 12, row_ends: list[int] | None = None
) -> bytes:
    """A baseline lossless JPEG (SOF3, predictor 1, one Huffman table) of a 2-D uint16 image,
    the way DDSM's LJPEG files are built; enough for tests of the decoder path.

    row_ends: if given, receives for each row the offset in the file just past its last bit's
    byte (how many bytes a reader needs to have that row whole)."""
    rows, cols = img.shape
    x = img.astype(np.int64)
    pred = np.empty_like(x)
    pred[0, 0] = 1 << (precision - 1)
    pred[0, 1:] = x[0, :-1]
    pred[1:, 0] = x[:-1, 0]
    pred[1:, 1:] = x[1:, :-1]
    diff = (x - pred).ravel()
    # 17 categories, all with 5-bit codes 0..16
    bits, nbits, out = 0, 0, bytearray()

    def put(value: int, n: int) -> None:
        nonlocal bits, nbits
        bits = (bits << n) | (value & ((1 << n) - 1))
        nbits += n
        while nbits >= 8:
            nbits -= 8
            byte = (bits >> nbits) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0)

    ends = []
    for i, d in enumerate(diff.tolist()):
        if i and i % cols == 0:
            ends.append(len(out) + (1 if nbits else 0))
        d = int(d)
        if d > 32768:
            d -= 65536
        elif d < -32767:
            d += 65536
        s = 0 if d == 0 else int(abs(d)).bit_length()
        put(s, 5)
        if 0 < s < 16:
            put(d if d > 0 else d - 1, s)
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)
    ends.append(len(out))
    counts = [0] * 16
    counts[4] = 17
    dht = bytes([0x00]) + bytes(counts) + bytes(range(17))
    sof = (
        bytes([precision]) + rows.to_bytes(2, "big") + cols.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    )
    sos = b"\x01\x01\x00\x01\x00\x00"

    def seg(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload

    head = b"\xff\xd8" + seg(0xC4, dht) + seg(0xC3, sof) + seg(0xDA, sos)
    if row_ends is not None:
        row_ends[:] = [len(head) + e for e in ends]
    return head + bytes(out) + b"\xff\xd9"
