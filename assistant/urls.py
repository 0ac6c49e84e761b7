from django.urls import path

from assistant import views

app_name = "assistant"

urlpatterns = [
    path("chat/ask/", views.ask, name="ask"),
    path("chat/answers/<int:question_id>/stream/", views.answer_stream, name="answer_stream"),
]
