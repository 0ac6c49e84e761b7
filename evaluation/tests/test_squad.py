"""SQuAD v1.1 metrics: the official normalisation, exact match and token F1, the best over golds."""

from __future__ import annotations

import pytest

from evaluation.squad import best_over_gold, exact_match, normalize_answer, token_f1


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Eiffel Tower", "eiffel tower"),  # lowercase, the article dropped
        ("  a  cat,  an owl and THE dog! ", "cat owl and dog"),  # articles, punctuation, spaces
        ("U.S.A.", "usa"),  # punctuation is removed, not turned into spaces
        ("theory of the atom", "theory of atom"),  # whole words only: "theory" keeps its "the"
        ("Denver Broncos'", "denver broncos"),
        ("$1,000", "1000"),
        ("„Café“ — déjà vu", "„café“ — déjà vu"),  # only ASCII punctuation, as the script does
        ("", ""),
    ],
)
def test_normalisation(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_after_normalisation():
    assert exact_match("the Denver Broncos.", "Denver Broncos") == 1.0
    assert exact_match("Denver", "Denver Broncos") == 0.0


def test_token_f1():
    assert token_f1("Denver Broncos", "Denver Broncos") == 1.0
    # 1 common token: precision 1/1, recall 1/2 -> 2/3
    assert token_f1("Denver", "the Denver Broncos") == pytest.approx(2 / 3)
    # "in spring" against "the quindle migrates in spring": P 2/4, R 2/2 -> 2/3
    assert token_f1("the quindle migrates in spring", "in spring") == pytest.approx(2 / 3)
    assert token_f1("x y y", "y y z") == pytest.approx(2 / 3)  # tokens count as a multiset
    assert token_f1("Broncos", "Panthers") == 0.0
    assert token_f1("the", "Panthers") == 0.0  # nothing left after normalisation
    assert token_f1("", "") == 0.0  # as the script: no common token scores 0


def test_the_best_gold_answer_counts():
    golds = ["Santa Clara, California", "Levi's Stadium", "Levi's Stadium in Santa Clara"]
    assert best_over_gold(exact_match, "levis stadium", golds) == 1.0
    assert best_over_gold(token_f1, "Santa Clara", golds) == pytest.approx(0.8)  # P 1, R 2/3
    assert best_over_gold(token_f1, "anything", []) == 0.0
