"""Chat pages. The chat itself arrives with the grounded-answers issue."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance.decorators import member_required


@member_required
def home(request: HttpRequest) -> HttpResponse:
    """The employee's start page: the chat area of the current tenant."""
    return render(request, "assistant/home.html")
