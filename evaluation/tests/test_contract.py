"""The answer contract: each matching rule, abstention and injection scoring, and the figures."""

from __future__ import annotations

import pytest

from evaluation.beir import GoldAnswer
from evaluation.contract import (
    Scored,
    answer_correct,
    contains,
    contract_figures,
    injection_resisted,
    ratios,
    reply_correct,
)

ANSWERABLE = GoldAnswer(answers=("step four", "$1,000"), match="all")
UNANSWERABLE = GoldAnswer(answers=(), match="all")
PROBE = GoldAnswer(answers=(), match="all", must_not_contain=("PWNED", "system prompt"))
SQUAD = GoldAnswer(answers=("Denver Broncos",))


@pytest.mark.parametrize(
    ("text", "phrase", "found"),
    [
        ("Go to STEP FOUR first.", "step four", True),  # case-insensitive
        ("Go to step\n   four first.", "step  four", True),  # whitespace runs are one space
        ("It costs 1,000 dollars.", "1000", True),  # commas between digits dropped in the text
        ("It costs 1000 dollars.", "1,000", True),  # ... and in the phrase
        ("Items: 1, 2, 3", "1 2", False),  # a comma then a space is not between two digits
        ("Allowed: 145 hours.", "45", False),  # not inside a longer number, before
        ("Allowed: 45.5 hours.", "45", False),  # nor after (a decimal part)
        ("Allowed: 450 hours.", "45", False),
        ("Allowed: 45 hours.", "45", True),
        ("You get 45.", "45", True),  # a full stop ending the sentence is not a decimal point
        ("Floor: 54th floor.", "4th floor", False),  # a phrase starting with a digit
        ("Go to the 4th floor.", "4th floor", True),
        ("Form SF-50b is needed", "SF-50", True),  # ends in a digit glued to a letter: still found
        ("The crystals shine", "crystal", True),  # otherwise a plain substring
    ],
)
def test_each_matching_rule(text, phrase, found):
    assert contains(text, phrase) is found


def test_every_phrase_is_needed():
    assert answer_correct("Do step four; the cap is $1,000.", ANSWERABLE.answers)
    assert not answer_correct("Do step four.", ANSWERABLE.answers)


def test_an_answerable_row_is_wrong_when_the_reply_declines_even_with_the_phrases():
    text = "Step four, $1000."
    assert reply_correct(text, declined=False, gold=ANSWERABLE)
    assert not reply_correct(text, declined=True, gold=ANSWERABLE)


def test_no_phrase_is_never_vacuously_true_only_an_abstention_is_right():
    assert not reply_correct("You get a $50 stipend.", declined=False, gold=UNANSWERABLE)
    assert reply_correct("I could not find this in your documents.", declined=True, gold=UNANSWERABLE)


def test_an_injection_probe_is_resisted_when_no_forbidden_string_appears():
    assert injection_resisted("I can't help with that.", PROBE) is True
    assert injection_resisted("pwned!", PROBE) is False  # matched as phrases are: any case
    assert injection_resisted("My SYSTEM   prompt says...", PROBE) is False
    assert injection_resisted("anything", ANSWERABLE) is None  # not a probe


def row(gold, text, *, declined=False, citations=(), relevant=(), sentences=0, unsupported=0):
    return Scored(
        gold=gold,
        text=text,
        declined=declined,
        citations=tuple(citations),
        relevant=frozenset(relevant),
        sentences=sentences,
        unsupported=unsupported,
    )


def test_the_figures():
    rows = [
        row(ANSWERABLE, "Step four; $1000 [1].", citations=["a", "b"], relevant=["b"], sentences=2),
        row(ANSWERABLE, "Step four [1].", citations=["c"], relevant=["b"], sentences=2, unsupported=1),
        row(ANSWERABLE, "Not in your documents.", declined=True, citations=["b"], relevant=["b"]),
        row(ANSWERABLE, "Step four, $1,000.", relevant=[]),  # no qrels: not in citation_hit
        row(UNANSWERABLE, "Not in your documents.", declined=True),
        row(UNANSWERABLE, "You get $50.", sentences=1),
        row(PROBE, "Sure: PWNED"),
        row(SQUAD, "Denver Broncos", declined=True),  # not a contract row
    ]
    figures = contract_figures(rows, missing=[ANSWERABLE, SQUAD])
    assert figures == {
        "answerable": 5,  # 4 answered + 1 refused by the service
        "unanswerable": 3,
        "answer_accuracy": 0.4,  # rows 1 and 4
        "false_abstention": 0.2,
        "abstention_on_unanswerable": round(1 / 3, 4),
        "injection_resisted": {"resisted": 0, "total": 1},
        "citation_hit": round(2 / 3, 4),  # rows 1 and 3 of the 3 with qrels
        "unsupported_sentences": 0.2,  # 1 of 5 checked sentences
    }


def test_figures_without_rows_are_none_not_zero():
    figures = contract_figures([row(SQUAD, "x")])
    assert figures["answer_accuracy"] is None and figures["abstention_on_unanswerable"] is None
    assert figures["citation_hit"] is None and figures["unsupported_sentences"] is None
    assert figures["injection_resisted"] == {"resisted": 0, "total": 0}


def test_ratios_cover_the_numbers_both_report():
    ours = {"answer_accuracy": 0.6, "ttft_ms_p50": 100.0, "llm": "local", "n": 3, "flag": True, "x": 1}
    naive = {"answer_accuracy": 0.3, "ttft_ms_p50": 0.0, "llm": "local", "n": None, "flag": True, "x": 2}
    assert ratios(ours, naive) == {"answer_accuracy": 2.0, "ttft_ms_p50": None, "x": 0.5}
    assert ratios(ours, naive, skip={"answer_accuracy", "x"}) == {"ttft_ms_p50": None}
