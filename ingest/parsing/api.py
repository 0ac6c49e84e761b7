"""parse_document: size check, detection by content, the parser for the kind, errors made clear."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ingest.parsing.decode import DecodedText
from ingest.parsing.detect import detect
from ingest.parsing.markdown import parse_markdown
from ingest.parsing.markup import parse_html
from ingest.parsing.model import (
    DEFAULT_LIMITS,
    KIND_NAMES,
    ParsedDocument,
    ParseError,
    ParseLimits,
    megabytes,
)
from ingest.parsing.normalize import TextBuilder
from ingest.parsing.office import parse_docx
from ingest.parsing.pdf import parse_pdf
from ingest.parsing.rst import parse_rst
from ingest.parsing.tabular import parse_csv

logger = logging.getLogger(__name__)

_Extracted = tuple[str | None, TextBuilder]


def _parse_plain(text: str) -> _Extracted:
    builder = TextBuilder()
    builder.add_block(text)
    return None, builder


_BINARY_PARSERS: dict[str, Callable[[bytes, ParseLimits], _Extracted]] = {
    "pdf": parse_pdf,
    "docx": parse_docx,
}
_TEXT_PARSERS: dict[str, Callable[[str], _Extracted]] = {
    "html": parse_html,
    "markdown": parse_markdown,
    "rst": parse_rst,
    "csv": parse_csv,
    "text": _parse_plain,
}


def detect_kind(data: bytes, filename: str | None = None) -> str:
    """The document kind by content; the extension only decides between text-like kinds."""
    with _library_errors_as_parse_errors(None):
        return detect(data, filename)[0]


def parse_document(
    data: bytes, filename: str | None = None, *, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    """Normalised text with sections, or ParseError (code + message) for anything unreadable."""
    if len(data) > limits.max_bytes:
        raise ParseError(
            "too_large",
            f"This file is {megabytes(len(data))}; the limit is {megabytes(limits.max_bytes)}. "
            "Split it into smaller documents.",
        )
    if not data.strip():
        raise _no_text()
    with _library_errors_as_parse_errors(None):
        kind, decoded = detect(data, filename, limits)
    with _library_errors_as_parse_errors(kind):
        title, builder = _extract(kind, data, decoded, limits)
    if not builder.has_text():
        raise _no_text()
    return builder.build(kind=kind, title=title, encoding=decoded.encoding if decoded else None)


@contextmanager
def _library_errors_as_parse_errors(kind: str | None) -> Iterator[None]:
    """The caller sees ParseError only: a parser library failing on bad input is the file's fault."""
    try:
        yield
    except ParseError:
        raise
    except MemoryError as exc:
        raise ParseError("too_large", "This document needs too much memory to read; split it.") from exc
    except Exception as exc:
        logger.info("parsing a %s document failed: %s", kind or "new", type(exc).__name__)
        what = f"This {KIND_NAMES[kind]} file" if kind else "This file"
        raise ParseError(
            "corrupt_file",
            f"{what} could not be read; it may be damaged. Save or export it again and re-upload it.",
        ) from exc


def _extract(kind: str, data: bytes, decoded: DecodedText | None, limits: ParseLimits) -> _Extracted:
    if decoded is None:
        return _BINARY_PARSERS[kind](data, limits)
    return _TEXT_PARSERS[kind](decoded.text)


def _no_text() -> ParseError:
    return ParseError("no_text", "This document is empty: there is no text in it to index.")
