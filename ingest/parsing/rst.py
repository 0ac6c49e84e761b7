"""reStructuredText: section titles (underlined, maybe overlined) nest by first appearance of each style."""

from __future__ import annotations

import re

from ingest.parsing.normalize import HeadingStack, TextBuilder, single_line

# One punctuation character repeated: the adornment under (and maybe over) a section title.
_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+[ \t]*$")
_MIN_ADORNMENT = 4  # docutils accepts a shorter underline than the title from this length on


class _RstReader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.builder = TextBuilder()
        self.headings = HeadingStack()
        self.styles: list[tuple[str, bool]] = []
        self.body: list[str] = []
        self.first_title: str | None = None

    def read(self) -> None:
        index = 0
        while index < len(self.lines):
            index += self._title_at(index) or self._body_at(index)
        self.flush()

    def _body_at(self, index: int) -> int:
        self.body.append(self.lines[index])
        return 1

    def _title_at(self, index: int) -> int:
        """Lines consumed by a section title starting at ``index``, or 0 when there is none."""
        lines = self.lines
        if index > 0 and lines[index - 1].strip():
            return 0
        line = lines[index]
        if _ADORNMENT.match(line):
            if (
                index + 2 < len(lines)
                and lines[index + 2].strip() == line.strip()
                and _is_title(lines[index + 1], lines[index + 2], indent_ok=True)
            ):
                self.section(line.strip()[0], overlined=True, title=lines[index + 1])
                return 3
            return 0
        if index + 1 < len(lines) and _is_title(line, lines[index + 1], indent_ok=False):
            self.section(lines[index + 1].strip()[0], overlined=False, title=line)
            return 2
        return 0

    def section(self, char: str, *, overlined: bool, title: str) -> None:
        style = (char, overlined)
        if style not in self.styles:
            self.styles.append(style)
        heading = single_line(title)
        self.flush()
        self.builder.start_section(self.headings.push(self.styles.index(style), heading))
        self.builder.add_block(heading, normalized=True)
        self.first_title = self.first_title or heading

    def flush(self) -> None:
        self.builder.add_block("\n".join(self.body))
        self.body.clear()


def _is_title(title: str, underline: str, *, indent_ok: bool) -> bool:
    text = title.strip()
    if not text or _ADORNMENT.match(title) or (title[0].isspace() and not indent_ok):
        return False
    adornment = underline.strip()
    return bool(_ADORNMENT.match(underline)) and len(adornment) >= min(len(text), _MIN_ADORNMENT)


def parse_rst(text: str) -> tuple[str | None, TextBuilder]:
    """The title (first section title) and the text of a reStructuredText document."""
    reader = _RstReader(text.splitlines())
    reader.read()
    return reader.first_title, reader.builder
