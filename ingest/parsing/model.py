"""The parsing results, limits and the one error every parser raises."""

from __future__ import annotations

from dataclasses import dataclass

KINDS: tuple[str, ...] = ("pdf", "docx", "html", "markdown", "rst", "text", "csv")
TEXT_KINDS: frozenset[str] = frozenset({"html", "markdown", "rst", "text", "csv"})
KIND_NAMES = {
    "pdf": "PDF",
    "docx": "Word",
    "html": "HTML",
    "markdown": "Markdown",
    "rst": "reStructuredText",
    "text": "text",
    "csv": "CSV",
}
SUPPORTED_TYPES = "PDF, Word (.docx), HTML, Markdown, reStructuredText, plain text and CSV"


@dataclass(frozen=True, slots=True)
class Section:
    """A run of ParsedDocument.text under one heading path (and, for PDFs, on one page)."""

    heading_path: tuple[str, ...]
    page: int | None
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """Normalised text of one document and the sections that cover it in order.

    Sections do not overlap, are in text order and together hold every non-blank character
    of ``text``; ``text[s.start:s.end]`` has no leading or trailing whitespace. The blank
    lines between sections belong to none of them.
    """

    kind: str
    title: str | None
    text: str
    sections: list[Section]
    encoding: str | None


class ParseError(Exception):
    """A document that cannot be read, with a stable ``code`` and a message for the admin."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)  # both in args, so the error survives pickling (Celery)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Upper bounds that keep hostile or pathological files from exhausting a worker.

    The ZIP bounds (a DOCX's container) hold for the bytes parts really inflate to, counted while
    they are read, not only for the sizes their headers claim (``ingest.parsing.archive``)."""

    max_bytes: int = 50 * 1024 * 1024
    max_uncompressed_bytes: int = 200 * 1024 * 1024  # a ZIP's parts, all together
    max_member_bytes: int = 100 * 1024 * 1024  # one part of a ZIP that is read
    max_compression_ratio: float = 100.0  # a ZIP's, and each part's over 1 MB
    max_zip_members: int = 10_000
    max_pages: int = 5000


DEFAULT_LIMITS = ParseLimits()


def megabytes(size: int) -> str:
    """A size in MB for messages: '50 MB', '0.5 MB'."""
    value = size / (1024 * 1024)
    return f"{value:.0f} MB" if value >= 10 else f"{value:.2g} MB"
