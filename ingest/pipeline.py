"""Index one document version: parse -> chunk -> embed -> index, reporting progress at each step.

Idempotent: chunks are keyed by (version, ordinal) and reused when unchanged, vectors are reused by
content hash, and the indexes replace ids they already hold, so running twice (a redelivered task,
a worker killed half-way) gives the same chunks, vectors and index.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Field

from config.engines import get_embedder, get_split_counter
from ingest.chunking import ChunkingConfig, ChunkSpec, chunk_document
from ingest.flush import flush_tenant
from ingest.models import Chunk, Document, DocumentVersion, VersionStatus
from ingest.parsing import ParsedDocument, ParseError, ParseLimits, parse_document
from ingest.vectors import known_vectors, needs_embedding, vectors_save
from retrieval.late_interaction import TokenEmbedder, pack_tokens

logger = logging.getLogger(__name__)


class VersionGone(Exception):
    """The version was deleted or superseded while it was being indexed: stop quietly."""


def parse_limits() -> ParseLimits:
    """What a file may cost to parse, from the settings (at upload and in the pipeline alike)."""
    return ParseLimits(max_bytes=settings.TESSERA["MAX_UPLOAD_BYTES"])


def _set_status(version: DocumentVersion, status: str, **fields: object) -> None:
    updated = (
        DocumentVersion.objects.filter(pk=version.pk)
        .exclude(status=VersionStatus.SUPERSEDED)
        .update(status=status, **fields)
    )
    if not updated:
        raise VersionGone(version.pk)
    version.status = status


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[stage] = round(time.perf_counter() - started, 3)


@dataclass
class _Prepared:
    """A version parsed and chunked, then (``_store_chunks``) with its chunk rows, waiting for vectors."""

    version: DocumentVersion
    specs: list[ChunkSpec]
    title: str | None
    kind: str
    chunks: list[Chunk] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def embed_texts(self) -> list[str]:
        return [spec.embed_text for spec in self.specs]


def index_versions(version_ids: list[int], *, flush: bool = True) -> dict[int, str]:
    """Parse and chunk each version, store the chunks of all of them in one transaction, embed them
    in one pass (small documents batch together), then (``flush``) add every embedded version of
    their tenants to the indexes in one write per tenant. Bad input ends as a stored failure.
    Returns each version's status.

    One version at a time (the Celery task) reports every stage; a batch (``manage.py ingest``)
    moves its small documents from parsing to embedding in a few writes for all of them, since
    nobody could see a stage that lasts a millisecond, and spends its time embedding instead."""
    outcome: dict[int, str] = {}
    parsed: list[_Prepared] = []
    versions = _start(version_ids)
    for version_id in version_ids:
        version = versions.get(version_id)
        if version is None:
            status = DocumentVersion.objects.filter(pk=version_id).values_list("status", flat=True).first()
            outcome[version_id] = status or "gone"
            continue
        try:
            parsed.append(_prepare(version, report_stages=len(version_ids) == 1))
        except ParseError as exc:
            version_fail(version_id, exc.code, exc.message)
            outcome[version_id] = VersionStatus.FAILED
        except VersionGone:
            outcome[version_id] = "gone"
    prepared = _store_chunks(parsed)
    kept = {item.version.pk for item in prepared}
    outcome.update({item.version.pk: "gone" for item in parsed if item.version.pk not in kept})
    _embed_all(prepared)
    for item in prepared:
        item.version.status = VersionStatus.INDEXING
        item.version.timings = item.timings
        item.version.chunk_count = item.version.progress_done = len(item.chunks)
        item.version.token_count = sum(c.token_count for c in item.chunks)
    written = ["timings", "chunk_count", "token_count"]
    indexing = _update_versions([item.version for item in prepared], written)
    outcome.update({item.version.pk: "gone" for item in prepared if item.version.pk not in indexing})
    if flush:
        for tenant_id in sorted({item.version.tenant_id for item in prepared}):
            flush_tenant(tenant_id)
    statuses = dict(
        DocumentVersion.objects.filter(pk__in=[i.version.pk for i in prepared]).values_list("pk", "status")
    )
    return {**{i.version.pk: statuses.get(i.version.pk, "gone") for i in prepared}, **outcome}


def _update_versions(versions: list[DocumentVersion], fields: list[str]) -> set[int]:
    """Write the versions' status, progress and ``fields``, one UPDATE a row sent as one batch (as
    ``vectors_save``; ``bulk_update``'s CASE per field cost more than the rows), leaving out any
    version superseded or deleted meanwhile. Returns the ids of those now in the status given."""
    if not versions:
        return set()
    model_fields = [_column(name) for name in ("status", "progress_done", "progress_total", *fields)]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column.column)} = %s" for column in model_fields)
    sql = (
        f"UPDATE {quote(DocumentVersion._meta.db_table)} SET {assignments} "  # noqa: S608 (no user input)
        f"WHERE {quote('id')} = %s AND {quote('status')} <> %s"
    )
    params = [
        [column.get_db_prep_value(getattr(v, column.attname), connection) for column in model_fields]
        + [v.pk, VersionStatus.SUPERSEDED]
        for v in versions
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)
    wanted = {(v.pk, v.status) for v in versions}
    current = DocumentVersion.objects.filter(pk__in=[v.pk for v in versions]).values_list("pk", "status")
    return {pk for pk, status in current if (pk, status) in wanted}


def _column(name: str) -> Field[Any, Any]:
    field = DocumentVersion._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{name} is not a column of DocumentVersion")
    return field


def index_version_or_fail(version_id: int, *, flush: bool = True) -> str:
    """Index one version (the Celery task's unit). Returns its status ("ready"; "indexing" when not
    flushed; "failed" with the reason stored on it; "gone" if deleted or superseded meanwhile)."""
    return index_versions([version_id], flush=flush)[version_id]


def version_fail(version_id: int, code: str, message: str) -> None:
    """Store a permanent failure, with its human-readable reason, on the version."""
    DocumentVersion.objects.filter(pk=version_id).exclude(status=VersionStatus.SUPERSEDED).update(
        status=VersionStatus.FAILED, error_code=code, error_message=message
    )


def _start(version_ids: list[int]) -> dict[int, DocumentVersion]:
    """Mark the versions that need indexing as parsing, in one write; returns them by id (a
    version already ready, superseded or deleted is left out: there is nothing to do)."""
    done = (VersionStatus.READY, VersionStatus.SUPERSEDED)
    versions = {
        v.pk: v
        for v in DocumentVersion.objects.select_related("document", "tenant")
        .filter(pk__in=version_ids)
        .exclude(status__in=done)
        .order_by()
    }
    DocumentVersion.objects.filter(pk__in=list(versions)).exclude(status__in=done).update(
        status=VersionStatus.PARSING, attempts=F("attempts") + 1, error_code="", error_message=""
    )
    for version in versions.values():
        version.status, version.attempts = VersionStatus.PARSING, version.attempts + 1
    return versions


def _prepare(version: DocumentVersion, *, report_stages: bool) -> _Prepared:
    """Parse and chunk one version (already marked parsing); nothing is written but its stage."""
    timings: dict[str, float] = {}
    with _timed(timings, "parse"):
        parsed = _parse(version)
    if report_stages:
        _set_status(version, VersionStatus.CHUNKING)
    with _timed(timings, "chunk"):
        specs = _chunk(parsed)
    return _Prepared(version, specs, parsed.title, parsed.kind, timings=timings)


def _parse(version: DocumentVersion) -> ParsedDocument:
    try:
        with version.file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise ParseError("file_missing", "The stored file is missing; upload it again.") from exc
    return parse_document(data, version.document.original_name, limits=parse_limits())


def _chunk(parsed: ParsedDocument) -> list[ChunkSpec]:
    embedder = get_embedder()
    config = ChunkingConfig(
        target_tokens=settings.TESSERA["CHUNK_TARGET_TOKENS"],
        overlap_tokens=settings.TESSERA["CHUNK_OVERLAP_TOKENS"],
    )
    specs = chunk_document(
        parsed,
        count_tokens=embedder.count_tokens,
        max_tokens=embedder.max_tokens,
        config=config,
        split_count=get_split_counter(),
    )
    if not specs:
        raise ParseError("no_text", "The document has no text to index.")
    return specs


def _store_chunks(prepared: list[_Prepared]) -> list[_Prepared]:
    """Persist the versions' chunks and titles and mark them embedding, in one transaction; a
    version's existing chunk rows (and ids) are kept when they are unchanged. Returns the versions
    still current (one superseded or deleted meanwhile is left out, and nothing of it is written).

    (Chunks of an earlier run are only replaced if the chunker or its settings changed; were their
    ids already indexed, they stay invisible, since search is scoped to visible chunk ids, until the
    next ``rebuild_index``.)"""
    if not prepared:
        return []
    started = time.perf_counter()
    with transaction.atomic():
        # The status first: its row locks keep a supersede or delete out until the chunks are in.
        for item in prepared:
            item.version.status = VersionStatus.EMBEDDING
            item.version.progress_done, item.version.progress_total = 0, len(item.specs)
        current = _update_versions([item.version for item in prepared], [])
        alive = [item for item in prepared if item.version.pk in current]
        _store_titles_and_kinds(alive)
        fresh: list[_Prepared] = []
        for item in alive:
            # Only a version indexed before (a retry, a redelivered task, a re-index) can have chunks.
            existing = list(item.version.chunks.order_by("ordinal")) if item.version.attempts > 1 else []
            if existing and [c.content_hash for c in existing] == [s.content_hash for s in item.specs]:
                item.chunks = existing
                continue
            if existing:
                item.version.chunks.all().delete()
            fresh.append(item)
        rows = Chunk.objects.bulk_create(
            [_chunk_row(item.version, spec) for item in fresh for spec in item.specs]
        )
        offset = 0
        for item in fresh:
            item.chunks, offset = rows[offset : offset + len(item.specs)], offset + len(item.specs)
    seconds = time.perf_counter() - started
    total = sum(len(item.specs) for item in prepared)
    for item in prepared:  # the shared write, by chunk count
        item.timings["chunk"] += seconds * len(item.specs) / total
    return alive


def _store_titles_and_kinds(prepared: list[_Prepared]) -> None:
    """A title found in the file replaces the file name; the kind found by content replaces the
    upload's guess."""
    documents = []
    for item in prepared:
        document = item.version.document
        if item.title and document.title == document.original_name:
            document.title = item.title[:300]
            documents.append(document)
    if documents:
        Document.objects.bulk_update(documents, ["title"])
    for item in prepared:
        if item.kind != item.version.kind:
            DocumentVersion.objects.filter(pk=item.version.pk).update(kind=item.kind)
            item.version.kind = item.kind


def _chunk_row(version: DocumentVersion, spec: ChunkSpec) -> Chunk:
    return Chunk(
        tenant_id=version.tenant_id,
        version=version,
        ordinal=spec.ordinal,
        text=spec.text,
        heading_path=list(spec.heading_path),
        page=spec.page,
        char_start=spec.char_start,
        char_end=spec.char_end,
        token_count=spec.token_count,
        content_hash=spec.content_hash,
    )


def _embed_all(prepared: list[_Prepared]) -> None:
    """Give every chunk a vector: reuse one with the same content hash in the tenant, embed the rest
    in length-sorted batches across all the versions, saving and reporting progress as it goes."""
    embedder = get_embedder()
    with_tokens = isinstance(embedder, TokenEmbedder)
    started = time.perf_counter()
    missing = [
        (item, c, t)
        for item in prepared
        for c, t in zip(item.chunks, item.embed_texts, strict=True)
        if needs_embedding(c, embedder.model_id, with_tokens)
    ]
    reused: list[Chunk] = []
    for tenant_id in {item.version.tenant_id for item, _, _ in missing}:
        hashes = {c.content_hash for item, c, _ in missing if item.version.tenant_id == tenant_id}
        known = known_vectors(tenant_id, embedder.model_id, hashes, with_tokens=with_tokens)
        for item, chunk, _ in missing:
            if item.version.tenant_id == tenant_id and chunk.content_hash in known:
                chunk.vector, chunk.token_vectors = known[chunk.content_hash]
                chunk.embedding_model = embedder.model_id
                reused.append(chunk)
    vectors_save(reused)
    todo = [(item, c, t) for item, c, t in missing if needs_embedding(c, embedder.model_id, with_tokens)]
    seconds = time.perf_counter() - started
    for item in prepared:
        item.timings["embed"] = seconds / len(prepared)
    step = settings.TESSERA["EMBED_BATCH_SIZE"] * 8  # the embedder batches inside; this bounds memory
    for start in range(0, len(todo), step):
        part = todo[start : start + step]
        started = time.perf_counter()
        texts = [text for _, _, text in part]
        if isinstance(embedder, TokenEmbedder):
            vectors, tokens = embedder.embed_documents_tokens(texts)
            packed: list[bytes | None] = [pack_tokens(t) for t in tokens]
        else:
            vectors, packed = embedder.embed_documents(texts), [None] * len(texts)
        embed_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for (_, chunk, _), vector, token_bytes in zip(part, vectors, packed, strict=True):
            chunk.vector, chunk.embedding_model = vector.astype("<f4").tobytes(), embedder.model_id
            chunk.token_vectors = token_bytes
        vectors_save([chunk for _, chunk, _ in part])
        _account(part, {"embed": embed_seconds, "store_vectors": time.perf_counter() - started})
    for item in prepared:  # 6 places: a version's share of a batch can be microseconds
        item.timings = {k: round(v, 6) for k, v in item.timings.items()}


def _account(part: list[tuple[_Prepared, Chunk, str]], seconds: dict[str, float]) -> None:
    """Share a batch's times (embedding, storing the vectors) among its versions by chunk count, and
    report the progress of those still under way (one finished here is reported with its next
    status, at once)."""
    counts = Counter(item.version.pk for item, _, _ in part)
    items = {item.version.pk: item for item, _, _ in part}
    for pk, count in counts.items():
        item = items[pk]
        for stage, stage_seconds in seconds.items():
            item.timings[stage] = item.timings.get(stage, 0.0) + stage_seconds * count / len(part)
        done = sum(c.vector is not None for c in item.chunks)
        if done < len(item.chunks):
            with suppress(VersionGone):
                _set_status(item.version, VersionStatus.EMBEDDING, progress_done=done)
