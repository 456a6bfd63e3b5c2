"""PNG / TIFF / JPEG: 8 and 16 bit, grey or RGB; sizes refused before decoding."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from readers_helpers import phantom

from stimstudio.core.errors import ReaderError
from stimstudio.core.readers import read_mammogram


def test_8_bit_png(tmp_path):
    a = (phantom(bits=8)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), a)
    m = read_mammogram(tmp_path / "a.png")
    np.testing.assert_allclose(m.pixels, a / 255.0, atol=1e-6)
    assert m.info["bits"] == 8 and not m.notes and m.format == "png"


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_12_bit_data_in_16_bit_files(tmp_path, suffix):
    a = phantom(bits=12)
    a[0, 0] = 4095
    cv2.imwrite(str(tmp_path / f"a{suffix}"), a)
    m = read_mammogram(tmp_path / f"a{suffix}")
    assert np.array_equal(m.raw, a) and m.info["bits"] == 12
    np.testing.assert_allclose(m.pixels, a / 4095.0, atol=1e-6)


def test_full_16_bit(tmp_path):
    a = (phantom(bits=16)).astype(np.uint16)
    a[0, 0] = 65535
    cv2.imwrite(str(tmp_path / "a.png"), a)
    m = read_mammogram(tmp_path / "a.png")
    assert m.info["bits"] == 16 and m.pixels.max() == 1.0


def test_rgb_jpeg_is_converted_with_a_note(tmp_path):
    a = phantom(bits=8).astype(np.uint8)
    rgb = np.stack([a, a // 2, a], -1)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    m = read_mammogram(tmp_path / "a.jpg")
    assert m.pixels.ndim == 2 and any("converted to grey" in n for n in m.notes)


def test_grey_saved_as_rgb_needs_no_note(tmp_path):
    a = phantom(bits=8).astype(np.uint8)
    Image.fromarray(np.stack([a] * 3, -1)).save(tmp_path / "a.png")
    m = read_mammogram(tmp_path / "a.png")
    assert np.array_equal(m.raw, a) and not m.notes


def _png_header_only(path, w, h):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_huge_image_refused_before_decoding(tmp_path):
    _png_header_only(tmp_path / "huge.png", 100_000, 100_000)
    with pytest.raises(ReaderError, match="huge.png: image .*larger than any mammogram"):
        read_mammogram(tmp_path / "huge.png")


def test_one_pixel_image_refused(tmp_path):
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "dot.png")
    with pytest.raises(ReaderError, match="too small"):
        read_mammogram(tmp_path / "dot.png")


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_broken_files(tmp_path, data):
    p = tmp_path / "bad.png"
    p.write_bytes(data)
    with pytest.raises(ReaderError, match="bad.png"):
        read_mammogram(p)


def test_annotation_files_are_not_images(tmp_path):
    p = tmp_path / "table.csv"
    p.write_text("a,b\n")
    with pytest.raises(ReaderError, match="table.csv is a table"):
        read_mammogram(p)


def test_missing_and_folder(tmp_path):
    with pytest.raises(ReaderError, match="file not found"):
        read_mammogram(tmp_path / "nope.png")
    with pytest.raises(ReaderError, match="is a folder"):
        read_mammogram(tmp_path)


_PNG: list[bytes] = []


@settings(max_examples=100, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_fuzz_png_bytes(tmp_path_factory, edits, cut):
    if not _PNG:
        a = phantom(rows=40, cols=32, bits=12)
        _PNG.append(cv2.imencode(".png", a)[1].tobytes())
    data = bytearray(_PNG[0])
    for pos, val in edits:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[: cut % len(data)]
    p = tmp_path_factory.getbasetemp() / "fuzz.png"
    p.write_bytes(bytes(data))
    try:
        m = read_mammogram(p)
    except ReaderError:
        return
    assert m.pixels.ndim == 2 and np.isfinite(m.pixels).all()


def test_content_wins_over_a_wrong_extension(tmp_path):
    a = phantom(bits=8).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), a)
    (tmp_path / "a.png").rename(tmp_path / "mislabelled.dcm")
    m = read_mammogram(tmp_path / "mislabelled.dcm")
    assert m.format == "png" and np.array_equal(m.raw, a)
    assert any("despite its .dcm name" in n for n in m.notes)
