"""HTML main text with BeautifulSoup: boilerplate dropped, h1-h6 build heading paths."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, Tag

from ingest.parsing.normalize import HeadingStack, TextBuilder, single_line

_DROPPED = (
    "script", "style", "nav", "header", "footer", "aside", "form", "noscript", "svg",
    "template", "iframe", "object", "embed", "canvas", "button", "select", "math",
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = frozenset({
    "p", "div", "section", "article", "main", "blockquote", "pre", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tfoot", "tr", "caption", "figure", "figcaption", "address", "details",
    "summary", "hr", "br", "body", "html",
})  # fmt: skip
_CELLS = frozenset({"td", "th"})
_WHITESPACE = re.compile(r"\s+")


@dataclass
class _Walk:
    """State of one pass over the tree: the inline text collected since the last block boundary."""

    builder: TextBuilder = field(default_factory=TextBuilder)
    headings: HeadingStack = field(default_factory=HeadingStack)
    inline: list[str] = field(default_factory=list)
    pre_depth: int = 0

    def flush(self) -> None:
        text = "".join(self.inline)
        self.inline.clear()
        self.builder.add_block(text if self.pre_depth else _WHITESPACE.sub(" ", text))


def parse_html(text: str) -> tuple[str | None, TextBuilder]:
    """The title and main text of an HTML page; markup is never kept."""
    soup = BeautifulSoup(text, "lxml")
    for tag in [*soup.find_all(_DROPPED), *soup.find_all(True, attrs={"hidden": True})]:
        if not tag.decomposed:
            tag.decompose()
    title = _title(soup)
    root = soup.find("main") or soup.body or soup
    walk = _Walk()
    _walk(root, walk)
    walk.flush()
    return title, walk.builder


def _title(soup: BeautifulSoup) -> str | None:
    for tag in (soup.title, soup.find("h1")):
        if tag is not None and single_line(tag.get_text(" ")):
            return single_line(tag.get_text(" "))
    return None


def _walk(root: PageElement, walk: _Walk) -> None:
    """Depth-first, without recursion (deeply nested pages must not blow the stack)."""
    stack: list[tuple[PageElement, bool]] = [(root, True)]
    while stack:
        node, entering = stack.pop()
        if isinstance(node, NavigableString):
            if type(node) is NavigableString:  # not a Comment, Doctype, CData or processing instruction
                walk.inline.append(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        if node.name in _HEADINGS:
            if entering:
                _heading(node, walk)
            continue
        if entering:
            _enter(node, walk)
            stack.append((node, False))
            stack.extend((child, True) for child in reversed(node.contents))
        else:
            _leave(node, walk)


def _heading(tag: Tag, walk: _Walk) -> None:
    walk.flush()
    heading = single_line(tag.get_text(" "))
    if heading:
        walk.builder.start_section(walk.headings.push(_HEADINGS[tag.name], heading))
        walk.builder.add_block(heading, normalized=True)


def _enter(tag: Tag, walk: _Walk) -> None:
    if tag.name in _BLOCKS:
        walk.flush()
    if tag.name == "pre":
        walk.pre_depth += 1
    if tag.name in _CELLS and tag.find_previous_sibling(_CELLS) is not None:
        walk.inline.append(" | ")


def _leave(tag: Tag, walk: _Walk) -> None:
    if tag.name in _BLOCKS:
        walk.flush()
    if tag.name == "pre":
        walk.pre_depth -= 1
