"""PDF text per page with pypdf; page numbers kept, outline entries used as headings."""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from ingest.parsing.model import ParseError, ParseLimits
from ingest.parsing.normalize import TextBuilder, single_line

logger = logging.getLogger(__name__)

# What pypdf raises on malformed input besides its own errors.
_PDF_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError)
_MAX_OUTLINE_ENTRIES = 10_000
_MAX_OUTLINE_DEPTH = 16
_TITLE_NOISE = ("Microsoft Word - ", "Microsoft PowerPoint - ")


def parse_pdf(data: bytes, limits: ParseLimits) -> tuple[str | None, TextBuilder]:
    """The title and the text of a PDF, one section (at least) per page."""
    reader = _open(data)
    try:
        page_count = len(reader.pages)
        if page_count > limits.max_pages:
            raise ParseError(
                "too_large", f"This PDF has {page_count} pages; the limit is {limits.max_pages} pages."
            )
        builder = _extract_pages(reader, page_count)
    except FileNotDecryptedError as exc:
        raise _encrypted() from exc
    except _PDF_ERRORS as exc:
        raise _corrupt() from exc
    if not builder.has_text():
        raise ParseError(
            "no_text",
            "This PDF has no text to extract: it is probably scanned images. Tessera does not do OCR "
            "yet; upload a PDF with a text layer (or the original document).",
        )
    return _title(reader), builder


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise _encrypted()
    except DependencyError as exc:
        # An encryption scheme this installation cannot decrypt, even with an empty password.
        raise _encrypted() from exc
    except _PDF_ERRORS as exc:
        raise _corrupt() from exc
    return reader


def _extract_pages(reader: PdfReader, page_count: int) -> TextBuilder:
    headings = _page_headings(reader, page_count)
    builder = TextBuilder()
    for number, page in enumerate(reader.pages, start=1):
        builder.start_section(headings.get(number, ()), page=number)
        builder.add_block(page.extract_text())
    return builder


def _encrypted() -> ParseError:
    return ParseError(
        "encrypted_pdf", "This PDF is password-protected; remove the password and upload it again."
    )


def _corrupt() -> ParseError:
    return ParseError(
        "corrupt_pdf",
        "This PDF is damaged or incomplete, so its text cannot be read; save or export it again and "
        "re-upload it.",
    )


def _title(reader: PdfReader) -> str | None:
    try:
        raw = reader.metadata.title if reader.metadata else None
    except _PDF_ERRORS:
        return None
    title = single_line(str(raw)) if raw else ""
    for noise in _TITLE_NOISE:
        title = title.removeprefix(noise)
    return title or None


def _page_headings(reader: PdfReader, page_count: int) -> dict[int, tuple[str, ...]]:
    """Heading path in force on each 1-based page, from the PDF outline (bookmarks), if any."""
    try:
        entries = list(itertools.islice(_outline_entries(reader, reader.outline, ()), _MAX_OUTLINE_ENTRIES))
    except (*_PDF_ERRORS, RecursionError):
        logger.info("PDF outline unreadable; its pages get no heading path")
        return {}
    entries.sort(key=lambda entry: entry[0])  # stable: outline order within a page
    first_on_page: dict[int, tuple[str, ...]] = {}
    last_on_page: dict[int, tuple[str, ...]] = {}
    for page, path in entries:
        first_on_page.setdefault(page, path)
        last_on_page[page] = path
    headings: dict[int, tuple[str, ...]] = {}
    current: tuple[str, ...] = ()
    for number in range(1, page_count + 1):
        # A chapter usually starts at the top of its page, so the page's first entry applies to it.
        headings[number] = first_on_page.get(number, current)
        current = last_on_page.get(number, current)
    return headings


def _outline_entries(
    reader: PdfReader, outline: Iterable[Any], parent: tuple[str, ...]
) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(1-based page, heading path) for each outline entry; a nested list holds the children of
    the entry before it."""
    last_title: str | None = None
    for item in outline:
        if isinstance(item, list):
            if last_title and len(parent) < _MAX_OUTLINE_DEPTH:
                yield from _outline_entries(reader, item, (*parent, last_title))
            continue
        last_title = single_line(str(item.title or ""))
        page = reader.get_destination_page_number(item)
        if page is not None and last_title:
            yield page + 1, (*parent, last_title)
