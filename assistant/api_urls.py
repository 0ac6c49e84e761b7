"""The assistant's REST routes, mounted under /api/v1/ (namespace ``api``)."""

from django.urls import path

from assistant.api import AskApi
from assistant.conversation_api import (
    ConversationApi,
    ConversationListApi,
    FeedbackApi,
    MessageListApi,
    UsageApi,
)

urlpatterns = [
    path("ask/", AskApi.as_view(), name="ask"),
]

# Conversations, messages, feedback and usage (assistant/conversation_api.py).
urlpatterns += [
    path("conversations/", ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/<int:conversation_id>/", ConversationApi.as_view(), name="conversation-detail"),
    path(
        "conversations/<int:conversation_id>/messages/",
        MessageListApi.as_view(),
        name="conversation-messages",
    ),
    path("messages/<int:message_id>/feedback/", FeedbackApi.as_view(), name="message-feedback"),
    path("usage/", UsageApi.as_view(), name="usage"),
]
