"""Evaluate the real pipeline on a BEIR folder: ingest its corpus into a tenant, run its queries
through the real search, and score the rankings (``manage.py evaluate`` is the interface).

The ingest goes through the same services and pipeline as any upload, and is kept: a state file
written at its end (in ``state_dir``) lets the next run skip it; the command keys that folder by
the corpus, the embedder, the chunking and the ingest code. Only the database the caller runs
against is written, so the command runs this in a child process with a throwaway database and
data folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from tqdm import tqdm

from assistant.answering.search import DocumentHit, search
from config.engines import get_embedder
from config.errors import ApplicationError, Conflict
from evaluation.answerability import answerability_report, answerability_run, features_write
from evaluation.answers import predictions_sink
from evaluation.beir import BeirDataset, BeirDocument, BeirQuery
from evaluation.routes import messages_run, routes_report
from evaluation.side_by_side import answers_evaluate
from governance.access import Principal, principal_for_membership
from governance.models import Membership, Role, Tenant
from governance.services import Actor, membership_set, tenant_create, user_create
from ingest import pipeline, services
from ingest.flush import flush_tenant
from ingest.models import Chunk, Document, VersionStatus
from ingest.services import Upload, UploadRejected
from retrieval.metrics import DEFAULT_METRICS, RunScores, evaluate_run, percentile

logger = logging.getLogger(__name__)

# Bump when an ingest's result changes for a reason neither the cache key's settings nor
# INGEST_SOURCES capture: a cached ingest made before is then made again.
CACHE_VERSION = 1
# The code that decides what an ingest stores (parsing, chunking, the index texts and files):
# editing any of it makes cached ingests stale, so its bytes are part of the cache key. Query-time
# code (fusion, reranking) is not: changing it reuses the ingest.
INGEST_SOURCES = (
    "ingest/parsing",
    "ingest/chunking.py",
    "ingest/pipeline.py",
    "ingest/models.py",
    "retrieval/bm25.py",
    "retrieval/bm25_tokenizer.py",
    "retrieval/vector_index.py",
    "retrieval/store.py",
)
STATE_FILE = "ingest.json"
TENANT_SLUG = "evaluate"
EVAL_USER = "evaluate"
GROUP = 64  # as `manage.py ingest` and bench_ingest: one embedding pass per group
SEARCH_K = 100  # deep enough for recall@100
ACTOR = Actor(label="cli:evaluate")


# --- Ingest, cached --------------------------------------------------------------------------


def cache_key(
    *,
    corpus_sha256: str,
    model_id: str,
    chunk_target_tokens: int,
    chunk_overlap_tokens: int,
    code_sha256: str,
) -> str:
    """What an ingest depends on: the corpus bytes, the embedder, the chunking and the code."""
    parts = [corpus_sha256, model_id, str(chunk_target_tokens), str(chunk_overlap_tokens), code_sha256]
    return hashlib.sha256("\x00".join([*parts, str(CACHE_VERSION)]).encode()).hexdigest()


def ingest_code_sha256(base_dir: Path) -> str:
    """One hash of the Python files of ``INGEST_SOURCES``, names and bytes."""
    digest = hashlib.sha256()
    for source in INGEST_SOURCES:
        path = base_dir / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(base_dir).as_posix().encode() + b"\x00" + file.read_bytes())
    return digest.hexdigest()


def document_upload_file(document: BeirDocument) -> Upload:
    """The Markdown file a corpus record becomes: its title as the heading (none if it has no
    title), so the chunker embeds the title with every passage, as for any uploaded document."""
    title = " ".join(document.title.split())
    body = f"# {title}\n\n{document.text}\n" if title else f"{document.text}\n"
    # ".md" makes it read as Markdown. The name says nothing more: a document without a heading
    # keeps its file name as its title, which BM25 indexes, and the corpus id must not be found.
    return Upload("_.md", body.encode())


@dataclass
class IngestState:
    """A finished ingest: which corpus ids each document stands for, and what could not be ingested."""

    tenant_id: int
    documents: dict[int, list[str]]  # Document.pk -> corpus ids (identical texts share one document)
    failed: list[str]  # corpus ids with no searchable document (no text, refused)
    chunks: int
    seconds: float
    cached: bool = False

    def save(self, path: Path) -> None:
        """Write atomically: the file's existence is the mark of a complete ingest."""
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(self)))
        temp.replace(path)

    @classmethod
    def load(cls, path: Path) -> IngestState:
        raw = json.loads(path.read_text())
        raw["documents"] = {int(pk): ids for pk, ids in raw["documents"].items()}
        return cls(**{**raw, "cached": True})


def ingest_cached(dataset: BeirDataset, *, state_dir: Path, progress: bool = False) -> IngestState:
    """The ingest recorded in ``state_dir`` if there is one, else a new one, recorded there."""
    state_path = state_dir / STATE_FILE
    if state_path.exists():
        state = IngestState.load(state_path)
        if Tenant.objects.filter(pk=state.tenant_id, slug=TENANT_SLUG).exists():
            return state
        logger.warning("evaluation state without its tenant; ingesting again state=%s", state_path)
    state = corpus_ingest(dataset.corpus, progress=progress)
    state.save(state_path)
    return state


def corpus_ingest(corpus: Sequence[BeirDocument], *, progress: bool = False) -> IngestState:
    """Upload every record into a new tenant and index it, as `manage.py ingest` does."""
    tenant = tenant_create(slug=TENANT_SLUG, name="Evaluation")
    get_embedder().embed_documents(["warm up"])  # loading the model is not ingestion
    documents: dict[int, list[str]] = {}
    failed: list[str] = []
    started = time.perf_counter()
    bar = tqdm(total=len(corpus), unit="doc", desc="ingest", disable=not progress)
    for start in range(0, len(corpus), GROUP):
        group = corpus[start : start + GROUP]
        version_ids = [pk for record in group if (pk := _upload(tenant, record, documents, failed))]
        if version_ids:
            pipeline.index_versions(version_ids, flush=False)
        bar.update(len(group))
    flush_tenant(tenant.pk)
    bar.close()
    seconds = time.perf_counter() - started
    _drop_unsearchable(tenant, documents, failed)
    chunks = Chunk.objects.filter(tenant=tenant).count()
    logger.info(
        "evaluation corpus ingested tenant=%s documents=%s failed=%s", tenant.pk, len(corpus), len(failed)
    )
    return IngestState(
        tenant_id=tenant.pk, documents=documents, failed=failed, chunks=chunks, seconds=seconds
    )


def _upload(
    tenant: Tenant, record: BeirDocument, documents: dict[int, list[str]], failed: list[str]
) -> int | None:
    """Upload one record; the new version's id, or None if it is a duplicate or was refused."""
    try:
        version = services.document_upload(
            tenant=tenant, actor=ACTOR, upload=document_upload_file(record), enqueue=False
        )
    except Conflict as exc:
        # Identical text: the corpus id stands for the document already uploaded.
        documents.setdefault(int(exc.extra["document_id"]), []).append(record.id)
        return None
    except UploadRejected:
        failed.append(record.id)
        return None
    documents[version.document_id] = [record.id]
    return version.pk


def _drop_unsearchable(tenant: Tenant, documents: dict[int, list[str]], failed: list[str]) -> None:
    """Move the ids of documents that did not become ready (no text, parse errors) to ``failed``."""
    ready = set(
        Document.objects.filter(tenant=tenant, current_version__status=VersionStatus.READY).values_list(
            "pk", flat=True
        )
    )
    for document_id in [pk for pk in documents if pk not in ready]:
        failed.extend(documents.pop(document_id))


# --- Queries ---------------------------------------------------------------------------------


def evaluation_principal(tenant: Tenant) -> Principal:
    """An admin of the evaluation tenant (admins see every document), made on first use."""
    membership = (
        Membership.objects.select_related("tenant", "user")
        .filter(tenant=tenant, role=Role.ADMIN, user__username=EVAL_USER)
        .first()
    )
    if membership is None:
        user = user_create(username=EVAL_USER, password=secrets.token_urlsafe(32))
        membership = membership_set(tenant=tenant, user=user, role=Role.ADMIN, actor=ACTOR)
    return principal_for_membership(membership)


@dataclass
class QueryRuns:
    """Each query's ranking of corpus ids, and the time its search took, in total and by stage."""

    rankings: dict[str, list[str]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    stages_ms: dict[str, list[float]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def ranking_of(hits: Iterable[DocumentHit], documents: Mapping[int, list[str]], k: int) -> list[str]:
    """The corpus ids of ranked documents, best first; a document standing for several identical
    records ranks each of them, in corpus order, at its place."""
    ranking: list[str] = []
    for hit in hits:
        ranking.extend(i for i in documents.get(hit.document_id, ()) if i not in ranking)
    return ranking[:k]


def queries_run(
    queries: Sequence[BeirQuery],
    *,
    principal: Principal,
    documents: Mapping[int, list[str]],
    rerank: bool,
    progress: bool = False,
) -> QueryRuns:
    """Search every query, timing each call; the first search is run once before, untimed, so
    loading models and indexes is not counted as a query's latency."""
    runs = QueryRuns()
    if any(q.text.strip() for q in queries):
        warm = next(q.text for q in queries if q.text.strip())
        search(principal=principal, query=warm, k=SEARCH_K, rerank=rerank)
    for query in tqdm(queries, unit="query", desc="search", disable=not progress):
        if not query.text.strip():
            runs.rankings[query.id] = []  # nothing to search for: an empty ranking, untimed
            continue
        started = time.perf_counter()
        try:
            results = search(principal=principal, query=query.text, k=SEARCH_K, rerank=rerank)
        except ApplicationError as exc:
            logger.warning("evaluation query refused query=%s code=%s", query.id, exc.code)
            runs.rankings[query.id] = []
            runs.failed.append(query.id)
            continue
        runs.latencies_ms.append((time.perf_counter() - started) * 1000)
        for stage, ms in results.timings_ms.items():
            runs.stages_ms.setdefault(stage, []).append(ms)
        runs.rankings[query.id] = ranking_of(results.documents, documents, SEARCH_K)
    return runs


# --- The whole evaluation --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvaluationOptions:
    limit: int = 0  # only the first N judged queries (0: every query)
    rerank: bool = True
    progress: bool = False
    answers: bool = False  # also answer the queries with gold answers, and score the answers
    routes: bool = False  # also send the folder's messages through the chat path, and report routing
    predictions: Path | None = None  # with answers/routes: write each answer here, one JSON line each
    # the answerability check with each question's gold documents present and removed (query id ->
    # gold corpus ids); its features are written to ``features`` when given
    gold_documents: dict[str, list[str]] | None = None
    features: Path | None = None
    baseline: str = ""  # with answers: "naive" also answers through the plain LangChain recipe


def evaluate(
    dataset: BeirDataset,
    *,
    state_dir: Path,
    options: EvaluationOptions,
) -> dict[str, Any]:
    """Ingest (or reuse) the corpus, run the queries, and report metrics and timings as a dict;
    with ``options.answers``, answer the queries too and add the answer metrics."""
    state = ingest_cached(dataset, state_dir=state_dir, progress=options.progress)
    tenant = Tenant.objects.get(pk=state.tenant_id)
    principal = evaluation_principal(tenant)
    queries = dataset.judged_queries(options.limit) if options.limit else dataset.queries
    runs = queries_run(
        queries,
        principal=principal,
        documents=state.documents,
        rerank=options.rerank,
        progress=options.progress,
    )
    qrels = {q.id: dataset.qrels[q.id] for q in queries if q.id in dataset.qrels}
    scores = evaluate_run(qrels, runs.rankings, DEFAULT_METRICS)
    result = report(dataset, state, runs, scores, options)
    with predictions_sink(options.predictions) as write:
        if options.answers:
            result.update(
                answers_evaluate(
                    dataset,
                    queries,
                    principal=principal,
                    documents=state.documents,
                    write=write,
                    progress=options.progress,
                    baseline=options.baseline,
                )
            )
        if options.routes:
            sent, refused = messages_run(
                dataset.messages,
                principal=principal,
                gold=dataset.gold_answers,
                documents=state.documents,
                on_message=lambda run: write(run.prediction()),
                progress=options.progress,
            )
            result.update(routes_report(sent, refused))
    if options.gold_documents is not None:
        result.update(answerability_evaluate(queries, principal=principal, state=state, options=options))
    return result


def answerability_evaluate(
    queries: Sequence[BeirQuery], *, principal: Principal, state: IngestState, options: EvaluationOptions
) -> dict[str, Any]:
    """Check every question with gold documents, present and removed; write the features if asked."""
    checked = answerability_run(
        queries,
        principal=principal,
        gold=options.gold_documents or {},
        documents=state.documents,
        progress=options.progress,
    )
    if options.features:
        features_write(checked, options.features)
    return answerability_report(checked)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _stage_percentiles(stages_ms: Mapping[str, list[float]], point: float) -> dict[str, float | None]:
    return {stage: _ms(percentile(values, point)) for stage, values in stages_ms.items()}


def report(
    dataset: BeirDataset,
    state: IngestState,
    runs: QueryRuns,
    scores: RunScores,
    options: EvaluationOptions,
) -> dict[str, Any]:
    """The JSON object `manage.py evaluate` prints."""
    return {
        **{name: round(value, 5) for name, value in scores.means.items()},
        "queries": scores.queries,
        "queries_run": len(runs.rankings),
        "queries_failed": len(runs.failed),
        "docs": len(dataset.corpus),
        "docs_failed": len(state.failed),
        "chunks": state.chunks,
        "ingest_seconds": 0.0 if state.cached else round(state.seconds, 2),
        "ingest_cached": state.cached,
        "retrieval_ms_p50": _ms(percentile(runs.latencies_ms, 50)),
        "retrieval_ms_p95": _ms(percentile(runs.latencies_ms, 95)),
        "stage_ms_p50": _stage_percentiles(runs.stages_ms, 50),
        "stage_ms_p95": _stage_percentiles(runs.stages_ms, 95),
        "rerank": options.rerank,
        "limit": options.limit,
        "k": SEARCH_K,
        "embedder": get_embedder().model_id,
        "chunk_target_tokens": settings.TESSERA["CHUNK_TARGET_TOKENS"],
        "chunk_overlap_tokens": settings.TESSERA["CHUNK_OVERLAP_TOKENS"],
    }
