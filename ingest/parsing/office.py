"""Word (.docx) text read from the package's XML with lxml, every part inflated in bounded chunks
(``ingest.parsing.archive``: zip bombs are refused by the bytes parts really inflate to).

Only the parts text needs are read (the main document, its styles, the core properties), with
python-docx's reading of text, headings and tables: python-docx parses every part of the package
into its own element classes, which cost more than the rest of ingesting a short document.
"""

from __future__ import annotations

import posixpath
import re
from contextlib import closing

from lxml import etree

from ingest.parsing.archive import ZipContainer
from ingest.parsing.model import ParseError, ParseLimits
from ingest.parsing.normalize import HeadingStack, TextBuilder, single_line

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_TITLE_LEVEL = 0

# Parts, found by relationship as python-docx finds them (the main part need not be word/document.xml).
_RELATIONSHIP = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_REL_MAIN = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_REL_STYLES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"
_REL_CORE = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
_CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DOCUMENT, _BODY, _P, _TBL, _TR, _TC = (f"{_W}{tag}" for tag in ("document", "body", "p", "tbl", "tr", "tc"))
_R, _HYPERLINK, _T, _BR = (f"{_W}{tag}" for tag in ("r", "hyperlink", "t", "br"))
_VAL, _TYPE = f"{_W}val", f"{_W}type"
_STYLE, _STYLE_ID = f"{_W}style", f"{_W}styleId"
_STYLES_CHUNK = 4096
# What python-docx writes for a run's other text-like children.
_RUN_SYMBOLS = {f"{_W}tab": "\t", f"{_W}ptab": "\t", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}


def open_docx(data: bytes, limits: ParseLimits) -> ZipContainer:
    """The open package, refused if its ZIP container looks like a bomb or holds no Word document."""
    container = ZipContainer(data, limits, what="Word file")
    if not container.has("word/document.xml"):
        container.close()
        raise ParseError("unsupported_type", "This ZIP archive is not a Word (.docx) document.")
    return container


def parse_docx(data: bytes, limits: ParseLimits) -> tuple[str | None, TextBuilder]:
    """The title and text of a .docx: headings build paths; tables come as rows of cells."""
    with open_docx(data, limits) as archive:
        main = _main_part(archive)
        blocks = _body_blocks(archive.parse_xml(main))
        style_names = _style_names(archive, main, {_style_id(block) for block in blocks} - {""})
        title = _core_title(archive)
    builder = TextBuilder()
    headings = HeadingStack()
    first_heading: str | None = None
    for block in blocks:
        if block.tag == _TBL:
            builder.add_block(_table_text(block))
            continue
        text = _paragraph_text(block)
        level = _heading_level(style_names.get(_style_id(block), ""))
        if level is not None and single_line(text):
            heading = single_line(text)
            builder.start_section(headings.push(level, heading))
            first_heading = first_heading or heading
        builder.add_block(text)
    return title or first_heading, builder


def _body_blocks(document: etree._Element) -> list[etree._Element]:
    """The body's paragraphs and tables; like python-docx, content wrapped in other elements is skipped."""
    if document.tag != _DOCUMENT:
        raise ParseError(
            "corrupt_file", "This Word file is damaged (its main part is not a document); save it again."
        )
    body = document.find(_BODY)
    return list(body.iterchildren(_P, _TBL)) if body is not None else []


def _related_part(archive: ZipContainer, source: str, rel_type: str) -> str | None:
    """The part that ``source`` ("" for the package itself) points to with a ``rel_type`` relationship."""
    folder, name = posixpath.split(source)
    rels = posixpath.join(folder, "_rels", f"{name}.rels")
    if not archive.has(rels):
        return None
    for rel in archive.parse_xml(rels).iterchildren(_RELATIONSHIP):
        if rel.get("Type") == rel_type and rel.get("TargetMode") != "External":
            return posixpath.normpath(posixpath.join("/", folder, rel.get("Target", ""))).lstrip("/")
    return None


def _main_part(archive: ZipContainer) -> str:
    """The main document part's name, refused (as python-docx refuses it) unless it is a document's."""
    main = _related_part(archive, "", _REL_MAIN)
    if main is None or _content_type(archive, main) != _DOCX_MAIN:
        raise ParseError(
            "corrupt_file",
            "This Word file could not be read: it has no Word document inside (is it a template or "
            "a macro-enabled file?). Save it as a .docx document and upload it again.",
        )
    return main


def _content_type(archive: ZipContainer, part: str) -> str | None:
    types = archive.parse_xml("[Content_Types].xml")
    overrides = {
        item.get("PartName", "").lower(): item.get("ContentType")
        for item in types.iterchildren(f"{_CONTENT_TYPES}Override")
    }
    defaults = {
        item.get("Extension", "").lower(): item.get("ContentType")
        for item in types.iterchildren(f"{_CONTENT_TYPES}Default")
    }
    extension = posixpath.splitext(part)[1].lstrip(".").lower()
    content_type: str | None = overrides.get(f"/{part.lower()}", defaults.get(extension))
    return content_type


def _style_names(archive: ZipContainer, main: str, wanted: set[str]) -> dict[str, str]:
    """The names of the ``wanted`` style ids: the first style of each id, as python-docx finds it.

    The styles part is read only as far as the last wanted style: a default python-docx document
    defines ~160 styles in 350 kB, and parsing all of them cost more than the rest of the document."""
    part = _related_part(archive, main, _REL_STYLES) if wanted else None
    names: dict[str, str] = {}
    if part is None:
        return names
    parser = etree.XMLPullParser(
        ("end",), tag=_STYLE, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    with closing(archive.chunks(part, _STYLES_CHUNK)) as chunks:
        for chunk in chunks:
            parser.feed(chunk)
            for _, style in parser.read_events():
                if _is_top_level(style):
                    names.setdefault(style.get(_STYLE_ID, ""), _style_name(style))
            if wanted <= names.keys():
                return names
    parser.close()  # a truncated part is an error, as a full parse would find
    return names


def _is_top_level(style: etree._Element) -> bool:
    parent = style.getparent()
    return parent is not None and parent.getparent() is None


def _style_name(style: etree._Element) -> str:
    name = style.find(f"{_W}name")
    return (name.get(_VAL) if name is not None else "") or ""


def _style_id(paragraph: etree._Element) -> str:
    style = paragraph.find(f"{_W}pPr/{_W}pStyle")
    return (style.get(_VAL) if style is not None else "") or ""


def _heading_level(style_name: str) -> int | None:
    name = style_name.strip()
    if name.lower() == "title":
        return _TITLE_LEVEL
    match = _HEADING_STYLE.match(name)
    return int(match.group(1)) if match else None


def _paragraph_text(paragraph: etree._Element) -> str:
    """The runs' text, hyperlinks' included; like python-docx, other wrappers are not looked into."""
    parts: list[str] = []
    for child in paragraph.iterchildren(_R, _HYPERLINK):
        for run in (child,) if child.tag == _R else child.iterchildren(_R):
            parts.extend(_run_parts(run))
    return "".join(parts)


def _run_parts(run: etree._Element) -> list[str]:
    parts = []
    for item in run.iterchildren(_T, _BR, *_RUN_SYMBOLS):
        if item.tag == _T:
            parts.append(item.text or "")
        elif item.tag == _BR:  # page and column breaks are no text
            parts.append("\n" if item.get(_TYPE, "textWrapping") == "textWrapping" else "")
        else:
            parts.append(_RUN_SYMBOLS[item.tag])
    return parts


def _table_text(table: etree._Element) -> str:
    """One line per row, cells joined by " | "; a merged cell is written once per row it spans."""
    rows = list(table.iterchildren(_TR))
    lines = []
    for index, row in enumerate(rows):
        cells: list[str] = []
        offset = _grid_before(row)
        for cell in row.iterchildren(_TC):
            origin = _merge_origin(rows, index, cell, offset)
            cells.append(single_line("\n".join(map(_paragraph_text, origin.iterchildren(_P)))))
            offset += _grid_span(cell)
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _merge_origin(
    rows: list[etree._Element], index: int, cell: etree._Element, offset: int
) -> etree._Element:
    """The cell that holds the text of a vertically merged one: the first of its merge."""
    while _v_merge(cell) == "continue":
        cell_above = _cell_at(rows[index - 1], offset) if index else None
        if cell_above is None:
            raise ParseError(
                "corrupt_file",
                "This Word file is damaged (a merged table cell has no first cell); save it again.",
            )
        index, cell = index - 1, cell_above
    return cell


def _cell_at(row: etree._Element, offset: int) -> etree._Element | None:
    """The cell that starts exactly at grid column ``offset``, if any."""
    remaining = offset - _grid_before(row)
    for cell in row.iterchildren(_TC):
        if remaining <= 0:
            return cell if remaining == 0 else None
        remaining -= _grid_span(cell)
    return None


def _grid_before(row: etree._Element) -> int:
    before = row.find(f"{_W}trPr/{_W}gridBefore")
    return int(before.get(_VAL, "")) if before is not None else 0


def _grid_span(cell: etree._Element) -> int:
    span = cell.find(f"{_W}tcPr/{_W}gridSpan")
    return int(span.get(_VAL, "")) if span is not None else 1


def _v_merge(cell: etree._Element) -> str | None:
    merge = cell.find(f"{_W}tcPr/{_W}vMerge")
    return merge.get(_VAL, "continue") if merge is not None else None


def _core_title(archive: ZipContainer) -> str | None:
    part = _related_part(archive, "", _REL_CORE)
    title = archive.parse_xml(part).findtext(_DC_TITLE) if part is not None else None
    return single_line(title or "") or None
