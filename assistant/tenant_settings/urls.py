"""URLs of the tenant admin's assistant pages (settings, intent training), apart from the chat's."""

from django.urls import path

from assistant.routing import views as intent_views
from assistant.tenant_settings import views as settings_views

app_name = "assistant_admin"

urlpatterns = [
    path("settings/assistant/", settings_views.assistant_settings, name="settings"),
    path("settings/intents/", intent_views.intent_overview, name="intents"),
    path("settings/intents/add/", intent_views.intent_add, name="intent_add"),
    path(
        "settings/intents/<slug:intent_name>/active/",
        intent_views.intent_set_active,
        name="intent_set_active",
    ),
    path("settings/intents/examples/add/", intent_views.example_add, name="example_add"),
    path(
        "settings/intents/examples/<int:example_id>/remove/",
        intent_views.example_remove,
        name="example_remove",
    ),
    path("settings/intents/retrain/", intent_views.model_retrain, name="retrain"),
    path("settings/intents/rollback/", intent_views.model_rollback, name="rollback"),
    path(
        "settings/intents/versions/<int:version_number>/", intent_views.version_detail, name="intent_version"
    ),
    path(
        "settings/intents/versions/<int:version_number>/panel/",
        intent_views.version_panel,
        name="intent_version_panel",
    ),
    path(
        "settings/intents/versions/<int:version_number>/activate/",
        intent_views.version_activate,
        name="intent_version_activate",
    ),
]
