"""Reading BEIR folders: what is accepted as is, and what is refused with its file and line."""

from __future__ import annotations

import json

import pytest

from evaluation.beir import BeirDocument, BeirFormatError, BeirQuery, GoldAnswer, load_beir
from evaluation.tests.beir_builders import write_folder

CORPUS = [
    {"_id": "doc:1/é#x", "title": "First", "text": "One."},
    {"_id": 42, "text": "No title key, a numeric id."},
    {"_id": "d 3", "title": None, "text": "Null title.", "metadata": {"x": 1}},
]
QUERIES = [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}, {"_id": "q3", "text": "unjudged"}]
QRELS = ["query-id\tcorpus-id\tscore", "q1\tdoc:1/é#x\t2", "q1\td 3\t0", "q2\t42\t1"]


def test_reads_records_in_order_with_ids_as_strings(tmp_path):
    dataset = load_beir(write_folder(tmp_path, CORPUS, QUERIES, QRELS))
    assert dataset.corpus == [
        BeirDocument("doc:1/é#x", "First", "One."),
        BeirDocument("42", "", "No title key, a numeric id."),
        BeirDocument("d 3", "", "Null title."),
    ]
    assert dataset.queries[0] == BeirQuery("q1", "one")
    assert dataset.qrels == {"q1": {"doc:1/é#x": 2, "d 3": 0}, "q2": {"42": 1}}
    assert [q.id for q in dataset.judged_queries()] == ["q1", "q2"]
    assert [q.id for q in dataset.judged_queries(limit=1)] == ["q1"]
    assert dataset.warnings == []


def test_bom_crlf_blank_lines_and_no_qrels_header(tmp_path):
    qrels = ["q1\tdoc:1/é#x\t1", "", "q2 42 1.0"]  # no header; a line without tabs splits on spaces
    dataset = load_beir(write_folder(tmp_path, [*CORPUS, ""], QUERIES, qrels, newline="\r\n", bom=True))
    assert dataset.corpus[0].id == "doc:1/é#x"
    assert dataset.corpus[-1].text == "Null title."
    assert dataset.qrels == {"q1": {"doc:1/é#x": 1}, "q2": {"42": 1}}


def test_unknown_ids_in_qrels_are_warned_about(tmp_path):
    qrels = [*QRELS, "ghost\tdoc:1/é#x\t1", "q2\tmissing-doc\t1"]
    dataset = load_beir(write_folder(tmp_path, CORPUS, QUERIES, qrels))
    assert "ghost" not in dataset.qrels  # a query that cannot be run is not scored
    assert dataset.qrels["q2"] == {"42": 1, "missing-doc": 1}  # a document never found counts against recall
    assert len(dataset.warnings) == 2
    assert "1 query ids are not in queries.jsonl" in dataset.warnings[0]
    assert "1 corpus ids are not in corpus.jsonl" in dataset.warnings[1]


@pytest.mark.parametrize(
    ("corpus", "queries", "qrels", "where", "message"),
    [
        ([*CORPUS, "{not json"], QUERIES, QRELS, "corpus.jsonl:4", "not JSON"),
        ([*CORPUS, "[1, 2]"], QUERIES, QRELS, "corpus.jsonl:4", "expected a JSON object"),
        ([{"title": "t", "text": "no id"}], QUERIES, QRELS, "corpus.jsonl:1", "'_id' must be"),
        ([{"_id": "", "text": "x"}], QUERIES, QRELS, "corpus.jsonl:1", "'_id' must be"),
        ([{"_id": True, "text": "x"}], QUERIES, QRELS, "corpus.jsonl:1", "'_id' must be"),
        ([*CORPUS, {"_id": 42, "text": "again"}], QUERIES, QRELS, "corpus.jsonl:4", "duplicate _id '42'"),
        ([{"_id": "a", "text": ["list"]}], QUERIES, QRELS, "corpus.jsonl:1", "'text' must be a string"),
        ([], QUERIES, QRELS, "corpus.jsonl", "no documents"),
        (CORPUS, [{"_id": "q1"}], QRELS, "queries.jsonl:1", "a query needs a 'text'"),
        (CORPUS, [*QUERIES, {"_id": "q1", "text": "x"}], QRELS, "queries.jsonl:4", "duplicate _id 'q1'"),
        (CORPUS, QUERIES, [*QRELS, "q1\tdoc:1/é#x"], "qrels.tsv:5", "expected 3 columns"),
        (CORPUS, QUERIES, [*QRELS, "q1\tdoc:1/é#x\t1\textra"], "qrels.tsv:5", "found 4"),
        (CORPUS, QUERIES, [*QRELS, "q1\tdoc:1/é#x\thigh"], "qrels.tsv:5", "'high' is not an integer"),
        (CORPUS, QUERIES, [*QRELS, "q1\tdoc:1/é#x\t0.5"], "qrels.tsv:5", "not an integer"),
        (CORPUS, QUERIES, [*QRELS, "\tdoc:1/é#x\t1"], "qrels.tsv:5", "empty query-id"),
        (CORPUS, QUERIES, ["query-id\tcorpus-id\tscore"], "qrels.tsv", "nothing to score"),
        (CORPUS, QUERIES, ["nobody\tdoc:1/é#x\t1"], "qrels.tsv", "nothing to score"),
    ],
)
def test_malformed_folders_name_the_file_and_line(tmp_path, corpus, queries, qrels, where, message):
    with pytest.raises(BeirFormatError, match=message) as error:
        load_beir(write_folder(tmp_path, corpus, queries, qrels))
    assert where in str(error.value)


def test_missing_folder_or_file(tmp_path):
    with pytest.raises(BeirFormatError, match="not a folder"):
        load_beir(tmp_path / "nowhere")
    folder = write_folder(tmp_path / "f", CORPUS, QUERIES, QRELS)
    (folder / "qrels.tsv").unlink()
    with pytest.raises(BeirFormatError, match=r"qrels.tsv: missing"):
        load_beir(folder)


def test_invalid_utf8_names_the_line(tmp_path):
    folder = write_folder(tmp_path, CORPUS, QUERIES, QRELS)
    with (folder / "queries.jsonl").open("ab") as handle:
        handle.write(b'{"_id": "q9", "text": "caf\xe9"}\n')
    with pytest.raises(BeirFormatError, match=r"queries.jsonl:4: not UTF-8"):
        load_beir(folder)


def test_answers_are_read_when_the_folder_has_them(tmp_path):
    folder = write_folder(tmp_path, CORPUS, QUERIES, QRELS)
    assert load_beir(folder).answers == {}
    lines = [
        {"_id": "q1", "question": "one?", "answers": ["One", "one."], "gold_doc_ids": ["doc:1/é#x"]},
        {"_id": "ghost", "answers": ["never asked"]},
    ]
    (folder / "answers.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    dataset = load_beir(folder)
    assert dataset.answers == {"q1": ["One", "one."]}
    assert "1 query ids are not in queries.jsonl" in dataset.warnings[0]


def test_contract_rows_keep_their_rules(tmp_path):
    folder = write_folder(tmp_path, CORPUS, QUERIES, QRELS)
    lines = [
        {"_id": "q1", "answers": ["step four", "1,000"], "match": "all"},
        {"_id": "q2", "answers": [], "match": "all", "must_not_contain": ["PWNED"]},  # unanswerable probe
        {"_id": "q3", "answers": ["Denver"]},  # SQuAD, as before
    ]
    (folder / "answers.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    dataset = load_beir(folder)
    assert dataset.gold_answers == {
        "q1": GoldAnswer(answers=("step four", "1,000"), match="all"),
        "q2": GoldAnswer(answers=(), match="all", must_not_contain=("PWNED",)),
        "q3": GoldAnswer(answers=("Denver",)),
    }
    assert dataset.answers == {"q1": ["step four", "1,000"], "q2": [], "q3": ["Denver"]}
    assert dataset.gold_answers["q1"].match_all and not dataset.gold_answers["q3"].match_all


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"_id": "q1", "answers": []}, "'answers' must be a non-empty list"),  # [] only with match: all
        ({"_id": "q1", "answers": [], "match": "any"}, "'match' must be 'all' or absent"),
        ({"_id": "q1", "answers": [" "], "match": "all"}, "'answers' must be a non-empty list"),
        ({"_id": "q1", "answers": ["a"], "must_not_contain": "PWNED"}, "'must_not_contain' must be a list"),
        ({"_id": "q1", "answers": ["a"], "must_not_contain": [""]}, "'must_not_contain' must be a list"),
        ({"_id": "q1", "answers": "One"}, "'answers' must be a non-empty list"),
        ({"_id": "q1", "answers": ["One", " "]}, "'answers' must be a non-empty list"),
        ({"answers": ["One"]}, "'_id' must be"),
    ],
)
def test_bad_answers_are_refused_with_their_line(tmp_path, record, message):
    folder = write_folder(tmp_path, CORPUS, QUERIES, QRELS)
    (folder / "answers.jsonl").write_text(
        json.dumps({"_id": "q2", "answers": ["2"]}) + "\n" + json.dumps(record)
    )
    with pytest.raises(BeirFormatError, match=rf"answers.jsonl:2: {message}"):
        load_beir(folder)
