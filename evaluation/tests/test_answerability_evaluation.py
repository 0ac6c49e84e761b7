"""`evaluate --answerability` on a tiny generated folder with known results, and its training data."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from evaluation.answerability_data import Paragraph, dataset_build, pseudo_question
from evaluation.beir import load_beir
from evaluation.harness import EvaluationOptions, evaluate
from evaluation.tests.beir_builders import write_folder
from governance.models import AccessGroup
from retrieval.answerability import FEATURES

CORPUS = [
    {"_id": "d1", "title": "Zorblax", "text": "Zorblax crystals glow in caves."},
    {"_id": "d2", "title": "Quindle", "text": "The quindle migrates in spring."},
    {"_id": "d3", "title": "Flumox", "text": "Flumox grows near rivers."},
    {"_id": "d4", "title": "Weather", "text": "A note about the weather in general."},
]
QUERIES = [
    {"_id": "q1", "text": "Where do zorblax crystals glow?"},
    {"_id": "q2", "text": "When does the quindle migrate?"},
    {"_id": "q3", "text": "Where does flumox grow?"},
    {"_id": "q4", "text": "weather"},  # no gold documents named: not checked
]
QRELS = ["query-id\tcorpus-id\tscore", "q1\td1\t1", "q2\td2\t1", "q3\td3\t1", "q4\td4\t1"]
GOLD = {"q1": ["d1"], "q2": ["d2"], "q3": ["d3"], "q9": ["d1"]}


def _folder(tmp_path, gold=GOLD):
    folder = write_folder(tmp_path / "beir", CORPUS, QUERIES, QRELS)
    lines = [{"_id": q, "answers": ["x"], "gold_doc_ids": ids} for q, ids in gold.items() if q != "q9"]
    (folder / "answers.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.mark.django_db
def test_the_check_abstains_when_the_gold_is_removed_and_not_when_present(
    tmp_path, settings, use_answerability
):
    settings.TESSERA = {**settings.TESSERA, "SEARCH_FUSION": "rrf"}  # BM25's first place wins (fake vectors)
    use_answerability()  # coverage only: each question's words are in its gold document alone
    features = tmp_path / "features.jsonl"
    options = EvaluationOptions(rerank=False, gold_documents=GOLD, features=features)
    result = evaluate(load_beir(_folder(tmp_path)), state_dir=tmp_path, options=options)
    assert result["abstain_gold_present"] == 0.0 and result["abstain_gold_removed"] == 1.0
    # the gold was hidden the product's way (an access group), and the group rolled back with it
    assert not AccessGroup.objects.exists()
    assert result["answerability_questions"] == 3 and result["gold_found_present"] == 1.0
    assert result["answerability_ms_p50"] is not None
    rows = [json.loads(line) for line in features.read_text().splitlines()]
    assert [(r["_id"], r["gold_present"]) for r in rows] == [
        (q, present) for q in ("q1", "q2", "q3") for present in (True, False)
    ]
    assert all(len(r["features"]) == len(FEATURES) for r in rows)


def test_the_flag_needs_gold_documents_and_features_need_the_flag(tmp_path):
    folder = _folder(tmp_path, gold={})
    with pytest.raises(CommandError, match="gold_doc_ids"):
        call_command("evaluate", data=str(folder), answerability=True)
    with pytest.raises(CommandError, match="add --answerability"):
        call_command("evaluate", data=str(folder), features=str(tmp_path / "f.jsonl"))
    (folder / "answers.jsonl").write_text('{"_id": "q1", "answers": ["x"], "gold_doc_ids": "d1"}\n')
    with pytest.raises(CommandError, match=r"answers\.jsonl:1"):
        call_command("evaluate", data=str(folder), answerability=True)


def test_a_pseudo_question_takes_its_answer_out_of_a_sentence():
    import random

    paragraph = Paragraph(
        "p", "t", "The archive keeps 42 versions of every file. Older versions are deleted at night."
    )
    question = pseudo_question(paragraph, random.Random(0))
    assert question is not None and question.answer == "42" and question.paragraph_id == "p"
    assert question.text.startswith(("How many", "How much")) and "42" not in question.text


def test_the_training_data_is_a_beir_folder_built_the_same_way_each_time(tmp_path, settings):
    first = dataset_build(tmp_path / "a", base_dir=settings.BASE_DIR, questions=50)
    dataset_build(tmp_path / "b", base_dir=settings.BASE_DIR, questions=50)
    for name in ("corpus.jsonl", "queries.jsonl", "answers.jsonl", "qrels.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    dataset = load_beir(tmp_path / "a")
    assert first["questions"] == len(dataset.queries) == 50 and first["paragraphs"] > 300
    corpus_ids = {d.id for d in dataset.corpus}
    gold = [json.loads(line) for line in (tmp_path / "a" / "answers.jsonl").read_text().splitlines()]
    assert all(row["gold_doc_ids"][0] in corpus_ids for row in gold)


def test_a_features_file_is_scored_with_a_model_file(tmp_path, capsys):
    from assistant.tests.conftest import COVERAGE_ONLY
    from retrieval.answerability import AnswerabilityModel

    model_file = tmp_path / "model.json"
    AnswerabilityModel(**COVERAGE_ONLY).save(model_file)
    covered, uncovered = [0, 0, 0, 1.0, 0, 0, 0, 0, 0], [0, 0, 0, 0.1, 0, 0, 0, 0, 0]
    rows = [(True, covered), (True, uncovered), (False, uncovered), (False, uncovered)]
    features = tmp_path / "features.jsonl"
    features.write_text(
        "".join(json.dumps({"_id": "q", "gold_present": g, "features": x}) + "\n" for g, x in rows)
    )
    call_command("answerability_train", score=str(features), out=str(model_file))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["abstain_gold_present"] == 0.5 and result["abstain_gold_removed"] == 1.0
    with pytest.raises(CommandError, match="Cannot score"):
        call_command("answerability_train", score=str(tmp_path / "missing.jsonl"), out=str(model_file))


def test_a_model_is_fitted_from_a_features_file_without_building_data(tmp_path, capsys):
    import numpy as np

    from retrieval.answerability import AnswerabilityModel

    rng = np.random.default_rng(0)
    lines = []
    for number in range(200):
        present = bool(number % 2)
        x = rng.normal(size=len(FEATURES)) * 0.3
        x[8] += 1.0 if present else 0.0  # sentence_coverage tells them apart
        lines.append(json.dumps({"_id": f"q{number // 2}", "gold_present": present, "features": x.tolist()}))
    features = tmp_path / "features.jsonl"
    features.write_text("\n".join(lines) + "\n")
    out = tmp_path / "model.json"
    call_command("answerability_train", features=str(features), out=str(out))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = AnswerabilityModel.load(out)
    assert len(model.coef) == len(FEATURES)
    assert result["validation_abstain_answerable"] <= 0.03 < result["validation_abstain_unanswerable"]
    assert model.relevance_threshold is not None and model.relevance_threshold <= model.threshold
    with pytest.raises(CommandError, match="Cannot read the features"):
        call_command("answerability_train", features=str(tmp_path / "missing.jsonl"), out=str(out))


def test_the_training_corpus_holds_the_language_reference_and_questions_ask_by_answer_kind():
    import random

    from evaluation.answerability_data import reference_paragraphs

    reference = list(reference_paragraphs())
    assert len(reference) > 300 and all(p.id.startswith("ref:") for p in reference)
    paragraph = Paragraph("p", "t", "The first release of the archive format came out in 1997 in Oslo.")
    question = pseudo_question(paragraph, random.Random(0))
    assert question is not None and question.answer == "1997"
    assert question.text.startswith(("When", "In what year")) and "1997" not in question.text


def test_the_sentence_vector_cache_embeds_each_text_once_and_gives_the_same_vectors():
    import numpy as np

    from evaluation.answerability import SentenceVectorCache
    from retrieval.embedding import FakeEmbedder

    inner = FakeEmbedder()
    seen: list[str] = []
    original = inner.embed_documents

    def counting(texts, batch_size=32):
        seen.extend(texts)
        return original(texts, batch_size)

    inner.embed_documents = counting
    cache = SentenceVectorCache(inner, max_texts=3)
    first = cache.embed_documents(["a b", "c d", "a b"])
    np.testing.assert_allclose(first, original(["a b", "c d", "a b"]))
    assert seen == ["a b", "c d"]  # a repeated text is embedded once
    np.testing.assert_allclose(cache.embed_documents(["c d"]), first[1:2])
    assert seen == ["a b", "c d"]
    cache.embed_documents(["e", "f"])  # over max_texts: the cache starts again
    assert seen[-2:] == ["e", "f"] and cache.embed_documents([]).shape == (0, inner.dimension)
    assert cache.count_tokens("a b") == inner.count_tokens("a b")
