"""Privacy: nothing of a source image's header leaves StimStudio.

A `LeakGuard` collects every identifier found in the source DICOMs and checks every text
an export writes; sources are recorded as paths relative to the data-set root plus sha256.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ..errors import ExportError
from ..model import sha256_file

# ------------------------------------------------------------------------------ leak guard

# Header fields whose values identify a patient, a study or an institution. Any value found
# in a source DICOM is banned from every text StimStudio writes.
IDENTIFYING_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "MedicalRecordLocator",
    "IssuerOfPatientID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "AcquisitionDateTime",
    "InstanceCreationDate",
    "AccessionNumber",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "OperatorsName",
    "StationName",
    "DeviceSerialNumber",
    "DetectorID",
    "DeviceUID",
    "RequestedProcedureID",
    "PerformedProcedureStepID",
    "ScheduledProcedureStepID",
)
_NOT_IDENTIFYING_UIDS = {"TransferSyntaxUID", "CodingSchemeUID", "ContextUID", "MappingResource"}
_GENERIC_VALUES = {"ANON", "ANONYMOUS", "ANONYMIZED", "UNKNOWN", "NONE", "REMOVED", "NULL", "N/A"}


class LeakGuard:
    """Identifiers of the source images; `find(text)` names the field of any that occurs."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}  # upper-case value -> header keyword

    def add(self, value, keyword: str) -> None:
        text = str(value).strip().strip("\x00").strip()
        if len(text) < 4 or text.upper() in _GENERIC_VALUES:
            return
        self.values.setdefault(text.upper(), keyword)
        if keyword.endswith("Date") and re.fullmatch(r"\d{8}", text):
            self.values.setdefault(f"{text[:4]}-{text[4:6]}-{text[6:]}", keyword)

    def add_dicom(self, path: Path) -> bool:
        """Collect the identifiers of a DICOM file; False when it is not DICOM."""
        try:
            import pydicom
            from pydicom.uid import UID_dictionary
        except ImportError:  # pragma: no cover - pydicom is a dependency
            return False
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - anything unreadable is simply not a DICOM source
            return False
        named = set(IDENTIFYING_KEYWORDS)

        def visit(dataset) -> None:
            for elem in dataset:
                if elem.VR == "SQ":
                    for item in elem.value or []:
                        visit(item)
                    continue
                kw = elem.keyword or str(elem.tag)
                if elem.VR == "UI" and ("Class" in kw or kw in _NOT_IDENTIFYING_UIDS):
                    continue  # a kind of object or encoding, not an instance of anything
                if kw in named or elem.VR in ("PN", "DA", "DT", "UI"):
                    values = elem.value if elem.VM > 1 else [elem.value]
                    for v in values:
                        if v is None or v == "":
                            continue
                        if elem.VR == "UI" and str(v) in UID_dictionary:
                            continue  # a public, well-known UID (SOP class, transfer syntax)
                        self.add(v, kw)
                        if elem.VR == "PN":
                            for part in re.split(r"[\^=]", str(v)):
                                self.add(part, kw)

        visit(ds)
        if getattr(ds, "file_meta", None) is not None:
            visit(ds.file_meta)
        return True

    def find(self, text: str) -> str | None:
        if not self.values:
            return None
        up = str(text).upper()
        for value, kw in self.values.items():
            if value in up:
                return kw
        return None

    def check(self, text: str, what: str) -> None:
        kw = self.find(text)
        if kw is not None:
            raise ExportError(
                f"{what} would contain the source image's {kw}; refusing to write patient "
                "identifiers into a stimulus"
            )


# Keys of a latent's `source` that name files, and keys whose short text values are safe.
PATH_KEYS = {"file", "path", "image", "texture", "template", "mask", "source_file", "source_path"}
_REF_KEYS = {"path", "sha256", "found", "path_withheld"}
TEXT_KEYS = {
    "method",
    "perceptual",
    "noise_mode",
    "orientation_mode",
    "role",
    "spacing",
    "kind",
    "phase",
}


def _find_source_file(value: str, data_root: Path | None, near: Path | None) -> Path | None:
    p = Path(value)
    cands = [p] if p.is_absolute() else [c / p for c in (data_root, near) if c] + [p]
    for c in cands:
        try:
            if c.is_file():
                return c.resolve()
        except OSError:
            continue
    return None


def _source_files(source, data_root, near) -> list[Path]:
    out = []
    if isinstance(source, dict):
        for k, v in source.items():
            if k in PATH_KEYS and isinstance(v, str):
                f = _find_source_file(v, data_root, near)
                if f is not None:
                    out.append(f)
            elif isinstance(v, dict):
                out += _source_files(v, data_root, near)
    return out


def _source_ref(value: str, data_root: Path | None, near: Path | None, guard: LeakGuard) -> dict:
    """A source file as {path relative to the data-set root (or bare name), sha256}."""
    f = _find_source_file(value, data_root, near)
    if f is not None:
        rel = None
        if data_root is not None:
            try:
                rel = f.relative_to(data_root.resolve()).as_posix()
            except ValueError:
                rel = None
        ref = {"path": rel or f.name, "sha256": sha256_file(f), "found": True}
    else:
        p = Path(value)
        name = p.as_posix() if not p.is_absolute() and ".." not in p.parts else p.name
        ref = {"path": name, "sha256": None, "found": False}
    if guard.find(ref["path"]) is not None:
        ref["path"] = None
        ref["path_withheld"] = "the path holds an identifier of the source image"
    return ref


def sanitize_source(
    source: dict, data_root: Path | None, near: Path | None, guard: LeakGuard
) -> dict:
    """A latent's provenance with nothing that could identify a patient.

    File references become {path relative to the data-set root, sha256}; numbers and a few
    known text fields are kept; anything else is dropped and only its key is listed.
    """
    clean: dict = {}
    withheld = []
    for k, v in (source or {}).items():
        k = str(k)
        if k in PATH_KEYS and isinstance(v, str):
            clean[k] = _source_ref(v, data_root, near, guard)
        elif k in PATH_KEYS and isinstance(v, dict) and set(v) <= _REF_KEYS:
            ref = {kk: v[kk] for kk in v if kk != "path"}  # already a reference (a manifest)
            path = v.get("path")
            ref["path"] = path if isinstance(path, str) and guard.find(path) is None else None
            clean[k] = ref
        elif isinstance(v, dict):
            clean[k] = sanitize_source(v, data_root, near, guard)
        elif v is None or isinstance(v, bool):
            clean[k] = v
        elif isinstance(v, (int, float)) and guard.find(str(v)) is None:
            clean[k] = v if math.isfinite(v) else None
        elif (
            isinstance(v, list)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            and guard.find(json.dumps(v)) is None
        ):
            clean[k] = v
        elif k in TEXT_KEYS and isinstance(v, str) and len(v) <= 200 and guard.find(v) is None:
            clean[k] = v
        else:
            withheld.append(k)
    if withheld:
        clean["withheld"] = sorted(withheld)
    return clean
