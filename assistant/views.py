"""Chat pages. The chat itself arrives with the grounded-answers issue."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from governance.decorators import member_required
from governance.middleware import TenantHttpRequest


@member_required
def home(request: TenantHttpRequest) -> HttpResponse:
    """The employee's start page: the chat area of the current tenant."""
    return render(request, "assistant/home.html")
