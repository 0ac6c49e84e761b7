"""The intent router's word model: tokens, TF-IDF weights, naive Bayes scores on small known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.intent_lexical import WordNaiveBayes, words

TEXTS = ["Pay my bill", "the bill is due", "hello there", "hello, my friend"]
TARGETS = np.array([0, 0, 1, 1], dtype=np.intp)


@pytest.fixture
def model():
    return WordNaiveBayes.fit(TEXTS, TARGETS, 2, smoothing=0.1, weight=0.5)


def test_words_are_lower_cased_and_need_two_characters():
    assert words("Pay my BILL, a 2nd time: x y") == ["pay", "my", "bill", "2nd", "time"]
    assert words("?! a") == []


def test_the_vocabulary_and_idf_follow_the_training_texts(model):
    assert model.vocabulary_terms.tolist() == sorted(
        ["pay", "my", "bill", "the", "is", "due", "hello", "there", "friend"]
    )
    idf = dict(zip(model.vocabulary_terms.tolist(), model.idf.tolist(), strict=True))
    # smoothed IDF over 4 texts: a word in 2 of them and one in 1 of them
    assert idf["bill"] == pytest.approx(np.log(5 / 3) + 1)
    assert idf["pay"] == pytest.approx(np.log(5 / 2) + 1)


def test_scores_favour_the_class_whose_words_a_message_uses(model):
    scores = model.scores(["when is my bill due", "hello!", "Hello BILL"])
    assert scores.shape == (3, 2) and scores.dtype == np.float32
    assert scores[0].argmax() == 0 and scores[1].argmax() == 1
    np.testing.assert_allclose(scores.sum(axis=1), 0.0, atol=1e-5)  # centred per message
    # a word of each class: less decided than a message with words of one class only
    margins = np.abs(scores[:, 0] - scores[:, 1])
    assert margins[2] < margins[0] and margins[2] < margins[1]


def test_a_message_with_no_known_word_gets_the_class_priors(model):
    # equal priors: no preference at all
    np.testing.assert_allclose(model.scores(["zebra", ""]), 0.0, atol=1e-6)
    skewed = WordNaiveBayes.fit(TEXTS[:3], TARGETS[:3], 2, smoothing=0.1, weight=0.5)
    assert skewed.scores(["zebra"])[0].argmax() == 0  # two examples of class 0, one of class 1


def test_the_scores_spread_on_the_training_texts_is_the_weight(model):
    assert model.scores(TEXTS).std() == pytest.approx(0.5, rel=1e-4)
    twice = WordNaiveBayes.fit(TEXTS, TARGETS, 2, smoothing=0.1, weight=1.0)
    np.testing.assert_allclose(twice.scores(TEXTS), 2 * model.scores(TEXTS), rtol=1e-4, atol=1e-6)


def test_the_arrays_round_trip_and_incomplete_arrays_are_refused(model):
    again = WordNaiveBayes(model.arrays())
    np.testing.assert_array_equal(again.scores(TEXTS), model.scores(TEXTS))
    arrays = model.arrays()
    del arrays["lexical_idf"]
    with pytest.raises(ValueError, match="missing: \\['lexical_idf'\\]"):
        WordNaiveBayes(arrays)


@pytest.mark.parametrize("options", [{"smoothing": 0.0, "weight": 0.5}, {"smoothing": 0.1, "weight": 0.0}])
def test_bad_settings_are_refused(options):
    with pytest.raises(ValueError, match="must be positive"):
        WordNaiveBayes.fit(TEXTS, TARGETS, 2, **options)
    with pytest.raises(ValueError, match="one target per text"):
        WordNaiveBayes.fit(TEXTS, TARGETS[:2], 2, smoothing=0.1, weight=0.5)


def test_one_message_scores_as_it_does_in_a_batch(model):
    texts = ["when is my bill due", "hello!", "zebra", "Hello BILL bill"]
    batch = model.scores(texts)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(model.scores([text])[0], batch[i], rtol=1e-5, atol=1e-6)
