"""Tessera's URLs. Each app owns its routes; the API lives under /api/v1/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from assistant import views as assistant_views
from assistant.api import AskApi
from config.health import healthz
from governance.api import WhoAmIApi

api_v1 = [
    path("me/", WhoAmIApi.as_view(), name="me"),
    path("ask/", AskApi.as_view(), name="ask"),
]

urlpatterns = [
    path("", assistant_views.home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("governance.urls")),
    path("", include("ingest.urls")),
    path("", include("assistant.urls")),
    path("", include("assistant.admin_urls")),
    path("", include("assistant.usage_urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("admin/", admin.site.urls),
]
