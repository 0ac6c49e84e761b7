"""`evaluate --answers`: the real answer path with a scripted chat model, scored with known SQuAD
exact match / F1; the short answer that is scored; the predictions file; the command's checks."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from assistant.models import Message
from assistant.tests.fakes import DownChatModel, scripted
from evaluation.answers import short_answer
from evaluation.beir import load_beir
from evaluation.harness import EvaluationOptions, evaluate
from evaluation.tests.beir_builders import write_folder
from evaluation.tests.test_evaluation import CORPUS, QRELS, QUERIES, rank_fusion  # noqa: F401 (autouse)

# Asked in file order: q1, q2, q3, q6 (q4 and q5 have no gold answer, so are only searched).
ANSWERS = [
    {"_id": "q1", "question": "zorblax", "answers": ["zorblax crystals", "crystals"]},
    {"_id": "q2", "answers": ["in spring"]},
    {"_id": "q3", "answers": ["Flumox everywhere"]},
    {"_id": "q6", "answers": ["nothing"]},
]
REPLIES = [
    "Zorblax crystals [1]. They are studied in the field [1].",  # EM 1, F1 1
    "The quindle migrates in spring [1].",  # EM 0, F1 2/3: P 2/4 ("the" dropped), R 2/2
    "NOT_IN_DOCUMENTS",  # abstains: 0
    "[1] Something else.",  # no short answer before the marker: the sentence is scored: 0
]


def folder_with_answers(root, answers=ANSWERS):
    folder = write_folder(root, CORPUS, QUERIES, QRELS)
    (folder / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return folder


@pytest.mark.parametrize(
    ("text", "scored"),
    [
        ("308 [1]. The Panthers gave up 308 points [1].", "308"),
        ("308 [1]\nThe Panthers gave up 308 points [1].", "308"),
        ("The Panthers gave up 308 points [1]. Then more [2].", "The Panthers gave up 308 points"),
        ("Denver Broncos [1][2] won.", "Denver Broncos"),
        ("[1] 308 points.", "308 points."),  # a marker first: the whole first sentence
        ("Sixteen weeks. More text.", "Sixteen weeks."),  # no marker: the first sentence
        ("", ""),
    ],
)
def test_the_short_answer_is_the_first_sentence_up_to_its_first_marker(text, scored):
    assert short_answer(text) == scored


@pytest.mark.django_db
def test_answers_are_generated_through_the_answer_path_and_scored(tmp_path, use_llm):
    use_llm(scripted(*REPLIES))
    predictions = tmp_path / "predictions.jsonl"
    dataset = load_beir(folder_with_answers(tmp_path / "beir"))
    options = EvaluationOptions(rerank=False, answers=True, predictions=predictions)
    result = evaluate(dataset, state_dir=tmp_path, options=options)

    assert result["ndcg@10"] == pytest.approx(0.6)  # the retrieval metrics are still there
    assert result["answers"] == 4 and result["answers_failed"] == 0
    assert result["exact_match"] == pytest.approx(25.0)  # (1 + 0 + 0 + 0) / 4, as a percentage
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3) / 4, abs=0.01)
    # q6's "Something else" is backed by no passage: replaced by the passages (extractive)
    assert result["abstained"] == 0.25 and result["extractive"] == 0.25
    assert result["llm_calls"] == 4 and result["llm"] == "local:test-model"
    assert result["prompt_tokens_mean"] == 0.0  # the fake reports no usage
    assert 0 < result["ttft_ms_p50"] <= result["ttft_ms_p95"]
    assert result["llm_ttft_ms_p50"] <= result["ttft_ms_p50"] <= result["answer_ms_p50"]
    assert Message.objects.filter(role="assistant").count() == 4  # stored like any answer

    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [line["_id"] for line in lines] == ["q1", "q2", "q3", "q6"]
    timings = lines[0].pop("timings_ms")
    assert {"retrieve", "llm_first_token", "total"} <= set(timings)
    assert lines[0] == {
        "_id": "q1",
        "answer": REPLIES[0],
        "short_answer": "Zorblax crystals",
        "kind": "answered",
        "route": "question",
        "llm_called": True,
        "citations": ["d:1/é"],  # Citation.document_id mapped back to the corpus id
        "abstained": False,
        "refused": False,
        "exact_match": 1.0,
        "f1": 1.0,
        "correct": None,  # a SQuAD row: not scored by the answer contract
        "citation_hit": None,
        "injection_resisted": None,
        "sentences": 2,  # checked against the passages they cite:
        "unsupported_sentences": 1,  # "studied in the field" is not in passage [1]
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
    assert lines[1]["f1"] == pytest.approx(2 / 3)
    assert lines[2]["abstained"] is True and lines[2]["kind"] == "not_found"
    assert lines[2]["citations"]  # an abstention lists the closest passages it was shown


@pytest.mark.django_db
def test_an_llm_that_is_down_gives_extractive_answers_that_score_nothing(tmp_path, use_llm):
    use_llm(DownChatModel())
    dataset = load_beir(folder_with_answers(tmp_path / "beir"))
    result = evaluate(dataset, state_dir=tmp_path, options=EvaluationOptions(rerank=False, answers=True))
    assert result["extractive"] == 1.0 and result["abstained"] == 0.0
    assert result["exact_match"] == 0.0 and result["f1"] == 0.0
    assert result["ttft_ms_p50"] is None  # no first token was ever received


@pytest.mark.django_db
def test_without_answers_nothing_is_answered(tmp_path, use_llm):
    model = use_llm(DownChatModel())
    dataset = load_beir(folder_with_answers(tmp_path / "beir"))
    result = evaluate(dataset, state_dir=tmp_path, options=EvaluationOptions(rerank=False))
    assert "exact_match" not in result and "answers" not in result
    assert model.calls == 0 and not Message.objects.exists()


def test_the_command_checks_the_answer_options_before_any_work(tmp_path):
    plain = write_folder(tmp_path / "plain", CORPUS, QUERIES, QRELS)
    with pytest.raises(CommandError, match="--answers needs gold answers"):
        call_command("evaluate", data=str(plain), answers=True)
    with pytest.raises(CommandError, match="add --answers"):
        call_command("evaluate", data=str(plain), predictions=str(tmp_path / "p.jsonl"))
    (tmp_path / "file").write_text("")
    with pytest.raises(CommandError, match="Cannot write"):
        call_command(
            "evaluate",
            data=str(folder_with_answers(tmp_path / "beir")),
            answers=True,
            predictions=str(tmp_path / "file" / "p.jsonl"),
        )


@pytest.mark.slow
def test_the_child_answers_and_writes_predictions(tmp_path, settings, capfd, monkeypatch):
    """The command end to end (a child process, which no fake reaches): with the extractive
    provider every answer is the labelled passages, so nothing scores, but every line is written."""
    monkeypatch.setenv("TESSERA_SEARCH_FUSION", "rrf")
    monkeypatch.setenv("TESSERA_LLM_PROVIDER", "extractive")
    settings.DATA_DIR = tmp_path / "installation"
    predictions = tmp_path / "out" / "predictions.jsonl"
    folder = folder_with_answers(tmp_path / "beir")
    call_command(
        "evaluate", data=str(folder), answers=True, predictions=str(predictions), no_rerank=True, verbosity=0
    )
    result = json.loads(capfd.readouterr().out.strip().splitlines()[-1])
    assert result["answers"] == 4 and result["extractive"] == 1.0 and result["llm_calls"] == 0
    assert result["f1"] == 0.0 and result["llm"] == "extractive"
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [line["_id"] for line in lines] == ["q1", "q2", "q3", "q6"]
    assert all(line["llm_called"] is False and line["citations"] for line in lines)
