"""BM25-specific behaviour: tokenizer, ranking, statistics under change; the contract is in conformance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.bm25 import Bm25Index, Bm25Params
from retrieval.bm25_tokenizer import Bm25Tokenizer

DOCS = {
    1: "The cat sat on the mat.",
    2: "Dogs are running in the park every morning.",
    3: "A quarterly report about revenue and the cat.",
    4: "Photosynthesis converts light into chemical energy.",
    5: "The cat and the dog share a bowl; the cat wins.",
}


def make(docs=DOCS, **kwargs):
    index = Bm25Index(**kwargs)
    index.add(np.array(list(docs), dtype=np.int64), list(docs.values()))
    return index


def test_tokenizer_lowercases_splits_unicode_drops_stopwords_and_stems():
    tokens = Bm25Tokenizer()("The Café's naïve Über-users RUNNING, runs; x and 42")
    assert tokens == ["café", "naïv", "über", "user", "run", "run", "42"]


def test_tokenizer_without_stemming_keeps_words():
    assert Bm25Tokenizer(stemmer_language=None, stopwords=())("Running the runs") == [
        "running",
        "the",
        "runs",
    ]


def test_tokenizer_refuses_unknown_language():
    with pytest.raises(ValueError, match="Snowball"):
        Bm25Tokenizer(stemmer_language="klingon")


def test_doc_with_the_rare_query_term_ranks_first():
    _, found = make().search("cat photosynthesis", 5)
    assert found[0, 0] == 4  # "photosynthesis" occurs once in the corpus, "cat" in three documents
    assert set(found[0, 1:4].tolist()) == {1, 3, 5}


def test_stemming_matches_inflections():
    _, found = make().search("runs", 3)
    assert found[0].tolist() == [2, -1, -1]


def test_stopword_only_or_unknown_queries_find_nothing():
    index = make()
    for query in ["the and of", "zyzzyva", ""]:
        scores, found = index.search(query, 3)
        assert (found == -1).all() and np.isneginf(scores).all()


def test_several_queries_give_one_row_each():
    scores, found = make().search(["photosynthesis", "dogs"], 2)
    assert found.shape == scores.shape == (2, 2)
    assert found[:, 0].tolist() == [4, 2]


def test_scores_match_lucene_bm25_by_hand():
    index = make(params=Bm25Params(k1=1.2, b=0.75))
    scores, found = index.search("photosynthesis", 1)
    lengths = [len(index.tokenizer(text)) for text in DOCS.values()]
    n, df, tf, dl = len(DOCS), 1, 1, lengths[3]
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    want = idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / np.mean(lengths)))
    assert found[0, 0] == 4 and scores[0, 0] == pytest.approx(want, rel=1e-5)


def test_incremental_changes_keep_statistics_exact():
    """Adding then removing documents (and replacing one) scores exactly like a fresh build."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    docs = {i: " ".join(rng.choice(words, size=int(rng.integers(3, 30)))) for i in range(1, 60)}
    changed = make({i: t for i, t in docs.items() if i <= 30})
    changed.add(np.arange(31, 60), [docs[i] for i in range(31, 60)])
    changed.add(np.array([5]), ["temporary text w1 w2"])
    changed.add(np.array([5]), [docs[5]])
    changed.remove(np.arange(40, 60))
    fresh = make({i: t for i, t in docs.items() if i < 40})
    for query in ["w1 w2", "w7", "w3 w3 w39", "w12 w0 w25"]:
        for got, want in zip(changed.search(query, 50), fresh.search(query, 50), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_ties_break_by_smaller_id():
    index = Bm25Index()
    index.add(np.array([9, 3, 7]), ["same words here"] * 3)
    assert index.search("words", 3)[1][0].tolist() == [3, 7, 9]


def test_texts_must_be_a_sequence_of_strings_matching_ids():
    with pytest.raises(ValueError, match="ids"):
        Bm25Index().add(np.array([1]), "a single string")


def test_params_are_checked_and_overridable_on_load(tmp_path):
    with pytest.raises(ValueError, match="k1"):
        Bm25Params(k1=-1)
    with pytest.raises(ValueError, match="b="):
        Bm25Params(b=2)
    make().save(tmp_path)
    assert Bm25Index.load(tmp_path).params == Bm25Params(k1=0.9, b=0.4)
    assert Bm25Index.load(tmp_path, params=Bm25Params(k1=1.5, b=0.75)).params.k1 == 1.5


def test_save_compacts_the_vocabulary_and_records_the_tokenizer(tmp_path):
    index = make()
    index.remove(np.array([4]))
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "bm25.json").read_text())
    assert manifest["terms"] == len(set().union(*(index.tokenizer(DOCS[i]) for i in (1, 2, 3, 5))))
    assert manifest["tokenizer"]["stemmer_language"] == "english" and manifest["k1"] == 0.9
    loaded = Bm25Index.load(tmp_path)
    for query in ["cat", "dog running", "photosynthesis"]:
        for got, want in zip(loaded.search(query, 5), index.search(query, 5), strict=True):
            np.testing.assert_array_equal(got, want)
