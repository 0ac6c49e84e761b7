"""ingest.parsing.archive: ZIP parts inflated in bounded chunks, whatever their headers claim."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zipfile

import pytest

from ingest.parsing import ParseError, ParseLimits, parse_document
from ingest.tests.builders import add_zip_member, make_docx, make_lying_docx, make_rich_docx

MB = 1024 * 1024


def _refusal(data: bytes, limits: ParseLimits | None = None) -> tuple[ParseError, float, float]:
    """The ParseError, with the peak traced memory (MB) and the seconds it took to come."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ParseError) as caught:
            parse_document(data, "upload.docx", limits=limits or ParseLimits())
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    return caught.value, peak, seconds


def test_a_docx_whose_headers_understate_its_size_is_refused_with_bounded_memory():
    # word/document.xml really inflates to 300 MB; the central directory and local header say 900 kB.
    data = make_lying_docx(real_size=300 * MB, claimed_size=900 * 1024)
    assert len(data) < 2 * MB
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml").file_size == 900 * 1024
    error, peak, seconds = _refusal(data)
    assert error.code == "zip_bomb"
    assert "more than the 0.88 MB its header declares" in error.message
    assert peak < 50, f"peak traced memory {peak:.0f} MB"
    assert seconds < 3


def test_a_part_over_the_per_part_limit_is_refused_before_it_is_inflated():
    data = make_lying_docx(real_size=2 * MB, claimed_size=2 * MB)  # honest headers, 2 MB of text
    assert parse_document(data, limits=ParseLimits(max_compression_ratio=10_000)).kind == "docx"
    limits = ParseLimits(max_compression_ratio=10_000, max_member_bytes=MB)
    error, peak, _ = _refusal(data, limits)
    assert error.code == "zip_bomb"
    assert "one part unpacks to more than 1 MB, the limit for one part" in error.message
    assert peak < 5


def test_a_packed_size_claimed_past_the_end_of_the_upload_does_not_hide_the_ratio():
    honest = add_zip_member(make_docx(), "word/media/zeros.bin", 8 * MB)
    assert _refusal(honest)[0].code == "zip_bomb"
    lying = add_zip_member(make_docx(), "word/media/zeros.bin", 8 * MB, claimed_packed_size=MB)
    packed = zipfile.ZipFile(io.BytesIO(lying)).getinfo("word/media/zeros.bin").compress_size
    assert packed == MB > len(lying)  # a ratio of 8 claimed, for ~1000 in truth
    error, _, _ = _refusal(lying)
    assert error.code == "zip_bomb"
    assert "compressed more than 100 to 1" in error.message


def _zip_listing_one_part(times: int) -> bytes:
    """A ZIP whose central directory lists its one part ``times`` times (an entry costs 63 bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", b"")
    data = out.getvalue()
    end = data.rindex(b"PK\x05\x06")
    (directory_size, directory_offset) = struct.unpack_from("<II", data, end + 12)
    entry = data[directory_offset : directory_offset + directory_size]
    record = bytearray(data[end:])
    struct.pack_into("<HHI", record, 8, min(times, 0xFFFE), min(times, 0xFFFE), len(entry) * times)
    return data[:directory_offset] + entry * times + bytes(record)


def test_a_zip_listing_too_many_parts_is_refused_before_its_directory_is_loaded():
    data = _zip_listing_one_part(100_000)  # 6 MB
    assert len(zipfile.ZipFile(io.BytesIO(data)).infolist()) == 100_000
    error, peak, _ = _refusal(data)
    assert error.code == "zip_bomb"
    assert peak < 10, f"peak traced memory {peak:.0f} MB"  # ZipFile's 100,000 entries: ~50 MB
    assert "it lists 100000 files; the limit is 10000" in error.message


def test_parts_packed_with_bzip2_or_lzma_are_not_inflated():
    out = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.infolist():
            method = zipfile.ZIP_LZMA if item.filename == "word/document.xml" else zipfile.ZIP_DEFLATED
            archive.writestr(item.filename, source.read(item), compress_type=method)
    error, _, _ = _refusal(out.getvalue())
    assert error.code == "corrupt_file"
    assert "packed with a method its format does not use" in error.message


def test_a_part_whose_crc_does_not_match_is_damaged():
    data = bytearray(make_docx())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("word/document.xml")
    # zipfile's own CRC check is off while a part is read in bounds: ours must catch a flipped CRC.
    entry = data.index(b"word/document.xml", data.index(b"PK\x01\x02")) - 46
    struct.pack_into("<I", data, entry + 16, info.CRC ^ 0xFFFFFFFF)
    error, _, _ = _refusal(bytes(data))
    assert error.code == "corrupt_file"


@pytest.mark.parametrize("make", [make_docx, make_rich_docx], ids=["plain", "rich"])
def test_normal_docx_reads_the_same_through_bounded_reads(make):
    doc = parse_document(make(), "handbook.docx")
    again = parse_document(make(), "handbook.docx", limits=ParseLimits(max_member_bytes=MB))
    assert doc.kind == again.kind == "docx"
    assert (doc.title, doc.text, doc.sections) == (again.title, again.text, again.sections)
    assert doc.text.strip()
