from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("tenant/switch/", views.tenant_switch, name="tenant_switch"),
    path("settings/api-keys/", views.api_key_list, name="api_keys"),
    path("settings/api-keys/<int:api_key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("settings/groups/", views.access_group_list, name="access_groups"),
    path("settings/groups/<int:group_id>/", views.access_group_detail, name="access_group"),
    path("settings/audit/", views.audit_log, name="audit_log"),
]
