"""Word (.docx) text with python-docx, after the ZIP container passed the zip-bomb checks."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable

import docx
from docx.document import Document
from docx.styles import BabelFish
from docx.table import Table

from ingest.parsing.model import ParseError, ParseLimits, megabytes
from ingest.parsing.normalize import HeadingStack, TextBuilder, single_line

_MAX_MEMBERS = 10_000
# A member must be this big before its own ratio counts: tiny parts compress oddly but harmlessly.
_MEMBER_RATIO_FLOOR = 1024 * 1024
_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_TITLE_LEVEL = 0


def check_zip_container(data: bytes, limits: ParseLimits) -> None:
    """Refuse a ZIP whose central directory promises too much data or too high a compression ratio."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ParseError(
            "corrupt_file", "This Word file is damaged (its ZIP container is broken); save it again."
        ) from exc
    if len(members) > _MAX_MEMBERS:
        raise _zip_bomb(f"it holds {len(members)} files")
    total = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members)
    if total > limits.max_uncompressed_bytes:
        limit = megabytes(limits.max_uncompressed_bytes)
        raise _zip_bomb(f"it unpacks to {megabytes(total)}; the limit is {limit}")
    for member in members:
        if member.file_size > _MEMBER_RATIO_FLOOR and _ratio(member.file_size, member.compress_size) > (
            limits.max_compression_ratio
        ):
            raise _zip_bomb(f"one part is compressed more than {limits.max_compression_ratio:.0f} to 1")
    if total > _MEMBER_RATIO_FLOOR and _ratio(total, packed) > limits.max_compression_ratio:
        raise _zip_bomb(f"it is compressed more than {limits.max_compression_ratio:.0f} to 1")
    if "word/document.xml" not in {member.filename for member in members}:
        raise ParseError("unsupported_type", "This ZIP archive is not a Word (.docx) document.")


def _ratio(size: int, compressed: int) -> float:
    return size / max(compressed, 1)


def _zip_bomb(reason: str) -> ParseError:
    return ParseError(
        "zip_bomb",
        f"This Word file was refused because {reason}, which is how zip bombs look. "
        "If it is a real document, split it or remove embedded files and upload it again.",
    )


def _style_names(document: Document) -> Callable[[str], str]:
    """A style's UI name by style id, looked up the first time a paragraph uses it.

    Paragraph.style resolves each paragraph's style slowly, and reading every style of the document
    up front costs more than the rest of a short document (a default .docx defines ~160)."""
    styles = document.styles.element
    names: dict[str, str] = {}

    def name(style_id: str) -> str:
        if style_id not in names:
            element = styles.get_by_id(style_id) if style_id else None
            raw = element.name_val if element is not None else None
            names[style_id] = BabelFish.internal2ui(raw) if raw else ""
        return names[style_id]

    return name


def parse_docx(data: bytes, limits: ParseLimits) -> tuple[str | None, TextBuilder]:
    """The title and text of a .docx: headings build paths; tables come as rows of cells."""
    check_zip_container(data, limits)
    document = docx.Document(io.BytesIO(data))
    style_name = _style_names(document)
    builder = TextBuilder()
    headings = HeadingStack()
    first_heading: str | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.add_block(_table_text(block))
            continue
        text = block.text
        level = _heading_level(style_name(block._p.style or ""))
        if level is not None and single_line(text):
            heading = single_line(text)
            builder.start_section(headings.push(level, heading))
            first_heading = first_heading or heading
        builder.add_block(text)
    return _core_title(document) or first_heading, builder


def _heading_level(style_name: str) -> int | None:
    name = style_name.strip()
    if name.lower() == "title":
        return _TITLE_LEVEL
    match = _HEADING_STYLE.match(name)
    return int(match.group(1)) if match else None


def _table_text(table: Table) -> str:
    """One line per row, cells joined by " | "; a merged cell is written once."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(single_line(cell.text))
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _core_title(document: Document) -> str | None:
    return single_line(document.core_properties.title or "") or None
