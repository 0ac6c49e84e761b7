from django.urls import path

from assistant.chat import views

app_name = "assistant"

urlpatterns = [
    path("chat/ask/", views.ask, name="ask"),
    path("chat/answers/<int:question_id>/stream/", views.answer_stream, name="answer_stream"),
    path("chat/answers/<int:message_id>/feedback/", views.feedback, name="feedback"),
    path("chat/passages/<int:citation_id>/", views.passage, name="passage"),
    path(
        "chat/conversations/<int:conversation_id>/rename/",
        views.conversation_rename,
        name="conversation_rename",
    ),
    path(
        "chat/conversations/<int:conversation_id>/delete/",
        views.conversation_delete,
        name="conversation_delete",
    ),
]
