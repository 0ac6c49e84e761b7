"""Tessera's URLs. Each app owns its routes; the REST API lives under /api/v1/ (each app's
``api_urls``), the OpenAI-compatible endpoints under /v1/, the schema and its docs under /api/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from assistant.api import urls as assistant_api_urls
from assistant.chat import views as assistant_views
from config.api_docs import ApiDocsView, ApiRedocView, ApiSchemaView
from config.health import healthz
from governance import api_urls as governance_api_urls
from ingest import api_urls as ingest_api_urls

api_v1 = [*governance_api_urls.urlpatterns, *ingest_api_urls.urlpatterns, *assistant_api_urls.urlpatterns]

urlpatterns = [
    path("", assistant_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("governance.urls")),
    path("", include("ingest.urls")),
    path("", include("assistant.chat.urls")),
    path("", include("assistant.tenant_settings.urls")),
    path("", include("assistant.usage.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("v1/", include(("assistant.api.openai_urls", "openai"), namespace="openai")),
    # Members and API keys only, unless TESSERA_PUBLIC_API_DOCS=1 (config/api_docs.py).
    path("api/schema/", ApiSchemaView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", ApiRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
]
