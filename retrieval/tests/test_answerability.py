"""The answerability model: its features from known signals, its fit, its threshold, its file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.answerability import (
    FEATURES,
    MODEL_FILE,
    AnswerabilityModel,
    AnswerabilityModelError,
    RetrievalSignals,
    best_coverage,
    content_terms,
    features,
    idf_coverage,
    misspelt_terms_matched,
    sentence_terms,
)
from retrieval.answerability_fit import fit_logistic, model_fit, threshold_for
from retrieval.bm25 import Bm25Index
from retrieval.bm25_tokenizer import Bm25Tokenizer


def test_content_terms_leave_out_question_words_and_stem_as_bm25_does():
    tokenize = Bm25Tokenizer()
    assert content_terms("How many parental leaves did Employees take? How many", tokenize) == [
        "parent",
        "leav",
        "employe",
        "take",
    ]


def test_idf_coverage_weights_terms_by_idf_and_names_the_rarest_missing():
    terms = [("leav", 1.0), ("parent", 2.0), ("zorblax", 5.0)]
    assert idf_coverage(terms, [frozenset({"leav"}), frozenset({"parent", "other"})]) == (3 / 8, 5.0)
    assert idf_coverage(terms, [frozenset({"leav", "parent", "zorblax"})]) == (1.0, 0.0)
    assert idf_coverage([], []) == (1.0, 0.0)  # nothing to cover


def test_features_from_known_signals():
    signals = RetrievalSignals(
        dense_best=0.6,
        token_maxima=np.array([0.2, 0.4, 0.6, 0.8], dtype=np.float32),
        term_idf=(("leav", 1.0), ("zorblax", 3.0)),
        max_idf=6.0,
        passage_terms=(frozenset({"leav"}), frozenset({"other"})),
        fused_scores=(1.5, 0.5, 0.1),
        sentence_terms=(frozenset({"leav"}), frozenset({"zorblax", "other"})),
    )
    x = features(signals, sentence_best=0.7)
    expected = {
        "dense_best": 0.6,
        "late_mean": 0.5,
        "late_low": 0.35,
        "idf_coverage": 0.25,
        "idf_missing": 0.5,
        "fused_margin": 1.0,
        "sentence_best": 0.7,
        "passage_coverage": 0.25,
        "sentence_coverage": 0.75,
    }
    assert x == pytest.approx([expected[name] for name in FEATURES])
    bare = features(RetrievalSignals(dense_best=0.3), sentence_best=0.0)  # no tokens, one document
    assert bare[1] == bare[2] == pytest.approx(0.3) and bare[5] == 0.0
    assert bare[7] == bare[8] == 1.0  # no content term: nothing left to cover


def test_the_best_single_passage_or_sentence_must_hold_the_terms_together():
    terms = (("leav", 1.0), ("parent", 2.0), ("week", 1.0))
    scattered = (frozenset({"leav"}), frozenset({"parent"}), frozenset({"week"}))
    together = (frozenset({"leav", "parent", "week", "paid"}),)
    assert best_coverage(terms, scattered) == pytest.approx(0.5)
    assert idf_coverage(terms, scattered)[0] == 1.0  # the union alone cannot tell them apart
    assert best_coverage(terms, together) == 1.0
    assert best_coverage(terms, ()) == 0.0 and best_coverage((), ()) == 1.0


def test_sentence_terms_split_passages_into_sentences():
    tokenize = Bm25Tokenizer()
    texts = ["Parental leave lasts 16 weeks. It is paid! Is it? 3.5 days e.g. here", "Lunch is at noon."]
    found = sentence_terms(texts, tokenize)
    assert found == (
        frozenset(tokenize("Parental leave lasts 16 weeks.")),
        frozenset(tokenize("It is paid!")),
        frozenset(tokenize("Is it?")),
        frozenset(tokenize("3.5 days e.g. here")),
        frozenset(tokenize("Lunch is at noon.")),
    )


def test_bm25_idf_matches_scoring_and_unknown_terms_get_the_largest():
    index = Bm25Index()
    index.add([1, 2, 3, 4], ["parental leave", "leave policy", "leave again", "lunch"])
    n = 4
    idf = index.idf(["leav", "parent", "nowher"])
    assert idf == pytest.approx(np.log1p((n - np.array([3, 1, 0]) + 0.5) / (np.array([3, 1, 0]) + 0.5)))
    index.remove([1])  # the only document with "parent": it now has the largest idf
    assert index.idf(["parent"])[0] == pytest.approx(index.idf([""])[0])


def test_a_misspelt_term_the_index_lacks_is_matched_to_a_passage_spelling():
    index = Bm25Index()
    index.add([1, 2, 3], ["Gandhi's work was called Satyagraha", "Ghana gained independence", "the hotel"])
    tokenize = index.tokenizer
    unknown = float(index.idf([""])[0])
    terms = content_terms("What was Ghandi's work called? And the motel?", tokenize)
    term_idf = tuple(zip(terms, index.idf(terms).tolist(), strict=True))
    passages = frozenset(tokenize("Gandhi's work was called Satyagraha. Ghana gained independence. hotel"))
    matched = misspelt_terms_matched(
        term_idf, unknown_idf=unknown, candidates=passages, idf=lambda t: index.idf(t).tolist()
    )
    by_term = dict(matched)
    # "ghandi": letters moved, so "gandhi" (2 edits) beats "ghana" (2 edits, a letter changed)
    assert "ghandi" not in by_term and by_term["gandhi"] == pytest.approx(index.idf(["gandhi"])[0])
    assert by_term["work"] == dict(term_idf)["work"]  # a term the index holds is left alone
    assert "motel" in by_term  # a different first letter is another word, not a misspelling
    assert idf_coverage(matched, [passages])[0] > idf_coverage(term_idf, [passages])[0]
    # a word the dictionary knows is only a word these documents do not use
    kept = misspelt_terms_matched(
        term_idf,
        unknown_idf=unknown,
        candidates=passages,
        idf=lambda t: index.idf(t).tolist(),
        real_words={"ghandi"},
    )
    assert kept == term_idf


def test_a_term_asked_both_misspelt_and_right_counts_once():
    matched = misspelt_terms_matched(
        (("ghandi", 9.0), ("gandhi", 4.0), ("work", 2.0)),
        unknown_idf=9.0,
        candidates={"gandhi", "work"},
        idf=lambda t: [4.0] * len(t),
    )
    assert matched == (("gandhi", 4.0), ("work", 2.0))


def test_short_or_far_unknown_terms_are_left_as_they_are():
    term_idf = (("cat", 9.0), ("zorblax", 9.0), ("leav", 1.0))
    same = misspelt_terms_matched(
        term_idf, unknown_idf=9.0, candidates={"cap", "zebra", "leav"}, idf=lambda t: [1.0] * len(t)
    )
    assert same == term_idf


def _synthetic(rng, n=400):
    """Answerable rows have higher coverage and cosine (with noise); the rest are random."""
    y = (rng.random(n) < 0.5).astype(int)
    x = rng.normal(size=(n, len(FEATURES))) * 0.5
    x[:, 0] += 0.4 * y  # dense_best
    x[:, 3] += 1.5 * y  # idf_coverage
    return x, y


def test_logistic_fit_learns_the_informative_features():
    x, y = _synthetic(np.random.default_rng(0))
    mean, scale, coef, intercept = fit_logistic(x, y)
    assert coef[3] > 1.0 and coef[0] > 0.2 and np.abs(np.delete(coef, [0, 3])).max() < 0.5
    model = AnswerabilityModel(tuple(mean), tuple(scale), tuple(coef), intercept, 0.5)
    accuracy = ((model.probability(x) >= 0.5) == (y == 1)).mean()
    assert accuracy > 0.9
    with pytest.raises(ValueError, match="both classes"):
        fit_logistic(x, np.ones(len(x)))


def test_threshold_abstains_on_at_most_the_allowed_share_of_answerable_cases():
    p = np.linspace(0.01, 1.0, 100)
    threshold = threshold_for(p, max_false_abstention=0.03)
    assert (p < threshold).sum() == 3 and threshold == pytest.approx(0.04)
    assert threshold_for(p, max_false_abstention=0.0) == pytest.approx(0.01)  # never below the lowest


def test_model_fit_chooses_its_threshold_on_the_validation_rows():
    x, y = _synthetic(np.random.default_rng(1), n=1000)
    held = np.arange(len(x)) % 10 < 3
    _, figures = model_fit(x, y, held)
    assert figures["validation_abstain_answerable"] <= 0.03
    assert figures["validation_abstain_unanswerable"] > 0.5
    assert figures["train_cases"] == 700 and figures["validation_cases"] == 300


def test_the_relevance_bar_misses_fewer_questions_than_the_answer_bar():
    x, y = _synthetic(np.random.default_rng(1), n=1000)
    held = np.arange(len(x)) % 10 < 3
    model, figures = model_fit(x, y, held)
    assert model.relevance_threshold is not None and model.relevance_threshold <= model.threshold
    assert figures["validation_irrelevant_answerable"] <= 0.01
    assert figures["validation_irrelevant_answerable"] <= figures["validation_abstain_answerable"]


def test_known_inputs_give_known_decisions_and_the_file_round_trips(tmp_path):
    model = AnswerabilityModel(
        mean=(0.0,) * 9, scale=(1.0,) * 9, coef=(0, 0, 0, 10, 0, 0, 0, 0, 0), intercept=-5, threshold=0.5
    )
    covered = features(
        RetrievalSignals(term_idf=(("a", 1.0),), passage_terms=(frozenset({"a"}),)), sentence_best=0
    )
    uncovered = features(RetrievalSignals(term_idf=(("a", 1.0),), passage_terms=()), sentence_best=0)
    assert not model.verdict(covered).abstain and model.verdict(uncovered).abstain
    assert model.verdict(uncovered).probability == pytest.approx(1 / (1 + np.exp(5)))
    assert not model.verdict(uncovered, threshold=0.0).abstain  # an overriding threshold
    path = tmp_path / "model.json"
    model.save(path)
    assert AnswerabilityModel.load(path) == model
    raw = json.loads(path.read_text())
    with pytest.raises(AnswerabilityModelError, match="features"):
        AnswerabilityModel.from_json({**raw, "features": ["dense_best"]})
    with pytest.raises(AnswerabilityModelError):
        AnswerabilityModel.from_json({**raw, "threshold": 2})
    assert "relevance_threshold" not in raw  # optional: None reads as the answer bar
    lower = AnswerabilityModel.from_json({**raw, "relevance_threshold": 0.25})
    assert lower.relevance_threshold == 0.25 and AnswerabilityModel.from_json(lower.to_json()) == lower
    with pytest.raises(AnswerabilityModelError):
        AnswerabilityModel.from_json({**raw, "relevance_threshold": -1})
    with pytest.raises(AnswerabilityModelError, match="cannot read"):
        AnswerabilityModel.load(tmp_path / "missing.json")


def test_the_shipped_model_loads():
    model = AnswerabilityModel.load(MODEL_FILE)
    assert model.names == FEATURES and 0 < model.threshold < 1
    assert model.relevance_threshold is not None and 0 < model.relevance_threshold < 1
    assert model.meta["questions"] >= 100  # trained by `manage.py answerability_train`


def test_a_hidden_layer_model_file_is_refused():
    # one hidden layer was an experiment (docs/benchmarks/history.md); its format is no longer read
    raw = AnswerabilityModel.load(MODEL_FILE).to_json()
    with pytest.raises(AnswerabilityModelError, match="hidden-layer"):
        AnswerabilityModel.from_json({**raw, "hidden_weights": [[0.0]], "hidden_bias": [0.0]})
