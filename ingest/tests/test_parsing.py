"""ingest.parsing: every fixture is generated in memory (ingest.tests.builders, zipfile)."""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from ingest.parsing import KINDS, ParsedDocument, ParseError, ParseLimits, detect_kind, parse_document
from ingest.parsing import api as parsing_api
from ingest.parsing.model import DEFAULT_LIMITS
from ingest.parsing.normalize import normalize_text
from ingest.tests.builders import (
    add_zip_member,
    encrypt_pdf,
    make_docx,
    make_pdf,
    make_rich_docx,
    rewrite_zip,
)

# ---------------------------------------------------------------------------------------------
# fixtures


def section_texts(doc: ParsedDocument) -> list[tuple[tuple[str, ...], int | None, str]]:
    return [(s.heading_path, s.page, doc.text[s.start : s.end]) for s in doc.sections]


def assert_well_formed(doc: ParsedDocument) -> None:
    """Sections: in order, non-overlapping, trimmed, covering every non-blank character."""
    assert doc.kind in KINDS
    assert doc.sections
    assert doc.text == normalize_text(doc.text)
    position = 0
    for section in doc.sections:
        assert position <= section.start < section.end <= len(doc.text)
        assert doc.text[position : section.start].strip() == ""
        body = doc.text[section.start : section.end]
        assert body == body.strip()
        position = section.end
    assert doc.text[position:].strip() == ""


def parse_error(data: bytes, filename: str | None = None, limits: ParseLimits = DEFAULT_LIMITS) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_document(data, filename, limits=limits)
    assert caught.value.message
    return caught.value


# ---------------------------------------------------------------------------------------------
# PDF


def test_pdf_pages_are_sections_with_page_numbers():
    data = make_pdf(
        [["First page says hello."], ["Second page, more text."], ["Third and last."]], title="Guide"
    )
    doc = parse_document(data, "guide.pdf")
    assert_well_formed(doc)
    assert (doc.kind, doc.title, doc.encoding) == ("pdf", "Guide", None)
    assert section_texts(doc) == [
        ((), 1, "First page says hello."),
        ((), 2, "Second page, more text."),
        ((), 3, "Third and last."),
    ]


def test_pdf_outline_gives_heading_paths():
    doc = parse_document(make_pdf([["one"], ["two"]], outline=True))
    assert [(s.heading_path, s.page) for s in doc.sections] == [(("Chapter 1",), 1), (("Chapter 2",), 2)]


def test_nested_pdf_outline_gives_nested_heading_paths():
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["intro"], ["trains"], ["planes"]]))))
    part = writer.add_outline_item(title="Travel", page_number=0)
    writer.add_outline_item(title="Rail", page_number=1, parent=part)
    writer.add_outline_item(title="Air", page_number=2, parent=part)
    out = io.BytesIO()
    writer.write(out)
    doc = parse_document(out.getvalue())
    assert [(s.heading_path, s.page) for s in doc.sections] == [
        (("Travel",), 1),
        (("Travel", "Rail"), 2),
        (("Travel", "Air"), 3),
    ]


def test_pdfs_parse_side_by_side_in_threads():
    # PDFium is not thread-safe: the parser serialises calls into it (a web server parses uploads
    # in several threads).
    files = [make_pdf([[f"Document {i} page one."], [f"Document {i} page two."]]) for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(lambda data: parse_document(data, "x.pdf").text, files * 4))
    assert texts == [f"Document {i} page one.\n\nDocument {i} page two." for i in range(8)] * 4


def test_pdf_blank_page_gets_no_section():
    doc = parse_document(make_pdf([["text"], [], ["more"]]))
    assert [s.page for s in doc.sections] == [1, 3]


def test_encrypted_pdf_is_refused():
    error = parse_error(encrypt_pdf(make_pdf([["secret"]]), "s3cret"))
    assert error.code == "encrypted_pdf"
    assert "password" in error.message


def test_pdf_with_empty_user_password_is_read():
    doc = parse_document(encrypt_pdf(make_pdf([["owner-only protection"]]), ""))
    assert doc.text == "owner-only protection"


@pytest.mark.parametrize(
    "mangle",
    [lambda data: data[: len(data) // 2], lambda data: b"%PDF-1.7\n" + bytes(range(256)) * 4],
    ids=["truncated", "garbage"],
)
def test_corrupt_pdf_is_refused(mangle):
    assert parse_error(mangle(make_pdf([["hello"], ["world"]]))).code == "corrupt_pdf"


def test_pdf_without_text_says_ocr_is_needed():
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.rect(100, 100, 200, 300, fill=1)
    pdf.showPage()
    pdf.save()
    error = parse_error(buffer.getvalue())
    assert error.code == "no_text"
    assert "OCR" in error.message


def test_pdf_over_the_page_limit_is_refused():
    error = parse_error(make_pdf([["a"], ["b"], ["c"]]), limits=ParseLimits(max_pages=2))
    assert error.code == "too_large"
    assert "3 pages" in error.message


# ---------------------------------------------------------------------------------------------
# DOCX


def test_docx_headings_and_table():
    doc = parse_document(make_docx(), "handbook.docx")
    assert_well_formed(doc)
    assert (doc.kind, doc.title, doc.encoding) == ("docx", "Employee Handbook", None)
    assert section_texts(doc) == [
        (("Benefits",), None, "Benefits\n\nEveryone gets benefits."),
        (
            ("Benefits", "Parental leave"),
            None,
            "Parental leave\n\nSixteen weeks, fully paid.\n\nCountry | Weeks\nFrance | 16",
        ),
        (("Travel",), None, "Travel\n\nBook through the portal."),
    ]


def test_a_placeholder_pdf_title_is_no_title():
    assert parse_document(make_pdf([["Some text."]])).title is None  # ReportLab's "untitled"
    assert parse_document(make_pdf([["Some text."]], title="Untitled Document")).title is None


def test_docx_title_falls_back_to_first_heading():
    assert parse_document(make_docx(with_title=False)).title == "Benefits"


def test_docx_zip_bomb_is_refused_before_opening():
    bomb = add_zip_member(make_docx(), "word/media/zeros.bin", 300 * 1024 * 1024)
    assert len(bomb) < 2 * 1024 * 1024
    error = parse_error(bomb)
    assert error.code == "zip_bomb"
    assert "the limit is 200 MB" in error.message


def test_docx_compression_ratio_limit():
    data = add_zip_member(make_docx(), "word/media/zeros.bin", 8 * 1024 * 1024)
    assert parse_error(data).code == "zip_bomb"
    assert parse_document(data, limits=ParseLimits(max_compression_ratio=10_000)).kind == "docx"


def test_small_uncompressed_limit_refuses_a_normal_docx():
    assert parse_error(make_docx(), limits=ParseLimits(max_uncompressed_bytes=1000)).code == "zip_bomb"


def test_zip_that_is_not_a_docx_is_unsupported():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    error = parse_error(out.getvalue(), "notes.docx")
    assert error.code == "unsupported_type"
    assert "Supported types" in error.message


def test_xlsx_is_unsupported():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    assert "Excel" in parse_error(out.getvalue()).message


def test_broken_zip_is_corrupt_file():
    assert parse_error(make_docx()[:300]).code == "corrupt_file"


def test_docx_with_broken_xml_is_corrupt_file_from_the_cause():
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for item in source.infolist():
            content = b"<w:document" if item.filename == "word/document.xml" else source.read(item)
            archive.writestr(item, content)
    error = parse_error(out.getvalue())
    assert error.code == "corrupt_file"
    assert error.__cause__ is not None


def test_docx_text_reads_runs_hyperlinks_and_merged_cells_as_python_docx_did():
    doc = parse_document(make_rich_docx(), "rich.docx")
    assert_well_formed(doc)
    assert doc.title == "Rich"
    assert section_texts(doc) == [
        (("Overview",), None, "Overview"),
        (
            ("Overview", "Details"),
            None,
            "Details\n\nTab line\npageend\n- link\n\n"
            "r0c0 r0c1 | r0c2 r1c2 r2c2\n"
            "r1c0 second paragraph | r1c1 | r0c2 r1c2 r2c2\n"
            "r2c0 | r2c1 | r0c2 r1c2 r2c2",
        ),
        (("Overview", "Details", "Heading-styled"), None, "Heading-styled"),
    ]


def docx_member(data: bytes, name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(name)


def without_relationship(rels: bytes, type_name: str) -> bytes:
    return re.sub(rb'<Relationship [^>]*/%s"[^>]*/>' % type_name.encode(), b"", rels)


def test_docx_heading_levels_come_from_style_names_not_ids():
    """Localised Word names the heading style ids in the user's language; the style's name is fixed."""
    data = make_docx()
    styles = docx_member(data, "word/styles.xml").replace(b'w:styleId="Heading1"', b'w:styleId="berschrift1"')
    late = b'<w:style w:type="paragraph" w:styleId="Late"><w:name w:val="heading 3"/></w:style>'
    duplicate = b'<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="Normal"/></w:style>'
    styles = styles.replace(b"</w:styles>", duplicate + late + b"</w:styles>")  # past the first chunks
    body = docx_member(data, "word/document.xml").replace(b'w:val="Heading1"', b'w:val="berschrift1"')
    body = body.replace(
        b"<w:p><w:r><w:t>Everyone", b'<w:p><w:pPr><w:pStyle w:val="Late"/></w:pPr><w:r><w:t>Everyone'
    )
    doc = parse_document(rewrite_zip(data, {"word/styles.xml": styles, "word/document.xml": body}))
    assert [s.heading_path for s in doc.sections] == [
        ("Benefits",),
        ("Benefits", "Everyone gets benefits."),
        ("Benefits", "Parental leave"),
        ("Travel",),
    ]


def test_docx_without_styles_part_has_text_but_no_headings():
    data = make_docx()
    rels = without_relationship(docx_member(data, "word/_rels/document.xml.rels"), "styles")
    doc = parse_document(rewrite_zip(data, {"word/_rels/document.xml.rels": rels, "word/styles.xml": None}))
    assert [s.heading_path for s in doc.sections] == [()]
    assert doc.text.startswith("Benefits\n\nEveryone gets benefits.")


def test_docx_without_core_properties_takes_the_first_heading_as_title():
    rels = without_relationship(docx_member(make_docx(), "_rels/.rels"), "core-properties")
    data = rewrite_zip(make_docx(), {"_rels/.rels": rels, "docProps/core.xml": None})
    assert parse_document(data).title == "Benefits"


def test_docx_that_is_a_macro_enabled_document_is_refused():
    types = docx_member(make_docx(), "[Content_Types].xml").replace(
        b"wordprocessingml.document.main+xml", b"wordprocessingml.template.main+xml"
    )
    error = parse_error(rewrite_zip(make_docx(), {"[Content_Types].xml": types}))
    assert error.code == "corrupt_file"
    assert "macro-enabled" in error.message


@pytest.mark.parametrize("member", ["word/styles.xml", "[Content_Types].xml", "_rels/.rels"])
def test_docx_with_a_broken_package_part_is_corrupt_file(member):
    data = make_docx()
    error = parse_error(rewrite_zip(data, {member: docx_member(data, member)[:200]}))
    assert error.code == "corrupt_file"
    assert error.__cause__ is not None


def test_docx_whose_main_part_is_not_a_document_is_corrupt_file():
    error = parse_error(rewrite_zip(make_docx(), {"word/document.xml": b"<notes>hello</notes>"}))
    assert (error.code, error.__cause__) == ("corrupt_file", None)


def test_docx_vertical_merge_without_a_first_cell_is_corrupt_file():
    data = make_docx()
    body = docx_member(data, "word/document.xml")
    first_cell = body.index(b"<w:tc>") + len(b"<w:tc>")
    body = body[:first_cell] + b"<w:tcPr><w:vMerge/></w:tcPr>" + body[first_cell:]
    error = parse_error(rewrite_zip(data, {"word/document.xml": body}))
    assert error.code == "corrupt_file"
    assert "merged table cell" in error.message


# ---------------------------------------------------------------------------------------------
# HTML, Markdown, reStructuredText


HTML = b"""<!DOCTYPE html>
<html><head><title>Travel policy</title><style>p { color: red }</style>
<script>alert("nope")</script></head>
<body><nav><a href="/">Home</a> | <a href="/hr">HR</a></nav>
<header>Company intranet</header>
<h1>Travel</h1><p>Book   trains
first.</p>
<h2>Hotels</h2><p>Up to <b>120&nbsp;EUR</b> a night.</p><!-- a comment -->
<table><tr><th>City</th><th>Cap</th></tr><tr><td>Paris</td><td>150</td></tr></table>
<form><input name="q"><button>Search</button></form>
<h2>Meals</h2><ul><li>Breakfast included</li><li>Dinner: 30 EUR</li></ul>
<footer>(c) Company</footer></body></html>"""


def test_html_main_text_and_headings():
    doc = parse_document(HTML, "travel.html")
    assert_well_formed(doc)
    assert (doc.kind, doc.title, doc.encoding) == ("html", "Travel policy", "utf-8")
    assert section_texts(doc) == [
        (("Travel",), None, "Travel\n\nBook trains first."),
        (("Travel", "Hotels"), None, "Hotels\n\nUp to 120 EUR a night.\n\nCity | Cap\n\nParis | 150"),
        (("Travel", "Meals"), None, "Meals\n\nBreakfast included\n\nDinner: 30 EUR"),
    ]
    for dropped in ("alert", "color", "Home", "intranet", "Search", "Company", "comment", "<"):
        assert dropped not in doc.text


def test_html_main_element_hidden_parts_and_ruby_annotations():
    page = (
        "<body><p>Outside main</p><main><h1>Lunch<span hidden>secret</span>menu</h1>"
        "<p>Soup<!-- not text -->of the day: <ruby>漢<rp>(</rp><rt>kan</rt><rp>)</rp></ruby></p>"
        '<div hidden="hidden">Draft</div><h2>Spicy<?pi x?>food</h2><p>Curry</p></main></body>'
    )
    doc = parse_document(page.encode(), "lunch.html")
    assert doc.title == "Lunch menu"  # pieces split by a removed element or a comment are spaced
    assert section_texts(doc) == [
        (("Lunch menu",), None, "Lunch menu\n\nSoupof the day: 漢"),
        (("Lunch menu", "Spicy food"), None, "Spicy food\n\nCurry"),
    ]


def test_xhtml_with_an_xml_declaration_is_read():
    page = b'<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Hi</p></body></html>'
    assert parse_document(page, "page.xhtml").text == "Hi"


MARKDOWN = """---
title: Onboarding guide
---
Welcome aboard.

# Setup

Install the tools.

## Laptop

```bash
# this is a comment, not a heading
make install
```

## Accounts ##

Ask IT.

Security
========

Use a password manager.
"""


def test_markdown_nested_headings_and_fences():
    doc = parse_document(MARKDOWN.encode(), "onboarding.md")
    assert_well_formed(doc)
    assert (doc.kind, doc.title) == ("markdown", "Onboarding guide")
    assert section_texts(doc) == [
        ((), None, "Welcome aboard."),
        (("Setup",), None, "Setup\n\nInstall the tools."),
        (("Setup", "Laptop"), None, "Laptop\n\n# this is a comment, not a heading\nmake install"),
        (("Setup", "Accounts"), None, "Accounts\n\nAsk IT."),
        (("Security",), None, "Security\n\nUse a password manager."),
    ]


RST = """=============
Expense rules
=============

How to claim.

Receipts
========

Keep them.

Lost receipts
-------------

Write a note.

Deadlines
=========

Claim within 30 days.
"""


def test_rst_section_levels_by_first_appearance():
    doc = parse_document(RST.encode(), "expenses.rst")
    assert_well_formed(doc)
    assert (doc.kind, doc.title) == ("rst", "Expense rules")
    assert section_texts(doc) == [
        (("Expense rules",), None, "Expense rules\n\nHow to claim."),
        (("Expense rules", "Receipts"), None, "Receipts\n\nKeep them."),
        (("Expense rules", "Receipts", "Lost receipts"), None, "Lost receipts\n\nWrite a note."),
        (("Expense rules", "Deadlines"), None, "Deadlines\n\nClaim within 30 days."),
    ]


# ---------------------------------------------------------------------------------------------
# CSV and plain text


def test_csv_rows_become_records_with_the_header():
    data = '\ufeffname;team;start\r\nAda;Core;2021\r\nLinus;"Ops; infra";2022\r\n'.encode()
    doc = parse_document(data, "people.csv")
    assert_well_formed(doc)
    assert (doc.kind, doc.encoding) == ("csv", "utf-8")
    assert section_texts(doc) == [
        (
            ("Rows 2-3",),
            None,
            "name: Ada; team: Core; start: 2021\nname: Linus; team: Ops; infra; start: 2022",
        )
    ]


def test_csv_sections_of_fifty_rows():
    lines = ["id,city"] + [f"{n},City {n}" for n in range(1, 121)]
    doc = parse_document("\n".join(lines).encode())
    assert doc.kind == "csv"
    assert [s.heading_path for s in doc.sections] == [("Rows 2-51",), ("Rows 52-101",), ("Rows 102-121",)]
    assert doc.text[doc.sections[-1].start :].startswith("id: 101; city: City 101")


LATIN1 = (
    "Le comité a approuvé la prime de fin d'année. Les employés reçoivent leur bulletin à la fin "
    "du mois ; la crème brûlée de la cantine reste très appréciée. Où déposer les notes de frais ? "
    "Au secrétariat, près de l'entrée.\n"
)


def test_latin1_text_is_decoded():
    doc = parse_document(LATIN1.encode("latin-1"), "note.txt")
    assert (doc.kind, doc.text) == ("text", LATIN1.strip())
    assert doc.encoding in ("cp1252", "iso8859-1", "iso8859-15")


@pytest.mark.parametrize(("codec", "expected"), [("utf-16", "utf-16-le"), ("utf-16-be", "utf-16-be")])
def test_utf16_text_is_decoded(codec, expected):
    text = "Grüße aus Zürich — 東京 too.\r\nSecond line."
    data = text.encode(codec) if codec == "utf-16" else b"\xfe\xff" + text.encode(codec)
    doc = parse_document(data)
    assert (doc.text, doc.encoding) == ("Grüße aus Zürich — 東京 too.\nSecond line.", expected)


def test_text_is_normalised():
    raw = "Cafe\u0301\x00  and\t\ttea\r\n\r\n\r\n\r\nnext\u200b line  \n".encode()
    doc = parse_document(raw)
    assert doc.text == "Café and tea\n\nnext line"
    assert section_texts(doc) == [((), None, "Café and tea\n\nnext line")]


def test_pdf_name_on_plain_text_is_text():
    assert parse_document(b"Just some notes.", "report.pdf").kind == "text"
    assert detect_kind(b"Just some notes.", "report.pdf") == "text"


def test_deeply_nested_html_does_not_overflow_the_stack():
    doc = parse_document(("<div>" * 5000 + "deep text" + "</div>" * 5000).encode())
    assert (doc.kind, doc.text) == ("html", "deep text")


# ---------------------------------------------------------------------------------------------
# detection and refusals


@pytest.mark.parametrize(
    ("data", "filename", "kind"),
    [
        (b"%PDF-1.4 ...", "x.txt", "pdf"),
        (b"junk\n%PDF-1.4 ...\n%%EOF\n", None, "pdf"),
        (b"A PDF file starts with %PDF- and a version.", None, "text"),
        (b"<!doctype html><p>hi</p>", None, "html"),
        (b"<p>hi</p>", "page.htm", "html"),
        (b"<div><p>fragment</p></div>", None, "html"),
        (b'<div align="center">logo</div>\n\n# Readme', "README.md", "markdown"),
        (b"# Title\n\ntext", None, "markdown"),
        (b"# Title\n\ntext", "notes.txt", "text"),
        (b"Title\n=====\n\n.. note:: hi\n", None, "rst"),
        (b"a,b\n1,2\n3,4\n", None, "csv"),
        (b"Hello, world. This is prose, with commas.\nAnd more.\n", None, "text"),
        (b"MZ is a company name, not a program.", None, "text"),
    ],
)
def test_detect_kind_by_content(data, filename, kind):
    assert detect_kind(data, filename) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
        b"\x7fELF\x02\x01\x01\x00" + bytes(64),
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64),
        bytes(range(256)) * 16,
    ],
    ids=["png", "elf", "legacy-office", "random-binary"],
)
def test_binaries_are_unsupported(data):
    error = parse_error(data, "looks-fine.txt")
    assert error.code == "unsupported_type"
    assert "PDF, Word (.docx), HTML, Markdown" in error.message
    with pytest.raises(ParseError):
        detect_kind(data)


@pytest.mark.parametrize("data", [b"", b" \n\t\r\n ", "\ufeff  \n".encode(), b"<html><body> </body></html>"])
def test_empty_documents_have_no_text(data):
    assert parse_error(data).code == "no_text"


def test_oversized_input_is_too_large():
    error = parse_error(b"x" * (2 * 1024 * 1024 + 1), limits=ParseLimits(max_bytes=2 * 1024 * 1024))
    assert error.code == "too_large"
    assert "2 MB" in error.message


def test_parse_error_survives_pickling():
    error = pickle.loads(pickle.dumps(ParseError("no_text", "Nothing to read.")))  # noqa: S301
    assert (error.code, error.message, str(error)) == (
        "no_text",
        "Nothing to read.",
        "no_text: Nothing to read.",
    )


def test_unexpected_library_error_becomes_corrupt_file(monkeypatch):
    def broken_parser(text):
        raise RuntimeError("library bug")

    monkeypatch.setitem(parsing_api._TEXT_PARSERS, "markdown", broken_parser)
    error = parse_error(b"# Title\n\ntext", "notes.md")
    assert (error.code, type(error.__cause__)) == ("corrupt_file", RuntimeError)
    assert error.message.startswith("This Markdown file could not be read")
