"""`manage.py evaluate`: a clear error for a bad folder; the child process, its JSON and its cache."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from evaluation.tests.beir_builders import write_folder
from evaluation.tests.test_evaluation import CORPUS, QRELS, QUERIES


def test_a_malformed_folder_is_a_command_error(tmp_path):
    folder = write_folder(tmp_path / "beir", CORPUS, QUERIES, [*QRELS, "q1\td:1/é"])
    with pytest.raises(CommandError, match=r"qrels.tsv:9: expected 3 columns"):
        call_command("evaluate", data=str(folder))
    with pytest.raises(CommandError, match="not a folder"):
        call_command("evaluate", data=str(tmp_path / "nowhere"))


def test_bad_options_are_refused_before_any_work(tmp_path):
    with pytest.raises(CommandError, match="--limit"):
        call_command("evaluate", data=str(tmp_path), limit=-1)
    folder = write_folder(tmp_path / "beir", CORPUS, QUERIES, QRELS)
    (tmp_path / "file").write_text("")
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("evaluate", data=str(folder), json=str(tmp_path / "file" / "out.json"))


@pytest.mark.slow
def test_the_child_prints_one_json_line_last_and_caches_the_ingest(tmp_path, settings, capfd, monkeypatch):
    """Three real runs of the command (each a child process with its own database): the first
    ingests, the second reuses the ingest, ``--fresh`` ingests again. (Rank fusion, as in
    test_evaluation, since the children embed with the fake embedder.)"""
    monkeypatch.setenv("TESSERA_SEARCH_FUSION", "rrf")
    settings.DATA_DIR = tmp_path / "installation"
    folder = write_folder(tmp_path / "beir", CORPUS, QUERIES, QRELS)
    out = tmp_path / "result.json"

    def run(**options):
        call_command("evaluate", data=str(folder), json=str(out), no_rerank=True, verbosity=0, **options)
        stdout = capfd.readouterr().out.strip().splitlines()
        result = json.loads(stdout[-1])
        assert json.loads(out.read_text()) == result
        return result

    first = run()
    assert first["ndcg@10"] == pytest.approx(0.6) and first["queries"] == 5
    assert first["ingest_cached"] is False and first["data"] == str(folder.resolve())
    second = run()
    assert second["ingest_cached"] is True and second["ingest_seconds"] == 0.0
    assert second["ndcg@10"] == first["ndcg@10"]
    caches = list((settings.DATA_DIR / "eval-cache").iterdir())
    assert len([c for c in caches if c.is_dir()]) == 1
    assert run(fresh=True)["ingest_cached"] is False
