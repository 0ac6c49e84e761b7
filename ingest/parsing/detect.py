"""What kind of document some bytes are, by content; the file name only breaks ties."""

from __future__ import annotations

import csv
import re
from pathlib import PurePath

from ingest.parsing.archive import open_zip
from ingest.parsing.decode import DecodedText, decode_text
from ingest.parsing.model import DEFAULT_LIMITS, SUPPORTED_TYPES, ParseError, ParseLimits

_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024  # readers accept a little junk before the header
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_BINARY_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a bitmap image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a media file"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a program"),
    (b"\xcf\xfa\xed\xfe", "a program"),
    (b"\xca\xfe\xba\xbe", "a program"),
    (b"\x00asm", "a program"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc, .xls, .ppt: save it as .docx)"),
    (b"\x1f\x8b", "a compressed archive"),
    (b"BZh", "a compressed archive"),
    (b"\xfd7zXZ\x00", "a compressed archive"),
    (b"7z\xbc\xaf\x27\x1c", "a compressed archive"),
    (b"Rar!\x1a\x07", "a compressed archive"),
    (b"\x28\xb5\x2f\xfd", "a compressed archive"),
    (b"SQLite format 3\x00", "a database"),
    (b"ID3", "an audio file"),
    (b"OggS", "a media file"),
    (b"fLaC", "an audio file"),
)
_RTF_MAGIC = b"{\\rtf"
_HTML_START = re.compile(r"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>])", re.I | re.S)
_HTML_FRAGMENT = re.compile(
    r"^\s*<(div|p|h[1-6]|section|article|main|table|ul|ol|body|head|title|meta)[\s>]", re.I
)
_HTML_TAG = re.compile(r"<(html|head|body|title|p|div|h[1-6]|table|ul|a\s)[\s>]", re.I)
_MD_SIGNS = re.compile(r"^ {0,3}(#{1,6}[ \t]\S|```|~~~)|\]\([^)\s]+\)", re.M)
_RST_SIGNS = re.compile(r"^\.\. [\w:-]+::|^\.\. _[^:]+:|^\S.*\n([=\-~^\"'`#*+:.])\1{2,}[ \t]*$", re.M)
_EXTENSION_KINDS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".rst": "rst",
    ".rest": "rst",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
_BINARY_HEAD = 512
_SNIFF_CHARS = 64 * 1024
_CSV_SNIFF_ROWS = 50


def unsupported(what: str | None = None) -> ParseError:
    """The unsupported_type error, naming what the file looks like when we know."""
    if what:
        reason = f"This file looks like {what}, which Tessera cannot read."
    else:
        reason = "Tessera cannot read this type of file."
    return ParseError("unsupported_type", f"{reason} Supported types: {SUPPORTED_TYPES}.")


def detect(
    data: bytes, filename: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
) -> tuple[str, DecodedText | None]:
    """The document kind and, for text-like kinds, the decoded text (so it is decoded once)."""
    if _is_pdf(data):
        return "pdf", None
    if data.startswith(_ZIP_MAGICS):
        return _detect_zip(data, limits), None
    what = _binary_type(data)
    if what is not None:
        raise unsupported(what)
    decoded = decode_text(data)
    return sniff_text_kind(decoded.text, filename), decoded


def _is_pdf(data: bytes) -> bool:
    """A PDF header at the start, or a little later (readers skip junk) when a PDF trailer ends it."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(_PDF_MAGIC):
        return True
    return _PDF_MAGIC in data[:_PDF_MAGIC_WINDOW] and b"%%EOF" in data[-_PDF_MAGIC_WINDOW:]


def _binary_type(data: bytes) -> str | None:
    """What a known binary format looks like to a person, or None for anything else."""
    if data.startswith(_RTF_MAGIC):
        return "an RTF file (save it as .docx)"
    # A magic made of printable letters ("MZ", "BM", "ID3") could start a text file too:
    # trust it only when the head also holds a NUL byte, as those binaries' headers do.
    has_nul = b"\x00" in data[:_BINARY_HEAD]
    for magic, what in _BINARY_MAGICS:
        if data.startswith(magic) and (has_nul or not _printable(magic)):
            return what
    return None


def _printable(magic: bytes) -> bool:
    return all(0x20 <= byte < 0x7F for byte in magic)


def _detect_zip(data: bytes, limits: ParseLimits) -> str:
    with open_zip(data, limits, what="file") as archive:
        names = set(archive.namelist())
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        raise unsupported("an Excel workbook")
    if "ppt/presentation.xml" in names:
        raise unsupported("a PowerPoint presentation")
    raise unsupported("a ZIP archive that is not a Word document")


def sniff_text_kind(text: str, filename: str | None) -> str:
    """html, csv, markdown, rst or text from the content; the extension decides close calls."""
    head = text[:_SNIFF_CHARS]
    if _HTML_START.match(head):
        return "html"
    by_name = _EXTENSION_KINDS.get(PurePath(filename).suffix.lower()) if filename else None
    if by_name == "html":
        return "html" if _HTML_TAG.search(head) else "text"
    if by_name == "csv":
        return "csv" if sniff_csv_dialect(head) is not None else "text"
    if by_name is not None:
        return by_name
    if _HTML_FRAGMENT.match(head):
        return "html"
    if sniff_csv_dialect(head) is not None:
        return "csv"
    if _MD_SIGNS.search(head):
        return "markdown"
    if _RST_SIGNS.search(head):
        return "rst"
    return "text"


def sniff_csv_dialect(sample: str) -> type[csv.Dialect] | None:
    """The CSV dialect when the sample is a table: 2+ rows, 2+ columns, the same count on each row."""
    lines = sample.splitlines()[:_CSV_SNIFF_ROWS]
    if len(sample) >= _SNIFF_CHARS and len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut sample is partial
    lines = [line for line in lines if line.strip()]
    if len(lines) < 2:
        return None
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|")
        widths = {len(row) for row in csv.reader(lines, dialect)}
    except csv.Error:
        return None
    if len(widths) != 1 or widths.pop() < 2:
        return None
    return dialect
