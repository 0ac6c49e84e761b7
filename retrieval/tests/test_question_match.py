"""The answer cache's text side: the exact-match key, and the key terms a paraphrase keeps."""

from __future__ import annotations

from retrieval.question_match import key_terms, normalise, same_key_terms


def test_the_exact_match_key_ignores_case_spacing_and_surrounding_punctuation():
    assert normalise("  How long is   PAID leave?! ") == "how long is paid leave"
    assert normalise("\u00bfCu\u00e1nto dura?") == "cu\u00e1nto dura"
    assert normalise("Is it 16 or 18 weeks?") != normalise("Is it 16 or 19 weeks?")


def test_key_terms_are_numbers_and_names_not_sentence_starts():
    assert key_terms("Who approves requests over 500 euros in Q3? Ask the VPN team.") == {"500", "q3", "vpn"}
    assert key_terms("Can I work from home on Fridays? How?") == {"fridays"}
    assert key_terms("how long is paid parental leave") == frozenset()


def test_questions_are_the_same_only_when_each_keeps_the_others_key_terms():
    assert same_key_terms("Is the Berlin office open?", "is the office in berlin open")
    assert same_key_terms("How long is paid leave?", "For how long is leave paid?")
    assert not same_key_terms("Requests over 500 euros?", "Requests over 5000 euros?")
    assert not same_key_terms("Leave in France?", "Leave?")  # either way round
    assert not same_key_terms("Leave?", "Leave in France?")
