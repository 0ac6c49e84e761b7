"""Bytes to str for text-like documents: BOM first, then UTF-8, then charset-normalizer."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from ingest.parsing.model import SUPPORTED_TYPES, ParseError

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Characters no real text is made of: C0/C1 controls other than whitespace, and U+FFFD.
_GARBAGE = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\x80-\x9f\ufffd]")
_MAX_GARBAGE_RATIO = 0.01
_GARBAGE_ALLOWANCE = 4  # a stray control character or two does not make a short text binary
_WESTERN = ("cp1252", "latin_1", "iso8859_15")
_WESTERN_MARGIN = 0.1
# charset-normalizer looks at this much; a bigger sample only costs time.
_DETECTION_SAMPLE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str
    encoding: str


def decode_text(data: bytes) -> DecodedText:
    """Decode text bytes or raise ParseError("unsupported_type") when they are not text."""
    decoded = _decode_with_bom(data) or _decode_utf8(data) or _decode_detected(data)
    if decoded is None or _looks_binary(decoded.text):
        raise ParseError(
            "unsupported_type",
            f"This file is not a document Tessera can read. Supported types: {SUPPORTED_TYPES}.",
        )
    return decoded


def _decode_with_bom(data: bytes) -> DecodedText | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedText(data[len(bom) :].decode(encoding), encoding)
            except UnicodeDecodeError:
                return None
    return None


def _decode_utf8(data: bytes) -> DecodedText | None:
    try:
        return DecodedText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        return None


def _decode_detected(data: bytes) -> DecodedText | None:
    matches = list(from_bytes(data[:_DETECTION_SAMPLE]))
    if not matches:
        return None
    best = min(matches, key=lambda match: match.chaos)
    western = [m for m in matches if m.encoding in _WESTERN and m.chaos <= best.chaos + _WESTERN_MARGIN]
    # On short texts charset-normalizer often ranks a Baltic or Central European code page a hair
    # above Windows-1252 ("crčme" for "crème"); Western European text is by far the commoner case.
    encoding = codecs.lookup((western[0] if western else best).encoding).name
    try:
        return DecodedText(data.decode(encoding), encoding)
    except UnicodeDecodeError:
        # The sample decoded but the rest does not: keep the few bad bytes visible as U+FFFD.
        return DecodedText(data.decode(encoding, errors="replace"), encoding)


def _looks_binary(text: str) -> bool:
    sample = text[:_DETECTION_SAMPLE]
    if not sample:
        return False
    return len(_GARBAGE.findall(sample)) > max(_GARBAGE_ALLOWANCE, _MAX_GARBAGE_RATIO * len(sample))
