from django.urls import path

from assistant.usage import views

app_name = "usage"

urlpatterns = [
    path("usage/", views.usage_dashboard, name="dashboard"),
]
