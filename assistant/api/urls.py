"""The assistant's REST routes, mounted under /api/v1/ (namespace ``api``)."""

from django.urls import path

from assistant.api.ask import AskApi
from assistant.api.conversations import (
    ConversationApi,
    ConversationListApi,
    FeedbackApi,
    MessageListApi,
    UsageApi,
)
from assistant.api.search import SearchApi

urlpatterns = [
    path("ask/", AskApi.as_view(), name="ask"),
    path("search/", SearchApi.as_view(), name="search"),
]

# Conversations, messages, feedback and usage (assistant/api/conversations.py).
urlpatterns += [
    path("conversations/", ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/<object_id:conversation_id>/", ConversationApi.as_view(), name="conversation-detail"),
    path(
        "conversations/<object_id:conversation_id>/messages/",
        MessageListApi.as_view(),
        name="conversation-messages",
    ),
    path("messages/<object_id:message_id>/feedback/", FeedbackApi.as_view(), name="message-feedback"),
    path("usage/", UsageApi.as_view(), name="usage"),
]
