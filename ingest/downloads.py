"""The original file of a document version as a download, shared by the browser and the REST API.

Always an attachment, sandboxed and not sniffed: an uploaded HTML file must never run in
Tessera's origin.
"""

from __future__ import annotations

from django.http import FileResponse

from config.errors import NotFound
from ingest.models import Document, DocumentVersion

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "csv": "text/csv",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def original_file_response(document: Document, version: DocumentVersion) -> FileResponse:
    """The stored bytes of ``version`` (of a document the caller may see), or NotFound."""
    try:
        handle = version.file.open("rb")
    except FileNotFoundError as exc:
        raise NotFound("The stored file is missing.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=document.original_name or document.title,
        content_type=CONTENT_TYPES.get(version.kind, DEFAULT_CONTENT_TYPE),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response
