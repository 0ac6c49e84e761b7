from django.urls import path

from governance import account_views, invitation_views, member_views, views

app_name = "governance"

urlpatterns = [
    path("tenant/switch/", views.tenant_switch, name="tenant_switch"),
    path("accounts/password/", account_views.password_change, name="password_change"),
    path("settings/api-keys/", views.api_key_list, name="api_keys"),
    path("settings/api-keys/<int:api_key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("settings/groups/", views.access_group_list, name="access_groups"),
    path("settings/groups/<int:group_id>/", views.access_group_detail, name="access_group"),
    path("settings/audit/", views.audit_log, name="audit_log"),
    path("settings/audit/export.csv", views.audit_export, name="audit_export"),
    path("settings/members/", member_views.member_list, name="members"),
    path("settings/members/invite/", member_views.member_invite, name="member_invite"),
    path(
        "settings/members/invitations/<int:invitation_id>/revoke/",
        member_views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invitations/", invitation_views.invitation_list, name="invitations"),
    path(
        "invitations/<int:invitation_id>/accept/",
        invitation_views.invitation_accept,
        name="invitation_accept",
    ),
    path(
        "invitations/<int:invitation_id>/decline/",
        invitation_views.invitation_decline,
        name="invitation_decline",
    ),
    path("settings/members/create/", member_views.member_create, name="member_create"),
    path("settings/members/<int:membership_id>/role/", member_views.member_role, name="member_role"),
    path("settings/members/<int:membership_id>/remove/", member_views.member_remove, name="member_remove"),
]
