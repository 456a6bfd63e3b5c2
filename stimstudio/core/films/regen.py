"""`stimstudio regenerate` for a search set: make it again from its manifest, compare bytes.

The set is made again from the spec the manifest holds (its files are found relative to the
spec's folder, recorded relative to the set), into a new folder (`out`, or a temporary one
beside the set that is removed afterwards). Every written file and the manifest itself must be
byte-identical; every file in the set's folder must still match its sha256; every input film
and lesion file must still have the sha256 the manifest records.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExportError
from ..model import sha256_file
from .searchset import MANIFEST, run_searchset
from .spec import parse_spec


@dataclass
class RegenResult:
    files: int
    identical: int
    differing: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    manifest_differs: bool = False
    out: Path | None = None

    @property
    def ok(self) -> bool:
        return not (self.differing or self.missing or self.changed or self.manifest_differs)

    def problems(self) -> list[str]:
        out = [f"made again, {f} differs" for f in self.differing]
        out += [f"{f} is missing from the set" for f in self.missing]
        out += [f"{f} on disk does not match its sha256" for f in self.changed]
        if self.manifest_differs:
            out.append("the manifest made again differs from the set's")
        return out


def read_manifest(path) -> tuple[Path, dict]:
    p = Path(path)
    p = p / MANIFEST if p.is_dir() else p
    try:
        return p, json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read the search set manifest {p} ({exc})") from None


def regenerate_searchset(path, model_for, out=None, force: bool = False):
    """Generator: the progress of making the set again; returns a `RegenResult`.
    `model_for(weights_path_or_None)` loads the model (the CLI's device choice)."""
    mpath, doc = read_manifest(path)
    folder = mpath.parent
    base = (folder / doc["spec_folder"]).resolve()
    spec = parse_spec(doc["spec"], base, "the manifest's spec")
    model = model_for(spec.weights)
    if model.sha256 != doc["model"]["sha256"]:
        raise ExportError(
            f"the model ({model.name}) is not the one the set was made with "
            f"({doc['model']['name']}, sha256 {doc['model']['sha256'][:12]}...)"
        )
    tmp = None
    if out is None:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.regen-", dir=folder.parent))
        target = tmp / "set"
    else:
        target = Path(out)
        if target.exists() and any(target.iterdir()) and not force:
            raise ExportError(f"{target} exists and is not empty; pass --force")
    try:
        res = yield from run_searchset(
            spec, model, force=True, out=target, spec_folder=doc["spec_folder"]
        )
        want = doc["files"]
        result = RegenResult(len(want), 0, out=None if tmp else target)
        for rel, digest in want.items():
            again = res.out / rel
            if again.is_file() and sha256_file(again) == digest:
                result.identical += 1
            else:
                result.differing.append(rel)
            here = folder / rel
            if not here.is_file():
                result.missing.append(rel)
            elif sha256_file(here) != digest:
                result.changed.append(rel)
        result.manifest_differs = (res.out / MANIFEST).read_bytes() != mpath.read_bytes()
        return result
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
