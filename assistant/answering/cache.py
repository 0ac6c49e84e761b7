"""The permission-aware semantic answer cache: a question close enough to one the LLM already answered,
asked by a principal who sees exactly the same documents, reuses that answer and its citations
without an LLM call.

    probe (before retrieval): scope signature -> entries of that scope -> same normalised text, or
    cosine of the question's embedding >= the tenant's threshold with the same key terms (numbers,
    names: retrieval.question_match) -> the cited passages still current
    -> hit: a new answer that copies the cached one (``cached_from``, ``llm_called`` false)
    miss: the question goes on; an answer written by the LLM and grounded (kind ``answered``) is kept

The scope signature is a hash of the principal's visible set: the ids of the visible documents'
current versions. Two principals who see the same documents share entries; a different set
(another access group, a document added, replaced, deleted or restricted) gives another signature,
so a stale answer can never be served. Entries that cite a changed document (re-indexed too) are
also deleted at once (``cache_invalidate``, in the transaction of the change: ingest's
``documents_changed`` signal).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from assistant.answering.cache_vectors import scope_vectors
from assistant.answering.llm.policy import assistant_settings_for
from assistant.answering.trace import ms_since
from assistant.models import AnswerCacheEntry, AnswerCacheSource, AnswerKind, Citation, Message, Role
from config.engines import get_embedder
from governance.access import Principal
from governance.models import Tenant
from governance.services import Actor, audit_record
from ingest.selectors import versions_visible_to
from retrieval.question_match import normalise, same_key_terms

# float32 dot products of identical unit vectors can fall a hair below 1.0
_COSINE_SLACK = 1e-5

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool
    threshold: float


@dataclass(frozen=True, slots=True)
class CacheHit:
    entry_id: int
    message_id: int
    similarity: float


@dataclass(slots=True)
class CacheProbe:
    """One question's look into the cache: what it matched, and what it needs to be kept (the
    signature and vector are computed once per question)."""

    principal: Principal
    route: str
    text: str
    normalised: str
    signature: str
    model_id: str
    timings: dict[str, float]  # the answer's, where the probe adds its steps
    vector: npt.NDArray[np.float32] | None = None
    hit: CacheHit | None = None


def cache_config_for(tenant: Tenant) -> CacheConfig:
    """The tenant's cache settings where set, else TESSERA_ANSWER_CACHE*."""
    own = assistant_settings_for(tenant)
    site = settings.TESSERA
    enabled = site["ANSWER_CACHE"] if own.answer_cache is None else own.answer_cache
    threshold = own.answer_cache_threshold or site["ANSWER_CACHE_THRESHOLD"]
    return CacheConfig(enabled=bool(enabled), threshold=float(threshold))


def scope_signature(principal: Principal) -> str:
    """A hash of what ``principal`` may see: the ids of the visible documents' current versions (a
    version belongs to one document, and a new one gets a new id), one integer per document read
    from the versions alone, never the chunks. A re-index keeps the version id: its entries are
    deleted by ``cache_invalidate``, and a hit checks that the cited chunks still exist."""
    ids = versions_visible_to(principal).order_by().values_list("pk", flat=True)
    versions = np.sort(np.fromiter(ids.iterator(chunk_size=10_000), dtype=np.int64))
    digest = hashlib.sha256(f"tenant:{principal.tenant_id}\n".encode())
    digest.update(versions.astype("<i8").tobytes())
    return digest.hexdigest()


def cache_probe(
    *, principal: Principal, question: Message, route: str, timings: dict[str, float]
) -> CacheProbe | None:
    """Look ``question`` up in the cache of the principal's scope (None: not a ``question`` route, or
    the tenant has the cache off).

    ``probe.hit`` is set when a cached answer may be reused. Adds ``cache`` (all of it),
    ``cache_scope`` (the signature) and ``cache_embed`` (when it embeds the question) to ``timings``."""
    if route != "question":
        return None
    config = cache_config_for(principal.tenant)
    if not config.enabled:
        return None
    started = time.perf_counter()
    probe = CacheProbe(
        principal=principal,
        route=route,
        text=question.text,
        normalised=normalise(question.text),
        signature=scope_signature(principal),
        model_id=get_embedder().model_id,
        timings=timings,
    )
    timings["cache_scope"] = ms_since(started)
    probe.hit = _lookup(probe, config.threshold)
    timings["cache"] = ms_since(started)
    return probe


def _lookup(probe: CacheProbe, threshold: float) -> CacheHit | None:
    entries = AnswerCacheEntry.objects.filter(
        tenant_id=probe.principal.tenant_id,
        scope_signature=probe.signature,
        embedding_model=probe.model_id,
    ).order_by("-pk")
    same = entries.filter(normalised_question=probe.normalised).values_list("pk", "message_id")
    for entry_id, message_id in same[:5]:
        if _still_current(entry_id, message_id):
            return CacheHit(entry_id=entry_id, message_id=message_id, similarity=1.0)
    scope = scope_vectors(entries, (probe.principal.tenant_id, probe.signature, probe.model_id))
    if not scope.count:
        return None
    similarities = scope.vectors @ probe_vector(probe)
    best = [i for i in np.argsort(-similarities)[:10] if similarities[i] >= threshold - _COSINE_SLACK]
    ids = [int(scope.ids[i]) for i in best]
    found = {
        pk: (message_id, text)
        for pk, message_id, text in entries.filter(pk__in=ids).values_list("pk", "message_id", "question")
    }
    for entry_id, i in zip(ids, best, strict=True):
        if entry_id not in found:  # deleted since the vectors were read
            continue
        message_id, text = found[entry_id]
        if same_key_terms(probe.text, text) and _still_current(entry_id, message_id):
            return CacheHit(entry_id=entry_id, message_id=message_id, similarity=float(similarities[i]))
    return None


def probe_vector(probe: CacheProbe) -> npt.NDArray[np.float32]:
    """The question's embedding (computed on first use, once per question)."""
    if probe.vector is None:
        started = time.perf_counter()
        vector = np.asarray(get_embedder().embed_query(probe.text), dtype=np.float32).reshape(-1)
        probe.vector = vector / np.float32(max(float(np.linalg.norm(vector)), 1e-12))
        probe.timings["cache_embed"] = ms_since(started)
    return probe.vector


def _still_current(entry_id: int, message_id: int) -> bool:
    """Whether every passage the cached answer cites is still in its document's current version
    (defence in depth: a new version changes the signature, a re-index keeps it and replaces the
    chunks, and an answer stored while a change commits may have missed its invalidation). A stale
    entry is deleted."""
    stale = (
        Citation.objects.filter(message_id=message_id)
        .filter(
            Q(chunk__isnull=True)
            | Q(version__isnull=True)
            | ~Q(version__document__current_version=F("version"))
        )
        .exists()
    )
    if stale:
        AnswerCacheEntry.objects.filter(pk=entry_id).delete()
    return not stale


def cache_answer(*, question: Message, probe: CacheProbe, started: float) -> Message:
    """Answer ``question`` with the cached answer of ``probe.hit``: a new assistant message with the
    same text, sentences and citations, no LLM call, its audit row, and the entry's hit counted
    (``started``: when answering began, for the total time)."""
    if probe.hit is None:
        raise ValueError("cache_answer needs a probe that hit")
    hit, principal, route, timings = probe.hit, probe.principal, probe.route, probe.timings
    timings["total"] = ms_since(started)
    original = Message.objects.get(pk=hit.message_id, tenant_id=principal.tenant_id)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                tenant=principal.tenant,
                conversation=question.conversation,
                role=Role.ASSISTANT,
                reply_to=question,
                text=original.text,
                kind=AnswerKind.ANSWERED,
                route=route,
                llm_called=False,
                timings_ms={**timings, "cache_similarity": round(hit.similarity, 4)},
                sentences=original.sentences,
                unsupported_sentences=original.unsupported_sentences,
                cached_from=original,
            )
            Citation.objects.bulk_create([_copy(c, message) for c in original.citations.all()])
            AnswerCacheEntry.objects.filter(pk=hit.entry_id).update(
                hits=F("hits") + 1, last_hit_at=timezone.now()
            )
            audit_record(
                tenant=principal.tenant,
                actor=Actor.of(principal),
                action="question.answered",
                target=message,
                extra={
                    "kind": AnswerKind.ANSWERED.value,
                    "route": route,
                    "llm_called": False,
                    "cached_from": original.pk,
                    "similarity": round(hit.similarity, 4),
                },
            )
    except IntegrityError:  # answered meanwhile by another request (a reconnecting stream): keep that one
        return Message.objects.get(reply_to=question)
    logger.info(
        "answer cache hit tenant=%s message=%s from=%s similarity=%.4f",
        principal.tenant_id,
        message.pk,
        original.pk,
        hit.similarity,
    )
    return message


def _copy(citation: Citation, message: Message) -> Citation:
    return Citation(
        tenant_id=citation.tenant_id,
        message=message,
        marker=citation.marker,
        chunk_id=citation.chunk_id,
        version_id=citation.version_id,
        document_id=citation.document_id,
        title=citation.title,
        page=citation.page,
        heading_path=citation.heading_path,
        char_start=citation.char_start,
        char_end=citation.char_end,
        spans=citation.spans,
        score=citation.score,
    )


def cache_keep(*, probe: CacheProbe, message: Message) -> AnswerCacheEntry | None:
    """Keep ``message`` for later questions of the same scope when the LLM wrote it and it is
    grounded (kind ``answered``, with citations); None when it is not worth keeping."""
    if message.kind != AnswerKind.ANSWERED or not message.llm_called or message.cached_from_id is not None:
        return None
    documents = sorted(set(message.citations.exclude(document=None).values_list("document_id", flat=True)))
    if not documents:
        return None
    tenant_id = probe.principal.tenant_id
    vector = probe_vector(probe)
    with transaction.atomic():
        entry = AnswerCacheEntry.objects.create(
            tenant_id=tenant_id,
            scope_signature=probe.signature,
            embedding_model=probe.model_id,
            question=probe.text,
            normalised_question=probe.normalised,
            vector=vector.astype("<f4").tobytes(),
            message=message,
        )
        AnswerCacheSource.objects.bulk_create(
            [AnswerCacheSource(tenant_id=tenant_id, entry=entry, document_id=d) for d in documents]
        )
    _prune(tenant_id)
    return entry


def _prune(tenant_id: int) -> None:
    """Keep the tenant's most recently used ``ANSWER_CACHE_MAX_ENTRIES`` entries (entries of a scope
    no one has any more are never hit again, and age out here)."""
    keep = settings.TESSERA["ANSWER_CACHE_MAX_ENTRIES"]
    entries = AnswerCacheEntry.objects.filter(tenant_id=tenant_id)
    if entries.count() <= keep:
        return
    old = entries.order_by(Coalesce("last_hit_at", "created_at").desc(), "-pk").values_list("pk", flat=True)[
        keep:
    ]
    AnswerCacheEntry.objects.filter(pk__in=list(old)).delete()


def cache_invalidate(*, tenant_id: int, document_ids: list[int]) -> int:
    """Delete the tenant's entries that cite any of ``document_ids``; the number deleted. Call it in
    the transaction of the change."""
    entries = AnswerCacheEntry.objects.filter(
        tenant_id=tenant_id,
        pk__in=AnswerCacheSource.objects.filter(tenant_id=tenant_id, document_id__in=document_ids).values(
            "entry_id"
        ),
    )
    deleted = entries.delete()[1].get(AnswerCacheEntry._meta.label, 0)
    if deleted:
        logger.info(
            "answer cache invalidated tenant=%s documents=%s entries=%s", tenant_id, document_ids, deleted
        )
    return deleted


def on_documents_changed(
    sender: object, *, tenant_id: int, document_ids: list[int], **kwargs: object
) -> None:
    """Receiver of ``ingest.signals.documents_changed`` (connected in ``AssistantConfig.ready``)."""
    cache_invalidate(tenant_id=tenant_id, document_ids=document_ids)
