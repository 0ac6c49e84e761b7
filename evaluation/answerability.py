"""The answerability check on a folder whose questions name their gold paragraphs
(``manage.py evaluate --answerability``; ``answers.jsonl`` rows with ``gold_doc_ids``).

Every such question is searched twice through the real search and evidence selection, as the
answer path does: once with its gold documents visible (the check should let it through) and
once with them left out of the scope (it should abstain). Reported: the share of abstentions in
each case. ``--features`` writes each case's features, which is what ``manage.py
answerability_train`` fits the model on, with data the project builds itself.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import transaction
from tqdm import tqdm

from assistant.answering.compose import select_evidence
from assistant.answering.decide import get_answerability_model, sentence_best
from assistant.answering.search import search
from config.engines import get_embedder
from evaluation.beir import BeirFormatError, BeirQuery
from governance.access import Principal
from governance.models import AccessGroup
from retrieval.answerability import AnswerabilityModelError, features
from retrieval.embedding import Embedder
from retrieval.metrics import percentile

logger = logging.getLogger(__name__)

SEARCH_DOCUMENTS = 5  # as the answer path (assistant.answering.pipeline)


def read_gold_documents(path: Path) -> dict[str, list[str]]:
    """``{query id: [gold corpus id, ...]}`` from the ``gold_doc_ids`` of ``answers.jsonl``."""
    gold: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise BeirFormatError(path, number, f"not JSON ({exc})") from exc
        ids = row.get("gold_doc_ids") if isinstance(row, dict) else None
        if ids is None:
            continue
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise BeirFormatError(path, number, "'gold_doc_ids' must be a list of corpus ids")
        gold[str(row.get("_id"))] = ids
    return gold


class SentenceVectorCache:
    """The embedder, remembering each text's vector for one evaluation run: the searches with the
    gold present and removed, and the questions about one topic, select evidence from the same
    passages again and again, and embedding their sentences is most of an evaluation's time."""

    def __init__(self, embedder: Embedder, *, max_texts: int = 200_000) -> None:
        self.embedder = embedder
        self.model_id, self.dimension, self.max_tokens = (
            embedder.model_id,
            embedder.dimension,
            embedder.max_tokens,
        )
        self.max_texts = max_texts
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            if len(self._vectors) + len(missing) > self.max_texts:
                self._vectors.clear()
            fresh = self.embedder.embed_documents(missing, batch_size)
            self._vectors.update(zip(missing, fresh, strict=True))
        rows = [self._vectors[t] for t in texts]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self.embedder.embed_query(text)

    def count_tokens(self, text: str) -> int:
        return self.embedder.count_tokens(text)


@dataclass(slots=True)
class Case:
    """One question searched with its gold documents present or removed."""

    id: str
    gold_present: bool
    features: list[float]
    probability: float | None
    abstained: bool | None
    gold_top: bool  # a gold document is among the documents found (always False when removed)
    check_ms: float


@dataclass(slots=True)
class AnswerabilityRuns:
    cases: list[Case] = field(default_factory=list)
    skipped: int = 0  # questions whose gold documents are not in the index


@contextmanager
def out_of_sight(principal: Principal, documents: set[int]) -> Iterator[Principal]:
    """A principal that cannot see ``documents`` (none: ``principal`` itself), hidden the product's
    own way: they are restricted to an access group nobody belongs to, and a principal in no group
    searches. Rolled back on the way out, so the evaluation tenant is left as it was."""
    if not documents:
        yield principal
        return
    with transaction.atomic():
        group = AccessGroup.objects.create(tenant=principal.tenant, name="evaluation: out of sight")
        group.documents.add(*documents)
        yield replace(principal, is_admin=False, group_ids=frozenset())
        transaction.set_rollback(True)


def _case(
    principal: Principal, query: BeirQuery, gold: set[int], *, present: bool, embedder: Embedder
) -> tuple[list[float], bool, float]:
    """The features of one search (gold documents in or out of the scope), the gold's presence in
    the results, and the time the check's own work took (beyond the answer path's search)."""
    with out_of_sight(principal, set() if present else gold) as searcher:
        results = search(
            principal=searcher, query=query.text, k=SEARCH_DOCUMENTS, passages_per_document=1, signals=True
        )
    if results.signals is None or results.query_vector is None:
        return [], False, 0.0
    evidence = select_evidence(results.query_vector, results.documents, embedder=embedder)
    started = time.perf_counter()
    x = features(results.signals, sentence_best=sentence_best(results.query_vector, evidence))
    check_ms = (time.perf_counter() - started) * 1000 + results.timings_ms.get("signals", 0.0)
    found = any(d.document_id in gold for d in results.documents)
    return [float(v) for v in x], found, check_ms


def answerability_run(
    queries: Sequence[BeirQuery],
    *,
    principal: Principal,
    gold: Mapping[str, list[str]],
    documents: Mapping[int, list[str]],
    progress: bool = False,
) -> AnswerabilityRuns:
    """Both searches of every question with gold documents, and the check's decision on each."""
    document_of = {corpus_id: pk for pk, ids in documents.items() for corpus_id in ids}
    try:
        model = get_answerability_model()
    except AnswerabilityModelError as exc:  # features are still worth writing (to train one)
        logger.warning("no answerability model: reporting features only (%s)", exc)
        model = None
    threshold = settings.TESSERA["ANSWERABILITY_THRESHOLD"]
    runs = AnswerabilityRuns()
    embedder = SentenceVectorCache(get_embedder())
    for query in tqdm(queries, unit="query", desc="answerability", disable=not progress):
        gold_pks = {document_of[i] for i in gold.get(query.id, []) if i in document_of}
        if not gold_pks or not query.text.strip():
            runs.skipped += query.id in gold
            continue
        for present in (True, False):
            x, found, check_ms = _case(principal, query, gold_pks, present=present, embedder=embedder)
            if not x:
                continue
            verdict = model.verdict(x, threshold) if model is not None else None
            runs.cases.append(
                Case(
                    id=query.id,
                    gold_present=present,
                    features=x,
                    probability=verdict.probability if verdict else None,
                    abstained=verdict.abstain if verdict else None,
                    gold_top=found,
                    check_ms=check_ms,
                )
            )
    return runs


def answerability_report(runs: AnswerabilityRuns) -> dict[str, Any]:
    """What ``--answerability`` adds to the JSON object."""

    def abstain_share(present: bool) -> float | None:
        decided = [c for c in runs.cases if c.gold_present is present and c.abstained is not None]
        return round(sum(bool(c.abstained) for c in decided) / len(decided), 4) if decided else None

    present = [c for c in runs.cases if c.gold_present]
    check_ms = [c.check_ms for c in runs.cases]
    p50, p95 = percentile(check_ms, 50), percentile(check_ms, 95)
    return {
        "abstain_gold_present": abstain_share(True),
        "abstain_gold_removed": abstain_share(False),
        "answerability_questions": len(present),
        "answerability_skipped": runs.skipped,
        "gold_found_present": round(sum(c.gold_top for c in present) / len(present), 4) if present else None,
        "answerability_ms_p50": None if p50 is None else round(p50, 2),
        "answerability_ms_p95": None if p95 is None else round(p95, 2),
    }


def features_write(runs: AnswerabilityRuns, path: Path) -> None:
    """One JSON line per case: its question, whether the gold was present in the index and among
    the documents found, its features."""
    with path.open("w", encoding="utf-8") as handle:
        for case in runs.cases:
            row = {
                "_id": case.id,
                "gold_present": case.gold_present,
                "gold_found": case.gold_top,
                "features": case.features,
            }
            handle.write(json.dumps(row) + "\n")
