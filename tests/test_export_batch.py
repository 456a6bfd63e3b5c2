"""`batch`: many continua from one spec, resumable after interruption, whole continua per rank."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

import stimstudio.core.export.writers as export_mod  # _write calls atomic_write_bytes here
from stimstudio.core.batch import (
    BatchProgress,
    BatchResult,
    iter_batch,
    load_batch_spec,
    parse_batch_spec,
)
from stimstudio.core.errors import OptionError
from stimstudio.core.export import export_status, load_manifest
from stimstudio.core.generate import latent_for_seed
from stimstudio.core.model import load_model


@pytest.fixture(scope="module")
def model(tiny_weights):
    return load_model(tiny_weights)


def spec_doc(out="out", **output):
    return {
        "out": out,
        "defaults": {"frames": 5, "loop": True},
        "output": {"formats": ["png", "tiff"], "preview": "gif", **output},
        "continuum": [{"id": "pair", "anchors": ["seed:7", "a.latent.npz"], "loop": False}],
        "series": [{"id_prefix": "loop", "count": 2, "anchors": 3, "first_seed": 10}],
    }


def write_spec(tmp_path, model, doc, name="spec.toml"):
    latent_for_seed(model, 99).save(tmp_path / "a.latent.npz")
    p = tmp_path / name
    if name.endswith(".json"):
        p.write_text(json.dumps(doc))
    else:
        p.write_text(_toml(doc))
    return p


def _toml(doc) -> str:
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return str(v)

    lines = [f"{k} = {val(v)}" for k, v in doc.items() if not isinstance(v, (dict, list))]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += [f"[{k}]"] + [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    for k, v in doc.items():
        if isinstance(v, list):
            for item in v:
                lines += [f"[[{k}]]"] + [f"{kk} = {val(vv)}" for kk, vv in item.items()]
    return "\n".join(lines) + "\n"


def run(spec, model, **kw):
    recs = list(iter_batch(spec, model, **kw))
    assert isinstance(recs[-1], BatchResult)
    return recs[-1], recs[:-1]


def frame_files(out):
    return sorted(
        p
        for p in out.rglob("*")
        if p.suffix in (".png", ".tif") and p.parent.name in ("png", "tiff")
    )


def test_spec_toml_and_json_agree(tmp_path, model):
    a = load_batch_spec(write_spec(tmp_path, model, spec_doc()))
    b = load_batch_spec(write_spec(tmp_path, model, spec_doc(), "spec.json"))
    assert [c.id for c in a.continua] == ["pair", "loop01", "loop02"] == [c.id for c in b.continua]
    assert a.continua[1].anchors == ["seed:10", "seed:11", "seed:12"]
    assert a.continua[2].anchors == ["seed:13", "seed:14", "seed:15"]
    assert a.continua[0].loop is False and a.continua[1].loop is True
    assert a.continua[0].anchors[1] == str(tmp_path.resolve() / "a.latent.npz")
    assert a.out == tmp_path.resolve() / "out" and a.output.formats == ("png", "tiff")
    assert [c.id for c in a.for_rank(1, 2)] == ["loop01"]


def test_batch_resumes_without_rewriting_finished_frames(tmp_path, model, monkeypatch):
    spec = load_batch_spec(write_spec(tmp_path, model, spec_doc()))
    out = spec.out
    # 1) a clean stop between frames (the app's cancel, or a scheduler's time limit)
    written = {"n": 0}

    def stop():
        return written["n"] >= 7

    recs = []
    for r in iter_batch(spec, model, should_stop=stop):
        recs.append(r)
        if isinstance(r, BatchProgress) and r.export.message == "written":
            written["n"] += 1
    res = recs[-1]
    assert not res.complete and not (out / "conditions.csv").exists()
    assert (
        export_status(out / "pair") == "complete" and export_status(out / "loop01") == "incomplete"
    )
    # 2) a crash in the middle of writing a frame file (Ctrl-C, power loss): no half file
    real_write = export_mod.atomic_write_bytes
    calls = {"n": 0}

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_write(path, data)

    monkeypatch.setattr(export_mod, "atomic_write_bytes", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(spec, model)
    monkeypatch.setattr(export_mod, "atomic_write_bytes", real_write)
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    before = {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in frame_files(out)}
    # pair: 5 frames x 2 formats; loop01: frames 0, 1 and the PNG of frame 2 (its TIFF was
    # being written when the crash came, so frame 2 is not finished)
    assert len(before) == 10 + 4 + 1
    # 3) a corrupted finished frame is noticed and rendered again
    victim = out / "loop01" / "png" / "loop01_0000.png"
    victim.write_bytes(victim.read_bytes()[:50])
    res, _ = run(spec, model)
    assert res.complete and res.exported == ["loop01", "loop02"] and res.skipped == ["pair"]
    after = {p: (os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in frame_files(out)}
    changed = [p for p in before if after[p] != before[p]]
    assert changed == [victim]  # every other finished frame was kept untouched
    assert len(after) == 3 * 5 * 2
    # the result equals an uninterrupted run
    ref = load_batch_spec(write_spec(tmp_path, model, spec_doc(out="ref")))
    run(ref, model)
    for c in ("pair", "loop01", "loop02"):
        got = [f["image_sha256"] for f in load_manifest(out / c)["frames"]]
        want = [f["image_sha256"] for f in load_manifest(ref.out / c)["frames"]]
        assert got == want
        for f in (ref.out / c / "png").iterdir():
            assert f.read_bytes() == (out / c / "png" / f.name).read_bytes()
    # combined conditions: imageFile relative to out/, forward slashes, every frame once
    rows = list(csv.DictReader(open(out / "conditions.csv", newline="")))
    assert len(rows) == 15 and rows[0]["imageFile"] == "pair/png/pair_0000.png"
    assert all((out / r["imageFile"]).is_file() and (out / r["tiffFile"]).is_file() for r in rows)
    assert rows[0]["angle"] == "" and rows[5]["angle"] == "0"
    assert json.loads((out / "batch.json").read_text())["continua"][2]["id"] == "loop02"
    # and once more: nothing to do
    res, _ = run(spec, model)
    assert res.skipped == ["pair", "loop01", "loop02"] and res.frames_written == 0


def test_ranks_take_whole_continua(tmp_path, model):
    spec = load_batch_spec(write_spec(tmp_path, model, spec_doc(preview="none")))
    r0, recs0 = run(spec, model, rank=0, world_size=2)
    assert {r.continuum for r in recs0} == {"pair", "loop02"} and not r0.complete
    assert export_status(spec.out / "loop01") == "missing"
    r1, recs1 = run(spec, model, rank=1, world_size=2)
    assert {r.continuum for r in recs1} == {"loop01"}
    assert r1.complete and (spec.out / "conditions.csv").is_file()  # the last rank writes it


def test_changed_spec_is_refused_not_overwritten(tmp_path, model):
    spec = load_batch_spec(write_spec(tmp_path, model, spec_doc(preview="none")))
    run(spec, model)
    doc = spec_doc(preview="none")
    doc["defaults"]["frames"] = 6
    changed = load_batch_spec(write_spec(tmp_path, model, doc))
    from stimstudio.core.errors import ExportError

    with pytest.raises(ExportError, match="another export"):
        run(changed, model)
    res, _ = run(changed, model, overwrite=True)
    assert res.complete and len(load_manifest(spec.out / "loop01")["frames"]) == 6


def test_seed_anchors_carry_their_own_noise_maps_unless_the_spec_says_const(tmp_path, model):
    from stimstudio.core.batch import _anchors_for
    from stimstudio.core.generate import noise_for_seed

    doc = spec_doc()
    doc["series"][0]["noise"] = "const"
    spec = load_batch_spec(write_spec(tmp_path, model, doc))
    assert [c.noise for c in spec.continua] == ["seed", "const", "const"]
    own, _ = _anchors_for(spec.continua[0], model)
    for x, y in zip(own[0].latent.noise, noise_for_seed(model, 7)):
        np.testing.assert_array_equal(x, y)
    fixed, _ = _anchors_for(spec.continua[1], model)
    assert all(a.latent.noise is None for a in fixed)


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"out": None}, "needs 'out'"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"defaults": {"frames": 1}}, "frames must be at least 2"),
        ({"defaults": {"spacing": "wiggly"}}, "spacing must be one of"),
        ({"defaults": {"noise": "fixed"}}, "noise must be one of"),
        ({"output": {"formats": ["bmp"]}}, "unknown export format"),
        ({"output": {"dpi": 300}}, "unknown key 'dpi'"),
        ({"continuum": [{"id": "a b", "anchors": ["seed:1", "seed:2"]}]}, "continuum id"),
        ({"continuum": [{"id": "x", "anchors": ["seed:1"]}]}, "at least 2"),
        ({"continuum": [{"id": "x", "anchors": ["seed:one", "seed:2"]}]}, "bad seed"),
        ({"series": [{"id_prefix": "loop", "count": 0}]}, "count must be"),
        ({"continuum": [], "series": []}, "lists no continua"),
        ({"continuum": [{"id": "loop01", "anchors": ["seed:1", "seed:2"]}]}, "used twice"),
    ],
)
def test_bad_specs_are_one_option_error(tmp_path, patch, message):
    doc = spec_doc()
    for k, v in patch.items():
        if v is None:
            doc.pop(k)
        else:
            doc[k] = v
    with pytest.raises(OptionError, match=message):
        parse_batch_spec(doc, tmp_path, "spec.toml")
