"""DICOM reader: the grey-level pipeline, its quirks, and bad files (synthetic pydicom files)."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)
from readers_helpers import LESION, MG_SOP_PROC, encode_lossless_jpeg, phantom, write_dicom

from stimstudio.core.errors import ReaderError
from stimstudio.core.readers import read_mammogram
from stimstudio.core.readers.dicom import read_dicom, window_linear

BG = (100, 150)  # (row, col) in the background of `phantom`
LES = (LESION[1], LESION[0])  # (row, col) inside the dense blob
TISSUE = (100, 30)


def _lesion_brighter(m):
    p = m.pixels
    assert p[LES] > p[TISSUE] > p[BG], (p[LES], p[TISSUE], p[BG])


def test_window_linear_matches_the_standard(tmp_path):
    a = phantom()
    m = read_mammogram(write_dicom(tmp_path / "a.dcm", a, WindowCenter=1500, WindowWidth=2001))
    x = a.astype(np.float64)
    want = np.clip((x - 1499.5) / 2000 + 0.5, 0, 1)
    np.testing.assert_allclose(m.pixels, want, atol=1e-6)
    assert m.pixels.dtype == np.float32
    assert np.array_equal(m.raw, a)
    assert m.info["window"]["kind"] == "window"
    assert m.info["window"]["center"] == 1500 and m.info["bits"] == 12
    assert m.spacing_mm == (0.1, 0.1) and m.laterality == "L" and m.view == "MLO"
    assert m.format == "DICOM (MG)" and not m.notes
    _lesion_brighter(m)


@pytest.mark.parametrize("function", ["LINEAR_EXACT", "SIGMOID"])
def test_voi_lut_functions(tmp_path, function):
    a = phantom()
    p = write_dicom(
        tmp_path / "a.dcm", a, WindowCenter=1500, WindowWidth=1000, VOILUTFunction=function
    )
    m = read_dicom(p)
    x = a.astype(np.float64)
    if function == "LINEAR_EXACT":
        want = np.clip((x - 1500) / 1000 + 0.5, 0, 1)
    else:
        want = 1 / (1 + np.exp(-4 * (x - 1500) / 1000))
    np.testing.assert_allclose(m.pixels, want, atol=1e-5)
    assert m.info["window"]["function"] == function


def test_window_width_one_is_a_threshold():
    x = np.array([9.0, 9.5, 10.0, 11.0], np.float32)
    assert window_linear(x, 10, 1).tolist() == [0, 0, 1, 1]


def test_first_of_several_windows_by_default_others_selectable(tmp_path):
    a = phantom()
    p = write_dicom(
        tmp_path / "a.dcm",
        a,
        WindowCenter=[1500, 3000],
        WindowWidth=[3000, 500],
        WindowCenterWidthExplanation=["NORMAL", "HARDER"],
    )
    first = read_dicom(p)
    second = read_dicom(p, voi_index=1)
    assert first.info["window"]["explanation"] == "NORMAL" and first.info["window"]["of"] == 2
    assert second.info["window"]["center"] == 3000
    assert not np.allclose(first.pixels, second.pixels)
    assert len(first.info["voi_available"]) == 2
    with pytest.raises(ReaderError, match="window 3 does not exist"):
        read_dicom(p, voi_index=2)
    user = read_dicom(p, window=(1000, 200))
    assert user.info["window"]["explanation"] == "given by the user"


def _voi_lut_item(n=4096, bits=12, first=0, invert=False, data=None):
    item = Dataset()
    lut = np.arange(n, dtype=np.uint16) if data is None else np.asarray(data, np.uint16)
    if invert:
        lut = lut[::-1].copy()
    item.LUTDescriptor = [n, first, bits]
    item.LUTExplanation = "TEST LUT"
    item.LUTData = lut.astype("<u2").tobytes()  # OW, as most files carry it
    return item


def test_monochrome1_with_voi_lut_is_inverted_after_the_lut(tmp_path):
    a = phantom()
    stored = (4095 - a).astype(np.uint16)  # MONOCHROME1: dense tissue has low stored values
    # a gamma-like VOI LUT: nonlinear, so applying it after inversion would give other values
    lut = np.round(4095 * (np.arange(4096) / 4095) ** 2).astype(np.uint16)
    p = write_dicom(
        tmp_path / "m1.dcm",
        stored,
        photometric="MONOCHROME1",
        VOILUTSequence=Sequence([_voi_lut_item(data=lut)]),
        WindowCenter=2048,
        WindowWidth=4096,
    )
    m = read_dicom(p)
    assert m.info["window"]["kind"] == "VOI LUT" and m.info["inverted"]
    want = 1 - lut[stored].astype(np.float64) / 4095
    np.testing.assert_allclose(m.pixels, want, atol=1e-6)
    _lesion_brighter(m)
    assert np.array_equal(m.raw, stored)
    # the window is still selectable
    w = read_dicom(p, voi="window")
    assert w.info["window"]["kind"] == "window"
    _lesion_brighter(w)


def test_voi_lut_first_mapped_and_clamping(tmp_path):
    a = phantom()
    lut = np.linspace(0, 255, 1000).astype(np.uint16)
    p = write_dicom(
        tmp_path / "a.dcm", a, VOILUTSequence=Sequence([_voi_lut_item(1000, 8, 1000, data=lut)])
    )
    m = read_dicom(p)
    x = np.clip(a.astype(int) - 1000, 0, 999)
    np.testing.assert_allclose(m.pixels, lut[x] / 255.0, atol=1e-6)


def test_presentation_lut_shape_inverse_inverts_monochrome2(tmp_path):
    a = (4095 - phantom()).astype(np.uint16)
    p = write_dicom(
        tmp_path / "a.dcm", a, WindowCenter=2048, WindowWidth=4096, PresentationLUTShape="INVERSE"
    )
    m = read_dicom(p)
    assert m.info["inverted"] and any("INVERSE" in n for n in m.notes)
    _lesion_brighter(m)


def test_monochrome1_with_inverse_shape_is_inverted_once(tmp_path):
    a = (4095 - phantom()).astype(np.uint16)
    p = write_dicom(
        tmp_path / "a.dcm",
        a,
        photometric="MONOCHROME1",
        WindowCenter=2048,
        WindowWidth=4096,
        PresentationLUTShape="INVERSE",
    )
    _lesion_brighter(read_dicom(p))


def test_pixel_padding_is_black_even_in_monochrome1(tmp_path):
    a = (4095 - phantom()).astype(np.uint16)
    a[:, 150:] = 4095  # padding at the white end of a MONOCHROME1 image
    p = write_dicom(
        tmp_path / "a.dcm",
        a,
        photometric="MONOCHROME1",
        PixelPaddingValue=4095,
        WindowCenter=2048,
        WindowWidth=4096,
    )
    m = read_dicom(p)
    assert (m.pixels[:, 150:] == 0).all()
    assert m.info["padding"]["pixels"] == int((a == 4095).sum())
    _lesion_brighter(m)


def test_pixel_padding_range_limit(tmp_path):
    a = phantom()
    a[:5, :] = 7
    a[5:10, :] = 9
    p = write_dicom(tmp_path / "a.dcm", a, PixelPaddingValue=7, PixelPaddingRangeLimit=9)
    m = read_dicom(p)
    assert (m.pixels[:10] == 0).all()


def test_bits_stored_below_bits_allocated_masks_high_bits(tmp_path):
    a = phantom(bits=12)
    dirty = a | np.uint16(0xA000)  # overlay bits / garbage above bit 11
    p = write_dicom(tmp_path / "a.dcm", dirty, bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    m = read_dicom(p)
    assert np.array_equal(m.raw, a)
    assert m.raw.max() < 4096 and m.info["bits_stored"] == 12
    assert m.info["bits_allocated"] == 16


def test_signed_pixels_with_rescale(tmp_path):
    a = (phantom(bits=12).astype(np.int16) - 2048).astype(np.int16)
    p = write_dicom(
        tmp_path / "a.dcm",
        a,
        bits_stored=12,
        signed=True,
        RescaleSlope=2,
        RescaleIntercept=4096,
        WindowCenter=4096,
        WindowWidth=8192,
    )
    m = read_dicom(p)
    assert m.raw.min() < 0
    want = np.clip((a * 2.0 + 4096 - 4095.5) / 8191 + 0.5, 0, 1)
    np.testing.assert_allclose(m.pixels, want, atol=1e-5)


def test_modality_lut_sequence(tmp_path):
    a = phantom(bits=12)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.ModalityLUTType = "US"
    # US multi-value, the other way files carry LUT Data
    item.add_new(0x00283006, "US", (np.arange(4096, dtype=np.uint16) * 10).tolist())
    p = write_dicom(
        tmp_path / "a.dcm",
        a,
        ModalityLUTSequence=Sequence([item]),
        WindowCenter=20000,
        WindowWidth=40001,
    )
    m = read_dicom(p)
    want = np.clip((a * 10.0 - 19999.5) / 40000 + 0.5, 0, 1)
    np.testing.assert_allclose(m.pixels, want, atol=1e-5)
    assert m.info["modality_lut"]["kind"] == "Modality LUT Sequence"


def test_no_window_uses_breast_percentiles_not_background(tmp_path):
    a = phantom()
    m = read_dicom(write_dicom(tmp_path / "a.dcm", a))
    w = m.info["window"]
    assert w["kind"] == "percentile"
    assert w["low"] > a[BG] + 100  # the background is not in the window
    assert m.pixels[BG] == 0
    assert 0.2 < np.median(m.pixels[a > 500]) < 0.8
    assert any("percentile" in n for n in m.notes)
    _lesion_brighter(m)


def test_no_window_monochrome1(tmp_path):
    a = (4095 - phantom()).astype(np.uint16)
    m = read_dicom(write_dicom(tmp_path / "a.dcm", a, photometric="MONOCHROME1"))
    assert m.info["window"]["kind"] == "percentile"
    assert m.pixels[BG] == 0
    _lesion_brighter(m)


def test_for_processing_is_flagged(tmp_path):
    a = phantom()
    p = write_dicom(
        tmp_path / "a.dcm", a, sop_class=MG_SOP_PROC, PresentationIntentType="FOR PROCESSING"
    )
    m = read_dicom(p)
    assert m.info["for_processing"]
    assert any("FOR PROCESSING" in n for n in m.notes)


def test_imager_pixel_spacing_and_view_code(tmp_path):
    a = phantom()
    view = Dataset()
    view.CodeMeaning = "cranio-caudal"
    p = write_dicom(
        tmp_path / "a.dcm",
        a,
        PixelSpacing=None,
        ViewPosition=None,
        ImagerPixelSpacing=[0.07, 0.065],
        ViewCodeSequence=Sequence([view]),
        ImageLaterality="R",
    )
    m = read_dicom(p)
    assert m.spacing_mm == (0.07, 0.065) and m.view == "CC" and m.laterality == "R"
    assert m.info["spacing_source"].startswith("Imager")


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_transfer_syntaxes(tmp_path, syntax):
    a = phantom()
    p = write_dicom(tmp_path / "c.dcm", a, compress=syntax, WindowCenter=2048, WindowWidth=4096)
    assert pydicom.dcmread(p).file_meta.TransferSyntaxUID == syntax
    m = read_dicom(p)
    assert m.info["compressed"] and m.info["transfer_syntax"] == syntax
    assert np.array_equal(m.raw, a)


def test_jpeg_lossless_process_14(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLosslessSV1

    a = phantom()
    p = write_dicom(tmp_path / "j.dcm", a, WindowCenter=2048, WindowWidth=4096)
    ds = pydicom.dcmread(p)
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = encapsulate([encode_lossless_jpeg(a, 12)])
    ds["PixelData"].VR = "OB"
    ds.save_as(p)
    m = read_dicom(p)
    assert m.info["compressed"] and "JPEG Lossless" in m.info["transfer_syntax_name"]
    assert np.array_equal(m.raw, a)


def test_jpeg2000_monochrome1_12_bit(tmp_path):
    a = (4095 - phantom()).astype(np.uint16)
    p = write_dicom(
        tmp_path / "c.dcm",
        a,
        compress=JPEG2000Lossless,
        photometric="MONOCHROME1",
        VOILUTSequence=Sequence([_voi_lut_item()]),
    )
    m = read_mammogram(p)
    assert np.array_equal(m.raw, a)
    _lesion_brighter(m)


def test_multi_frame_picks_a_frame_and_says_so(tmp_path):
    a = np.stack([phantom(seed=i) for i in range(3)])
    a[2] = a[2] // 2
    p = write_dicom(tmp_path / "mf.dcm", a, WindowCenter=2048, WindowWidth=4096)
    m = read_dicom(p)
    assert m.info["frames"] == 3 and m.info["frame"] == 0
    assert np.array_equal(m.raw, a[0])
    assert any("frame 1 of 3" in n for n in m.notes)
    m2 = read_dicom(p, frame=2)
    assert np.array_equal(m2.raw, a[2])
    with pytest.raises(ReaderError, match="frame 4 does not exist"):
        read_dicom(p, frame=3)


def test_multi_frame_rle(tmp_path):
    a = np.stack([phantom(seed=i) for i in range(2)])
    p = write_dicom(tmp_path / "mf.dcm", a, compress=RLELossless)
    assert np.array_equal(read_dicom(p, frame=1).raw, a[1])


def test_eight_bit_dicom(tmp_path):
    a = (phantom(bits=8)).astype(np.uint8)
    p = write_dicom(tmp_path / "a.dcm", a, bits_stored=8, WindowCenter=128, WindowWidth=256)
    m = read_dicom(p)
    assert m.info["bits"] == 8 and m.raw.dtype == np.uint8


def test_dicom_without_preamble_or_extension(tmp_path):
    a = phantom()
    p = write_dicom(tmp_path / "a.dcm", a, WindowCenter=2048, WindowWidth=4096)
    data = p.read_bytes()
    q = tmp_path / "IMG0001"  # DICOM is found by content
    q.write_bytes(data)
    assert read_mammogram(q).format == "DICOM (MG)"


# ---- bad files: one clear sentence, never another exception ------------------------------


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.dcm"
    p.write_bytes(b"")
    with pytest.raises(ReaderError, match="empty"):
        read_mammogram(p)


def test_not_dicom_with_dcm_name(tmp_path):
    p = tmp_path / "notes.dcm"
    p.write_text("this is a text file, not an image\n" * 10)
    with pytest.raises(ReaderError, match="notes.dcm"):
        read_mammogram(p)


def test_truncated_pixel_data(tmp_path):
    p = write_dicom(tmp_path / "a.dcm", phantom())
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 5000])
    with pytest.raises(ReaderError, match="a.dcm: pixel data is truncated"):
        read_mammogram(p)


def test_wrong_pixel_data_length(tmp_path):
    a = phantom()
    p = write_dicom(tmp_path / "a.dcm", np.concatenate([a, a[:20]]), Rows=None)
    ds = pydicom.dcmread(p)
    ds.Rows = a.shape[0]
    ds.save_as(p)
    with pytest.raises(ReaderError, match="wrong pixel-data length"):
        read_mammogram(p)


def test_missing_transfer_syntax_uncompressed_still_reads(tmp_path):
    a = phantom()
    p = write_dicom(tmp_path / "a.dcm", a, WindowCenter=2048, WindowWidth=4096)
    ds = pydicom.dcmread(p)
    del ds.file_meta.TransferSyntaxUID
    ds.save_as(p, enforce_file_format=False, implicit_vr=False, little_endian=True)
    m = read_mammogram(p)
    assert np.array_equal(m.raw, a)
    assert any("Transfer Syntax" in n for n in m.notes)


def test_missing_transfer_syntax_compressed_is_refused(tmp_path):
    a = phantom()
    p = write_dicom(tmp_path / "a.dcm", a, compress=RLELossless)
    ds = pydicom.dcmread(p)
    del ds.file_meta.TransferSyntaxUID
    ds.save_as(p, enforce_file_format=False, implicit_vr=False, little_endian=True)
    with pytest.raises(ReaderError, match=r"no Transfer Syntax UID \(0002,0010\)"):
        read_mammogram(p)


def test_structured_report_is_not_an_image(tmp_path):
    ds = Dataset()
    from pydicom.dataset import FileMetaDataset

    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality = "SR"
    p = tmp_path / "report.dcm"
    ds.save_as(p, enforce_file_format=True)
    with pytest.raises(ReaderError, match=r"no Pixel Data.*Enhanced SR"):
        read_mammogram(p)


def test_one_by_one_image_is_refused(tmp_path):
    p = write_dicom(tmp_path / "tiny.dcm", np.zeros((1, 1), np.uint16))
    with pytest.raises(ReaderError, match="1x1 pixels is too small"):
        read_mammogram(p)


def test_huge_image_is_refused_before_allocating(tmp_path):
    p = write_dicom(tmp_path / "huge.dcm", phantom())
    ds = pydicom.dcmread(p)
    ds.Rows = ds.Columns = 65535  # US maximum; 100 000 does not even fit the tag
    ds.save_as(p)
    with pytest.raises(ReaderError, match="larger than any mammogram"):
        read_mammogram(p)


@pytest.mark.parametrize(
    "tags, match",
    [
        ({"BitsAllocated": 12}, r"\(0028,0100\) Bits Allocated is 12"),
        ({"BitsStored": 20}, r"\(0028,0101\) Bits Stored is 20"),
        ({"WindowCenter": [100, 200], "WindowWidth": 50}, "Window Center has 2 values"),
        ({"WindowCenter": 100, "WindowWidth": 0}, r"\(0028,1051\) Window Width 0"),
        ({"RescaleSlope": 0}, r"Rescale Slope 0"),
        ({"Rows": None}, r"\(0028,0010\) Rows is missing"),
    ],
)
def test_bad_tags_are_named(tmp_path, tags, match):
    a = phantom()
    p = write_dicom(tmp_path / "bad.dcm", a, **tags)
    with pytest.raises(ReaderError, match=match):
        read_mammogram(p)


def test_damaged_voi_lut_is_named(tmp_path):
    item = Dataset()
    item.LUTDescriptor = [4096, 0]
    item.LUTData = b"\x00\x01\x02\x03"
    p = write_dicom(tmp_path / "a.dcm", phantom(), VOILUTSequence=Sequence([item]))
    with pytest.raises(ReaderError, match=r"LUT Descriptor \(0028,3002\) has 2 values"):
        read_mammogram(p)


_GOOD: dict[str, bytes] = {}


def _good_bytes(tmp_path_factory) -> bytes:
    if not _GOOD:
        d = tmp_path_factory.mktemp("good")
        a = phantom(rows=48, cols=40)
        _GOOD["plain"] = write_dicom(
            d / "g.dcm",
            a,
            WindowCenter=2048,
            WindowWidth=4096,
            VOILUTSequence=Sequence([_voi_lut_item()]),
        ).read_bytes()
        _GOOD["rle"] = write_dicom(d / "r.dcm", a, compress=RLELossless).read_bytes()
    return _GOOD


@settings(
    max_examples=int(os.environ.get("STIMSTUDIO_FUZZ_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    which=st.sampled_from(["plain", "rle"]),
    edits=st.lists(
        st.tuples(st.integers(0, 1400) | st.integers(0, 10**6), st.integers(0, 255)), max_size=8
    ),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_fuzz_broken_bytes_only_raise_reader_error(tmp_path_factory, which, edits, cut):
    data = bytearray(_good_bytes(tmp_path_factory)[which])
    for pos, val in edits:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[: cut % len(data)]
    p = tmp_path_factory.getbasetemp() / f"fuzz_{which}.dcm"
    p.write_bytes(bytes(data))
    try:
        m = read_mammogram(p)
    except ReaderError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert m.pixels.dtype == np.float32 and m.pixels.ndim == 2
        assert np.isfinite(m.pixels).all()


def test_full_field_image_holds_few_copies(tmp_path):
    """A 4600x3100 16-bit mammogram: peak memory while reading stays near 3 copies of it
    (raw uint16 + display float32 = 3x the stored size is what the record keeps)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    a = rng.integers(0, 4096, (4600, 3100)).astype(np.uint16)
    a[:, 2500:] = 10
    for name, tags in [
        ("w.dcm", {"WindowCenter": 2048, "WindowWidth": 4096}),
        ("lut.dcm", {"VOILUTSequence": Sequence([_voi_lut_item()])}),
        ("none.dcm", {}),
    ]:
        p = write_dicom(tmp_path / name, a, **tags)
        tracemalloc.start()
        try:
            m = read_mammogram(p)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert m.shape == (4600, 3100)
        assert peak < 4.2 * a.nbytes, f"{name}: peak {peak / a.nbytes:.1f}x the image"
        assert m.preview(1024).shape == (1024, 690)
        del m
