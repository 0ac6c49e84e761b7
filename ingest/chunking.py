"""Split a parsed document into passages that fit the embedder, keeping headings and pages.

Chunks are sized in the embedder's own word pieces (all-MiniLM-L6-v2 reads at most 256, special
tokens included: anything longer is silently truncated, so a chunk never exceeds the budget). A
chunk never crosses a section boundary (a heading or a PDF page); it carries the document title
and its heading path, which are embedded with it so a passage keeps its context.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.parsing import ParsedDocument, Section

SPECIAL_TOKENS = 2  # [CLS] and [SEP]
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """One passage: where it is in the document, and the exact text that is embedded."""

    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    char_start: int
    char_end: int
    embed_text: str
    token_count: int

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    target_tokens: int = 200
    overlap_tokens: int = 32
    max_prefix_tokens: int = 48


def _prefix(title: str | None, heading_path: tuple[str, ...]) -> str:
    parts = [p for p in (title, *heading_path) if p]
    # A heading that repeats the title adds nothing.
    deduped = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
    return " > ".join(deduped)


def _fit_prefix(prefix: str, count_tokens: Callable[[str], int], budget: int) -> str:
    while prefix and count_tokens(prefix) > budget:
        prefix = prefix[: int(len(prefix) * 0.8)].rstrip()
    return prefix


# BERT's normaliser deletes control characters before it splits on whitespace, and Python's split
# calls some of them whitespace (U+001C-U+001F, U+0085, vertical tab, form feed): deleted first
# here too, words it would join are not counted apart (a joined word can take MORE pieces).
_CONTROL_CHARACTERS = dict.fromkeys(c for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r")


class WordCountCache:
    """Token counts summed word by word, each word counted once by the exact counter and remembered.

    A word-piece tokenizer with whitespace pre-tokenisation (BERT's) never makes a piece across
    whitespace, so a text's count is the sum of its words' counts; on all of SciFact the sum equals
    the exact count for every abstract, at about a fifteenth of the cost (docs/benchmarks.md). The
    splitter asks for many counts of overlapping pieces, so this is what keeps chunking cheap next
    to embedding. ``exact`` says the sum IS the exact count (the caller read that off the
    tokenizer's pipeline); otherwise the chunker checks each finished chunk with the exact counter,
    so a tokenizer for which the sum were wrong could never produce a truncated chunk.
    """

    def __init__(
        self, count_tokens: Callable[[str], int], max_entries: int = 500_000, *, exact: bool = False
    ) -> None:
        self._exact = count_tokens
        self.exact = exact
        self._max_entries = max_entries
        self._counts: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        counts = self._counts
        total = 0
        for word in text.translate(_CONTROL_CHARACTERS).split():
            count = counts.get(word)
            if count is None:
                if len(counts) >= self._max_entries:
                    counts.clear()
                count = counts[word] = self._exact(word)
            total += count
        return total


def chunk_document(
    parsed: ParsedDocument,
    *,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    config: ChunkingConfig | None = None,
    split_count: Callable[[str], int] | None = None,
) -> list[ChunkSpec]:
    """Chunks of ``parsed`` in reading order; every ``embed_text`` fits in ``max_tokens``.

    ``count_tokens`` is the embedder's exact counter; ``split_count`` (default: the exact counter) is
    what the splitter uses while it searches for split points, e.g. a ``WordCountCache``. Each
    finished chunk is measured with ``count_tokens`` (or with ``split_count`` where that is a
    ``WordCountCache`` known to be exact): one over the model's limit is split again.
    """
    config = config or ChunkingConfig()
    split_count = split_count or count_tokens
    if isinstance(split_count, WordCountCache) and split_count.exact:
        count_tokens = split_count
    chunks: list[ChunkSpec] = []
    for section in parsed.sections:
        # The prefix is sized with the splitter's counter too: every finished chunk, prefix
        # included, is still measured exactly below.
        prefix = _fit_prefix(
            _prefix(parsed.title, section.heading_path), split_count, config.max_prefix_tokens
        )
        prefix_cost = split_count(prefix) + 1 if prefix else 0  # +1 for the newline piece
        limit = max_tokens - SPECIAL_TOKENS - prefix_cost
        budget = min(config.target_tokens, limit)
        for start, text in _split_section(parsed.text, section, split_count, budget, config.overlap_tokens):
            for piece_start, piece, embed_text, tokens in _fitting(
                start, text, prefix, count_tokens, max_tokens
            ):
                chunks.append(
                    ChunkSpec(
                        ordinal=len(chunks),
                        text=piece,
                        heading_path=section.heading_path,
                        page=section.page,
                        char_start=piece_start,
                        char_end=piece_start + len(piece),
                        embed_text=embed_text,
                        token_count=tokens,
                    )
                )
    return chunks


def _split_section(
    document_text: str,
    section: Section,
    count_tokens: Callable[[str], int],
    budget: int,
    overlap: int,
) -> list[tuple[int, str]]:
    """(absolute start offset, text) of each piece of one section, each within ``budget`` tokens."""
    body = document_text[section.start : section.end]
    if not body.strip() or (section.heading_path and body.strip() == section.heading_path[-1]):
        return []  # nothing but the heading, which every chunk below it carries in its prefix
    stripped = body.strip()
    if count_tokens(stripped) <= budget:  # the common case for short sections: one chunk, no splitting
        return [(section.start + body.index(stripped), stripped)]
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=budget,
        chunk_overlap=min(overlap, budget // 4),
        length_function=count_tokens,
        separators=SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )
    pieces: list[tuple[int, str]] = []
    cursor = 0
    for text in splitter.split_text(body):
        if not text.strip():
            continue
        start = _locate(body, text, cursor)
        pieces.append((section.start + start, text))
        cursor = start + 1
    return pieces


def _locate(body: str, text: str, cursor: int) -> int:
    """Where ``text`` (a piece of ``body``, in order, possibly overlapping the previous piece) starts."""
    found = body.find(text, cursor)
    if found == -1:
        found = body.find(text)
    return max(found, 0) if found != -1 else min(cursor, max(len(body) - len(text), 0))


def _fitting(
    start: int, text: str, prefix: str, count_tokens: Callable[[str], int], max_tokens: int
) -> list[tuple[int, str, str, int]]:
    """(start, text, embed_text, exact token count) of ``text``, halved until each fits the model.

    The splitter's pieces almost always fit at once (one exact count each); what it could not
    bring under budget (one huge 'word') is split here, so nothing is ever truncated."""
    embed_text = f"{prefix}\n{text}" if prefix else text
    tokens = count_tokens(embed_text)
    if tokens <= max_tokens - SPECIAL_TOKENS or len(text) < 2:
        return [(start, text, embed_text, tokens)]
    half = len(text) // 2
    return _fitting(start, text[:half], prefix, count_tokens, max_tokens) + _fitting(
        start + half, text[half:], prefix, count_tokens, max_tokens
    )
