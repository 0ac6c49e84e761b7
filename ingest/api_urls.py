"""The documents' REST routes, mounted under /api/v1/ (namespace ``api``)."""

from django.urls import path

from ingest.api import (
    DocumentDetailApi,
    DocumentFileApi,
    DocumentListApi,
    DocumentReindexApi,
    DocumentVersionApi,
)

urlpatterns = [
    path("documents/", DocumentListApi.as_view(), name="documents"),
    path("documents/<int:document_id>/", DocumentDetailApi.as_view(), name="documents_detail"),
    path("documents/<int:document_id>/versions/", DocumentVersionApi.as_view(), name="documents_versions"),
    path("documents/<int:document_id>/file/", DocumentFileApi.as_view(), name="documents_file"),
    path("documents/<int:document_id>/reindex/", DocumentReindexApi.as_view(), name="documents_reindex"),
]
