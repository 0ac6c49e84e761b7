"""Shapes of the documents API: what a request may carry and what each answer holds.

Serializers check shape only (the rules live in the services); the ``*_json`` functions build the
answers the serializers describe, from models the selectors returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from config.api import MAX_ID
from config.api_schema import ProblemSerializer
from ingest.forms import STATUS_FILTERS
from ingest.models import Document, DocumentVersion, VersionStatus
from ingest.uploads import UploadOutcome


class DocumentFilter(serializers.Serializer[Any]):
    """The list's filters, as the browser's documents page has them."""

    q = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=200,
        validators=[
            RegexValidator(r"^[^\x00]+$", "Null characters are not allowed.")
        ],  # blank is allow_blank's
        help_text="Title or file name contains.",
    )
    status = serializers.ChoiceField(
        required=False,
        default="",
        allow_blank=True,
        choices=[value for value, _ in STATUS_FILTERS if value],
        help_text="Status of the newest version; `in_progress` is any step before ready; empty: any.",
    )


class UploadInput(serializers.Serializer[Any]):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), required=False, help_text="One or many files."
    )
    file = serializers.FileField(required=False, allow_empty_file=True, help_text="A single file.")
    access_groups = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        help_text="Only members of these access groups may see the new documents (none: every member).",
    )


class NewVersionInput(serializers.Serializer[Any]):
    file = serializers.FileField(allow_empty_file=True)


class FileQuery(serializers.Serializer[Any]):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="A version's number (default: the current one).",
    )


class ProgressOut(serializers.Serializer[Any]):
    done = serializers.IntegerField(help_text="Steps done in the current stage (embedding batches).")
    total = serializers.IntegerField(help_text="Steps of the current stage; 0 when not counted.")
    percent = serializers.IntegerField(min_value=0, max_value=100)


class ErrorOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()


class VersionOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=VersionStatus.values)
    progress = ProgressOut()
    error = ErrorOut(allow_null=True, help_text="Why this version failed; null unless failed.")
    kind = serializers.CharField(help_text="pdf, docx, html, markdown, text, csv; empty when refused.")
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)


class DocumentOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    original_name = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="The newest version's number.")
    kind = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=VersionStatus.values, allow_null=True)
    progress = ProgressOut(allow_null=True)
    error = ErrorOut(allow_null=True, help_text="Why the newest version failed; null unless failed.")
    chunk_count = serializers.IntegerField()
    access_groups = serializers.ListField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DocumentDetailOut(DocumentOut):
    versions = VersionOut(many=True, help_text="Newest first.")


class UploadedOut(serializers.Serializer[Any]):
    name = serializers.CharField()
    document_id = serializers.IntegerField()
    version_id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=VersionStatus.values)


class RejectedOut(serializers.Serializer[Any]):
    name = serializers.CharField()
    status = serializers.IntegerField(help_text="The HTTP status this file alone would have had.")
    code = serializers.CharField(help_text="duplicate, too_large, unsupported_type, encrypted_pdf, ...")
    detail = serializers.CharField()
    document_id = serializers.IntegerField(
        allow_null=True, help_text="The failed document that records the refusal, or the duplicate's."
    )


class UploadOut(serializers.Serializer[Any]):
    created = UploadedOut(many=True)
    rejected = RejectedOut(many=True)


class UploadProblem(ProblemSerializer):
    """A refused upload: the problem of the (first) refusal, and every file's reason under
    ``errors`` (a member named so cannot be a class attribute: it is the serializer's own
    ``errors``)."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {**super().get_fields(), "errors": RejectedOut(many=True, required=False)}

    class Meta:
        ref_name = "UploadProblem"


def _progress(version: DocumentVersion) -> dict[str, int]:
    return {
        "done": version.progress_done,
        "total": version.progress_total,
        "percent": version.progress_percent,
    }


def _error(version: DocumentVersion) -> dict[str, str] | None:
    if version.status != VersionStatus.FAILED:
        return None
    return {"code": version.error_code, "message": version.error_message}


def version_json(version: DocumentVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "document_id": version.document_id,
        "number": version.number,
        "status": version.status,
        "progress": _progress(version),
        "error": _error(version),
        "kind": version.kind,
        "sha256": version.sha256,
        "size_bytes": version.size_bytes,
        "chunk_count": version.chunk_count,
        "created_at": version.created_at,
        "ready_at": version.ready_at,
    }


def document_json(document: Document, versions: Iterable[DocumentVersion] | None = None) -> dict[str, Any]:
    """A document and the state of its newest version (``versions``: newest first; by default its
    prefetched versions)."""
    newest = next(iter(document.versions.all() if versions is None else versions), None)
    return {
        "id": document.pk,
        "title": document.title,
        "original_name": document.original_name,
        "version": newest.number if newest else None,
        "kind": newest.kind if newest else None,
        "status": newest.status if newest else None,
        "progress": _progress(newest) if newest else None,
        "error": _error(newest) if newest else None,
        "chunk_count": newest.chunk_count if newest else 0,
        "access_groups": sorted(group.pk for group in document.access_groups.all()),
        "created_at": document.created_at,
        "updated_at": document.updated_at,
    }


def outcome_json(outcome: UploadOutcome) -> dict[str, Any]:
    """One file of an upload: where it was stored, or why it was refused."""
    if outcome.version is None:
        return {
            "name": outcome.name,
            "status": outcome.status,
            "code": outcome.code,
            "detail": outcome.message,
            "document_id": outcome.document_id,
        }
    version = outcome.version
    return {
        "name": outcome.name,
        "document_id": version.document_id,
        "version_id": version.pk,
        "version": version.number,
        "status": version.status,
    }
