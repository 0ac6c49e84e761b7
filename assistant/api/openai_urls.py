"""The OpenAI-compatible routes, mounted under /v1/ (namespace ``openai``), so that OpenAI's own
clients work with ``base_url=<tessera>/v1``."""

from django.urls import path

from assistant.api.openai_compat import ChatCompletionsApi, ModelApi, ModelListApi

urlpatterns = [
    path("models", ModelListApi.as_view(), name="models"),
    path("models/<str:model_id>", ModelApi.as_view(), name="model"),
    path("chat/completions", ChatCompletionsApi.as_view(), name="chat_completions"),
]
