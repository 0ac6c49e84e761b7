"""Writes on documents: upload, new version, delete, access groups, re-index.

Each writes its audit row in the same transaction and queues background work in the outbox, in that
transaction too (``config.outbox``): a task is sent only once its rows are committed, and is not lost
when the broker is away at that moment.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError, Conflict, StorageFull
from config.outbox import outbox_add
from governance.models import AccessGroup, Tenant
from governance.services import Actor, audit_record, same_tenant_only
from ingest.models import Document, DocumentDeletion, DocumentVersion, VersionStatus
from ingest.parsing import ParseError, detect_kind, parse_document
from ingest.pipeline import parse_limits
from ingest.signals import documents_changed

logger = logging.getLogger(__name__)


class UploadRejected(ApplicationError):
    """A file refused at upload; the document is kept as failed, with the reason, for the admin."""

    def __init__(self, message: str, *, code: str, status: int, document: Document | None = None):
        super().__init__(message, code=code)
        self.status = status
        self.document = document


# HTTP status of each rejection reason.
REJECTION_STATUS = {"too_large": 413, "unsupported_type": 415}


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as received: its bytes and the name the user gave it."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# The largest primary key a database holds; a longer "id" is no group's.
_MAX_GROUP_ID = 2**63 - 1


def upload_access_groups_check(*, tenant: Tenant, group_ids: Iterable[int | str]) -> list[AccessGroup]:
    """The tenant's access groups with these ids (blank ones ignored). Any other id (unknown,
    malformed, or another tenant's) is refused with 400 ``unknown_access_group``, never dropped: a
    typo must not leave a document visible to everyone. Browser and API uploads both ask here."""
    wanted: set[int] = set()
    unknown: list[str] = []
    for raw in group_ids:
        text = str(raw).strip()
        if text.isascii() and text.isdigit() and int(text) <= _MAX_GROUP_ID:
            wanted.add(int(text))
        elif text:
            unknown.append(text[:20])
    groups = list(AccessGroup.objects.filter(tenant=tenant, pk__in=wanted)) if wanted else []
    unknown += [str(pk) for pk in sorted(wanted - {group.pk for group in groups})]
    if unknown:
        raise ApplicationError(
            f"Unknown access group(s): {', '.join(unknown)}. Nothing was stored.",
            code="unknown_access_group",
        )
    return groups


def _validate(upload: Upload, *, full_parse: bool) -> str:
    """The file's kind, by content; raise ParseError for a file that cannot be ingested.

    With ``full_parse``, small files are parsed in full here, so a corrupt, encrypted or empty one
    is refused at once with a 4xx; large ones (and callers that run the pipeline themselves right
    away) get the cheap checks now and the full parse in the pipeline, which stores any failure.
    """
    limits = parse_limits()
    if len(upload.data) > limits.max_bytes:
        raise ParseError(
            "too_large",
            f"The file is {len(upload.data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB.",
        )
    if full_parse and len(upload.data) <= settings.TESSERA["SYNC_PARSE_MAX_BYTES"]:
        return parse_document(upload.data, upload.name, limits=limits).kind
    return detect_kind(upload.data, upload.name)


def _find_duplicate(tenant: Tenant, sha256: str) -> Document | None:
    """The document that already holds a live version of these bytes, if any. Asked once per upload:
    a plain id lookup (compiling a join and building a version for every upload cost more than the
    upload's own database writes), and the document is loaded only when there is one."""
    document_id = (
        DocumentVersion.objects.filter(tenant=tenant, sha256=sha256)
        .exclude(status__in=(VersionStatus.FAILED, VersionStatus.SUPERSEDED))
        .order_by("pk")  # not the default (document, -number): SQLite would scan the table for it
        .values_list("document_id", flat=True)
        .first()
    )
    return None if document_id is None else Document.objects.get(pk=document_id)


def document_upload(
    *,
    tenant: Tenant,
    actor: Actor,
    upload: Upload,
    access_groups: Iterable[AccessGroup] = (),
    document: Document | None = None,
    enqueue: bool = True,
) -> DocumentVersion:
    """Store ``upload`` as a new document (or a new version of ``document``) and queue its indexing
    (``enqueue=False``: the caller runs ``ingest.pipeline.index_version`` itself).

    Raises ``Conflict`` for an identical file already in the tenant (nothing is stored twice) and
    ``UploadRejected`` (4xx) for a file that cannot be ingested, after recording it as failed.
    """
    sha256 = upload.sha256
    duplicate = _find_duplicate(tenant, sha256)
    if duplicate is not None:
        raise Conflict(
            f"'{upload.name}' is identical to '{duplicate.title}', already uploaded.",
            code="duplicate",
            extra={"document_id": duplicate.pk},
        )
    groups = same_tenant_only(access_groups, tenant.pk, "Access groups")
    try:
        kind = _validate(upload, full_parse=enqueue)
    except ParseError as exc:
        document_reject(
            tenant=tenant,
            actor=actor,
            name=upload.name,
            size=len(upload.data),
            sha256=sha256,
            code=exc.code,
            message=exc.message,
            document=document,
        )
    stored_name = _file_store(tenant, sha256, upload.data)
    with transaction.atomic():
        version = _create_version(
            tenant, actor, upload.name, len(upload.data), sha256, kind, groups, document, stored_name
        )
        if document is not None:
            _supersede_older(version)
            _changed(tenant.pk, version.document_id, "new_version")
        audit_record(
            tenant=tenant,
            actor=actor,
            action="document.upload",
            target=version.document,
            extra={"version": version.pk, "number": version.number, "kind": kind, "bytes": len(upload.data)},
        )
        if enqueue:
            enqueue_indexing(version)
    logger.info(
        "document uploaded tenant=%s document=%s version=%s bytes=%s",
        tenant.pk,
        version.document_id,
        version.pk,
        len(upload.data),
    )
    return version


def _file_store(tenant: Tenant, sha256: str, data: bytes) -> str:
    """Store the original's bytes; their name. The file first, then one INSERT that names it
    (FieldFile.save would UPDATE the row again). A disk that is full or failing leaves no partial
    file behind (the storage writes in place) and raises ``StorageFull`` (507)."""
    file_field = DocumentVersion._meta.get_field("file")
    storage = file_field.storage
    name = storage.get_available_name(
        file_field.generate_filename(None, f"{tenant.pk}/{sha256[:2]}/{sha256}"),
        max_length=file_field.max_length,
    )
    try:
        return str(storage.save(name, ContentFile(data), max_length=file_field.max_length))
    except OSError as exc:
        with contextlib.suppress(OSError):
            storage.delete(name)  # the partial file: the name was free before this save
        logger.error("upload not stored tenant=%s error=%s", tenant.pk, exc)
        raise StorageFull(
            "The server cannot store this file right now; nothing was kept. Try again later."
        ) from exc


def document_reject(
    *,
    tenant: Tenant,
    actor: Actor,
    name: str,
    size: int,
    code: str,
    message: str,
    sha256: str = "",
    document: Document | None = None,
) -> None:
    """Record a refused file as a failed version with its reason, then raise ``UploadRejected`` (4xx)."""
    with transaction.atomic():
        version = _create_version(tenant, actor, name, size, sha256, "", [], document)
        _fail_version(version, code, message)
        audit_record(
            tenant=tenant,
            actor=actor,
            action="document.rejected",
            target=version.document,
            extra={"version": version.pk, "reason": code},
        )
    raise UploadRejected(
        message, code=code, status=REJECTION_STATUS.get(code, 422), document=version.document
    )


def _create_version(
    tenant: Tenant,
    actor: Actor,
    filename: str,
    size: int,
    sha256: str,
    kind: str,
    groups: list[AccessGroup],
    document: Document | None,
    file_name: str = "",
) -> DocumentVersion:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1][:255] or "untitled"
    if document is None:
        document = Document.objects.create(
            tenant=tenant, title=name[:300], original_name=name, created_by_id=actor.user_id
        )
        if groups:
            document.access_groups.set(groups)
        number = 1
    else:
        document = Document.objects.select_for_update().get(pk=document.pk, tenant=tenant)
        number = (document.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    return DocumentVersion.objects.create(
        file=file_name,
        tenant=tenant,
        document=document,
        number=number,
        sha256=sha256,
        size_bytes=size,
        kind=kind,
        uploaded_by_id=actor.user_id,
        status=VersionStatus.QUEUED,
    )


def _supersede_older(version: DocumentVersion) -> None:
    """A new version replaces the document's unfinished ones at once (they were never searchable).
    Its ready version stays current, and searchable, until the new one is ready: the pipeline
    then supersedes it in the same step (``ingest.flush._mark_ready``). A new version that fails
    leaves it so: a document never drops out of search because its replacement could not be read."""
    version.document.versions.exclude(pk=version.pk).exclude(
        status__in=(VersionStatus.FAILED, VersionStatus.READY, VersionStatus.SUPERSEDED)
    ).update(status=VersionStatus.SUPERSEDED)


def _changed(tenant_id: int, document_id: int, reason: str) -> None:
    """Tell the apps built on ingest (the answer cache) that a document changed, in this transaction."""
    documents_changed.send(sender=Document, tenant_id=tenant_id, document_ids=[document_id], reason=reason)


def _fail_version(version: DocumentVersion, code: str, message: str) -> None:
    version.status = VersionStatus.FAILED
    version.error_code, version.error_message = code, message
    version.save(update_fields=["status", "error_code", "error_message"])


def enqueue_indexing(version: DocumentVersion) -> None:
    """Queue the indexing task, through the outbox: sent once the surrounding transaction commits,
    or later by the sweeper if the broker is away then (``config.outbox``)."""
    outbox_add("ingest.index_version", version.pk)


def document_delete(*, document: Document, actor: Actor) -> DocumentDeletion:
    """Delete a document and every version; its chunks leave search at once (their rows go), and
    the worker then removes their vectors from the tenant's indexes and the originals from disk (the
    removal is in the outbox, in the same transaction: a broker away now delays it, never loses it)."""
    with transaction.atomic():
        chunk_ids = list(document.versions.values_list("chunks__id", flat=True))
        chunk_ids = [cid for cid in chunk_ids if cid is not None]
        files = [v.file.name for v in document.versions.all() if v.file]
        audit_record(
            tenant=document.tenant,
            actor=actor,
            action="document.delete",
            target=document,
            extra={"title": document.title, "chunks": len(chunk_ids)},
        )
        tenant_id = document.tenant_id
        _changed(tenant_id, document.pk, "delete")
        deletion = DocumentDeletion.objects.create(
            tenant_id=tenant_id,
            document_id=document.pk,
            title=document.title,
            chunks=len(chunk_ids),
            files=len(files),
        )
        document.delete()
        outbox_add("ingest.remove_chunks", tenant_id, chunk_ids, files, deletion.pk)
    return deletion


def deletion_progress(*, deletion_id: int | None, indexes: bool = False, files: bool = False) -> None:
    """Record that a deleted document's vectors and terms (``indexes``) or its original files
    (``files``) are gone; when both are, the deletion is complete. Called by the worker."""
    if deletion_id is None:  # a removal queued before deletions were recorded
        return
    now = timezone.now()
    with transaction.atomic():
        deletion = DocumentDeletion.objects.select_for_update().filter(pk=deletion_id).first()
        if deletion is None:
            return
        if indexes and deletion.indexes_cleared_at is None:
            deletion.indexes_cleared_at = now
        if files and deletion.files_removed_at is None:
            deletion.files_removed_at = now
        if deletion.indexes_cleared_at and deletion.files_removed_at and deletion.completed_at is None:
            deletion.completed_at = now
            logger.info(
                "document deletion complete tenant=%s document=%s", deletion.tenant_id, deletion.document_id
            )
        deletion.save(update_fields=["indexes_cleared_at", "files_removed_at", "completed_at"])


def document_access_groups_set(*, document: Document, groups: Iterable[AccessGroup], actor: Actor) -> None:
    """Restrict ``document`` to ``groups`` (none: every member of the tenant may see it)."""
    group_list = same_tenant_only(groups, document.tenant_id, "Access groups")
    with transaction.atomic():
        document.access_groups.set(group_list)
        _changed(document.tenant_id, document.pk, "access_groups")
        audit_record(
            tenant=document.tenant,
            actor=actor,
            action="document.access_groups_set",
            target=document,
            extra={"groups": sorted(g.pk for g in group_list)},
        )


def document_reindex(*, document: Document, actor: Actor) -> DocumentVersion:
    """Run the indexing of the newest version again (after a failure, or a model change)."""
    version = document.versions.order_by("-number").first()
    if version is None or not version.file:
        raise ApplicationError("This document has no stored file to index.", code="nothing_to_index")
    if version.in_progress and version.status != VersionStatus.QUEUED:
        raise Conflict("This document is being indexed right now.", code="in_progress")
    with transaction.atomic():
        DocumentVersion.objects.filter(pk=version.pk).update(
            status=VersionStatus.QUEUED, error_code="", error_message="", progress_done=0
        )
        _changed(document.tenant_id, document.pk, "reindex")
        audit_record(
            tenant=document.tenant,
            actor=actor,
            action="document.reindex",
            target=document,
            extra={"version": version.pk},
        )
        enqueue_indexing(version)
    version.refresh_from_db()
    return version


def document_download_record(
    *, document: Document, version: DocumentVersion, actor: Actor, channel: str
) -> None:
    """Audit a download of a version's original file (``document.download``), from the browser or
    the API alike (``channel``): who took a copy of which document out of Tessera."""
    with transaction.atomic():
        audit_record(
            tenant=document.tenant,
            actor=actor,
            action="document.download",
            target=document,
            extra={"version": version.number, "channel": channel},
        )
