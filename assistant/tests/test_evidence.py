"""The evidence a prompt gets: every part of a multi-part question, whole commands, the budget."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pytest

from assistant.answering.compose import EvidenceBudget, format_passages, select_evidence
from assistant.answering.search import DocumentHit, PassageHit

VOCABULARY = ("publish", "package", "pypi", "upload", "build", "token", "timeout", "setting", "retries")


class WordEmbedder:
    """Vectors that count the vocabulary's words (stems by prefix): close when they share words."""

    dimension = len(VOCABULARY) + 1

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return np.stack([self.embed_query(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        words = re.findall(r"[a-z]+", text.lower())
        vector = np.array([sum(w.startswith(v) for w in words) for v in VOCABULARY] + [0.3], dtype=np.float32)
        return vector / np.linalg.norm(vector)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _document(document_id: int, text: str, rank: int) -> DocumentHit:
    passage = PassageHit(
        chunk_id=document_id * 10,
        version_id=document_id,
        score=1.0 / rank,
        text=text,
        heading_path=(),
        page=None,
        char_start=0,
        char_end=len(text),
        dense_rank=rank,
        sparse_rank=rank,
    )
    return DocumentHit(document_id, document_id, f"Doc {document_id}", 1.0 / rank, [passage])


PUBLISHING = """Publishing

Packages are published on PyPI, the package index. To publish the package on PyPI, build it and
upload it:

```
python -m build
twine upload dist/*
```

PyPI asks for an API token on the first upload of a package.
"""
HISTORY = """Before PyPI, a package was published by hand. Publishing a package on PyPI was slower then."""
SETTINGS = """The upload timeout setting is TWINE_TIMEOUT, in seconds. Retries are not configurable."""


def test_a_question_with_two_parts_gets_evidence_for_both() -> None:
    question = "How do I publish the package on PyPI, and which setting sets the upload timeout?"
    embedder = WordEmbedder()
    documents = [_document(1, PUBLISHING, 1), _document(2, HISTORY, 2), _document(3, SETTINGS, 3)]
    evidence = select_evidence(
        embedder.embed_query(question),
        documents,
        embedder=embedder,  # type: ignore[arg-type]
        budget=EvidenceBudget(tokens=45),
        question=question,
    )
    kept = "\n".join(s for item in evidence for s in item.sentences)
    assert "TWINE_TIMEOUT" in kept  # the setting, from the third document
    assert "python -m build\ntwine upload dist/*" in kept  # the command, whole
    assert sum(embedder.count_tokens(s) for item in evidence for s in item.sentences) <= 45
    for item in evidence:  # each kept unit is a verbatim slice of its passage, in reading order
        at = [item.passage.text.index(s) for s in item.sentences]
        assert at == sorted(at)


@pytest.mark.parametrize("tokens", [5, 20, 60, 400])
def test_the_evidence_fits_the_budget(tokens: int) -> None:
    question = "How do I publish the package?"
    embedder = WordEmbedder()
    documents = [_document(1, PUBLISHING, 1), _document(2, SETTINGS, 2)]
    evidence = select_evidence(
        embedder.embed_query(question),
        documents,
        embedder=embedder,  # type: ignore[arg-type]
        budget=EvidenceBudget(tokens=tokens),
        question=question,
    )
    units = [s for item in evidence for s in item.sentences]
    # what the prompt gets, each passage's "[n] (title)" included; the closest unit whatever its size
    assert units and (embedder.count_tokens(format_passages(evidence)) <= tokens or len(units) == 1)
    assert [item.marker for item in evidence] == list(range(1, len(evidence) + 1))


def test_the_default_budget_is_the_setting(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TESSERA = {**settings.TESSERA, "EVIDENCE_TOKENS": 321}
    assert EvidenceBudget().tokens == 321


def _passages(document_id: int, texts: Sequence[tuple[str, float, float | None]]) -> DocumentHit:
    """A document whose passages are (text, fused score, MaxSim score), in the search's fused order."""
    passages, start = [], 0
    for i, (text, score, late) in enumerate(texts):
        passages.append(
            PassageHit(
                chunk_id=document_id * 10 + i,
                version_id=document_id,
                score=score,
                text=text,
                heading_path=(),
                page=None,
                char_start=start,
                char_end=start + len(text),
                dense_rank=i + 1,
                sparse_rank=i + 1,
                rerank_score=late,
            )
        )
        start += len(text) + 1
    return DocumentHit(document_id, document_id, f"Doc {document_id}", passages[0].score, passages)


def test_a_long_document_is_read_where_the_reranker_points_not_only_its_first_passages() -> None:
    question = "Which setting sets the upload timeout?"
    embedder = WordEmbedder()
    document = _passages(
        1,
        [
            (HISTORY, 3.0, 0.40),
            ("Publishing a package is done from the build machine.", 2.9, 0.41),
            ("A package is built before it is published.", 2.8, None),
            (SETTINGS, 2.0, 0.90),  # fourth in the fused order, first by late interaction
        ],
    )
    evidence = select_evidence(
        embedder.embed_query(question),
        [document],
        embedder=embedder,  # type: ignore[arg-type]
        budget=EvidenceBudget(tokens=400, per_document=2),
        question=question,
    )
    kept = " ".join(s for item in evidence for s in item.sentences)
    assert "TWINE_TIMEOUT" in kept
    assert "built before it is published" not in kept  # not scored by the reranker: not among the two read


def test_of_two_equally_close_sentences_the_one_the_search_ranked_higher_is_kept() -> None:
    question = "What is the upload timeout setting?"
    embedder = WordEmbedder()
    same = "The upload timeout setting is given here."
    documents = [
        _passages(1, [("Strong. " + same.replace("given here", "TWINE_TIMEOUT"), 5.0, None)]),
        _passages(2, [("Weak. " + same.replace("given here", "UPLOAD_WAIT"), 1.0, None)]),
    ]
    evidence = select_evidence(
        embedder.embed_query(question),
        list(reversed(documents)),  # the weak one first: the prior, not the order, decides
        embedder=embedder,  # type: ignore[arg-type]
        budget=EvidenceBudget(tokens=8),
        question=question,
    )
    kept = " ".join(s for item in evidence for s in item.sentences)
    assert "TWINE_TIMEOUT" in kept and "UPLOAD_WAIT" not in kept


def test_the_prompt_keeps_a_command_on_its_own_lines() -> None:
    question = "How do I publish the package on PyPI?"
    embedder = WordEmbedder()
    evidence = select_evidence(
        embedder.embed_query(question),
        [_document(1, PUBLISHING, 1)],
        embedder=embedder,  # type: ignore[arg-type]
        budget=EvidenceBudget(tokens=200),
        question=question,
    )
    block = format_passages(evidence)
    assert block.startswith("[1] (Doc 1)\n")
    assert "\n```\npython -m build\ntwine upload dist/*\n```" in block
    assert "upload it:\n```" in block  # each unit on a line of its own
