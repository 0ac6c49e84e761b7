"""Reads of documents, always through what the principal may see: the visible documents, their
current ready versions and those versions' chunks (the scope search passes into the index)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery

from config.errors import NotFound
from governance.access import Principal, group_restricted_visible
from ingest.models import IN_PROGRESS, Chunk, Document, DocumentVersion, VersionStatus
from retrieval.late_interaction import TokenVectors, unpack_tokens

# The largest primary key a row can have (a 64-bit integer); a larger id matches nothing (the
# database would refuse the query with an error instead).
MAX_ID = 2**63 - 1

# The status filter's value for "any step before ready" (queued, parsing, ..., indexing).
IN_PROGRESS_FILTER = "in_progress"


def documents_visible_to(principal: Principal) -> QuerySet[Document]:
    """The documents ``principal`` may see: all for admins; else unrestricted ones and its groups'."""
    documents = Document.objects.filter(tenant_id=principal.tenant_id)
    if principal.sees_all:
        return documents
    allowed = Document.objects.filter(group_restricted_visible(principal)).values("pk")
    return documents.filter(pk__in=allowed)


def chunks_visible_to(principal: Principal, *, access_group_id: int | None = None) -> QuerySet[Chunk]:
    """The searchable chunks ``principal`` may see: those of the current, ready version of each
    visible document. Retrieval passes these ids INTO the index search as its scope.
    ``access_group_id`` keeps only the visible documents restricted to that group (a tenant intent
    that searches one collection): it narrows the scope, never widens it.

    Written as "chunks whose version is in <the visible current versions>" so the database walks
    the few versions and reads chunk ids from the (version, ordinal) index alone, never the chunk
    rows with their texts and vectors (49 -> 19 ms p50 for SciFact's 16k chunks in SQLite;
    docs/benchmarks.md). The versions
    are the tenant's, so their chunks are too."""
    versions = versions_visible_to(principal, access_group_id=access_group_id)
    return Chunk.objects.filter(version_id__in=versions.values("pk"))


def versions_visible_to(
    principal: Principal, *, access_group_id: int | None = None
) -> QuerySet[DocumentVersion]:
    """The searchable versions ``principal`` may see: the current, ready version of each visible
    document (one row per document, so far fewer rows than its chunks); ``access_group_id``
    narrows them as for ``chunks_visible_to``."""
    documents = documents_visible_to(principal)
    if access_group_id is not None:
        documents = documents.filter(access_groups=access_group_id)
    return DocumentVersion.objects.filter(
        tenant_id=principal.tenant_id,
        status=VersionStatus.READY,
        document__in=documents,
        document__current_version=F("pk"),
    )


def visible_chunk_ids(principal: Principal, access_group_id: int | None = None) -> npt.NDArray[np.int64]:
    """The ids of every chunk ``principal`` may see (of one access group's documents only, if
    given), as the index searches take them: search's scope."""
    ids = (
        chunks_visible_to(principal, access_group_id=access_group_id).order_by().values_list("id", flat=True)
    )
    return np.fromiter(ids.iterator(chunk_size=10_000), dtype=np.int64)


def current_chunks_of_documents(principal: Principal, chunk_ids: list[int]) -> dict[int, int]:
    """Every chunk of the current, ready versions of the documents that ``chunk_ids`` belong to, as
    {chunk id: document id}: the pool that fusion scores. The caller keeps only its scope's ids."""
    documents = set(
        Chunk.objects.filter(tenant_id=principal.tenant_id, pk__in=chunk_ids).values_list(
            "version__document_id", flat=True
        )
    )
    current = DocumentVersion.objects.filter(
        tenant_id=principal.tenant_id,
        document_id__in=documents,
        status=VersionStatus.READY,
        document__current_version=F("pk"),
    )
    return dict(
        Chunk.objects.filter(version_id__in=current.values("pk"))
        .order_by()
        .values_list("id", "version__document_id")
    )


def chunk_token_vectors(
    principal: Principal, chunk_ids: list[int], dimension: int
) -> dict[int, TokenVectors]:
    """The stored token vectors of those of ``chunk_ids`` (the tenant's) that have them."""
    rows = (
        Chunk.objects.filter(tenant_id=principal.tenant_id, pk__in=chunk_ids)
        .exclude(token_vectors=None)
        .values_list("id", "token_vectors")
    )
    return {pk: unpack_tokens(bytes(data), dimension) for pk, data in rows if data is not None}


@dataclass(frozen=True, slots=True)
class PassageRow:
    """What a search result shows of a chunk: its text, where it is, and its document."""

    chunk_id: int
    version_id: int
    document_id: int
    title: str
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    char_start: int
    char_end: int


def passage_rows(principal: Principal, chunk_ids: list[int]) -> dict[int, PassageRow]:
    """The tenant's chunks among ``chunk_ids`` as passages to show; an id deleted a moment ago is
    simply absent."""
    rows = (
        Chunk.objects.filter(tenant_id=principal.tenant_id, pk__in=chunk_ids)
        .order_by()
        .values_list(
            "id",
            "version_id",
            "version__document_id",
            "version__document__title",
            "text",
            "heading_path",
            "page",
            "char_start",
            "char_end",
        )
    )
    return {
        pk: PassageRow(pk, version, document, title, text, tuple(heading or ()), page, start, end)
        for pk, version, document, title, text, heading, page, start, end in rows
    }


def document_list(*, principal: Principal, query: str = "", status: str = "") -> QuerySet[Document]:
    """Visible documents with their newest version, filtered by name (title or file name) and by the
    status of that newest version (a document whose first upload failed but whose new version is
    ready is ready, not failed); ``IN_PROGRESS_FILTER`` matches every step before ready."""
    newest_status = (
        DocumentVersion.objects.filter(document=OuterRef("pk")).order_by("-number").values("status")[:1]
    )
    documents = (
        documents_visible_to(principal)
        .annotate(newest_status=Subquery(newest_status))
        .prefetch_related(
            "access_groups", Prefetch("versions", queryset=DocumentVersion.objects.order_by("-number"))
        )
    )
    if query:
        documents = documents.filter(Q(title__icontains=query) | Q(original_name__icontains=query))
    if status == IN_PROGRESS_FILTER:
        documents = documents.filter(newest_status__in=IN_PROGRESS)
    elif status:
        documents = documents.filter(newest_status=status)
    return documents


def document_get(*, principal: Principal, document_id: int) -> Document:
    """One visible document, or NotFound (another tenant's looks the same as a missing one)."""
    if not 0 < document_id <= MAX_ID:
        raise NotFound("No such document.")
    try:
        return documents_visible_to(principal).select_related("current_version").get(pk=document_id)
    except Document.DoesNotExist as exc:
        raise NotFound("No such document.") from exc


def latest_version(document: Document) -> DocumentVersion | None:
    return document.versions.order_by("-number").first()


def version_with_file(*, document: Document, number: int | None = None) -> DocumentVersion:
    """Version ``number`` of a visible document (by default its current one, else its newest) when
    it has a stored file; NotFound otherwise."""
    if number is None:
        version = document.current_version or latest_version(document)
    else:
        version = document.versions.filter(number=number).first() if 0 < number <= MAX_ID else None
    if version is None or not version.file:
        raise NotFound("This document has no stored file.")
    return version
