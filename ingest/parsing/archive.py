"""ZIP containers read with bounded memory: DOCX today, and any other zip-based format (XLSX, PPTX,
ODT, EPUB) through the same ``ZipContainer``.

A ZIP's sizes are claims its author wrote: the central directory can say 900 kB for a part that
inflates to 1 GB, and ``ZipFile.read`` inflates a whole part in one call before it cuts it to the
claimed size. So the claims are checked first (cheap refusals with a clear reason), then every part
is inflated through ``ZipFile.open`` in chunks, counting the bytes really produced, and the file is
refused as a zip bomb the moment a part gives more than its header claimed, or the parts read so far
more than ``ParseLimits.max_uncompressed_bytes``. A part never gives more than it claims, and no
more than ``max_member_bytes`` is claimed by a part that is read; the ratio of its claimed size to
its packed size, counted as no more than the bytes the upload holds from the part on, is at most
``max_compression_ratio``: so a part never inflates to more than that ratio times the upload. This
module holds one chunk at a time; XML parts are fed to lxml chunk by chunk, never as a whole.
"""

from __future__ import annotations

import copy
import io
import zipfile
import zlib
from collections.abc import Generator
from types import TracebackType

from lxml import etree

from ingest.parsing.model import ParseError, ParseLimits, megabytes

_CHUNK = 64 * 1024
# A part must be this big before its ratio counts: tiny parts compress oddly but harmlessly.
_RATIO_FLOOR = 1024 * 1024
_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"
# What Office and OpenDocument write. bzip2 and LZMA inflate a whole input chunk at once, unbounded.
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, zlib.error)


def safe_xml_parser() -> etree.XMLParser:
    """A new parser (parsers are not shared between threads) that never expands entities (no
    entity bombs, no external files), never loads a DTD or reaches the network, and keeps libxml2's
    limits on depth and text size (huge_tree off)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def open_zip(data: bytes, limits: ParseLimits, *, what: str) -> zipfile.ZipFile:
    """The open ZIP, refused before its directory is loaded when it may list too many files.

    ZipFile builds an object per entry (~0.5 kB): a 50 MB upload can list a million. Every entry
    starts with the central directory signature, which zipfile requires, so counting the signature
    bounds the entries from above, whatever the end record claims."""
    entries = data.count(_CENTRAL_DIRECTORY_ENTRY)
    if entries > limits.max_zip_members:
        raise zip_bomb(what, f"it lists {entries} files; the limit is {limits.max_zip_members}")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise _damaged(what) from exc


class ZipContainer:
    """An open ZIP whose declared sizes passed the limits; its parts are read only in bounded chunks.

    ``what`` names the file for messages ("Word file"). Use it as a context manager."""

    def __init__(self, data: bytes, limits: ParseLimits, *, what: str) -> None:
        self._limits = limits
        self._what = what
        self._archive = open_zip(data, limits, what=what)
        self._inflated = 0  # bytes really produced by every part read so far, re-reads included
        try:
            _check_declared(self._archive.infolist(), limits, what, len(data))
        except ParseError:
            self._archive.close()
            raise

    def __enter__(self) -> ZipContainer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()

    def has(self, name: str) -> bool:
        return name in self._archive.NameToInfo

    def chunks(self, name: str, size: int = _CHUNK) -> Generator[bytes, None, None]:
        """The part ``name`` inflated in chunks of ``size`` bytes; ParseError ``zip_bomb`` as soon as
        it produces more than it claimed or the limits allow, ``corrupt_file`` if it is damaged."""
        info = self._archive.getinfo(name)
        if info.compress_type not in _READABLE_METHODS:
            raise ParseError(
                "corrupt_file",
                f"This {self._what} is damaged (a part is packed with a method its format does not use); "
                "save it again.",
            )
        if info.file_size > self._limits.max_member_bytes:
            raise self._too_big_part()
        # zipfile stops at the size the header claims, and when it stops short of the stream's end
        # it raises a CRC error, which would hide the lie: one byte more than the claim is allowed
        # (its CRC check left to us) so that a part longer than it claimed is seen for what it is.
        bounded = copy.copy(info)
        bounded.file_size = info.file_size + 1
        bounded.CRC = None  # type: ignore[assignment]  # zipfile's check off; ours below
        produced, crc = 0, 0
        try:
            with self._archive.open(bounded) as stream:
                while chunk := stream.read(size):
                    produced += len(chunk)
                    self._inflated += len(chunk)
                    self._check_produced(info, produced)
                    crc = zlib.crc32(chunk, crc)
                    yield chunk
        except _ZIP_ERRORS as exc:
            raise _damaged(self._what) from exc
        if crc != info.CRC:
            raise _damaged(self._what)

    def parse_xml(self, name: str) -> etree._Element:
        """The part ``name`` parsed as XML, fed to a safe parser chunk by chunk."""
        parser = safe_xml_parser()
        for chunk in self.chunks(name):
            parser.feed(chunk)
        return parser.close()

    def _check_produced(self, info: zipfile.ZipInfo, produced: int) -> None:
        limits = self._limits
        if produced > info.file_size:
            raise zip_bomb(
                self._what, f"a part unpacks to more than the {megabytes(info.file_size)} its header declares"
            )
        if self._inflated > limits.max_uncompressed_bytes:
            limit = megabytes(limits.max_uncompressed_bytes)
            raise zip_bomb(self._what, f"its parts unpack to more than {limit}, the limit")

    def _too_big_part(self) -> ParseError:
        limit = megabytes(self._limits.max_member_bytes)
        return zip_bomb(self._what, f"one part unpacks to more than {limit}, the limit for one part")


def _check_declared(members: list[zipfile.ZipInfo], limits: ParseLimits, what: str, size: int) -> None:
    """The header's claims: cheap refusals with a clear reason before anything is inflated."""
    if len(members) > limits.max_zip_members:
        raise zip_bomb(what, f"it holds {len(members)} files; the limit is {limits.max_zip_members}")
    # A packed size claimed past the end of the upload is a lie that would make any ratio look tame.
    packed_sizes = [min(member.compress_size, size - member.header_offset) for member in members]
    total = sum(member.file_size for member in members)
    packed = min(sum(packed_sizes), size)
    if total > limits.max_uncompressed_bytes:
        limit = megabytes(limits.max_uncompressed_bytes)
        raise zip_bomb(what, f"it unpacks to {megabytes(total)}; the limit is {limit}")
    for member, member_packed in zip(members, packed_sizes, strict=True):
        if member.file_size > _RATIO_FLOOR and _ratio(member.file_size, member_packed) > (
            limits.max_compression_ratio
        ):
            raise zip_bomb(what, f"one part is compressed more than {limits.max_compression_ratio:.0f} to 1")
    if total > _RATIO_FLOOR and _ratio(total, packed) > limits.max_compression_ratio:
        raise zip_bomb(what, f"it is compressed more than {limits.max_compression_ratio:.0f} to 1")


def _ratio(size: int, compressed: int) -> float:
    return size / max(compressed, 1)


def zip_bomb(what: str, reason: str) -> ParseError:
    """The ``zip_bomb`` refusal of a ``what`` ("Word file") for ``reason``."""
    return ParseError(
        "zip_bomb",
        f"This {what} was refused because {reason}, which is how zip bombs look. "
        "If it is a real document, split it or remove embedded files and upload it again.",
    )


def _damaged(what: str) -> ParseError:
    return ParseError("corrupt_file", f"This {what} is damaged (its ZIP container is broken); save it again.")
