"""The embedder's word-piece tokenizer (its own ``tokenizer.json``): exact counts for the chunker,
truncated ids for the encoder, and the padding of a batch of ids."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt


class WordPieceTokenizer:
    """The model's own fast tokenizer: counting for the chunker, truncated ids for the encoder."""

    def __init__(self, tokenizer_file: Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.max_tokens = max_tokens
        self._counter: Tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._encoder: Tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._encoder.enable_truncation(max_length=max_tokens)
        self._encoder.no_padding()

    @property
    def adds_up_over_whitespace(self) -> bool:
        """Whether a text's count is the sum of its whitespace-separated words' counts, read from
        the tokenizer's own pipeline: BERT's normaliser works character by character and BERT's
        pre-tokeniser splits on whitespace (a subset of what ``str.split`` splits on) before
        WordPiece, so no piece spans two words. all-MiniLM-L6-v2's tokenizer is such a one. (The
        words must be split as BERT splits them: control characters it deletes, such as U+001C,
        which Python would split on, are deleted first; see ``ingest.chunking.WordCountCache``.)"""
        config = json.loads(self._counter.to_str())
        normalizer, pre_tokenizer = config.get("normalizer") or {}, config.get("pre_tokenizer") or {}
        return (
            normalizer.get("type") in (None, "BertNormalizer", "Lowercase", "NFD", "StripAccents")
            and pre_tokenizer.get("type") in ("BertPreTokenizer", "Whitespace", "WhitespaceSplit")
            and config.get("model", {}).get("type") == "WordPiece"
        )

    def count(self, text: str) -> int:
        """Word pieces without special tokens and without truncation."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids with [CLS]/[SEP], truncated to ``max_tokens``, unpadded."""
        return [encoding.ids for encoding in self._encoder.encode_batch(list(texts))]

    def vocabulary(self) -> dict[str, int]:
        """Word piece -> id."""
        return dict(self._counter.get_vocab())


def pad_batch(ids: Sequence[Sequence[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Right-pad to the longest sequence of the batch: (input_ids, attention_mask)."""
    width = max(len(row) for row in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)  # [PAD] is id 0 in this vocabulary
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return input_ids, mask
