"""Uploaded bytes to normalised text with structure (headings, pages), or a clear ParseError.

Plain Python, no Django: the ingestion pipeline calls ``parse_document`` and stores
``ParseError.code`` / ``.message`` on the document when a file is refused.
"""

from ingest.parsing.api import detect_kind, parse_document
from ingest.parsing.model import KINDS, ParsedDocument, ParseError, ParseLimits, Section

__all__ = ["KINDS", "ParseError", "ParseLimits", "ParsedDocument", "Section", "detect_kind", "parse_document"]
