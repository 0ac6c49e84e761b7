"""The documents' REST routes, mounted under /api/v1/ (namespace ``api``)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
