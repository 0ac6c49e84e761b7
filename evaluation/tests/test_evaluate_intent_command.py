"""`manage.py evaluate_intent`: known results on a tiny generated dataset, clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from retrieval.tests.intent_builders import TopicEmbedder, write_clinc


@pytest.fixture
def topic_embedder(monkeypatch):
    """Separable clusters instead of the settings' embedder (see intent_builders.write_clinc)."""
    embedder = TopicEmbedder(topics=4)
    monkeypatch.setattr("evaluation.management.commands.evaluate_intent.get_embedder", lambda: embedder)
    return embedder


def test_known_results_on_a_tiny_generated_dataset(tmp_path, topic_embedder, capsys):
    data = write_clinc(tmp_path / "clinc.json")
    out = tmp_path / "out" / "result.json"
    call_command("evaluate_intent", data=str(data), json=str(out), verbosity=0)
    stdout = capsys.readouterr().out.strip().splitlines()
    result = json.loads(stdout[-1])
    assert json.loads(out.read_text()) == result
    assert result["in_scope_accuracy"] == 0.9  # 18/20: one in the wrong topic, one among the strays
    assert result["oos_recall"] == 0.75  # 3/4: one out-of-scope message lies in a topic
    assert result["oos_precision"] == 0.75  # 3/4: the in-scope stray is routed out of scope
    assert result["validation"] == {"in_scope_accuracy": 1.0, "oos_recall": 1.0, "oos_precision": 1.0}
    assert result["intents"] == 5  # four topics and out_of_scope, a trained class
    assert (result["train_examples"], result["validation_examples"], result["test_examples"]) == (54, 23, 24)
    assert result["train_seconds"] >= result["fit_seconds"] >= 0 and result["train_cpu_seconds"] > 0
    assert result["train_seconds"] >= result["embed_train_seconds"] + result["embed_validation_seconds"]
    assert 0 < result["route_ms_p50"] <= result["route_ms_p95"]
    assert result["model_id"] == "topic-fake-16" and result["data"] == str(data.resolve())


def test_a_file_not_in_clinc_format_is_a_command_error(tmp_path, topic_embedder):
    cases = {
        "missing.json": None,
        "notjson.json": "{",
        "list.json": "[]",
        "nosplits.json": json.dumps({"train": []}),
        "badrow.json": json.dumps(
            {s: [] for s in ("val", "test", "oos_train", "oos_val", "oos_test")} | {"train": [["text only"]]}
        ),
        "onelabel.json": json.dumps(
            {s: [] for s in ("val", "test", "oos_train", "oos_val", "oos_test")}
            | {"train": [["a", "x"], ["b", "x"]]}
        ),
    }
    messages = {
        "missing.json": "cannot read",
        "notjson.json": "is not JSON",
        "list.json": "must hold a JSON object",
        "nosplits.json": "lacks the split",
        "badrow.json": r"item 0: expected \[text, label\]",
        "onelabel.json": "at least two labels",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        with pytest.raises(CommandError, match=messages[name]):
            call_command("evaluate_intent", data=str(path), verbosity=0)


def test_an_unwritable_result_file_is_refused_before_any_work(tmp_path, topic_embedder):
    data = write_clinc(tmp_path / "clinc.json")
    (tmp_path / "file").write_text("")
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("evaluate_intent", data=str(data), json=str(tmp_path / "file" / "out.json"))
