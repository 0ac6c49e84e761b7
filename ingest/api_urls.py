"""The documents' REST routes, mounted under /api/v1/ (namespace ``api``)."""

from django.urls import path

from ingest.api import (
    DocumentDetailApi,
    DocumentFileApi,
    DocumentListApi,
    DocumentReindexApi,
    DocumentVersionApi,
)

DOCUMENT = "documents/<object_id:document_id>/"

urlpatterns = [
    path("documents/", DocumentListApi.as_view(), name="documents"),
    path(DOCUMENT, DocumentDetailApi.as_view(), name="documents_detail"),
    path(DOCUMENT + "versions/", DocumentVersionApi.as_view(), name="documents_versions"),
    path(DOCUMENT + "file/", DocumentFileApi.as_view(), name="documents_file"),
    path(DOCUMENT + "reindex/", DocumentReindexApi.as_view(), name="documents_reindex"),
]
