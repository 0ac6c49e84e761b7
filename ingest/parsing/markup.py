"""HTML main text from lxml's HTML parser: boilerplate dropped, h1-h6 build heading paths.

The parser feeds a small tree of our own (a parser target) that leaves the boilerplate out as it
goes. It used to feed BeautifulSoup, whose tree and searches cost more than the parsing; the text
is the same: comments, processing instructions and ruby annotations (rt, rp) are not text.
lxml's own tree is not used because it silently drops everything nested deeper than 256 levels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

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
# Ruby annotations (pronunciation) are not the text itself; BeautifulSoup left them out too.
_ANNOTATIONS = frozenset({"rt", "rp"})
_WHITESPACE = re.compile(r"\s+")


class _Node:
    """An element as the walk needs it: its tag and children (elements and runs of text)."""

    __slots__ = ("after_cell", "children", "has_cell", "tag")

    def __init__(self, tag: str, *, after_cell: bool = False) -> None:
        self.tag = tag
        self.children: list[_Node | str] = []
        self.after_cell = after_cell  # a table cell with a cell before it in its row
        self.has_cell = False


class _TreeBuilder:
    """lxml parser target: the page as _Nodes, without dropped elements and ruby annotations' text.

    Text is split where BeautifulSoup split it (at tags, comments and processing instructions),
    which matters where pieces are joined with spaces (headings, the title)."""

    def __init__(self) -> None:
        self.root = _Node("[document]")
        self.first: dict[str, _Node] = {}  # the first element of each tag
        self._open = [self.root]
        self._data: list[str] = []
        self._dropped_depth = 0
        self._annotation_depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._end_text()
        if self._dropped_depth or tag in _DROPPED or "hidden" in attrib:
            self._dropped_depth += 1
            return
        parent = self._open[-1]
        node = _Node(tag, after_cell=tag in _CELLS and parent.has_cell)
        parent.has_cell = parent.has_cell or tag in _CELLS
        parent.children.append(node)
        self._open.append(node)
        self.first.setdefault(tag, node)
        self._annotation_depth += tag in _ANNOTATIONS

    def end(self, tag: str) -> None:
        self._end_text()
        if self._dropped_depth:
            self._dropped_depth -= 1
        elif len(self._open) > 1:
            self._annotation_depth -= self._open.pop().tag in _ANNOTATIONS

    def data(self, text: str) -> None:
        if not self._dropped_depth:
            self._data.append(text)

    def comment(self, text: str) -> None:
        self._end_text()

    def pi(self, target: str, data: str | None = None) -> None:
        self._end_text()

    def close(self) -> _Node:
        self._end_text()
        return self.root

    def _end_text(self) -> None:
        if self._data and not self._annotation_depth:
            self._open[-1].children.append("".join(self._data))
        self._data.clear()


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
    tree = _TreeBuilder()
    parser = etree.HTMLParser(target=tree, no_network=True)
    parser.feed(text)  # unlike fromstring, feed takes text that starts with an XML declaration
    parser.close()
    walk = _Walk()
    _walk(tree.first.get("main") or tree.first.get("body") or tree.root, walk)
    walk.flush()
    return _title(tree), walk.builder


def _title(tree: _TreeBuilder) -> str | None:
    for tag in (tree.first.get("title"), tree.first.get("h1")):
        if tag is not None and single_line(_text(tag)):
            return single_line(_text(tag))
    return None


def _text(root: _Node) -> str:
    """The element's text pieces joined by spaces (as BeautifulSoup's get_text(" "))."""
    pieces: list[str] = []
    stack: list[_Node | str] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            pieces.append(node)
        else:
            stack.extend(reversed(node.children))
    return " ".join(pieces)


def _walk(root: _Node, walk: _Walk) -> None:
    """Depth-first, without recursion (deeply nested pages must not blow the stack)."""
    stack: list[tuple[_Node | str, bool]] = [(root, True)]
    while stack:
        node, entering = stack.pop()
        if isinstance(node, str):
            walk.inline.append(node)
            continue
        if node.tag in _HEADINGS:
            if entering:
                _heading(node, walk)
            continue
        if entering:
            _enter(node, walk)
            stack.append((node, False))
            stack.extend((child, True) for child in reversed(node.children))
        else:
            _leave(node, walk)


def _heading(tag: _Node, walk: _Walk) -> None:
    walk.flush()
    heading = single_line(_text(tag))
    if heading:
        walk.builder.start_section(walk.headings.push(_HEADINGS[tag.tag], heading))
        walk.builder.add_block(heading, normalized=True)


def _enter(tag: _Node, walk: _Walk) -> None:
    if tag.tag in _BLOCKS:
        walk.flush()
    if tag.tag == "pre":
        walk.pre_depth += 1
    if tag.after_cell:
        walk.inline.append(" | ")


def _leave(tag: _Node, walk: _Walk) -> None:
    if tag.tag in _BLOCKS:
        walk.flush()
    if tag.tag == "pre":
        walk.pre_depth -= 1
