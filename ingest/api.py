"""The documents' REST endpoints: list, upload one or many files, detail, delete, new version,
re-index (scope ``ingest``). Each view parses its input, calls one service or selector and shapes
the output; the per-file upload is shared with the browser's (``ingest.uploads``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import MAX_ID, principal_of
from config.api_errors import problem
from config.api_schema import ProblemSerializer
from config.errors import ApplicationError
from governance.services import Actor
from ingest import selectors, services
from ingest.api_serializers import (
    DocumentDetailOut,
    DocumentFilter,
    DocumentOut,
    FileQuery,
    NewVersionInput,
    UploadInput,
    UploadOut,
    UploadProblem,
    VersionOut,
    document_json,
    outcome_json,
    version_json,
)
from ingest.downloads import CONTENT_TYPES, DEFAULT_CONTENT_TYPE, original_file_response
from ingest.models import Document
from ingest.uploads import upload_access_groups, upload_file, upload_read

DOCUMENT_ID = OpenApiParameter(
    "document_id",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    OpenApiParameter.PATH,
    description="The document's id.",
)
PROBLEM = "application/problem+json"
# What a refused upload answers (besides the errors every operation documents).
UPLOAD_REFUSALS = {(status, PROBLEM): UploadProblem for status in (409, 413, 415, 422)}


def _document(request: Request, document_id: int) -> Document:
    return selectors.document_get(principal=principal_of(request), document_id=document_id)


def _files_of(data: dict[str, Any]) -> list[UploadedFile]:
    """The request's files (``files``, and ``file`` for a single one), within the per-request limit."""
    files: list[UploadedFile] = [*data.get("files", []), *([data["file"]] if "file" in data else [])]
    if not files:
        raise ApplicationError("Attach at least one file (multipart field `files`).", code="no_file")
    limit = settings.TESSERA["API_MAX_FILES_PER_REQUEST"]
    if len(files) > limit:
        raise ApplicationError(
            f"{len(files)} files in one request; the limit is {limit}.", code="too_many_files"
        )
    return files


class DocumentListApi(generics.GenericAPIView[Document]):
    """The caller's visible documents (GET, paginated, filtered), and uploads (POST)."""

    required_scope = "ingest"
    parser_classes = [MultiPartParser]
    serializer_class = UploadInput  # what OPTIONS describes for POST

    @extend_schema(
        operation_id="documents_list", parameters=[DocumentFilter], responses=DocumentOut(many=True)
    )
    def get(self, request: Request) -> Response:
        filters = DocumentFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        documents: QuerySet[Document] = selectors.document_list(
            principal=principal_of(request),
            query=filters.validated_data["q"],
            status=filters.validated_data["status"],
        )
        page = self.paginate_queryset(documents) or []
        return self.get_paginated_response([document_json(document) for document in page])

    @extend_schema(
        operation_id="documents_upload",
        request={"multipart/form-data": UploadInput},
        responses={201: UploadOut, **UPLOAD_REFUSALS},
        description=(
            "Upload one or many files (field `files`, or `file`); each is stored separately. 201 when at "
            "least one was stored, with the refused ones under `rejected`; when none was, the problem "
            "of the refusal (the first file's status and code) with every file's reason under `errors`."
        ),
    )
    def post(self, request: Request) -> Response:
        principal = principal_of(request)
        data = UploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        files = _files_of(data.validated_data)
        groups = upload_access_groups(
            principal=principal, group_ids=data.validated_data.get("access_groups", [])
        )
        outcomes = [upload_file(principal=principal, uploaded=file, access_groups=groups) for file in files]
        created = [outcome_json(o) for o in outcomes if o.stored]
        rejected = [outcome_json(o) for o in outcomes if not o.stored]
        if created:
            return Response({"created": created, "rejected": rejected}, status=201)
        first = next(o for o in outcomes if not o.stored)
        refused = problem(first.status, first.code, "No file was stored: " + first.message)
        refused.data["errors"] = rejected
        return refused


class DocumentDetailApi(APIView):
    """One document with its versions (GET); delete it, its versions and its chunks (DELETE)."""

    required_scope = "ingest"

    @extend_schema(operation_id="documents_retrieve", parameters=[DOCUMENT_ID], responses=DocumentDetailOut)
    def get(self, request: Request, document_id: int) -> Response:
        document = _document(request, document_id)
        versions = list(document.versions.order_by("-number"))
        return Response(
            {**document_json(document, versions=versions), "versions": [version_json(v) for v in versions]}
        )

    @extend_schema(operation_id="documents_destroy", parameters=[DOCUMENT_ID], responses={204: None})
    def delete(self, request: Request, document_id: int) -> Response:
        document = _document(request, document_id)
        services.document_delete(document=document, actor=Actor.of(principal_of(request)))
        return Response(status=204)


class DocumentVersionApi(APIView):
    """Upload a file (multipart ``file``) that replaces the document's content: a new version."""

    required_scope = "ingest"
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="documents_versions_create",
        parameters=[DOCUMENT_ID],
        request={"multipart/form-data": NewVersionInput},
        responses={201: VersionOut, (422, PROBLEM): ProblemSerializer},
    )
    def post(self, request: Request, document_id: int) -> Response:
        principal = principal_of(request)
        document = _document(request, document_id)
        data = NewVersionInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.document_upload(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            upload=upload_read(principal=principal, uploaded=data.validated_data["file"], document=document),
            document=document,
        )
        return Response(version_json(version), status=201)


class DocumentReindexApi(APIView):
    """Index the document's newest version again (after a failure, or a model change)."""

    required_scope = "ingest"

    @extend_schema(
        operation_id="documents_reindex", parameters=[DOCUMENT_ID], request=None, responses={202: VersionOut}
    )
    def post(self, request: Request, document_id: int) -> Response:
        document = _document(request, document_id)
        version = services.document_reindex(document=document, actor=Actor.of(principal_of(request)))
        return Response(version_json(version), status=202)


class DocumentFileApi(APIView):
    """The original file of the document's current version (or ``?version=N``), as a download."""

    required_scope = "ingest"

    @extend_schema(
        operation_id="documents_file",
        parameters=[DOCUMENT_ID, FileQuery],
        responses={
            (200, media_type): OpenApiTypes.BINARY
            for media_type in sorted({*CONTENT_TYPES.values(), DEFAULT_CONTENT_TYPE})
        },
    )
    def get(self, request: Request, document_id: int) -> FileResponse:
        document = _document(request, document_id)
        query = FileQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        version = selectors.version_with_file(document=document, number=query.validated_data.get("version"))
        response = original_file_response(document, version)
        services.document_download_record(
            document=document, version=version, actor=Actor.of(principal_of(request)), channel="api"
        )
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The file has its own type; whatever the client accepts, errors are problem details.
        return super().perform_content_negotiation(request, force=True)
