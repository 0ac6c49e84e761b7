"""One uploaded file through ``ingest.services.document_upload``, and its outcome.

Shared by the browser's upload (JSON per file) and the REST API (many files per request): both read
the file the same way (an oversized one is refused, and recorded, before it is read into memory)
and report each file's result the same way, whatever it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from config.errors import ApplicationError
from governance.access import Principal
from governance.models import AccessGroup
from governance.services import Actor
from ingest import services
from ingest.models import Document, DocumentVersion


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    """What became of one file: its version when stored, else the refusal (status, code, message)
    and the failed document the refusal was recorded on (or the duplicate's), when there is one."""

    name: str
    version: DocumentVersion | None = None
    status: int = 201
    code: str = ""
    message: str = ""
    document_id: int | None = None

    @property
    def stored(self) -> bool:
        return self.version is not None


def upload_read(
    *, principal: Principal, uploaded: UploadedFile, document: Document | None = None
) -> services.Upload:
    """The file's bytes; an oversized one is refused (and recorded as failed) before it is read."""
    limit = settings.TESSERA["MAX_UPLOAD_BYTES"]
    name = uploaded.name or "untitled"
    if uploaded.size is not None and uploaded.size > limit:
        services.document_reject(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            name=name,
            size=uploaded.size,
            code="too_large",
            document=document,
            message=f"'{name}' is {uploaded.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB.",
        )
    return services.Upload(name=name, data=uploaded.read())


def upload_file(
    *,
    principal: Principal,
    uploaded: UploadedFile,
    access_groups: Iterable[AccessGroup] = (),
    document: Document | None = None,
) -> UploadOutcome:
    """Store one file as a new document (or a new version of ``document``); a refusal (duplicate,
    corrupt, encrypted, empty, too large, unsupported) is an outcome, not an exception, so that
    one bad file of many does not lose the others."""
    name = uploaded.name or "untitled"
    try:
        version = services.document_upload(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            upload=upload_read(principal=principal, uploaded=uploaded, document=document),
            access_groups=access_groups if document is None else (),
            document=document,
        )
    except ApplicationError as exc:
        failed = getattr(exc, "document", None)
        document_id = failed.pk if failed is not None else exc.extra.get("document_id")
        return UploadOutcome(
            name=name, status=exc.status, code=exc.code, message=exc.message, document_id=document_id
        )
    return UploadOutcome(name=name, version=version, document_id=version.document_id)


def upload_access_groups(*, principal: Principal, group_ids: Iterable[int]) -> list[AccessGroup]:
    """The principal's tenant's access groups with these ids; see
    ``ingest.services.upload_access_groups_check`` (an unknown id is an error, not dropped)."""
    return services.upload_access_groups_check(tenant=principal.tenant, group_ids=group_ids)
