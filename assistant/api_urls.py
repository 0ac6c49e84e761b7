"""The assistant's REST routes, mounted under /api/v1/ (namespace ``api``)."""

from django.urls import path

from assistant.api import AskApi
from assistant.search_api import SearchApi

urlpatterns = [
    path("ask/", AskApi.as_view(), name="ask"),
    path("search/", SearchApi.as_view(), name="search"),
]
