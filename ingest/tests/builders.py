"""Builders of test documents (PDF, DOCX, zip bombs), generated in memory: no binary fixtures."""

from __future__ import annotations

import io
import struct
import zipfile

import docx
from docx.enum.text import WD_BREAK
from docx.oxml import OxmlElement, parse_xml
from pypdf import PdfReader, PdfWriter

from evaluation.bench.documents import make_pdf as make_pdf  # shared with bench_ingest


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(*, with_title: bool = True) -> bytes:
    document = docx.Document()
    document.core_properties.title = "Employee Handbook" if with_title else ""
    document.add_heading("Benefits", level=1)
    document.add_paragraph("Everyone gets benefits.")
    document.add_heading("Parental leave", level=2)
    document.add_paragraph("Sixteen weeks, fully paid.")
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("Country", "Weeks"), ("France", "16")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_heading("Travel", level=1)
    document.add_paragraph("Book through the portal.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_rich_docx() -> bytes:
    """Runs with breaks and symbols, a hyperlink, tracked text, merged and nested table cells."""
    document = docx.Document()
    document.core_properties.title = "Rich"
    document.add_paragraph("Overview", style="Title")
    document.add_heading("Details", level=1)
    paragraph = document.add_paragraph("Tab")
    run = paragraph.add_run()
    run.add_tab()
    run.add_text("line")
    run.add_break()
    run.add_text("page")
    run.add_break(WD_BREAK.PAGE)
    run.add_text("end")
    for tag in ("w:cr", "w:noBreakHyphen", "w:ptab"):
        run._r.append(OxmlElement(tag))
    paragraph._p.append(_w_xml("<w:hyperlink><w:r><w:t>link</w:t></w:r></w:hyperlink>"))
    paragraph._p.append(_w_xml("<w:ins><w:r><w:t>tracked</w:t></w:r></w:ins>"))  # not read, as python-docx
    table = document.add_table(rows=3, cols=3)
    for i, row in enumerate(table.rows):
        for j, cell in enumerate(row.cells):
            cell.text = f"r{i}c{j}"
    table.cell(0, 0).merge(table.cell(0, 1))
    table.cell(0, 2).merge(table.cell(2, 2))
    table.cell(1, 0).add_paragraph("second paragraph")
    table.cell(1, 1).add_table(rows=1, cols=1).cell(0, 0).text = "nested"  # not read, as python-docx
    document.add_heading("   ", level=2)
    document.add_paragraph("Not a heading", style="Heading 2").runs[0].text = "Heading-styled"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _w_xml(xml: str) -> object:
    return parse_xml(
        xml.replace(">", ' xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">', 1)
    )


def rewrite_zip(data: bytes, changes: dict[str, bytes | None]) -> bytes:
    """A copy of the zip with members replaced (bytes) or dropped (None)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            content = changes.get(item.filename, source.read(item))
            if content is not None:
                archive.writestr(item.filename, content)
    return out.getvalue()


def add_zip_member(data: bytes, name: str, size: int, *, claimed_packed_size: int | None = None) -> bytes:
    """A copy of the zip with one more DEFLATEd member of ``size`` zero bytes, streamed in 1 MiB;
    its central directory entry claims ``claimed_packed_size`` compressed bytes when given."""
    out = io.BytesIO(data)
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)
        if claimed_packed_size is not None:
            archive.getinfo(name).compress_size = claimed_packed_size  # written on close
    return out.getvalue()


HANDBOOK = """# Employee handbook

## Parental leave

Employees get sixteen weeks of paid parental leave after six months of service.

## Expenses

Submit receipts within thirty days. Meals are reimbursed up to forty euros a day.
"""


def ingest_now(tenant, name, data, **kwargs):
    """Upload ``data`` and run the pipeline in-process; the version, ready (asserted)."""
    from governance.services import Actor
    from ingest import pipeline, services
    from ingest.models import VersionStatus

    version = services.document_upload(
        tenant=tenant, actor=Actor(label="t"), upload=services.Upload(name, data), enqueue=False, **kwargs
    )
    assert pipeline.index_version_or_fail(version.pk) == VersionStatus.READY
    version.refresh_from_db()
    return version


_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_FILLER_PARAGRAPH = b"<w:p><w:r><w:t>All work and no play makes a dull document.</w:t></w:r></w:p>"


def make_lying_docx(real_size: int, claimed_size: int) -> bytes:
    """A valid DOCX whose word/document.xml inflates to ``real_size`` bytes of paragraphs while its
    central directory and local header claim ``claimed_size``; streamed in 1 MiB, never held whole."""
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    out = io.BytesIO()
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<w:document xmlns:w="{_W_NS}"><w:body>'.encode()
    tail = b"</w:body></w:document>"
    filler = _FILLER_PARAGRAPH * (1024 * 1024 // len(_FILLER_PARAGRAPH))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in source.infolist():
            if item.filename != "word/document.xml":
                archive.writestr(item.filename, source.read(item))
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head)
            for _ in range(max(real_size - len(head) - len(tail), 0) // len(filler)):
                member.write(filler)
            member.write(tail)
        info = archive.getinfo("word/document.xml")
        info.file_size = claimed_size  # what the central directory, written on close, will claim
    # The local header's ZIP64 extra field (forced above) holds the sizes: claim there too.
    with out.getbuffer() as buffer:
        (name_length,) = struct.unpack_from("<H", buffer, info.header_offset + 26)
        extra = info.header_offset + 30 + name_length
        assert struct.unpack_from("<HH", buffer, extra) == (1, 16)  # the ZIP64 field: sizes first
        struct.pack_into("<Q", buffer, extra + 4, claimed_size)
    return out.getvalue()
