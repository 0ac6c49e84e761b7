"""Questions written in people's words by the local LLM: what is kept, what the round trip drops,
and how training uses them (the LLM itself is faked here; the shipped file was written by it)."""

from __future__ import annotations

import json
import random

import pytest
from django.core.management import call_command

from evaluation.answerability_data import Paragraph, dataset_build
from evaluation.answerability_questions import (
    QUESTIONS_FILE,
    Complete,
    answered_by,
    load_questions,
    plausible_question,
    save_questions,
    write_question,
    written_questions,
)
from retrieval.answerability import FEATURES

PARAGRAPH = Paragraph(
    "doc:handbook:3",
    "handbook",
    "Carried-over days must be taken before the end of March, or they are lost. "
    "Employees may carry over up to five unused days of annual leave into the next year. Short.",
)


def fake_llm(question: str, answer: str) -> tuple[Complete, list[tuple[str, float]]]:
    calls: list[tuple[str, float]] = []

    def complete(system: str, user: str, seed: int, temperature: float) -> str:
        calls.append((user, temperature))
        return question if "Write one question" in user else answer

    return complete, calls


def test_a_question_its_sentence_answers_is_kept_with_the_round_trip_answer():
    complete, calls = fake_llm("How many leave days can I move to next year?", "up to five unused days")
    kept = write_question(PARAGRAPH, complete, rng=random.Random(0), model="m")
    assert kept is not None and kept.text == "How many leave days can I move to next year?"
    assert kept.answer == "up to five unused days" and kept.id == "llm:doc:handbook:3"
    assert kept.sentence in PARAGRAPH.text and kept.model == "m"
    (ask, warm), (answer, cold) = calls
    assert kept.sentence in ask and warm > 0  # the writer sees the sentence, and writes freely
    assert kept.sentence not in answer.split("Question:")[1] and cold == 0  # the answerer does not


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("How many leave days can I move to next year?", "NONE"),  # the paragraph does not answer it
        ("How many leave days can I move to next year?", "the end of March"),  # another sentence does
        ("Does leave carry over?", "Yes"),  # not a question the check is for
        ("Employees may carry over up to five unused days of annual leave?", "five"),  # copied
        ("What does the document say about leave?", "five unused days"),
    ],
)
def test_questions_that_fail_the_round_trip_or_copy_their_sentence_are_dropped(question, answer):
    complete, _ = fake_llm(question, answer)
    assert write_question(PARAGRAPH, complete, rng=random.Random(0), model="m") is None


def test_the_checks_themselves():
    sentence = "Carried-over days must be taken before the end of March, or they are lost."
    assert plausible_question("When must carried-over days be used?", sentence)
    assert not plausible_question("When must carried-over days be used", sentence)  # no question mark
    assert not plausible_question("When? Why?", sentence)
    assert answered_by("before the end of March", sentence, "When must carried-over days be used?")
    assert not answered_by("carried-over days", sentence, "When must carried-over days be used?")  # echo
    assert not answered_by("None.", sentence, "When must carried-over days be used?")


def test_questions_are_written_one_per_paragraph_until_enough(tmp_path):
    complete, _ = fake_llm("How many leave days can I move to next year?", "five unused days")
    one_sentence = "Employees may carry over up to five unused days of annual leave into the next year."
    paragraphs = [Paragraph(f"p{i}", "t", one_sentence) for i in range(5)]
    made = list(written_questions(paragraphs, complete, wanted=3, model="m"))
    assert [q.paragraph_id for q in made] == ["p0", "p1", "p2"]
    path = tmp_path / "questions.jsonl"
    save_questions(made, path)
    assert load_questions(path) == made
    assert load_questions(tmp_path / "absent.jsonl") == []


def test_the_shipped_questions_are_on_paragraphs_of_the_corpus_the_pseudo_questions_leave_free(
    tmp_path, settings
):
    shipped = load_questions(QUESTIONS_FILE)
    assert len(shipped) >= 100 and all(q.id.startswith("llm:") and q.text.endswith("?") for q in shipped)
    assert len({q.paragraph_id for q in shipped}) == len(shipped)
    counts = dataset_build(tmp_path, base_dir=settings.BASE_DIR, questions=700, written=shipped)
    assert counts["written_questions"] == len(shipped)  # every one's paragraph is in the corpus
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    pseudo = {a["gold_doc_ids"][0] for a in answers if not a["_id"].startswith("llm:")}
    assert not pseudo & {q.paragraph_id for q in shipped}


def test_training_leaves_the_written_questions_out_and_reports_on_them(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(1)
    lines = []
    for number in range(400):
        present, written = bool(number % 2), number >= 300
        x = rng.normal(size=len(FEATURES)) * 0.3
        x[8] += (0.6 if written else 1.0) if present else 0.0  # the written ones are harder to tell
        name = f"llm:p{number // 2}" if written else f"q{number // 2}"
        lines.append(json.dumps({"_id": name, "gold_present": present, "features": x.tolist()}))
    features = tmp_path / "features.jsonl"
    features.write_text("\n".join(lines) + "\n")
    call_command("answerability_train", features=str(features), out=str(tmp_path / "model.json"))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["train_cases"] + result["validation_cases"] == 300 and result["written_cases"] == 100
    assert result["validation_abstain_answerable"] <= 0.03
    assert 0 <= result["written_abstain_answerable"] < result["written_abstain_unanswerable"] <= 1


def test_writing_questions_without_the_local_llm_is_a_clear_error(settings, tmp_path):
    from django.core.management.base import CommandError

    settings.TESSERA = {**settings.TESSERA, "LLM_MODEL": "some-remote-model", "MODELS_DIR": str(tmp_path)}
    with pytest.raises(CommandError, match="needs the local LLM"):
        call_command("answerability_train", write_questions=5)
    with pytest.raises(CommandError, match="at least 1"):
        call_command("answerability_train", write_questions=0)
    assert load_questions(QUESTIONS_FILE)  # the shipped file is left as it was
