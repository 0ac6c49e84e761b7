"""Governance's REST routes, mounted under /api/v1/ (namespace ``api``)."""

from django.urls import path

from governance.api import WhoAmIApi

urlpatterns = [
    path("me/", WhoAmIApi.as_view(), name="me"),
]
