"""Markdown: ATX (#) and setext headings build heading paths; fenced code is text, never headings."""

from __future__ import annotations

import re

from ingest.parsing.normalize import HeadingStack, TextBuilder, single_line

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER = re.compile(r"^-{3}[ \t]*$")
_FRONT_MATTER_END = re.compile(r"^(-{3}|\.{3})[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.I)
_FRONT_MATTER_MAX_LINES = 200
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(.+?)\1")


class _MarkdownReader:
    """Line by line: body lines collect until the next heading closes them into a block."""

    def __init__(self) -> None:
        self.builder = TextBuilder()
        self.headings = HeadingStack()
        self.body: list[str] = []
        self.fence: str | None = None
        self.first_heading: str | None = None

    def feed(self, line: str) -> None:
        if self.fence is not None:
            if line.strip().startswith(self.fence) and not line.strip().strip(self.fence[0]):
                self.fence = None
            else:
                self.body.append(line)
            return
        if fence := _FENCE.match(line):
            self.fence = fence.group(1)
        elif atx := _ATX.match(line):
            self.heading(len(atx.group(1)), atx.group(2) or "")
        elif (setext := _SETEXT.match(line)) and self.body and self.body[-1].strip():
            self.heading(1 if setext.group(1)[0] == "=" else 2, self.body.pop())
        else:
            self.body.append(line)

    def heading(self, level: int, raw: str) -> None:
        title = single_line(_EMPHASIS.sub(r"\2", _LINK.sub(r"\1", raw)))
        if not title:
            return
        self.flush()
        self.builder.start_section(self.headings.push(level, title))
        self.builder.add_block(title, normalized=True)
        self.first_heading = self.first_heading or title

    def flush(self) -> None:
        self.builder.add_block("\n".join(self.body))
        self.body.clear()


def parse_markdown(text: str) -> tuple[str | None, TextBuilder]:
    """The title (front matter or first heading) and the text of a Markdown document."""
    lines = text.splitlines()
    title, lines = _front_matter(lines)
    reader = _MarkdownReader()
    for line in lines:
        reader.feed(line)
    reader.flush()
    return title or reader.first_heading, reader.builder


def _front_matter(lines: list[str]) -> tuple[str | None, list[str]]:
    """A leading YAML block (between --- lines) is metadata: keep only its title."""
    if not lines or not _FRONT_MATTER.match(lines[0]):
        return None, lines
    for end in range(1, min(len(lines), _FRONT_MATTER_MAX_LINES)):
        if _FRONT_MATTER_END.match(lines[end]):
            titles = [m.group(1) for line in lines[1:end] if (m := _FRONT_MATTER_TITLE.match(line))]
            title = single_line(titles[0].strip("\"'")) if titles else ""
            return title or None, lines[end + 1 :]
    return None, lines
