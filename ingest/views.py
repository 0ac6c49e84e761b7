"""Document pages for tenant admins: upload many files, watch them index, manage each document."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import ApplicationError, NotFound
from governance import selectors as governance_selectors
from governance.decorators import admin_required, member_required
from governance.middleware import TenantHttpRequest
from governance.models import AccessGroup
from governance.services import Actor
from ingest import selectors, services
from ingest.downloads import original_file_response
from ingest.forms import STATUS_FILTERS, DocumentFilterForm
from ingest.models import Document
from ingest.uploads import upload_file, upload_read

PAGE_SIZE = 25


def _posted_groups(request: TenantHttpRequest) -> list[AccessGroup]:
    """The access groups the form names; an unknown or another tenant's id is a 400, as in the API."""
    return services.upload_access_groups_check(
        tenant=request.principal.tenant, group_ids=request.POST.getlist("access_groups")
    )


def _upload_one(
    request: TenantHttpRequest,
    uploaded: UploadedFile,
    groups: list[AccessGroup],
    document: Document | None = None,
) -> tuple[dict[str, Any], int]:
    """Upload one file (a new document, or a new version of ``document``); its result (``ok``,
    ``message``, ``code``, ids) and the HTTP status it earns."""
    outcome = upload_file(
        principal=request.principal, uploaded=uploaded, access_groups=groups, document=document
    )
    result: dict[str, Any] = {"name": outcome.name, "ok": outcome.stored, "document_id": outcome.document_id}
    if outcome.version is None:
        return {**result, "code": outcome.code, "message": outcome.message}, outcome.status
    return {**result, "status": outcome.version.status, "version": outcome.version.number}, 201


def _upload_json(
    request: TenantHttpRequest, uploaded: UploadedFile | None, document: Document | None = None
) -> JsonResponse:
    """The page script's answer for one file: 201 or a 4xx, with the reason and where to follow it."""
    if uploaded is None:
        return JsonResponse({"ok": False, "code": "no_file", "message": "Choose a file."}, status=400)
    try:
        groups = _posted_groups(request) if document is None else []  # a new version keeps its groups
    except ApplicationError as exc:
        body = {"name": uploaded.name, "ok": False, "code": exc.code, "message": exc.message}
        return JsonResponse(body, status=exc.status)
    result, status = _upload_one(request, uploaded, groups, document)
    if result["document_id"] is not None:
        result["status_url"] = reverse("ingest:document_status", args=[result["document_id"]])
        result["url"] = reverse("ingest:document", args=[result["document_id"]])
    return JsonResponse(result, status=status)


def _wants_json(request: TenantHttpRequest) -> bool:
    """The page's script asks for JSON first; a browser's own form submission asks for HTML."""
    return request.headers.get("Accept", "").startswith("application/json")


def _filters(request: TenantHttpRequest) -> dict[str, Any]:
    form = DocumentFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(map(str, errs))}" for name, errs in form.errors.items())
        raise ApplicationError(f"Unknown filter: {problems}", code="bad_filter")
    return form.cleaned_data


def _upload_many(request: TenantHttpRequest, files: list[UploadedFile]) -> tuple[list[dict[str, Any]], int]:
    """The form without JavaScript: every file's result, and the page's status (the first refusal's)."""
    try:
        groups = _posted_groups(request)
    except ApplicationError as exc:
        return [{"name": "", "ok": False, "code": exc.code, "message": exc.message}], exc.status
    if not files:
        return [{"name": "", "ok": False, "message": "Choose at least one file."}], 400
    results: list[dict[str, Any]] = []
    status = 200
    for uploaded in files:
        result, code = _upload_one(request, uploaded, groups)
        results.append(result)
        status = code if status == 200 and code >= 400 else status
    return results, status


@admin_required
@require_http_methods(["GET", "POST"])
def document_list(request: TenantHttpRequest) -> HttpResponse:
    """The tenant's documents with live status, searchable and paginated; POST uploads one or many
    files (the form without JavaScript; the page's script sends each file to ``document_upload``)."""
    principal = request.principal
    results: list[dict[str, Any]] = []
    status = 200
    if request.method == "POST":
        results, status = _upload_many(request, request.FILES.getlist("files"))
    filters = _filters(request)
    documents = selectors.document_list(principal=principal, query=filters["q"], status=filters["status"])
    page = Paginator(documents, PAGE_SIZE).get_page(filters["page"])
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "documents": page.object_list,
        "filters": filters,
        "query": query.urlencode(),
        "groups": governance_selectors.access_group_list(tenant=principal.tenant),
        "results": results,
        "statuses": STATUS_FILTERS[1:],
        "max_upload_mb": settings.TESSERA["MAX_UPLOAD_BYTES"] // (1024 * 1024),
    }
    template = "ingest/partials/document_rows.html" if request.htmx else "ingest/documents.html"
    return render(request, template, context, status=status)


@admin_required
@require_POST
def document_upload(request: TenantHttpRequest) -> JsonResponse:
    """One file (``file``) uploaded by the page's script: JSON with the result, 201 or a 4xx with
    the reason, so that each file of a drop gets its own progress bar and its own answer."""
    return _upload_json(request, request.FILES.get("file"))


@admin_required
def document_detail(request: TenantHttpRequest, document_id: int) -> HttpResponse:
    principal = request.principal
    document = selectors.document_get(principal=principal, document_id=document_id)
    context = {
        "document": document,
        "versions": document.versions.order_by("-number"),
        "groups": governance_selectors.access_group_list(tenant=principal.tenant),
        "document_group_ids": set(document.access_groups.values_list("pk", flat=True)),
    }
    return render(request, "ingest/document_detail.html", context)


@admin_required
def document_status(request: TenantHttpRequest, document_id: int) -> HttpResponse:
    """The status cell of one document (htmx polls it while the document is being indexed)."""
    document = selectors.document_get(principal=request.principal, document_id=document_id)
    return render(request, "ingest/partials/document_status.html", {"document": document})


@admin_required
@require_http_methods(["GET", "POST"])
def document_delete(request: TenantHttpRequest, document_id: int) -> HttpResponse:
    """GET asks for confirmation (a page that works without JavaScript); POST deletes."""
    principal = request.principal
    document = selectors.document_get(principal=principal, document_id=document_id)
    if request.method == "GET":
        return render(request, "ingest/document_delete.html", {"document": document})
    services.document_delete(document=document, actor=Actor.of(principal))
    messages.success(request, f"'{document.title}' was deleted.")
    return redirect("ingest:documents")


@admin_required
@require_POST
def document_new_version(request: TenantHttpRequest, document_id: int) -> HttpResponse:
    """Upload a file that replaces the document's content; the old version leaves search at once.
    The page's script asks for JSON (``document_upload``'s answer); the plain form is redirected."""
    principal = request.principal
    document = selectors.document_get(principal=principal, document_id=document_id)
    uploaded = request.FILES.get("file")
    if _wants_json(request):
        return _upload_json(request, uploaded, document)
    if uploaded is None:
        raise ApplicationError("Choose a file.", code="no_file")
    services.document_upload(
        tenant=principal.tenant,
        actor=Actor.of(principal),
        upload=upload_read(principal=principal, uploaded=uploaded, document=document),
        document=document,
    )
    messages.success(request, "New version uploaded; it is being indexed.")
    return redirect("ingest:document", document_id=document.pk)


@admin_required
@require_POST
def document_reindex(request: TenantHttpRequest, document_id: int) -> HttpResponse:
    principal = request.principal
    document = selectors.document_get(principal=principal, document_id=document_id)
    services.document_reindex(document=document, actor=Actor.of(principal))
    messages.success(request, f"Indexing '{document.title}' again.")
    return _back(request, document)


@admin_required
@require_POST
def document_groups(request: TenantHttpRequest, document_id: int) -> HttpResponse:
    principal = request.principal
    document = selectors.document_get(principal=principal, document_id=document_id)
    groups = _posted_groups(request)  # an unknown id is a 400: it must not open the document to all
    services.document_access_groups_set(document=document, groups=groups, actor=Actor.of(principal))
    messages.success(request, "Access saved.")
    return redirect("ingest:document", document_id=document.pk)


def _back(request: TenantHttpRequest, document: Document) -> HttpResponse:
    """To the page the form came from (``next``, this site only), else the document's page."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("ingest:document", document_id=document.pk)


@member_required
def document_file(request: TenantHttpRequest, document_id: int) -> FileResponse:
    """The original file of a document the principal may see (its current version, or ``?version=N``),
    always as a download."""
    document = selectors.document_get(principal=request.principal, document_id=document_id)
    number = request.GET.get("version", "")
    if number and not number.isdigit():
        raise NotFound("This document has no stored file.")
    version = selectors.version_with_file(document=document, number=int(number) if number else None)
    response = original_file_response(document, version)
    services.document_download_record(
        document=document, version=version, actor=Actor.of(request.principal), channel="browser"
    )
    return response
