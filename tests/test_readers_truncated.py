"""No silently wrong image: compressed streams that end early are refused in one line, or read
in part on request with the missing rows named; decoder failures carry the decoder's reason."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.encaps import encapsulate
from readers_helpers import encode_lossless_jpeg, phantom, write_dicom
from test_readers_ddsm import COLS, ICS, ROWS

from stimstudio.cli.main import main
from stimstudio.core.errors import ReaderError
from stimstudio.core.readers import read_mammogram
from stimstudio.core.readers.streams import complete_rows, missing_rows_text, stream_complete

TRUTH = phantom(ROWS, COLS, bits=12)
ROW_ENDS: list[int] = []
LJPEG = encode_lossless_jpeg(TRUTH, 12, ROW_ENDS)
SCAN = LJPEG.index(b"\xff\xda")


def _cut(frac: float) -> bytes:
    return LJPEG[: SCAN + 8 + int((len(LJPEG) - SCAN - 10) * frac)]


def _first_wrong_row(decoded: np.ndarray) -> int:
    bad = np.nonzero((decoded != TRUTH).any(axis=1))[0]
    return int(bad[0]) if bad.size else ROWS


def _ddsm(tmp_path, data: bytes):
    d = tmp_path / "case"
    d.mkdir(exist_ok=True)
    (d / "B-3024-1.ics").write_text(ICS)
    p = d / "B_3024_1.LEFT_MLO.LJPEG"
    p.write_bytes(data)
    return p


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stimstudio: error: "), err
    return err[0]


# -- the stream check ---------------------------------------------------------------------------


def test_stream_complete():
    assert stream_complete(LJPEG) is True
    assert stream_complete(_cut(0.5)) is False
    assert stream_complete(LJPEG[:SCAN]) is False  # the header alone (libjpeg "decodes" it)
    assert stream_complete(LJPEG[:30]) is False  # cut inside a marker segment
    assert stream_complete(b"\xff\xd8\xff\xc3" + bytes(200)) is None  # not JPEG segments
    assert stream_complete(b"\x00" * 64) is None  # not a codestream: nothing to say
    assert stream_complete(LJPEG + b"\x00") is True  # DICOM's even-length padding


def test_missing_rows_text():
    assert missing_rows_text(135, 200) == "rows 136-200 of 200"
    assert missing_rows_text(199, 200) == "row 200 of 200"


def _rows_in(data: bytes) -> int:
    """Rows whose whole bitstream is in `data`."""
    return sum(1 for e in ROW_ENDS if e <= len(data))


@pytest.mark.parametrize("frac", [0.05, 0.3, 0.7, 0.95, 0.999])
def test_complete_rows_finds_where_the_data_ends(frac):
    from libjpeg import decode

    data = _cut(frac)
    decoded = decode(data)  # no error: the decoder fills the rest with a gradient
    good = complete_rows(decode, data, decoded)
    # never more rows than are right, at most one fewer than the data holds in full; trailing
    # zero bytes look like the decoder's own zero fill, so the rows they code count as missing
    assert _rows_in(data.rstrip(b"\x00")) - 1 <= good <= _first_wrong_row(decoded)
    assert np.array_equal(decoded[:good], TRUTH[:good])


# -- DDSM LJPEG ---------------------------------------------------------------------------------


def test_truncated_ljpeg_is_refused_in_one_line(tmp_path, capsys):
    p = _ddsm(tmp_path, _cut(0.6))
    with pytest.raises(ReaderError, match="truncated.*end-of-image marker.*--partial"):
        read_mammogram(p)
    assert main(["info", str(p)]) == 2
    assert "truncated" in _one_line(capsys)
    out = tmp_path / "out.png"
    assert main(["convert", str(p), str(out)]) == 2
    assert "truncated" in _one_line(capsys)
    assert not out.exists() and list(tmp_path.glob("*.part")) == []


def test_truncated_ljpeg_partial_names_the_missing_rows(tmp_path, capsys):
    p = _ddsm(tmp_path, _cut(0.6))
    m = read_mammogram(p, partial=True)
    good, rows = m.info["missing_rows"]
    assert rows == ROWS and 0 < good < ROWS
    assert np.array_equal(m.raw[:good], TRUTH[:good]) and not m.raw[good:].any()
    assert not m.pixels[good:].any()  # black, not a gradient
    assert any(f"rows {good + 1}-{ROWS} of {ROWS} are missing" in n for n in m.notes)
    assert main(["info", str(p), "--partial"]) == 0
    assert f"rows {good + 1}-{ROWS} of {ROWS} are missing" in capsys.readouterr().out


def test_complete_ljpeg_is_unchanged(tmp_path):
    m = read_mammogram(_ddsm(tmp_path, LJPEG), partial=True)
    assert np.array_equal(m.raw, TRUTH) and "missing_rows" not in m.info


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=len(LJPEG) - 2))
def test_fuzz_any_cut_is_refused_or_read_true(tmp_path_factory, cut):
    p = _ddsm(tmp_path_factory.mktemp("cut"), LJPEG[:cut])
    with pytest.raises(ReaderError):
        read_mammogram(p)
    try:
        m = read_mammogram(p, partial=True)
    except ReaderError:
        return
    good = m.info["missing_rows"][0]
    assert np.array_equal(m.raw[:good], TRUTH[:good])


# -- DICOM encapsulated frames ------------------------------------------------------------------


def _dicom_with_frame(tmp_path, frame: bytes, ts: str, name: str, bits: int = 12):
    p = tmp_path / name
    write_dicom(p, TRUTH, bits_stored=bits)
    ds = pydicom.dcmread(p)
    ds.file_meta.TransferSyntaxUID = ts
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.save_as(p, enforce_file_format=True)
    return p


JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"


def test_dicom_jpeg_lossless_frame_truncated(tmp_path, capsys):
    ok = _dicom_with_frame(tmp_path, LJPEG, JPEG_LOSSLESS_SV1, "ok.dcm")
    assert np.array_equal(read_mammogram(ok).raw, TRUTH)
    p = _dicom_with_frame(tmp_path, _cut(0.5), JPEG_LOSSLESS_SV1, "cut.dcm")
    with pytest.raises(ReaderError, match="truncated.*end marker.*--partial"):
        read_mammogram(p)
    assert main(["info", str(p)]) == 2
    assert "truncated" in _one_line(capsys)
    m = read_mammogram(p, partial=True)
    good = m.info["missing_rows"][0]
    assert 0 < good < ROWS and np.array_equal(m.raw[:good], TRUTH[:good])
    assert not m.pixels[good:].any()
    assert any("are missing" in n for n in m.notes)


def test_dicom_jpeg2000_frame_truncated(tmp_path):
    src = write_dicom(tmp_path / "j2k.dcm", TRUTH, compress="1.2.840.10008.1.2.4.90")
    frame = pydicom.encaps.get_frame(pydicom.dcmread(src).PixelData, 0, number_of_frames=1)
    assert stream_complete(frame) is True
    p = _dicom_with_frame(tmp_path, frame[: len(frame) // 2], "1.2.840.10008.1.2.4.90", "c.dcm")
    with pytest.raises(ReaderError, match="truncated"):
        read_mammogram(p)
    with pytest.raises(ReaderError, match="JPEG 2000.*no partial image"):
        read_mammogram(p, partial=True)


# -- decoder errors tell the truth --------------------------------------------------------------


def test_decoder_failure_passes_the_decoders_reason(tmp_path, capsys):
    buf = io.BytesIO()
    Image.fromarray((TRUTH >> 4).astype(np.uint8)).save(buf, "JPEG", quality=90)
    j = bytearray(buf.getvalue())
    i = j.find(b"\xff\xc0")
    j[i + 1], j[i + 4] = 0xC1, 16  # JPEG Extended with a precision no decoder reads
    p = _dicom_with_frame(tmp_path, bytes(j), "1.2.840.10008.1.2.4.51", "ext.dcm")
    with pytest.raises(ReaderError) as err:
        read_mammogram(p)
    msg = str(err.value)
    assert "libjpeg error" in msg and "precision" in msg
    assert "install pylibjpeg" not in msg  # they are installed; they said why they failed
    assert main(["info", str(p)]) == 2
    assert "libjpeg error" in _one_line(capsys)
