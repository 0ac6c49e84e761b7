"""CSV: each row becomes a record line "column: value; ...", in sections of a few rows."""

from __future__ import annotations

import csv
import io

from ingest.parsing.detect import sniff_csv_dialect
from ingest.parsing.model import ParseError
from ingest.parsing.normalize import TextBuilder, single_line

ROWS_PER_SECTION = 50
_SNIFF_CHARS = 64 * 1024


def parse_csv(text: str) -> tuple[str | None, TextBuilder]:
    """Record lines under the header's column names; a section every ROWS_PER_SECTION rows."""
    dialect: type[csv.Dialect] = sniff_csv_dialect(text[:_SNIFF_CHARS]) or csv.excel
    rows = csv.reader(io.StringIO(text, newline=""), dialect)
    builder = TextBuilder()
    try:
        header = [single_line(name) for name in next(rows, [])]
        batch: list[str] = []
        first = number = 2  # spreadsheet row numbers: the header is row 1
        for number, row in enumerate(rows, start=2):
            record = _record(header, row)
            if record:
                batch.append(record)
            if len(batch) == ROWS_PER_SECTION:
                _add_rows(builder, batch, first, number)
                batch, first = [], number + 1
        if batch:
            _add_rows(builder, batch, first, number)
    except csv.Error as exc:
        raise ParseError(
            "corrupt_file", f"This CSV file cannot be read near line {rows.line_num}: {exc}."
        ) from exc
    return None, builder


def _record(header: list[str], row: list[str]) -> str:
    """'col1: v1; col2: v2' for the non-empty cells; columns past the header get numbered names."""
    fields = []
    for index, raw in enumerate(row):
        value = single_line(raw)
        if value:
            name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
            fields.append(f"{name}: {value}")
    return "; ".join(fields)


def _add_rows(builder: TextBuilder, records: list[str], first: int, last: int) -> None:
    builder.start_section((f"Rows {first}-{last}",))
    builder.add_block("\n".join(records), normalized=True)
