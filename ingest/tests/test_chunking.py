"""The chunker with the real word-piece tokenizer (no model weights are loaded)."""

from __future__ import annotations

import pytest

from ingest.chunking import SPECIAL_TOKENS, WordCountCache, chunk_document
from ingest.parsing import ParsedDocument, Section
from retrieval.embedding import MAX_TOKENS, load_tokenizer
from retrieval.wordpiece import WordPieceTokenizer

TEXTS = [
    "Plain words, punctuation; and numbers 3.14 or 1,000,000!",
    "Ünïcödé naïve café — “quoted” text… with dashes\u2013and ellipses",
    "中文文本没有空格 mixed with English and 日本語のテキスト",
    "tabs\tand\nnewlines\r\nand  double  spaces\u00a0nbsp",
    "e-mail: someone@example.com, url https://example.com/a?b=c&d=e#f",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
]


@pytest.fixture(scope="module")
def count():
    return load_tokenizer(None, MAX_TOKENS).count


@pytest.mark.parametrize("text", TEXTS)
def test_word_sums_equal_the_exact_count(count, text):
    fast = WordCountCache(count)
    assert fast(text) == count(text)
    assert fast(text) == count(text)  # from the cache this time


def test_the_cache_stays_bounded(count):
    fast = WordCountCache(count, max_entries=3)
    assert fast("one two three four five six") == 6
    assert len(fast._counts) <= 3


def _parsed(text: str, title: str = "Handbook") -> ParsedDocument:
    return ParsedDocument(
        kind="text",
        title=title,
        text=text,
        sections=[Section(heading_path=("Travel",), page=None, start=0, end=len(text))],
        encoding=None,
    )


def test_chunks_fit_the_model_and_point_back_into_the_text(count):
    sentences = [f"Sentence {i} explains the travel policy for trips to region {i % 7}." for i in range(300)]
    text = " ".join(sentences)
    chunks = chunk_document(
        _parsed(text), count_tokens=count, max_tokens=MAX_TOKENS, split_count=WordCountCache(count)
    )
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.token_count == count(chunk.embed_text) <= MAX_TOKENS - SPECIAL_TOKENS
        assert chunk.token_count <= 200 + 10  # the target, give or take the heading prefix
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.embed_text.startswith("Handbook > Travel\n")
    assert chunks[0].text.startswith("Sentence 0 ") and chunks[-1].text.endswith("region 5.")


def test_a_huge_word_is_split_until_it_fits(count):
    text = "x" * 20_000  # no separator at all: the splitter cannot help, the exact check must
    chunks = chunk_document(_parsed(text), count_tokens=count, max_tokens=MAX_TOKENS, split_count=count)
    assert "".join(c.text for c in chunks) == text
    assert all(count(c.embed_text) <= MAX_TOKENS - SPECIAL_TOKENS for c in chunks)


def test_the_packaged_tokenizer_is_known_to_add_up_over_whitespace():
    assert load_tokenizer(None, MAX_TOKENS).adds_up_over_whitespace


def test_another_pre_tokenizer_is_not_trusted_to_add_up(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    byte_level = Tokenizer(models.BPE())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel()
    byte_level.save(str(tmp_path / "tokenizer.json"))
    assert not WordPieceTokenizer(tmp_path / "tokenizer.json", MAX_TOKENS).adds_up_over_whitespace


def test_words_that_bert_joins_are_counted_joined(count):
    # Python splits on both separators; BERT deletes them as control characters, and "policyreview"
    # takes three pieces where "policy" and "review" take one each.
    text = "policy\x1creview and\x85travel\x0bform\x0cfeed"
    assert WordCountCache(count)(text) == count(text)


def test_an_exact_word_sum_replaces_the_per_chunk_count(count):
    def no_exact_counts(text: str) -> int:
        raise AssertionError("the exact counter was asked for a finished chunk")

    sentences = [f"Sentence {i} explains the travel policy for trips to region {i % 7}." for i in range(300)]
    text = " ".join(sentences)
    split_count = WordCountCache(count, exact=True)
    chunks = chunk_document(
        _parsed(text), count_tokens=no_exact_counts, max_tokens=MAX_TOKENS, split_count=split_count
    )
    assert len(chunks) > 5
    assert all(c.token_count == count(c.embed_text) <= MAX_TOKENS - SPECIAL_TOKENS for c in chunks)
