from django.urls import path

from ingest import views

app_name = "ingest"

urlpatterns = [
    path("documents/", views.document_list, name="documents"),
    path("documents/upload/", views.document_upload, name="document_upload"),
    path("documents/<int:document_id>/", views.document_detail, name="document"),
    path("documents/<int:document_id>/file/", views.document_file, name="document_file"),
    path("documents/<int:document_id>/status/", views.document_status, name="document_status"),
    path("documents/<int:document_id>/delete/", views.document_delete, name="document_delete"),
    path("documents/<int:document_id>/versions/", views.document_new_version, name="document_new_version"),
    path("documents/<int:document_id>/reindex/", views.document_reindex, name="document_reindex"),
    path("documents/<int:document_id>/groups/", views.document_groups, name="document_groups"),
]
