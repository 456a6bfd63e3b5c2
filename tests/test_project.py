"""core.project: the `.stimproj` file without Qt — files the app wrote before it still open,
save/load round trips, and every damaged or foreign file is one ProjectFileError."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stimstudio.core.compose import Mask, Placement
from stimstudio.core.errors import ProjectFileError
from stimstudio.core.interpolate import Anchor, Continuum
from stimstudio.core.latent import Latent
from stimstudio.core.project import (
    FORMAT,
    Project,
    load_project,
    save_project,
    state_bytes,
)
from stimstudio.core.project_file import _decode

V1 = Path(__file__).parent / "data" / "project_v1.stimproj"  # see tests/data/make_project_v1.py


def _stored_state(path: Path) -> dict:
    """The state exactly as the file holds it (JSON + arrays), read without core.project's
    conversion, to compare what load_project gives back."""
    with zipfile.ZipFile(path) as z:
        doc = json.loads(z.read("project.json"))
        with np.load(io.BytesIO(z.read("arrays.npz"))) as npz:
            arrays = {k: npz[k] for k in npz.files}
    return _decode(doc["state"], arrays)


def assert_same(a, b, where="state"):
    """Equal values, arrays equal in dtype, shape and content, numbers equal in type."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert type(a) is type(b) and a == b, (where, a, b)


def test_a_file_the_app_wrote_before_core_project_opens_as_records():
    p = load_project(V1)
    assert p.texture.resolution == 32 and p.texture.image.dtype == np.float32
    assert p.texture.source["file"] == "/data/mias/mdb001.pgm"
    assert int(p.texture.lesion_mask.sum()) == 64 and p.template.lesion_mask is None
    assert isinstance(p.mask, Mask) and p.mask.feather == 2.5 and p.mask_source == "polygon"
    assert p.mask.binary.shape == (32, 32) and p.mask.binary[16, 16] and not p.mask.binary[5, 5]
    np.testing.assert_array_equal(p.mask.polygon, [[10, 10], [22, 10], [22, 22], [10, 22]])
    assert p.placement == Placement(2.0, -1.0, 1.1, 15.0)
    assert list(p.anchors) == ["a1", "a2", "a3"]
    assert [a.name for a in p.anchors.values()] == ["Seed 1", "Seed 2", "Seed 3"]
    assert all(isinstance(a.latent, Latent) for a in p.anchors.values())
    assert p.anchors["a2"].latent.source["seed"] == 2
    assert set(p.anchor_images) == {"a1", "a2", "a3"}
    c = p.continuum
    assert isinstance(c, Continuum)
    assert (c.frames, c.loop, c.method, c.spacing) == (7, True, "slerp", "latent")
    assert [a is p.anchors[i] for a, i in zip(c.anchors, ["a1", "a2", "a3"])] == [True] * 3
    assert p.fps == 10 and p.library[1].endswith("mdb002.pgm")
    assert p.generator["seed"] == 3.0 and p.view["mask_opacity"] == 0.3
    # made before seeds had their own noise maps: it keeps the fixed maps, so it looks the same
    assert p.generator["noise_mode"] == "const"
    assert p.result is None and p.current is None
    assert p.continuum_frames["images"].shape == (7, 32, 32)
    assert p.model["name"] == "tiny"
    p.continuum_for_export()  # valid as it stands


def test_the_old_file_comes_back_unchanged_through_the_records(tmp_path):
    stored = _stored_state(V1)
    assert "mode" not in stored["placement"]  # saved before placement modes (issue 39)
    # ... comes back with the new settings at their defaults: pasted, as it was made
    stored["placement"].update(mode="paste", contrast=1.0)
    stored["generator"].update(orientation="as-generated")  # and seeds shown as generated
    stored["continuum_frames"] = stored.pop("path_frames")  # the key's new name (issue 40)
    assert_same(stored, load_project(V1).to_state())
    again = save_project(load_project(V1), tmp_path / "again")
    assert again.name == "again.stimproj"
    assert_same(stored, _stored_state(again))


def test_computed_frames_saved_as_path_frames_open_and_save_as_continuum_frames(tmp_path):
    """issue 40: the computed frames' key is `continuum_frames`; a file written before the
    rename (key `path_frames`, the v1 fixture) still opens with them, and a save writes only
    the new key. The format stays v1."""
    old = _stored_state(V1)
    assert "path_frames" in old and "continuum_frames" not in old
    p = load_project(V1)
    np.testing.assert_array_equal(p.continuum_frames["images"], old["path_frames"]["images"])
    assert p.continuum_frames["key"] == old["path_frames"]["key"]
    out = save_project(p, tmp_path / "renamed")
    new = _stored_state(out)
    assert "continuum_frames" in new and "path_frames" not in new
    with zipfile.ZipFile(out) as z:
        assert json.loads(z.read("project.json"))["format"] == FORMAT == "stimstudio-project-v1"
    assert_same(old["path_frames"], new["continuum_frames"])
    assert load_project(out).continuum_frames["key"] == old["path_frames"]["key"]
    # a file holding both names: the new one counts
    both = Project.from_state({"path_frames": {"key": "old"}, "continuum_frames": {"key": "new"}})
    assert both.continuum_frames == {"key": "new"}


def _designed(rng) -> Project:
    """A design made in code: a painted mask, and a continuum with an anchor not yet kept."""
    lat = [
        Latent(rng.normal(size=(6, 8)).astype(np.float32), {"seed": k}, "ab" * 32) for k in "xyz"
    ]
    kept = {"a1": Anchor("one", lat[0]), "a2": Anchor("two", lat[1])}
    painted = np.zeros((16, 16), bool)
    painted[3:9, 4:12] = True
    p = Project(
        mask=Mask(painted, 1.5),
        mask_source="brush",
        placement=Placement(1.0, 2.0, 0.5, -30.0),
        anchors=kept,
        continuum=Continuum(
            [kept["a2"], Anchor("new", lat[2]), kept["a1"]], 9, False, "lerp", "latent"
        ),
        model={"name": "m", "sha256": "ab" * 32},
        result={
            "images": {"stitch": rng.normal(size=(16, 16))},
            "metrics": {"stitch": {"psnr": 20.5}},
        },
    )
    return p


def test_save_load_round_trip(tmp_path):
    p = _designed(np.random.default_rng(0))
    out = save_project(p, tmp_path / "design.stimproj")
    assert [f.name for f in tmp_path.iterdir()] == ["design.stimproj"]  # no temporary left
    q = load_project(out)
    assert list(q.anchors) == ["a1", "a2", "a3"]  # the unkept continuum anchor got an id
    assert [a.name for a in q.continuum.anchors] == ["two", "new", "one"]
    for a, b in zip(p.continuum.anchors, q.continuum.anchors):
        np.testing.assert_array_equal(a.latent.wplus, b.latent.wplus)
        assert (a.latent.source, a.latent.model_sha256) == (b.latent.source, b.latent.model_sha256)
    assert (q.continuum.frames, q.continuum.spacing) == (9, "latent")
    np.testing.assert_array_equal(q.mask.binary, p.mask.binary)
    assert q.mask.polygon is None and q.mask.feather == 1.5 and q.mask_source == "brush"
    assert q.placement == p.placement and q.model == p.model and q.texture is None
    assert q.result["metrics"]["stitch"]["psnr"] == 20.5
    assert_same(p.to_state(), q.to_state())


def test_a_lasso_that_no_longer_fits_its_texture_still_opens(tmp_path):
    state = _stored_state(V1)
    state["mask"]["polygon"] = np.array([[100.0, 100], [120, 100], [120, 120]])  # off the patch
    path = tmp_path / "moved.stimproj"
    path.write_bytes(state_bytes(state))
    p = load_project(path)
    assert not p.mask.binary.any() and p.mask.binary.shape == (32, 32)
    np.testing.assert_array_equal(p.to_state()["mask"]["polygon"], state["mask"]["polygon"])


def test_panels_get_core_records_one_at_a_time():
    """The conversions the app's pages use: a new lasso off the patch is refused (strict), a
    path keeps only the ids still kept, the placement fills missing keys."""
    from stimstudio.core.errors import MaskError
    from stimstudio.core.project import (
        anchor_from_record,
        continuum_from_record,
        mask_from_record,
        placement_from_record,
    )

    state = _stored_state(V1)
    off = {"polygon": [[100, 100], [120, 100], [120, 120]], "feather": 1.0}
    with pytest.raises(MaskError):
        mask_from_record(off, (32, 32), strict=True)
    assert mask_from_record(state["mask"], (32, 32), strict=True).binary.sum() == 169
    kept = {a["id"]: anchor_from_record(a) for a in state["anchors"][:2]}
    c = continuum_from_record(state["path"], kept)
    assert [a.name for a in c.anchors] == ["Seed 1", "Seed 2"] and c.frames == 7
    assert placement_from_record({"dx": 3}) == Placement(3.0, 0.0, 1.0, 0.0)
    with pytest.raises(ProjectFileError, match="the continuum has no 'frames' setting"):
        continuum_from_record({"anchors": []}, kept)


def _zip(path: Path, parts: dict) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _doc(state, fmt=FORMAT) -> str:
    return json.dumps({"format": fmt, "state": state})


def _damaged(tmp_path):
    nan_anchor = {"id": "a1", "name": "Seed 1", "wplus": {"__array__": "w"}}
    return {
        "not a zip": (tmp_path / "a.stimproj", b"PK\x03\x04 not really a zip", "not a readable"),
        "no json": (
            _zip(tmp_path / "b.stimproj", {"arrays.npz": _npz()}),
            None,
            "holds no project.json",
        ),
        "foreign format": (
            _zip(
                tmp_path / "c.stimproj",
                {"project.json": _doc({}, "other-v9"), "arrays.npz": _npz()},
            ),
            None,
            "unknown project format 'other-v9'",
        ),
        "missing array": (
            _zip(
                tmp_path / "d.stimproj",
                {
                    "project.json": _doc({"texture": {"image": {"__array__": "x"}}}),
                    "arrays.npz": _npz(),
                },
            ),
            None,
            "missing array 'x'",
        ),
        "nan latent": (
            _zip(
                tmp_path / "e.stimproj",
                {
                    "project.json": _doc({"anchors": [nan_anchor]}),
                    "arrays.npz": _npz(w=np.full((4, 8), np.nan, np.float32)),
                },
            ),
            None,
            "anchor 'Seed 1': the latent holds NaN",
        ),
        "anchor without latent": (
            _zip(
                tmp_path / "f.stimproj",
                {
                    "project.json": _doc({"anchors": [{"id": "a1", "name": "x"}]}),
                    "arrays.npz": _npz(),
                },
            ),
            None,
            "anchor 'x' has no latent",
        ),
        "path not a record": (
            _zip(
                tmp_path / "g.stimproj",
                {"project.json": _doc({"path": [1, 2]}), "arrays.npz": _npz()},
            ),
            None,
            "the path is not a record",
        ),
        "bad json": (
            _zip(tmp_path / "h.stimproj", {"project.json": "{", "arrays.npz": _npz()}),
            None,
            "not a readable",
        ),
        "missing": (tmp_path / "nowhere.stimproj", None, "project file not found"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not a zip",
        "no json",
        "foreign format",
        "missing array",
        "nan latent",
        "anchor without latent",
        "path not a record",
        "bad json",
        "missing",
    ],
)
def test_a_damaged_or_foreign_file_is_one_clear_error(tmp_path, case):
    path, raw, words = _damaged(tmp_path)[case]
    if raw is not None:
        path.write_bytes(raw)
    with pytest.raises(ProjectFileError) as info:
        load_project(path)
    msg = str(info.value)
    assert words in msg and path.name in msg and "\n" not in msg, msg


def test_a_failed_save_leaves_the_old_file_as_it_was(tmp_path):
    out = save_project(_designed(np.random.default_rng(1)), tmp_path / "keep.stimproj")
    before = out.read_bytes()
    bad = _designed(np.random.default_rng(2))
    bad.generator["oops"] = object()  # nothing a project can store
    with pytest.raises(TypeError):
        save_project(bad, out)
    assert out.read_bytes() == before and [f.name for f in tmp_path.iterdir()] == [out.name]
    with pytest.raises(ProjectFileError, match="folder does not exist"):
        save_project(bad, tmp_path / "no" / "such.stimproj")


def test_core_project_imports_without_qt_or_torch():
    """The app's window starts before torch loads; it imports core.project at start."""
    code = (
        "import sys, stimstudio.core.project as p\n"
        "print([m for m in ('torch', 'cv2', 'PySide6') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
