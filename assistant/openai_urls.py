"""The OpenAI-compatible routes, mounted under /v1/ (namespace ``openai``), so that OpenAI's own
clients work with ``base_url=<tessera>/v1``."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
