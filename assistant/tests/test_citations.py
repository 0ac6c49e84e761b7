"""Markers in an LLM answer resolved against the passages shown, sentences checked against the
passages they cite, and the sentence splitter both rely on."""

from __future__ import annotations

import dataclasses

import pytest

from assistant.answering.compose import Evidence, split_sentences
from assistant.answering.search import PassageHit
from assistant.answering.verify import check_answer, markers_in, resolve_markers, strip_markers, word_coverage
from retrieval.embedding import FakeEmbedder

LEAVE = "Employees get sixteen weeks of paid parental leave after six months of service."
MEALS = "Meals are reimbursed up to forty euros a day."


def _evidence(marker: int, text: str, title: str = "Employee handbook") -> Evidence:
    passage = PassageHit(
        chunk_id=marker * 10,
        version_id=1,
        score=1.0,
        text=text,
        heading_path=("Employee handbook",),
        page=None,
        char_start=0,
        char_end=len(text),
        dense_rank=1,
        sparse_rank=1,
    )
    return Evidence(marker, 1, title, passage, tuple(split_sentences(text)))


@pytest.mark.parametrize(
    ("answer", "text", "markers", "dropped"),
    [
        ("Sixteen weeks [1].", "Sixteen weeks [1].", [1], 0),
        ("Sixteen weeks [1][9].", "Sixteen weeks [1].", [1], 1),  # [9] points at no passage
        ("Sixteen weeks [9].", "Sixteen weeks.", [], 1),  # the space before it goes with it
        ("Both [2, 1; 9].", "Both [2][1].", [2, 1], 1),  # lists split; order of first use kept
        ("A [1]. B [1][1]. C [2].", "A [1]. B [1] [1]. C [2].", [1, 2], 0),
        ("[0] and [01] and [1].", "and [1] and [1].", [1], 1),  # 01 is 1; 0 is no passage
        ("[2] Starts with a marker.", "[2] Starts with a marker.", [2], 0),
        ("In [2024] and [a] and [ 1 ].", "In [2024] and [a] and [ 1 ].", [], 0),  # not markers
        ("Sixteen weeks.[1]", "Sixteen weeks. [1]", [1], 0),
        ("", "", [], 0),
    ],
)
def test_resolve_markers_keeps_valid_ones_and_drops_the_rest(answer, text, markers, dropped):
    checked = resolve_markers(answer, {1, 2})
    assert (checked.text, checked.markers, checked.dropped_markers) == (text, markers, dropped)


def test_markers_in_and_strip_markers():
    assert markers_in("A [1] b [2, 3] c [4;5].") == (1, 2, 3, 4, 5)
    assert markers_in("No markers [x] here.") == ()
    assert strip_markers("Sixteen  weeks [1][2] of leave [3].") == "Sixteen weeks of leave."


@pytest.mark.parametrize(
    ("sentence", "passage", "coverage"),
    [
        ("Sixteen weeks", LEAVE, 1.0),
        ("SIXTEEN Weeks!", LEAVE, 1.0),  # case and punctuation do not matter
        ("Sixteen weeks of unpaid leave", LEAVE, 0.75),  # "of" is a stopword: 3 of 4 words
        ("It is the one.", LEAVE, 0.0),  # "one" is not in the passage
        ("It is.", LEAVE, 1.0),  # only stopwords: nothing to contradict
        ("", LEAVE, 1.0),
        ("Sixteen weeks", "", 0.0),
        ("Forty euros", MEALS, 1.0),
    ],
)
def test_word_coverage(sentence, passage, coverage):
    assert word_coverage(sentence, passage) == pytest.approx(coverage)


def test_a_miscited_sentence_is_repaired_and_an_unsupported_one_stays_flagged():
    evidence = [_evidence(1, LEAVE), _evidence(2, MEALS)]
    checked = check_answer(
        "Sixteen weeks [1]. Forty euros a day [1]. Forty euros a day [2]. Uncited claim.",
        evidence,
        embedder=FakeEmbedder(),
    )
    assert [(s.text, s.markers, s.supported) for s in checked.sentences] == [
        ("Sixteen weeks.", (1,), True),
        ("Forty euros a day.", (2,), True),  # cited [1], but it is [2] that says so: repaired
        ("Forty euros a day.", (2,), True),
        ("Uncited claim.", (), False),  # nothing supports it: no citation is invented
    ]
    assert checked.repaired == 1 and checked.unsupported == 1 and checked.markers == [1, 2]
    # only the repaired sentence's marker changes (markers stand before the full stop, as checked)
    assert checked.text == "Sixteen weeks [1]. Forty euros a day. [2] Forty euros a day [2]. Uncited claim."


def test_a_repair_keeps_the_answers_lines_lists_and_code_as_written():
    evidence = [_evidence(1, LEAVE), _evidence(2, MEALS)]
    answer = "Forty euros a day [1].\n\n1. Sixteen weeks [1]\n2. Uncited claim\n\n```sh\nsixteen weeks\n```"
    checked = check_answer(answer, evidence, embedder=FakeEmbedder())
    assert checked.repaired == 1
    assert checked.text == answer.replace("Forty euros a day [1].", "Forty euros a day. [2]")


def test_a_repaired_list_item_keeps_its_number_before_its_text():
    # "1." used to be a sentence of its own, and the repair put the marker after it: "1. [2] Forty ..."
    answer = "Do this:\n1. Forty euros a day [1].\n2. Sixteen weeks [1]."
    checked = check_answer(answer, [_evidence(1, LEAVE), _evidence(2, MEALS)], embedder=FakeEmbedder())
    # the number is layout, not a claim: the sentence checked is the item's text
    assert [s.text for s in checked.sentences] == ["Do this:", "Forty euros a day.", "Sixteen weeks."]
    assert checked.text == "Do this:\n1. Forty euros a day. [2]\n2. Sixteen weeks [1]."


def test_an_answer_without_repairs_keeps_its_text_as_written():
    checked = check_answer(
        "Sixteen weeks [1].\n\nForty euros [2].",
        [_evidence(1, LEAVE), _evidence(2, MEALS)],
        embedder=FakeEmbedder(),
    )
    assert checked.repaired == 0 and checked.text == "Sixteen weeks [1].\n\nForty euros [2]."


def test_a_marker_after_the_full_stop_cites_the_sentence_before_it():
    evidence = [_evidence(1, LEAVE), _evidence(2, MEALS)]
    checked = check_answer(
        "Sixteen weeks of paid leave. [1] Meals up to forty euros a day. [2]",
        evidence,
        embedder=FakeEmbedder(),
    )
    assert checked.text == "Sixteen weeks of paid leave. [1] Meals up to forty euros a day. [2]"
    assert [(s.text, s.markers, s.supported) for s in checked.sentences] == [
        ("Sixteen weeks of paid leave.", (1,), True),
        ("Meals up to forty euros a day.", (2,), True),
    ]
    assert checked.unsupported == 0


def test_an_answer_of_markers_only_has_no_sentences_to_check():
    checked = check_answer("[1] [9]", [_evidence(1, LEAVE)], embedder=FakeEmbedder())
    assert checked.text == "[1]" and checked.sentences == [] and checked.dropped_markers == 1


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Why?! Because.", ["Why?!", "Because."]),
        ("Pay 3.5 days. Then e-mail HR.", ["Pay 3.5 days.", "Then e-mail HR."]),  # no space: no end
        (
            "# Title\nFirst line\n\n- item one\n- item two",
            ["# Title", "First line", "- item one", "- item two"],
        ),
        ('He said "go." Then we left.', ['He said "go."', "Then we left."]),  # the quote stays
        ("(All staff.) Next one.", ["(All staff.)", "Next one."]),
        ('("Done.") Next.', ['("Done.")', "Next."]),
        ("  \n\n  ", []),
        ("", []),
        ("No full stop at the end", ["No full stop at the end"]),
        ("Sixteen weeks [1]. Forty euros [2].", ["Sixteen weeks [1].", "Forty euros [2]."]),
        # an ordered list's numbers stay with their item, at any indent; a number mid-line is a sentence
        (
            "Steps:\n1. Wait. Then go [1].\n  2. Run it.\n10. Ten.",
            ["Steps:", "1. Wait.", "Then go [1].", "2. Run it.", "10. Ten."],
        ),
        ("1. First", ["1. First"]),
        ("Pick option 2. Then save.", ["Pick option 2.", "Then save."]),
    ],
)
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


def test_the_check_reuses_the_vectors_evidence_selection_computed():
    embedder = FakeEmbedder()
    item = _evidence(1, LEAVE)
    with_vectors = dataclasses.replace(item, vectors=embedder.embed_documents(list(item.sentences)))
    embedded = []
    original = embedder.embed_documents

    def counting(texts, batch_size=32):
        embedded.extend(texts)
        return original(texts, batch_size)

    embedder.embed_documents = counting
    checked = check_answer("Sixteen weeks [1].", [with_vectors], embedder=embedder)
    assert checked.sentences[0].supported and embedded == ["Sixteen weeks."]  # only the answer's sentence
