"""Export: stimulus files, PsychoPy conditions, a manifest, and bit-identical regeneration.

One export folder holds one continuum (frames along a path through W+) or a set of stills:

    manifest.json            everything needed to make the frames again (see `regenerate`)
    conditions.csv           PsychoPy conditions: identifier headers, `imageFile` relative paths
                             (always an 8-bit image; 16-bit files in png16File/tiffFile/dicomFile)
    png/ tiff/ dicom/        one folder per chosen format: <id>_0000.png, ...
    display/                 8-bit PNG copies, when no chosen format is an 8-bit PNG (PsychoPy
                             converts other images with Pillow to RGBA, which clips 16 bits)
    anchors/                 the anchors' latents, when kept as files rather than inline
    preview.gif | .mp4       animated preview
    contact_sheet.png        every frame on one sheet

Rules kept here:
- Never overwrite silently: a folder holding another export, or any other files, is refused
  unless `overwrite`; an interrupted export is continued only with `resume`.
- Every file is written to a temporary name in its folder and renamed (no half files). Each
  finished frame is recorded in a journal (`.frames.jsonl`) with its files' sha256, so a
  resumed export keeps finished frames untouched and renders only the rest.
- Frames are rendered one at a time (batch 1, constant noise, fp32 unless asked otherwise):
  the same request on the same device type gives the same bits, which `regenerate` checks
  against each frame's recorded `image_sha256` (the raw float32 generator output). It also
  checks every file the manifest lists against its sha256, and encodes each frame again and
  compares the bytes: DICOM UIDs are derived from the request's sha256, so the same request
  always gives byte-identical files in every format, and a regenerated manifest equals the
  original except for its times.
- Synthetic images say so: DICOM headers (ConversionType SYN, ImageType DERIVED\\SECONDARY,
  patient name SYNTHETIC, descriptions and comments), PNG tEXt, TIFF ImageDescription, GIF
  comment. Nothing of a source image's header is copied: sources are recorded as a path
  relative to the data-set root plus sha256, and every identifier found in a source DICOM
  (names, IDs, dates, accession number, institution, device serials, UIDs) is checked for in
  every text written, file names included.

The package, by job:
    settings     ExportSettings, ExportResult, ExportProgress, the folder's fixed names
    privacy      LeakGuard and sanitize_source (no identifier of a source leaves StimStudio)
    writers      PNG/TIFF/DICOM/GIF/MP4 bytes, contact sheet, hashes, atomic writes
    job          what one export renders and how a frame is rendered and encoded
    conditions   PsychoPy conditions files
    manifest     manifest.json, the frame journal, resume and removal
    run          export_sequence / export: the run, step by step
    verify       regenerate / iter_regenerate / verify_files: bit-identical checks
"""

from __future__ import annotations

from .conditions import conditions_csv, conditions_text
from .job import needs_display_copy
from .manifest import export_status, load_manifest, remove_incomplete_export
from .privacy import IDENTIFYING_KEYWORDS, PATH_KEYS, TEXT_KEYS, LeakGuard, sanitize_source
from .run import export, export_sequence
from .settings import (
    CONDITIONS_COLUMNS,
    CONDITIONS_NAME,
    DEFAULT_SPACING_MM,
    DISPLAY,
    EXPORT_FORMAT,
    EXTENSIONS,
    FORMATS,
    JOURNAL_NAME,
    LATENT_STORAGE,
    MANIFEST_NAME,
    METRICS,
    PREVIEW_MAX,
    PREVIEWS,
    RESIZE_FILTERS,
    SHEET_NAME,
    STILLS_COLUMNS,
    SYNTHETIC_LABEL,
    UID_RULE,
    DamagedManifestError,
    ExportProgress,
    ExportResult,
    ExportSettings,
    ModelMismatchError,
    safe_name,
)
from .settings import _file_name_ok as _file_name_ok  # used by core.batch
from .verify import (
    RegenerateResult,
    check_model_for,
    iter_regenerate,
    listed_files,
    manifest_differences,
    manifest_model_path,
    regenerate,
    settings_from_manifest,
    verify_files,
)
from .writers import _write as _write  # used by core.batch
from .writers import (
    contact_sheet,
    derived_uid,
    dicom_bytes,
    gif_bytes,
    image_sha256,
    png_bytes,
    quantize,
    read_frame,
    resize,
    tiff_bytes,
    write_mp4,
)

__all__ = [
    "EXPORT_FORMAT",
    "MANIFEST_NAME",
    "JOURNAL_NAME",
    "CONDITIONS_NAME",
    "SHEET_NAME",
    "FORMATS",
    "DISPLAY",
    "UID_RULE",
    "EXTENSIONS",
    "PREVIEWS",
    "RESIZE_FILTERS",
    "LATENT_STORAGE",
    "METRICS",
    "DEFAULT_SPACING_MM",
    "PREVIEW_MAX",
    "SYNTHETIC_LABEL",
    "CONDITIONS_COLUMNS",
    "STILLS_COLUMNS",
    "ExportSettings",
    "ExportResult",
    "ExportProgress",
    "ModelMismatchError",
    "DamagedManifestError",
    "safe_name",
    "IDENTIFYING_KEYWORDS",
    "LeakGuard",
    "PATH_KEYS",
    "TEXT_KEYS",
    "sanitize_source",
    "quantize",
    "png_bytes",
    "tiff_bytes",
    "dicom_bytes",
    "derived_uid",
    "read_frame",
    "resize",
    "gif_bytes",
    "write_mp4",
    "contact_sheet",
    "image_sha256",
    "needs_display_copy",
    "conditions_csv",
    "conditions_text",
    "load_manifest",
    "remove_incomplete_export",
    "export_status",
    "export_sequence",
    "export",
    "RegenerateResult",
    "listed_files",
    "verify_files",
    "manifest_differences",
    "settings_from_manifest",
    "manifest_model_path",
    "check_model_for",
    "iter_regenerate",
    "regenerate",
]
