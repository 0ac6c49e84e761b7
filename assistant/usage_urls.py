from django.urls import path

from assistant import usage_views

app_name = "usage"

urlpatterns = [
    path("usage/", usage_views.usage_dashboard, name="dashboard"),
]
