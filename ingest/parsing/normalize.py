"""Text normalisation and the builder that lays blocks out into text + sections."""

from __future__ import annotations

import re
import unicodedata

from ingest.parsing.model import ParsedDocument, Section

# Line breaks in all their forms become "\n"; other control characters go (tab becomes a space).
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff\ud800-\udfff]")
# Invisible characters that break words apart for search: zero-width space, soft hyphen, stray BOM.
_INVISIBLE = re.compile(r"[\u00ad\u200b\u2060\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")
BLOCK_SEPARATOR = "\n\n"


def normalize_text(text: str) -> str:
    """NFC, "\\n" line ends, no control characters, single spaces, at most one blank line, trimmed."""
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def single_line(text: str) -> str:
    """Normalised text on one line (headings, table cells, CSV values)."""
    return " ".join(normalize_text(text).split())


class HeadingStack:
    """Nested headings by level: a heading closes every open heading of its level or deeper."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> tuple[str, ...]:
        """Open a heading at ``level`` (smaller is outer) and return the new heading path."""
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, title))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._open)


class TextBuilder:
    """Collects normalised blocks into one text, starting sections at headings and pages."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._sections: list[Section] = []
        self._path: tuple[str, ...] = ()
        self._page: int | None = None
        self._section_start: int | None = None
        self._section_end = 0

    def start_section(self, heading_path: tuple[str, ...], page: int | None = None) -> None:
        """Close the current section (if it holds text) and open a new one."""
        self._close_section()
        self._path = heading_path
        self._page = page

    def add_block(self, text: str, *, normalized: bool = False) -> None:
        """Append a paragraph-like block to the current section; blank blocks are skipped."""
        block = text if normalized else normalize_text(text)
        if not block:
            return
        if self._parts:
            self._parts.append(BLOCK_SEPARATOR)
            self._length += len(BLOCK_SEPARATOR)
        if self._section_start is None:
            self._section_start = self._length
        self._parts.append(block)
        self._length += len(block)
        self._section_end = self._length

    def has_text(self) -> bool:
        return self._length > 0

    def build(self, *, kind: str, title: str | None, encoding: str | None) -> ParsedDocument:
        """The finished document; the builder should not be used afterwards."""
        self._close_section()
        return ParsedDocument(
            kind=kind,
            title=title or None,
            text="".join(self._parts),
            sections=list(self._sections),
            encoding=encoding,
        )

    def _close_section(self) -> None:
        if self._section_start is not None:
            self._sections.append(Section(self._path, self._page, self._section_start, self._section_end))
        self._section_start = None
