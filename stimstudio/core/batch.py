"""Many continua headless from one spec file (TOML or JSON): `stimstudio batch SPEC`.

    out = "stimuli"                  # relative to the spec file
    weights = "weights/m.safetensors"   # optional (else the CLI's --weights / the default)
    device = "auto"
    precision = "fp32"
    data_root = "data"               # optional: sources are recorded relative to it

    [defaults]                       # path options for every continuum (else core.defaults)
    frames = 147
    loop = true
    frame_spacing = "latent"         # the paper's plain lerp (default: "perceptual", even steps);
                                     # "spacing" is its older name
    noise = "seed"                   # seed:N anchors' noise maps: each seed its own (default);
                                     # "const": the model's fixed maps, shared by every seed
    orientation = "random"           # seed:N anchors: one of the 8 drawn from each seed (default),
                                     # "as-generated", or one such as "mirror-turn-90"

    [output]                         # ExportSettings for every continuum
    formats = ["png", "dicom"]
    size = 256
    resize_filter = "lanczos"        # older name "interpolation"; pixel_size_mm: "pixel_spacing_mm"

    [[continuum]]
    id = "loop01"
    anchors = ["seed:1", "seed:2", "seed:3", "a.latent.npz"]

    [[continuum]]                    # the continuum a user designed in the app
    project = "lesion-morph.stimproj"   # id: the file's name unless given
    frames = 60                      # path keys here replace the project's ([defaults] do not)

    [[series]]                       # count continua from consecutive seeds
    id_prefix = "loop"
    count = 20
    anchors = 3
    first_seed = 100

Each continuum is an export folder `out/<id>/`. A run can be interrupted at any point and run
again: finished continua are skipped, a half-finished one keeps its finished frames and
renders the rest (see export/run.py). Under torchrun each rank takes whole continua (index
modulo world size); whichever rank finds every continuum complete writes the combined
`out/conditions.csv` and `out/batch.json`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .defaults import CONTINUUM, SEED
from .device import Compute
from .errors import OptionError, StimStudioError
from .export import (
    MANIFEST_NAME,
    ExportProgress,
    ExportSettings,
    _file_name_ok,
    _write,
    conditions_text,
    export_sequence,
    export_status,
    load_manifest,
)
from .interpolate import FRAME_SPACINGS, INTERPOLATION_METHODS, Anchor, Continuum
from .jsonable import dumps_strict
from .latent import Latent, load_latent
from .model import Model
from .noise_modes import NOISE_MODES
from .orientation import ORIENTATION_MODES

TOP_KEYS = {"out", "weights", "device", "precision", "data_root", "defaults", "output"}
TOP_KEYS |= {"continuum", "series"}
PATH_KEYS = {"frames", "loop", "method", "spacing", "truncation", "cutoff", "noise", "orientation"}
CONTINUUM_KEYS = PATH_KEYS | {"id", "anchors", "project"}
SERIES_KEYS = PATH_KEYS | {"id_prefix", "count", "anchors", "first_seed"}
OUTPUT_KEYS = {
    "formats",
    "bits",
    "size",
    "interpolation",
    "preview",
    "fps",
    "contact_sheet",
    "conditions",
    "latents",
    "metric",
    "pixel_spacing_mm",
}


@dataclass
class ContinuumSpec:
    id: str
    anchors: list[str]  # "seed:N" or a latent file (absolute after loading); [] for a project
    frames: int = CONTINUUM.frames
    loop: bool = CONTINUUM.loop
    method: str = CONTINUUM.method
    spacing: str = CONTINUUM.spacing
    truncation: float = SEED.truncation
    cutoff: int | None = SEED.cutoff
    noise: str = SEED.noise  # noise maps of seed:N anchors (core.noise_modes.NOISE_MODES)
    orientation: str = SEED.orientation  # of seed:N anchors (core.orientation); the
    # continuum's frames are shown in its first anchor's
    project: str | None = None  # a .stimproj whose continuum this is (absolute)


@dataclass
class BatchSpec:
    path: Path | None
    out: Path
    continua: list[ContinuumSpec]
    output: ExportSettings = field(default_factory=ExportSettings)
    weights: str | None = None
    device: str = "auto"
    precision: str = "auto"

    def for_rank(self, rank: int, world_size: int) -> list[ContinuumSpec]:
        return [c for k, c in enumerate(self.continua) if k % world_size == rank]


@dataclass
class BatchProgress:
    continuum: str
    index: int  # of this rank's continua
    count: int
    export: ExportProgress


@dataclass
class BatchResult:
    out: Path
    exported: list[str]  # rendered (fully or partly) in this run
    skipped: list[str]  # already complete
    complete: bool  # every continuum of the spec (all ranks) is done
    conditions: Path | None
    frames_written: int
    frames_kept: int


def _fail(where: str, msg: str):
    raise OptionError(f"{where}: {msg}")


# One word per thing (issue 40): the names a spec may use for keys whose file-format name is an
# older word ("spacing" is the frame spacing, "interpolation" the resize filter, mm per pixel
# the pixel size). Either name reads; both at once is an error.
KEY_WORDS = {
    "frame_spacing": "spacing",
    "resize_filter": "interpolation",
    "pixel_size_mm": "pixel_spacing_mm",
}


def _words(d, where):
    """`d` with the newer key names as the file format's ones (KEY_WORDS)."""
    if not isinstance(d, dict):
        _fail(where, "must be a table")
    out = dict(d)
    for new, old in KEY_WORDS.items():
        if new in out:
            if old in out:
                _fail(where, f"give {new!r} or its older name {old!r}, not both")
            out[old] = out.pop(new)
    return out


def _keys(d, allowed, where):
    if not isinstance(d, dict):
        _fail(where, "must be a table")
    names = {old: new for new, old in KEY_WORDS.items() if old in allowed}
    allowed = allowed | set(names.values())
    bad = sorted(set(d) - allowed)
    if bad:
        _fail(where, f"unknown key {bad[0]!r} (allowed: {', '.join(sorted(allowed))})")


_KIND_WORDS = {"int": "a whole number", "bool": "true or false", "str": "text", "num": "a number"}


def _typed(v, kind, where, key):
    ok = {
        "int": isinstance(v, int) and not isinstance(v, bool),
        "bool": isinstance(v, bool),
        "str": isinstance(v, str),
        "num": isinstance(v, (int, float)) and not isinstance(v, bool),
    }[kind]
    if not ok:
        _fail(where, f"{key} must be {_KIND_WORDS[kind]}, got {v!r}")
    return v


def _path_opts(d: dict, base: dict, where: str) -> dict:
    o = dict(base)
    for k in PATH_KEYS & set(d):
        v = d[k]
        if k == "frames":
            o[k] = _typed(v, "int", where, k)
            if v < 2:
                _fail(where, f"frames must be at least 2, got {v}")
        elif k == "loop":
            o[k] = _typed(v, "bool", where, k)
        elif k == "method":
            if v not in INTERPOLATION_METHODS:
                choices = ", ".join(INTERPOLATION_METHODS)
                _fail(where, f"method must be one of {choices}, got {v!r}")
            o[k] = v
        elif k == "spacing":
            if v not in FRAME_SPACINGS:
                _fail(where, f"spacing must be one of {', '.join(FRAME_SPACINGS)}, got {v!r}")
            o[k] = v
        elif k == "truncation":
            o[k] = float(_typed(v, "num", where, k))
        elif k == "cutoff":
            o[k] = None if v is None else _typed(v, "int", where, k)
        elif k == "noise":
            if v not in NOISE_MODES:
                _fail(where, f"noise must be one of {', '.join(NOISE_MODES)}, got {v!r}")
            o[k] = v
        elif k == "orientation":
            if v not in ORIENTATION_MODES:
                _fail(
                    where, f"orientation must be one of {', '.join(ORIENTATION_MODES)}, got {v!r}"
                )
            o[k] = v
    return o


def _anchor_ref(a, base: Path, where: str) -> str:
    if isinstance(a, int) and not isinstance(a, bool):
        return f"seed:{a}"
    if not isinstance(a, str) or not a.strip():
        _fail(where, f"an anchor must be 'seed:N' or a latent file, got {a!r}")
    a = a.strip()
    if a.startswith("seed:"):
        try:
            float(a[5:])
        except ValueError:
            _fail(where, f"bad seed anchor {a!r} (use seed:N)")
        return a
    p = Path(a)
    return str(p if p.is_absolute() else base / p)


def parse_batch_spec(doc: dict, base: Path, name: str = "spec") -> BatchSpec:
    """A spec document (from TOML/JSON) -> BatchSpec; every problem is one OptionError."""
    _keys(doc, TOP_KEYS, name)
    if "out" not in doc:
        _fail(name, "needs 'out', the folder for the continua")
    out = Path(_typed(doc["out"], "str", name, "out"))
    out = out if out.is_absolute() else base / out
    defaults = doc.get("defaults", {})
    _keys(defaults, PATH_KEYS, f"{name} [defaults]")
    defaults = _words(defaults, f"{name} [defaults]")
    base_opts = _path_opts(
        defaults,
        {**dataclasses.asdict(CONTINUUM), **dataclasses.asdict(SEED)},
        f"{name} [defaults]",
    )
    output = doc.get("output", {})
    _keys(output, OUTPUT_KEYS, f"{name} [output]")
    output = _words(output, f"{name} [output]")
    data_root = doc.get("data_root")
    if data_root is not None:
        dr = Path(_typed(data_root, "str", name, "data_root"))
        data_root = str(dr if dr.is_absolute() else base / dr)
    try:
        settings = ExportSettings(**output, data_root=data_root)
    except TypeError as exc:
        _fail(f"{name} [output]", str(exc))
    try:
        settings.validate()
    except OptionError as exc:
        _fail(f"{name} [output]", str(exc))
    continua = []
    entries = doc.get("continuum", [])
    if not isinstance(entries, list):
        _fail(name, "'continuum' must be a list of tables ([[continuum]])")
    for k, c in enumerate(entries):
        where = f"{name} continuum #{k + 1}"
        _keys(c, CONTINUUM_KEYS, where)
        c = _words(c, where)
        if "project" in c:
            continua.append(_project_continuum(c, base, where))
            continue
        if "id" not in c:
            _fail(where, "needs an 'id'")
        try:
            cid = _file_name_ok(c["id"], "continuum id")
        except OptionError as exc:
            _fail(where, str(exc))
        anchors = c.get("anchors")
        if not isinstance(anchors, list) or len(anchors) < 2:
            _fail(where, "needs 'anchors': a list of at least 2 (seed:N or latent files)")
        refs = [_anchor_ref(a, base, where) for a in anchors]
        continua.append(ContinuumSpec(cid, refs, **_path_opts(c, base_opts, where)))
    series = doc.get("series", [])
    if not isinstance(series, list):
        _fail(name, "'series' must be a list of tables ([[series]])")
    for k, s in enumerate(series):
        where = f"{name} series #{k + 1}"
        _keys(s, SERIES_KEYS, where)
        s = _words(s, where)
        for req in ("id_prefix", "count"):
            if req not in s:
                _fail(where, f"needs {req!r}")
        count = _typed(s["count"], "int", where, "count")
        per = _typed(s.get("anchors", 3), "int", where, "anchors")
        first = _typed(s.get("first_seed", 0), "int", where, "first_seed")
        if not 1 <= count <= 100000 or per < 2:
            _fail(where, "count must be >= 1 and anchors >= 2")
        opts = _path_opts(s, base_opts, where)
        width = max(2, len(str(count)))
        for j in range(count):
            cid = f"{s['id_prefix']}{j + 1:0{width}d}"
            try:
                _file_name_ok(cid, "continuum id")
            except OptionError as exc:
                _fail(where, str(exc))
            seeds = [f"seed:{first + j * per + a}" for a in range(per)]
            continua.append(ContinuumSpec(cid, seeds, **opts))
    if not continua:
        _fail(name, "lists no continua ([[continuum]] or [[series]])")
    ids = [c.id for c in continua]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        _fail(name, f"continuum id {dup[0]!r} is used twice")
    weights = doc.get("weights")
    if weights is not None:
        w = Path(_typed(weights, "str", name, "weights"))
        weights = str(w if w.is_absolute() else base / w)
    return BatchSpec(
        path=None,
        out=out,
        continua=continua,
        output=settings,
        weights=weights,
        device=_typed(doc.get("device", "auto"), "str", name, "device"),
        precision=_typed(doc.get("precision", "auto"), "str", name, "precision"),
    )


def load_batch_spec(path: str | os.PathLike) -> BatchSpec:
    """Read a .toml or .json spec; paths inside are relative to the spec's folder."""
    from .specfile import read_spec_document

    p = Path(path)
    doc = read_spec_document(p, "batch spec")
    spec = parse_batch_spec(doc, p.resolve().parent, p.name)
    spec.path = p
    return spec


def _project_continuum(c: dict, base: Path, where: str) -> ContinuumSpec:
    """A [[continuum]] made in the app: its anchors and path settings come from the project;
    path keys in the table replace the project's (the spec's [defaults] do not apply)."""
    from .project import load_project

    for bad in ("anchors", "truncation", "cutoff", "noise", "orientation"):
        if bad in c:
            _fail(where, f"a project continuum takes its anchors from the project (no {bad!r})")
    ref = Path(_typed(c["project"], "str", where, "project"))
    ref = ref if ref.is_absolute() else base / ref
    try:
        continuum = load_project(ref).continuum
    except StimStudioError as exc:
        _fail(where, str(exc))
    own = {k: getattr(continuum, k) for k in ("frames", "loop", "method", "spacing")}
    opts = _path_opts(c, own, where)
    try:
        Continuum(continuum.anchors, **opts).validate()
    except OptionError as exc:
        _fail(where, f"{ref.name}: {exc}")
    try:
        cid = _file_name_ok(c.get("id", ref.stem), "continuum id")
    except OptionError as exc:
        _fail(where, f"{exc} (give the continuum an 'id')")
    return ContinuumSpec(cid, [], **opts, project=str(ref))


def _anchors_for(c: ContinuumSpec, model: Model) -> tuple[list[Anchor], list[Path | None]]:
    from .generate import latent_for_seed

    if c.project is not None:
        from .project import load_project

        anchors = load_project(c.project).continuum.anchors
        return anchors, [None] * len(anchors)
    anchors, near = [], []
    for k, ref in enumerate(c.anchors):
        if ref.startswith("seed:"):
            seed = float(ref[5:])
            seed = int(seed) if seed.is_integer() else seed
            lat = latent_for_seed(model, seed, c.truncation, c.cutoff, c.noise, c.orientation)
            anchors.append(Anchor(f"seed{seed}", lat))
            near.append(None)
        else:
            lat: Latent = load_latent(ref)
            anchors.append(Anchor(Path(ref).name.split(".")[0] or f"anchor{k}", lat))
            near.append(Path(ref).parent)
    return anchors, near


def iter_batch(
    spec: BatchSpec,
    model: Model,
    compute: Compute | None = None,
    rank: int = 0,
    world_size: int = 1,
    should_stop: Callable[[], bool] | None = None,
    overwrite: bool = False,
) -> Iterator[BatchProgress | BatchResult]:
    """Export this rank's continua; yields BatchProgress records, then one BatchResult.

    Every continuum is checked (anchors load, fit the model) before anything is written.
    """
    mine = spec.for_rank(rank, world_size)
    prepared = []
    for c in mine:
        anchors, near = _anchors_for(c, model)
        for a in anchors:
            a.latent.check_model(model)
        prepared.append((c, anchors, near))
    spec.out.mkdir(parents=True, exist_ok=True)
    exported, skipped = [], []
    written = kept = 0
    for k, (c, anchors, near) in enumerate(prepared):
        folder = spec.out / c.id
        path = Continuum(anchors, c.frames, c.loop, c.method, c.spacing)
        path.validate()
        settings = dataclasses.replace(spec.output)
        for rec in export_sequence(
            path,
            model,
            folder,
            settings,
            compute,
            should_stop,
            continuum_id=c.id,
            resume=True,
            overwrite=overwrite,
            source_dirs=near,
        ):
            yield BatchProgress(c.id, k, len(prepared), rec)
            if rec.cancelled:
                yield BatchResult(spec.out, exported, skipped, False, None, written, kept)
                return
            if rec.finished and rec.result is not None:
                (skipped if rec.result.already_complete else exported).append(c.id)
                written += rec.result.written_frames
                kept += rec.result.kept_frames
    conditions = write_batch_summary(spec)
    yield BatchResult(
        spec.out, exported, skipped, conditions is not None, conditions, written, kept
    )


def write_batch_summary(spec: BatchSpec) -> Path | None:
    """When every continuum is complete: out/conditions.csv (all rows) and out/batch.json."""
    groups, entries = [], []
    for c in spec.continua:
        folder = spec.out / c.id
        if export_status(folder) != "complete":
            return None
        doc = load_manifest(folder)
        groups.append(("continuum", c.loop, c.id, doc["frames"], f"{c.id}/"))
        entries.append(
            {
                "id": c.id,
                "manifest": f"{c.id}/{MANIFEST_NAME}",
                "frames": len(doc["frames"]),
                "request_sha256": doc["request_sha256"],
            }
        )
    # Each rank that gets here writes identical bytes (atomic rename): harmless.
    text = conditions_text(groups)
    out_csv = spec.out / "conditions.csv"
    _write(out_csv, text.encode("utf-8"))
    summary = {
        "format": "stimstudio-batch",
        "version": 1,
        "continua": entries,
        "conditions": "conditions.csv",
    }
    _write(spec.out / "batch.json", dumps_strict(summary, indent=1).encode())
    return out_csv
